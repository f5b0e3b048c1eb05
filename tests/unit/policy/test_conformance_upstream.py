"""Conformance cases rebuilt from the upstream Kubernetes e2e NetworkPolicy suite.

Source: kubernetes/kubernetes test/e2e/network/netpol/network_policy.go. Each case carries
the upstream test's name (``upstream``), its pods, its policies and the truth table the
upstream test states (``Reachability``), written with the same calls the upstream test makes.
Cases that depend on a pod's IP use the model's addresses (``ip_of``), as upstream reads
them from the pod's status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.policy.upstream_model import Expectation, Reachability, ip_of, model, np, wrong_cells

NS = "kubernetes.io/metadata.name"
X, Y, Z = "x", "y", "z"


def ml(**labels: str) -> dict[str, Any]:
    return {"matchLabels": labels}


def ns_is(name: str) -> dict[str, Any]:
    return {"matchLabels": {NS: name}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    item: dict[str, Any] = {"key": key, "operator": op}
    if values:
        item["values"] = list(values)
    return {"matchExpressions": [item]}


def tcp(port: int | str) -> dict[str, Any]:
    return {"port": port, "protocol": "TCP"}


@dataclass
class Case:
    upstream: str  # the upstream test's It(...) text
    pods: tuple[str, ...]
    policies: list[dict[str, Any]]
    checks: list[tuple[int, str, Expectation]]
    pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    ns_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def nothing(r: Reachability) -> None:
    """Everything allowed (the upstream ``NewReachability(..., true)`` alone)."""


P4 = ("x/a", "x/b", "y/a", "y/b")

CASES: list[Case] = [
    Case(
        "should support a 'default-deny-ingress' policy",
        P4,
        [np(X, "deny-ingress", ingress=[])],
        [(80, "TCP", lambda r: r.expect_peer((None, None), (X, None), False))],
    ),
    Case(
        "should support a 'default-deny-all' policy",
        ("x/a", "x/b", "y/a"),
        [np(X, "deny-all", policy_types=["Ingress", "Egress"])],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((None, None), (X, None), False),
                    r.expect_peer((X, None), (None, None), False),
                ),
            )
        ],
    ),
    Case(
        "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
        ("x/a", "x/b", "x/c", "y/a"),
        [np(X, "x-a-allows-x-b", ml(pod="a"), ingress=[{"from": [{"podSelector": ml(pod="b")}]}])],
        [(80, "TCP", lambda r: (r.expect_all_ingress("x/a", False), r.expect("x/b", "x/a", True)))],
    ),
    Case(
        "should enforce policy to allow ingress traffic for a target",
        ("x/a", "x/b", "y/a"),
        [
            np(X, "deny-all", ingress=[]),
            np(
                X,
                "allow-all-to-a",
                ml(pod="a"),
                ingress=[{"from": [{"podSelector": {}, "namespaceSelector": {}}]}],
            ),
        ],
        [(80, "TCP", lambda r: (r.expect_all_ingress("x/a", True), r.expect_all_ingress("x/b", False)))],
    ),
    Case(
        "should enforce policy to allow ingress traffic from pods in all namespaces",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-from-another-ns",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": {"matchLabels": {}}}]}],
            )
        ],
        [(80, "TCP", nothing)],
    ),
    Case(
        "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-client-a-via-ns-selector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            )
        ],
    ),
    Case(
        "should enforce policy based on PodSelector with MatchExpressions",
        ("x/a", "x/b", "y/a"),
        [np(X, "x-a-allows-x-b", ml(pod="a"), ingress=[{"from": [{"podSelector": expr("pod", "In", "b")}]}])],
        [(80, "TCP", lambda r: (r.expect_all_ingress("x/a", False), r.expect("x/b", "x/a", True)))],
    ),
    Case(
        "should enforce policy based on NamespaceSelector with MatchExpressions",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-ns-y-match-selector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": expr(NS, "In", Y)}]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            )
        ],
    ),
    Case(
        "should enforce policy based on PodSelector or NamespaceSelector",
        ("x/a", "x/b", "x/c", "y/a"),
        [
            np(
                X,
                "allow-ns-y-match-selector",
                ml(pod="a"),
                ingress=[
                    {"from": [{"namespaceSelector": expr(NS, "NotIn", X)}, {"podSelector": ml(pod="b")}]}
                ],
            )
        ],
        [(80, "TCP", lambda r: (r.expect("x/a", "x/a", False), r.expect("x/c", "x/a", False)))],
    ),
    Case(
        "should enforce policy based on PodSelector and NamespaceSelector",
        ("x/a", "x/b", "y/a", "y/b", "z/b"),
        [
            np(
                X,
                "allow-ns-y-podselector-and-nsselector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": expr(NS, "NotIn", X), "podSelector": ml(pod="b")}]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_all_ingress("x/a", False),
                    r.expect("y/b", "x/a", True),
                    r.expect("z/b", "x/a", True),
                ),
            )
        ],
    ),
    Case(
        "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
        ("x/a", "x/b", "y/a", "y/b", "y/c"),
        [
            np(
                X,
                "allow-ns-y-z-pod-b-c",
                ml(pod="a"),
                ingress=[
                    {
                        "from": [
                            {
                                "namespaceSelector": expr(NS, "NotIn", X),
                                "podSelector": expr("pod", "In", "b", "c"),
                            }
                        ]
                    }
                ],
            )
        ],
        [(80, "TCP", lambda r: (r.expect_peer((X, None), (X, "a"), False), r.expect("y/a", "x/a", False)))],
    ),
    Case(
        "should enforce policy based on any PodSelectors",
        ("x/a", "x/b", "x/c"),
        [
            np(
                X,
                "allow-ns-x-pod-b-c",
                ml(pod="a"),
                ingress=[{"from": [{"podSelector": ml(pod="b")}, {"podSelector": ml(pod="c")}]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_all_ingress("x/a", False),
                    r.expect("x/b", "x/a", True),
                    r.expect("x/c", "x/a", True),
                ),
            )
        ],
    ),
    Case(
        "should enforce policy to allow traffic only from a pod in a different namespace based on "
        "PodSelector and NamespaceSelector",
        ("x/a", "x/b", "y/a", "y/b", "z/a"),
        [
            np(
                X,
                "allow-ns-y-pod-a-via-namespace-pod-selector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y), "podSelector": ml(pod="a")}]}],
            )
        ],
        [(80, "TCP", lambda r: (r.expect_all_ingress("x/a", False), r.expect("y/a", "x/a", True)))],
    ),
    Case(
        "should enforce policy based on Ports",
        ("x/a", "x/b", "y/a", "y/b", "z/a"),
        [
            np(
                X,
                "allow-client-a-via-ns-selector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}], "ports": [tcp(81)]}],
            )
        ],
        [
            (
                81,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Y, None), (X, "a"), True),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            )
        ],
    ),
    Case(
        "should enforce multiple, stacked policies with overlapping podSelectors "
        "(one policy: 81 open, 80 closed)",
        ("x/a", "x/b", "y/a", "y/b", "z/a"),
        [
            np(
                X,
                "allow-81",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}], "ports": [tcp(81)]}],
            )
        ],
        [
            (
                81,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            ),
            (80, "TCP", lambda r: r.expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "should enforce multiple, stacked policies with overlapping podSelectors (second policy unblocks 80)",
        ("x/a", "x/b", "y/a", "y/b", "z/a"),
        [
            np(
                X,
                "allow-81",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}], "ports": [tcp(81)]}],
            ),
            np(
                X,
                "allow-80",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}], "ports": [tcp(80)]}],
            ),
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            )
        ],
    ),
    Case(
        "should support allow-all policy",
        ("x/a", "x/b", "y/a"),
        [np(X, "allow-all", ingress=[{}])],
        [(80, "TCP", nothing), (81, "TCP", nothing)],
    ),
    Case(
        "should allow ingress access on one named port",
        ("x/a", "x/b", "y/a"),
        [np(X, "allow-all", ingress=[{"ports": [{"port": "serve-81-tcp"}]}])],
        [(81, "TCP", nothing), (80, "TCP", lambda r: r.expect_peer((None, None), (X, None), False))],
    ),
    Case(
        "should allow ingress access from namespace on one named port",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-client-a-via-ns-selector-80",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}], "ports": [tcp("serve-80-tcp")]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            ),
            (81, "TCP", lambda r: r.expect_all_ingress("x/a", False)),
        ],
    ),
    Case(
        "should allow egress access on one named port",
        ("x/a", "y/a"),
        [np(X, "allow-egress", egress=[{"ports": [{"port": "serve-80-tcp"}]}])],
        [(80, "TCP", nothing), (81, "TCP", lambda r: r.expect_peer((X, None), (None, None), False))],
    ),
    Case(
        "should enforce updated policy (after the update to deny all)",
        ("x/a", "y/a"),
        [np(X, "allow-all-mutate-to-deny-all", ingress=[])],
        [(81, "TCP", lambda r: r.expect_peer((None, None), (X, None), False))],
    ),
    Case(
        "should allow ingress access from updated namespace (after the label)",
        ("x/a", "y/a"),
        [
            np(
                X,
                "allow-client-a-via-ns-selector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ml(ns2="updated")}]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (r.expect_all_ingress("x/a", False), r.expect_peer((Y, None), (None, None), True)),
            )
        ],
        ns_labels={"y": {"ns2": "updated"}},
    ),
    Case(
        "should allow ingress access from updated pod (after the label)",
        ("x/a", "x/b"),
        [
            np(
                X,
                "allow-client-a-via-pod-selector",
                ml(pod="a"),
                ingress=[{"from": [{"podSelector": ml(pod="b", pod2="updated")}]}],
            )
        ],
        [(80, "TCP", lambda r: (r.expect_all_ingress("x/a", False), r.expect("x/b", "x/a", True)))],
        pod_labels={"x/b": {"pod2": "updated"}},
    ),
    Case(
        "should deny ingress from pods on other namespaces",
        ("x/a", "x/b", "y/a", "z/a"),
        [np(X, "deny-empty-policy", ingress=[{"from": [{"podSelector": {"matchLabels": {}}}]}])],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((Y, None), (X, None), False),
                    r.expect_peer((Z, None), (X, None), False),
                ),
            )
        ],
    ),
    Case(
        "should deny ingress access to updated pod (after the label)",
        ("x/a", "y/a"),
        [np(X, "deny-ingress-via-label-selector", ml(target="isolated"), ingress=[])],
        [(80, "TCP", lambda r: r.expect_all_ingress("x/a", False))],
        pod_labels={"x/a": {"target": "isolated"}},
    ),
    Case(
        "should deny egress from pods based on PodSelector",
        ("x/a", "x/b", "y/a"),
        [np(X, "deny-egress-pod-a", ml(pod="a"), policy_types=["Egress"])],
        [(80, "TCP", lambda r: r.expect_all_egress("x/a", False))],
    ),
    Case(
        "should deny egress from all pods in a namespace",
        ("x/a", "x/b", "y/a"),
        [np(X, "deny-egress-ns-x", policy_types=["Egress"])],
        [(80, "TCP", lambda r: r.expect_peer((X, None), (None, None), False))],
    ),
    Case(
        "should work with Ingress, Egress specified together",
        ("x/a", "x/b", "x/c", "y/a"),
        [
            np(
                X,
                "allow-client-a-via-pod-selector",
                ml(pod="a"),
                ingress=[{"from": [{"podSelector": ml(pod="b")}]}],
                egress=[{"ports": [{"port": 80}]}],
                policy_types=["Egress", "Ingress"],
            )
        ],
        [
            (80, "TCP", lambda r: (r.expect_all_ingress("x/a", False), r.expect("x/b", "x/a", True))),
            (
                81,
                "TCP",
                lambda r: (
                    r.expect_all_ingress("x/a", False),
                    r.expect_all_egress("x/a", False),
                    r.expect("x/b", "x/a", True),
                ),
            ),
        ],
    ),
    Case(
        "should support denying of egress traffic on the client side "
        "(even if the server explicitly allows this traffic)",
        ("x/a", "y/a", "y/b"),
        [
            np(
                X,
                "allow-to-ns-y-pod-a",
                ml(pod="a"),
                egress=[{"to": [{"namespaceSelector": ns_is(Y), "podSelector": ml(pod="a")}]}],
            ),
            np(
                Y,
                "allow-from-xa-on-ya",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(X), "podSelector": ml(pod="a")}]}],
            ),
            np(
                Y,
                "allow-from-xa-on-yb",
                ml(pod="b"),
                ingress=[{"from": [{"namespaceSelector": ns_is(X), "podSelector": ml(pod="a")}]}],
            ),
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, "a"), (None, None), False),
                    r.expect_peer((None, None), (Y, "a"), False),
                    r.expect_peer((X, "a"), (Y, "a"), True),
                    r.expect_peer((None, None), (Y, "b"), False),
                ),
            )
        ],
    ),
    Case(
        "should enforce egress policy allowing traffic to a server in a different namespace based on "
        "PodSelector and NamespaceSelector",
        ("x/a", "y/a", "y/b"),
        [
            np(
                X,
                "allow-to-ns-y-pod-a",
                ml(pod="a"),
                egress=[{"to": [{"namespaceSelector": ns_is(Y), "podSelector": ml(pod="a")}]}],
            )
        ],
        [(80, "TCP", lambda r: (r.expect_all_egress("x/a", False), r.expect("x/a", "y/a", True)))],
    ),
    Case(
        "should enforce ingress policy allowing any port traffic to a server on a specific protocol",
        ("x/a", "y/a"),
        [np(X, "allow-ingress-by-proto", ml(pod="a"), ingress=[{"ports": [{"protocol": "TCP"}]}])],
        [(80, "TCP", nothing), (80, "UDP", lambda r: r.expect_peer((None, None), (X, "a"), False))],
    ),
    Case(
        "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
        ("x/a", "y/a"),
        [
            np(X, "allow-ingress-port-80", ingress=[{"ports": [{"port": 80}]}]),
            np(X, "allow-ingress", ingress=[{}]),
        ],
        [(81, "TCP", nothing)],
    ),
    Case(
        "should enforce multiple egress policies with egress allow-all policy taking precedence",
        ("x/a", "y/a"),
        [
            np(X, "allow-egress-port-80", egress=[{"ports": [{"port": 80}]}]),
            np(X, "allow-egress", egress=[{}]),
        ],
        [(81, "TCP", nothing)],
    ),
    Case(
        "should stop enforcing policies after they are deleted (while the policy exists)",
        ("x/a", "y/a"),
        [np(X, "deny-all", policy_types=["Ingress", "Egress"])],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (None, None), False),
                    r.expect_peer((None, None), (X, None), False),
                ),
            )
        ],
    ),
    Case(
        "should stop enforcing policies after they are deleted (after the deletion)",
        ("x/a", "y/a"),
        [],
        [(80, "TCP", nothing)],
    ),
    Case(
        "should allow egress access to server in CIDR block",
        ("x/a", "y/a", "y/b"),
        [
            np(
                X,
                "allow-client-a-via-cidr-egress-rule",
                ml(pod="a"),
                egress=[{"to": [{"ipBlock": {"cidr": ip_of("y/b") + "/32"}}]}],
            )
        ],
        [(80, "TCP", lambda r: (r.expect_all_egress("x/a", False), r.expect("x/a", "y/b", True)))],
    ),
    Case(
        "should enforce except clause while egress access to server in CIDR block",
        ("x/a", "x/b", "x/c"),
        [
            np(
                X,
                "allow-client-a-via-cidr-egress-rule",
                ml(pod="a"),
                # upstream makeLargeCIDRForIP: the pod's IPv4 address in a /4
                egress=[
                    {"to": [{"ipBlock": {"cidr": ip_of("x/b") + "/4", "except": [ip_of("x/b") + "/32"]}}]}
                ],
            )
        ],
        [(80, "TCP", lambda r: r.expect("x/a", "x/b", False))],
    ),
    Case(
        "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
        ("x/a", "x/b", "x/c"),
        [
            np(
                X,
                "allow-client-a-via-cidr-egress-rule",
                ml(pod="a"),
                egress=[{"to": [{"ipBlock": {"cidr": ip_of("x/b") + "/32"}}]}],
            )
        ],
        [(80, "TCP", lambda r: (r.expect_all_egress("x/a", False), r.expect("x/a", "x/b", True)))],
    ),
    Case(
        "should enforce policies to check ingress and egress policies can be controlled independently "
        "based on PodSelector",
        ("x/a", "x/b", "y/a"),
        [
            np(X, "allow-egress-for-target", ml(pod="a"), egress=[{}]),
            np(X, "deny-ingress-via-label-selector", ml(pod="a"), ingress=[]),
        ],
        [(80, "TCP", lambda r: r.expect_all_ingress("x/a", False))],
    ),
    Case(
        "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', "
        "even if the plugin doesn't support SCTP",
        ("x/a", "y/a"),
        [
            np(X, "deny-ingress", ingress=[]),
            np(
                X,
                "allow-only-sctp-ingress-on-port-81",
                ml(pod="a"),
                ingress=[{"ports": [{"port": 81, "protocol": "SCTP"}]}],
            ),
        ],
        [(81, "TCP", lambda r: r.expect_peer((None, None), (X, None), False))],
    ),
    Case(
        "should properly isolate pods that are selected by a policy allowing SCTP, "
        "even if the plugin doesn't support SCTP",
        ("x/a", "y/a"),
        [
            np(
                X,
                "allow-only-sctp-ingress-on-port-80",
                ml(pod="a"),
                ingress=[{"ports": [{"port": 80, "protocol": "SCTP"}]}],
            )
        ],
        [(81, "TCP", lambda r: r.expect_all_ingress("x/a", False))],
    ),
    Case(
        "should not allow access by TCP when a policy specifies only UDP",
        ("x/a", "y/a"),
        [
            np(
                X,
                "allow-only-udp-ingress-on-port-81",
                ml(pod="a"),
                ingress=[{"ports": [{"port": 81, "protocol": "UDP"}]}],
            )
        ],
        [(81, "TCP", lambda r: r.expect_all_ingress("x/a", False))],
    ),
    Case(
        "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels "
        "using default ns label",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-client-a-via-ns-selector-for-immutable-ns-label",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y)}]}],
            )
        ],
        [
            (
                80,
                "TCP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            )
        ],
    ),
    Case(
        "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-ns-y-match-selector-for-immutable-ns-label",
                ml(pod="a"),
                egress=[{"to": [{"namespaceSelector": expr(NS, "NotIn", Y)}]}],
            )
        ],
        [(80, "TCP", lambda r: r.expect_peer((X, "a"), (Y, None), False))],
    ),
    Case(
        "using UDP: should support a 'default-deny-ingress' policy",
        P4,
        [np(X, "deny-all", ingress=[])],
        [(80, "UDP", lambda r: r.expect_peer((None, None), (X, None), False))],
    ),
    Case(
        "using UDP: should enforce policy based on Ports",
        ("x/a", "x/b", "y/a", "z/a"),
        [
            np(
                X,
                "allow-ingress-on-port-81-ns-x",
                ml(pod="a"),
                ingress=[
                    {"from": [{"namespaceSelector": ns_is(Y)}], "ports": [{"port": 81, "protocol": "UDP"}]}
                ],
            )
        ],
        [
            (
                81,
                "UDP",
                lambda r: (
                    r.expect_peer((X, None), (X, "a"), False),
                    r.expect_peer((Z, None), (X, "a"), False),
                ),
            )
        ],
    ),
    Case(
        "using SCTP: should enforce policy to allow traffic only from a pod in a different namespace "
        "based on PodSelector and NamespaceSelector",
        ("x/a", "x/b", "y/a"),
        [
            np(
                X,
                "allow-ns-y-pod-a-via-namespace-pod-selector",
                ml(pod="a"),
                ingress=[{"from": [{"namespaceSelector": ns_is(Y), "podSelector": ml(pod="a")}]}],
            )
        ],
        [(80, "SCTP", lambda r: (r.expect_all_ingress("x/a", False), r.expect("y/a", "x/a", True)))],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.upstream[:90] for c in CASES])
def test_upstream_case(case: Case) -> None:
    state = model(case.pods, case.policies, pod_labels=case.pod_labels, ns_labels=case.ns_labels)
    for port, protocol, expect in case.checks:
        assert wrong_cells(state, port, protocol, expect) == [], f"{case.upstream} on {protocol} {port}"


def test_enough_cases() -> None:
    assert len(CASES) >= 25
