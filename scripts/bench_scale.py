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

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


# -- running a whole command and measuring it ----------------------------------------------------


@dataclass
class Run:
    """One whole process: its wall and CPU time, the peak RSS of the child, what it printed."""

    label: str
    wall: float
    cpu: float
    peak_mib: float
    output_bytes: int
    status: int | None  # None: killed at the timeout
    stdout: Path

    def row(self) -> str:
        if self.status is None:
            return f"  {self.label:<34} did not finish in {self.wall:,.0f} s (peak {self.peak_mib:,.0f} MiB)"
        failed = "" if self.status == 0 else f"  (exit {self.status})"
        return (
            f"  {self.label:<34} {self.wall:8.2f} s wall {self.cpu:8.2f} s CPU {self.peak_mib:8.0f} MiB "
            f"{_size(self.output_bytes):>10}{failed}"
        )


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def measure(label: str, argv: list[str], timeout: float, folder: Path) -> Run:
    """Run ``argv`` with its output into a file; wait4 gives the child's own CPU time and peak RSS."""
    out_path = folder / (label.replace(" ", "_").replace("/", "_") + ".out")
    with open(out_path, "wb") as out, open(os.devnull, "wb") as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT)
        status: int | None = None
        while True:
            pid, wait_status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(wait_status)
                break
            if time.perf_counter() - start > timeout:
                child.kill()
                _, _, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
    child.returncode = -9 if status is None else status  # reaped by wait4: keep Popen from waiting
    # ru_maxrss is KiB on Linux, bytes on macOS
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Run(label, wall, usage.ru_utime + usage.ru_stime, peak, out_path.stat().st_size, status, out_path)


def lab_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab", *args]


def nca_command(venv: Path, state: Path, output_format: str) -> list[str]:
    return [
        str(venv / "bin" / "nca"),
        "--connectivity",
        "-r",
        str(state),
        "-o",
        output_format,
        "--output_endpoints",
        "pods",
    ]


# -- the same verdicts? --------------------------------------------------------------------------


def lab_tcp_pairs(expect_json: Path) -> set[tuple[str, str, int]]:
    """(source pod, destination pod, TCP port) that `expect --output json` opens between two pods."""
    groups: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    opened: set[tuple[str, str, int]] = set()
    with open(expect_json, encoding="utf-8") as lines:
        for text in lines:
            line = json.loads(text)
            if line["kind"] == "group":
                groups[line["id"]] = line["pods"]
            elif line["kind"] == "sources":
                sources[line["id"]] = line["groups"]
            elif line["kind"] == "flow" and line["protocol"] == "TCP" and line["to"] in groups:
                for group in sources.get(line["from"], []):
                    for source in groups[group]:
                        for destination in groups[line["to"]]:
                            if source != destination:
                                opened.add((source, destination, int(line["port"])))
    return opened


NCA_BLOCK = re.compile(r"\{([^}]*)\}")
NCA_CONNECTIONS = re.compile(r"protocols:(?P<protocols>[A-Za-z,]+?)(?:,dst_ports:(?P<ports>[\d,\-]+))?$")


def nca_allows(connections: str, port: int) -> bool | None:
    """Whether nca's connection words open TCP ``port``; None for words this script cannot read."""
    connections = connections.strip()
    if connections == "All connections":
        return True
    blocks = NCA_BLOCK.findall(connections)
    if not blocks:
        return None
    for block in blocks:
        match = NCA_CONNECTIONS.match(block.strip())
        if match is None:
            return None
        if "TCP" not in match["protocols"].split(","):
            continue
        if match["ports"] is None:
            return True
        for part in match["ports"].split(","):
            low, _, high = part.partition("-")
            if int(low) <= port <= int(high or low):
                return True
    return False


def compare_verdicts(state_items: list[dict[str, Any]], lab_json: Path, nca_txt: Path) -> str:
    """Every (pod, pod, TCP port the destination serves): do both tools give the same verdict?

    nca stands for the pods of one owner (a ReplicaSet) by two of them, the first two by name, and
    prints pairs of those alone: the comparison covers those pods."""
    serves: dict[str, list[int]] = {}
    by_owner: dict[tuple[str, str], list[str]] = {}
    for item in state_items:
        if item["kind"] == "Pod":
            key = f"{item['metadata']['namespace']}/{item['metadata']['name']}"
            ports = [p["containerPort"] for c in item["spec"]["containers"] for p in c.get("ports", [])]
            serves[key] = [p for p, c in zip(ports, _protocols(item), strict=True) if c == "TCP"]
            owner = (item["metadata"].get("ownerReferences") or [{"name": key}])[0]["name"]
            by_owner.setdefault((item["metadata"]["namespace"], owner), []).append(key)
    shown = {key for pods in by_owner.values() for key in sorted(pods)[:2]}
    serves = {key: ports for key, ports in serves.items() if key in shown}
    theirs: dict[tuple[str, str], str] = {}
    for text in nca_txt.read_text(encoding="utf-8").splitlines():
        source, arrow, rest = text.partition(" => ")
        destination, colon, connections = rest.partition(" : ")
        if arrow and colon and destination in serves and source in serves:
            theirs[(source, destination)] = connections
    ours = lab_tcp_pairs(lab_json)
    checked = differ = 0
    through_ip_block = 0
    explained = _ip_block_explainer(state_items)
    unread: set[str] = set()
    for source in serves:
        for destination, ports in serves.items():
            if source == destination:
                continue
            for port in ports:
                words = theirs.get((source, destination))
                nca = False if words is None else nca_allows(words, port)
                if nca is None:
                    unread.add(words or "")
                    continue
                checked += 1
                if nca != ((source, destination, port) in ours):
                    differ += 1
                    through_ip_block += explained(source, destination, port)
    said = f"{checked:,} pod-pair ports compared, {differ:,} differ"
    if differ:
        said += (
            f" ({through_ip_block:,} of them allowed here by an ipBlock holding a pod's IP: nca keeps "
            "ipBlocks to addresses outside the pods, Calico and this evaluator match pod IPs too)"
        )
    if unread:
        said += f"; nca words not read: {sorted(unread)[:3]}"
    return said


def _ip_block_explainer(state_items: list[dict[str, Any]]) -> Any:
    """(source, destination, port) -> whether a rule that allows it names an ipBlock (this
    evaluator's explanation; the benchmark's own check of why the tools differ)."""
    sys.path.insert(0, str(ROOT))
    from lab.policy.explain import Explainer
    from lab.policy.state import parse_objects

    state = parse_objects([{"kind": "List", "items": state_items}], "benchmark")
    explainer = Explainer(state)
    pods = {pod.key: pod for pod in state.pods}

    def through_ip_block(source: str, destination: str, port: int) -> bool:
        flow = explainer.flow(pods[source], pods[destination], port, "TCP")
        for side in (flow.egress, flow.ingress):
            if side.allowed_by is not None:
                policy, number = side.allowed_by
                rules = policy.egress if side is flow.egress else policy.ingress
                if any(peer.ip_block is not None for peer in rules[number].peers):
                    return True
        return False

    return through_ip_block


def _protocols(pod: dict[str, Any]) -> list[str]:
    return [p.get("protocol", "TCP") for c in pod["spec"]["containers"] for p in c.get("ports", [])]


# -- the benchmark -------------------------------------------------------------------------------


def explain_pair(items: list[dict[str, Any]]) -> tuple[str, str, str]:
    """A pod pair across namespaces and a port the destination serves, for `explain`."""
    pods = [i for i in items if i["kind"] == "Pod"]
    source, destination = pods[0], pods[-1]
    port = destination["spec"]["containers"][0]["ports"][0]["containerPort"]

    def key(pod: dict[str, Any]) -> str:
        return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"

    return key(source), key(destination), str(port)


def bench_size(pods: int, folder: Path, *, nca: Path | None, timeout: float) -> list[str]:
    size = SIZES[pods]
    items = synthetic_cluster(*size)
    state_yaml, state_json = write_states(*size, folder)
    lines = [
        f"{size[0]:,} pods, {size[1]:,} namespaces, {size[2]:,} policies "
        f"({_size(state_yaml.stat().st_size)} YAML)"
    ]
    src, dst, port = explain_pair(items)
    commands = {
        "expect (table)": lab_command("expect", "--state", str(state_yaml)),
        "expect --output json": lab_command("expect", "--state", str(state_yaml), "--output", "json"),
        "expect --output json (JSON in)": lab_command(
            "expect", "--state", str(state_json), "--output", "json"
        ),
        "explain one pair": lab_command("explain", "--state", str(state_yaml), src, dst, port),
        "explain one pair (JSON in)": lab_command("explain", "--state", str(state_json), src, dst, port),
    }
    runs = [measure(label, argv, timeout, folder) for label, argv in commands.items()]
    lines += [run.row() for run in runs]
    if nca is not None:
        ours = runs[1]
        per_pair = measure(
            "nca -o txt_no_fw_rules", nca_command(nca, state_yaml, "txt_no_fw_rules"), timeout, folder
        )
        as_json = measure("nca -o json", nca_command(nca, state_yaml, "json"), timeout, folder)
        lines += [per_pair.row(), as_json.row()]
        for theirs in (per_pair, as_json):
            if theirs.status == 0 and ours.status == 0:
                lines.append(
                    f"  {theirs.label} / expect --output json: "
                    f"{theirs.cpu / max(ours.cpu, 1e-9):.1f}x the CPU time, "
                    f"{theirs.peak_mib / max(ours.peak_mib, 1e-9):.1f}x the peak memory"
                )
        if pods <= VERIFY_UP_TO and per_pair.status == 0 and ours.status == 0:
            lines.append("  same verdicts? " + compare_verdicts(items, ours.stdout, per_pair.stdout))
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help=f"pod counts, of {sorted(SIZES)}"
    )
    parser.add_argument("--nca", type=Path, metavar="VENV", help="a virtualenv with network-config-analyzer")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command (default 600)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the state files and outputs here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}: choose from {sorted(SIZES)}")
    if args.nca is not None and not (args.nca / "bin" / "nca").is_file():
        parser.error(
            f"{args.nca}/bin/nca is not there: pip install network-config-analyzer into that virtualenv"
        )
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; each command a whole process, "
        f"timeout {args.timeout:g} s"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for pods in sizes:
            folder = (args.keep or Path(scratch)) / f"{pods}-pods"
            for line in bench_size(pods, folder, nca=args.nca, timeout=args.timeout):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
