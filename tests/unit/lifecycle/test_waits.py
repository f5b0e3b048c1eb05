"""Waits: one deadline, tenacity retries, plain progress lines off a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from lab.boundary.runner import Result
from lab.lifecycle import waits
from tests.fakes import RecordingRunner
from tests.unit.lab_world import KUBECTL, listing, pod


def kubectl(*args: str) -> list[str]:
    return ["kubectl", "--context", "kind-netpol-lab", *args]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def progress(clock: Clock) -> tuple[waits.Progress, io.StringIO]:
    out = io.StringIO()
    return waits.Progress(Console(file=out, width=200), live=False, clock=clock), out


def test_a_phase_polls_until_done_and_reports_its_time() -> None:
    clock = Clock()
    answers = iter([waits.Check(False, "1/3 nodes Ready"), waits.Check(False, "2/3"), waits.Check(True)])
    echoes: list[bool] = []

    def poll(echo: bool) -> waits.Check:
        echoes.append(echo)
        return next(answers)

    shown, out = progress(clock)
    waits.wait_for(waits.Phase("nodes", poll), waits.Deadline(60, clock), shown, sleep=clock.sleep)
    assert echoes == [True, False, False]  # only the first poll is echoed
    assert clock.now == 4.0
    assert out.getvalue().splitlines() == ["… nodes", "ok nodes (4.0s)"]


def test_the_deadline_stops_the_wait_with_the_last_detail() -> None:
    clock = Clock()
    shown, out = progress(clock)
    phase = waits.Phase("calico", lambda echo: waits.Check(False, "Degraded: calico-node not ready"))
    with pytest.raises(waits.WaitTimeout) as caught:
        waits.wait_for(phase, waits.Deadline(65, clock), shown, sleep=clock.sleep)
    assert caught.value.detail == "Degraded: calico-node not ready"
    assert clock.now <= 65
    assert "  still waiting: Degraded: calico-node not ready (30s)" in out.getvalue()


def test_phases_share_one_deadline() -> None:
    clock = Clock()
    shown, _ = progress(clock)
    deadline = waits.Deadline(10, clock)
    slow = iter([waits.Check(False)] * 3 + [waits.Check(True)])
    waits.wait_for(waits.Phase("first", lambda e: next(slow)), deadline, shown, sleep=clock.sleep)
    assert deadline.remaining() == 4.0
    with pytest.raises(waits.WaitTimeout):
        waits.wait_for(
            waits.Phase("second", lambda e: waits.Check(False)), deadline, shown, sleep=clock.sleep
        )
    assert deadline.remaining() <= 2.0  # stopped before a poll that could not finish in time
    assert deadline.command_timeout(300) == max(1.0, deadline.remaining())


def test_pods_phase_wants_one_ready_pod_per_namespace() -> None:
    runner = RecordingRunner()
    selector = "app.kubernetes.io/part-of=netpol-lab"
    runner.answer(f"{KUBECTL} get pods -A -l {selector}", 0, listing([pod("frontend", "f", True)]))
    phase = waits.pods_phase(runner, kubectl, "lab pods", selector, namespaces=("frontend", "backend"))
    assert phase.poll(True) == waits.Check(False, "no pod yet in backend")
    runner.answer(
        f"{KUBECTL} get pods -A -l {selector}",
        0,
        listing([pod("frontend", "f", True), pod("backend", "b", False)]),
    )
    check = phase.poll(False)
    assert not check.done and check.detail == "1/2 Ready; backend/b: agnhost: ImagePullBackOff (pull failed)"
    runner.answer(
        f"{KUBECTL} get pods -A -l {selector}",
        0,
        listing([pod("frontend", "f", True), pod("backend", "b", True)]),
    )
    assert phase.poll(False).done


def test_a_failing_kubectl_is_not_done_and_says_why() -> None:
    runner = RecordingRunner()
    runner.script[f"{KUBECTL} get nodes"] = Result(("kubectl",), 1, "", "error: connection refused\n")
    phase = waits.nodes_phase(runner, kubectl, 3)
    assert phase.poll(True) == waits.Check(False, "error: connection refused")
