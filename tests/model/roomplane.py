"""The dataplane of a room in the model: each participant's copy follows its own stage's table.

An oracle written apart from the lab's evaluator, like ``labplane``: a flow from a pod of a copy is
decided by the hand-written table (``stages/*/expect.txt``) of the stage that copy recorded (ConfigMap
``netpol-lab-stage`` in the copy's home namespace; stage 0 when there is none), read by the roles of
the source's and target's namespaces (their ``netpol-lab/role`` labels). A flow from one copy into
another is never part of a participant's matrix: it is refused here and remembered in ``crossings``,
so a test can assert that no probe of one participant touched another's pods. Everything else (the
enforcement canary, kube-system) behaves as in the lab's dataplane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.matrix import Matrix, Verdict
from lab.scenario import BY_NAME, DNS_COLUMN, DNS_TCP_COLUMN, METADATA_COLUMN, OUTSIDE_COLUMN
from lab.workshop.stages import load_stages
from tests.model.dataplane import Dataplane, Flow
from tests.model.labplane import lab_dataplane

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

PARTICIPANT = "netpol-lab/participant"
ROLE = "netpol-lab/role"


@dataclass
class RoomPlane:
    root: Path
    crossings: list[tuple[str, str]] = field(default_factory=list)  # (source pod, target pod)

    def __post_init__(self) -> None:
        self.tables: dict[int, Matrix] = {stage.number: stage.expect for stage in load_stages(self.root)}
        self.lab = lab_dataplane(self.root)

    def copy_of(self, cluster: ModelCluster, pod: dict[str, Any]) -> tuple[str, str] | None:
        """(participant, role) of the pod's namespace, when it belongs to a room copy."""
        namespace = cluster.store.get(("", "namespaces"), "", pod["metadata"]["namespace"]) or {}
        labels = (namespace.get("metadata") or {}).get("labels") or {}
        if PARTICIPANT in labels and labels.get(ROLE) in BY_NAME:
            return str(labels[PARTICIPANT]), str(labels[ROLE])
        return None

    def verdict(self, cluster: ModelCluster, participant: str, row: str, column: str) -> Verdict:
        record = cluster.store.get(("", "configmaps"), f"{participant}-frontend", "netpol-lab-stage")
        text = str(((record or {}).get("data") or {}).get("stage", "0"))
        table = self.tables.get(int(text) if text.isdigit() else 0) or self.tables[0]
        return table.get(row, column).verdict

    def reachability(self, cluster: ModelCluster, flow: Flow) -> str:
        source = self.copy_of(cluster, flow.source)
        if source is None or not cluster.enforces():
            return self.lab.reachability(cluster, flow)
        participant, row = source
        if flow.address == cluster.world.metadata_ip:
            column = METADATA_COLUMN
        elif flow.target is None:
            column = OUTSIDE_COLUMN
        else:
            target = self.copy_of(cluster, flow.target)
            if target is None:
                return self.lab.reachability(cluster, flow)
            if target[0] != participant:
                self.crossings.append((_name(flow.source), _name(flow.target)))
                return "deny"
            workload = BY_NAME[target[1]]
            by_name = not flow.host.replace(".", "").isdigit()
            if by_name and flow.protocol != "TCP":
                return self.lab.reachability(cluster, flow)  # no such column: as the lab's dataplane does
            column = f"svc/{workload.column}" if by_name else workload.column_for(flow.protocol)
        if self.verdict(cluster, participant, row, column) == Verdict.DENY:
            return "deny"
        from tests.model.dataplane import everything_reachable

        return everything_reachable(cluster, flow)

    def lookups_work(self, column: str) -> Callable[[ModelCluster, dict[str, Any]], bool]:
        """Whether a pod of a copy gets DNS answers (over UDP: ``dns``, over TCP: ``dns/tcp``)."""

        def works(cluster: ModelCluster, pod: dict[str, Any]) -> bool:
            source = self.copy_of(cluster, pod)
            if source is None or not cluster.enforces():
                return True
            return self.verdict(cluster, source[0], source[1], column) != Verdict.DENY

        return works

    def dataplane(self) -> Dataplane:
        return Dataplane(
            reachability=self.reachability,
            dns_works=self.lookups_work(DNS_COLUMN),
            dns_over_tcp_works=self.lookups_work(DNS_TCP_COLUMN),
        )


def _name(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
