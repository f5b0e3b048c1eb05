"""The ClusterNetworkPolicy conformance suite of kubernetes-sigs/network-policy-api v0.2.0, as data.

Restated as facts from the suite's manifests (conformance/base/) and tests (conformance/tests/),
tag v0.2.0; the rules' names are left out (they are for observability only):

* The base: five namespaces ``network-policy-conformance-<house>`` labelled
  ``conformance-house: <house>``; in four of them a StatefulSet of two pods labelled the same way,
  serving TCP 80 and 8080, UDP 53 and 5353, SCTP 9003 and 9005, of which only TCP 80 (``web``)
  and UDP 53 (``dns``) are declared as container ports; in ``forbidden-forrest`` two host-network
  pods (``centaur``), whose address is their node's, serving eight ports from 34345 on.
* Per conformance test (``Case``, named by the upstream short name): its objects, then its subtests
  in order. Subtests share state: each one's patches stay applied for the later ones, so the state
  of subtest n is the objects with the patches of subtests 1..n applied in order.
* Per subtest the probes, one line each: ``CLIENT -> SERVER PORT/PROTOCOL allowed|denied``. A probe
  connects from the client pod to the server pod's IP; the expectation is the upstream one, except
  where a line ends with ``(upstream: allowed)``: there the lab deliberately differs (see
  ``LAB_FAIL_CLOSED``).

Addresses are the lab's own, chosen stable: pods 10.244.<house>.<10 + ordinal>, nodes 172.18.0.<2 +
ordinal> (the host-network pods carry their node's address).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.unit.policy.builders import cnp, namespace, pod, policy

PREFIX = "network-policy-conformance-"
HOUSE = "conformance-house"
NAME = "kubernetes.io/metadata.name"
LINUX = "kubernetes.io/os"

FEATURE = "ClusterNetworkPolicy"  # the standard feature every case needs
NAMED_PORTS = "ClusterNetworkPolicyNamedPorts"
NODE_PEERS = "ClusterNetworkPolicyEgressNodePeers"

LAB_FAIL_CLOSED = (
    "the lab's documented behaviour, not conformance: the evaluator does not support the experimental "
    "`nodes` peer and fails closed as the API prescribes for such an implementation (an Accept rule with "
    "it matches nothing, a Deny or Pass rule with it denies everything); upstream expects these probes "
    "from implementations that do support node peers"
)


# -- the base ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    house: str
    statefulset: str
    host_network: bool = False


WORKLOADS = (
    Workload("gryffindor", "harry-potter"),
    Workload("slytherin", "draco-malfoy"),
    Workload("hufflepuff", "cedric-diggory"),
    Workload("ravenclaw", "luna-lovegood"),
    Workload("forbidden-forrest", "centaur", host_network=True),
)
REPLICAS = 2

# The regular pods' servers; only two of them are declared as (named) container ports.
SERVED = ((80, "TCP"), (8080, "TCP"), (5353, "UDP"), (53, "UDP"), (9003, "SCTP"), (9005, "SCTP"))
DECLARED = (("web", 80, "TCP"), ("dns", 53, "UDP"))

# The host-network pods' servers: eight consecutive ports from 34345 (the suite's default). 34348 and
# 34350 are the HTTP side ports of the two UDP servers; the SCTP ones are not declared.
HOST_PORTS = tuple(range(34345, 34353))
HOST_SERVED = (
    (34345, "TCP"),
    (34346, "TCP"),
    (34347, "UDP"),
    (34348, "TCP"),
    (34349, "UDP"),
    (34350, "TCP"),
    (34351, "SCTP"),
    (34352, "SCTP"),
)
HOST_DECLARED = (
    ("web-34345", 34345, "TCP"),
    ("web-34346", 34346, "TCP"),
    ("dns-34347", 34347, "UDP"),
    ("dns-34349", 34349, "UDP"),
)


def workload_of(pod_name: str) -> Workload:
    statefulset, _, ordinal = pod_name.rpartition("-")
    for workload in WORKLOADS:
        if workload.statefulset == statefulset and ordinal.isdigit() and int(ordinal) < REPLICAS:
            return workload
    raise KeyError(pod_name)


def key_of(pod_name: str) -> str:
    """NAMESPACE/NAME of a base pod given its name (``harry-potter-0``)."""
    return f"{PREFIX}{workload_of(pod_name).house}/{pod_name}"


def ip_of(pod_name: str) -> str:
    workload = workload_of(pod_name)
    ordinal = int(pod_name.rpartition("-")[2])
    if workload.host_network:
        return f"172.18.0.{2 + ordinal}"
    return f"10.244.{WORKLOADS.index(workload) + 1}.{10 + ordinal}"


def served_by(pod_name: str) -> tuple[tuple[int, str], ...]:
    return HOST_SERVED if workload_of(pod_name).host_network else SERVED


def base_objects() -> list[dict[str, Any]]:
    """The namespaces and the pods of the base manifests."""
    objects: list[dict[str, Any]] = [namespace(PREFIX + w.house, **{HOUSE: w.house}) for w in WORKLOADS]
    for workload in WORKLOADS:
        for ordinal in range(REPLICAS):
            name = f"{workload.statefulset}-{ordinal}"
            declared = HOST_DECLARED if workload.host_network else DECLARED
            obj = pod(key_of(name), ip_of(name), {HOUSE: workload.house}, declared)
            if workload.host_network:
                obj["spec"]["hostNetwork"] = True
            objects.append(obj)
    return objects


# -- rules -------------------------------------------------------------------------------------------

Obj = dict[str, Any]


def ns(house: str) -> Obj:
    """The namespace of a house, by its name label."""
    return {"matchLabels": {NAME: PREFIX + house}}


def labelled(house: str) -> Obj:
    return {"matchLabels": {HOUSE: house}}


def namespaces(selector: Obj) -> Obj:
    return {"namespaces": selector}


def house_pods(house: str) -> Obj:
    """Peer or subject ``pods``: the house's pods in the house's namespace, both by the house label."""
    return {"pods": {"namespaceSelector": labelled(house), "podSelector": labelled(house)}}


def networks(*cidrs: str) -> Obj:
    return {"networks": list(cidrs)}


LINUX_NODES: Obj = {"nodes": {"matchLabels": {LINUX: "linux"}}}
EVERYWHERE = networks("0.0.0.0/0", "::/0")


def tcp(port: int) -> Obj:
    return {"tcp": {"destinationPort": {"number": port}}}


def udp(port: int) -> Obj:
    return {"udp": {"destinationPort": {"number": port}}}


def sctp(port: int) -> Obj:
    return {"sctp": {"destinationPort": {"number": port}}}


def tcp_range(start: int, end: int) -> Obj:
    return {"tcp": {"destinationPort": {"range": {"start": start, "end": end}}}}


def named(port_name: str) -> Obj:
    return {"destinationNamedPort": port_name}


def rule(direction: str, action: str, peers: Sequence[Obj], protocols: Sequence[Obj] | None = None) -> Obj:
    body: Obj = {"action": action, "from" if direction == "ingress" else "to": [dict(p) for p in peers]}
    if protocols is not None:
        body["protocols"] = [dict(p) for p in protocols]
    return body


def ladder(
    direction: str,
    first: str,
    port: Sequence[Obj],
    last: str,
    last_port: Sequence[Obj],
    *,
    with_pass: bool,
) -> list[Obj]:
    """The rule list the single-protocol and combined tests share.

    Admin (``with_pass``): Accept, Deny and Pass ``first`` (every port); Deny and Pass slytherin on
    ``port``; Accept ``last`` on ``last_port``; Deny ``last`` (every port). Baseline has no Pass rules:
    Accept, Deny ``first``; Deny slytherin on ``port``; Accept ``last`` on ``last_port``; Deny ``last``."""
    a, s, b = namespaces(ns(first)), namespaces(ns("slytherin")), namespaces(ns(last))
    rules = [rule(direction, "Accept", [a]), rule(direction, "Deny", [a])]
    if with_pass:
        rules.append(rule(direction, "Pass", [a]))
    rules.append(rule(direction, "Deny", [s], port))
    if with_pass:
        rules.append(rule(direction, "Pass", [s], port))
    rules += [rule(direction, "Accept", [b], last_port), rule(direction, "Deny", [b])]
    return rules


# -- patches -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Swap:
    """Exchange two rules of a ClusterNetworkPolicy."""

    policy: str
    direction: str
    first: int
    second: int


@dataclass(frozen=True)
class SetPriority:
    policy: str
    priority: int


@dataclass(frozen=True)
class SetAction:
    policy: str
    direction: str
    index: int
    action: str


@dataclass(frozen=True)
class SetProtocols:
    """Replace a rule's protocols."""

    policy: str
    direction: str
    index: int
    protocols: tuple[Obj, ...]


@dataclass(frozen=True)
class Prepend:
    """Insert a rule before the others."""

    policy: str
    direction: str
    rule: Obj


@dataclass(frozen=True)
class DeleteNetworkPolicy:
    namespace: str
    name: str


Patch = Swap | SetPriority | SetAction | SetProtocols | Prepend | DeleteNetworkPolicy


def _cluster_policy(objects: list[Obj], name: str) -> Obj:
    found = [o for o in objects if o["kind"] == "ClusterNetworkPolicy" and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"no single ClusterNetworkPolicy {name!r} to patch")
    return found[0]


def apply(objects: Iterable[Mapping[str, Any]], patch: Patch) -> list[Obj]:
    """A copy of ``objects`` with ``patch`` applied; a patch that finds nothing to change raises."""
    out = copy.deepcopy([dict(o) for o in objects])
    if isinstance(patch, DeleteNetworkPolicy):
        kept = [
            o
            for o in out
            if not (
                o["kind"] == "NetworkPolicy"
                and o["metadata"]["namespace"] == patch.namespace
                and o["metadata"]["name"] == patch.name
            )
        ]
        if len(kept) != len(out) - 1:
            raise LookupError(f"no NetworkPolicy {patch.namespace}/{patch.name} to delete")
        return kept
    spec = _cluster_policy(out, patch.policy)["spec"]
    if isinstance(patch, SetPriority):
        spec["priority"] = patch.priority
        return out
    rules = spec[patch.direction]
    if isinstance(patch, Swap):
        rules[patch.first], rules[patch.second] = rules[patch.second], rules[patch.first]
    elif isinstance(patch, SetAction):
        rules[patch.index]["action"] = patch.action
    elif isinstance(patch, SetProtocols):
        rules[patch.index]["protocols"] = [dict(p) for p in patch.protocols]
    else:
        rules.insert(0, copy.deepcopy(patch.rule))
    return out


# -- probes, subtests, cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    client: str  # pod name
    server: str  # pod name; the probe connects to its IP
    port: int
    protocol: str
    allowed: bool  # what the lab's evaluator must say
    upstream: bool | None = None  # upstream's expectation, only where the lab deliberately differs

    def describe(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{self.client} -> {self.server} {self.port}/{self.protocol.lower()} {verdict}"


_PROBE = re.compile(
    r"^(?P<client>[a-z0-9-]+) -> (?P<server>[a-z0-9-]+) (?P<port>\d+)/(?P<protocol>tcp|udp|sctp) "
    r"(?P<verdict>allowed|denied)(?: \(upstream: (?P<upstream>allowed|denied)\))?$"
)


def probes(table: str) -> tuple[Probe, ...]:
    """Probes from lines ``CLIENT -> SERVER PORT/PROTOCOL allowed|denied [(upstream: allowed|denied)]``."""
    out = []
    for line in table.strip().splitlines():
        match = _PROBE.match(line.strip())
        if not match:
            raise ValueError(f"not a probe line: {line!r}")
        upstream = match["upstream"]
        out.append(
            Probe(
                match["client"],
                match["server"],
                int(match["port"]),
                match["protocol"].upper(),
                match["verdict"] == "allowed",
                None if upstream is None else upstream == "allowed",
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Subtest:
    name: str  # a short name of the lab's, in the upstream order
    patches: tuple[Patch, ...]  # applied at the start of this subtest, kept for the later ones
    probes: tuple[Probe, ...]


@dataclass(frozen=True)
class Case:
    name: str  # the upstream test's short name
    features: tuple[str, ...]
    objects: tuple[Obj, ...]  # the test's manifests, on top of the base
    subtests: tuple[Subtest, ...]
    conformance: bool = True  # False: the expectations are the lab's documented behaviour (see probes)

    def objects_at(self, number: int) -> list[Obj]:
        """The test's objects as subtest ``number`` (0-based) sees them: earlier patches stay applied."""
        objects = [copy.deepcopy(o) for o in self.objects]
        for subtest in self.subtests[: number + 1]:
            for patch in subtest.patches:
                objects = apply(objects, patch)
        return objects


def sub(name: str, table: str, *patches: Patch) -> Subtest:
    return Subtest(name, patches, probes(table))


# -- the single-protocol tests (Admin: six subtests, Baseline: the first four) -----------------------


@dataclass(frozen=True)
class Ladder:
    """One single-protocol test: a CNP of ``ladder`` rules over one house's namespace."""

    suffix: str  # IngressTCP, ...
    policy: str  # the Admin CNP's name (Baseline ones are all called "default")
    priority: int  # the Admin CNP's priority (Baseline ones: 10)
    direction: str
    subject: str
    first: str
    port: tuple[Obj, ...]
    last: str
    last_port: tuple[Obj, ...]
    tables: tuple[str, str, str, str, str, str]  # the probes of subtests 1-6 (Baseline: 1-4)

    def objects(self, tier: str) -> tuple[Obj, ...]:
        admin = tier == "Admin"
        rules = ladder(self.direction, self.first, self.port, self.last, self.last_port, with_pass=admin)
        name, priority = (self.policy, self.priority) if admin else ("default", 10)
        ingress, egress = (rules, None) if self.direction == "ingress" else (None, rules)
        return (cnp(name, tier, priority, namespaces(ns(self.subject)), ingress=ingress, egress=egress),)

    def case(self, tier: str) -> Case:
        name = self.policy if tier == "Admin" else "default"
        d = self.direction
        subtests = [
            sub("accept-before-deny", self.tables[0]),
            sub("port-accept-then-deny", self.tables[1]),
            sub("swap-0-1-deny-first", self.tables[2], Swap(name, d, 0, 1)),
            sub("slytherin-port-denied-rest-unmatched", self.tables[3]),
        ]
        if tier == "Admin":
            subtests += [
                sub("swap-0-2-pass-first", self.tables[4], Swap(name, d, 0, 2)),
                sub("swap-3-4-port-pass-first", self.tables[5], Swap(name, d, 3, 4)),
            ]
        return Case(f"CNP{tier}Tier{self.suffix}", (FEATURE,), self.objects(tier), tuple(subtests))


LADDERS = (
    Ladder(
        "IngressTCP",
        "ingress-tcp",
        3,
        "ingress",
        "gryffindor",
        "ravenclaw",
        (tcp(80),),
        "hufflepuff",
        (tcp(80),),
        (
            """
            luna-lovegood-0 -> harry-potter-0 80/tcp allowed
            luna-lovegood-1 -> harry-potter-0 8080/tcp allowed
            """,
            """
            cedric-diggory-0 -> harry-potter-1 80/tcp allowed
            cedric-diggory-1 -> harry-potter-1 8080/tcp denied
            """,
            """
            luna-lovegood-0 -> harry-potter-1 80/tcp denied
            luna-lovegood-1 -> harry-potter-1 8080/tcp denied
            """,
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp denied
            draco-malfoy-1 -> harry-potter-0 8080/tcp allowed
            """,
            """
            luna-lovegood-0 -> harry-potter-0 80/tcp allowed
            luna-lovegood-1 -> harry-potter-0 8080/tcp allowed
            """,
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp allowed
            draco-malfoy-1 -> harry-potter-0 8080/tcp allowed
            """,
        ),
    ),
    Ladder(
        "IngressUDP",
        "ingress-udp",
        4,
        "ingress",
        "hufflepuff",
        "ravenclaw",
        (udp(5353),),
        "gryffindor",
        (udp(53),),
        (
            """
            luna-lovegood-0 -> cedric-diggory-0 53/udp allowed
            luna-lovegood-1 -> cedric-diggory-0 5353/udp allowed
            """,
            """
            harry-potter-0 -> cedric-diggory-1 53/udp allowed
            harry-potter-1 -> cedric-diggory-1 5353/udp denied
            """,
            """
            luna-lovegood-0 -> cedric-diggory-1 53/udp denied
            luna-lovegood-1 -> cedric-diggory-1 5353/udp denied
            """,
            """
            draco-malfoy-0 -> cedric-diggory-0 5353/udp denied
            draco-malfoy-1 -> cedric-diggory-0 53/udp allowed
            """,
            """
            luna-lovegood-0 -> cedric-diggory-1 5353/udp allowed
            luna-lovegood-1 -> cedric-diggory-1 53/udp allowed
            """,
            """
            draco-malfoy-0 -> cedric-diggory-0 5353/udp allowed
            draco-malfoy-1 -> cedric-diggory-0 53/udp allowed
            """,
        ),
    ),
    Ladder(
        "IngressSCTP",
        "ingress-sctp",
        5,
        "ingress",
        "ravenclaw",
        "gryffindor",
        (sctp(9003),),
        "hufflepuff",
        (sctp(9003),),
        (
            """
            harry-potter-0 -> luna-lovegood-0 9003/sctp allowed
            harry-potter-1 -> luna-lovegood-0 9005/sctp allowed
            """,
            """
            cedric-diggory-0 -> luna-lovegood-1 9003/sctp allowed
            cedric-diggory-1 -> luna-lovegood-1 9005/sctp denied
            """,
            """
            harry-potter-0 -> luna-lovegood-1 9003/sctp denied
            harry-potter-1 -> luna-lovegood-1 9005/sctp denied
            """,
            """
            draco-malfoy-0 -> luna-lovegood-0 9003/sctp denied
            draco-malfoy-1 -> luna-lovegood-0 9005/sctp allowed
            """,
            """
            harry-potter-0 -> luna-lovegood-1 9003/sctp allowed
            harry-potter-1 -> luna-lovegood-1 9005/sctp allowed
            """,
            """
            draco-malfoy-0 -> luna-lovegood-0 9003/sctp allowed
            draco-malfoy-1 -> luna-lovegood-0 9005/sctp allowed
            """,
        ),
    ),
    Ladder(
        "EgressTCP",
        "egress-tcp",
        6,
        "egress",
        "gryffindor",
        "ravenclaw",
        (tcp(80),),
        "hufflepuff",
        (tcp(8080),),
        (
            """
            harry-potter-0 -> luna-lovegood-0 80/tcp allowed
            harry-potter-1 -> luna-lovegood-0 8080/tcp allowed
            """,
            """
            harry-potter-0 -> cedric-diggory-1 8080/tcp allowed
            harry-potter-1 -> cedric-diggory-1 80/tcp denied
            """,
            """
            harry-potter-0 -> luna-lovegood-1 80/tcp denied
            harry-potter-1 -> luna-lovegood-1 8080/tcp denied
            """,
            """
            harry-potter-0 -> draco-malfoy-0 80/tcp denied
            harry-potter-1 -> draco-malfoy-0 8080/tcp allowed
            """,
            """
            harry-potter-0 -> luna-lovegood-0 80/tcp allowed
            harry-potter-1 -> luna-lovegood-0 8080/tcp allowed
            """,
            """
            harry-potter-0 -> draco-malfoy-0 80/tcp allowed
            harry-potter-1 -> draco-malfoy-0 8080/tcp allowed
            """,
        ),
    ),
    Ladder(
        "EgressUDP",
        "egress-udp",
        7,
        "egress",
        "hufflepuff",
        "ravenclaw",
        (udp(5353),),
        "gryffindor",
        (udp(53),),
        (
            """
            cedric-diggory-0 -> luna-lovegood-0 53/udp allowed
            cedric-diggory-1 -> luna-lovegood-0 5353/udp allowed
            """,
            """
            cedric-diggory-0 -> harry-potter-1 53/udp allowed
            cedric-diggory-1 -> harry-potter-1 5353/udp denied
            """,
            """
            cedric-diggory-0 -> luna-lovegood-1 53/udp denied
            cedric-diggory-1 -> luna-lovegood-1 5353/udp denied
            """,
            """
            cedric-diggory-0 -> draco-malfoy-0 5353/udp denied
            cedric-diggory-1 -> draco-malfoy-0 53/udp allowed
            """,
            """
            cedric-diggory-0 -> luna-lovegood-1 5353/udp allowed
            cedric-diggory-1 -> luna-lovegood-1 53/udp allowed
            """,
            """
            cedric-diggory-0 -> draco-malfoy-0 5353/udp allowed
            cedric-diggory-1 -> draco-malfoy-0 53/udp allowed
            """,
        ),
    ),
    Ladder(
        "EgressSCTP",
        "egress-sctp",
        8,
        "egress",
        "ravenclaw",
        "gryffindor",
        (sctp(9003),),
        "hufflepuff",
        (sctp(9003),),
        (
            """
            luna-lovegood-0 -> harry-potter-0 9003/sctp allowed
            luna-lovegood-1 -> harry-potter-0 9005/sctp allowed
            """,
            """
            luna-lovegood-0 -> cedric-diggory-1 9003/sctp allowed
            luna-lovegood-1 -> cedric-diggory-1 9005/sctp denied
            """,
            """
            luna-lovegood-0 -> harry-potter-1 9003/sctp denied
            luna-lovegood-1 -> harry-potter-1 9005/sctp denied
            """,
            """
            luna-lovegood-0 -> draco-malfoy-0 9003/sctp denied
            luna-lovegood-1 -> draco-malfoy-0 9005/sctp allowed
            """,
            """
            luna-lovegood-0 -> harry-potter-1 9003/sctp allowed
            luna-lovegood-1 -> harry-potter-1 9005/sctp allowed
            """,
            """
            luna-lovegood-0 -> draco-malfoy-0 9003/sctp allowed
            luna-lovegood-1 -> draco-malfoy-0 9005/sctp allowed
            """,
        ),
    ),
)


# -- the combined ingress and egress test ------------------------------------------------------------

GRESS_SLYTHERIN = (tcp(80), udp(53), sctp(9003))
GRESS_TABLES = (
    """
    harry-potter-0 -> luna-lovegood-0 80/tcp allowed
    harry-potter-1 -> luna-lovegood-0 53/udp allowed
    harry-potter-0 -> luna-lovegood-0 9003/sctp allowed
    luna-lovegood-0 -> harry-potter-0 80/tcp allowed
    luna-lovegood-1 -> harry-potter-0 53/udp allowed
    luna-lovegood-1 -> harry-potter-0 9003/sctp allowed
    """,
    """
    harry-potter-0 -> cedric-diggory-1 8080/tcp allowed
    harry-potter-1 -> cedric-diggory-1 80/tcp denied
    harry-potter-0 -> cedric-diggory-1 5353/udp allowed
    harry-potter-1 -> cedric-diggory-1 53/udp denied
    harry-potter-0 -> cedric-diggory-1 9003/sctp allowed
    harry-potter-1 -> cedric-diggory-1 9005/sctp denied
    cedric-diggory-0 -> harry-potter-1 80/tcp allowed
    cedric-diggory-1 -> harry-potter-1 8080/tcp denied
    cedric-diggory-0 -> harry-potter-1 5353/udp allowed
    cedric-diggory-1 -> harry-potter-1 53/udp denied
    cedric-diggory-0 -> harry-potter-1 9003/sctp allowed
    cedric-diggory-1 -> harry-potter-1 9005/sctp denied
    """,
    """
    harry-potter-0 -> luna-lovegood-1 80/tcp denied
    harry-potter-1 -> luna-lovegood-1 53/udp denied
    harry-potter-0 -> luna-lovegood-1 9003/sctp denied
    luna-lovegood-0 -> harry-potter-1 80/tcp denied
    luna-lovegood-1 -> harry-potter-1 53/udp denied
    luna-lovegood-1 -> harry-potter-1 9003/sctp denied
    """,
    """
    harry-potter-0 -> draco-malfoy-0 80/tcp denied
    harry-potter-1 -> draco-malfoy-0 8080/tcp allowed
    harry-potter-0 -> draco-malfoy-0 53/udp denied
    harry-potter-1 -> draco-malfoy-0 5353/udp allowed
    harry-potter-0 -> draco-malfoy-0 9003/sctp denied
    harry-potter-1 -> draco-malfoy-0 9005/sctp allowed
    draco-malfoy-0 -> harry-potter-0 80/tcp denied
    draco-malfoy-1 -> harry-potter-0 8080/tcp allowed
    draco-malfoy-0 -> harry-potter-0 53/udp denied
    draco-malfoy-1 -> harry-potter-0 5353/udp allowed
    draco-malfoy-0 -> harry-potter-0 9003/sctp denied
    draco-malfoy-1 -> harry-potter-0 9005/sctp allowed
    """,
    """
    harry-potter-0 -> luna-lovegood-0 80/tcp allowed
    harry-potter-0 -> luna-lovegood-0 5353/udp allowed
    harry-potter-0 -> luna-lovegood-0 9003/sctp allowed
    luna-lovegood-0 -> harry-potter-0 80/tcp allowed
    luna-lovegood-1 -> harry-potter-0 53/udp allowed
    luna-lovegood-1 -> harry-potter-0 9003/sctp allowed
    """,
    """
    harry-potter-0 -> draco-malfoy-0 80/tcp allowed
    harry-potter-1 -> draco-malfoy-0 8080/tcp allowed
    harry-potter-0 -> draco-malfoy-0 53/udp allowed
    harry-potter-1 -> draco-malfoy-0 5353/udp allowed
    harry-potter-0 -> draco-malfoy-0 9003/sctp allowed
    harry-potter-1 -> draco-malfoy-0 9005/sctp allowed
    draco-malfoy-0 -> harry-potter-0 80/tcp allowed
    draco-malfoy-1 -> harry-potter-0 8080/tcp allowed
    draco-malfoy-0 -> harry-potter-0 53/udp allowed
    draco-malfoy-1 -> harry-potter-0 5353/udp allowed
    draco-malfoy-0 -> harry-potter-0 9003/sctp allowed
    draco-malfoy-1 -> harry-potter-0 9005/sctp allowed
    """,
)


def gress_case(tier: str) -> Case:
    """Both directions over gryffindor, three protocols per port rule. Hufflepuff's accepted ports differ
    per direction: egress TCP 8080, ingress TCP 80 (both with UDP 5353 and SCTP 9003)."""
    admin = tier == "Admin"
    name, priority = ("gress-rules", 15) if admin else ("default", 10)
    egress = ladder(
        "egress",
        "ravenclaw",
        GRESS_SLYTHERIN,
        "hufflepuff",
        (tcp(8080), udp(5353), sctp(9003)),
        with_pass=admin,
    )
    ingress = ladder(
        "ingress",
        "ravenclaw",
        GRESS_SLYTHERIN,
        "hufflepuff",
        (tcp(80), udp(5353), sctp(9003)),
        with_pass=admin,
    )
    policy_object = cnp(name, tier, priority, namespaces(ns("gryffindor")), ingress=ingress, egress=egress)
    both = ("egress", "ingress")
    subtests = [
        sub("accept-before-deny", GRESS_TABLES[0]),
        sub("port-accept-then-deny", GRESS_TABLES[1]),
        sub("swap-0-1-deny-first", GRESS_TABLES[2], *(Swap(name, d, 0, 1) for d in both)),
        sub("slytherin-port-denied-rest-unmatched", GRESS_TABLES[3]),
    ]
    if admin:
        subtests += [
            sub("swap-0-2-pass-first", GRESS_TABLES[4], *(Swap(name, d, 0, 2) for d in both)),
            sub("swap-3-4-port-pass-first", GRESS_TABLES[5], *(Swap(name, d, 3, 4) for d in both)),
        ]
    return Case(f"CNP{tier}TierGress", (FEATURE,), (policy_object,), tuple(subtests))


# -- priority, and the three tiers together ----------------------------------------------------------


def _toward_slytherin(name: str, tier: str, priority: int, action: str) -> Obj:
    """A CNP over gryffindor's pods with one rule each way for slytherin's pods."""
    peers = [house_pods("slytherin")]
    return cnp(
        name,
        tier,
        priority,
        house_pods("gryffindor"),
        ingress=[rule("ingress", action, peers)],
        egress=[rule("egress", action, peers)],
    )


PRIORITY_MOVED = "old-priority-60-new-priority-40-example"
PRIORITY_CASE = Case(
    "CNPAdminTierPriorityField",
    (FEATURE,),
    (
        _toward_slytherin("priority-50-example", "Admin", 50, "Deny"),
        _toward_slytherin(PRIORITY_MOVED, "Admin", 60, "Pass"),
        _toward_slytherin("default", "Baseline", 10, "Accept"),
    ),
    (
        sub(
            "deny-at-50-before-pass-at-60-ingress",
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp denied
            draco-malfoy-1 -> harry-potter-0 8080/tcp denied
            """,
        ),
        sub(
            "deny-at-50-before-pass-at-60-egress",
            """
            harry-potter-0 -> draco-malfoy-0 80/tcp denied
            harry-potter-1 -> draco-malfoy-0 8080/tcp denied
            """,
        ),
        sub(
            "pass-moved-to-40-reaches-baseline-accept",
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp allowed
            draco-malfoy-1 -> harry-potter-0 8080/tcp allowed
            harry-potter-0 -> draco-malfoy-0 80/tcp allowed
            harry-potter-1 -> draco-malfoy-0 8080/tcp allowed
            """,
            SetPriority(PRIORITY_MOVED, 40),
        ),
    ),
)


def _namespace_rules(name: str, tier: str, action: str) -> Obj:
    """A CNP over the gryffindor-labelled namespaces, one rule each way for the slytherin-labelled ones."""
    peers = [namespaces(labelled("slytherin"))]
    return cnp(
        name,
        tier,
        10,
        namespaces(labelled("gryffindor")),
        ingress=[rule("ingress", action, peers)],
        egress=[rule("egress", action, peers)],
    )


INTEGRATION_NP = "allow-gress-from-to-slytherin-to-gryffindor"
INTEGRATION_CASE = Case(
    "CNPAdminTierIntegration",
    (FEATURE,),
    (
        _namespace_rules("pass-example", "Admin", "Deny"),
        # Every pod of gryffindor (a null podSelector), isolated both ways, open to and from slytherin.
        policy(
            PREFIX + "gryffindor",
            INTEGRATION_NP,
            {
                "podSelector": None,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": labelled("slytherin")}]}],
                "egress": [{"to": [{"namespaceSelector": labelled("slytherin")}]}],
            },
        ),
        _namespace_rules("default", "Baseline", "Deny"),
    ),
    (
        sub(
            "admin-deny-ingress",
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp denied
            draco-malfoy-1 -> harry-potter-0 8080/tcp denied
            """,
        ),
        sub(
            "admin-deny-egress",
            """
            harry-potter-0 -> draco-malfoy-0 80/tcp denied
            harry-potter-1 -> draco-malfoy-0 8080/tcp denied
            """,
        ),
        sub(
            "admin-pass-ingress-networkpolicy-allows",
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp allowed
            draco-malfoy-1 -> harry-potter-0 8080/tcp allowed
            """,
            SetAction("pass-example", "ingress", 0, "Pass"),
        ),
        sub(
            "admin-pass-egress-networkpolicy-allows",
            """
            harry-potter-0 -> draco-malfoy-0 80/tcp allowed
            harry-potter-1 -> draco-malfoy-0 8080/tcp allowed
            """,
            SetAction("pass-example", "egress", 0, "Pass"),
        ),
        sub(
            "networkpolicy-deleted-ingress-baseline-denies",
            """
            draco-malfoy-0 -> harry-potter-0 80/tcp denied
            draco-malfoy-1 -> harry-potter-0 8080/tcp denied
            """,
            DeleteNetworkPolicy(PREFIX + "gryffindor", INTEGRATION_NP),
        ),
        sub(
            "networkpolicy-deleted-egress-baseline-denies",
            """
            harry-potter-0 -> draco-malfoy-0 80/tcp denied
            harry-potter-1 -> draco-malfoy-0 8080/tcp denied
            """,
        ),
    ),
)


# -- networks (inline CIDR) peers --------------------------------------------------------------------

CIDR_BEFORE = """
    harry-potter-1 -> luna-lovegood-0 80/tcp denied
    harry-potter-1 -> luna-lovegood-0 53/udp denied
    harry-potter-1 -> luna-lovegood-0 9003/sctp denied
    harry-potter-1 -> cedric-diggory-0 80/tcp denied
    harry-potter-1 -> cedric-diggory-0 53/udp denied
    harry-potter-1 -> cedric-diggory-0 9003/sctp denied
    harry-potter-1 -> draco-malfoy-0 80/tcp allowed
    harry-potter-1 -> draco-malfoy-0 53/udp allowed
    harry-potter-1 -> draco-malfoy-0 9003/sctp allowed
"""
CIDR_AFTER = """
    harry-potter-1 -> luna-lovegood-0 80/tcp allowed
    harry-potter-1 -> luna-lovegood-0 53/udp allowed
    harry-potter-1 -> luna-lovegood-0 9003/sctp allowed
    harry-potter-1 -> cedric-diggory-0 80/tcp allowed
    harry-potter-1 -> cedric-diggory-0 53/udp allowed
    harry-potter-1 -> cedric-diggory-0 9003/sctp allowed
    harry-potter-1 -> luna-lovegood-1 80/tcp denied
    harry-potter-1 -> luna-lovegood-1 53/udp denied
    harry-potter-1 -> luna-lovegood-1 9003/sctp denied
    harry-potter-1 -> cedric-diggory-1 80/tcp denied
    harry-potter-1 -> cedric-diggory-1 53/udp denied
    harry-potter-1 -> cedric-diggory-1 9003/sctp denied
"""


def cidr_case(tier: str) -> Case:
    """Egress from gryffindor: Accept slytherin's pods, then Deny every address (pods included); the
    second subtest puts an Accept for two pods' /32s first."""
    admin = tier == "Admin"
    name, priority = ("inline-cidr-as-peers-example", 85) if admin else ("default", 10)
    subject = house_pods("gryffindor") if admin else namespaces(ns("gryffindor"))
    egress = [rule("egress", "Accept", [house_pods("slytherin")]), rule("egress", "Deny", [EVERYWHERE])]
    single = networks(ip_of("luna-lovegood-0") + "/32", ip_of("cedric-diggory-0") + "/32")
    return Case(
        f"CNP{tier}TierEgressInlineCIDRPeers",
        (FEATURE,),
        (cnp(name, tier, priority, subject, egress=egress),),
        (
            sub("deny-all-networks-covers-pods", CIDR_BEFORE),
            sub(
                "prepended-pod-ip-accept",
                CIDR_AFTER,
                Prepend(name, "egress", rule("egress", "Accept", [single])),
            ),
        ),
    )


# -- named ports (feature ClusterNetworkPolicyNamedPorts) --------------------------------------------


def named_port_case(tier: str, ladder_suffix: str, direction: str, port_name: str, table: str) -> Case:
    """A single-protocol test's CNP whose Accept-on-a-port rule is rewritten to a named port."""
    base = next(x for x in LADDERS if x.suffix == ladder_suffix)
    name = base.policy if tier == "Admin" else "default"
    index = 5 if tier == "Admin" else 3  # the Accept for the last house, on its port
    suffix = ("Ingress" if direction == "ingress" else "Egress") + "NamedPort"
    return Case(
        f"CNP{tier}Tier{suffix}",
        (FEATURE, NAMED_PORTS),
        base.objects(tier),
        (
            sub(
                f"accept-on-named-port-{port_name}",
                table,
                SetProtocols(name, direction, index, (named(port_name),)),
            ),
        ),
    )


NAMED_PORT_CASES = (
    named_port_case(
        "Admin",
        "EgressTCP",
        "egress",
        "web",
        """
        harry-potter-0 -> cedric-diggory-1 80/tcp allowed
        harry-potter-1 -> cedric-diggory-1 8080/tcp denied
        """,
    ),
    named_port_case(
        "Admin",
        "IngressUDP",
        "ingress",
        "dns",
        """
        harry-potter-0 -> cedric-diggory-1 53/udp allowed
        harry-potter-1 -> cedric-diggory-1 5353/udp denied
        """,
    ),
    named_port_case(
        "Baseline",
        "IngressTCP",
        "ingress",
        "web",
        """
        cedric-diggory-0 -> harry-potter-1 80/tcp allowed
        cedric-diggory-1 -> harry-potter-1 8080/tcp denied
        """,
    ),
    named_port_case(
        "Baseline",
        "EgressUDP",
        "egress",
        "dns",
        """
        cedric-diggory-0 -> harry-potter-1 53/udp allowed
        cedric-diggory-1 -> harry-potter-1 5353/udp denied
        """,
    ),
)


# -- node peers (feature ClusterNetworkPolicyEgressNodePeers): the lab fails closed ------------------

ADMIN_NODE_CASE = Case(
    "CNPAdminTierEgressNodePeers",
    (FEATURE, NODE_PEERS),
    (
        cnp(
            "node-and-cidr-as-peers-example",
            "Admin",
            75,
            house_pods("gryffindor"),
            egress=[
                rule("egress", "Accept", [LINUX_NODES], [tcp(HOST_PORTS[0])]),
                rule("egress", "Pass", [LINUX_NODES], [udp(HOST_PORTS[2])]),
                rule("egress", "Deny", [house_pods("slytherin"), LINUX_NODES, EVERYWHERE]),
            ],
        ),
    ),
    (
        # Upstream: rule 0 accepts. Lab: rule 0 matches nothing, rule 1 (Pass, fails closed) denies all.
        sub("nodes-accept", "harry-potter-1 -> centaur-1 34345/tcp denied (upstream: allowed)"),
        # Upstream: rule 1 passes, nothing later decides, allowed. Lab: rule 1 denies all.
        sub("nodes-pass", "harry-potter-1 -> centaur-1 34347/udp denied (upstream: allowed)"),
        sub(
            "nodes-deny",
            """
            harry-potter-1 -> centaur-1 34346/tcp denied
            harry-potter-1 -> centaur-1 34349/udp denied
            harry-potter-1 -> centaur-1 34351/sctp denied
            """,
        ),
    ),
    conformance=False,
)

BASELINE_NODE_CASE = Case(
    "CNPBaselineTierEgressNodePeers",
    (FEATURE, NODE_PEERS),
    (
        cnp(
            "default",
            "Baseline",
            10,
            namespaces(ns("gryffindor")),
            egress=[
                rule("egress", "Accept", [LINUX_NODES], [tcp_range(HOST_PORTS[0], HOST_PORTS[1])]),
                rule("egress", "Deny", [LINUX_NODES, EVERYWHERE]),
            ],
        ),
    ),
    (
        # Upstream: rule 0 accepts both ends of its range. Lab: it matches nothing; rule 1 denies all.
        sub(
            "nodes-accept-port-range",
            """
            harry-potter-0 -> centaur-1 34345/tcp denied (upstream: allowed)
            harry-potter-1 -> centaur-1 34346/tcp denied (upstream: allowed)
            """,
        ),
        sub(
            "nodes-deny",
            """
            harry-potter-1 -> centaur-1 34349/udp denied
            harry-potter-1 -> centaur-1 34351/sctp denied
            """,
        ),
    ),
    conformance=False,
)


# -- the inventory -----------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    *(x.case("Admin") for x in LADDERS),
    gress_case("Admin"),
    PRIORITY_CASE,
    INTEGRATION_CASE,
    cidr_case("Admin"),
    *(x.case("Baseline") for x in LADDERS),
    gress_case("Baseline"),
    cidr_case("Baseline"),
    *NAMED_PORT_CASES,
    ADMIN_NODE_CASE,
    BASELINE_NODE_CASE,
)
