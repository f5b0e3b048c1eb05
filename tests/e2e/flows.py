"""The flows the live tests prove, read from the seed stage's expectation table (no cluster needed).

Each judged cell of ``stages/4-seed/expect.txt`` is one test, with an id a person can read:
``frontend->backend:80 allowed``, ``untrusted->backend:80 denied (impostor: role frontend,
wrong namespace)``. The rule a cell stands for is named in the id, so a failing test says
which rule of the scenario broke.
"""

from __future__ import annotations

from lab import scenario
from lab.env import project_root
from lab.matrix import Matrix, Verdict
from lab.workshop.stages import load_stages, stage_by_name

WORDS = {
    Verdict.ALLOW: "allowed",
    Verdict.DENY: "denied",
    Verdict.REFUSED: "refused",
    Verdict.DNS_FAIL: "dns fails",
}


def seed_expectation() -> Matrix:
    return stage_by_name(load_stages(project_root()), "seed").expect


def rule(row: str, column: str, verdict: Verdict) -> str:
    """The scenario rule a denied cell stands for ("" when it is not one of the named rules)."""
    if verdict != Verdict.DENY:
        return ""
    target = scenario.column_workload(column)
    if row == "untrusted" and target is not None and target.name in scenario.PROTECTED:
        return "impostor: role frontend, wrong namespace"
    if row == "frontend" and target is not None and target.name == "database":
        return "frontend cannot skip to the database"
    if row in scenario.PROTECTED and column == scenario.OUTSIDE_COLUMN:
        return "no egress outside the cluster"
    if row in scenario.PROTECTED and column == scenario.METADATA_COLUMN:
        return "no cloud metadata"
    return ""


def flow_id(row: str, column: str, verdict: Verdict) -> str:
    """``frontend->backend:80 allowed``, with the rule in parentheses when the cell stands for one."""
    text = f"{row}->{column} {WORDS.get(verdict, verdict.value)}"
    named = rule(row, column, verdict)
    return f"{text} ({named})" if named else text


def flows(expected: Matrix) -> list[tuple[str, str]]:
    """Every judged cell of ``expected``, in table order."""
    return [(row, column) for row, column, cell in expected if cell.verdict != Verdict.NOT_JUDGED]
