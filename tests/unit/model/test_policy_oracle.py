"""The model's own policy oracle (tests/model/policy_oracle.py), checked on the API's cases: it decides
the live exercise checks, so it must be right on its own, apart from the lab's evaluator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.model.policy_oracle import End, Oracle, selects


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def pod(
    namespace: str, name: str, ip: str, ports: tuple[tuple[str, int], ...] = (), **labels: str
) -> dict[str, Any]:
    declared = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"containers": [{"ports": declared}]},
        "status": {"podIP": ip},
    }


def np(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": "p"}, "spec": spec}


NAMESPACES = [ns("a"), ns("b", team="x")]
SERVER = pod("a", "server", "10.0.0.1", (("metrics", 9100),), role="db")
FRIEND = pod("b", "friend", "10.0.0.2", role="app")
STRANGER = pod("b", "stranger", "10.0.0.3")
LOCAL = pod("a", "local", "10.0.0.4", role="app")


def allowed(
    policies: list[dict[str, Any]], source: dict[str, Any], port: int = 80, cnps: list[Any] | None = None
) -> bool:
    oracle = Oracle(NAMESPACES, policies, cnps or [])
    return oracle.allowed(
        oracle.end(source["status"]["podIP"], source), oracle.end("10.0.0.1", SERVER), port, "TCP"
    )


def ingress(*peers: dict[str, Any], ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": list(peers)}
    if ports is not None:
        rule["ports"] = ports
    return np(
        "a", {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Ingress"], "ingress": [rule]}
    )


def test_both_selectors_in_one_peer_are_and_two_peers_are_or() -> None:
    both = ingress(
        {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {"matchLabels": {"role": "app"}}}
    )
    assert allowed([both], FRIEND) and not allowed([both], STRANGER) and not allowed([both], LOCAL)
    either = ingress(
        {"namespaceSelector": {"matchLabels": {"team": "x"}}},
        {"podSelector": {"matchLabels": {"role": "app"}}},
    )
    assert allowed([either], STRANGER)  # any pod of b
    assert allowed([either], LOCAL)  # role=app in the policy's own namespace


def test_no_policy_allows_and_an_empty_policy_isolates() -> None:
    assert allowed([], STRANGER)
    assert not allowed([np("a", {"podSelector": {}})], STRANGER)  # policyTypes defaults to Ingress
    egress_only = np("a", {"podSelector": {}, "egress": [{}]})  # Ingress and Egress by default
    assert not allowed([egress_only], STRANGER)


def test_ports_numbers_ranges_and_names_resolved_on_the_destination() -> None:
    named = ingress({"podSelector": {}, "namespaceSelector": {}}, ports=[{"port": "metrics"}])
    assert allowed([named], FRIEND, 9100) and not allowed([named], FRIEND, 9200)
    ranged = ingress({"namespaceSelector": {}}, ports=[{"port": 9000, "endPort": 9100}])
    assert allowed([ranged], FRIEND, 9100) and not allowed([ranged], FRIEND, 9101)
    udp = ingress({"namespaceSelector": {}}, ports=[{"protocol": "UDP", "port": 80}])
    assert not allowed([udp], FRIEND, 80)


def test_ip_blocks_with_exceptions() -> None:
    block = ingress({"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.3/32"]}})
    assert allowed([block], FRIEND) and not allowed([block], STRANGER)


def test_egress_to_an_address() -> None:
    oracle = Oracle(
        NAMESPACES,
        [
            np(
                "b",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}
                    ],
                },
            )
        ],
        [],
    )
    source = oracle.end("10.0.0.2", FRIEND)
    assert oracle.allowed(source, End("1.1.1.1"), 443, "TCP")
    assert not oracle.allowed(source, End("169.254.169.254"), 80, "TCP")


def cnp(tier: str, action: str, peer: dict[str, Any], priority: int = 10) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{tier}-{action}-{priority}"},
        "spec": {
            "tier": tier,
            "priority": priority,
            "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}},
            "ingress": [{"action": action, "from": [peer]}],
        },
    }


FROM_B = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}
OPEN = ingress({"namespaceSelector": {}})


@pytest.mark.parametrize(
    ("cnps", "policies", "expected"),
    [
        ([cnp("Admin", "Deny", FROM_B)], [OPEN], False),  # Admin Deny beats a NetworkPolicy's allow
        ([cnp("Admin", "Accept", FROM_B)], [np("a", {"podSelector": {}})], True),  # Accept is final
        (
            [cnp("Admin", "Pass", FROM_B), cnp("Admin", "Deny", FROM_B, 20)],
            [OPEN],
            True,
        ),  # Pass: on to the NPs
        (
            [cnp("Admin", "Deny", FROM_B, 20), cnp("Admin", "Accept", FROM_B, 5)],
            [],
            True,
        ),  # lowest priority first
        ([cnp("Baseline", "Deny", FROM_B)], [OPEN], True),  # a NetworkPolicy decides for the pods it selects
        ([cnp("Baseline", "Deny", FROM_B)], [], False),  # ... and Baseline for the others
        ([cnp("Admin", "Deny", {"networks": ["10.0.0.2/32"]})], [], False),  # networks match pod addresses
    ],
)
def test_cluster_network_policy_tiers(cnps: list[Any], policies: list[Any], expected: bool) -> None:
    assert allowed(policies, FRIEND, cnps=cnps) is expected


def test_selector_expressions() -> None:
    labels = {"a": "1"}
    assert selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["1"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, labels)
    assert selects({}, labels) and not selects(None, labels)
