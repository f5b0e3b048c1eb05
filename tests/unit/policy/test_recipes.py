"""The classic public recipe collection (ahmetb/kubernetes-network-policy-recipes), each recipe
with the outcome its "Try it out" section states, checked against the API semantics.

Recipes are rebuilt as data (their policies, their pods and namespaces, their probes). One
stated outcome is out of date: recipe 14 (see ``test_14_deny_external_egress``).
"""

from __future__ import annotations

from typing import Any

from lab.policy.model import ClusterState
from tests.unit.policy.builders import namespace, pod, policy, state_of, verdict

HTTP = [("http", 80, "TCP")]
NS = "kubernetes.io/metadata.name"


def world(*extra: dict[str, Any]) -> ClusterState:
    """default: web (app=web), apiserver, db; other namespaces as the recipes create them; CoreDNS."""
    return state_of(
        [
            namespace("default"),
            namespace("kube-system"),
            namespace("foo"),
            namespace("secondary"),
            namespace("dev", purpose="testing"),
            namespace("prod", purpose="production"),
            namespace("other", team="operations"),
            pod("default/web", "10.0.0.10", {"app": "web"}, HTTP),
            pod("default/apiserver", "10.0.0.11", {"app": "bookstore", "role": "api"}, HTTP),
            pod("default/db", "10.0.0.12", {"app": "bookstore", "role": "db"}, [("redis", 6379, "TCP")]),
            pod(
                "default/metrics-app",
                "10.0.0.13",
                {"app": "apiserver"},
                [("http", 8000, "TCP"), ("metrics", 5000, "TCP")],
            ),
            pod("default/test", "10.0.0.20", {}),
            pod("default/bookstore-frontend", "10.0.0.21", {"app": "bookstore", "role": "frontend"}),
            pod("default/monitoring", "10.0.0.22", {"role": "monitoring"}),
            pod("default/catalog", "10.0.0.23", {"app": "inventory", "role": "web"}),
            pod("default/other-app", "10.0.0.24", {"app": "other"}),
            pod("default/foo", "10.0.0.25", {"app": "foo"}),
            pod("foo/test", "10.0.1.20", {}),
            pod("secondary/test", "10.0.2.20", {}),
            pod("dev/test", "10.0.3.20", {}),
            pod("prod/test", "10.0.4.20", {}),
            pod("other/test", "10.0.5.20", {}),
            pod("other/monitoring", "10.0.5.21", {"type": "monitoring"}),
            pod(
                "kube-system/coredns",
                "10.0.9.2",
                {"k8s-app": "kube-dns"},
                [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
            ),
            *extra,
        ],
        "recipes",
    )


def web_deny_all() -> dict[str, Any]:
    return policy("default", "web-deny-all", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": []})


def test_01_deny_all_traffic_to_an_application() -> None:
    state = world(web_deny_all())
    assert not verdict(state, "default/test", "default/web", 80)  # "Traffic dropped!"


def test_02_limit_traffic_to_an_application() -> None:
    api_allow = policy(
        "default",
        "api-allow",
        {
            "podSelector": {"matchLabels": {"app": "bookstore", "role": "api"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "bookstore"}}}]}],
        },
    )
    state = world(api_allow)
    assert not verdict(state, "default/test", "default/apiserver", 80)  # "Traffic is blocked!"
    assert verdict(state, "default/bookstore-frontend", "default/apiserver", 80)  # "Traffic is allowed."


def test_02a_allow_all_traffic_to_an_application() -> None:
    web_allow_all = policy(
        "default", "web-allow-all", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}
    )
    state = world(web_allow_all, web_deny_all())
    assert verdict(state, "default/test", "default/web", 80)  # allow-all voids deny-all
    assert verdict(state, "foo/test", "default/web", 80)
    # The recipe says `{}` "corresponds to" podSelector {} + namespaceSelector {}; for pods it
    # does, but `{}` also admits sources outside the cluster (recipe 08 relies on exactly that).


def test_03_deny_all_non_whitelisted_traffic_in_the_namespace() -> None:
    default_deny = policy("default", "default-deny-all", {"podSelector": {}, "ingress": []})
    state = world(default_deny)
    assert not verdict(state, "default/test", "default/web", 80)
    assert not verdict(state, "foo/test", "default/db", 6379)
    assert verdict(state, "default/test", "foo/test", 80)  # other namespaces untouched


def test_04_deny_traffic_from_other_namespaces() -> None:
    # `podSelector: {matchLabels: }` (null matchLabels) selects every pod of the namespace.
    deny_other = policy(
        "default",
        "deny-from-other-namespaces",
        {"podSelector": {"matchLabels": None}, "ingress": [{"from": [{"podSelector": {}}]}]},
    )
    state = world(deny_other)
    assert not verdict(state, "foo/test", "default/web", 80)  # "It blocks the traffic from foo"
    assert verdict(state, "default/test", "default/web", 80)  # "Any pod in default should work"


def test_05_allow_traffic_from_all_namespaces() -> None:
    allow = policy(
        "default",
        "web-allow-all-namespaces",
        {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
    )
    state = world(allow, web_deny_all())
    assert verdict(state, "secondary/test", "default/web", 80)
    assert verdict(state, "default/test", "default/web", 80)


def test_06_allow_traffic_from_a_namespace() -> None:
    allow = policy(
        "default",
        "web-allow-prod",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"purpose": "production"}}}]}],
        },
    )
    state = world(allow)
    assert not verdict(state, "dev/test", "default/web", 80)  # "(traffic blocked)"
    assert verdict(state, "prod/test", "default/web", 80)  # "(traffic allowed)"


def test_07_allow_traffic_from_some_pods_in_another_namespace() -> None:
    allow = policy(
        "default",
        "web-allow-all-ns-monitoring",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": "operations"}},
                            "podSelector": {"matchLabels": {"type": "monitoring"}},
                        }
                    ]
                }
            ],
        },
    )
    state = world(allow)
    assert not verdict(state, "default/test", "default/web", 80)  # from default: blocked
    assert not verdict(state, "other/test", "default/web", 80)  # other, unlabelled: blocked
    assert verdict(state, "other/monitoring", "default/web", 80)  # other + type=monitoring: allowed


def test_08_allow_external_traffic() -> None:
    allow = policy(
        "default", "web-allow-external", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}
    )
    state = world(allow, web_deny_all())
    assert verdict(state, "foo/test", "default/web", 80)


def test_09_allow_traffic_only_to_a_port() -> None:
    allow = policy(
        "default",
        "api-allow-5000",
        {
            "podSelector": {"matchLabels": {"app": "apiserver"}},
            "ingress": [
                {
                    "ports": [{"port": 5000}],
                    "from": [{"podSelector": {"matchLabels": {"role": "monitoring"}}}],
                }
            ],
        },
    )
    state = world(allow)
    assert not verdict(state, "default/test", "default/metrics-app", 8000)
    assert not verdict(state, "default/test", "default/metrics-app", 5000)
    assert not verdict(state, "default/monitoring", "default/metrics-app", 8000)
    assert verdict(state, "default/monitoring", "default/metrics-app", 5000)
    named = policy(
        "default",
        "api-allow-named",
        {
            "podSelector": {"matchLabels": {"app": "apiserver"}},
            "ingress": [
                {
                    "ports": [{"port": "metrics"}],
                    "from": [{"podSelector": {"matchLabels": {"role": "monitoring"}}}],
                }
            ],
        },
    )
    assert verdict(world(named), "default/monitoring", "default/metrics-app", 5000)


def test_10_allowing_traffic_with_multiple_selectors() -> None:
    peers = [
        {"podSelector": {"matchLabels": labels}}
        for labels in (
            {"app": "bookstore", "role": "search"},
            {"app": "bookstore", "role": "api"},
            {"app": "inventory", "role": "web"},
        )
    ]
    allow = policy(
        "default",
        "redis-allow-services",
        {"podSelector": {"matchLabels": {"app": "bookstore", "role": "db"}}, "ingress": [{"from": peers}]},
    )
    state = world(allow)
    assert verdict(state, "default/catalog", "default/db", 6379)  # "(works)"
    assert not verdict(state, "default/other-app", "default/db", 6379)  # "(traffic blocked)"


def test_11_deny_egress_traffic_from_an_application() -> None:
    deny = policy(
        "default",
        "foo-deny-egress",
        {"podSelector": {"matchLabels": {"app": "foo"}}, "policyTypes": ["Egress"], "egress": []},
    )
    state = world(deny)
    assert not verdict(state, "default/foo", "kube-system/coredns", 53, "UDP")  # "bad address": no DNS
    assert not verdict(state, "default/foo", "default/web", 80)
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {NS: "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }
    with_dns = policy(
        "default",
        "foo-deny-egress",
        {"podSelector": {"matchLabels": {"app": "foo"}}, "policyTypes": ["Egress"], "egress": [dns]},
    )
    state = world(with_dns)
    assert verdict(state, "default/foo", "kube-system/coredns", 53, "UDP")  # names resolve
    assert not verdict(state, "default/foo", "default/web", 80)  # "download timed out"
    assert not verdict(state, "default/foo", "93.184.216.34", 80)


def test_12_deny_all_non_whitelisted_traffic_from_the_namespace() -> None:
    deny = policy(
        "default", "default-deny-all-egress", {"policyTypes": ["Egress"], "podSelector": {}, "egress": []}
    )
    state = world(deny)
    assert not verdict(state, "default/test", "kube-system/coredns", 53, "UDP")  # DNS too
    assert not verdict(state, "default/test", "foo/test", 80)
    assert verdict(state, "foo/test", "default/web", 80)  # ingress into default is not affected


def test_14_deny_external_egress() -> None:
    """Out of date: the recipe's "Try it out" says the app=foo pod "is able to connect to web
    Service" after this policy. That was true of the recipe's earlier policy, which also had a
    rule `to: [namespaceSelector: {}]` (every pod in the cluster). The current policy allows only
    DNS to kube-dns pods, so egress from app=foo to the web pod on 80 is denied: an isolated
    pod's egress gets exactly what a rule allows, and no rule names the web pod or port 80."""
    deny_external = policy(
        "default",
        "foo-deny-external-egress",
        {
            "podSelector": {"matchLabels": {"app": "foo"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {NS: "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                }
            ],
        },
    )
    state = world(deny_external)
    assert verdict(state, "default/foo", "kube-system/coredns", 53, "UDP")  # "able to resolve"
    assert not verdict(state, "default/foo", "93.184.216.34", 80)  # "(connection is blocked)"
    assert not verdict(state, "default/foo", "default/web", 80)  # the recipe says allowed: it is not
    # With the earlier rule restored, the stated outcome holds again:
    earlier = policy(
        "default",
        "foo-deny-external-egress",
        {
            "podSelector": {"matchLabels": {"app": "foo"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}, {"to": [{"namespaceSelector": {}}]}],
        },
    )
    state = world(earlier)
    assert verdict(state, "default/foo", "default/web", 80)
    assert not verdict(state, "default/foo", "93.184.216.34", 80)
