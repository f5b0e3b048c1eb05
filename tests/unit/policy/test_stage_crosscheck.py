"""The spec and the engine check each other: for every workshop stage, the engine's matrix equals
the stage's hand-written expectation table (``stages/<N>-<slug>/expect.txt``); stage 6's Calico
guardrails included."""

from __future__ import annotations

import pytest

from lab.env import project_root
from lab.workshop.lab_matrix import expected_lab_matrix
from lab.workshop.lab_state import load_stage_state
from lab.workshop.stages import Stage, load_stages

STAGES = load_stages(project_root())


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_engine_matches_the_stage_table(stage: Stage) -> None:
    state = load_stage_state(project_root(), str(stage.number))
    assert state.warnings == []
    computed = expected_lab_matrix(state)
    expected = stage.expect
    assert computed.rows == expected.rows and computed.columns == expected.columns
    wrong = [
        f"{row} -> {column}: table {expected.get(row, column).verdict.value}, "
        f"engine {cell.verdict.value} ({cell.reason})"
        for row, column, cell in computed
        if cell.verdict != expected.get(row, column).verdict
    ]
    assert wrong == []


def test_every_stage_is_cross_checked() -> None:
    assert [s.number for s in STAGES] == list(range(len(STAGES))) and len(STAGES) >= 5
