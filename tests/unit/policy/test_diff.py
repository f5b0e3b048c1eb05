"""What changes between two policy sets, on the lab's stages and on small hand-made states."""

from __future__ import annotations

from lab.env import project_root
from lab.policy.diff import ADDED, CLOSED, OPENED, REASON, REMOVED, diff_states, identities
from lab.workshop.lab_state import load_stage_state
from tests.unit.policy.builders import namespace, pod, policy, state_of

ROOT = project_root()


def stage(name: str):  # type: ignore[no-untyped-def]
    return load_stage_state(ROOT, name)


def test_stage_4_to_5_opens_the_backends_outside_flow_and_names_the_policy() -> None:
    result = diff_states(stage("4"), stage("5"))
    assert [(c.kind, c.key.text()) for c in result.changes] == [
        (OPENED, "backend/backend -> 1.1.1.1:443/TCP (outside)"),
        (OPENED, "backend/backend -> 2606:4700:4700::1111:443/TCP (outside@v6)"),  # the IPv6 ipBlock
    ]
    change = result.changes[0]
    assert change.before is not None and change.after is not None
    assert not change.before.allowed and change.after.allowed
    assert "backend/backend-to-outside" in change.after.reason
    assert "no rule allows this flow" in change.before.reason
    # the metadata address stays closed over both families: the except entries carve it out
    assert not any(c.key.label in ("metadata", "metadata@v6") for c in result.changes)


def test_stage_0_to_6_closes_every_flow_the_guardrails_and_rules_do_not_allow() -> None:
    result = diff_states(stage("0"), stage("6"))
    closed = {c.key.text() for c in result.changes if c.kind == CLOSED}
    opened = [c for c in result.changes if c.kind == OPENED]
    assert opened == []  # stage 0 allows everything: nothing can open
    assert "untrusted/untrusted -> backend/backend:80/TCP" in closed  # the impostor
    assert "frontend/frontend -> backend/backend:80/UDP" in closed  # the rule is TCP only
    assert "backend/backend -> 169.254.169.254:80/TCP (metadata)" in closed
    assert "untrusted/untrusted -> 1.1.1.1:443/TCP (outside)" in closed  # stage 6's default deny
    # the flows that stay allowed are now allowed by a rule, no longer by the absence of policies
    reasons = {c.key.text(): c for c in result.changes if c.kind == REASON}
    backend = reasons["backend/backend -> database/database:3306/TCP"]
    assert backend.before is not None and backend.after is not None
    assert "not isolated" in backend.before.reason
    assert "backend/backend-to-database" in backend.after.reason
    assert "frontend/frontend -> backend/backend:80/TCP" in reasons
    assert len({c.key for c in result.changes}) == len(result.changes)  # each flow once


def test_stage_2_to_4_closes_the_dns_trap() -> None:
    opened = {c.key.text() for c in diff_states(stage("2"), stage("4")).changes if c.kind == OPENED}
    assert "database/database -> kube-system/kube-dns:53/TCP" in opened
    assert "database/database -> kube-system/kube-dns:53/UDP" not in opened  # that was open already


def test_the_same_state_has_no_changes() -> None:
    result = diff_states(stage("seed"), stage("seed"))
    assert result.changes == () and result.unchanged > 0


def test_one_more_isolating_policy_that_allows_nothing_new_is_no_change() -> None:
    base = [
        namespace("a"),
        pod("a/web", "10.0.0.1", {"app": "web"}, [("http", 80, "TCP")]),
        pod("a/db", "10.0.0.2", {"app": "db"}, [("sql", 5432, "TCP")]),
    ]
    deny = policy("a", "deny", {"podSelector": {"matchLabels": {"app": "db"}}})
    more = policy(
        "a", "deny-too", {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}
    )
    result = diff_states(state_of([*base, deny]), state_of([*base, deny, more]))
    assert result.changes == ()


def test_pods_are_matched_by_their_app_label_and_missing_ones_are_said() -> None:
    modelled = [
        namespace("a"),
        pod("a/web", "10.0.0.1", {"app": "web"}, [("http", 80, "TCP")]),
        pod("a/db", "10.0.0.2", {"app": "db"}, [("sql", 5432, "TCP")]),
    ]
    live = [
        namespace("a"),
        pod("a/web-7f9c-x0", "10.0.0.7", {"app": "web"}, [("http", 80, "TCP")]),
        pod("a/cache", "10.0.0.8", {}, [("redis", 6379, "TCP")]),
    ]
    before, after = state_of(modelled), state_of(live)
    assert identities(after.pods) == {"a/web-7f9c-x0": "a/web", "a/cache": "a/cache"}
    result = diff_states(before, after)
    kinds = {(c.kind, c.key.source, c.key.target) for c in result.changes}
    assert (REMOVED, "a/web", "a/db") in kinds
    assert (ADDED, "a/web", "a/cache") in kinds
    assert not any(c.key.source == "a/web" and c.key.target == "a/web" for c in result.changes)
