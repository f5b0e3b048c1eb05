#!/usr/bin/env python3
"""Benchmark the policy engine on a synthetic cluster and print the figures.

Generates namespaces, pods and NetworkPolicies that mix every selector kind (matchLabels,
matchExpressions In/NotIn/Exists/DoesNotExist, namespaceSelector, both in one peer), ipBlocks
with except, named ports and endPort ranges; then times the full pod-to-pod matrix for one
port, measures peak memory, compares with a naive per-pair evaluator kept here as the
baseline (verdicts checked identical on a small cluster and on sampled pairs of the big one),
and times `explain` for single pairs.

    .venv/bin/python scripts/bench_engine.py                 # 2000 pods, 100 namespaces, 500 policies
    .venv/bin/python scripts/bench_engine.py --pods 500 --namespaces 25 --policies 120
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.model import ClusterState, Peer, Pod, Policy, Rule
from lab.policy.state import parse_objects

APPS = [f"app{i}" for i in range(40)]
TIERS = ["web", "api", "db", "cache"]
PORTS = [("http", 80, "TCP"), ("metrics", 9090, "TCP"), ("dns", 53, "UDP")]


def selector(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(6)
    if kind == 0:
        return {}
    if kind == 1:
        return {"matchLabels": {"app": rng.choice(APPS)}}
    if kind == 2:
        return {"matchLabels": {"tier": rng.choice(TIERS)}}
    if kind == 3:
        return {"matchExpressions": [{"key": "tier", "operator": "In", "values": rng.sample(TIERS, 2)}]}
    if kind == 4:
        return {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": rng.sample(APPS, 3)}]}
    op = rng.choice(["Exists", "DoesNotExist"])
    return {
        "matchLabels": {"tier": rng.choice(TIERS)},
        "matchExpressions": [{"key": "canary", "operator": op}],
    }


def ns_selector(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(4)
    if kind == 0:
        return {}
    if kind == 1:
        return {"matchLabels": {"team": f"t{rng.randrange(10)}"}}
    if kind == 2:
        return {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}
    return {"matchLabels": {"kubernetes.io/metadata.name": f"ns{rng.randrange(1000)}"}}


def peer(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(5)
    if kind == 0:
        return {"podSelector": selector(rng)}
    if kind == 1:
        return {"namespaceSelector": ns_selector(rng)}
    if kind == 2:
        return {"podSelector": selector(rng), "namespaceSelector": ns_selector(rng)}
    if kind == 3:
        base = rng.randrange(64)
        return {"ipBlock": {"cidr": f"10.{base}.0.0/16", "except": [f"10.{base}.{rng.randrange(256)}.0/24"]}}
    return {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}


def port(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(4)
    if kind == 0:
        return {"port": 80}
    if kind == 1:
        return {"port": "http"}
    if kind == 2:
        return {"port": 8000, "endPort": 9100}
    return {"port": "dns", "protocol": "UDP"}


def rule(rng: random.Random, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.85:
        out[key] = [peer(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.7:
        out["ports"] = [port(rng) for _ in range(rng.randint(1, 2))]
    return out


def synthetic(pods: int, namespaces: int, policies: int, seed: int = 7) -> ClusterState:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for n in range(namespaces):
        labels = {"team": f"t{n % 10}", "env": "prod" if n % 3 else "dev"}
        items.append({"kind": "Namespace", "metadata": {"name": f"ns{n}", "labels": labels}})
    for i in range(pods):
        labels = {"app": rng.choice(APPS), "tier": rng.choice(TIERS)}
        if rng.random() < 0.1:
            labels["canary"] = "true"
        ports = [{"name": n, "containerPort": p, "protocol": proto} for n, p, proto in PORTS]
        items.append(
            {
                "kind": "Pod",
                "metadata": {"name": f"p{i}", "namespace": f"ns{i % namespaces}", "labels": labels},
                "spec": {"containers": [{"name": "c", "ports": ports}]},
                "status": {"podIP": f"10.{i // 250}.{i % 250}.{1 + i % 200}"},
            }
        )
    for j in range(policies):
        spec: dict[str, Any] = {"podSelector": selector(rng)}
        kind = rng.randrange(4)
        if kind == 0:  # default deny, both directions
            spec["policyTypes"] = ["Ingress", "Egress"]
        elif kind == 1:
            spec["ingress"] = [rule(rng, "from") for _ in range(rng.randint(1, 3))]
        elif kind == 2:
            spec["policyTypes"] = ["Egress"]
            spec["egress"] = [rule(rng, "to") for _ in range(rng.randint(1, 3))]
        else:
            spec["ingress"] = [rule(rng, "from")]
            spec["egress"] = [rule(rng, "to")]
        items.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np{j}", "namespace": f"ns{rng.randrange(namespaces)}"},
                "spec": spec,
            }
        )
    return parse_objects([{"kind": "List", "items": items}], "synthetic")


# -- the naive baseline: every pair, every policy, straight from the definitions ------------------


def _peer_has(state: ClusterState, peer: Peer, policy: Policy, other: Pod) -> bool:
    if peer.ip_block is not None:
        return other.ip is not None and peer.ip_block.contains(other.ip)
    if peer.namespace_selector is None:
        assert peer.pod_selector is not None
        return other.namespace == policy.namespace and peer.pod_selector.matches(other.labels)
    if not peer.namespace_selector.matches(state.namespace_labels(other.namespace)):
        return False
    return peer.pod_selector is None or peer.pod_selector.matches(other.labels)


def _ports_admit(rule: Rule, dst: Pod, number: int, protocol: str) -> bool:
    if not rule.ports:
        return True
    for entry in rule.ports:
        if entry.protocol != protocol:
            continue
        if entry.port is None:
            return True
        if isinstance(entry.port, int):
            if entry.port <= number <= (entry.end_port or entry.port):
                return True
        elif any(c.name == entry.port and c.port == number and c.protocol == protocol for c in dst.ports):
            return True
    return False


def _side(
    state: ClusterState, pod: Pod, other: Pod, dst: Pod, number: int, protocol: str, ingress: bool
) -> bool:
    wanted = "Ingress" if ingress else "Egress"
    isolated = False
    for policy in state.policies:
        if (
            wanted not in policy.types
            or policy.namespace != pod.namespace
            or not policy.pod_selector.matches(pod.labels)
        ):
            continue
        isolated = True
        for rule in policy.ingress if ingress else policy.egress:
            if _ports_admit(rule, dst, number, protocol) and (
                not rule.peers or any(_peer_has(state, p, policy, other) for p in rule.peers)
            ):
                return True
    return not isolated


def naive_allowed(state: ClusterState, src: Pod, dst: Pod, number: int, protocol: str) -> bool:
    if src.key == dst.key:
        return True
    return _side(state, src, dst, dst, number, protocol, False) and _side(
        state, dst, src, dst, number, protocol, True
    )


# -- measuring ---------------------------------------------------------------------------------


def check_identical(state: ClusterState, engine: Engine, pairs: list[tuple[int, int]], number: int) -> int:
    matrix = engine.matrix(number, "TCP")
    for s, d in pairs:
        want = naive_allowed(state, engine.pods[s], engine.pods[d], number, "TCP")
        if bool(matrix[d] >> s & 1) != want:
            raise SystemExit(f"MISMATCH {engine.pods[s].key} -> {engine.pods[d].key}: naive {want}")
    return len(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--sample", type=int, default=3000, help="pairs timed with the naive baseline")
    args = parser.parse_args()

    small = synthetic(200, 10, 50, seed=3)
    small_engine = Engine(small)
    everything = [(s, d) for s in range(len(small_engine.pods)) for d in range(len(small_engine.pods))]
    checked = sum(check_identical(small, small_engine, everything, p) for p in (80, 9090, 8500))
    print(
        "identical verdicts, engine vs naive, small cluster (200 pods, 50 policies, 3 ports): "
        f"{checked} pairs"
    )

    started = time.perf_counter()
    state = synthetic(args.pods, args.namespaces, args.policies)
    built = time.perf_counter() - started
    count = len(state.pods)
    print(
        f"synthetic cluster: {count} pods, {args.namespaces} namespaces, {len(state.policies)} policies "
        f"(generated and parsed in {built:.2f} s)"
    )

    tracemalloc.start()
    started = time.perf_counter()
    engine = Engine(state)
    compiled = time.perf_counter() - started
    matrix = engine.matrix(args.port, "TCP")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    verdicts = count * count
    allowed = sum(m.bit_count() if hasattr(m, "bit_count") else bin(m).count("1") for m in matrix)
    print(
        f"engine: compile {compiled:.2f} s, full matrix TCP {args.port}: {elapsed:.2f} s in all, "
        f"{verdicts:,} verdicts ({allowed:,} allowed), {verdicts / elapsed:,.0f} verdicts/s"
    )
    print(
        f"engine peak memory (tracemalloc): {peak / 2**20:.1f} MiB; "
        f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )

    rng = random.Random(11)
    pairs = [(rng.randrange(count), rng.randrange(count)) for _ in range(args.sample)]
    started = time.perf_counter()
    for s, d in pairs:
        naive_allowed(state, engine.pods[s], engine.pods[d], args.port, "TCP")
    per_pair = (time.perf_counter() - started) / len(pairs)
    naive_total = per_pair * verdicts
    check_identical(state, engine, pairs, args.port)
    print(
        f"naive per-pair baseline: {per_pair * 1e6:.0f} us/pair -> {naive_total:.0f} s for the full matrix "
        f"(extrapolated from {len(pairs)} timed pairs, all identical to the engine)"
    )
    print(f"engine vs naive: {naive_total / elapsed:.0f}x faster")

    explainer = Explainer(state)
    started = time.perf_counter()
    Explainer(state).flow(engine.pods[0], engine.pods[1], args.port)
    cold = time.perf_counter() - started
    latencies = []
    for s, d in pairs[:200]:
        started = time.perf_counter()
        explainer.flow(engine.pods[s], engine.pods[d], args.port)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    print(
        f"explain one pair: first (cold) {cold * 1e3:.1f} ms; "
        f"then median {latencies[len(latencies) // 2] * 1e3:.2f} ms, "
        f"max {latencies[-1] * 1e3:.2f} ms over {len(latencies)} pairs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
