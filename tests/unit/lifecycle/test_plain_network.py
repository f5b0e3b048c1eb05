"""The plain network: the exact `docker exec` lines per node, and a re-run that changes nothing."""

from __future__ import annotations

import json
import shlex

import pytest

from lab import pins
from lab.errors import LabError
from lab.lifecycle import plain_network
from lab.lifecycle.plain_network import CONFLIST_PATH, NodeNet
from tests.fakes import RecordingRunner
from tests.unit.lab_world import KUBECTL, World

NODES = [
    NodeNet("netpol-lab-control-plane", "192.168.0.0/24", "172.18.0.2"),
    NodeNet("netpol-lab-worker", "192.168.1.0/24", "172.18.0.3"),
    NodeNet("netpol-lab-worker2", "192.168.2.0/24", "172.18.0.4"),
]
MASQ = (
    "-s 192.168.0.0/16 '!' -d 192.168.0.0/16 -m comment --comment "
    "'netpol-lab plain network: masquerade pod traffic leaving the pod subnet' -j MASQUERADE"
)


def fresh_node_runner() -> RecordingRunner:
    """Nodes as kind creates them with no CNI: no config file, no routes to other nodes, no rule."""
    runner = RecordingRunner(strict=True)
    for node in NODES:
        runner.answer(f"docker exec {node.name} cat /sys/class/net/eth0/mtu", stdout="1500\n")
        runner.answer(
            f"docker exec {node.name} cat {CONFLIST_PATH}",
            1,
            "",
            f"cat: {CONFLIST_PATH}: No such file or directory",
        )
        runner.answer(
            f"docker exec {node.name} ip -4 route show",
            stdout="default via 172.18.0.1 dev eth0\n"
            f"172.18.0.0/16 dev eth0 proto kernel scope link src {node.internal_ip}\n",
        )
        runner.answer(f"docker exec {node.name} iptables -t nat -C POSTROUTING", 1, "", "iptables: Bad rule")
        runner.answer(f"docker exec {node.name} sh -c")
        runner.answer(f"docker exec {node.name} ip route replace")
        runner.answer(f"docker exec {node.name} iptables -t nat -A POSTROUTING")
    return runner


def wired_node_runner() -> RecordingRunner:
    """The same nodes after a first run: the config, routes and rule are there."""
    runner = RecordingRunner(strict=True)
    for node in NODES:
        runner.answer(f"docker exec {node.name} cat /sys/class/net/eth0/mtu", stdout="1500\n")
        runner.answer(
            f"docker exec {node.name} cat {CONFLIST_PATH}",
            stdout=plain_network.conflist(node.pod_cidr, 1500) + "\n",
        )
        routes = "default via 172.18.0.1 dev eth0\n" + "".join(
            f"{peer.pod_cidr} via {peer.internal_ip} dev eth0 \n" for peer in NODES if peer != node
        )
        runner.answer(f"docker exec {node.name} ip -4 route show", stdout=routes)
        runner.answer(f"docker exec {node.name} iptables -t nat -C POSTROUTING")
    return runner


def test_the_conflist_is_ptp_with_host_local_on_the_node_cidr_then_portmap() -> None:
    config = json.loads(plain_network.conflist("192.168.1.0/24", 1500))
    assert config["name"] == "netpol-lab-plain"
    ptp, portmap = config["plugins"]
    assert ptp["type"] == "ptp" and ptp["ipMasq"] is False and ptp["mtu"] == 1500
    assert ptp["ipam"] == {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "192.168.1.0/24"}]],
    }
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}
    assert "mtu" not in json.loads(plain_network.conflist("192.168.1.0/24", None))["plugins"][0]


def test_a_fresh_node_gets_config_routes_and_masquerade_in_exact_lines() -> None:
    runner = fresh_node_runner()
    said: list[str] = []
    plain_network.wire(runner, NODES, pins.POD_SUBNET, said.append)
    worker = [line for line in runner.lines if line.startswith("docker exec netpol-lab-worker ")]
    conflist = plain_network.conflist("192.168.1.0/24", 1500)
    assert worker == [
        "docker exec netpol-lab-worker cat /sys/class/net/eth0/mtu",
        f"docker exec netpol-lab-worker cat {CONFLIST_PATH}",
        "docker exec netpol-lab-worker sh -c "
        + shlex.quote('printf "%s\\n" "$1" > "$2.tmp" && mv "$2.tmp" "$2"')
        + f" sh {shlex.quote(conflist)} {CONFLIST_PATH}",
        "docker exec netpol-lab-worker ip -4 route show",
        "docker exec netpol-lab-worker ip route replace 192.168.0.0/24 via 172.18.0.2",
        "docker exec netpol-lab-worker ip route replace 192.168.2.0/24 via 172.18.0.4",
        f"docker exec netpol-lab-worker iptables -t nat -C POSTROUTING {MASQ}",
        f"docker exec netpol-lab-worker iptables -t nat -A POSTROUTING {MASQ}",
    ]
    # no node routes to its own pod CIDR (ptp gives each pod a host route on its veth)
    for node in NODES:
        assert (
            f"docker exec {node.name} ip route replace {node.pod_cidr} via {node.internal_ip}"
            not in runner.lines
        )
    assert said[1] == (
        "netpol-lab-worker: CNI config /etc/cni/net.d/10-netpol-lab.conflist (pods from 192.168.1.0/24); "
        "route 192.168.0.0/24 via 172.18.0.2 (netpol-lab-control-plane); "
        "route 192.168.2.0/24 via 172.18.0.4 (netpol-lab-worker2); "
        "masquerade for 192.168.0.0/16 leaving the pod subnet"
    )


def test_a_rerun_on_wired_nodes_only_looks() -> None:
    runner = wired_node_runner()  # strict: any write would be an unscripted command and fail
    said: list[str] = []
    assert plain_network.wire(runner, NODES, pins.POD_SUBNET, said.append) == []
    assert not any(" replace " in line or " -A " in line or " sh -c " in line for line in runner.lines)
    assert said == [f"{node.name}: already wired, nothing changed" for node in NODES]


def test_a_route_through_the_wrong_gateway_is_replaced() -> None:
    runner = wired_node_runner()
    runner.answer(
        "docker exec netpol-lab-worker ip -4 route show",
        stdout="192.168.0.0/24 via 172.18.0.9 dev eth0\n192.168.2.0/24 via 172.18.0.4 dev eth0\n",
    )
    runner.answer("docker exec netpol-lab-worker ip route replace")
    plain_network.wire(runner, NODES, pins.POD_SUBNET, lambda _: None)
    assert [line for line in runner.lines if " replace " in line] == [
        "docker exec netpol-lab-worker ip route replace 192.168.0.0/24 via 172.18.0.2"
    ]


def test_a_changed_mtu_rewrites_the_config() -> None:
    runner = wired_node_runner()
    runner.answer("docker exec netpol-lab-worker2 cat /sys/class/net/eth0/mtu", stdout="1400\n")
    runner.answer("docker exec netpol-lab-worker2 sh -c")
    plain_network.wire(runner, NODES, pins.POD_SUBNET, lambda _: None)
    [write] = [call for call in runner.calls if "sh" in call.argv and "-c" in call.argv]
    assert write.argv[2] == "netpol-lab-worker2"
    assert json.loads(write.argv[-2])["plugins"][0]["mtu"] == 1400


def test_a_failed_exec_is_one_line_with_the_rerun() -> None:
    runner = fresh_node_runner()
    runner.answer(
        "docker exec netpol-lab-worker ip route replace", 2, "", "Error: Nexthop has invalid gateway."
    )
    with pytest.raises(LabError) as raised:
        plain_network.wire(runner, NODES, pins.POD_SUBNET, lambda _: None)
    assert raised.value.message == (
        "adding the route to 192.168.0.0/24 on node netpol-lab-worker failed: Error: Nexthop has invalid "
        "gateway.; rerun `make lab-up CNI=plain` to carry on"
    )


def test_an_iptables_error_is_not_taken_for_a_missing_rule() -> None:
    runner = fresh_node_runner()
    runner.answer(
        "docker exec netpol-lab-worker iptables -t nat -C POSTROUTING", 4, "", "iptables: Resource problem"
    )
    with pytest.raises(LabError, match="looking for the masquerade rule on node netpol-lab-worker failed"):
        plain_network.wire(runner, NODES, pins.POD_SUBNET, lambda _: None)
    assert not any(
        line.startswith("docker exec netpol-lab-worker iptables -t nat -A") for line in runner.lines
    )


def test_a_node_without_a_pod_cidr_stops_before_any_exec() -> None:
    runner = RecordingRunner(strict=True)
    with pytest.raises(LabError, match="netpol-lab-worker2 have no pod CIDR"):
        plain_network.wire(
            runner, [*NODES[:2], NodeNet("netpol-lab-worker2", "", "172.18.0.4")], pins.POD_SUBNET, print
        )
    assert runner.lines == []


def test_node_networks_read_the_pod_cidr_and_internal_ip() -> None:
    assert plain_network.node_networks(World().nodes()) == NODES


def test_the_pod_cidr_phase_waits_for_every_node() -> None:
    runner = World(pod_cidrs=False).runner()
    phase = plain_network.pod_cidrs_phase(
        runner, lambda *a: ["kubectl", "--context", "kind-netpol-lab", *a], 3
    )
    check = phase.poll(True)
    assert not check.done and "no pod CIDR or InternalIP yet on netpol-lab-control-plane" in check.detail
    assert runner.lines == [f"{KUBECTL} get nodes -o json"]
    ready = World().runner()
    found: list[NodeNet] = []
    assert (
        plain_network.pod_cidrs_phase(
            ready, lambda *a: ["kubectl", "--context", "kind-netpol-lab", *a], 3, found
        )
        .poll(False)
        .done
    )
    assert found == NODES  # what the caller wires, without asking again
