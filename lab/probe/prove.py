"""One probe run end to end: find the lab pods, plan, run in parallel, apply the controls.

Shared by ``netpol-lab probe`` and the live tests (tests/e2e), so both prove flows the
same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lab import pins, scenario
from lab.boundary.kube import (
    DenyAction,
    KubeClients,
    LabPod,
    Transport,
    WebsocketTransport,
    find_pod,
    list_lab_pods,
    read_deny_action,
)
from lab.matrix import Cell, Matrix, restrict
from lab.probe.controls import (
    CONTROL_APP,
    CONTROL_NAMESPACE,
    CONTROL_ROW,
    Controls,
    controlled_columns,
    controls_from_pod,
    controls_from_row,
    judge_with_controls,
    plan_control_probes,
)
from lab.probe.participant import participant_pods, retarget
from lab.probe.pool import DEFAULT_WORKERS, RetryPolicy, run_probes
from lab.probe.sctp import check_nodes, split_sctp
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
    observed: Matrix  # the lab matrix, judged with the controls
    pods: dict[str, LabPod]  # by row name; "control" when the control pod took part
    probes: list[Probe]
    controls: Controls
    seconds: float
    deny_action: DenyAction = field(default_factory=lambda: DenyAction("Drop", "assumed"))

    @property
    def tries(self) -> int:
        """Attempts made, the control pod's included."""
        control = sum(cell.tries for cell in self.controls.cells.values()) if self.controls.row is None else 0
        return sum(cell.tries for _, _, cell in self.observed) + control


def prove(
    clients: KubeClients,
    *,
    expected: Matrix | None = None,
    options: ProbeOptions | None = None,
    transport_factory: Callable[[], Transport] | None = None,
    on_cell: Callable[[Probe, Cell], None] | None = None,
    title: str = "observed",
    namespaces: Mapping[str, str] | None = None,
    deny_action: DenyAction | None = None,
) -> ProbeRun:
    """Probe every flow of the lab matrix from inside the pods of ``clients``' cluster.

    The control pod's probes (outside, metadata) run in the same pool; without a control pod
    the ``untrusted`` row serves as control where the expectation lets it.

    ``namespaces`` (scenario namespace -> namespace) probes a room participant's copy instead of the
    lab: its pods, its Services, no control pod (the room has none); ``deny_action`` is what the
    room recorded, for a participant who may not read the cluster's Felix configuration.
    """
    options = options or ProbeOptions()
    started = time.monotonic()
    if namespaces is None:
        pods = list_lab_pods(clients, scenario.ROWS)
    else:
        pods = participant_pods(clients, namespaces)
    # With Calico's Reject a denied connect reads REFUSED: classify by what this cluster does.
    deny = deny_action or read_deny_action(clients)
    # A dual-stack cluster gives every pod an IPv6 address too: then each IPv6 twin is probed beside
    columns = scenario.columns_for(scenario.DUAL if all(p.ipv6 for p in pods.values()) else scenario.IPV4)
    controlled = controlled_columns(columns)
    probes = plan_probes(
        pods, outside=options.outside, timeout=options.timeout, kubectl=options.kubectl, columns=columns
    )
    probes = probes if namespaces is None else retarget(probes, namespaces)
    planned = list(probes)
    control = find_pod(clients, CONTROL_NAMESPACE, CONTROL_APP) if namespaces is None else None
    if control is not None:
        pods = {**pods, CONTROL_ROW: control}
        probes += plan_control_probes(
            control,
            outside=options.outside,
            timeout=options.timeout,
            kubectl=options.kubectl,
            columns=controlled,
        )
    factory = transport_factory or (lambda: WebsocketTransport(clients))
    # SCTP only where the nodes have it: ask one pod per node first (only when there is an SCTP probe)
    skipped: dict[tuple[str, str], Cell] = {}
    if any(p.target.protocol == "SCTP" for p in probes):
        support = check_nodes(factory(), list(pods.values()))
        probes, skipped = split_sctp(probes, pods, support)
    everything = run_probes(
        probes,
        factory,
        expected=expected,
        workers=options.workers,
        retry=options.retry,
        on_cell=on_cell,
        title=title,
        deny_action=deny.action,
    )
    for (row, column), cell in skipped.items():
        everything.set(row, column, cell)
        if on_cell is not None:
            on_cell(next(p for p in planned if (p.row, p.column) == (row, column)), cell)
    observed = restrict(everything, scenario.ROWS, columns)
    observed.rows, observed.columns = list(scenario.ROWS), list(columns)
    if control is not None:
        controls = controls_from_pod(everything, controlled)
    else:
        controls = controls_from_row(observed, expected, columns=controlled)
    judged = judge_with_controls(observed, controls, controlled, rejecting=deny.action == "Reject")
    return ProbeRun(judged, pods, probes, controls, time.monotonic() - started, deny)
