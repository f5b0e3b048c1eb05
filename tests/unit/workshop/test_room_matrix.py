"""The engine cross-checks a room: three copies at different stages, and no cell of one depends on
another participant's policies (whole room, copy alone, the others made hostile)."""

from __future__ import annotations

import pytest

from lab.env import project_root
from lab.lifecycle.room import Participant
from lab.matrix import Verdict
from lab.workshop import participant as rendering
from lab.workshop import room_matrix
from lab.workshop.room_matrix import copy_matrix, copy_objects, independence

ROOT = project_root()
NAMESPACED = (0, 1, 2, 3, 4, 5)  # the stages a copy takes (6 and 7 are cluster-wide)
P01, P02, P03 = Participant("p01"), Participant("p02"), Participant("p03")


@pytest.mark.parametrize("first", NAMESPACED)
def test_three_copies_at_different_stages_are_independent_and_each_is_the_lab(first: int) -> None:
    stages = {p: NAMESPACED[(first + n) % len(NAMESPACED)] for n, p in enumerate((P01, P02, P03))}
    assert independence(ROOT, stages) == []


def test_a_copys_matrix_is_its_stage_and_reads_its_own_pods() -> None:
    matrix = copy_matrix(copy_objects(ROOT, P02, 4) + copy_objects(ROOT, P01, 0), P02)
    assert matrix.get("frontend", "backend:80").verdict == Verdict.ALLOW
    assert matrix.get("untrusted", "backend:80").verdict == Verdict.DENY  # the impostor, in p02-untrusted
    assert matrix.get("backend", "database:3306").verdict == Verdict.ALLOW
    assert matrix.get("frontend", "database:3306").verdict == Verdict.DENY  # stage 4's, not p01's stage 0
    p01 = copy_matrix(copy_objects(ROOT, P02, 4) + copy_objects(ROOT, P01, 0), P01)
    assert p01.get("frontend", "database:3306").verdict == Verdict.ALLOW


def test_the_check_sees_a_copy_that_is_not_rendered_into_its_namespaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the namespaceSelector rewrite the copy's stage 3 names the lab's namespaces, which do not
    exist in a room: the frontend -> backend cells close, and the check says so."""
    monkeypatch.setattr(
        rendering, "render_namespace_selector", lambda selector, participant: dict(selector or {})
    )
    found = independence(ROOT, {P01: 3, P02: 0})
    assert {(d.participant, d.row, d.column) for d in found} >= {("p01", "frontend", "backend:80")}
    assert all(d.participant == "p01" for d in found)


def test_hostile_neighbours_are_really_there() -> None:
    """The hostile variant does change the neighbour's own matrix (so it is not a no-op)."""
    objects = copy_objects(ROOT, P01, 4) + room_matrix.hostile_policies(P01)
    matrix = copy_matrix(objects, P01)
    assert matrix.get("untrusted", "backend:80").verdict == Verdict.ALLOW  # open-all let the impostor in
