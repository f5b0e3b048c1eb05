"""Run the probes in parallel, retrying the ones that disagree with their expectation.

A bounded pool of worker threads, each with its own transport (the official client's exec
is not thread-safe, so each worker gets its own ``ApiClient``). Most probes of a locked-down
lab are timeouts, so running them side by side makes the whole matrix take about one probe
timeout plus exec overhead instead of their sum.

Policies take a moment to be programmed into the dataplane, so a cell that disagrees with
its expectation is tried again about a second later, until it agrees or the retry time is
up (the Kubernetes e2e netpol suite does the same). Retries are queued, not slept on, so a
waiting cell does not hold a worker. Each cell records how many tries it took.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from lab import scenario
from lab.boundary.kube import ExecOutcome, Transport
from lab.matrix import Cell, Matrix, Verdict, matches
from lab.probe import agnhost
from lab.probe.targets import Probe

DEFAULT_WORKERS = 48  # more than the 45 probes of an IPv4 lab (the control's included): one round of timeouts
RETRY_FOR = 10.0  # seconds, counted from a cell's first try
RETRY_EVERY = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    retry_for: float = RETRY_FOR
    retry_every: float = RETRY_EVERY


def classify(probe: Probe, outcome: ExecOutcome, deny_action: str = agnhost.DROP) -> agnhost.Classified:
    """The verdict of one probe's outcome (``deny_action``: what the CNI does with denied packets)."""
    if probe.target.is_lookup:
        return agnhost.classify_dns(outcome, probe.timeout, deny_action=deny_action)
    return agnhost.classify_connect(
        outcome,
        probe.timeout,
        deny_action=deny_action,
        listens=probe.target.listens,
        protocol=probe.target.protocol,
    )


def settled(cell: Cell, expected: Cell | None) -> bool:
    """Whether a cell needs no further try: no expectation, or a verdict that agrees with it."""
    if expected is None or expected.verdict == Verdict.NOT_JUDGED:
        return True
    return cell.verdict.judged and matches(expected.verdict, cell.verdict)


@dataclass
class _Job:
    probe: Probe
    first_try: float = 0.0
    tries: int = 0


class _Schedule:
    """Jobs ordered by the time they may run; ``take`` blocks until one is due or all are done."""

    def __init__(self, jobs: Sequence[_Job], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._order = itertools.count()
        self._heap: list[tuple[float, int, _Job]] = []
        self._open = len(jobs)  # jobs not yet finished for good
        self._cond = threading.Condition()
        now = clock()
        for job in jobs:
            heapq.heappush(self._heap, (now, next(self._order), job))

    def take(self) -> _Job | None:
        with self._cond:
            while True:
                if self._open == 0:
                    return None
                if self._heap:
                    due = self._heap[0][0] - self._clock()
                    if due <= 0:
                        return heapq.heappop(self._heap)[2]
                    self._cond.wait(due)
                else:
                    self._cond.wait()

    def again(self, job: _Job, at: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._order), job))
            self._cond.notify()

    def finish(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify_all()


def run_probes(
    probes: Sequence[Probe],
    transport_factory: Callable[[], Transport],
    *,
    expected: Matrix | None = None,
    workers: int = DEFAULT_WORKERS,
    retry: RetryPolicy | None = None,
    title: str = "observed",
    on_cell: Callable[[Probe, Cell], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    deny_action: str = agnhost.DROP,
) -> Matrix:
    """Run every probe (in parallel, with retries) and return the observed matrix.

    ``transport_factory`` is called once per worker thread. A cell that disagrees with
    ``expected`` is tried again every ``retry.retry_every`` seconds while the next try would
    start within ``retry.retry_for`` seconds of its first. ``on_cell`` sees each final cell.
    """
    retry = retry or RetryPolicy()
    observed = Matrix(rows=_ordered(p.row for p in probes), columns=_ordered(p.column for p in probes))
    observed.title = title
    if not probes:
        return observed
    schedule = _Schedule([_Job(p) for p in probes], clock)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def record(probe: Probe, cell: Cell) -> None:
        with lock:
            observed.set(probe.row, probe.column, cell)
        if on_cell is not None:
            on_cell(probe, cell)

    def worker() -> None:
        try:
            transport = transport_factory()
        except BaseException as error:  # e.g. no kubeconfig: surface it in the caller's thread
            failures.append(error)
            transport = None
        while True:
            job = schedule.take()
            if job is None:
                return
            if transport is None:
                record(job.probe, Cell(Verdict.CHECK_FAILED, "no transport", job.tries, job.probe.command))
                schedule.finish()
                continue
            cell = _try_once(transport, job, clock, deny_action)
            want = expected.get(job.probe.row, job.probe.column) if expected is not None else None
            next_try = clock() + retry.retry_every
            if not settled(cell, want) and next_try - job.first_try <= retry.retry_for:
                schedule.again(job, next_try)
                continue
            record(job.probe, cell)
            schedule.finish()

    threads = [
        threading.Thread(target=worker, name=f"probe-worker-{n}", daemon=True)
        for n in range(max(1, min(workers, len(probes))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():  # join in slices so Ctrl-C reaches the main thread
            thread.join(0.2)
    if failures and all(observed.get(p.row, p.column).verdict == Verdict.CHECK_FAILED for p in probes):
        raise failures[0]
    return observed


def _ordered(names: Iterable[str]) -> list[str]:
    """Unique names, the lab's rows and columns in their display order first (self cells leave gaps)."""
    known = {name: index for index, name in enumerate((*scenario.ROWS, *scenario.ALL_COLUMNS))}
    unique = list(dict.fromkeys(names))
    return sorted(unique, key=lambda name: (known.get(name, len(known)), unique.index(name)))


def _try_once(transport: Transport, job: _Job, clock: Callable[[], float], deny_action: str) -> Cell:
    probe = job.probe
    if job.tries == 0:
        job.first_try = clock()
    job.tries += 1
    try:
        outcome = transport.exec(
            probe.source.namespace, probe.source.name, probe.container, probe.argv, probe.budget
        )
    except Exception as error:  # a transport must not raise, but one bug must not kill a worker
        outcome = ExecOutcome(None, error=f"exec failed: {type(error).__name__}: {error}")
    result = classify(probe, outcome, deny_action)
    return Cell(result.verdict, result.reason, job.tries, probe.command)
