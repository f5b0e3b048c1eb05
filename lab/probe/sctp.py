"""SCTP is probed only where the node's kernel has it; elsewhere its cells say why they are inconclusive.

Without the sctp module an SCTP socket cannot even be made (agnhost connect prints ``OTHER: ...
protocol not supported``), and the lab's SCTP server idles instead of listening, so a failed SCTP
probe would say nothing about a policy. Before the SCTP probes run, one pod on each node involved
reads ``/proc/net/protocols``: the kernel lists ``SCTP`` there once the module is loaded (the lab's
SCTP server loads it on start where the node has it). The pods of one node share its kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lab import scenario
from lab.boundary.kube import CONTAINER, ExecOutcome, LabPod, Transport
from lab.matrix import Cell, Verdict
from lab.probe.targets import Probe

CHECK_ARGV = ("cat", "/proc/net/protocols")
CHECK_TIMEOUT = 10.0


def kernel_lacks_sctp(outcome: ExecOutcome) -> str | None:
    """None when the listing names SCTP; else why SCTP cannot be judged on that node."""
    if outcome.exit_code is None or outcome.error:
        return f"could not read /proc/net/protocols ({outcome.error or 'no exit status'})"
    if outcome.exit_code != 0:
        said = (outcome.stderr or outcome.stdout).strip().splitlines()
        first = said[0] if said else "no output"
        return f"could not read /proc/net/protocols (exit {outcome.exit_code}: {first})"
    names = {line.split()[0] for line in outcome.stdout.splitlines() if line.split()}
    if "SCTP" in names:
        return None
    return "its kernel has no SCTP (no SCTP in /proc/net/protocols: `modprobe sctp` on the host adds it)"


@dataclass(frozen=True)
class SctpSupport:
    """Per node: None when it has SCTP, else the reason it cannot be judged there."""

    nodes: Mapping[str, str | None]

    def reason(self, probe: Probe, pods: Mapping[str, LabPod]) -> str | None:
        """Why this SCTP probe is not tried (its source's or its target's node lacks SCTP), or None."""
        source = probe.source.node
        why = self.nodes.get(source)
        if why is not None:
            return f"not probed: node {source} (where {probe.row} runs): {why}"
        workload = scenario.parse_column(probe.column).workload
        target = pods.get(workload.name) if workload is not None else None
        if target is not None and self.nodes.get(target.node) is not None:
            return f"not probed: node {target.node} (where {target.app} runs): {self.nodes[target.node]}"
        return None


def check_nodes(transport: Transport, pods: Sequence[LabPod]) -> SctpSupport:
    """Read /proc/net/protocols in one pod per node."""
    nodes: dict[str, str | None] = {}
    for pod in pods:
        if pod.node in nodes:
            continue
        outcome = transport.exec(pod.namespace, pod.name, CONTAINER, CHECK_ARGV, CHECK_TIMEOUT)
        nodes[pod.node] = kernel_lacks_sctp(outcome)
    return SctpSupport(nodes)


def split_sctp(
    probes: Sequence[Probe], pods: Mapping[str, LabPod], support: SctpSupport
) -> tuple[list[Probe], dict[tuple[str, str], Cell]]:
    """The probes to run, and the inconclusive cells of the SCTP probes that are not tried."""
    kept: list[Probe] = []
    skipped: dict[tuple[str, str], Cell] = {}
    for probe in probes:
        why = support.reason(probe, pods) if probe.target.protocol == "SCTP" else None
        if why is None:
            kept.append(probe)
        else:
            skipped[(probe.row, probe.column)] = Cell(Verdict.INCONCLUSIVE, why, 0, probe.command)
    return kept, skipped
