"""The real exec path (official client, websocket stream) against a local fake API server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lab.boundary.kube import KubeClients, WebsocketTransport
from lab.matrix import Verdict
from lab.probe.agnhost import classify_connect, connect_argv
from tests.unit.probe.fake_apiserver import (
    SUCCESS,
    FakeApiServer,
    drop,
    exit_status,
    hang,
    not_found_status,
    reply,
    silent_server,
    write_kubeconfig,
)

ARGV = connect_argv("192.168.20.10", 80, 2)


def run(clients: KubeClients, pod: str, timeout: float = 5.0, grace: float = 2.0) -> tuple[object, float]:
    transport = WebsocketTransport(clients, grace=grace)
    started = time.monotonic()
    outcome = transport.exec("frontend", pod, "agnhost", ARGV, timeout)
    return outcome, time.monotonic() - started


def test_success(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["ok"] = reply(status=SUCCESS)
    outcome, _ = run(clients, "ok")
    assert outcome.exit_code == 0 and outcome.error == ""  # type: ignore[attr-defined]
    assert classify_connect(outcome, 2).verdict == Verdict.ALLOW  # type: ignore[arg-type]
    request = apiserver.execs[0]
    assert (request.namespace, request.pod, request.container) == ("frontend", "ok", "agnhost")
    assert request.argv == list(ARGV)
    assert request.subprotocol == "v5.channel.k8s.io"


def test_the_client_hangs_up_after_the_exec(apiserver: FakeApiServer, clients: KubeClients) -> None:
    # websocket-client leaves the socket open when the server closes first; the transport closes it,
    # so the server's close handshake ends at once instead of after its 10 s close timeout
    apiserver.behaviours["ok"] = reply(status=SUCCESS)
    run(clients, "ok")
    assert apiserver.hung_up.wait(2)


def test_exit_1_with_timeout_on_stderr(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["blocked"] = reply(stderr="TIMEOUT\n", status=exit_status(1))
    outcome, _ = run(clients, "blocked")
    assert outcome.exit_code == 1  # type: ignore[attr-defined]
    assert outcome.stderr == "TIMEOUT\n"  # type: ignore[attr-defined]
    assert classify_connect(outcome, 2).verdict == Verdict.DENY  # type: ignore[arg-type]


def test_stdout_and_stderr_are_kept_apart(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["both"] = reply(stdout="out\n", stderr="REFUSED\n", status=exit_status(1))
    outcome, _ = run(clients, "both")
    assert (outcome.stdout, outcome.stderr) == ("out\n", "REFUSED\n")  # type: ignore[attr-defined]
    assert classify_connect(outcome, 2).verdict == Verdict.REFUSED  # type: ignore[arg-type]


def test_v4_protocol(tmp_path: Path) -> None:
    server = FakeApiServer(subprotocols=["v4.channel.k8s.io"]).start()
    server.behaviours["old"] = reply(stderr="TIMEOUT\n", status=exit_status(1))
    clients = KubeClients(str(write_kubeconfig(tmp_path / "kc", server.url)))
    try:
        outcome, _ = run(clients, "old")
    finally:
        clients.close()
        server.close()
    assert server.execs[0].subprotocol == "v4.channel.k8s.io"
    assert outcome.exit_code == 1  # type: ignore[attr-defined]


def test_missing_status_frame_is_a_failed_check(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["quiet"] = reply(stdout="something\n", status=None)
    outcome, _ = run(clients, "quiet")
    assert outcome.exit_code is None  # type: ignore[attr-defined]
    assert "no exit status" in outcome.error  # type: ignore[attr-defined]
    assert classify_connect(outcome, 2).verdict == Verdict.CHECK_FAILED  # type: ignore[arg-type]


def test_executable_not_found_is_a_failed_check(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["bare"] = reply(status=not_found_status("/agnhost"))
    outcome, _ = run(clients, "bare")
    assert outcome.exit_code is None  # type: ignore[attr-defined]
    assert "executable file not found" in outcome.error  # type: ignore[attr-defined]
    assert classify_connect(outcome, 2).verdict == Verdict.CHECK_FAILED  # type: ignore[arg-type]


def test_a_hung_command_is_given_up_on_time(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["stuck"] = hang(stdout="started\n")
    outcome, elapsed = run(clients, "stuck", timeout=0.5)
    assert outcome.exit_code is None  # type: ignore[attr-defined]
    assert "did not finish within 0.5 s" in outcome.error  # type: ignore[attr-defined]
    assert outcome.stdout == "started\n"  # type: ignore[attr-defined]
    assert 0.5 <= elapsed < 2.0
    assert classify_connect(outcome, 2).verdict == Verdict.CHECK_FAILED  # type: ignore[arg-type]


def test_a_hung_handshake_is_given_up_on_time(tmp_path: Path) -> None:
    with silent_server() as port:
        clients = KubeClients(str(write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")))
        transport = WebsocketTransport(clients, grace=0.5)
        first = clients.api()
        started = time.monotonic()
        outcome = transport.exec("frontend", "any", "agnhost", ARGV, 0.5)
        elapsed = time.monotonic() - started
        assert outcome.exit_code is None
        assert "no answer from the API server within 1 s" in outcome.error
        assert 1.0 <= elapsed < 2.5
        # the abandoned call still holds the thread's client: the next call gets a new one
        assert clients.api() is not first
        assert len(transport.abandoned) == 1


def test_a_dropped_connection_is_a_failed_check(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["cut"] = drop()
    outcome, elapsed = run(clients, "cut")
    assert outcome.exit_code is None  # type: ignore[attr-defined]
    assert outcome.error  # type: ignore[attr-defined]
    assert elapsed < 2.0


def test_unknown_pod_is_a_failed_check(apiserver: FakeApiServer, clients: KubeClients) -> None:
    outcome, _ = run(clients, "gone")
    assert outcome.exit_code is None  # type: ignore[attr-defined]
    assert "exec could not start" in outcome.error and "404" in outcome.error  # type: ignore[attr-defined]


def test_each_thread_uses_its_own_client(apiserver: FakeApiServer, clients: KubeClients) -> None:
    apiserver.behaviours["ok"] = reply(status=SUCCESS)
    seen: dict[str, object] = {}
    codes: list[int | None] = []

    def work(name: str) -> None:
        seen[name] = clients.api()
        transport = WebsocketTransport(clients)
        for _ in range(5):
            codes.append(transport.exec("frontend", "ok", "agnhost", ARGV, 5).exit_code)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len({id(client) for client in seen.values()}) == 4
    assert codes == [0] * 20


@pytest.mark.parametrize("code", [2, 137])
def test_other_exit_codes_come_through(apiserver: FakeApiServer, clients: KubeClients, code: int) -> None:
    apiserver.behaviours["odd"] = reply(status=exit_status(code))
    outcome, _ = run(clients, "odd")
    assert outcome.exit_code == code  # type: ignore[attr-defined]
