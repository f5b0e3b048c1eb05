"""Grading offline: each shipped solution passes, each shipped wrong answer fails naming the cell and
why, least privilege is judged against the world without the answers, and the grading rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.env import project_root
from lab.matrix import Cell, Verdict
from lab.workshop.check import (
    GOAL,
    LEAST_PRIVILEGE,
    CheckProbe,
    check_offline,
    goal_probes,
    grade,
    least_privilege_probes,
)
from lab.workshop.exercises import Exercise, load_exercise, load_exercises, parse_column

ROOT = project_root()
EXERCISES = load_exercises(ROOT)
WRONG = [(e, p) for e in EXERCISES for p in e.wrong_answers]

# What each shipped wrong answer must be caught by: (check, probe kind, row, column), or the refusal.
EXPECTED_FAILURE = {
    ("monitoring", "too-open.yaml"): (
        LEAST_PRIVILEGE,
        "stranger",
        "monitoring/netpol-lab-stranger",
        "backend:9090",
    ),
    ("monitoring", "too-closed.yaml"): (GOAL, GOAL, "monitoring/prober", "backend:9090"),
    ("monitoring", "wrong-namespace.yaml"): (GOAL, GOAL, "monitoring/prober", "backend:9090"),
    ("database-dns", "too-open.yaml"): (LEAST_PRIVILEGE, "outside", "database", "outside:53"),
    ("database-dns", "too-closed.yaml"): (GOAL, GOAL, "database", "kube-system/coredns:53/TCP"),
    ("database-dns", "wrong-namespace.yaml"): "refused",
    ("reporting-and", "too-open.yaml"): (GOAL, GOAL, "analytics/scratch", "database:3306"),
    ("reporting-and", "too-closed.yaml"): (GOAL, GOAL, "analytics/report", "database:3306"),
    ("reporting-and", "wrong-namespace.yaml"): (GOAL, GOAL, "analytics/report", "database:3306"),
    ("named-metrics", "too-open.yaml"): (GOAL, GOAL, "monitoring/prober", "shop/cart:9200"),
    ("named-metrics", "too-closed.yaml"): (GOAL, GOAL, "monitoring/prober", "shop/checkout:9200"),
    ("named-metrics", "wrong-namespace.yaml"): "refused",
    ("backend-outside", "too-open.yaml"): (GOAL, GOAL, "backend", "untrusted:80"),
    ("backend-outside", "too-closed.yaml"): (GOAL, GOAL, "backend", "outside"),
    ("backend-outside", "wrong-namespace.yaml"): "refused",
    ("guardrail", "too-open.yaml"): (GOAL, GOAL, "untrusted", "database:3306"),
    ("guardrail", "too-closed.yaml"): (GOAL, GOAL, "backend", "database:3306"),
    ("guardrail", "wrong-namespace.yaml"): (GOAL, GOAL, "untrusted", "database:3306"),
}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_shipped_solution_passes(exercise: Exercise) -> None:
    result = check_offline(ROOT, exercise, [str(exercise.solution)], participant="ada")
    assert result.passed, [(g.probe.row, g.probe.column, g.problem, g.got.reason) for g in result.wrong]
    assert {g.probe.check for g in result.cells} == {GOAL, LEAST_PRIVILEGE}


def test_every_shipped_wrong_answer_has_an_expected_failure() -> None:
    assert set(EXPECTED_FAILURE) == {(e.name, p.name) for e, p in WRONG}


@pytest.mark.parametrize(("exercise", "answer"), WRONG, ids=lambda x: getattr(x, "name", ""))
def test_each_shipped_wrong_answer_fails_naming_the_cell_and_why(exercise: Exercise, answer: Path) -> None:
    result = check_offline(ROOT, exercise, [str(answer)], participant="ada")
    assert not result.passed
    expected = EXPECTED_FAILURE[(exercise.name, answer.name)]
    if expected == "refused":
        assert result.refused and not result.cells
        assert "is not yours in this exercise" in result.refused[0].why
        return
    check, kind, row, column = expected
    wrong = {(g.probe.check, g.probe.kind, g.probe.row, g.probe.column): g for g in result.wrong}
    assert (check, kind, row, column) in wrong, sorted(wrong)
    graded = wrong[(check, kind, row, column)]
    assert graded.got.reason  # why: the policy and rule that allowed it, or why none did
    assert graded.hint  # and the exercise's hint for this mistake
    if graded.got.verdict == Verdict.ALLOW:
        assert "allowed by" in graded.got.reason
    else:
        assert "no rule allows this flow" in graded.got.reason or "denied by" in graded.got.reason


def test_meeting_the_goal_but_opening_the_backend_to_an_unlabelled_pod_fails_least_privilege() -> None:
    monitoring = load_exercise(ROOT, "monitoring")
    too_open = monitoring.path / "wrong" / "too-open.yaml"
    result = check_offline(ROOT, monitoring, [str(too_open)], participant="ada")
    assert not result.wrong_in(GOAL)  # the goal's cells all hold
    [gained] = result.wrong_in(LEAST_PRIVILEGE)
    assert gained.probe.what == "a new pod without labels in namespace monitoring"
    assert gained.problem == "gained access: DENY without your policies, ALLOW with them"


def test_what_the_stage_already_allowed_is_not_a_gain() -> None:
    monitoring = load_exercise(ROOT, "monitoring")
    result = check_offline(ROOT, monitoring, [str(monitoring.solution)], participant="ada")
    outside = next(
        g for g in result.cells if (g.probe.row, g.probe.column) == ("monitoring/prober", "outside")
    )
    assert outside.got.verdict == Verdict.ALLOW and outside.probe.expected == Verdict.ALLOW and outside.ok


def test_least_privilege_probes_leave_out_what_the_exercise_says_and_what_the_goal_mentions() -> None:
    dns = load_exercise(ROOT, "database-dns")
    goal = goal_probes(dns)
    probes = least_privilege_probes(dns, goal)
    kinds = {p.kind for p in probes}
    assert "stranger" not in kinds and "stranger" in dns.skip  # every pod of the namespace may resolve
    assert {"newcomer", "other-port", "outside", "metadata", "unchanged"} <= kinds
    mentioned = {(p.row, p.column) for p in goal}
    assert not mentioned & {(p.row, p.column) for p in probes}
    # dns/tcp (the lab's matrix) and kube-system/coredns:53/TCP (the goal) are one probe
    assert not [p for p in probes if p.row == "database" and p.column == "dns/tcp"]


def _probe(check: str, kind: str, expected: Verdict) -> CheckProbe:
    return CheckProbe(check, kind, "a/a", "backend:1", "a/a", parse_column("backend:1"), expected)


@pytest.mark.parametrize(
    ("check", "kind", "expected", "got", "ok"),
    [
        (GOAL, GOAL, Verdict.ALLOW, Verdict.ALLOW, True),
        (GOAL, GOAL, Verdict.ALLOW, Verdict.REFUSED, True),  # the packet got through, nothing listened
        (GOAL, GOAL, Verdict.ALLOW, Verdict.DENY, False),
        (GOAL, GOAL, Verdict.DENY, Verdict.DNS_FAIL, False),
        (GOAL, GOAL, Verdict.DENY, Verdict.INCONCLUSIVE, False),  # no verdict never passes
        (LEAST_PRIVILEGE, "stranger", Verdict.DENY, Verdict.ALLOW, False),
        (LEAST_PRIVILEGE, "stranger", Verdict.DENY, Verdict.REFUSED, False),
        (LEAST_PRIVILEGE, "stranger", Verdict.ALLOW, Verdict.DENY, True),  # closing a synthetic pod is fine
        (LEAST_PRIVILEGE, "unchanged", Verdict.ALLOW, Verdict.DENY, False),  # the lab's matrix may not close
        (
            LEAST_PRIVILEGE,
            "unchanged",
            Verdict.DNS_FAIL,
            Verdict.DENY,
            True,
        ),  # names resolve, still no access
        (LEAST_PRIVILEGE, "outside", Verdict.DENY, Verdict.CHECK_FAILED, False),
        (LEAST_PRIVILEGE, "unchanged", Verdict.NOT_JUDGED, Verdict.NOT_JUDGED, True),
    ],
)
def test_grading(check: str, kind: str, expected: Verdict, got: Verdict, ok: bool) -> None:
    exercise = load_exercise(ROOT, "monitoring")
    graded = grade(exercise, _probe(check, kind, expected), Cell(got, "seen"))
    assert graded.ok is ok
    assert bool(graded.problem) is not ok


def test_a_check_is_fast_enough_to_run_after_every_edit() -> None:
    exercise = load_exercise(ROOT, "guardrail")  # the slowest: ClusterNetworkPolicies, tier by tier
    result = check_offline(ROOT, exercise, [str(exercise.solution)], participant="ada")
    assert result.passed and result.seconds < 5
