"""Why one flow is allowed or denied, in words a workshop participant understands.

Written pair by pair straight from the API semantics (no bitsets), so it doubles as an
independent check of the engine: the tests assert that both always agree. For each side
(the source's egress, the destination's ingress) it says whether the pod is isolated and by
which policies, then which policy and rule let the flow through, or, for every rule that
could have, why it did not match (peer labels, namespace, address, port or protocol).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.policy.calico import KUBERNETES_ORDER, CalicoPolicy, CalicoRule, entity_miss, ports_ok, protocol_ok
from lab.policy.engine import EGRESS, INGRESS, SELF_REASON, policy_type
from lab.policy.model import ClusterState, IPAddress, Peer, Pod, Policy, PolicyPort, Rule
from lab.policy.selectors import LabelSelector, describe_labels


@dataclass(frozen=True)
class RuleMiss:
    policy: Any  # Policy or CalicoPolicy
    number: int
    why: str


@dataclass
class Side:
    """One direction of a flow: the source's egress or the destination's ingress."""

    direction: str  # EGRESS or INGRESS
    pod: Pod | None  # None: the destination is an address outside the pod network
    isolating: list[Any] = field(default_factory=list)  # Policy, or in Calico order also CalicoPolicy
    allowed_by: tuple[Any, int] | None = None
    denied_by: tuple[Any, int] | None = None  # a Calico Deny rule
    passed_by: tuple[Any, int] | None = None  # a Calico Pass rule: the (last) tier ends, the profile allows
    misses: list[RuleMiss] = field(default_factory=list)
    ordered: bool = False  # evaluated in Calico's order (Calico policies present)

    @property
    def allowed(self) -> bool:
        if self.pod is None:
            return True
        if self.denied_by is not None:
            return False
        return not self.isolating or self.allowed_by is not None or self.passed_by is not None

    def summary(self) -> str:
        if self.pod is None:
            return f"{self.direction}: no pod on the receiving side, nothing to judge"
        if not self.isolating:
            return f"{self.direction}: {self.pod.key} is not isolated (no {self.direction} policy selects it)"
        for decision, word in (
            (self.allowed_by, "allowed"),
            (self.denied_by, "denied"),
            (self.passed_by, "passed"),
        ):
            if decision:
                policy, number = decision
                return f"{self.direction}: {word} by {_name(policy)} spec.{self.direction}[{number}]"
        names = ", ".join(_name(p) for p in self.isolating)
        return f"{self.direction}: {self.pod.key} is isolated by {names} and no rule allows this flow"


def _name(policy: Any) -> str:
    """A policy as participants know it: ``ns/name`` for Kubernetes, kind and name for Calico."""
    if isinstance(policy, CalicoPolicy):
        order = "no order" if policy.order is None else f"order {policy.order:g}"
        return f"{policy.key} ({order})"
    return str(policy.key)


@dataclass
class Explanation:
    source: Pod
    destination: Pod | None
    address: str
    port: int
    protocol: str
    egress: Side
    ingress: Side
    self_flow: bool = False

    @property
    def allowed(self) -> bool:
        return self.self_flow or (self.egress.allowed and self.ingress.allowed)

    @property
    def target(self) -> str:
        return self.destination.key if self.destination else self.address

    def reason(self) -> str:
        """One line, for the JSON ``reason`` field and the matrix cells."""
        if self.self_flow:
            return SELF_REASON
        sides = [self.egress] if self.destination is None else [self.egress, self.ingress]
        if not self.allowed:
            sides = [s for s in sides if not s.allowed]
        return "; ".join(s.summary() for s in sides)

    def lines(self) -> list[str]:
        """The long explanation, one statement per line."""
        verdict = "ALLOWED" if self.allowed else "DENIED"
        head = f"{verdict}: {self.source.key} -> {self.target} on {self.protocol} {self.port}"
        if self.self_flow:
            return [head, f"  {SELF_REASON}."]
        out = [head, ""]
        out += _side_lines(self.egress, f"Source {self.source.key}, outgoing (egress)")
        out.append("")
        if self.destination is None:
            out.append(f"Destination {self.address}: not a pod, so no ingress policy applies to it.")
            out.append("  Policies can only limit it from the source's side (egress rules with ipBlock).")
        else:
            out += _side_lines(self.ingress, f"Destination {self.destination.key}, incoming (ingress)")
        out.append("")
        out.append(
            "A connection needs both sides: the source's egress and the destination's ingress."
            if self.destination is not None
            else "Only the source's egress decides a connection to an address outside the cluster."
        )
        return out


def _side_lines(side: Side, title: str) -> list[str]:
    out = [title + ":"]
    if not side.isolating:
        out.append(
            f"  not isolated: no NetworkPolicy selects it for {side.direction}, so everything is allowed."
        )
        return out
    if side.ordered:
        return out + _ordered_lines(side)
    names = ", ".join(p.key for p in side.isolating)
    out.append(f"  isolated for {side.direction} by {names}: only what a rule allows gets through.")
    if side.allowed_by:
        policy, number = side.allowed_by
        out.append(f"  allowed by {policy.key}, rule #{number + 1} (spec.{side.direction}[{number}]).")
        return out
    policies_without_rules = [p for p in side.isolating if not _rules(p, side.direction)]
    for policy in policies_without_rules:
        out.append(f"  {policy.key} has no {side.direction} rules: it only isolates, it allows nothing.")
    for miss in side.misses:
        out.append(
            f"  {miss.policy.key} rule #{miss.number + 1} (spec.{side.direction}[{miss.number}]): {miss.why}"
        )
    out.append(f"  => no rule allows it: denied on {side.direction}.")
    return out


def _ordered_lines(side: Side) -> list[str]:
    """Calico's evaluation: the policies in order, the rules tried, the one that decided."""
    order = ", ".join(
        _name(p) if isinstance(p, CalicoPolicy) else f"{p.key} (Kubernetes, order 1000)"
        for p in side.isolating
    )
    out = [f"  selected for {side.direction} by, in evaluation order: {order}."]
    for miss in side.misses:
        out.append(
            f"  {_name(miss.policy)} rule #{miss.number + 1} "
            f"(spec.{side.direction}[{miss.number}]): {miss.why}"
        )
    if side.denied_by:
        policy, number = side.denied_by
        out.append(
            f"  => DENY by {_name(policy)}, rule #{number + 1} (spec.{side.direction}[{number}]): "
            "first match wins."
        )
    elif side.passed_by:
        policy, number = side.passed_by
        out.append(
            f"  => PASS by {_name(policy)}, rule #{number + 1}: the rest of the tier is skipped and the "
            "namespace's profile allows it."
        )
    elif side.allowed_by:
        policy, number = side.allowed_by
        out.append(f"  => ALLOW by {_name(policy)}, rule #{number + 1} (spec.{side.direction}[{number}]).")
    else:
        out.append("  => no rule decided: the tier ends in a deny for a pod that policies select.")
    return out


def _rules(policy: Policy, direction: str) -> tuple[Rule, ...]:
    return policy.ingress if direction == INGRESS else policy.egress


def isolating_policies(state: ClusterState, pod: Pod, direction: str) -> list[Policy]:
    wanted = policy_type(direction)
    return [
        p
        for p in state.policies
        if wanted in p.types and p.namespace == pod.namespace and p.pod_selector.matches(pod.labels)
    ]


def _relevant(labels: Mapping[str, str], selector: LabelSelector) -> str:
    """The labels a selector looks at, as the other end carries them (short, unlike all labels)."""
    keys = {k for k, _ in selector.match_labels} | {r.key for r in selector.expressions}
    shown = {k: v for k, v in labels.items() if k in keys}
    return f"labels {describe_labels(shown)}" if shown else "none of the labels " + ", ".join(sorted(keys))


def peer_miss(state: ClusterState, peer: Peer, policy: Policy, other: Pod | None, address: str) -> str | None:
    """Why ``peer`` does not select the other end of the flow (None when it does)."""
    if peer.ip_block is not None:
        block = peer.ip_block
        ip = other.ip if other else address
        if not ip:
            return f"{block.describe()} needs an address, and {other.key if other else address} has none"
        parsed = ipaddress.ip_address(ip)
        if parsed.version == block.cidr.version and parsed in block.cidr:
            if block.contains(parsed):
                return None
            return f"{ip} is inside {block.cidr} but in its except list"
        return f"{ip} is not inside {block.describe()}"
    if other is None:
        return f"pod and namespace selectors pick pods only; {address} is not a pod"
    pods_ok = peer.pod_selector is None or peer.pod_selector.matches(other.labels)
    pod_text = peer.pod_selector.describe() if peer.pod_selector else ""
    if peer.namespace_selector is None:
        if other.namespace != policy.namespace:
            return (
                f"podSelector {pod_text} alone picks pods in the policy's own namespace "
                f"'{policy.namespace}' only; {other.key} is in namespace '{other.namespace}'"
            )
        if not pods_ok:
            assert peer.pod_selector is not None
            return _pod_mismatch(other, peer.pod_selector)
        return None
    ns_labels = state.namespace_labels(other.namespace)
    ns_ok = peer.namespace_selector.matches(ns_labels)
    ns_text = peer.namespace_selector.describe()
    if not ns_ok:
        text = (
            f"namespace '{other.namespace}' has {_relevant(ns_labels, peer.namespace_selector)}, "
            f"which does not match namespaceSelector {ns_text}"
        )
        if peer.pod_selector is not None and pods_ok:
            text += f" (the pod's labels do match podSelector {pod_text}, but one peer needs both)"
        return text
    if not pods_ok:
        assert peer.pod_selector is not None
        return _pod_mismatch(other, peer.pod_selector)
    return None


def _pod_mismatch(other: Pod, selector: LabelSelector) -> str:
    labels = _relevant(other.labels, selector)
    return f"{other.key} has {labels}, which does not match podSelector {selector.describe()}"


def port_miss(rule: Rule, destination: Pod | None, port: int, protocol: str) -> str | None:
    """Why ``rule``'s ports do not admit (port, protocol) on the destination (None when they do)."""
    if not rule.ports:
        return None
    for entry in rule.ports:
        if _port_admits(entry, destination, port, protocol):
            return None
    allowed = ", ".join(_port_text(e, destination) for e in rule.ports)
    return f"its ports allow {allowed}; this connection is {protocol} {port}"


def _port_admits(entry: PolicyPort, destination: Pod | None, port: int, protocol: str) -> bool:
    if entry.protocol != protocol:
        return False
    if entry.port is None:
        return True
    if isinstance(entry.port, int):
        return entry.port <= port <= (entry.end_port or entry.port)
    if destination is None:
        return False  # a named port resolves on a pod; an outside address has none
    return any(p.port == port and p.protocol == protocol for p in destination.named_port(entry.port))


def _port_text(entry: PolicyPort, destination: Pod | None) -> str:
    text = entry.describe()
    if isinstance(entry.port, str) and destination is not None:
        declared = destination.named_port(entry.port)
        if declared:
            text += " (= " + ", ".join(f"{p.protocol} {p.port}" for p in declared) + f" on {destination.key})"
        else:
            text += f" (which {destination.key} does not declare)"
    return text


class Explainer:
    """Explains flows of one state; remembers which policies isolate which pod."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self._isolating: dict[tuple[str, str], list[Policy]] = {}
        self._by_ip = {p.ip: p for p in state.pods if p.ip}

    def isolating(self, pod: Pod, direction: str) -> list[Policy]:
        key = (pod.key, direction)
        if key not in self._isolating:
            self._isolating[key] = isolating_policies(self.state, pod, direction)
        return self._isolating[key]

    def _side(
        self,
        direction: str,
        pod: Pod,
        other: Pod | None,
        address: str,
        destination: Pod | None,
        port: int,
        protocol: str,
    ) -> Side:
        if self.state.calico:
            return self._ordered_side(direction, pod, other, address, destination, port, protocol)
        side = Side(direction, pod, self.isolating(pod, direction))
        for policy in side.isolating:
            for number, rule in enumerate(_rules(policy, direction)):
                why = port_miss(rule, destination, port, protocol)
                if why is None and rule.peers:
                    reasons = [peer_miss(self.state, peer, policy, other, address) for peer in rule.peers]
                    if all(r is not None for r in reasons):
                        label = "from" if direction == INGRESS else "to"
                        why = "; ".join(f"{label}[{i}]: {r}" for i, r in enumerate(reasons))
                if why is None:
                    side.allowed_by = (policy, number)
                    side.misses.clear()
                    return side
                side.misses.append(RuleMiss(policy, number, why))
        return side

    def ordered(self, pod: Pod, direction: str) -> list[Any]:
        """Calico and Kubernetes policies selecting ``pod``, in Calico's evaluation order."""
        wanted = policy_type(direction)
        labels = self.state.namespace_labels(pod.namespace)
        entries: list[tuple[tuple[float, str], Any]] = [
            (c.sort_key, c) for c in self.state.calico if wanted in c.types and c.selects(pod, labels)
        ]
        entries += [((KUBERNETES_ORDER, "knp." + p.key), p) for p in self.isolating(pod, direction)]
        entries.sort(key=lambda item: item[0])
        return [policy for _, policy in entries]

    def _ordered_side(
        self,
        direction: str,
        pod: Pod,
        other: Pod | None,
        address: str,
        destination: Pod | None,
        port: int,
        protocol: str,
    ) -> Side:
        side = Side(direction, pod, self.ordered(pod, direction), ordered=True)
        source, target = (other, pod) if direction == INGRESS else (pod, other)
        source_ip = _address(source.ip if source else None)
        target_ip = _address(destination.ip if destination else address)
        for policy in side.isolating:
            if not isinstance(policy, CalicoPolicy):
                for number, rule in enumerate(_rules(policy, direction)):
                    why = self._k8s_miss(policy, rule, direction, other, address, destination, port, protocol)
                    if why is None:
                        side.allowed_by = (policy, number)
                        return side
                    side.misses.append(RuleMiss(policy, number, why))
                continue
            for number, crule in enumerate(policy.ingress if direction == INGRESS else policy.egress):
                why = calico_rule_miss(
                    self.state,
                    policy,
                    crule,
                    source,
                    source_ip,
                    target,
                    target_ip,
                    destination,
                    port,
                    protocol,
                )
                if why is not None:
                    side.misses.append(RuleMiss(policy, number, why))
                    continue
                if crule.action == "Log":
                    side.misses.append(RuleMiss(policy, number, "matches, but Log only records and goes on"))
                    continue
                decision = (policy, number)
                if crule.action == "Allow":
                    side.allowed_by = decision
                elif crule.action == "Deny":
                    side.denied_by = decision
                else:
                    side.passed_by = decision
                return side
        return side

    def _k8s_miss(
        self,
        policy: Policy,
        rule: Rule,
        direction: str,
        other: Pod | None,
        address: str,
        destination: Pod | None,
        port: int,
        protocol: str,
    ) -> str | None:
        why = port_miss(rule, destination, port, protocol)
        if why is None and rule.peers:
            reasons = [peer_miss(self.state, peer, policy, other, address) for peer in rule.peers]
            if all(r is not None for r in reasons):
                label = "from" if direction == INGRESS else "to"
                why = "; ".join(f"{label}[{i}]: {r}" for i, r in enumerate(reasons))
        return why

    def flow(self, source: Pod, target: Pod | str, port: int, protocol: str = "TCP") -> Explanation:
        """Explain source -> target (a pod, or an IP address; a pod's IP counts as that pod)."""
        destination = target if isinstance(target, Pod) else self._by_ip.get(str(target))
        address = (destination.ip or "") if destination else str(target)
        if destination is not None and destination.key == source.key:
            return Explanation(
                source,
                destination,
                address,
                port,
                protocol,
                Side(EGRESS, source),
                Side(INGRESS, source),
                True,
            )
        egress = self._side(EGRESS, source, destination, address, destination, port, protocol)
        if destination is None:
            ingress = Side(INGRESS, None)
        else:
            ingress = self._side(INGRESS, destination, source, source.ip or "", destination, port, protocol)
        return Explanation(source, destination, address, port, protocol, egress, ingress)


def _address(text: str | None) -> IPAddress | None:
    return ipaddress.ip_address(text) if text else None


def calico_rule_miss(
    state: ClusterState,
    policy: CalicoPolicy,
    rule: CalicoRule,
    source: Pod | None,
    source_ip: IPAddress | None,
    target: Pod | None,
    target_ip: IPAddress | None,
    destination: Pod | None,
    port: int,
    protocol: str,
) -> str | None:
    """Why a Calico rule does not match the flow (None when it does)."""
    if not protocol_ok(rule, protocol, target_ip):
        return f"protocol {rule.protocol}; this connection is {protocol}"
    for entity, end, ip, role in (
        (rule.source, source, source_ip, "source"),
        (rule.destination, target, target_ip, "destination"),
    ):
        labels = state.namespace_labels(end.namespace) if end else {}
        why = entity_miss(entity, end, ip, labels, role, policy.namespace)
        if why is not None:
            return why
    if not ports_ok(rule.destination, destination, port, protocol):
        ports = ", ".join(p.describe() for p in rule.destination.ports)
        return f"destination ports {ports}; this connection is {protocol} {port}"
    return None


def explain_flow(
    state: ClusterState, source: Pod, target: Pod | str, port: int, protocol: str = "TCP"
) -> Explanation:
    """Explain one flow (see ``Explainer.flow``; use an ``Explainer`` for many flows)."""
    return Explainer(state).flow(source, target, port, protocol)
