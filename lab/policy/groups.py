"""Pods the policies cannot tell apart, judged once per group: how `expect` scales to 10,000 pods.

Every verdict the engine gives depends on a pod only through what its policies look at: its
namespace (and so the namespace's labels), the values of the label keys some selector names (a
Kubernetes, Calico or ClusterNetworkPolicy selector, or a Service's selector that a Calico rule
uses), its declared ports (named ports resolve on them) and, for ipBlocks, nets and ipVersion,
which side of every network boundary its address lies. Pods equal in all of these form a group;
the engine then runs on one representative per group, and its verdict for the representatives
is the verdict for every pod of the groups (the engine's own bit for a representative reaching
itself is what the policies say between two pods of its group; a pod reaching itself is always
allowed, whatever the policies say).

A cluster of Deployments has few groups: replicas differ only in their name, their
``pod-template-hash`` (unless a selector names it) and their address.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from lab.policy.calico import Entity
from lab.policy.calico_selectors import All, And, CalicoSelector, Expr, Has, InSet, Not, Or
from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.model import ClusterState, ContainerPort, ExternalTarget, IPNetwork, Pod
from lab.policy.selectors import LabelSelector, bits


@dataclass
class Group:
    """Pods the policies cannot tell apart; ``labels`` are the ones some selector looks at."""

    id: str
    namespace: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    pods: list[Pod] = field(default_factory=list)

    @property
    def representative(self) -> Pod:
        return self.pods[0]

    def destinations(self) -> list[tuple[int, str]]:
        """The (port, protocol) pairs its pods declare, in declaration order, each once."""
        out: list[tuple[int, str]] = []
        for port in self.ports:
            if (port.port, port.protocol) not in out:
                out.append((port.port, port.protocol))
        return out


class Everything(Exception):
    """A selector whose keys cannot be listed: every label then counts."""


def _calico_keys(selector: CalicoSelector | None) -> Iterator[str]:
    if selector is None:
        return
    stack: list[Expr] = [selector.expr]
    while stack:
        expr = stack.pop()
        if isinstance(expr, (Has, InSet)):
            yield expr.key
        elif isinstance(expr, Not):
            stack.append(expr.inner)
        elif isinstance(expr, (And, Or)):
            stack.extend(expr.terms)
        elif not isinstance(expr, All):
            raise Everything


def _k8s_keys(selector: LabelSelector | None) -> Iterator[str]:
    if selector is not None:
        yield from (key for key, _ in selector.match_labels)
        yield from (requirement.key for requirement in selector.expressions)


def label_keys(state: ClusterState) -> set[str] | None:
    """The pod label keys any selector of the state looks at; None when that cannot be told."""
    keys: set[str] = set()
    for policy in state.policies:
        keys.update(_k8s_keys(policy.pod_selector))
        for rule in (*policy.ingress, *policy.egress):
            for peer in rule.peers:
                keys.update(_k8s_keys(peer.pod_selector))
    for service in state.services:
        keys.update(service.selector or {})
    try:
        for calico_policy in state.calico:
            keys.update(_calico_keys(calico_policy.selector))
            for calico_rule in (*calico_policy.ingress, *calico_policy.egress):
                for entity in (calico_rule.source, calico_rule.destination):
                    keys.update(_calico_keys(entity.selector))
    except Everything:
        return None
    for cluster_policy in state.cluster_policies:
        keys.update(_k8s_keys(cluster_policy.subject_pods))
        for cnp_rule in (*cluster_policy.ingress, *cluster_policy.egress):
            for cnp_peer in cnp_rule.peers:
                keys.update(_k8s_keys(cnp_peer.pods))
    return keys


def _networks(state: ClusterState) -> Iterator[IPNetwork]:
    for policy in state.policies:
        for rule in (*policy.ingress, *policy.egress):
            for peer in rule.peers:
                if peer.ip_block is not None:
                    yield peer.ip_block.cidr
                    yield from peer.ip_block.excepts
    for calico_policy in state.calico:
        for calico_rule in (*calico_policy.ingress, *calico_policy.egress):
            for entity in (calico_rule.source, calico_rule.destination):
                yield from _entity_networks(entity)
    for cluster_policy in state.cluster_policies:
        for cnp_rule in (*cluster_policy.ingress, *cluster_policy.egress):
            for cnp_peer in cnp_rule.peers:
                yield from cnp_peer.networks


def _entity_networks(entity: Entity) -> Iterable[IPNetwork]:
    return (*entity.nets, *entity.not_nets)


def address_number(ip: str) -> tuple[int, int]:
    """(version, integer) of an address the loader accepted; the C routine for dotted quads."""
    if "." in ip and ":" not in ip:
        return 4, int.from_bytes(socket.inet_aton(ip), "big")
    address = ipaddress.ip_address(ip)
    return address.version, int(address)


class AddressSides:
    """Which side of every network boundary an address lies: addresses between the same two
    boundaries are inside exactly the same networks."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        edges: dict[int, set[int]] = {4: set(), 6: set()}
        for network in networks:
            edges[network.version].add(int(network.network_address))
            edges[network.version].add(int(network.broadcast_address) + 1)
        self._edges = {version: sorted(found) for version, found in edges.items()}

    def of(self, ip: str) -> tuple[int, int]:
        version, number = address_number(ip)
        return version, bisect.bisect_right(self._edges[version], number)


class GroupedCluster:
    """The groups of a state's pods (those with an IP) and the engine over their representatives."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        keys = label_keys(state)
        sides = AddressSides(_networks(state))
        found: dict[tuple[object, ...], Group] = {}
        self.group_of: dict[str, Group] = {}
        for pod in sorted((p for p in state.pods if p.ip), key=lambda p: p.key):
            assert pod.ip is not None
            labels = dict(pod.labels) if keys is None else {k: v for k, v in pod.labels.items() if k in keys}
            key = (
                pod.namespace,
                tuple(sorted(labels.items())),
                tuple(sorted(set(pod.ports), key=lambda c: (c.port, c.protocol, c.name))),
                sides.of(pod.ip),
            )
            group = found.get(key)
            if group is None:
                group = found[key] = Group(f"g{len(found) + 1}", pod.namespace, labels, pod.ports)
            group.pods.append(pod)
            self.group_of[pod.key] = group
        self.groups: list[Group] = list(found.values())
        self.position = {group.id: i for i, group in enumerate(self.groups)}
        self.by_ip = {pod.ip: pod for pod in state.pods if pod.ip}
        self.all = (1 << len(self.groups)) - 1
        self.engine = Engine(replace(state, pods=[group.representative for group in self.groups]))
        self._alone = sum(1 << i for i, group in enumerate(self.groups) if len(group.pods) == 1)

    def sources(self, destination: Group, port: int, protocol: str) -> int:
        """Bitset of the groups whose pods may connect to ``destination``'s pods on (port, protocol);
        its own bit says whether its pods reach each other (left out for a group of one pod)."""
        d = self.position[destination.id]
        ingress, egress = self.engine.view(port, protocol)
        return ingress[d] & egress[d] & ~(self._alone & (1 << d))

    def address_sources(self, ip: str, port: int, protocol: str) -> int:
        """Bitset of the groups whose pods may connect to an address; a pod's address is that pod
        (which may always reach itself)."""
        pod = self.by_ip.get(ip)
        if pod is not None:
            return self.sources(self.group_of[pod.key], port, protocol)
        return self.engine.address_sources(ip, port, protocol)

    def pod_allowed(self, source: Pod, destination: Pod, port: int, protocol: str) -> bool:
        if source.key == destination.key:
            return True
        source_group = self.position[self.group_of[source.key].id]
        ingress, egress = self.engine.view(port, protocol)
        d = self.position[self.group_of[destination.key].id]
        return bool((ingress[d] & egress[d]) >> source_group & 1)

    def members(self, mask: int) -> list[Group]:
        return [self.groups[i] for i in bits(mask)]


@dataclass(frozen=True)
class FlowGroup:
    """Every flow to one destination (a group's pods on a port they declare, or an outside target)
    on one (port, protocol), and the groups whose pods may open it (a bitset over the groups)."""

    to: Group | ExternalTarget
    port: int
    protocol: str
    sources: int


def flow_groups(grouped: GroupedCluster) -> Iterator[FlowGroup]:
    """The flow groups of the whole matrix: each group's declared ports, then the outside targets."""
    for group in grouped.groups:
        for port, protocol in group.destinations():
            yield FlowGroup(group, port, protocol, grouped.sources(group, port, protocol))
    for target in grouped.state.targets:
        sources = grouped.address_sources(target.ip, target.port, target.protocol)
        yield FlowGroup(target, target.port, target.protocol, sources)


def explained(grouped: GroupedCluster, explainer: Explainer, flow: FlowGroup, source: Group) -> str:
    """The reason of one flow from ``source``'s first pod to the destination's (to its second pod
    within its own group), checked against the grouped verdict."""
    pod = source.representative
    if isinstance(flow.to, Group):
        target: Pod | str = flow.to.representative
        if flow.to is source and len(source.pods) > 1:
            target = source.pods[1]
    else:
        target = flow.to.ip
    explanation = explainer.flow(pod, target, flow.port, flow.protocol)
    allowed = bool(flow.sources >> grouped.position[source.id] & 1)
    if explanation.allowed != allowed and not explanation.self_flow:  # two evaluations; never differ
        where = f"{pod.key} -> {explanation.target} {flow.port}/{flow.protocol}"
        raise RuntimeError(f"engine and explanation disagree on {where}")
    return explanation.reason()
