"""The API boundary: kubeconfig resolution, clear errors, lab pods, events, exec status parsing."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from lab.boundary.kube import (
    KubeClients,
    check_reachable,
    find_pod,
    kubeconfig_path,
    list_lab_pods,
    parse_exec_status,
    recent_events,
)
from lab.errors import ExitStatus, LabError
from tests.unit.probe.fake_apiserver import (
    FakeApiServer,
    exit_status,
    not_found_status,
    pod_object,
    write_kubeconfig,
)


def test_kubeconfig_path_precedence(tmp_path: Path) -> None:
    home = str(Path("~/.kube/config").expanduser())
    assert kubeconfig_path(None, {}) == home
    assert kubeconfig_path(None, {"KUBECONFIG": "/a/config"}) == "/a/config"
    assert kubeconfig_path("/explicit", {"KUBECONFIG": "/a/config"}) == "/explicit"
    assert kubeconfig_path(None, {"KUBECONFIG": f"/a{os.pathsep}/b"}) == f"/a{os.pathsep}/b"


def test_no_kubeconfig_names_make_lab_up(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="make lab-up") as caught:
        KubeClients(str(tmp_path / "missing")).api()
    assert caught.value.status == ExitStatus.MISSING_PREREQUISITE


def test_missing_context_names_make_lab_up(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:1", context="other")
    with pytest.raises(LabError, match=r"no usable context 'kind-netpol-lab'.*make lab-up"):
        KubeClients(str(path), "kind-netpol-lab").api()


def test_unreachable_api_server_is_one_line_naming_make_lab_up(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clients = KubeClients(str(write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")))
    with pytest.raises(LabError) as caught:
        check_reachable(clients)
    message = caught.value.message
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message and "make lab-up" in message
    assert caught.value.status == ExitStatus.MISSING_PREREQUISITE


def test_reachable_api_server(apiserver: FakeApiServer, clients: KubeClients) -> None:
    assert check_reachable(clients) == "v1.36.1"


def test_clients_are_per_thread_and_can_be_discarded(clients: KubeClients) -> None:
    first = clients.api()
    assert clients.api() is first
    clients.discard()
    assert clients.api() is not first


def test_list_lab_pods_picks_the_running_ready_pod(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.pods["frontend"] = [
        pod_object("frontend", ip="10.0.0.1", phase="Pending", name="frontend-a"),
        pod_object("frontend", ip="10.0.0.2", ready=False, name="frontend-b"),
        pod_object("frontend", ip="10.0.0.3", name="frontend-c"),
    ]
    apiserver.pods["backend"] = [pod_object("backend", ip="10.0.0.4")]
    pods = list_lab_pods(clients, ["frontend", "backend"])
    assert pods["frontend"].name == "frontend-c"
    assert (pods["frontend"].ip, pods["frontend"].namespace, pods["frontend"].ready) == (
        "10.0.0.3",
        "frontend",
        True,
    )
    assert pods["backend"].node == "netpol-lab-worker"


def test_a_missing_workload_names_the_fix(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.pods["frontend"] = [pod_object("frontend", ip="10.0.0.1")]
    with pytest.raises(LabError, match=r"no running pod for backend, database .*make lab-up"):
        list_lab_pods(clients, ["frontend", "backend", "database"])
    assert find_pod(clients, "netpol-lab-control", "control") is None


def test_recent_events(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.events["backend"] = [
        {
            "metadata": {"name": "e1", "namespace": "backend"},
            "involvedObject": {"kind": "Pod", "name": "backend-1"},
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "type": "Warning",
            "lastTimestamp": "2026-11-26T10:00:00Z",
        }
    ]
    lines = recent_events(clients, ["frontend", "backend"])
    assert len(lines) == 1
    assert "Warning BackOff Pod/backend-1: Back-off restarting failed container" in lines[0]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"metadata": {}, "status": "Success"}, (0, "")),
        (exit_status(1), (1, "")),
        (exit_status(137), (137, "")),
    ],
)
def test_parse_exec_status(status: dict[str, object], expected: tuple[int, str]) -> None:
    assert parse_exec_status(json.dumps(status)) == expected


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("", "no exit status received"),
        ("   ", "no exit status received"),
        ("{not json", "unreadable exec status"),
        ("[1, 2]", "unreadable exec status"),
        (json.dumps(not_found_status("/agnhost")), "executable file not found"),
        (
            json.dumps({"status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": []}}),
            "did not run",
        ),
        (
            json.dumps(
                {
                    "status": "Failure",
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": "x"}]},
                }
            ),
            "did not run",
        ),
    ],
)
def test_parse_exec_status_without_an_exit_code(text: str, part: str) -> None:
    code, error = parse_exec_status(text)
    assert code is None
    assert part in error
