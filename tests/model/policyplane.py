"""A dataplane that enforces the policies the model cluster holds, through ``policy_oracle``.

``labplane`` answers lab flows from the stages' hand-written tables, which know nothing of objects
applied at run time; an exercise check applies a participant's policies, a world and synthetic
pods. This dataplane evaluates whatever NetworkPolicies and ClusterNetworkPolicies are stored, with
the oracle written apart from the lab's evaluator, so ``check --live`` against the model compares
the lab's offline verdicts with an independent judgement. Use it as ``LabWorld(home,
dataplane=policy_dataplane())``.

What it answers: a TCP connect by IP or by Service name (Service translation and the names come from
the model cluster), ``dig`` (over UDP, or TCP with ``+tcp``; to the resolver or to ``@SERVER``),
each decided by the source's egress and the destination's ingress. Allowed flows then connect as
they would without policies (``everything_reachable``: a declared port answers, another is
refused, the outside and the metadata address as the world has them). On a network that enforces
nothing every flow connects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.model.dataplane import Dataplane, ExecReply, ExecRequest, Flow, everything_reachable
from tests.model.policy_oracle import Oracle

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

DNS_LABELS = {"k8s-app": "kube-dns"}


def oracle_of(cluster: ModelCluster) -> Oracle:
    store = cluster.store
    return Oracle(
        store.list(("", "namespaces")),
        store.list(("networking.k8s.io", "networkpolicies")),
        store.list(("policy.networking.k8s.io", "clusternetworkpolicies")),
    )


def _ip(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def _coredns(cluster: ModelCluster, ip: str = "") -> dict[str, Any] | None:
    for pod in cluster.store.list(("", "pods"), "kube-system"):
        labels = pod["metadata"].get("labels") or {}
        if all(labels.get(k) == v for k, v in DNS_LABELS.items()) and (not ip or _ip(pod) == ip):
            return pod
    return None


def _reachability(cluster: ModelCluster, flow: Flow) -> str:
    if not cluster.enforces():
        return everything_reachable(cluster, flow)
    oracle = oracle_of(cluster)
    source = oracle.end(_ip(flow.source), flow.source)
    destination = oracle.end(flow.address or "", flow.target)
    if not oracle.allowed(source, destination, flow.port, flow.protocol):
        return "deny"
    return everything_reachable(cluster, flow)


def _dns_allowed(cluster: ModelCluster, pod: dict[str, Any], protocol: str, server: str = "") -> bool:
    if not cluster.enforces():
        return True
    coredns = _coredns(cluster, server)
    if coredns is None:
        return False
    oracle = oracle_of(cluster)
    return oracle.allowed(oracle.end(_ip(pod), pod), oracle.end(_ip(coredns), coredns), 53, protocol)


def _dig(cluster: ModelCluster, request: ExecRequest) -> ExecReply | None:
    """``dig [@SERVER] [+tcp] ... NAME``: answered when the pod may ask CoreDNS over that protocol."""
    argv = request.argv
    if not argv or argv[0] != "dig":
        return None
    server = next((a[1:] for a in argv[1:] if a.startswith("@")), "")
    protocol = "TCP" if "+tcp" in argv else "UDP"
    if not _dns_allowed(cluster, request.pod_object, protocol, server):
        return ExecReply(
            stdout=f";; communications error to {server or cluster.world.dns_ip}#53: timed out\n"
            ";; no servers could be reached\n",
            exit_code=9,
        )
    address = cluster.resolve(argv[-1])
    return ExecReply(stdout=f"{address}\n" if address else "")


def policy_dataplane() -> Dataplane:
    return Dataplane(
        reachability=_reachability,
        overrides=[_dig],
        dns_works=lambda cluster, pod: _dns_allowed(cluster, pod, "UDP"),
    )
