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

from lab.policy.calico import CalicoPolicy, CalicoRule, entity_miss, ports_ok, protocol_ok
from lab.policy.cnp import ClusterPolicy, CnpPeer, CnpRule
from lab.policy.engine import EGRESS, INGRESS, SELF_REASON, policy_type
from lab.policy.model import ClusterState, IPAddress, Peer, Pod, Policy, PolicyPort, Rule
from lab.policy.selectors import LabelSelector, describe_labels
from lab.policy.tiers import DEFAULT_TIER, KUBERNETES_ORDER, Tier, tiers_of


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
    isolating: list[Any] = field(default_factory=list)  # the policies that select it, in evaluation order
    allowed_by: tuple[Any, int] | None = None
    denied_by: tuple[Any, int] | None = None  # a Deny rule (Calico, ClusterNetworkPolicy)
    passed_by: list[tuple[Any, int]] = field(default_factory=list)  # Pass rules on the way, tier after tier
    misses: list[RuleMiss] = field(default_factory=list)
    ordered: bool = False  # evaluated tier by tier (Calico policies or ClusterNetworkPolicies present)
    tiers: list[tuple[Tier, list[Any]]] = field(default_factory=list)  # the tiers that select the pod
    ended_by: Tier | None = None  # the tier whose default action (Deny) ended the evaluation
    tier_of: dict[int, Tier] = field(default_factory=dict)  # id(policy) -> its tier

    @property
    def allowed(self) -> bool:
        if self.pod is None:
            return True
        if self.denied_by is not None or self.ended_by is not None:
            return False
        if self.ordered:
            return True  # allowed by a rule, or passed on past every tier to the profile's allow
        return not self.isolating or self.allowed_by is not None

    def summary(self) -> str:
        if self.pod is None:
            return f"{self.direction}: no pod on the receiving side, nothing to judge"
        if not self.isolating:
            return f"{self.direction}: {self.pod.key} is not isolated (no {self.direction} policy selects it)"
        for decision, word in ((self.allowed_by, "allowed"), (self.denied_by, "denied")):
            if decision:
                policy, number = decision
                where = f" in {self._tier_text(policy)}" if self.ordered else ""
                return f"{self.direction}: {word} by {_name(policy)} spec.{self.direction}[{number}]{where}"
        if self.ended_by is not None:
            tier = self.ended_by
            names = ", ".join(_name(p) for t, ps in self.tiers if t is tier for p in ps)
            return (
                f"{self.direction}: tier {tier.name} ends in a deny: its policies select {self.pod.key} "
                f"({names}) and none decides this flow"
            )
        if self.ordered:
            if self.passed_by:
                policy, number = self.passed_by[-1]
                return (
                    f"{self.direction}: passed by {_name(policy)} spec.{self.direction}[{number}] in "
                    f"{self._tier_text(policy)}; no later tier decides, the namespace's profile allows"
                )
            return f"{self.direction}: no tier decides this flow; the namespace's profile allows"
        names = ", ".join(_name(p) for p in self.isolating)
        return f"{self.direction}: {self.pod.key} is isolated by {names} and no rule allows this flow"

    def deciding_tier(self) -> str:
        """The name of the tier whose rule (or default action) decided this side; empty where no tier
        is evaluated (NetworkPolicies alone) or nothing selects the pod."""
        if self.pod is None or not self.ordered:
            return ""
        for decision in (self.denied_by, self.allowed_by):
            if decision is not None:
                tier = self.tier_of.get(id(decision[0]))
                return tier.name if tier is not None else ""
        if self.ended_by is not None:
            return self.ended_by.name
        return ""

    def _tier_text(self, policy: Any) -> str:
        tier = self.tier_of.get(id(policy))
        if tier is None:
            return "its tier"
        if isinstance(policy, ClusterPolicy):
            return f"tier {tier.name} ({policy.tier} tier of ClusterNetworkPolicy)"
        return f"tier {tier.name}"


def _name(policy: Any) -> str:
    """A policy as participants know it: ``ns/name`` for Kubernetes, kind and name (and order or
    priority) for Calico's policies and ClusterNetworkPolicies."""
    if isinstance(policy, CalicoPolicy):
        order = "no order" if policy.order is None else f"order {policy.order:g}"
        return f"{policy.key} ({order})"
    if isinstance(policy, ClusterPolicy):
        return f"{policy.key} (priority {policy.priority})"
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

    def deciding_tier(self) -> str:
        """The tier that decided the flow: for a denied flow the tier that denied it (the source's
        egress when both sides deny: the dataplane checks it first), for an allowed one the tiers
        whose rules allowed it on each side (``kube-admin + default`` when they differ; a side that
        reached the namespace profile names none); empty when no tier is evaluated (NetworkPolicies
        alone, where Calico would still put them in its default tier)."""
        if self.self_flow:
            return ""
        sides = [self.egress] if self.destination is None else [self.egress, self.ingress]
        if not self.allowed:
            return next((s.deciding_tier() for s in sides if not s.allowed), "")
        names = [name for name in (s.deciding_tier() for s in sides) if name]
        return " + ".join(dict.fromkeys(names))

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
    """Tier by tier: the policies in order, the rules tried, the one that decided or how the tier ended."""
    out: list[str] = []
    misses = {id(m.policy): [x for x in side.misses if x.policy is m.policy] for m in side.misses}
    for tier, policies in side.tiers:
        names = ", ".join(
            _name(p) if not isinstance(p, Policy) else f"{p.key} (Kubernetes, order {KUBERNETES_ORDER:g})"
            for p in policies
        )
        out.append(f"  {tier.describe()}: selected for {side.direction} by {names}.")
        for policy in policies:
            for miss in misses.get(id(policy), []):
                out.append(
                    f"    {_name(miss.policy)} rule #{miss.number + 1} "
                    f"(spec.{side.direction}[{miss.number}]): {miss.why}"
                )
        passed_here = [(p, n) for p, n in side.passed_by if side.tier_of.get(id(p)) is tier]
        if side.denied_by and side.tier_of.get(id(side.denied_by[0])) is tier:
            policy, number = side.denied_by
            out.append(
                f"  => DENY by {_name(policy)}, rule #{number + 1} (spec.{side.direction}[{number}]): "
                "first match wins."
            )
            return out
        if side.allowed_by and side.tier_of.get(id(side.allowed_by[0])) is tier:
            policy, number = side.allowed_by
            out.append(
                f"  => ALLOW by {_name(policy)}, rule #{number + 1} (spec.{side.direction}[{number}])."
            )
            return out
        if passed_here:
            policy, number = passed_here[-1]
            out.append(
                f"  => PASS by {_name(policy)}, rule #{number + 1}: the rest of tier {tier.name} is skipped."
            )
            continue
        if side.ended_by is tier:
            out.append(
                f"  => no rule decided: tier {tier.name} ends in a deny for a pod its policies select."
            )
            return out
        out.append(f"  => no rule decided: tier {tier.name} passes it on (its default action is Pass).")
    out.append("  => no tier decided: the namespace's profile allows it.")
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
        self.tiers = tiers_of(state.tiers)
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
        if self.state.ordered:
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

    def ordered(self, pod: Pod, direction: str) -> list[tuple[Tier, list[Any]]]:
        """The tiers whose policies select ``pod`` in ``direction``, each with those policies, in order."""
        wanted = policy_type(direction)
        labels = self.state.namespace_labels(pod.namespace)
        entries: list[tuple[str, tuple[float, str], Any]] = [
            (c.tier, c.sort_key, c) for c in self.state.calico if wanted in c.types and c.selects(pod, labels)
        ]
        entries += [
            (DEFAULT_TIER, (KUBERNETES_ORDER, "knp." + p.key), p) for p in self.isolating(pod, direction)
        ]
        entries += [
            (c.calico_tier, c.sort_key, c)
            for c in self.state.cluster_policies
            if wanted in c.types and c.selects(pod.labels, labels)
        ]
        out = []
        for tier in sorted(self.tiers.values(), key=lambda t: t.sort_key):
            chosen = sorted((e for e in entries if e[0] == tier.name), key=lambda e: e[1])
            if chosen:
                out.append((tier, [policy for _, _, policy in chosen]))
        return out

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
        tiers = self.ordered(pod, direction)
        side = Side(direction, pod, [p for _, ps in tiers for p in ps], ordered=True, tiers=tiers)
        side.tier_of = {id(p): tier for tier, ps in tiers for p in ps}
        source, target = (other, pod) if direction == INGRESS else (pod, other)
        source_ip = _address(source.ip if source else None)
        target_ip = _address(destination.ip if destination else address)
        for tier, policies in tiers:
            passed = False
            for policy in policies:
                ends = (source, source_ip, target, target_ip)
                action, number = self._first_match(
                    side, policy, direction, other, address, destination, ends, port, protocol
                )
                if action is None:
                    continue
                decision = (policy, number)
                if action == "Allow":
                    side.allowed_by = decision
                    return side
                if action == "Deny":
                    side.denied_by = decision
                    return side
                side.passed_by.append(decision)  # Pass: skip the rest of this tier
                passed = True
                break
            if passed:
                continue
            if tier.default_action == "Deny":
                side.ended_by = tier
                return side
        return side

    def _first_match(
        self,
        side: Side,
        policy: Any,
        direction: str,
        other: Pod | None,
        address: str,
        destination: Pod | None,
        ends: tuple[Pod | None, IPAddress | None, Pod | None, IPAddress | None],
        port: int,
        protocol: str,
    ) -> tuple[str | None, int]:
        """The action of the first rule of ``policy`` that matches (None when none does), recording misses.

        ``ends``: the flow's source pod and address, then its target pod and address."""
        source, source_ip, target, target_ip = ends
        if isinstance(policy, Policy):
            for number, rule in enumerate(_rules(policy, direction)):
                why = self._k8s_miss(policy, rule, direction, other, address, destination, port, protocol)
                if why is None:
                    return "Allow", number
                side.misses.append(RuleMiss(policy, number, why))
            return None, 0
        if isinstance(policy, ClusterPolicy):
            for number, cnp_rule in enumerate(policy.ingress if direction == INGRESS else policy.egress):
                why = cnp_rule_miss(
                    self.state, cnp_rule, direction, other, address, destination, port, protocol
                )
                if why is None:
                    return cnp_rule.effective_action, number
                side.misses.append(RuleMiss(policy, number, why))
            return None, 0
        for number, crule in enumerate(policy.ingress if direction == INGRESS else policy.egress):
            why = calico_rule_miss(
                self.state, policy, crule, source, source_ip, target, target_ip, destination, port, protocol
            )
            if why is not None:
                side.misses.append(RuleMiss(policy, number, why))
                continue
            if crule.action == "Log":
                side.misses.append(RuleMiss(policy, number, "matches, but Log only records and goes on"))
                continue
            return crule.action, number
        return None, 0

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
        behind = (
            end is not None and entity.service is not None and _behind_service(state, end, *entity.service)
        )
        why = entity_miss(entity, end, ip, labels, role, policy.namespace, behind)
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


def _behind_service(state: ClusterState, pod: Pod, namespace: str, name: str) -> bool:
    """Whether ``pod`` is one of the pods behind Service namespace/name (its selector, its namespace)."""
    for service in state.services:
        if service.namespace == namespace and service.name == name and service.selector:
            return pod.namespace == namespace and all(
                pod.labels.get(k) == v for k, v in service.selector.items()
            )
    return False


def cnp_peer_miss(state: ClusterState, peer: CnpPeer, other: Pod | None, address: str) -> str | None:
    """Why a ClusterNetworkPolicy peer does not pick the other end of the flow (None when it does)."""
    if peer.networks:
        ip = other.ip if other else address
        if ip and any(ipaddress.ip_address(ip) in net for net in peer.networks):
            return None
        return f"{ip or 'it'} is not inside networks {', '.join(map(str, peer.networks))}"
    if other is None:
        return f"{peer.describe()} picks pods only; {address} is not a pod"
    ns_labels = state.namespace_labels(other.namespace)
    if peer.namespaces is not None:
        if peer.namespaces.matches(ns_labels):
            return None
        return (
            f"namespace '{other.namespace}' has {_relevant(ns_labels, peer.namespaces)}, "
            f"which does not match namespaces {peer.namespaces.describe()}"
        )
    assert peer.pods is not None and peer.pod_namespaces is not None
    if not peer.pod_namespaces.matches(ns_labels):
        return (
            f"namespace '{other.namespace}' has {_relevant(ns_labels, peer.pod_namespaces)}, "
            f"which does not match the peer's namespaceSelector {peer.pod_namespaces.describe()}"
        )
    if not peer.pods.matches(other.labels):
        return _pod_mismatch(other, peer.pods)
    return None


def cnp_rule_miss(
    state: ClusterState,
    rule: CnpRule,
    direction: str,
    other: Pod | None,
    address: str,
    destination: Pod | None,
    port: int,
    protocol: str,
) -> str | None:
    """Why a ClusterNetworkPolicy rule does not match the flow (None when it does)."""
    if rule.unsupported:
        if rule.action == "Accept":
            return f"fails closed and matches nothing ({rule.unsupported.split(': ', 1)[-1]})"
        return None  # fails closed: a Deny or Pass rule with an unsupported peer denies everything
    if rule.ports is not None:
        admitted = False
        for entry in rule.ports:
            if entry.name:
                admitted = destination is not None and any(
                    p.port == port and p.protocol == protocol for p in destination.named_port(entry.name)
                )
            else:
                admitted = entry.protocol == protocol and entry.first <= port <= entry.last
            if admitted:
                break
        if not admitted:
            wanted = ", ".join(e.describe() for e in rule.ports)
            return f"its protocols allow {wanted}; this connection is {protocol} {port}"
    reasons = [cnp_peer_miss(state, peer, other, address) for peer in rule.peers]
    if all(r is not None for r in reasons):
        label = "from" if direction == INGRESS else "to"
        return "; ".join(f"{label}[{i}]: {r}" for i, r in enumerate(reasons))
    return None
