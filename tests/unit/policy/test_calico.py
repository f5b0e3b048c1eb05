"""The Calico subset: selector expressions, ordered evaluation with Allow/Deny/Pass/Log,
Kubernetes policies at order 1000, and refusal of anything outside the subset."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.policy.calico_selectors import parse_calico_selector
from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.model import InputError
from lab.policy.selectors import SelectorError
from tests.unit.policy.builders import namespace, pod, policy, state_of, verdict

WEB = [("http", 80, "TCP"), ("dns", 53, "UDP")]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("all()", {}, True),
        ("", {"a": "b"}, True),
        ('k8s-app == "kube-dns"', {"k8s-app": "kube-dns"}, True),
        ('k8s-app == "kube-dns"', {"k8s-app": "other"}, False),
        ("app != 'web'", {}, True),  # != matches an absent label
        ("app != 'web'", {"app": "web"}, False),
        ("has(role)", {"role": ""}, True),
        ("!has(role)", {"role": "x"}, False),
        ('tier in {"a", "b"}', {"tier": "b"}, True),
        ('tier in {"a", "b"}', {}, False),
        ('tier not in {"a", "b"}', {}, True),  # not in matches an absent label
        ('tier not in {"a","b"}', {"tier": "a"}, False),
        ('a == "1" && b == "2" || c == "3"', {"c": "3"}, True),  # && binds tighter than ||
        ('a == "1" && (b == "2" || c == "3")', {"c": "3"}, False),
        ('!(a == "1") && has(b)', {"b": "x"}, True),
        (
            'kubernetes.io/metadata.name not in {"kube-system", "calico-system"}',
            {"kubernetes.io/metadata.name": "web"},
            True,
        ),
    ],
)
def test_selector_expressions(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_calico_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("app starts with 'w'", "'starts' after 'app' is not understood"),
        ("global()", "function global() is not understood"),
        ("app == web", "must be quoted"),
        ("(app == 'x'", "expected ')'"),
        ("app == 'x' &&", "is not understood here"),
    ],
)
def test_selector_outside_the_subset_is_named(text: str, needle: str) -> None:
    with pytest.raises(SelectorError, match=None) as caught:
        parse_calico_selector(text)
    assert needle in str(caught.value)


def gnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def cnp(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def world(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        namespace("app"),
        namespace("ops", team="ops"),
        namespace("kube-system"),
        pod("app/web", "192.168.0.1", {"app": "web"}, WEB),
        pod("app/api", "192.168.0.2", {"app": "api"}, WEB),
        pod("ops/probe", "192.168.0.3", {"app": "probe"}, WEB),
        pod("kube-system/coredns", "192.168.0.4", {"k8s-app": "kube-dns"}, WEB),
        *extra,
    ]


K8S_ALLOW_ALL_EGRESS = policy("app", "open", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
DENY_METADATA = gnp(
    "deny-metadata",
    {
        "order": 100,
        "selector": "all()",
        "types": ["Egress"],
        "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}],
    },
)


def test_a_lower_order_deny_cannot_be_reopened_by_a_kubernetes_policy() -> None:
    state = state_of(world(K8S_ALLOW_ALL_EGRESS, DENY_METADATA))
    assert not verdict(state, "app/web", "169.254.169.254", 80)
    assert verdict(state, "app/web", "1.1.1.1", 443)  # the Kubernetes allow-all still applies at 1000


def test_a_higher_order_deny_comes_after_the_kubernetes_allow() -> None:
    late = gnp(
        "late-deny", {"order": 2000, "selector": "all()", "types": ["Egress"], "egress": [{"action": "Deny"}]}
    )
    state = state_of(world(K8S_ALLOW_ALL_EGRESS, late))
    assert verdict(state, "app/web", "169.254.169.254", 80)  # allowed at 1000 before the deny at 2000
    assert not verdict(state, "ops/probe", "1.1.1.1", 443)  # no Kubernetes policy there: denied at 2000


def test_first_matching_rule_wins_and_log_goes_on() -> None:
    rules = [
        {"action": "Log"},
        {
            "action": "Allow",
            "protocol": "TCP",
            "source": {"selector": "app == 'api'"},
            "destination": {"ports": [80]},
        },
        {"action": "Deny", "source": {"namespaceSelector": "team == 'ops'"}},
        {"action": "Allow"},
    ]
    p = cnp(
        "app", "web-in", {"order": 10, "selector": "app == 'web'", "types": ["Ingress"], "ingress": rules}
    )
    state = state_of(world(p))
    assert verdict(state, "app/api", "app/web", 80)
    assert verdict(state, "app/api", "app/web", 53, "UDP")  # falls through to the last Allow
    assert not verdict(state, "ops/probe", "app/web", 80)  # Deny before the final Allow


def test_pass_skips_the_rest_of_the_tier_and_the_profile_allows() -> None:
    passing = gnp(
        "pass-ops",
        {
            "order": 1,
            "selector": "app == 'web'",
            "types": ["Ingress"],
            "ingress": [{"action": "Pass", "source": {"namespaceSelector": "team == 'ops'"}}],
        },
    )
    deny = policy("app", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    state = state_of(world(passing, deny))
    assert verdict(state, "ops/probe", "app/web", 80)  # passed: the Kubernetes deny never applies
    assert not verdict(state, "app/api", "app/web", 80)


def test_a_selected_pod_with_no_decision_is_denied_at_the_end_of_the_tier() -> None:
    only_dns = gnp(
        "dns-only",
        {
            "order": 5,
            "selector": "app == 'web'",
            "types": ["Egress"],
            "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}],
        },
    )
    state = state_of(world(only_dns))
    assert verdict(state, "app/web", "kube-system/coredns", 53, "UDP")
    assert not verdict(state, "app/web", "app/api", 80)
    assert verdict(state, "app/api", "app/web", 80)  # not selected: open


def test_namespaced_calico_selector_stays_in_its_namespace_and_named_ports_resolve() -> None:
    p = cnp(
        "app",
        "web-from-api",
        {
            "selector": "app == 'web'",
            "ingress": [
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "source": {"selector": "has(app)"},
                    "destination": {"ports": ["http"]},
                }
            ],
        },
    )
    state = state_of(world(p))
    assert state.calico[0].types == frozenset({"Ingress"})
    assert verdict(state, "app/api", "app/web", 80)
    assert not verdict(
        state, "ops/probe", "app/web", 80
    )  # other namespace: the selector alone does not reach it


def test_not_nets_and_range_ports() -> None:
    p = gnp(
        "out",
        {
            "order": 1,
            "selector": "app == 'api'",
            "types": ["Egress"],
            "egress": [
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "destination": {"notNets": ["10.0.0.0/8"], "ports": ["440:450"]},
                }
            ],
        },
    )
    state = state_of(world(p))
    assert verdict(state, "app/api", "1.1.1.1", 443)
    assert not verdict(state, "app/api", "10.1.2.3", 443)
    assert not verdict(state, "app/api", "1.1.1.1", 80)


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (
            gnp("x", {"selector": "all()", "egress": [{"action": "Allow", "http": {"methods": ["GET"]}}]}),
            "spec.egress[0]: http not understood",
        ),
        (
            gnp(
                "x", {"selector": "all()", "egress": [{"action": "Allow", "destination": {"notPorts": [80]}}]}
            ),
            "destination.notPorts not understood",
        ),
        (
            gnp("x", {"selector": "all()", "ingress": [{"action": "Allow", "source": {"ports": [80]}}]}),
            "source.ports (source ports) not understood",
        ),
        (
            gnp("x", {"selector": "all()", "tier": "security"}),
            "is in tier 'security', which is not in the state",
        ),
        (gnp("x", {"selector": "all()", "doNotTrack": True}), "spec.doNotTrack not understood"),
        (gnp("x", {"selector": "app startswith 'a'"}), "not understood"),
        (gnp("x", {"selector": "all()", "egress": [{"action": "Reject"}]}), "action 'Reject' must be one of"),
    ],
)
def test_anything_outside_the_subset_is_refused_by_name(obj: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as caught:
        state_of(world(obj))
    assert needle in caught.value.message


def test_explanation_names_order_and_the_deciding_rule() -> None:
    state = state_of(world(K8S_ALLOW_ALL_EGRESS, DENY_METADATA))
    web = state.pod("app/web")
    assert web is not None
    text = "\n".join(Explainer(state).flow(web, "169.254.169.254", 80).lines())
    assert (
        "tier default (order 1,000,000, then Deny): selected for egress by GlobalNetworkPolicy "
        "deny-metadata (order 100), app/open (Kubernetes, order 1000)." in text
    )
    assert "=> DENY by GlobalNetworkPolicy deny-metadata (order 100), rule #1 (spec.egress[0])" in text
    text = "\n".join(Explainer(state).flow(web, "1.1.1.1", 443).lines())
    assert "destination address 1.1.1.1 does not match nets 169.254.169.254/32" in text
    assert "=> ALLOW by app/open" in text


# -- the engine's bitset path and the explanation agree on random Calico + Kubernetes states -----

calico_selectors = st.sampled_from(
    ["all()", "app == 'web'", "app != 'web'", "has(app)", "!has(app)", "app in {'web', 'api'}"]
)
ns_selectors = st.sampled_from(
    ["team == 'ops'", "all()", "kubernetes.io/metadata.name not in {'kube-system'}"]
)


@st.composite
def entities(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["selector"] = draw(calico_selectors)
    if draw(st.booleans()):
        out["namespaceSelector"] = draw(ns_selectors)
    if draw(st.booleans()):
        out[draw(st.sampled_from(["nets", "notNets"]))] = [
            draw(st.sampled_from(["192.168.0.0/30", "0.0.0.0/0", "1.1.1.1/32"]))
        ]
    return out


@st.composite
def calico_rules(draw: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": draw(st.sampled_from(["Allow", "Deny", "Pass", "Log"]))}
    if draw(st.booleans()):
        rule["source"] = draw(entities())
    destination = draw(entities())
    if draw(st.booleans()):
        rule["protocol"] = draw(st.sampled_from(["TCP", "UDP"]))
        if draw(st.booleans()):
            destination["ports"] = [draw(st.sampled_from([80, "50:60", "http", "dns"]))]
    if destination:
        rule["destination"] = destination
    if draw(st.booleans()):
        rule["ipVersion"] = draw(st.sampled_from([4, 6]))
    return rule


@st.composite
def calico_policies(draw: Any, index: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": draw(calico_selectors)}
    if draw(st.booleans()):
        spec["order"] = draw(st.sampled_from([1, 500, 1000, 1500]))
    spec["types"] = draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    spec["ingress"] = draw(st.lists(calico_rules(), max_size=2))
    spec["egress"] = draw(st.lists(calico_rules(), max_size=2))
    if draw(st.booleans()):
        return cnp("app", f"c{index}", spec)
    if draw(st.booleans()):
        spec["namespaceSelector"] = draw(ns_selectors)
    return gnp(f"g{index}", spec)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=4), st.data())
def test_engine_and_explanation_agree_with_calico(seeds: list[int], data: Any) -> None:
    items = [data.draw(calico_policies(i)) for i in range(len(seeds))]
    if data.draw(st.booleans()):
        items.append(
            policy(
                "app",
                "k8s",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "ingress": [{"from": [{"podSelector": {}}]}],
                },
            )
        )
    state = state_of(world(*items))
    engine = Engine(state)
    explainer = Explainer(state)
    for port, protocol in ((80, "TCP"), (53, "UDP"), (55, "TCP")):
        for d, dst in enumerate(engine.pods):
            for s, src in enumerate(engine.pods):
                flow = explainer.flow(src, dst, port, protocol)
                assert engine.pod_allowed(s, d, port, protocol) == flow.allowed, flow.lines()
            for address in ("1.1.1.1", "169.254.169.254"):
                flow = explainer.flow(dst, address, port, protocol)
                assert engine.ip_allowed(d, address, port, protocol) == flow.allowed, flow.lines()


@pytest.mark.parametrize(("version", "allowed"), [(4, True), (6, False)])
def test_ip_version_limits_a_rule_between_pods(version: int, allowed: bool) -> None:
    """An Allow rule of ipVersion 6 matches no flow between IPv4 pods: the tier's deny ends it."""
    rule = {"action": "Allow", "ipVersion": version}
    state = state_of(
        world(cnp("app", "only-v", {"selector": "all()", "types": ["Ingress"], "ingress": [rule]}))
    )
    assert verdict(state, "ops/probe", "app/web", 80) is allowed
    outbound = {"selector": "all()", "types": ["Egress"], "egress": [rule]}
    state = state_of(world(cnp("app", "only-v-out", outbound)))
    assert verdict(state, "app/web", "ops/probe", 80) is allowed
