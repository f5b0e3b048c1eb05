"""One probe run end to end: find the lab pods, plan, run in parallel, apply the controls.

Shared by ``netpol-lab probe`` and the live tests (tests/e2e), so both prove flows the
same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lab import pins, scenario
from lab.kube import KubeClients, LabPod, Transport, WebsocketTransport, list_lab_pods
from lab.matrix import Cell, Matrix
from lab.probe.controls import apply_controls
from lab.probe.pool import DEFAULT_WORKERS, RetryPolicy, run_probes
from lab.probe.targets import Probe, parse_host_port, plan_probes


@dataclass(frozen=True)
class ProbeOptions:
    timeout: float = 2.0  # agnhost --timeout per attempt
    workers: int = DEFAULT_WORKERS
    outside: tuple[str, int] = field(default_factory=lambda: parse_host_port(pins.OUTSIDE_TARGET))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    kubectl: tuple[str, ...] = ("kubectl",)  # prefix of the reproduce lines (with --context)


@dataclass(frozen=True)
class ProbeRun:
    observed: Matrix
    pods: dict[str, LabPod]
    probes: list[Probe]
    seconds: float

    @property
    def tries(self) -> int:
        return sum(cell.tries for _, _, cell in self.observed)


def kubectl_prefix(context: str, kubeconfig: str | None = None) -> tuple[str, ...]:
    """``kubectl [--kubeconfig K] --context C``: what the reproduce lines start with."""
    head: tuple[str, ...] = ("kubectl",)
    if kubeconfig:
        head += ("--kubeconfig", kubeconfig)
    return (*head, "--context", context)


def prove(
    clients: KubeClients,
    *,
    expected: Matrix | None = None,
    options: ProbeOptions | None = None,
    transport_factory: Callable[[], Transport] | None = None,
    on_cell: Callable[[Probe, Cell], None] | None = None,
    title: str = "observed",
) -> ProbeRun:
    """Probe every flow of the lab matrix from inside the pods of ``clients``' cluster."""
    options = options or ProbeOptions()
    started = time.monotonic()
    pods = list_lab_pods(clients, scenario.ROWS)
    probes = plan_probes(pods, outside=options.outside, timeout=options.timeout, kubectl=options.kubectl)
    observed = run_probes(
        probes,
        transport_factory or (lambda: WebsocketTransport(clients)),
        expected=expected,
        workers=options.workers,
        retry=options.retry,
        on_cell=on_cell,
        title=title,
    )
    observed = apply_controls(observed, expected)
    return ProbeRun(observed, pods, probes, time.monotonic() - started)
