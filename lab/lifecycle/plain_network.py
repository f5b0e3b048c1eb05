"""The `plain` network: pods get addresses and routes, and nothing ever enforces a NetworkPolicy.

It does by hand, once, what kind's own kindnetd does in a loop (read at kind v0.32.0,
images/kindnetd/cmd/kindnetd/), without kindnetd's policy controller:

- cni.go: each node gets a CNI conflist using the `ptp` plugin (a veth pair per pod, the host
  end as the pod's gateway) with `host-local` IPAM on that node's ``.spec.podCIDR``, a default
  route for the pods, and `portmap`. It is written under a name CNI ignores and then renamed,
  so the container runtime never loads a half-written file.
- routes.go: on each node, a route to every other node's podCIDR via that node's InternalIP
  (a route to the same subnet through another gateway is replaced).
- masq.go: pod traffic that leaves the pod subnet is masqueraded (kindnetd keeps a nat chain
  that RETURNs for the pod subnet and masquerades the rest; one POSTROUTING rule does the same
  for the pods here).

Every step is a `docker exec` on the node container (kind names each container after its
node) through the Runner, so each is echoed as a line to copy. Each step looks before it
writes: a re-run on a wired node changes nothing and adds no duplicate route or rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lab.boundary import kubeobjects
from lab.boundary.runner import Result, Runner
from lab.errors import LabError
from lab.lifecycle import waits

CONFLIST_PATH = "/etc/cni/net.d/10-netpol-lab.conflist"
NETWORK_NAME = "netpol-lab-plain"
# kindnetd's choice too: on /run, so the leases go with the node container's pods when it restarts.
IPAM_DATA_DIR = "/run/cni-ipam-state"
MASQ_COMMENT = "netpol-lab plain network: masquerade pod traffic leaving the pod subnet"
# Write under a suffix CNI does not load (it reads .conf, .conflist and .json), then rename.
WRITE_SCRIPT = 'printf "%s\\n" "$1" > "$2.tmp" && mv "$2.tmp" "$2"'
EXEC_TIMEOUT = 60.0

KubectlArgv = Callable[..., list[str]]


@dataclass(frozen=True)
class NodeNet:
    """What wiring a node needs: its name (= kind's container name), pod CIDR and InternalIP."""

    name: str
    pod_cidr: str
    internal_ip: str


def node_networks(nodes: Sequence[kubeobjects.Obj]) -> list[NodeNet]:
    """Each node's pod CIDR and InternalIP, from `kubectl get nodes -o json`, in name order."""
    found = []
    for node in nodes:
        cidr = str(node.get("spec", {}).get("podCIDR") or "")
        found.append(NodeNet(kubeobjects.name(node), cidr, kubeobjects.node_internal_ip(node)))
    return sorted(found, key=lambda n: n.name)


def pod_cidrs_phase(
    runner: Runner, kubectl: KubectlArgv, expected: int, found: list[NodeNet] | None = None
) -> waits.Phase:
    """Every node has a pod CIDR (the controller manager hands them out) and an InternalIP.

    ``found`` receives the nodes of the last poll, so the caller can wire them without asking
    the API server again.
    """

    def poll(echo: bool) -> waits.Check:
        result = runner.run(kubectl("get", "nodes", "-o", "json"), timeout=30, echo=echo)
        if result.dry_run:
            return waits.Check(True)
        if not result.ok:
            return waits.Check(False, result.error_line())
        nets = node_networks(kubeobjects.items(result.stdout))
        if found is not None:
            found[:] = nets
        waiting = [n.name for n in nets if not (n.pod_cidr and n.internal_ip)]
        if len(nets) >= expected and not waiting:
            return waits.Check(True)
        if waiting:
            return waits.Check(False, f"no pod CIDR or InternalIP yet on {', '.join(waiting)}")
        return waits.Check(False, f"{len(nets)}/{expected} nodes registered")

    return waits.Phase(f"{expected} nodes have a pod CIDR", poll)


def planned_nodes(cluster_name: str) -> list[NodeNet]:
    """Stand-ins for the dry-run plan: kind's node names, the values `up` reads from the API."""
    names = [f"{cluster_name}-control-plane", f"{cluster_name}-worker", f"{cluster_name}-worker2"]
    return [NodeNet(name, f"<podCIDR of {name}>", f"<InternalIP of {name}>") for name in names]


def conflist(pod_cidr: str, mtu: int | None) -> str:
    """The node's CNI config: ptp + host-local on ``pod_cidr``, then portmap (one JSON line)."""
    ptp: dict[str, object] = {
        "type": "ptp",
        "ipMasq": False,  # masquerading is one node-wide rule instead (see masquerade_rule)
        "ipam": {
            "type": "host-local",
            "dataDir": IPAM_DATA_DIR,
            "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": pod_cidr}]],
        },
    }
    if mtu:
        ptp["mtu"] = mtu  # as kindnetd does: the node's eth0 MTU, so pods fit the Docker network
    config = {
        "cniVersion": "0.3.1",
        "name": NETWORK_NAME,
        "plugins": [ptp, {"type": "portmap", "capabilities": {"portMappings": True}}],
    }
    return json.dumps(config, separators=(",", ":"))


def docker_exec(node: str, *argv: str) -> list[str]:
    return ["docker", "exec", node, *argv]


def write_conflist_argv(node: str, text: str) -> list[str]:
    return docker_exec(node, "sh", "-c", WRITE_SCRIPT, "sh", text, CONFLIST_PATH)


def masquerade_rule(pod_subnet: str) -> list[str]:
    return [
        "-s", pod_subnet, "!", "-d", pod_subnet,
        "-m", "comment", "--comment", MASQ_COMMENT,
        "-j", "MASQUERADE",
    ]  # fmt: skip


def routes_to_add(route_table: str, peers: Sequence[NodeNet]) -> list[NodeNet]:
    """The peers whose pod CIDR is not yet routed via their InternalIP (`ip -4 route show` output)."""
    present = set()
    for line in route_table.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "via":
            present.add((words[0], words[2]))
    return [peer for peer in peers if (peer.pod_cidr, peer.internal_ip) not in present]


def _must(result: Result, node: str, doing: str) -> Result:
    if result.ok or result.dry_run:
        return result
    raise result.failure(f"{doing} on node {node}", "rerun `make lab-up CNI=plain` to carry on")


def wire_node(runner: Runner, node: NodeNet, peers: Sequence[NodeNet], pod_subnet: str) -> list[str]:
    """Give ``node`` its CNI config, routes to ``peers`` and the masquerade rule; returns what changed."""
    changed = []
    mtu_read = runner.run(docker_exec(node.name, "cat", "/sys/class/net/eth0/mtu"), timeout=EXEC_TIMEOUT)
    _must(mtu_read, node.name, "reading the MTU of eth0")
    mtu = int(mtu_read.stdout.strip()) if mtu_read.stdout.strip().isdigit() else None

    wanted = conflist(node.pod_cidr, mtu)
    current = runner.run(docker_exec(node.name, "cat", CONFLIST_PATH), timeout=EXEC_TIMEOUT)
    if current.not_found:
        _must(current, node.name, "reading the CNI config")
    if not (current.ok and current.stdout.strip() == wanted):
        _must(
            runner.run(write_conflist_argv(node.name, wanted), timeout=EXEC_TIMEOUT),
            node.name,
            "writing the CNI config",
        )
        changed.append(f"CNI config {CONFLIST_PATH} (pods from {node.pod_cidr})")

    table = _must(
        runner.run(docker_exec(node.name, "ip", "-4", "route", "show"), timeout=EXEC_TIMEOUT),
        node.name,
        "list the routes",
    )
    for peer in routes_to_add(table.stdout, peers):
        argv = docker_exec(node.name, "ip", "route", "replace", peer.pod_cidr, "via", peer.internal_ip)
        _must(runner.run(argv, timeout=EXEC_TIMEOUT), node.name, f"adding the route to {peer.pod_cidr}")
        changed.append(f"route {peer.pod_cidr} via {peer.internal_ip} ({peer.name})")

    rule = masquerade_rule(pod_subnet)
    check = runner.run(
        docker_exec(node.name, "iptables", "-t", "nat", "-C", "POSTROUTING", *rule), timeout=EXEC_TIMEOUT
    )
    if check.not_found or check.exit_code not in (0, 1):  # iptables -C: 0 present, 1 absent
        _must(check, node.name, "looking for the masquerade rule")
    if check.exit_code == 1 or check.dry_run:
        argv = docker_exec(node.name, "iptables", "-t", "nat", "-A", "POSTROUTING", *rule)
        _must(runner.run(argv, timeout=EXEC_TIMEOUT), node.name, "adding the masquerade rule")
        changed.append(f"masquerade for {pod_subnet} leaving the pod subnet")
    return changed


def wire(runner: Runner, nodes: Sequence[NodeNet], pod_subnet: str, out: Callable[[str], None]) -> list[str]:
    """Wire every node; one line per node says what changed (or that nothing did)."""
    missing = [n.name for n in nodes if not (n.pod_cidr and n.internal_ip)]
    if missing:
        raise LabError(
            f"node(s) {', '.join(missing)} have no pod CIDR or InternalIP: the plain network needs both; "
            "rerun `make lab-up CNI=plain`, or rebuild with `make lab-down && make lab-up CNI=plain`"
        )
    changes = []
    for node in nodes:
        peers = [peer for peer in nodes if peer.name != node.name]
        changed = wire_node(runner, node, peers, pod_subnet)
        if not runner.dry_run:
            out(f"{node.name}: " + ("; ".join(changed) if changed else "already wired, nothing changed"))
        changes += changed
    return changes
