"""Benchmark the probe pool: wall time of a matrix against the sum of its probe times.

Runs the real worker pool (lab.probe.pool.run_probes) and the real classification over a
simulated transport with realistic latencies: an allowed connection answers after 5 ms, a
blocked one times out after 2 s, and every exec costs some overhead (API server, websocket,
container exec). Prints the figures for a few worker counts; nothing is asserted.

    .venv/bin/python scripts/bench_probe.py [--probes 60] [--blocked 0.8] [--overhead 0.05]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence

from lab.boundary.kube import ExecOutcome, LabPod
from lab.matrix import Verdict
from lab.probe.agnhost import connect_argv, connect_budget
from lab.probe.pool import RetryPolicy, run_probes
from lab.probe.targets import Probe, Target, kubectl_exec_line

CONNECT_SECONDS = 0.005
TIMEOUT_SECONDS = 2.0


class SimulatedTransport:
    """Sleeps like a real exec would and answers like agnhost; counts the time it spent."""

    def __init__(self, blocked: set[str], overhead: float) -> None:
        self.blocked = blocked
        self.overhead = overhead
        self.spent = 0.0
        self.lock = threading.Lock()

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecOutcome:
        is_blocked = argv[2] in self.blocked
        seconds = self.overhead + (TIMEOUT_SECONDS if is_blocked else CONNECT_SECONDS)
        time.sleep(seconds)
        with self.lock:
            self.spent += seconds
        if is_blocked:
            return ExecOutcome(1, stderr="TIMEOUT\n", seconds=seconds)
        return ExecOutcome(0, seconds=seconds)


def make_probes(count: int, blocked_share: float) -> tuple[list[Probe], set[str]]:
    """``count`` probes from 6 source pods; the first ``blocked_share`` of them time out."""
    probes, blocked = [], set()
    for index in range(count):
        source = LabPod(
            f"pod{index % 6}", f"pod{index % 6}-abc", f"ns{index % 6}", f"10.0.0.{index % 6}", "n", True
        )
        host = f"10.1.{index // 250}.{index % 250}"
        argv = connect_argv(host, 80, TIMEOUT_SECONDS)
        if index < round(count * blocked_share):
            blocked.add(argv[2])
        probes.append(
            Probe(
                source.app,
                f"target{index}",
                source,
                Target(f"target{index}", host, 80),
                argv,
                TIMEOUT_SECONDS,
                connect_budget(TIMEOUT_SECONDS, by_name=False),
                kubectl_exec_line(("kubectl",), source, argv),
            )
        )
    return probes, blocked


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--probes", type=int, default=60)
    parser.add_argument(
        "--blocked", type=float, default=0.8, help="share of probes that time out (default 0.8)"
    )
    parser.add_argument("--overhead", type=float, default=0.05, help="seconds of exec overhead per probe")
    parser.add_argument("--workers", type=int, nargs="*", default=[16, 32, 64])
    args = parser.parse_args()

    probes, blocked = make_probes(args.probes, args.blocked)
    print(
        f"{len(probes)} probes, {len(blocked)} time out after {TIMEOUT_SECONDS:g} s, "
        f"{len(probes) - len(blocked)} connect in {CONNECT_SECONDS * 1000:g} ms, "
        f"{args.overhead * 1000:g} ms exec overhead each"
    )
    print(f"{'workers':>8} {'wall s':>8} {'sum of probes s':>16} {'speed-up':>9} {'wall / one timeout':>19}")
    for workers in args.workers:
        transport = SimulatedTransport(blocked, args.overhead)

        def factory(t: SimulatedTransport = transport) -> SimulatedTransport:
            return t

        started = time.monotonic()
        observed = run_probes(probes, factory, workers=workers, retry=RetryPolicy(0, 1))
        wall = time.monotonic() - started
        verdicts = [cell.verdict for _, _, cell in observed if cell.verdict != Verdict.NOT_JUDGED]
        assert verdicts.count(Verdict.DENY) == len(blocked), "the simulated verdicts came back wrong"
        print(
            f"{workers:>8} {wall:>8.2f} {transport.spent:>16.2f} {transport.spent / wall:>8.1f}x "
            f"{wall / (TIMEOUT_SECONDS + args.overhead):>18.2f}x"
        )


if __name__ == "__main__":
    main()
