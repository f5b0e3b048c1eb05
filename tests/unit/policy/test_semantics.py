"""API semantics the upstream e2e suite does not cover, each from the API reference
(networking.k8s.io/v1 NetworkPolicySpec, NetworkPolicyPort, IPBlock) or the defaults code."""

from __future__ import annotations

from lab.policy.engine import Engine
from tests.unit.policy.builders import namespace, pod, policy, state_of, verdict

WEB = [("http", 8080, "TCP"), ("dns", 53, "UDP"), ("metrics", 9090, "TCP")]


def lab(*policies: dict) -> list[dict]:
    return [
        namespace("a"),
        namespace("b", team="blue"),
        pod("a/web", "10.1.0.1", {"app": "web"}, WEB),
        pod("a/client", "10.1.0.2", {"app": "client"}, WEB),
        pod("b/client", "10.1.0.3", {"app": "client"}, WEB),
        *policies,
    ]


def test_end_port_is_an_inclusive_range() -> None:
    # NetworkPolicyPort.endPort: "the range of ports from port to endPort, inclusive".
    p = policy(
        "a",
        "range",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"ports": [{"port": 8000, "endPort": 8080}]}],
        },
    )
    state = state_of(lab(p))
    assert verdict(state, "a/client", "a/web", 8080)
    assert verdict(state, "a/client", "a/web", 8000)
    assert not verdict(state, "a/client", "a/web", 8081)
    assert not verdict(state, "a/client", "a/web", 7999)


def test_a_port_without_protocol_means_tcp() -> None:
    p = policy("a", "tcp", {"podSelector": {}, "ingress": [{"ports": [{"port": 53}]}]})
    state = state_of(lab(p))
    assert verdict(state, "b/client", "a/web", 53, "TCP")
    assert not verdict(state, "b/client", "a/web", 53, "UDP")


def test_named_port_resolves_on_the_destination_with_its_protocol() -> None:
    p = policy(
        "a", "named", {"podSelector": {}, "ingress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}]}
    )
    state = state_of(lab(p))
    assert verdict(state, "b/client", "a/web", 53, "UDP")
    assert not verdict(state, "b/client", "a/web", 53, "TCP")  # the name is a UDP port


def test_named_port_nobody_declares_is_a_warning_and_a_deny() -> None:
    p = policy("a", "ghost", {"podSelector": {}, "ingress": [{"ports": [{"port": "grpc"}]}]})
    state = state_of(lab(p))
    assert any("named 'grpc'" in w and "allows nothing" in w for w in state.warnings)
    assert not verdict(state, "b/client", "a/web", 8080)


def test_empty_ingress_rule_allows_everything_including_outside_addresses() -> None:
    # `ingress: [{}]`: a rule with no `from` matches all sources, pods or not.
    allow_all = policy("a", "all", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
    state = state_of(lab(allow_all))
    assert verdict(state, "a/web", "203.0.113.9", 443)


def test_all_pods_selectors_do_not_cover_outside_addresses() -> None:
    # podSelector {} + namespaceSelector {} = every pod in the cluster, and only pods.
    pods_only = policy(
        "a",
        "pods",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {}, "namespaceSelector": {}}]}],
        },
    )
    state = state_of(lab(pods_only))
    assert verdict(state, "a/web", "b/client", 8080)
    assert not verdict(state, "a/web", "203.0.113.9", 443)


def test_policy_types_inferred_egress_only_with_egress_rules() -> None:
    # pkg/apis/networking/v1/defaults.go: `egress: []` does not make a policy an Egress policy.
    empty_egress = policy("a", "e", {"podSelector": {}, "egress": []})
    state = state_of(lab(empty_egress))
    assert state.policies[0].types == frozenset({"Ingress"})
    assert verdict(state, "a/web", "b/client", 8080)  # egress still open
    assert not verdict(state, "b/client", "a/web", 8080)  # ingress isolated
    with_rule = policy(
        "a", "e", {"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}
    )
    state = state_of(lab(with_rule))
    assert state.policies[0].types == frozenset({"Ingress", "Egress"})
    assert not verdict(state, "a/web", "b/client", 8080)


def test_egress_only_policy_leaves_ingress_open() -> None:
    p = policy("a", "e", {"podSelector": {}, "policyTypes": ["Egress"]})
    state = state_of(lab(p))
    assert verdict(state, "b/client", "a/web", 8080)
    assert not verdict(state, "a/web", "b/client", 8080)


def test_namespace_selector_alone_excludes_the_policy_namespace_unless_it_matches() -> None:
    p = policy(
        "a",
        "blue",
        {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}],
        },
    )
    state = state_of(lab(p))
    assert verdict(state, "b/client", "a/web", 8080)
    assert not verdict(state, "a/client", "a/web", 8080)


def test_ip_block_except_and_pods_without_ip() -> None:
    p = policy(
        "a",
        "cidr",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.1.0.0/24", "except": ["10.1.0.3/32"]}}]}],
        },
    )
    objects = [*lab(p), pod("b/pending", None, {"app": "client"}, WEB)]
    state = state_of(objects)
    assert verdict(state, "a/client", "a/web", 8080)
    assert not verdict(state, "b/client", "a/web", 8080)
    assert [p.key for p in state.unaddressed] == ["b/pending"]
    assert "b/pending" not in Engine(state).position
    assert any("no IP yet" in w and "b/pending" in w for w in state.warnings)


def test_loopback_is_always_allowed() -> None:
    p = policy("a", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    state = state_of(lab(p))
    assert verdict(state, "a/web", "a/web", 8080)


def test_match_expressions_not_in_and_does_not_exist_match_absent_keys() -> None:
    sel = {
        "matchExpressions": [
            {"key": "tier", "operator": "NotIn", "values": ["x"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ]
    }
    p = policy(
        "a",
        "expr",
        {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": sel}]}]},
    )
    state = state_of(lab(p))
    assert verdict(state, "a/client", "a/web", 8080)  # no tier, no legacy label: matches
