"""ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2 (kubernetes-sigs/network-policy-api v0.2.0).

What the API's Go types and their documentation say (apis/v1alpha2/clusternetworkpolicy_types.go):

* ``tier`` Admin or Baseline, ``priority`` 0-1000 (lower first, within the tier only), a
  ``subject`` of either ``namespaces`` (a label selector) or ``pods`` (a namespaceSelector and a
  podSelector, both must match); host-network pods are never subjects nor peers.
* Ingress and egress rules, at most 25 each, tried in the order written: the first whose peer
  and protocols match decides. ``Accept`` allows (final), ``Deny`` drops (final), ``Pass`` skips
  the rest of the tier. A policy does not isolate the pods it selects: traffic no rule matches
  goes on to the next policy, tier, and finally the default (allow).
* Peers, any of which may match: ``namespaces``, ``pods``, and for egress ``networks`` (CIDRs,
  which match pod and node addresses as well as outside ones). ``protocols`` (absent: every
  protocol and port) lists ``tcp``/``udp``/``sctp`` with a ``destinationPort`` number or inclusive
  range, or ``destinationNamedPort``, resolved on the destination pod.
* The experimental peers ``nodes`` and ``domainNames``, and any peer this evaluator does not
  know, fail closed as the API prescribes for an implementation that does not support them: an
  Accept rule then matches nothing, a Deny or Pass rule denies everything. Calico v3.32 does the
  same for them (libcalico-go's clusternetworkpolicy conversion), and the state notes say so.

Calico maps the Admin tier to its static tier ``kube-admin`` and Baseline to ``kube-baseline``,
with the priority as the order (see ``lab.policy.tiers``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.policy.model import InputError, IPNetwork, field_names, kind_of, shown
from lab.policy.selectors import LabelSelector, SelectorError, parse_selector
from lab.policy.tiers import ADMIN_TIER, BASELINE_TIER

API_VERSION = "policy.networking.k8s.io/v1alpha2"
KIND = "ClusterNetworkPolicy"
CLUSTER_KINDS = "clusternetworkpolicies.policy.networking.k8s.io"
TIERS = {"Admin": ADMIN_TIER, "Baseline": BASELINE_TIER}
ACTIONS = {"Accept": "Allow", "Deny": "Deny", "Pass": "Pass"}  # as Calico names them
MAX_RULES = 25
MAX_PEERS = 25
EXPERIMENTAL_PEERS = ("nodes", "domainNames")
PROTOCOL_FIELDS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


@dataclass(frozen=True)
class CnpPort:
    """One entry of ``protocols``: a protocol with a port or range, or a named port."""

    protocol: str  # TCP/UDP/SCTP; "" for a named port (the pod's declaration says which)
    first: int = 0
    last: int = 0
    name: str = ""

    def describe(self) -> str:
        if self.name:
            return f"named port {self.name!r}"
        span = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.protocol} {span}"


@dataclass(frozen=True)
class CnpPeer:
    namespaces: LabelSelector | None = None  # peer ``namespaces``
    pod_namespaces: LabelSelector | None = None  # peer ``pods.namespaceSelector``
    pods: LabelSelector | None = None  # peer ``pods.podSelector``
    networks: tuple[IPNetwork, ...] = ()
    unsupported: str = ""  # why this peer fails closed ("" when understood)

    def describe(self) -> str:
        if self.unsupported:
            return self.unsupported
        if self.networks:
            return "networks " + ", ".join(map(str, self.networks))
        if self.namespaces is not None:
            return f"namespaces {self.namespaces.describe()}"
        assert self.pods is not None and self.pod_namespaces is not None
        return f"pods {self.pods.describe()} in namespaces {self.pod_namespaces.describe()}"


@dataclass(frozen=True)
class CnpRule:
    action: str  # Accept, Deny or Pass (as written)
    peers: tuple[CnpPeer, ...]
    ports: tuple[CnpPort, ...] | None  # None: every protocol and port
    name: str = ""

    @property
    def unsupported(self) -> str:
        """Why the rule fails closed ("" when every peer is understood)."""
        return next((p.unsupported for p in self.peers if p.unsupported), "")

    @property
    def effective_action(self) -> str:
        """The action after failing closed: an unsupported Accept matches nothing, Deny and Pass deny all."""
        if self.unsupported:
            return "Allow" if self.action == "Accept" else "Deny"
        return ACTIONS[self.action]


@dataclass(frozen=True)
class ClusterPolicy:
    name: str
    tier: str  # Admin or Baseline
    priority: int
    subject_namespaces: LabelSelector | None  # subject.namespaces
    subject_pod_namespaces: LabelSelector | None  # subject.pods.namespaceSelector
    subject_pods: LabelSelector | None  # subject.pods.podSelector
    ingress: tuple[CnpRule, ...] = ()
    egress: tuple[CnpRule, ...] = ()
    source: str = ""

    @property
    def key(self) -> str:
        return f"{KIND} {self.name}"

    @property
    def calico_tier(self) -> str:
        return TIERS[self.tier]

    @property
    def sort_key(self) -> tuple[float, str]:
        return (float(self.priority), self.name)

    @property
    def types(self) -> frozenset[str]:
        """The directions it has rules for: without rules a direction is not affected at all."""
        return frozenset({"Ingress"} if self.ingress else set()) | frozenset(
            {"Egress"} if self.egress else set()
        )

    def selects(self, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> bool:
        if self.subject_namespaces is not None:
            return self.subject_namespaces.matches(namespace_labels)
        assert self.subject_pods is not None and self.subject_pod_namespaces is not None
        return self.subject_pod_namespaces.matches(namespace_labels) and self.subject_pods.matches(labels)

    def describe_subject(self) -> str:
        if self.subject_namespaces is not None:
            return f"pods in namespaces {self.subject_namespaces.describe()}"
        assert self.subject_pods is not None and self.subject_pod_namespaces is not None
        return f"pods {self.subject_pods.describe()} in namespaces {self.subject_pod_namespaces.describe()}"


# -- parsing ---------------------------------------------------------------------------------------


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: must be a mapping, not {kind_of(raw)}")
    return raw


def _one_field(raw: Mapping[str, Any], where: str, what: str) -> None:
    if len(raw) != 1:
        names = ", ".join(sorted(field_names(raw))) or "none"
        raise InputError(f"{where}: {what} must set exactly one field (found {names})")


def _selector(raw: Any, where: str) -> LabelSelector:
    try:
        return parse_selector(raw, where)
    except SelectorError as error:
        raise InputError(f"{where}: {error}") from None


def _namespaced_pod(raw: Any, where: str) -> tuple[LabelSelector, LabelSelector]:
    value = _mapping(raw, where)
    unknown = field_names(value) - {"namespaceSelector", "podSelector"}
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if "podSelector" not in value:
        raise InputError(f"{where}: podSelector is required")
    return (
        _selector(value.get("namespaceSelector") or {}, f"{where}.namespaceSelector"),
        _selector(value["podSelector"], f"{where}.podSelector"),
    )


def _peer(raw: Any, where: str, *, egress: bool) -> CnpPeer:
    value = _mapping(raw, where)
    if not value:
        return CnpPeer(unsupported=f"{where}: a peer with no field this evaluator knows (fails closed)")
    _one_field(value, where, "a peer")
    ((field, content),) = value.items()
    field = field if isinstance(field, str) else shown(field)
    if field == "namespaces":
        return CnpPeer(namespaces=_selector(content, f"{where}.namespaces"))
    if field == "pods":
        namespaces, pods = _namespaced_pod(content, f"{where}.pods")
        return CnpPeer(pod_namespaces=namespaces, pods=pods)
    if field == "networks" and egress:
        if not isinstance(content, list) or not 1 <= len(content) <= MAX_PEERS:
            raise InputError(f"{where}.networks: must be a list of 1 to {MAX_PEERS} CIDRs")
        nets = []
        for item in content:
            try:
                if not isinstance(item, str):
                    raise ValueError(item)
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise InputError(f"{where}.networks: {shown(item)} is not a CIDR") from None
        return CnpPeer(networks=tuple(nets))
    if field in EXPERIMENTAL_PEERS and egress:
        return CnpPeer(
            unsupported=f"{where}.{field}: an experimental peer the lab does not evaluate (fails closed)"
        )
    return CnpPeer(unsupported=f"{where}.{field}: not a peer this evaluator knows (fails closed)")


def _port(raw: Any, where: str) -> CnpPort:
    value = _mapping(raw, where)
    _one_field(value, where, "a protocols entry")
    ((field, content),) = value.items()
    field = field if isinstance(field, str) else shown(field)
    if field == "destinationNamedPort":
        if not isinstance(content, str) or not content:
            raise InputError(f"{where}.destinationNamedPort: must be a port name")
        return CnpPort("", name=content)
    if field not in PROTOCOL_FIELDS:
        raise InputError(
            f"{where}: unknown protocol field {shown(field)} (tcp, udp, sctp or destinationNamedPort)"
        )
    spec = _mapping(content, f"{where}.{field}")
    port = _mapping(spec.get("destinationPort"), f"{where}.{field}.destinationPort")
    _one_field(port, f"{where}.{field}.destinationPort", "a destinationPort")
    if "number" in port:
        number = _port_number(port["number"], f"{where}.{field}.destinationPort.number")
        return CnpPort(PROTOCOL_FIELDS[field], number, number)
    if "range" in port:
        span = _mapping(port["range"], f"{where}.{field}.destinationPort.range")
        first = _port_number(span.get("start"), f"{where}.{field}.destinationPort.range.start")
        last = _port_number(span.get("end"), f"{where}.{field}.destinationPort.range.end")
        if not first < last:
            raise InputError(f"{where}.{field}.destinationPort.range: start must be less than end")
        return CnpPort(PROTOCOL_FIELDS[field], first, last)
    raise InputError(f"{where}.{field}.destinationPort: needs number or range")


def _port_number(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise InputError(f"{where}: {shown(raw)} is not a port number 1-65535")
    return raw


def _rules(raw: Any, where: str, *, egress: bool) -> tuple[CnpRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list of rules")
    if len(raw) > MAX_RULES:
        raise InputError(f"{where}: at most {MAX_RULES} rules (found {len(raw)})")
    peers_field = "to" if egress else "from"
    rules = []
    for number, item in enumerate(raw):
        spot = f"{where}[{number}]"
        rule = _mapping(item, spot)
        unknown = field_names(rule) - {"name", "action", peers_field, "protocols"}
        if unknown:
            raise InputError(f"{spot}: unknown field(s) {', '.join(sorted(unknown))}")
        action = rule.get("action")
        if not isinstance(action, str) or action not in ACTIONS:
            raise InputError(f"{spot}.action: {shown(action)} must be Accept, Deny or Pass")
        peers = rule.get(peers_field)
        if not isinstance(peers, list) or not 1 <= len(peers) <= MAX_PEERS:
            raise InputError(f"{spot}.{peers_field}: needs 1 to {MAX_PEERS} peers")
        protocols = rule.get("protocols")
        ports: tuple[CnpPort, ...] | None = None
        if protocols is not None:
            if not isinstance(protocols, list) or not 1 <= len(protocols) <= MAX_PEERS:
                raise InputError(f"{spot}.protocols: needs 1 to {MAX_PEERS} entries")
            ports = tuple(_port(p, f"{spot}.protocols[{i}]") for i, p in enumerate(protocols))
        name = rule.get("name", "")
        if not isinstance(name, str):
            raise InputError(f"{spot}.name: must be a string")
        rules.append(
            CnpRule(
                str(action),
                tuple(_peer(p, f"{spot}.{peers_field}[{i}]", egress=egress) for i, p in enumerate(peers)),
                ports,
                name,
            )
        )
    return tuple(rules)


def parse_cluster_policy(obj: Mapping[str, Any], source: str) -> ClusterPolicy:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InputError(f"{source}: a {KIND} without metadata.name")
    where = f"{source}: {KIND} {name}"
    spec = _mapping(obj.get("spec"), f"{where}: spec")
    unknown = field_names(spec) - {"tier", "priority", "subject", "ingress", "egress"}
    if unknown:
        raise InputError(f"{where}: unknown field(s) spec.{', spec.'.join(sorted(unknown))}")
    tier = spec.get("tier")
    if not isinstance(tier, str) or tier not in TIERS:
        raise InputError(f"{where}: spec.tier {shown(tier)} must be Admin or Baseline")
    priority = spec.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
        raise InputError(f"{where}: spec.priority {shown(priority)} must be a whole number from 0 to 1000")
    subject = _mapping(spec.get("subject"), f"{where}: spec.subject")
    _one_field(subject, f"{where}: spec.subject", "the subject")
    namespaces = pod_namespaces = pods = None
    if "namespaces" in subject:
        namespaces = _selector(subject["namespaces"], f"{where}: spec.subject.namespaces")
    elif "pods" in subject:
        pod_namespaces, pods = _namespaced_pod(subject["pods"], f"{where}: spec.subject.pods")
    else:
        raise InputError(f"{where}: spec.subject must be namespaces or pods")
    return ClusterPolicy(
        name,
        str(tier),
        int(priority),
        namespaces,
        pod_namespaces,
        pods,
        _rules(spec.get("ingress"), f"{where}: spec.ingress", egress=False),
        _rules(spec.get("egress"), f"{where}: spec.egress", egress=True),
        source,
    )


def unsupported_notes(policy: ClusterPolicy) -> list[str]:
    """One note per rule that fails closed, naming what was not understood and what it does instead."""
    notes = []
    for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
        for number, rule in enumerate(rules):
            if rule.unsupported:
                effect = "matches nothing" if rule.action == "Accept" else "denies all traffic it could see"
                notes.append(
                    f"note: {policy.key} spec.{direction}[{number}] ({rule.action}) fails closed and "
                    f"{effect}: {rule.unsupported.split(': ', 1)[-1]}"
                )
    return notes
