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

from lab.policy.calico import KUBERNETES_ORDER, CalicoPolicy, CalicoRule, Entity, protocol_ok
from lab.policy.calico_selectors import CalicoSelector
from lab.policy.model import ClusterState, IPBlock, IPNetwork, Peer, Pod, Policy, Rule
from lab.policy.selectors import LabelIndex, LabelSelector, bits, mask_of

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


@dataclass
class CompiledCalicoRule:
    rule: CalicoRule
    number: int
    sources: int  # pods the source criteria match
    destinations: int  # pods the destination criteria match (ports aside)


@dataclass
class CompiledCalico:
    policy: CalicoPolicy
    selected: int
    ingress: list[CompiledCalicoRule] = field(default_factory=list)
    egress: list[CompiledCalicoRule] = field(default_factory=list)


@dataclass
class CompiledPolicy:
    policy: Policy
    selected: int
    ingress: list[CompiledRule] = field(default_factory=list)
    egress: list[CompiledRule] = field(default_factory=list)


class Engine:
    """Compiled policies over the pods of one ``ClusterState`` (pods with an IP only)."""

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
        self.calico = [self._compile_calico(policy) for policy in state.calico]
        self.ingress_isolated = 0
        self.egress_isolated = 0
        for calico in self.calico:
            if calico.policy.affects_ingress:
                self.ingress_isolated |= calico.selected
            if calico.policy.affects_egress:
                self.egress_isolated |= calico.selected
        for compiled in self.policies:
            if compiled.policy.affects_ingress:
                self.ingress_isolated |= compiled.selected
            if compiled.policy.affects_egress:
                self.egress_isolated |= compiled.selected

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

    def _calico_pods(
        self, selector: CalicoSelector | None, namespaces: CalicoSelector | None, home: str | None
    ) -> int:
        result = self.all
        if namespaces is not None:
            result = 0
            for position in bits(namespaces.mask(self._namespaces)):
                result |= self._namespace_pods.get(self._namespace_names[position], 0)
        elif selector is not None and home is not None:
            result = self._namespace_pods.get(home, 0)
        if selector is not None:
            result &= selector.mask(self._labels)
        return result

    def _entity_pods(self, entity: Entity, home: str | None) -> int:
        result = self._calico_pods(entity.selector, entity.namespace_selector, home)
        if entity.nets:
            inside = 0
            for net in entity.nets:
                inside |= self._addresses_in(net)
            result &= inside
        for net in entity.not_nets:
            result &= ~self._addresses_in(net)
        return result

    def _compile_calico(self, policy: CalicoPolicy) -> CompiledCalico:
        selected = self._calico_pods(policy.selector, policy.namespace_selector, None)
        if policy.namespace is not None:
            selected &= self._namespace_pods.get(policy.namespace, 0)
        compiled = CompiledCalico(policy, selected)
        for affected, rules, target in (
            (policy.affects_ingress, policy.ingress, compiled.ingress),
            (policy.affects_egress, policy.egress, compiled.egress),
        ):
            if not affected:
                continue
            target.extend(
                CompiledCalicoRule(
                    rule,
                    number,
                    self._entity_pods(rule.source, policy.namespace),
                    self._entity_pods(rule.destination, policy.namespace),
                )
                for number, rule in enumerate(rules)
            )
        return compiled

    def ordered(self, pod: int, direction: str) -> list[CompiledPolicy | CompiledCalico]:
        """The policies that select ``pod`` in ``direction``, in Calico's evaluation order."""
        entries: list[tuple[tuple[float, str], CompiledPolicy | CompiledCalico]] = []
        wanted = policy_type(direction)
        for calico in self.calico:
            if calico.selected >> pod & 1 and wanted in calico.policy.types:
                entries.append((calico.policy.sort_key, calico))
        for compiled in self.policies:
            if compiled.selected >> pod & 1 and wanted in compiled.policy.types:
                entries.append(((KUBERNETES_ORDER, "knp." + compiled.policy.key), compiled))
        entries.sort(key=lambda item: item[0])
        return [entry for _, entry in entries]

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

    def calico_ports(self, rule: CalicoRule, port: int, protocol: str) -> int:
        """Destination pods for which the rule's protocol and destination ports admit (port, protocol)."""
        if rule.protocol is not None and rule.protocol != protocol:
            return 0
        if not rule.destination.ports:
            return self.all
        result = 0
        for entry in rule.destination.ports:
            if entry.name:
                result |= self.named_port_pods(entry.name, port, protocol)
            elif entry.first <= port <= entry.last:
                return self.all
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
        if self.calico:
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

    def _decide(
        self,
        entries: list[CompiledPolicy | CompiledCalico],
        direction: str,
        pod: int,
        port: int,
        protocol: str,
    ) -> int:
        """Calico's ordered evaluation for one pod and direction: the peers that end up allowed.

        Peers are tracked as bitsets: ``undecided`` shrinks as rules decide, first match wins."""
        if not entries:
            return self.all
        undecided = self.all
        allowed = 0
        for entry in entries:
            if isinstance(entry, CompiledPolicy):  # Kubernetes: Allow rules only
                for rule in entry.ingress if direction == INGRESS else entry.egress:
                    admitted = self.port_match(rule, port, protocol)
                    peers = rule.peers if direction == INGRESS and admitted >> pod & 1 else 0
                    if direction == EGRESS:
                        peers = rule.peers & admitted
                    hit = peers & undecided
                    allowed |= hit
                    undecided &= ~hit
                continue
            for crule in entry.ingress if direction == INGRESS else entry.egress:
                admitted = self.calico_ports(crule.rule, port, protocol)
                if direction == INGRESS:
                    if not (crule.destinations & admitted) >> pod & 1:
                        continue
                    hit = crule.sources & undecided
                else:
                    if not crule.sources >> pod & 1:
                        continue
                    hit = crule.destinations & admitted & undecided
                if crule.rule.action == "Log" or not hit:
                    continue
                if crule.rule.action in ("Allow", "Pass"):  # Pass: the rest of the (last) tier is skipped
                    allowed |= hit
                undecided &= ~hit
            if not undecided:
                break
        return allowed  # whatever no rule decided meets the end-of-tier deny

    def _ordered_view(self, port: int, protocol: str) -> tuple[list[int], list[int]]:
        count = len(self.pods)
        ingress = [self._decide(self.ordered(d, INGRESS), INGRESS, d, port, protocol) for d in range(count)]
        egress = [0] * count
        for s in range(count):
            bit = 1 << s
            for d in bits(self._decide(self.ordered(s, EGRESS), EGRESS, s, port, protocol)):
                egress[d] |= bit
        return ingress, egress

    def _ordered_ip_allowed(
        self, source: int, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, protocol: str
    ) -> bool:
        entries = self.ordered(source, EGRESS)
        if not entries:
            return True
        for entry in entries:
            if isinstance(entry, CompiledPolicy):
                for rule in entry.egress:
                    if not (
                        rule.all_ports or any(p == protocol and a <= port <= b for p, a, b in rule.numeric)
                    ):
                        continue
                    if rule.everything or any(block.contains(address) for block in rule.ip_blocks):
                        return True
                continue
            for crule in entry.egress:
                spec = crule.rule
                if not protocol_ok(spec, protocol, address) or not crule.sources >> source & 1:
                    continue
                target = spec.destination
                if target.selects_pods_only or not target.address_ok(address):
                    continue
                if target.ports and not any(not e.name and e.first <= port <= e.last for e in target.ports):
                    continue
                if spec.action == "Log":
                    continue
                return spec.action in ("Allow", "Pass")
        return False

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
        if self.calico:
            return self._ordered_ip_allowed(source, address, port, protocol)
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
