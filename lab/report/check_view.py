"""A check's result for people: the goal and the least-privilege probes as matrices, each wrong cell
marked and listed with why and the hint; the same as JSON lines; the same as an HTML page.

The matrices read like the probe's (``lab.report.table``): a wrong goal cell is ``✗ GOT≠EXPECTED``.
In the least-privilege matrix a cell is marked only when it is wrong: one that gained access reads
``✗ ALLOW≠DENY`` (with your policies, then without them); a synthetic pod that lost access is no
mistake. The lab's own matrix is shown only when one of its cells changed.

JSON (``--output json``): one record per line, each readable alone. ``"record": "cell"`` for every
judged cell, ``"record": "refused"`` for an object outside the scope, and last ``"record": "result"``,
the one line per participant an instructor collects (``participant``, ``exercise``, ``passed``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.text import Text

from lab.matrix import MISMATCH_MARK, Cell, Matrix
from lab.report.table import render_matrix
from lab.workshop.check import GOAL, LEAST_PRIVILEGE, PROBE_KINDS, CheckResult, Graded


@dataclass(frozen=True)
class Section:
    """One matrix of a check and the lines about its wrong cells."""

    caption: str
    observed: Matrix
    expected: Matrix
    lines: tuple[str, ...]
    wrong: int
    count: int


def _matrix(cells: Sequence[Graded], title: str) -> tuple[Matrix, Matrix]:
    """What was seen, and what it is judged against (a cell that holds is judged against itself)."""
    observed, expected = Matrix(title=title), Matrix(title=title)
    for graded in cells:
        observed.set(graded.probe.row, graded.probe.column, graded.got)
        judged_by_goal = graded.probe.check == GOAL or not graded.ok
        against = Cell(graded.probe.expected if judged_by_goal else graded.got.verdict)
        expected.set(graded.probe.row, graded.probe.column, against)
    return observed, expected


def wrong_lines(graded: Graded) -> list[str]:
    """``✗ FROM -> TO: problem``, then why (the evaluator's words or what the probe saw) and the hint."""
    probe = graded.probe
    who = f" ({probe.what})" if probe.check == LEAST_PRIVILEGE and probe.kind != "unchanged" else ""
    lines = [f"{MISMATCH_MARK} {probe.row}{who} -> {probe.column}: {graded.problem}"]
    if graded.got.reason:
        lines.append(f"    why: {graded.got.reason}")
    if graded.got.command:
        lines.append(f"    reproduce: $ {graded.got.command}")
    if graded.how != "probed" and graded.how != "offline":
        lines.append(f"    judged: {graded.how}")
    if graded.hint:
        lines.append(f"    hint: {graded.hint}")
    return lines


def sections(result: CheckResult) -> list[Section]:
    goal = [g for g in result.cells if g.probe.check == GOAL]
    extra = [g for g in result.cells if g.probe.check == LEAST_PRIVILEGE and g.probe.kind != "unchanged"]
    lab = [g for g in result.cells if g.probe.kind == "unchanged"]
    out = []
    for caption, cells in (
        ("Goal", goal),
        ("Least privilege: what the goal does not mention must not gain access", extra),
        ("The lab's matrix: no cell the goal does not mention may change", lab),
    ):
        if not cells or (cells is lab and all(g.ok for g in cells)):
            continue
        observed, expected = _matrix(cells, caption)
        lines = tuple(line for g in cells if not g.ok for line in wrong_lines(g))
        out.append(Section(caption, observed, expected, lines, sum(not g.ok for g in cells), len(cells)))
    return out


def summary(result: CheckResult) -> str:
    """``PASS: 5 goal cells hold, 23 least-privilege probes gain nothing`` or what failed."""
    if result.refused:
        return f"FAIL: {len(result.refused)} object(s) outside the exercise's scope; nothing was judged"
    goal = [g for g in result.cells if g.probe.check == GOAL]
    extra = [g for g in result.cells if g.probe.check == LEAST_PRIVILEGE]
    goal_wrong = sum(not g.ok for g in goal)
    extra_wrong = sum(not g.ok for g in extra)
    offline = sum(1 for g in result.cells if g.how.startswith("offline")) if result.mode == "live" else 0
    tail = f" ({offline} judged offline: not observable in this lab)" if offline else ""
    if result.passed:
        return (
            f"PASS: all {len(goal)} goal cells hold, and none of the {len(extra)} least-privilege probes "
            f"gained or lost access{tail}"
        )
    return (
        f"FAIL: {goal_wrong} of {len(goal)} goal cells wrong, {extra_wrong} of {len(extra)} "
        f"least-privilege probes wrong{tail}"
    )


def render_check(console: Console, result: CheckResult) -> None:
    exercise = result.exercise
    console.print(Text(f"Exercise {exercise.name}: {exercise.title}", style="bold"))
    files = ", ".join(result.files) or "none"
    console.print(
        Text(
            f"checked {result.mode} from stage {exercise.stage}, for {result.participant}: {files}",
            style="dim",
        )
    )
    for refusal in result.refused:
        console.print(
            Text(f"{MISMATCH_MARK} refused {refusal.what} ({refusal.file}): {refusal.why}", style="bold red")
        )
    for section in sections(result):
        console.print()
        render_matrix(console, section.observed, expected=section.expected, title=f"{section.caption}")
        for line in section.lines:
            console.print(Text("  " + line, style="bold red" if line.startswith(MISMATCH_MARK) else ""))
    if result.cells and all(g.ok for g in result.cells if g.probe.kind == "unchanged"):
        count = sum(1 for g in result.cells if g.probe.kind == "unchanged")
        console.print(Text(f"The lab's matrix: all {count} cells the goal does not mention as before."))
    for kind, why in result.skipped.items():
        console.print(Text(f"left out: {kind} ({PROBE_KINDS.get(kind, kind)}): {why}", style="dim"))
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
    console.print()
    style = "bold green" if result.passed else "bold red"
    console.print(Text(f"{summary(result)} in {result.seconds:.1f} s", style=style))


# -- JSON lines -----------------------------------------------------------------------------


def records(result: CheckResult, *, checked_at: datetime | None = None) -> list[dict[str, Any]]:
    who = {"exercise": result.exercise.name, "participant": result.participant}
    out: list[dict[str, Any]] = []
    for refusal in result.refused:
        out.append(
            {"record": "refused", **who, "file": refusal.file, "object": refusal.what, "why": refusal.why}
        )
    for graded in result.cells:
        probe = graded.probe
        out.append(
            {
                "record": "cell",
                **who,
                "check": probe.check,
                "probe": probe.kind,
                "what": probe.what,
                "from": probe.row,
                "to": probe.column,
                "expected": probe.expected.value,
                "got": graded.got.verdict.value,
                "ok": graded.ok,
                "problem": graded.problem,
                "why": graded.got.reason,
                "hint": graded.hint,
                "how": graded.how,
            }
        )
    goal = [g for g in result.cells if g.probe.check == GOAL]
    extra = [g for g in result.cells if g.probe.check == LEAST_PRIVILEGE]
    out.append(
        {
            "record": "result",
            **who,
            "mode": result.mode,
            "passed": result.passed,
            "summary": summary(result),
            "goal": {"cells": len(goal), "wrong": sum(not g.ok for g in goal)},
            "least_privilege": {"probes": len(extra), "wrong": sum(not g.ok for g in extra)},
            "refused": len(result.refused),
            "files": list(result.files),
            "notes": list(result.notes),
            "seconds": round(result.seconds, 3),
            "checked_at": (checked_at or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        }
    )
    return out


def json_lines(result: CheckResult, *, checked_at: datetime | None = None) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records(result, checked_at=checked_at))


def html_page(result: CheckResult, *, generated_at: datetime | None = None) -> str:
    """The check as an HTML page, in the report's matrix style (``lab.report.html``)."""
    from lab.report.html import render_check_page

    exercise = result.exercise
    parts = [(s.caption, s.observed, s.expected, s.lines) for s in sections(result)]
    refused = [f"refused {r.what} ({r.file}): {r.why}" for r in result.refused]
    return render_check_page(
        f"Exercise {exercise.name}: {exercise.title}",
        f"{summary(result)}; checked {result.mode} for {result.participant}: {', '.join(result.files)}",
        parts,
        refused,
        passed=result.passed,
        generated_at=generated_at or datetime.now(timezone.utc),
    )
