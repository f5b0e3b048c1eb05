"""The evaluator judges each protocol on its own (networking.k8s.io/v1 NetworkPolicyPort: the
protocol "defaults to TCP"): a rule opens only the protocols it names, on both sides, towards pods
and towards addresses that are no pod, for Kubernetes, Calico and ClusterNetworkPolicy rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.policy.builders import cnp, namespace, pod, policy, state_of, verdict

PORTS = [("tcp", 53, "TCP"), ("udp", 53, "UDP"), ("sctp", 53, "SCTP")]


def world(*policies: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        namespace("a"),
        namespace("b"),
        pod("a/server", "10.1.0.1", {"app": "server"}, PORTS),
        pod("b/client", "10.1.0.2", {"app": "client"}, PORTS),
        *policies,
    ]


def ingress(ports: list[dict[str, Any]]) -> dict[str, Any]:
    return policy(
        "a", "in", {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"ports": ports}]}
    )


def egress(ports: list[dict[str, Any]], to: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"ports": ports}
    if to is not None:
        rule["to"] = to
    return policy("b", "out", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]})


@pytest.mark.parametrize(
    ("ports", "opened"),
    [
        ([{"port": 53}], {"TCP"}),  # no protocol: TCP
        ([{"port": 53, "protocol": "UDP"}], {"UDP"}),  # UDP only: TCP stays closed
        ([{"port": 53, "protocol": "SCTP"}], {"SCTP"}),
        ([{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], {"UDP", "TCP"}),
        ([{"protocol": "UDP"}], {"UDP"}),  # a protocol without a port: every port of that protocol
        ([{"port": 50, "endPort": 60, "protocol": "UDP"}], {"UDP"}),
        ([{"port": "udp", "protocol": "UDP"}], {"UDP"}),  # a named port resolves with its protocol
        ([{"port": "udp"}], set()),  # the name is a UDP port, the entry means TCP: nothing matches
    ],
)
def test_an_ingress_rule_opens_only_the_protocols_it_names(
    ports: list[dict[str, Any]], opened: set[str]
) -> None:
    state = state_of(world(ingress(ports)))
    for protocol in ("TCP", "UDP", "SCTP"):
        assert verdict(state, "b/client", "a/server", 53, protocol) == (protocol in opened), protocol


@pytest.mark.parametrize(
    ("ports", "opened"),
    [
        ([{"port": 53}], {"TCP"}),
        ([{"port": 53, "protocol": "UDP"}], {"UDP"}),
        ([{"port": 53, "protocol": "SCTP"}], {"SCTP"}),
    ],
)
def test_an_egress_rule_opens_only_its_protocols_towards_pods_and_addresses(
    ports: list[dict[str, Any]], opened: set[str]
) -> None:
    state = state_of(world(egress(ports)))
    for protocol in ("TCP", "UDP", "SCTP"):
        assert verdict(state, "b/client", "a/server", 53, protocol) == (protocol in opened), protocol
        assert verdict(state, "b/client", "8.8.8.8", 53, protocol) == (protocol in opened), protocol


def test_an_ip_block_rule_for_udp_dns_does_not_open_tcp_dns() -> None:
    out = egress([{"port": 53, "protocol": "UDP"}], to=[{"ipBlock": {"cidr": "8.8.8.0/24"}}])
    state = state_of(world(out))
    assert verdict(state, "b/client", "8.8.8.8", 53, "UDP")
    assert not verdict(state, "b/client", "8.8.8.8", 53, "TCP")  # the trap: large answers fail


def test_a_calico_rule_protocol_limits_its_ports() -> None:
    gnp = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "udp-dns"},
        "spec": {
            "order": 10,
            "selector": "app == 'client'",
            "types": ["Egress"],
            "egress": [
                {"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}},
                {"action": "Deny"},
            ],
        },
    }
    state = state_of(world(gnp))
    assert verdict(state, "b/client", "a/server", 53, "UDP")
    assert not verdict(state, "b/client", "a/server", 53, "TCP")
    assert not verdict(state, "b/client", "8.8.8.8", 53, "TCP")


def test_a_cluster_network_policy_denies_only_the_protocol_it_names() -> None:
    deny = cnp(
        "deny-udp",
        "Admin",
        10,
        {"namespaces": {}},
        egress=[
            {
                "action": "Deny",
                "to": [{"namespaces": {}}],
                "protocols": [{"udp": {"destinationPort": {"number": 53}}}],
            }
        ],
    )
    state = state_of(world(deny))
    assert not verdict(state, "b/client", "a/server", 53, "UDP")
    assert verdict(state, "b/client", "a/server", 53, "TCP")
    assert verdict(state, "b/client", "a/server", 53, "SCTP")
