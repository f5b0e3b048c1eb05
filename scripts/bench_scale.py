#!/usr/bin/env python3
"""Benchmark `netpol-lab expect` and `explain` at cluster scale, as whole processes, and print the figures.

Writes seeded synthetic clusters as state files (kubectl's List, YAML and JSON) at (pods,
namespaces, policies) = (200, 20, 50), (1,000, 100, 250), (2,000, 100, 500) and (10,000, 500,
2,000): Deployments with replicas and named container ports, a default deny per namespace,
cross-namespace allows on named and numeric ports (namespaceSelector and podSelector, with
matchExpressions), egress to ipBlocks with except (some cutting through the pod network), DNS.
Then runs the real CLI on each file (`expect` in its default table, `--output json`, and
`explain` for one pair), and prints per run the wall time, CPU time, peak RSS of the child
process and the size of what it printed.

With `--nca VENV` it runs network-config-analyzer (`nca`) from that separate virtualenv on the
same YAML files, in its per-pair text mode (`-o txt_no_fw_rules --output_endpoints pods`) and
its JSON mode, checks on the small sizes that both tools give the same verdict for every pod
pair on TCP, and prints the ratios (CPU time and peak memory, nca / netpol-lab). nca is a
benchmark peer only; install it apart:

    python3 -m venv /tmp/nca-venv && /tmp/nca-venv/bin/pip install network-config-analyzer
    .venv/bin/python scripts/bench_scale.py --nca /tmp/nca-venv
    .venv/bin/python scripts/bench_scale.py --sizes 2000 --timeout 600 --keep /tmp/states
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES: dict[int, tuple[int, int, int]] = {  # pods -> (pods, namespaces, policies)
    200: (200, 20, 50),
    1000: (1000, 100, 250),
    2000: (2000, 100, 500),
    5000: (5000, 250, 1000),
    10000: (10000, 500, 2000),
}
DEFAULT_SIZES = (200, 1000, 2000, 10000)
VERIFY_UP_TO = 1000  # pods: on these sizes both tools' verdicts are compared pair by pair

# What a Deployment's pods serve: (port name, number, protocol).
SERVES: tuple[tuple[tuple[str, int, str], ...], ...] = (
    (("http", 8080, "TCP"), ("metrics", 9090, "TCP")),
    (("grpc", 50051, "TCP"), ("metrics", 9090, "TCP")),
    (("sql", 5432, "TCP"),),
    (("http", 80, "TCP"), ("dns", 53, "UDP")),
)
TIERS = ("web", "api", "db", "cache")


# -- the synthetic cluster ------------------------------------------------------------------------


def _pod(
    namespace: str, app: str, index: int, replica: int, labels: dict[str, str], ip: str
) -> dict[str, Any]:
    serves = SERVES[index % len(SERVES)]
    name = f"{app}-{index:05x}{replica:04x}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, "pod-template-hash": f"{index:08x}"},
            "uid": f"00000000-0000-4000-8000-{index:06x}{replica:06x}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-{index:08x}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": app,
                    "image": "registry.example/app:1.0",
                    "ports": [{"name": n, "containerPort": p, "protocol": proto} for n, p, proto in serves],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
                }
            ],
            "nodeName": f"node-{replica % 8}",
            "serviceAccountName": "default",
        },
        "status": {
            "phase": "Running",
            "hostIP": f"172.18.0.{2 + replica % 8}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _policy(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def synthetic_cluster(pods: int, namespaces: int, policies: int, seed: int = 14) -> list[dict[str, Any]]:
    """The objects of one synthetic cluster, the same for the same arguments."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    names = [f"ns{n:03d}" for n in range(namespaces)]
    for n, name in enumerate(names):
        labels = {
            "kubernetes.io/metadata.name": name,
            "team": f"t{n % 10}",
            "env": "prod" if n % 3 else "dev",
        }
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    # Deployments of 1-8 replicas, spread over the namespaces; pod IPs in 10.244.0.0/16 and up.
    apps: list[tuple[str, str, dict[str, str], int]] = []  # namespace, app, labels, index
    made = 0
    index = 0
    while made < pods:
        namespace = names[index % namespaces]
        app = f"app{index // namespaces}"
        labels = {"app": app, "tier": TIERS[index % len(TIERS)]}
        if rng.random() < 0.2:
            labels["canary"] = "true"
        replicas = min(rng.randint(1, 8), pods - made)
        for replica in range(replicas):
            address = 0x0AF40000 + made + 1  # 10.244.0.1, ...
            ip = ".".join(str(address >> shift & 255) for shift in (24, 16, 8, 0))
            items.append(_pod(namespace, app, index, replica, labels, ip))
            made += 1
        apps.append((namespace, app, labels, index))
        index += 1
    count = 0
    for n, name in enumerate(names):  # a default deny per namespace (ingress only in every third)
        if count >= policies:
            break
        types = ["Ingress"] if n % 3 == 0 else ["Ingress", "Egress"]
        items.append(_policy(name, "default-deny", {"podSelector": {}, "policyTypes": types}))
        count += 1
    client = server = apps[0]
    while count < policies:
        if count % 4 == 0:  # four policies about one client and one server: both sides of the flows
            client, server = rng.choice(apps), rng.choice(apps)
        serves = SERVES[server[3] % len(SERVES)]
        port_name, number, protocol = serves[0]
        kind = count % 4
        if kind == 0:  # the server admits the client's app from the client's namespace, on a named port
            spec: dict[str, Any] = {
                "podSelector": {"matchLabels": {"app": server[1]}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": client[0]}
                                },
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "app", "operator": "In", "values": [client[1], "app0"]}
                                    ]
                                },
                            }
                        ],
                        "ports": [{"port": port_name, "protocol": protocol}],
                    }
                ],
            }
            home = server[0]
        elif kind == 1:  # the client may reach the server's pods, on the numeric port
            spec = {
                "podSelector": {"matchLabels": {"app": client[1]}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"team": f"t{names.index(server[0]) % 10}"}
                                },
                                "podSelector": {"matchLabels": {"tier": server[2]["tier"]}},
                            }
                        ],
                        "ports": [{"port": number, "protocol": protocol}],
                    }
                ],
            }
            home = client[0]
        elif kind == 2:  # a team's namespaces may reach the server's metrics range
            spec = {
                "podSelector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": [server[1]]}]
                },
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {"matchLabels": {"team": f"t{rng.randrange(10)}"}}}],
                        "ports": [{"port": 8000, "endPort": 9999, "protocol": "TCP"}],
                    }
                ],
            }
            home = server[0]
        else:  # a tier goes out on 443 (not to the pod network or the metadata address) and scrapes
            # metrics across the pod network but for one /24
            cut = rng.randrange(max(1, pods // 256))
            spec = {
                "podSelector": {
                    "matchLabels": {"tier": client[2]["tier"]},
                    "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.169.254/32"]}}
                        ],
                        "ports": [{"port": 443, "protocol": "TCP"}],
                    },
                    {
                        "to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": [f"10.244.{cut}.0/24"]}}],
                        "ports": [{"port": 9090, "protocol": "TCP"}],
                    },
                ],
            }
            home = client[0]
        items.append(_policy(home, f"np{count:05d}", spec))
        count += 1
    return items


def write_states(pods: int, namespaces: int, policies: int, folder: Path) -> tuple[Path, Path]:
    """The cluster as ``cluster.yaml`` and ``cluster.json`` (both a kubectl List) in ``folder``."""
    import yaml

    listing = {"apiVersion": "v1", "kind": "List", "items": synthetic_cluster(pods, namespaces, policies)}
    folder.mkdir(parents=True, exist_ok=True)
    yaml_path = folder / "cluster.yaml"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(yaml_path, "w", encoding="utf-8") as stream:
        yaml.dump(listing, stream, Dumper=dumper, sort_keys=False)
    json_path = folder / "cluster.json"
    json_path.write_text(json.dumps(listing, indent=2), encoding="utf-8")
    return yaml_path, json_path
