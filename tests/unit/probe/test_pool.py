"""The worker pool: parallel runs, a transport per worker, retries until a cell agrees, tries counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from lab.boundary.kube import ExecOutcome
from lab.matrix import Cell, Matrix, Verdict
from lab.probe.pool import RetryPolicy, run_probes, settled
from lab.probe.targets import plan_probes
from tests.unit.probe.fakes import (
    ScriptedTransport,
    always,
    connect_outcome,
    lab_pods,
    script_from_matrix,
    sequence,
)

QUICK = RetryPolicy(retry_for=0.5, retry_every=0.05)


def seed_matrix() -> Matrix:
    from lab.env import project_root
    from lab.workshop.stages import load_stages, stage_by_name

    return stage_by_name(load_stages(project_root()), "seed").expect


def test_observed_matches_what_the_pods_say() -> None:
    expected = seed_matrix()
    probes = plan_probes(lab_pods(), timeout=2)
    transport = ScriptedTransport(script_from_matrix(probes, expected))
    observed = run_probes(probes, lambda: transport, expected=expected, workers=8, retry=QUICK)
    assert expected.compare(observed).ok
    assert len(expected.compare(observed).matched) == len(probes)
    assert all(cell.tries == 1 for _, _, cell in observed if cell.verdict != Verdict.NOT_JUDGED)
    assert observed.columns[0] == "frontend:80"  # display order kept despite the self cells
    # each probe ran in its own pod's agnhost container
    assert {(c.namespace, c.container) for c in transport.calls} == {(r, "agnhost") for r in expected.rows}


def test_a_disagreeing_cell_is_retried_until_it_agrees() -> None:
    expected = seed_matrix()
    probes = plan_probes(lab_pods(), timeout=2)
    script = script_from_matrix(probes, expected)
    slow = next(p for p in probes if (p.row, p.column) == ("untrusted", "backend:80"))
    # the policy is not programmed yet for the first two tries
    script[(slow.source.name, slow.argv)] = sequence(
        connect_outcome(Verdict.ALLOW), connect_outcome(Verdict.ALLOW), connect_outcome(Verdict.DENY)
    )
    transport = ScriptedTransport(script)
    observed = run_probes(probes, lambda: transport, expected=expected, workers=4, retry=QUICK)
    cell = observed.get("untrusted", "backend:80")
    assert cell.verdict == Verdict.DENY
    assert cell.tries == 3
    assert expected.compare(observed).ok


def test_retries_stop_when_the_retry_time_is_up() -> None:
    expected = seed_matrix()
    probes = [
        p for p in plan_probes(lab_pods(), timeout=2) if (p.row, p.column) == ("frontend", "backend:80")
    ]
    transport = ScriptedTransport(
        {(probes[0].source.name, probes[0].argv): always(connect_outcome(Verdict.DENY))}
    )
    retry = RetryPolicy(retry_for=0.3, retry_every=0.1)
    started = time.monotonic()
    observed = run_probes(probes, lambda: transport, expected=expected, workers=2, retry=retry)
    elapsed = time.monotonic() - started
    cell = observed.get("frontend", "backend:80")
    assert cell.verdict == Verdict.DENY
    assert 3 <= cell.tries <= 4  # about 0.1 s apart within 0.3 s of the first try
    assert elapsed < 1.0
    assert not expected.compare(observed).ok


def test_without_an_expectation_nothing_is_retried() -> None:
    probes = plan_probes(lab_pods(), timeout=2)
    transport = ScriptedTransport(
        {(p.source.name, p.argv): always(connect_outcome(Verdict.DENY)) for p in probes}
    )
    observed = run_probes(probes, lambda: transport, workers=8, retry=QUICK)
    assert len(transport.calls) == len(probes)
    assert observed.get("frontend", "backend:80") == Cell(
        Verdict.DENY, observed.get("frontend", "backend:80").reason, 1, probes[0].command
    )


def test_check_failures_are_retried_and_never_become_verdicts() -> None:
    expected = seed_matrix()
    probes = [p for p in plan_probes(lab_pods(), timeout=2) if p.row == "frontend"]
    hung = ExecOutcome(None, error="the command did not finish within 7 s")
    transport = ScriptedTransport({(p.source.name, p.argv): always(hung) for p in probes})
    observed = run_probes(probes, lambda: transport, expected=expected, workers=8, retry=QUICK)
    comparison = expected.compare(observed)
    assert not comparison.matched and not comparison.mismatched
    failed = [d for d in comparison.unjudged if d.observed.verdict == Verdict.CHECK_FAILED]
    assert len(failed) == len(probes)  # the cells not probed here are unjudged too, as not probed
    assert all(observed.get("frontend", p.column).tries > 1 for p in probes)


def test_a_transport_that_raises_gives_a_check_failure_not_a_crash() -> None:
    class Broken:
        def exec(
            self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
        ) -> ExecOutcome:
            raise RuntimeError("boom")

    probes = plan_probes(lab_pods(), timeout=2)[:3]
    observed = run_probes(probes, Broken, workers=2, retry=QUICK)
    for probe in probes:
        cell = observed.get(probe.row, probe.column)
        assert cell.verdict == Verdict.CHECK_FAILED
        assert "RuntimeError: boom" in cell.reason


def test_each_worker_gets_its_own_transport() -> None:
    probes = plan_probes(lab_pods(), timeout=2)
    made: list[str] = []
    shared = ScriptedTransport(
        {(p.source.name, p.argv): always(connect_outcome(Verdict.ALLOW)) for p in probes},
        delay=lambda argv: 0.02,
    )

    def factory() -> ScriptedTransport:
        made.append(threading.current_thread().name)
        return shared

    run_probes(probes, factory, workers=5, retry=QUICK)
    assert len(made) == 5
    assert len(set(made)) == 5  # built in five different threads
    assert {c.thread for c in shared.calls} <= set(made)


def test_timeouts_run_side_by_side() -> None:
    probes = plan_probes(lab_pods(), timeout=2)
    transport = ScriptedTransport(
        {(p.source.name, p.argv): always(connect_outcome(Verdict.DENY)) for p in probes},
        delay=lambda argv: 0.2,
    )
    started = time.monotonic()
    run_probes(probes, lambda: transport, workers=len(probes), retry=QUICK)
    elapsed = time.monotonic() - started
    assert elapsed < 0.2 * len(probes) / 4  # far from the sum (6 s), about one probe
    assert elapsed >= 0.2


def test_settled() -> None:
    assert settled(Cell(Verdict.DENY), None)
    assert settled(Cell(Verdict.DENY), Cell(Verdict.NOT_JUDGED))
    assert settled(Cell(Verdict.REFUSED), Cell(Verdict.ALLOW))
    assert not settled(Cell(Verdict.ALLOW), Cell(Verdict.DENY))
    assert not settled(Cell(Verdict.CHECK_FAILED), Cell(Verdict.DENY))
    assert not settled(Cell(Verdict.INCONCLUSIVE), Cell(Verdict.DENY))
