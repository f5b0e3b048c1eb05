"""The dataplane of a lab cluster in the model: an oracle written apart from the lab's evaluator.

Flows between the lab's pods follow the hand-written expectation table (``stages/*/expect.txt``)
of the stage the cluster holds (ConfigMap default/netpol-lab-stage; stage 0 when there is none;
on kindnet, which enforces NetworkPolicy alone, the table of the NetworkPolicies in force),
so ``probe --stage N`` sees the table and ``probe --expect computed`` compares the evaluator with
it. The enforcement canary is blocked when a NetworkPolicy in its namespace selects it for
Ingress, or (on Calico) an Admin-tier ClusterNetworkPolicy denies its ingress. On a network that
enforces nothing (the plain CNI) every flow connects. The probes' control pod is selected by no
lab policy: it reaches the outside when the world has internet and the metadata address when the
stand-in runs. A test may script any exec on top
(``Dataplane.overrides``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.matrix import Matrix, Verdict
from lab.scenario import BY_NAME, DNS_COLUMN, DNS_TCP_COLUMN, METADATA_COLUMN, OUTSIDE_COLUMN
from lab.workshop.stages import in_force, load_stages
from tests.model.dataplane import Dataplane, Flow, everything_reachable

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

CANARY_PREFIX = "netpol-lab-enforcement-"
CONTROL_NAMESPACE = "netpol-lab-control"


def current_stage(cluster: ModelCluster) -> int:
    record = cluster.store.get(("", "configmaps"), "default", "netpol-lab-stage")
    text = str(((record or {}).get("data") or {}).get("stage", "0"))
    return int(text) if text.isdigit() else 0


class StageTables:
    def __init__(self, root: Path) -> None:
        self.stages = load_stages(root)
        self.tables: dict[int, Matrix] = {stage.number: stage.expect for stage in self.stages}

    def verdict(self, cluster: ModelCluster, row: str, column: str) -> Verdict:
        number = current_stage(cluster)
        if cluster.network() != "calico":
            number = self.networkpolicy_only(number)
        table = self.tables.get(number) or self.tables[0]
        return table.get(row, column).verdict

    def networkpolicy_only(self, number: int) -> int:
        """kindnetd enforces NetworkPolicy alone: the stage whose table holds for the NetworkPolicies
        in force at ``number`` is the last of them that adds nothing but NetworkPolicies (stage 7's
        ClusterNetworkPolicies are stored and ignored, so stage 7 behaves as stage 5)."""
        kept = [
            stage.number
            for stage in in_force(self.stages, number)
            if all(doc.get("kind") == "NetworkPolicy" for doc in stage.documents())
        ]
        return max(kept, default=0)


def _selects_for_ingress(policy: dict[str, Any], pod: dict[str, Any]) -> bool:
    spec = policy.get("spec") or {}
    if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
        return False
    wanted = (spec.get("podSelector") or {}).get("matchLabels") or {}
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _admin_denies_ingress(policy: dict[str, Any], pod: dict[str, Any]) -> bool:
    """An Admin-tier ClusterNetworkPolicy whose subject names the pod's namespace (and labels) and
    whose ingress has a Deny from every namespace: the enforcement check's canary policy."""
    spec = policy.get("spec") or {}
    subject = (spec.get("subject") or {}).get("pods") or {}
    namespace_wanted = (subject.get("namespaceSelector") or {}).get("matchLabels") or {}
    pods_wanted = (subject.get("podSelector") or {}).get("matchLabels") or {}
    labels = pod["metadata"].get("labels") or {}
    denies = any(
        rule.get("action") == "Deny" and {"namespaces": {}} in (rule.get("from") or [])
        for rule in spec.get("ingress") or []
    )
    return (
        spec.get("tier") == "Admin"
        and denies
        and namespace_wanted == {"kubernetes.io/metadata.name": pod["metadata"]["namespace"]}
        and all(labels.get(k) == v for k, v in pods_wanted.items())
    )


def lab_dataplane(root: Path) -> Dataplane:
    tables = StageTables(root)

    def row_of(pod: dict[str, Any]) -> str | None:
        namespace = pod["metadata"]["namespace"]
        return namespace if namespace in BY_NAME else None

    def column_of(flow: Flow) -> str | None:
        if flow.address == cluster_metadata[0]:
            return METADATA_COLUMN
        if flow.target is None:
            return OUTSIDE_COLUMN
        workload = BY_NAME.get(flow.target["metadata"]["namespace"])
        if workload is None:
            return None
        by_name = not flow.host.replace(".", "").isdigit()
        if by_name:
            return f"svc/{workload.column}" if flow.protocol == "TCP" else None
        return workload.column_for(flow.protocol)

    cluster_metadata = ["169.254.169.254"]

    def reachability(cluster: ModelCluster, flow: Flow) -> str:
        cluster_metadata[0] = cluster.world.metadata_ip
        if not cluster.enforces():
            return everything_reachable(cluster, flow)
        target = flow.target
        if target is not None and target["metadata"]["namespace"].startswith(CANARY_PREFIX):
            namespace = target["metadata"]["namespace"]
            policies = cluster.store.list(("networking.k8s.io", "networkpolicies"), namespace)
            if any(_selects_for_ingress(p, target) for p in policies):
                return "deny"
            if cluster.network() == "calico" and any(
                _admin_denies_ingress(p, target)
                for p in cluster.store.list(("policy.networking.k8s.io", "clusternetworkpolicies"), None)
            ):  # Calico enforces ClusterNetworkPolicy; kindnetd stores it and does nothing
                return "deny"
            return everything_reachable(cluster, flow)
        row = row_of(flow.source)
        column = column_of(flow)
        if row is None or column is None:  # the control pod, kube-system, ...: selected by no lab policy
            return everything_reachable(cluster, flow)
        verdict = tables.verdict(cluster, row, column)
        if verdict == Verdict.DENY:
            return "deny"
        return everything_reachable(cluster, flow)

    def lookups_work(column: str) -> Callable[[ModelCluster, dict[str, Any]], bool]:
        def works(cluster: ModelCluster, pod: dict[str, Any]) -> bool:
            row = row_of(pod)
            if row is None or not cluster.enforces():
                return True
            return tables.verdict(cluster, row, column) != Verdict.DENY

        return works

    return Dataplane(
        reachability=reachability,
        dns_works=lookups_work(DNS_COLUMN),
        dns_over_tcp_works=lookups_work(DNS_TCP_COLUMN),
    )
