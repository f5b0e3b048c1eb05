"""The upstream e2e model (kubernetes test/e2e/network/netpol): namespaces x, y, z, pods a, b, c.

Each pod carries the label ``pod=<name>`` and serves ports 80 and 81 over TCP, UDP and SCTP,
with container ports named ``serve-<port>-<protocol>`` as the upstream model names them.
``Reachability`` mirrors the upstream truth table: everything allowed, then
``expect_peer`` / ``expect_all_ingress`` / ``expect_all_egress`` / ``expect`` in order, later
calls overriding earlier ones; loopback is not judged (upstream ``ignoreLoopback``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.model import ClusterState
from tests.unit.policy.builders import namespace, pod, policy, state_of

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
PORTS = tuple((f"serve-{n}-{p.lower()}", n, p) for n in (80, 81) for p in ("TCP", "UDP", "SCTP"))


def ip_of(key: str) -> str:
    ns, name = key.split("/")
    return f"10.0.{NAMESPACES.index(ns) + 1}.{PODS.index(name) + 10}"


def model(
    pods: Iterable[str],
    policies: Iterable[dict[str, Any]],
    *,
    pod_labels: dict[str, dict[str, str]] | None = None,
    ns_labels: dict[str, dict[str, str]] | None = None,
) -> ClusterState:
    objects: list[dict[str, Any]] = [namespace(ns, **(ns_labels or {}).get(ns, {})) for ns in NAMESPACES]
    for key in pods:
        labels = {"pod": key.split("/")[1], **(pod_labels or {}).get(key, {})}
        objects.append(pod(key, ip_of(key), labels, PORTS))
    objects.extend(policies)
    return state_of(objects, "upstream-model")


def np(ns: str, name: str, selector: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A NetworkPolicy as the upstream helpers build it (policies.go): ``SetSpecIngressRules`` and
    ``SetSpecEgressRules`` also add their type to ``policyTypes``, so the types are explicit here."""
    body: dict[str, Any] = {"podSelector": selector or {}}
    types = spec.pop("policy_types", None) or [t for t in ("Ingress", "Egress") if t.lower() in spec]
    body.update(spec)
    body["policyTypes"] = types
    return policy(ns, name, body)


@dataclass
class Reachability:
    pods: tuple[str, ...]
    table: dict[tuple[str, str], bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.table = {(a, b): True for a in self.pods for b in self.pods}

    def _match(self, key: str, ns: str | None, name: str | None) -> bool:
        n, p = key.split("/")
        return (ns is None or ns == n) and (name is None or name == p)

    def expect_peer(
        self, from_: tuple[str | None, str | None], to: tuple[str | None, str | None], value: bool
    ) -> Reachability:
        for a, b in self.table:
            if self._match(a, *from_) and self._match(b, *to):
                self.table[(a, b)] = value
        return self

    def expect_all_ingress(self, target: str, value: bool) -> Reachability:
        for a in self.pods:
            self.table[(a, target)] = value
        return self

    def expect_all_egress(self, source: str, value: bool) -> Reachability:
        for b in self.pods:
            self.table[(source, b)] = value
        return self

    def expect(self, a: str, b: str, value: bool) -> Reachability:
        self.table[(a, b)] = value
        return self


# The calls' results are ignored: the expect_* methods return the table only so that a case's lambda
# can make several calls in order, as a tuple.
Expectation = Callable[[Reachability], object]


def observed(state: ClusterState, port: int, protocol: str) -> dict[tuple[str, str], bool]:
    """Every pod pair's verdict from the engine's full matrix, checked pair by pair against explain."""
    engine = Engine(state)
    explainer = Explainer(state)
    matrix = engine.matrix(port, protocol)
    out = {}
    for d, dst in enumerate(engine.pods):
        for s, src in enumerate(engine.pods):
            allowed = bool(matrix[d] >> s & 1)
            assert allowed == explainer.flow(src, dst, port, protocol).allowed, (
                src.key,
                dst.key,
                port,
                protocol,
            )
            out[(src.key, dst.key)] = allowed
    return out


def wrong_cells(state: ClusterState, port: int, protocol: str, expect: Expectation) -> list[str]:
    """Cells where the engine disagrees with the upstream truth table (loopback not judged)."""
    pods = tuple(sorted(p.key for p in state.pods))
    reachability = Reachability(pods)
    expect(reachability)
    seen = observed(state, port, protocol)
    return [
        f"{a} -> {b}: expected {'allow' if want else 'deny'}"
        for (a, b), want in sorted(reachability.table.items())
        if a != b and seen[(a, b)] != want
    ]
