"""Waits a person can watch: one line per phase with its elapsed time, one overall deadline.

Each phase polls one `kubectl get -o json` through the Runner: the first poll is
echoed (the command a participant can type to look for themselves), later polls are
silent. On a terminal a rich spinner shows what is still missing; otherwise plain
lines are printed (a progress line every ``PLAIN_EVERY`` seconds), so CI logs stay
readable. Retrying is tenacity's job; the stop condition is the shared deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import tenacity
from rich.console import Console

from lab.boundary import kubeobjects
from lab.boundary.runner import Runner

POLL_INTERVAL = 2.0
PLAIN_EVERY = 30.0
KUBECTL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Check:
    """One poll: done or not, and what is still missing (shown while waiting, and on timeout)."""

    done: bool
    detail: str = ""


@dataclass(frozen=True)
class Phase:
    """Something to wait for: a title and a poll (its argument says whether to echo the command)."""

    title: str
    poll: Callable[[bool], Check]


class WaitTimeout(Exception):
    """The deadline passed before a phase was done."""

    def __init__(self, phase: str, detail: str, elapsed: float) -> None:
        super().__init__(f"{phase}: not done after {elapsed:.0f}s ({detail or 'no answer'})")
        self.phase = phase
        self.detail = detail
        self.elapsed = elapsed


@dataclass
class Deadline:
    """One overall time budget shared by every phase (and every command that takes a timeout)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def remaining(self) -> float:
        return max(0.0, self.start + self.seconds - self.clock())

    def command_timeout(self, cap: float) -> float:
        """A timeout for one command: at most ``cap``, never past the deadline (at least 1 s)."""
        return max(1.0, min(cap, self.remaining()))


class Progress:
    """Phase lines with elapsed times: rich on a terminal, plain text otherwise."""

    def __init__(
        self,
        console: Console,
        *,
        live: bool,
        dry_run: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.live = live and not dry_run
        self.dry_run = dry_run
        self.clock = clock

    @contextmanager
    def phase(self, title: str) -> Iterator[Callable[[str], None]]:
        """Show ``title`` while the body runs; the yielded function updates what is still missing."""
        start = self.clock()
        last_plain = [start]
        if self.dry_run:
            self.console.print(f"wait until: {title}")
            yield lambda detail: None
            return
        if self.live:
            with self.console.status(f"{title} …") as status:

                def update(detail: str) -> None:
                    status.update(f"{title} … {detail} ({self.clock() - start:.0f}s)")

                yield update
        else:
            self.console.print(f"… {title}")

            def update(detail: str) -> None:
                now = self.clock()
                if now - last_plain[0] >= PLAIN_EVERY:
                    last_plain[0] = now
                    self.console.print(f"  still waiting: {detail} ({now - start:.0f}s)")

            yield update
        self.console.print(f"{'✓' if self.live else 'ok'} {title} ({self.clock() - start:.1f}s)")


def wait_for(
    phase: Phase,
    deadline: Deadline,
    progress: Progress,
    *,
    interval: float = POLL_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll ``phase`` until done; WaitTimeout when the deadline would pass before the next poll."""
    first = [True]
    last = [Check(False, "")]

    def poll() -> Check:
        check = phase.poll(first[0])
        first[0] = False
        last[0] = check
        return check

    def out_of_time(_: tenacity.RetryCallState) -> bool:
        return deadline.remaining() <= interval

    with progress.phase(phase.title) as update:
        retrying = tenacity.Retrying(
            stop=out_of_time,
            wait=tenacity.wait_fixed(interval),
            retry=tenacity.retry_if_result(lambda check: not check.done),
            before_sleep=lambda _: update(last[0].detail),
            sleep=sleep,
        )
        try:
            retrying(poll)
        except tenacity.RetryError:
            raise WaitTimeout(phase.title, last[0].detail, deadline.seconds - deadline.remaining()) from None


def wait_all(phases: Sequence[Phase], deadline: Deadline, progress: Progress, **kwargs: object) -> None:
    for phase in phases:
        wait_for(phase, deadline, progress, **kwargs)  # type: ignore[arg-type]


# --- the lab's phases ------------------------------------------------------------------------------

KubectlArgv = Callable[..., list[str]]


def _get(runner: Runner, argv: list[str], echo: bool) -> tuple[list[kubeobjects.Obj], str | None]:
    """Objects from `kubectl get -o json`; (objects, None), or ([], why not) on failure."""
    result = runner.run(argv, timeout=KUBECTL_TIMEOUT, echo=echo)
    if result.dry_run:
        return [], None
    if not result.ok:
        return [], result.error_line()
    return kubeobjects.items(result.stdout), None


def namespaces_settled_phase(runner: Runner, kubectl: KubectlArgv, names: Sequence[str]) -> Phase:
    """None of ``names`` is being deleted: the API server refuses new objects in a terminating
    namespace ("unable to create new content ... being terminated"), so wait until it is gone."""

    def poll(echo: bool) -> Check:
        found, error = _get(runner, kubectl("get", "namespaces", "-o", "json"), echo)
        if runner.dry_run:
            return Check(True)
        if error:
            return Check(False, error)
        leaving = [
            kubeobjects.name(n)
            for n in found
            if kubeobjects.name(n) in names and kubeobjects.is_terminating(n)
        ]
        if leaving:
            return Check(False, "being deleted: " + ", ".join(leaving))
        return Check(True)

    return Phase("no lab namespace being deleted", poll)


def tigerastatus_phase(runner: Runner, kubectl: KubectlArgv, component: str) -> Phase:
    """Calico's component ``component`` (calico, apiserver) reports Available."""

    def poll(echo: bool) -> Check:
        argv = kubectl("get", "tigerastatus", component, "-o", "json")
        objects, error = _get(runner, argv, echo)
        if runner.dry_run:
            return Check(True)
        if error:
            return Check(False, f"tigerastatus/{component} not there yet ({error})")
        obj = objects[0] if objects else {}
        if kubeobjects.condition_true(obj, "Available"):
            return Check(True)
        for kind in ("Degraded", "Progressing"):
            cond = kubeobjects.condition(obj, kind)
            if cond and cond.get("status") == "True":
                return Check(False, f"{kind}: {cond.get('message') or cond.get('reason', '')}".strip(": "))
        return Check(False, "no status yet")

    return Phase(f"tigerastatus/{component} Available", poll)


def nodes_phase(runner: Runner, kubectl: KubectlArgv, expected: int) -> Phase:
    def poll(echo: bool) -> Check:
        nodes, error = _get(runner, kubectl("get", "nodes", "-o", "json"), echo)
        if runner.dry_run:
            return Check(True)
        if error:
            return Check(False, error)
        ready = [n for n in nodes if kubeobjects.node_ready(n)]
        if len(nodes) >= expected and len(ready) == len(nodes):
            return Check(True)
        waiting = [f"{kubeobjects.name(n)}: {kubeobjects.node_problem(n)}" for n in nodes if n not in ready]
        return Check(False, f"{len(ready)}/{expected} nodes Ready" + (f"; {waiting[0]}" if waiting else ""))

    return Phase(f"{expected} nodes Ready", poll)


def pods_phase(
    runner: Runner,
    kubectl: KubectlArgv,
    title: str,
    selector: str,
    *,
    namespace: str | None = None,
    namespaces: Sequence[str] = (),
) -> Phase:
    """Pods matching ``selector`` Ready: at least one, and one in each of ``namespaces`` when given."""
    where = ["-n", namespace] if namespace else ["-A"]

    def poll(echo: bool) -> Check:
        pods, error = _get(runner, kubectl("get", "pods", *where, "-l", selector, "-o", "json"), echo)
        if runner.dry_run:
            return Check(True)
        if error:
            return Check(False, error)
        live = [p for p in pods if not kubeobjects.is_terminating(p)]
        not_ready = [p for p in live if not kubeobjects.pod_ready(p)]
        missing = [ns for ns in namespaces if not any(kubeobjects.namespace(p) == ns for p in live)]
        if live and not not_ready and not missing:
            return Check(True)
        if missing:
            return Check(False, "no pod yet in " + ", ".join(missing))
        if not live:
            return Check(False, "no pods yet")
        pod = not_ready[0]
        return Check(
            False,
            f"{len(live) - len(not_ready)}/{len(live)} Ready; "
            f"{kubeobjects.namespace(pod)}/{kubeobjects.name(pod)}: {kubeobjects.pod_problem(pod)}",
        )

    return Phase(title, poll)
