"""Controls: a blocked outside/metadata cell is DENY only when the control reaches the target."""

from __future__ import annotations

from lab import scenario
from lab.matrix import Cell, Matrix, Verdict
from lab.probe.controls import (
    CONTROL_ROW,
    Controls,
    controls_from_pod,
    controls_from_row,
    judge_with_controls,
    plan_control_probes,
)
from tests.unit.probe.fakes import lab_pods

OUT, META = scenario.OUTSIDE_COLUMN, scenario.METADATA_COLUMN


def observed(**cells: tuple[str, str, Verdict]) -> Matrix:
    matrix = Matrix(rows=list(scenario.ROWS), columns=list(scenario.COLUMNS))
    for row, column, verdict in cells.values():
        matrix.set(row, column, Cell(verdict, "seen", 1, f"kubectl exec -n {row}"))
    return matrix


def blocked_everywhere() -> Matrix:
    return observed(**{f"{r}_{c}": (r, c, Verdict.DENY) for r in scenario.ROWS for c in (OUT, META)})


def test_control_reaches_the_target_so_the_block_is_proven() -> None:
    controls = Controls("the control pod", {OUT: Cell(Verdict.ALLOW), META: Cell(Verdict.REFUSED)})
    judged = judge_with_controls(blocked_everywhere(), controls)
    for row in scenario.ROWS:
        for column in (OUT, META):
            cell = judged.get(row, column)
            assert cell.verdict == Verdict.DENY
            assert "the control pod reaches it" in cell.reason
            assert cell.tries == 1 and cell.command  # the rest of the cell is kept


def test_control_blocked_too_makes_the_cells_inconclusive_with_the_reason() -> None:
    controls = Controls("the control pod", {OUT: Cell(Verdict.DENY), META: Cell(Verdict.DENY)})
    judged = judge_with_controls(blocked_everywhere(), controls)
    outside = judged.get("frontend", OUT)
    metadata = judged.get("database", META)
    assert outside.verdict == Verdict.INCONCLUSIVE
    assert "cannot reach it either" in outside.reason and "--outside" in outside.reason
    assert metadata.verdict == Verdict.INCONCLUSIVE
    assert "169.254.169.254" in metadata.reason and "make lab-up" in metadata.reason
    # never a pass: inconclusive cells are not counted as matching a DENY expectation
    expected = observed(x=("frontend", OUT, Verdict.DENY))
    comparison = expected.compare(judged)
    assert not comparison.matched and len(comparison.unjudged) == 1


def test_a_failed_control_probe_proves_nothing() -> None:
    controls = Controls("the control pod", {OUT: Cell(Verdict.CHECK_FAILED, "exec could not start")})
    judged = judge_with_controls(blocked_everywhere(), controls)
    assert judged.get("backend", OUT).verdict == Verdict.INCONCLUSIVE
    assert "exec could not start" in judged.get("backend", OUT).reason
    # no control at all for metadata
    assert judged.get("backend", META).verdict == Verdict.INCONCLUSIVE
    assert "no control" in judged.get("backend", META).reason


def test_only_blocked_cells_in_the_controlled_columns_change() -> None:
    matrix = observed(
        a=("frontend", OUT, Verdict.ALLOW),
        b=("frontend", "backend:80", Verdict.DENY),
        c=("backend", META, Verdict.CHECK_FAILED),
    )
    judged = judge_with_controls(matrix, Controls("the control pod", {OUT: Cell(Verdict.DENY)}))
    assert judged.cells == matrix.cells


def test_without_the_control_pod_untrusted_serves_where_nothing_blocks_it() -> None:
    expected = observed(
        a=("untrusted", OUT, Verdict.ALLOW),
        b=("untrusted", META, Verdict.DENY),  # stage 6: the guardrail blocks untrusted too
    )
    seen = blocked_everywhere()
    seen.set("untrusted", OUT, Cell(Verdict.ALLOW))
    controls = controls_from_row(seen, expected)
    assert set(controls.cells) == {OUT}
    judged = judge_with_controls(seen, controls)
    assert judged.get("frontend", OUT).verdict == Verdict.DENY
    assert judged.get("frontend", META).verdict == Verdict.INCONCLUSIVE
    assert judged.get("untrusted", META).verdict == Verdict.INCONCLUSIVE


def test_the_fallback_control_row_itself_is_inconclusive_when_blocked() -> None:
    controls = controls_from_row(blocked_everywhere(), None)
    judged = judge_with_controls(blocked_everywhere(), controls)
    cell = judged.get("untrusted", OUT)
    assert cell.verdict == Verdict.INCONCLUSIVE
    assert "this pod is the control" in cell.reason


def test_control_pod_probes_and_cells() -> None:
    pods = lab_pods(with_control=True)
    probes = plan_control_probes(pods[CONTROL_ROW], outside=("1.1.1.1", 443), timeout=2)
    assert [(p.row, p.column) for p in probes] == [(CONTROL_ROW, OUT), (CONTROL_ROW, META)]
    assert all(p.source.namespace == "netpol-lab-control" for p in probes)
    assert "deploy/control" in probes[0].command
    matrix = Matrix()
    matrix.set(CONTROL_ROW, OUT, Cell(Verdict.ALLOW))
    assert controls_from_pod(matrix).cells == {OUT: Cell(Verdict.ALLOW)}
