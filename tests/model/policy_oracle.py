"""A small evaluator of the policies a model cluster holds, written apart from ``lab.policy``.

The model's dataplane needs to answer flows for objects a test applies at run time (a
participant's answers to an exercise), not only for the stages' tables. Comparing the lab's
evaluator with itself would prove nothing, so this one is written again, directly from the API
texts, over the raw objects in the model's store, and imports nothing of ``lab``:

* NetworkPolicy (networking.k8s.io/v1, the API reference's "NetworkPolicySpec" and the concept page
  "Network Policies"): a pod is isolated in a direction when a policy of its namespace selects it
  and lists the direction in ``policyTypes`` (default: Ingress, plus Egress when ``egress`` has
  rules); then a flow passes when some rule of those policies matches the peer (``from``/``to``
  empty: everything; a peer's selectors AND-ed, peers OR-ed, ``podSelector`` alone meaning the
  policy's namespace; ``ipBlock`` cidr minus except) and the port (none listed: every port; the
  protocol defaulting to TCP; ``endPort`` inclusive; a name resolved on the destination pod).
* ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, network-policy-api v0.2.0,
  apis/v1alpha2/clusternetworkpolicy_types.go): the Admin tier before the NetworkPolicies, by
  ascending priority, rules in order, the first matching rule deciding (Accept: allowed, Deny:
  denied, Pass: on to the NetworkPolicies); the Baseline tier only for pods no NetworkPolicy
  isolates in that direction; peers ``namespaces``, ``pods`` (namespaceSelector AND podSelector)
  and, for egress, ``networks`` (which match pod addresses too); ``protocols`` absent: every
  port.
* A connection needs the source's egress and, for a pod, the destination's ingress.

Calico's own kinds (projectcalico.org) are not modelled: the exercises that use this oracle start
from stages without them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]
NAME_LABEL = "kubernetes.io/metadata.name"


def selects(selector: Obj | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: every matchLabels pair and every matchExpressions requirement holds."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement["key"], requirement["operator"]
        values = requirement.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class End:
    """One end of a flow: a pod (its namespace's labels too), or an address outside the pods."""

    ip: str
    pod: Obj | None = None
    namespace_labels: Mapping[str, str] | None = None

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"]) if self.pod else ""

    @property
    def labels(self) -> Mapping[str, str]:
        return (self.pod["metadata"].get("labels") or {}) if self.pod else {}

    def declared(self, name: str, protocol: str) -> list[int]:
        if self.pod is None:
            return []
        return [
            int(port["containerPort"])
            for container in self.pod["spec"].get("containers") or []
            for port in container.get("ports") or []
            if port.get("name") == name and port.get("protocol", "TCP") == protocol
        ]


def _in(ip: str, cidr: str) -> bool:
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(cidr, strict=False)
    return address.version == network.version and address in network


class Oracle:
    """Verdicts over the objects as given: namespaces, NetworkPolicies, ClusterNetworkPolicies."""

    def __init__(
        self, namespaces: Sequence[Obj], policies: Sequence[Obj], cluster_policies: Sequence[Obj]
    ) -> None:
        self.namespace_labels = {
            str(n["metadata"]["name"]): {
                NAME_LABEL: str(n["metadata"]["name"]),
                **(n["metadata"].get("labels") or {}),
            }
            for n in namespaces
        }
        self.policies = list(policies)
        self.cluster_policies = sorted(
            cluster_policies, key=lambda p: (int(p["spec"].get("priority", 0)), str(p["metadata"]["name"]))
        )

    def end(self, ip: str, pod: Obj | None) -> End:
        if pod is None:
            return End(ip)
        namespace = str(pod["metadata"]["namespace"])
        return End(ip, pod, self.namespace_labels.get(namespace, {NAME_LABEL: namespace}))

    # -- NetworkPolicy ------------------------------------------------------------------------

    @staticmethod
    def _types(policy: Obj) -> set[str]:
        spec = policy.get("spec") or {}
        given = spec.get("policyTypes")
        if given:
            return set(given)
        return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}

    def _np_peer(self, peer: Obj, policy_namespace: str, other: End) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            return _in(other.ip, block["cidr"]) and not any(
                _in(other.ip, c) for c in block.get("except") or []
            )
        if other.pod is None:
            return False
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], other.namespace_labels or {}):
                return False
        elif other.namespace != policy_namespace:
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], other.labels)

    @staticmethod
    def _np_port(entries: Sequence[Obj], destination: End, port: int, protocol: str) -> bool:
        if not entries:
            return True
        for entry in entries:
            if entry.get("protocol", "TCP") != protocol:
                continue
            wanted = entry.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, int) and wanted <= port <= int(entry.get("endPort") or wanted):
                return True
            if isinstance(wanted, str) and port in destination.declared(wanted, protocol):
                return True
        return False

    def _networkpolicies(
        self, direction: str, pod: End, other: End, destination: End, port: int, protocol: str
    ) -> bool | None:
        """None: no NetworkPolicy isolates the pod in this direction; else whether one allows the flow."""
        kind, peers_field = ("Ingress", "from") if direction == "ingress" else ("Egress", "to")
        isolating = [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace
            and kind in self._types(p)
            and selects((p.get("spec") or {}).get("podSelector") or {}, pod.labels)
        ]
        if not isolating:
            return None
        for policy in isolating:
            for rule in (policy.get("spec") or {}).get(direction) or []:
                peers = rule.get(peers_field) or []
                if peers and not any(self._np_peer(peer, pod.namespace, other) for peer in peers):
                    continue
                if self._np_port(rule.get("ports") or [], destination, port, protocol):
                    return True
        return False

    # -- ClusterNetworkPolicy -----------------------------------------------------------------

    def _cnp_subject(self, policy: Obj, pod: End) -> bool:
        subject = policy["spec"].get("subject") or {}
        if "namespaces" in subject:
            return selects(subject["namespaces"], pod.namespace_labels or {})
        pods = subject.get("pods") or {}
        return selects(pods.get("namespaceSelector"), pod.namespace_labels or {}) and selects(
            pods.get("podSelector"), pod.labels
        )

    @staticmethod
    def _cnp_peer(peer: Obj, other: End) -> bool:
        if "networks" in peer:
            return any(_in(other.ip, cidr) for cidr in peer["networks"])
        if other.pod is None:
            return False
        if "namespaces" in peer:
            return selects(peer["namespaces"], other.namespace_labels or {})
        if "pods" in peer:
            pods = peer["pods"]
            return selects(pods.get("namespaceSelector"), other.namespace_labels or {}) and selects(
                pods.get("podSelector"), other.labels
            )
        return False  # a peer this oracle does not know matches nothing

    @staticmethod
    def _cnp_port(protocols: Sequence[Obj] | None, destination: End, port: int, protocol: str) -> bool:
        if protocols is None:
            return True
        for entry in protocols:
            if "destinationNamedPort" in entry:
                named = entry["destinationNamedPort"]
                if any(port in destination.declared(named, p) for p in (protocol,)):
                    return True
                continue
            spec = entry.get(protocol.lower())
            if spec is None:
                continue
            target = spec.get("destinationPort") or {}
            if "number" in target and int(target["number"]) == port:
                return True
            span = target.get("range")
            if span and int(span["start"]) <= port <= int(span["end"]):
                return True
        return False

    def _tier(
        self, tier: str, direction: str, pod: End, other: End, destination: End, port: int, protocol: str
    ) -> str:
        """Accept, Deny, Pass or "" (no rule of the tier matched)."""
        peers_field = "from" if direction == "ingress" else "to"
        for policy in self.cluster_policies:
            if policy["spec"].get("tier") != tier or not self._cnp_subject(policy, pod):
                continue
            for rule in policy["spec"].get(direction) or []:
                if not any(self._cnp_peer(peer, other) for peer in rule.get(peers_field) or []):
                    continue
                if self._cnp_port(rule.get("protocols"), destination, port, protocol):
                    return str(rule["action"])
        return ""

    # -- a side, and a flow -------------------------------------------------------------------

    def side(self, direction: str, pod: End, other: End, destination: End, port: int, protocol: str) -> bool:
        admin = self._tier("Admin", direction, pod, other, destination, port, protocol)
        if admin in ("Accept", "Deny"):
            return admin == "Accept"
        verdict = self._networkpolicies(direction, pod, other, destination, port, protocol)
        if verdict is not None:
            return verdict
        baseline = self._tier("Baseline", direction, pod, other, destination, port, protocol)
        return baseline != "Deny"

    def allowed(self, source: End, destination: End, port: int, protocol: str) -> bool:
        if source.pod is not None and destination.pod is not None and source.pod is destination.pod:
            return True
        egress = self.side("egress", source, destination, destination, port, protocol)
        if destination.pod is None:
            return egress
        return egress and self.side("ingress", destination, source, destination, port, protocol)
