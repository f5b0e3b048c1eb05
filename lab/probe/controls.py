"""Controls: a blocked attempt to leave the cluster only proves a policy if it works without one.

A probe to the outside address or to 169.254.169.254 that times out may mean "the policy
blocks it" or "nothing is there" (a laptop without internet; kind has no metadata server).
The control is the pod no policy selects (``untrusted`` at stages 0-5): a blocked cell in
those columns stays a DENY only when the control reaches the same target. Otherwise the
cell becomes inconclusive (``?``) with the reason, never a pass.
"""

from __future__ import annotations

from dataclasses import replace

from lab import scenario
from lab.matrix import Cell, Matrix, Verdict

CONTROL_ROW = "untrusted"
CONTROLLED_COLUMNS: tuple[str, ...] = (scenario.OUTSIDE_COLUMN, scenario.METADATA_COLUMN)
REACHED = (Verdict.ALLOW, Verdict.REFUSED)

_WHY_UNREACHABLE = {
    scenario.OUTSIDE_COLUMN: "this cluster may have no route to the internet (try --outside HOST:PORT "
    "with an address it can reach)",
    scenario.METADATA_COLUMN: "nothing answers at 169.254.169.254 here (normal on kind and on laptops)",
}


def control_usable(expected: Matrix | None, column: str, control: str = CONTROL_ROW) -> bool:
    """Whether the control row may serve as control for ``column``: nothing is meant to block it there."""
    if expected is None:
        return True
    return expected.get(control, column).verdict in (Verdict.ALLOW, Verdict.NOT_JUDGED)


def _inconclusive(cell: Cell, why: str) -> Cell:
    seen = f"{cell.reason}; " if cell.reason else ""
    return replace(cell, verdict=Verdict.INCONCLUSIVE, reason=f"{seen}{why}")


def apply_controls(
    observed: Matrix,
    expected: Matrix | None = None,
    *,
    control: str = CONTROL_ROW,
    columns: tuple[str, ...] = CONTROLLED_COLUMNS,
) -> Matrix:
    """A copy of ``observed`` where each unproven DENY in ``columns`` is inconclusive, with the reason."""
    result = Matrix(rows=list(observed.rows), columns=list(observed.columns), title=observed.title)
    result.cells = dict(observed.cells)
    for column in columns:
        if column not in observed.columns:
            continue
        control_cell = observed.get(control, column)
        usable = control_usable(expected, column, control)
        reached = usable and control_cell.verdict in REACHED
        for row in observed.rows:
            cell = observed.get(row, column)
            if cell.verdict != Verdict.DENY:
                continue
            if row == control:
                if usable:
                    why = f"the control pod ({control}, selected by no policy) cannot reach it: "
                    why += _WHY_UNREACHABLE.get(column, "nothing answers there")
                else:
                    why = (
                        f"{control} is expected to be blocked here too: no pod shows that the target answers"
                    )
                result.cells[(row, column)] = _inconclusive(cell, why)
            elif reached:
                result.cells[(row, column)] = replace(
                    cell, reason=f"{cell.reason} (control {control} reaches it: the block is a policy)"
                )
            elif not usable:
                why = f"no control: {control} is expected to be blocked here too, so a timeout proves nothing"
                result.cells[(row, column)] = _inconclusive(cell, why)
            elif control_cell.verdict == Verdict.CHECK_FAILED:
                result.cells[(row, column)] = _inconclusive(
                    cell, f"the control probe from {control} failed ({control_cell.reason})"
                )
            else:
                why = f"the control pod {control} cannot reach it either ({control_cell.verdict.value}): "
                why += _WHY_UNREACHABLE.get(column, "nothing answers there")
                result.cells[(row, column)] = _inconclusive(cell, why)
    return result
