"""Tier by tier: Calico's static tiers, Tier objects, Pass to the next tier, a tier's default action,
and the Tigera operator's own tier, which must change none of the lab's cells."""

from __future__ import annotations

from typing import Any

import pytest

from lab import scenario
from lab.env import project_root
from lab.matrix import Verdict
from lab.policy.explain import Explainer
from lab.policy.model import InputError
from lab.policy.state import parse_objects
from lab.workshop.lab_matrix import expected_lab_matrix
from lab.workshop.lab_state import load_stage_state
from lab.workshop.stages import load_stages
from tests.model import calico_system
from tests.unit.policy.builders import namespace, pod, policy, state_of, verdict

V3 = "projectcalico.org/v3"


def tier(name: str, order: float | None, action: str = "Deny") -> dict[str, Any]:
    spec: dict[str, Any] = {"defaultAction": action}
    if order is not None:
        spec["order"] = order
    return {"apiVersion": V3, "kind": "Tier", "metadata": {"name": name}, "spec": spec}


def gnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": V3, "kind": "GlobalNetworkPolicy", "metadata": {"name": name}, "spec": spec}


def world(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        namespace("app"),
        namespace("ops", team="ops"),
        pod("app/web", "10.0.0.1", {"app": "web"}, [("http", 80, "TCP")]),
        pod("app/api", "10.0.0.2", {"app": "api"}),
        pod("ops/probe", "10.0.1.1", {"app": "probe"}),
        *extra,
    ]


DENY_WEB_INGRESS = {"selector": "app == 'web'", "types": ["Ingress"]}


def test_a_pass_in_an_earlier_tier_hands_the_flow_to_the_next_one() -> None:
    passing = gnp(
        "pass", {"tier": "security", "order": 1, **DENY_WEB_INGRESS, "ingress": [{"action": "Pass"}]}
    )
    kube_deny = policy("app", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    state = state_of(world(tier("security", 10), passing, kube_deny))
    assert not verdict(state, "ops/probe", "app/web", 80)  # passed on, then the default tier isolates it


def test_an_allow_in_an_earlier_tier_is_final() -> None:
    allowing = gnp("allow", {"tier": "security", **DENY_WEB_INGRESS, "ingress": [{"action": "Allow"}]})
    kube_deny = policy("app", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    state = state_of(world(tier("security", 10), allowing, kube_deny))
    assert verdict(state, "ops/probe", "app/web", 80)


def test_a_tier_that_selects_and_decides_nothing_ends_in_its_default_action() -> None:
    silent = gnp(
        "silent",
        {"tier": "security", **DENY_WEB_INGRESS, "ingress": [{"action": "Allow", "protocol": "UDP"}]},
    )
    assert not verdict(state_of(world(tier("security", 10, "Deny"), silent)), "ops/probe", "app/web", 80)
    assert verdict(state_of(world(tier("security", 10, "Pass"), silent)), "ops/probe", "app/web", 80)


def test_tiers_go_by_order_whatever_the_policies_orders() -> None:
    deny_first = gnp(
        "deny", {"tier": "late", "order": 1, **DENY_WEB_INGRESS, "ingress": [{"action": "Deny"}]}
    )
    allow_later = gnp(
        "allow", {"tier": "early", "order": 999, **DENY_WEB_INGRESS, "ingress": [{"action": "Allow"}]}
    )
    state = state_of(world(tier("late", 200), tier("early", 100), deny_first, allow_later))
    assert verdict(state, "ops/probe", "app/web", 80)  # tier early (100) decides before tier late (200)
    text = "\n".join(Explainer(state).flow(state.pod("ops/probe"), state.pod("app/web"), 80).lines())  # type: ignore[arg-type]
    assert "tier early (order 100, then Deny)" in text
    assert "=> ALLOW by GlobalNetworkPolicy allow (order 999)" in text
    assert "tier late" not in text  # decided before it


def test_a_tier_that_selects_nothing_is_skipped() -> None:
    elsewhere = gnp("elsewhere", {"tier": "security", "selector": "app == 'nothing'", "types": ["Ingress"]})
    assert verdict(state_of(world(tier("security", 10), elsewhere)), "ops/probe", "app/web", 80)


def test_a_policy_in_a_tier_the_state_lacks_is_refused() -> None:
    lonely = gnp("lonely", {"tier": "ghost", **DENY_WEB_INGRESS})
    with pytest.raises(InputError) as caught:
        state_of(world(lonely))
    assert "is in tier 'ghost', which is not in the state" in caught.value.message


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (tier("default", 1, "Pass"), "spec.defaultAction must be Deny for this tier"),
        (tier("x", 1, "Allow"), "spec.defaultAction 'Allow' must be Deny or Pass"),
        (
            {"apiVersion": V3, "kind": "Tier", "metadata": {"name": "x"}, "spec": {"order": "first"}},
            "must be a number",
        ),
    ],
)
def test_bad_tiers_are_refused_by_name(obj: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as caught:
        state_of(world(obj))
    assert needle in caught.value.message


def test_staged_policies_are_left_out_and_said() -> None:
    staged = {"apiVersion": V3, "kind": "StagedGlobalNetworkPolicy", "metadata": {"name": "try"},
              "spec": {**DENY_WEB_INGRESS, "ingress": [{"action": "Deny"}]}}  # fmt: skip
    state = state_of(world(staged))
    assert verdict(state, "ops/probe", "app/web", 80)
    assert any("staged polic" in note and "StagedGlobalNetworkPolicy try" in note for note in state.notes)


def operator_objects() -> list[dict[str, Any]]:
    """What the Tigera operator adds to every Calico cluster: its tier and its policies."""
    objects = [
        {"apiVersion": V3, "kind": "Tier", **t} for t in [*calico_system.static_tiers(), calico_system.tier()]
    ]

    class NoComponents:  # the operator's policies for goldmane and whisker come with those components
        store = type("S", (), {"get": staticmethod(lambda *a: {})})()

    for api_version, kind, obj in calico_system.policies(NoComponents()):  # type: ignore[arg-type]
        objects.append({"apiVersion": api_version, "kind": kind, **obj})
    return objects


@pytest.mark.parametrize("number", range(8))
def test_the_operators_tier_changes_none_of_the_lab_cells(number: int) -> None:
    root = project_root()
    plain = load_stage_state(root, str(number))
    with_operator = load_stage_state(root, str(number))
    extra = parse_objects([{"kind": "List", "items": operator_objects()}], "operator", modelled=True)
    with_operator.calico += extra.calico
    with_operator.tiers.update(extra.tiers)
    assert "calico-system" in with_operator.tiers
    assert any(p.tier == "calico-system" for p in with_operator.calico)
    before = expected_lab_matrix(plain)
    after = expected_lab_matrix(with_operator)
    assert [(r, c, cell.verdict) for r, c, cell in after] == [(r, c, cell.verdict) for r, c, cell in before]
    stage = next(s for s in load_stages(root) if s.number == number)
    assert all(
        stage.expect.get(r, c).verdict == cell.verdict
        for r, c, cell in after
        if cell.verdict != Verdict.NOT_JUDGED
    )


def test_the_explanation_names_the_operators_tier_where_it_decides() -> None:
    state = load_stage_state(project_root(), "seed")
    extra = parse_objects([{"kind": "List", "items": operator_objects()}], "operator", modelled=True)
    state.calico += extra.calico
    state.tiers.update(extra.tiers)
    dns = state.pod("kube-system/coredns")
    frontend = next(p for p in state.pods if p.namespace == scenario.BY_NAME["frontend"].namespace)
    assert dns is not None
    flow = Explainer(state).flow(frontend, dns, 53, "UDP")
    text = "\n".join(flow.lines())
    assert "tier calico-system (order 100, then Deny)" in text
    assert "=> PASS by NetworkPolicy kube-system/calico-system.cluster-dns (order 1), rule #2" in text
    assert flow.allowed
