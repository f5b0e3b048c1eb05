"""The kind cluster: existence, creation errors, recognition, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.boundary.runner import Result
from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle.cluster import Cluster, built_differently, render_kind_config
from lab.lifecycle.cni import CALICO
from tests.fakes import RecordingRunner
from tests.unit.lab_world import World

RENDERED = render_kind_config((project_root() / "kind-config.yaml").read_text(), CALICO, "kindest/node:x")


def test_exists_reads_kind_get_clusters() -> None:
    runner = RecordingRunner()
    runner.answer("kind get clusters", 0, "kind\nnetpol-lab-old\n")
    assert not Cluster(runner).exists()
    runner.answer("kind get clusters", 0, "kind\nnetpol-lab\n")
    assert Cluster(runner).exists()


def test_create_passes_name_config_and_no_wait() -> None:
    runner = RecordingRunner()
    Cluster(runner, kubeconfig="k.yaml").create(".cache/kind-config.rendered.yaml", timeout=100)
    assert runner.lines == [
        "kind create cluster --name netpol-lab --config .cache/kind-config.rendered.yaml "
        "--wait 0s --kubeconfig k.yaml"
    ]
    assert runner.calls[0].timeout == 100


def test_an_existing_name_at_create_points_at_recreate() -> None:
    runner = RecordingRunner()
    runner.script["kind create"] = Result(
        ("kind",),
        1,
        "",
        'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "netpol-lab"\n',
    )
    with pytest.raises(LabError) as caught:
        Cluster(runner).create("c.yaml")
    assert "make lab-down && make lab-up" in caught.value.message


def test_a_create_timeout_is_a_timeout() -> None:
    runner = RecordingRunner()
    runner.script["kind create"] = Result(("kind",), 124, timed_out=True)
    with pytest.raises(LabError) as caught:
        Cluster(runner).create("c.yaml", timeout=5)
    assert caught.value.status is ExitStatus.TIMEOUT


def test_kubectl_lines_always_name_the_context() -> None:
    assert Cluster(RecordingRunner()).kubectl("get", "nodes") == [
        "kubectl",
        "--context",
        "kind-netpol-lab",
        "get",
        "nodes",
    ]


def test_built_differently_compares_node_count_cni_and_fingerprint() -> None:
    same = World(fingerprint=RENDERED.fingerprint).nodes()
    assert built_differently(same, RENDERED) is None
    assert built_differently(same[:2], RENDERED) == "2 nodes instead of 3"
    assert (
        built_differently(World(fingerprint="ffff").nodes(), RENDERED)
        == "another node image or kind-config.yaml"
    )


def test_an_unreachable_api_server_says_how_to_recover() -> None:
    runner = RecordingRunner()
    runner.answer(
        "kubectl --context kind-netpol-lab get nodes", 1, "", "The connection to the server was refused"
    )
    with pytest.raises(LabError) as caught:
        Cluster(runner).check_built_as(RENDERED)
    assert caught.value.message.startswith("reaching the API server of cluster netpol-lab failed:")
    assert "docker ps" in caught.value.message


def test_export_logs_returns_the_folder_kind_printed(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer("kind export logs", 0, f'Exporting logs for cluster "netpol-lab" to:\n{tmp_path}/x\n')
    assert Cluster(runner).export_logs(tmp_path / "x") == tmp_path / "x"
    assert runner.lines == [f"kind export logs {tmp_path}/x --name netpol-lab"]
    runner.answer("kind export logs", 1, "", "ERROR: unknown cluster")
    assert Cluster(runner).export_logs(tmp_path / "y") is None


def test_kubeconfig_goes_only_to_the_kind_commands_that_accept_it(tmp_path: Path) -> None:
    """kind v0.32.0: `delete cluster` and `export kubeconfig` take --kubeconfig, `export logs` does not."""
    runner = RecordingRunner()
    cluster = Cluster(runner, kubeconfig="k.yaml")
    cluster.delete()
    cluster.export_kubeconfig()
    cluster.export_logs(tmp_path / "x")
    assert runner.lines == [
        "kind delete cluster --name netpol-lab --kubeconfig k.yaml",
        "kind export kubeconfig --name netpol-lab --kubeconfig k.yaml",
        f"kind export logs {tmp_path}/x --name netpol-lab",
    ]
