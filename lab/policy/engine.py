"""Verdicts for networking.k8s.io/v1 NetworkPolicy, computed offline and fast.

The rules, as the API reference and the upstream e2e suite state them:

* A pod selected by no policy of a direction is open in that direction; a pod selected by
  at least one policy whose ``policyTypes`` contains the direction is isolated, and then only
  what some rule of some of those policies allows gets through. Policies add up; order and
  count do not matter.
* A connection needs the source's egress AND the destination's ingress to allow it.
* Peers: ``podSelector`` alone = pods of the policy's own namespace; ``namespaceSelector``
  alone = every pod of the matching namespaces; both in one peer = AND; several peers = OR;
  an empty ``from``/``to`` (or a rule ``{}``) = everything, the outside included.
* Ports are the destination pod's ports; a named port resolves on the destination pod
  (name and protocol); ``endPort`` is an inclusive range; no protocol means TCP.
* ``ipBlock`` matches addresses; applied to pod IPs here, as Calico does and as the upstream
  test "should allow egress access to server in CIDR block" expects.
* A pod reaching itself is always allowed: the API concept page says "a pod cannot block
  access to itself"; the upstream e2e suite does not judge loopback (kubernetes#95879), and
  neither does the lab's probe matrix (``-`` cells).

How it is fast: every set of pods is a Python int used as a bitset (bit i = pod i). Each
selector becomes a bitset through an inverted label index; each rule's peers become one
bitset; per (port, protocol) the engine then builds, for every destination pod, the bitset
of sources its ingress accepts and the bitset of sources whose egress reaches it. A full
matrix is one AND per destination.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass, field

from lab.policy import calico
from lab.policy.calico import CalicoPolicy, CalicoRule, Entity
from lab.policy.calico_selectors import CalicoSelector
from lab.policy.cnp import ClusterPolicy, CnpPeer
from lab.policy.model import ClusterState, IPAddress, IPBlock, IPNetwork, Peer, Pod, Policy, Rule
from lab.policy.selectors import LabelIndex, LabelSelector, bits, mask_of
from lab.policy.tiers import DEFAULT_TIER, KUBERNETES_ORDER, Tier, tiers_of

INGRESS = "ingress"
EGRESS = "egress"


def policy_type(direction: str) -> str:
    """The ``policyTypes`` word of a direction: ``ingress`` -> ``Ingress``."""
    return "Ingress" if direction == INGRESS else "Egress"


SELF_REASON = (
    "a pod reaching itself is always allowed (Kubernetes: a pod cannot block access to itself); "
    "the probes do not judge it"
)


@dataclass
class CompiledRule:
    rule: Rule
    number: int  # position in spec.ingress / spec.egress
    peers: int  # bitset of pods the peers select (every pod when the rule has no peers)
    everything: bool  # no peers at all: every source/destination, the outside included
    ip_blocks: tuple[IPBlock, ...]
    all_ports: bool
    numeric: tuple[tuple[str, int, int], ...]  # (protocol, first, last)
    named: tuple[tuple[str, str], ...]  # (protocol, port name)


@dataclass(frozen=True)
class PortTest:
    """Which (port, protocol) a rule admits: every one, a protocol's, numeric ranges, named ports.

    ``protocol`` limits the whole test (a Calico rule's ``protocol``); ``numeric`` holds
    (protocol, first, last) and ``named`` (protocol, name), a protocol of "" meaning whatever
    the destination pod declares the name with (ClusterNetworkPolicy's destinationNamedPort)."""

    everything: bool = True
    protocol: str | None = None
    numeric: tuple[tuple[str, int, int], ...] = ()
    named: tuple[tuple[str, str], ...] = ()

    def numbers_admit(self, port: int, protocol: str) -> bool:
        """Whether the test admits the port without a pod to resolve names on (an outside address)."""
        if self.protocol is not None and self.protocol != protocol:
            return False
        if self.everything:
            return True
        return any(p in (protocol, "") and a <= port <= b for p, a, b in self.numeric)


@dataclass(frozen=True)
class AddressTest:
    """Whether a rule matches an address that is no pod: ``everything``, or inside one of ``networks``
    and outside every one of ``holes`` (Kubernetes ipBlock except, Calico notNets), of ``version``."""

    everything: bool = False
    networks: tuple[IPNetwork, ...] = ()
    holes: tuple[IPNetwork, ...] = ()
    version: int | None = None
    blocks: tuple[IPBlock, ...] = ()

    def __call__(self, address: IPAddress) -> bool:
        if self.version is not None and address.version != self.version:
            return False
        if any(address in hole for hole in self.holes):
            return False
        if self.everything:
            return True
        return any(address in net for net in self.networks) or any(b.contains(address) for b in self.blocks)


NOWHERE = AddressTest()
ANYWHERE = AddressTest(everything=True)


@dataclass
class OrderedRule:
    """A rule in tier-by-tier evaluation, whatever kind of policy it comes from.

    For ingress on pod d it applies when ``own`` holds d and the ports admit d; the sources it
    decides for are ``peers``. For egress from pod s it applies when ``own`` holds s; the
    destinations are ``peers`` whose ports admit the flow. ``address`` says whether it matches an
    address outside the pod network (egress only)."""

    action: str  # Allow, Deny, Pass, Log
    number: int
    own: int
    peers: int
    ports: PortTest
    address: AddressTest


@dataclass
class OrderedPolicy:
    policy: Policy | CalicoPolicy | ClusterPolicy
    tier: str
    sort_key: tuple[float, str]
    selected: int
    types: frozenset[str]
    ingress: list[OrderedRule] = field(default_factory=list)
    egress: list[OrderedRule] = field(default_factory=list)


@dataclass
class CompiledPolicy:
    policy: Policy
    selected: int
    ingress: list[CompiledRule] = field(default_factory=list)
    egress: list[CompiledRule] = field(default_factory=list)


class Engine:
    """Compiled policies over the pods of one ``ClusterState`` (pods with an IP only).

    Kubernetes NetworkPolicies alone take the bitset fast path (``view``). With Calico policies or
    ClusterNetworkPolicies in the state, evaluation goes tier by tier (``lab.policy.tiers``):
    per pod and direction the tiers whose policies select it, the rules in order, first match
    deciding, a tier's default action for what none decided, the profile's allow at the end."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.pods: list[Pod] = [p for p in state.pods if p.ip]
        self.position = {pod.key: i for i, pod in enumerate(self.pods)}
        self.by_ip = {pod.ip: i for i, pod in enumerate(self.pods) if pod.ip}
        self.all = (1 << len(self.pods)) - 1
        self._labels = LabelIndex([pod.labels for pod in self.pods])
        self._namespace_pods: dict[str, int] = {}
        for i, pod in enumerate(self.pods):
            self._namespace_pods[pod.namespace] = self._namespace_pods.get(pod.namespace, 0) | (1 << i)
        names = sorted(set(state.namespaces) | set(self._namespace_pods))
        self._namespace_names = names
        self._namespaces = LabelIndex([state.namespace_labels(n) for n in names])
        self._selector_cache: dict[tuple[str, LabelSelector], int] = {}
        self._ns_selector_cache: dict[LabelSelector, int] = {}
        self._named_cache: dict[tuple[str, int, str], int] = {}
        self._block_cache: dict[IPBlock, int] = {}
        # Pod addresses sorted as (version, integer, position): an ipBlock is then a bisect range.
        self._addresses = sorted(
            (address.version, int(address), i)
            for i, address in ((i, ipaddress.ip_address(pod.ip)) for i, pod in enumerate(self.pods) if pod.ip)
        )
        self._views: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
        self.policies = [self._compile(policy) for policy in state.policies]
        self.ingress_isolated = 0
        self.egress_isolated = 0
        for compiled in self.policies:
            if compiled.policy.affects_ingress:
                self.ingress_isolated |= compiled.selected
            if compiled.policy.affects_egress:
                self.egress_isolated |= compiled.selected
        self.ordered_policies: list[OrderedPolicy] = []
        self.tiers: dict[str, Tier] = tiers_of(state.tiers)
        if state.ordered:
            self._calico_labels = LabelIndex([calico.pod_labels(p.labels, p.namespace) for p in self.pods])
            self._calico_namespaces = LabelIndex(
                [calico.namespace_labels(state.namespace_labels(n), n) for n in names]
            )
            self.ordered_policies = [self._ordered_k8s(c) for c in self.policies]
            self.ordered_policies += [self._compile_calico(policy) for policy in state.calico]
            self.ordered_policies += [self._compile_cnp(policy) for policy in state.cluster_policies]
            self._tier_order = sorted(self.tiers.values(), key=lambda tier: tier.sort_key)

    # -- compiling -----------------------------------------------------------------------

    def pods_matching(self, selector: LabelSelector, namespace: str | None) -> int:
        """Pods matching ``selector``, within ``namespace`` (None: anywhere)."""
        key = (namespace or "", selector)
        cached = self._selector_cache.get(key)
        if cached is None:
            cached = selector.mask(self._labels)
            if namespace is not None:
                cached &= self._namespace_pods.get(namespace, 0)
            self._selector_cache[key] = cached
        return cached

    def pods_in_namespaces(self, selector: LabelSelector) -> int:
        cached = self._ns_selector_cache.get(selector)
        if cached is None:
            cached = 0
            for position in bits(selector.mask(self._namespaces)):
                cached |= self._namespace_pods.get(self._namespace_names[position], 0)
            self._ns_selector_cache[selector] = cached
        return cached

    def _addresses_in(self, network: IPNetwork) -> int:
        low = (network.version, int(network.network_address), -1)
        high = (network.version, int(network.broadcast_address), len(self.pods))
        start = bisect.bisect_left(self._addresses, low)
        stop = bisect.bisect_right(self._addresses, high)
        return mask_of(position for _, _, position in self._addresses[start:stop])

    def pods_of_version(self, version: int) -> int:
        """Pods whose IP is of this family (4 or 6)."""
        low = bisect.bisect_left(self._addresses, (version, -1, -1))
        high = bisect.bisect_left(self._addresses, (version + 1, -1, -1))
        return mask_of(position for _, _, position in self._addresses[low:high])

    def pods_in_block(self, block: IPBlock) -> int:
        """Pods whose IP is inside the block's cidr and outside each of its excepts."""
        cached = self._block_cache.get(block)
        if cached is None:
            cached = self._addresses_in(block.cidr)
            for hole in block.excepts:
                cached &= ~self._addresses_in(hole)
            self._block_cache[block] = cached
        return cached

    def peer_pods(self, peer: Peer, policy_namespace: str) -> int:
        if peer.ip_block is not None:
            return self.pods_in_block(peer.ip_block)
        if peer.namespace_selector is None:
            assert peer.pod_selector is not None
            return self.pods_matching(peer.pod_selector, policy_namespace)
        in_namespaces = self.pods_in_namespaces(peer.namespace_selector)
        if peer.pod_selector is None:
            return in_namespaces
        return in_namespaces & self.pods_matching(peer.pod_selector, None)

    def _compile_rule(self, rule: Rule, number: int, namespace: str) -> CompiledRule:
        peers = self.all
        if rule.peers:
            peers = 0
            for peer in rule.peers:
                peers |= self.peer_pods(peer, namespace)
        numeric = []
        named = []
        for entry in rule.ports:
            if entry.port is None:
                numeric.append((entry.protocol, 1, 65535))
            elif isinstance(entry.port, int):
                numeric.append((entry.protocol, entry.port, entry.end_port or entry.port))
            else:
                named.append((entry.protocol, entry.port))
        return CompiledRule(
            rule,
            number,
            peers,
            not rule.peers,
            tuple(p.ip_block for p in rule.peers if p.ip_block is not None),
            not rule.ports,
            tuple(numeric),
            tuple(named),
        )

    def _compile(self, policy: Policy) -> CompiledPolicy:
        selected = self.pods_matching(policy.pod_selector, policy.namespace)
        compiled = CompiledPolicy(policy, selected)
        if policy.affects_ingress:
            compiled.ingress = [
                self._compile_rule(r, n, policy.namespace) for n, r in enumerate(policy.ingress)
            ]
        if policy.affects_egress:
            compiled.egress = [
                self._compile_rule(r, n, policy.namespace) for n, r in enumerate(policy.egress)
            ]
        return compiled

    def _ordered_k8s(self, compiled: CompiledPolicy) -> OrderedPolicy:
        """A Kubernetes NetworkPolicy in tier-by-tier evaluation: tier default, order 1000, Allow rules."""
        policy = compiled.policy

        def rules(source: list[CompiledRule]) -> list[OrderedRule]:
            out = []
            for rule in source:
                out.append(
                    OrderedRule(
                        "Allow",
                        rule.number,
                        self.all,
                        rule.peers,
                        PortTest(rule.all_ports, None, rule.numeric, rule.named),
                        AddressTest(everything=rule.everything, blocks=rule.ip_blocks),
                    )
                )
            return out

        return OrderedPolicy(
            policy,
            DEFAULT_TIER,
            (KUBERNETES_ORDER, "knp." + policy.key),
            compiled.selected,
            policy.types,
            rules(compiled.ingress),
            rules(compiled.egress),
        )

    def _calico_pods(
        self, selector: CalicoSelector | None, namespaces: CalicoSelector | None, home: str | None
    ) -> int:
        result = self.all
        if namespaces is not None:
            result = 0
            for position in bits(namespaces.mask(self._calico_namespaces)):
                result |= self._namespace_pods.get(self._namespace_names[position], 0)
        elif selector is not None and home is not None:
            result = self._namespace_pods.get(home, 0)
        if selector is not None:
            result &= selector.mask(self._calico_labels)
        return result

    def service_pods(self, namespace: str, name: str) -> int:
        """The pods behind a Service (its selector, in its namespace); none when it has no selector."""
        for service in self.state.services:
            if service.namespace == namespace and service.name == name and service.selector:
                wanted = LabelSelector(tuple(sorted(service.selector.items())))
                return self.pods_matching(wanted, namespace)
        return 0

    def _entity_pods(self, entity: Entity, home: str | None) -> int:
        result = self._calico_pods(entity.selector, entity.namespace_selector, home)
        if entity.service is not None:
            result &= self.service_pods(*entity.service)
        if entity.nets:
            inside = 0
            for net in entity.nets:
                inside |= self._addresses_in(net)
            result &= inside
        for net in entity.not_nets:
            result &= ~self._addresses_in(net)
        return result

    def _compile_calico(self, policy: CalicoPolicy) -> OrderedPolicy:
        selected = self._calico_pods(policy.selector, policy.namespace_selector, None)
        if policy.namespace is not None:
            selected &= self._namespace_pods.get(policy.namespace, 0)
        compiled = OrderedPolicy(policy, policy.tier, policy.sort_key, selected, policy.types)
        for direction, rules, target in (
            (INGRESS, policy.ingress, compiled.ingress),
            (EGRESS, policy.egress, compiled.egress),
        ):
            if policy_type(direction) not in policy.types:
                continue
            for number, rule in enumerate(rules):
                sources = self._entity_pods(rule.source, policy.namespace)
                destinations = self._entity_pods(rule.destination, policy.namespace)
                named = tuple((rule.protocol or "", e.name) for e in rule.destination.ports if e.name)
                numeric = tuple(
                    (rule.protocol or "", e.first, e.last) for e in rule.destination.ports if not e.name
                )
                ports = PortTest(not rule.destination.ports, rule.protocol, numeric, named)
                if rule.ip_version is not None:  # a flow between pods is of the destination's family
                    destinations &= self.pods_of_version(rule.ip_version)
                target.append(
                    OrderedRule(
                        rule.action,
                        number,
                        destinations if direction == INGRESS else sources,
                        sources if direction == INGRESS else destinations,
                        ports,
                        _calico_address(rule),
                    )
                )
        return compiled

    def _cnp_peer_pods(self, peer: CnpPeer) -> int:
        if peer.unsupported:
            return 0
        if peer.namespaces is not None:
            return self.pods_in_namespaces(peer.namespaces)
        if peer.networks:
            inside = 0
            for net in peer.networks:
                inside |= self._addresses_in(net)
            return inside
        assert peer.pods is not None and peer.pod_namespaces is not None
        return self.pods_in_namespaces(peer.pod_namespaces) & self.pods_matching(peer.pods, None)

    def _compile_cnp(self, policy: ClusterPolicy) -> OrderedPolicy:
        if policy.subject_namespaces is not None:
            selected = self.pods_in_namespaces(policy.subject_namespaces)
        else:
            assert policy.subject_pods is not None and policy.subject_pod_namespaces is not None
            selected = self.pods_in_namespaces(policy.subject_pod_namespaces) & self.pods_matching(
                policy.subject_pods, None
            )
        compiled = OrderedPolicy(policy, policy.calico_tier, policy.sort_key, selected, policy.types)
        for rules, target in ((policy.ingress, compiled.ingress), (policy.egress, compiled.egress)):
            for number, rule in enumerate(rules):
                action = rule.effective_action
                if rule.unsupported:  # fail closed: Accept matches nothing, Deny and Pass deny everything
                    peers = 0 if rule.action == "Accept" else self.all
                    ports = PortTest()
                    everything = rule.action != "Accept"
                    target.append(
                        OrderedRule(
                            action, number, self.all, peers, ports, ANYWHERE if everything else NOWHERE
                        )
                    )
                    continue
                peers = 0
                for peer in rule.peers:
                    peers |= self._cnp_peer_pods(peer)
                if rule.ports is None:
                    ports = PortTest()
                else:
                    ports = PortTest(
                        False,
                        None,
                        tuple((p.protocol, p.first, p.last) for p in rule.ports if not p.name),
                        tuple(("", p.name) for p in rule.ports if p.name),
                    )
                nets = tuple(net for peer in rule.peers for net in peer.networks)
                target.append(OrderedRule(action, number, self.all, peers, ports, AddressTest(networks=nets)))
        return compiled

    def tiers_for(self, pod: int, direction: str) -> list[tuple[Tier, list[OrderedPolicy]]]:
        """The tiers whose policies select ``pod`` in ``direction``, each with those policies, in order."""
        wanted = policy_type(direction)
        by_tier: dict[str, list[OrderedPolicy]] = {}
        for entry in self.ordered_policies:
            if entry.selected >> pod & 1 and wanted in entry.types:
                by_tier.setdefault(entry.tier, []).append(entry)
        out = []
        for tier in self._tier_order:
            entries = by_tier.get(tier.name)
            if entries:
                out.append((tier, sorted(entries, key=lambda e: e.sort_key)))
        return out

    # -- ports ---------------------------------------------------------------------------

    def named_port_pods(self, name: str, port: int, protocol: str) -> int:
        """Pods that declare a container port called ``name`` with this number and protocol."""
        key = (name, port, protocol)
        cached = self._named_cache.get(key)
        if cached is None:
            cached = 0
            for i, pod in enumerate(self.pods):
                if any(p.name == name and p.port == port and p.protocol == protocol for p in pod.ports):
                    cached |= 1 << i
            self._named_cache[key] = cached
        return cached

    def admits(self, test: PortTest, port: int, protocol: str) -> int:
        """Destination pods for which ``test`` admits (port, protocol): all, or those a name resolves on."""
        if test.protocol is not None and test.protocol != protocol:
            return 0
        if test.everything:
            return self.all
        for proto, first, last in test.numeric:
            if proto in (protocol, "") and first <= port <= last:
                return self.all
        result = 0
        for proto, name in test.named:
            if proto in (protocol, ""):
                result |= self.named_port_pods(name, port, protocol)
        return result

    def port_match(self, rule: CompiledRule, port: int, protocol: str) -> int:
        """Destination pods for which ``rule``'s ports admit (port, protocol): all or a subset."""
        if rule.all_ports:
            return self.all
        for proto, first, last in rule.numeric:
            if proto == protocol and first <= port <= last:
                return self.all
        result = 0
        for proto, name in rule.named:
            if proto == protocol:
                result |= self.named_port_pods(name, port, protocol)
        return result

    # -- verdicts ------------------------------------------------------------------------

    def view(self, port: int, protocol: str) -> tuple[list[int], list[int]]:
        """Per destination pod: (sources its ingress accepts, sources whose egress reaches it)."""
        key = (port, protocol)
        if key in self._views:
            return self._views[key]
        if self.state.ordered:
            self._views[key] = self._ordered_view(port, protocol)
            return self._views[key]
        count = len(self.pods)
        ingress = [0] * count
        for d in bits(self.all & ~self.ingress_isolated):
            ingress[d] = self.all
        for compiled in self.policies:
            if not compiled.ingress:
                continue
            uniform = 0
            for rule in compiled.ingress:
                admitted = self.port_match(rule, port, protocol)
                if admitted == self.all:
                    uniform |= rule.peers
                elif admitted:
                    for d in bits(compiled.selected & admitted):
                        ingress[d] |= rule.peers
            if uniform:
                for d in bits(compiled.selected):
                    ingress[d] |= uniform
        # Egress: group the sources by the destination set they may reach, then spread.
        reach: dict[int, int] = {}
        for compiled in self.policies:
            for rule in compiled.egress:
                admitted = self.port_match(rule, port, protocol)
                targets = rule.peers & admitted
                if targets:
                    reach[targets] = reach.get(targets, 0) | compiled.selected
        open_sources = self.all & ~self.egress_isolated
        egress = [open_sources] * count
        for targets, sources in reach.items():
            for d in bits(targets):
                egress[d] |= sources
        self._views[key] = (ingress, egress)
        return ingress, egress

    def decide(self, pod: int, direction: str, port: int, protocol: str) -> int:
        """Tier-by-tier evaluation for one pod and direction: the peers that end up allowed.

        Peers are bitsets: ``undecided`` shrinks as rules decide in a tier, first match winning;
        what passes (a Pass rule, or a tier whose default action is Pass) goes on to the next tier;
        what goes on past the last tier meets the profile's allow."""
        going_on = self.all
        allowed = 0
        for tier, entries in self.tiers_for(pod, direction):
            undecided = going_on
            passed = 0
            for entry in entries:
                for rule in entry.ingress if direction == INGRESS else entry.egress:
                    if not rule.own >> pod & 1:
                        continue
                    admitted = self.admits(rule.ports, port, protocol)
                    if direction == INGRESS:
                        hit = rule.peers & undecided if admitted >> pod & 1 else 0
                    else:
                        hit = rule.peers & admitted & undecided
                    if not hit or rule.action == "Log":
                        continue
                    undecided &= ~hit
                    if rule.action == "Allow":
                        allowed |= hit
                    elif rule.action == "Pass":
                        passed |= hit
                if not undecided:
                    break
            going_on = passed | (undecided if tier.default_action == "Pass" else 0)
            if not going_on:
                break
        return allowed | going_on

    def decide_address(self, source: int, address: IPAddress, port: int, protocol: str) -> bool:
        """The same for egress from pod ``source`` to an address that is no pod."""
        for tier, entries in self.tiers_for(source, EGRESS):
            outcome = ""
            for entry in entries:
                for rule in entry.egress:
                    if not rule.own >> source & 1 or not rule.ports.numbers_admit(port, protocol):
                        continue
                    if rule.action == "Log" or not rule.address(address):
                        continue
                    outcome = rule.action
                    break
                if outcome:
                    break
            if outcome == "Allow":
                return True
            if outcome == "Deny" or (not outcome and tier.default_action == "Deny"):
                return False
        return True

    def _ordered_view(self, port: int, protocol: str) -> tuple[list[int], list[int]]:
        count = len(self.pods)
        ingress = [self.decide(d, INGRESS, port, protocol) for d in range(count)]
        egress = [0] * count
        for s in range(count):
            bit = 1 << s
            for d in bits(self.decide(s, EGRESS, port, protocol)):
                egress[d] |= bit
        return ingress, egress

    def allowed_sources(self, destination: int, port: int, protocol: str) -> int:
        """Bitset of source pods that may connect to pod ``destination`` on (port, protocol)."""
        ingress, egress = self.view(port, protocol)
        return (ingress[destination] & egress[destination]) | (1 << destination)

    def matrix(self, port: int, protocol: str = "TCP") -> list[int]:
        """For every destination pod, the bitset of sources allowed to reach it on (port, protocol)."""
        ingress, egress = self.view(port, protocol)
        return [(i & e) | (1 << d) for d, (i, e) in enumerate(zip(ingress, egress, strict=True))]

    def pod_allowed(self, source: int, destination: int, port: int, protocol: str = "TCP") -> bool:
        return bool(self.allowed_sources(destination, port, protocol) >> source & 1)

    def ip_allowed(self, source: int, ip: str, port: int, protocol: str = "TCP") -> bool:
        """Egress from a pod to an address that is no pod (there is no ingress side to judge)."""
        if ip in self.by_ip:
            return self.pod_allowed(source, self.by_ip[ip], port, protocol)
        address = ipaddress.ip_address(ip)
        if self.state.ordered:
            return self.decide_address(source, address, port, protocol)
        if not self.egress_isolated >> source & 1:
            return True
        for compiled in self.policies:
            if not compiled.selected >> source & 1:
                continue
            for rule in compiled.egress:
                # Named ports never match an address that is not a pod: there is no pod to resolve them on.
                if not (rule.all_ports or any(p == protocol and a <= port <= b for p, a, b in rule.numeric)):
                    continue
                if rule.everything or any(block.contains(address) for block in rule.ip_blocks):
                    return True
        return False

    def address_sources(self, ip: str, port: int, protocol: str = "TCP") -> int:
        """Bitset of the source pods whose egress reaches an address (``ip_allowed`` for every source
        at once; a pod's address is that pod)."""
        if ip in self.by_ip:
            return self.allowed_sources(self.by_ip[ip], port, protocol)
        address = ipaddress.ip_address(ip)
        if self.state.ordered:
            return mask_of(
                s for s in range(len(self.pods)) if self.decide_address(s, address, port, protocol)
            )
        allowed = self.all & ~self.egress_isolated
        for compiled in self.policies:
            if not compiled.selected & ~allowed:
                continue
            for rule in compiled.egress:
                if not (rule.all_ports or any(p == protocol and a <= port <= b for p, a, b in rule.numeric)):
                    continue
                if rule.everything or any(block.contains(address) for block in rule.ip_blocks):
                    allowed |= compiled.selected
                    break
        return allowed


def _calico_address(rule: CalicoRule) -> AddressTest:
    """What a Calico egress rule's destination matches among addresses that are no pod: nothing when
    it picks pods, else its nets (or everything) outside its notNets, of its ipVersion."""
    target = rule.destination
    if target.selects_pods_only:
        return NOWHERE
    return AddressTest(not target.nets, target.nets, target.not_nets, rule.ip_version)
