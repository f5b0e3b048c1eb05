"""Compact builders for test states, parsed through the real parser (``parse_objects``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.model import ClusterState
from lab.policy.state import parse_objects


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def pod(
    key: str,
    ip: str | None,
    labels: Mapping[str, str] | None = None,
    ports: Iterable[tuple[str, int, str]] = (),
) -> dict[str, Any]:
    """``key`` is NAMESPACE/NAME; ``ports`` are (name, number, protocol)."""
    ns, name = key.split("/")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "ports": [{"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports],
                }
            ]
        },
        "status": {"podIP": ip} if ip else {},
    }


def policy(ns: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": dict(spec),
    }


def cnp(
    name: str,
    tier: str,
    priority: int,
    subject: Mapping[str, Any],
    *,
    ingress: Iterable[Mapping[str, Any]] | None = None,
    egress: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2); a direction left None has no rules."""
    spec: dict[str, Any] = {"tier": tier, "priority": priority, "subject": dict(subject)}
    if ingress is not None:
        spec["ingress"] = [dict(rule) for rule in ingress]
    if egress is not None:
        spec["egress"] = [dict(rule) for rule in egress]
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def state_of(objects: Iterable[Mapping[str, Any]], source: str = "test") -> ClusterState:
    return parse_objects([{"apiVersion": "v1", "kind": "List", "items": list(objects)}], source)


def verdict(state: ClusterState, source: str, target: str, port: int, protocol: str = "TCP") -> bool:
    """The engine's verdict, checked against the independent explanation."""
    engine = Engine(state)
    src = state.pod(source)
    assert src is not None, source
    dst = state.pod(target)
    if dst is None:
        allowed = engine.ip_allowed(engine.position[source], target, port, protocol)
        explained = Explainer(state).flow(src, target, port, protocol).allowed
    else:
        allowed = engine.pod_allowed(engine.position[source], engine.position[target], port, protocol)
        explained = Explainer(state).flow(src, dst, port, protocol).allowed
    assert allowed == explained, f"engine {allowed} != explain {explained} for {source} -> {target} {port}"
    return allowed
