"""Stage folders load, follow the format and stay consistent with the scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import scenario
from lab.env import project_root
from lab.errors import LabError
from lab.matrix import Verdict
from lab.workshop.stages import STAGE_LABEL, cumulative_documents, in_force, load_stages, stage_by_name

STAGES = load_stages(project_root())


def test_stages_are_numbered_from_zero_without_gaps() -> None:
    assert [s.number for s in STAGES] == list(range(len(STAGES)))
    assert len(STAGES) >= 5


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_expectation_table_covers_the_scenario(stage) -> None:  # type: ignore[no-untyped-def]
    matrix = stage.expect
    assert matrix.rows[: len(scenario.ROWS)] == list(scenario.ROWS)
    assert matrix.columns == list(scenario.COLUMNS)
    for row in scenario.ROWS:
        for column in scenario.COLUMNS:
            target = scenario.column_workload(column)
            is_self = target is not None and target.name == row
            assert (matrix.get(row, column).verdict == Verdict.NOT_JUDGED) == is_self, (row, column)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_readme_names_the_stage(stage) -> None:  # type: ignore[no-untyped-def]
    assert stage.text.startswith(f"# Stage {stage.number}: ")
    assert stage.title and stage.title != stage.slug


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_every_policy_carries_its_stage_and_the_lab_label(stage) -> None:  # type: ignore[no-untyped-def]
    for doc in stage.documents():
        labels = doc["metadata"]["labels"]
        assert labels[STAGE_LABEL] == str(stage.number), doc["metadata"]["name"]
        assert labels["app.kubernetes.io/part-of"] == "netpol-lab"


def test_cumulative_documents_add_up() -> None:
    counts = [len(cumulative_documents(STAGES, s.number)) for s in STAGES[:7]]
    assert counts == sorted(counts)
    assert counts[0] == 0
    assert len(cumulative_documents(STAGES, 4)) == sum(len(s.documents()) for s in STAGES[:5])


def test_seed_alias_and_unknown_stage() -> None:
    assert stage_by_name(STAGES, "seed").number == 4
    assert stage_by_name(STAGES, "3-frontend-backend").number == 3
    with pytest.raises(LabError, match="no stage '99'"):
        stage_by_name(STAGES, "99")


def test_seed_table_states_every_rule() -> None:
    seed = stage_by_name(STAGES, "seed").expect
    assert seed.get("frontend", "backend:80").verdict == Verdict.ALLOW
    assert seed.get("backend", "database:3306").verdict == Verdict.ALLOW
    assert seed.get("untrusted", "backend:80").verdict == Verdict.DENY  # the impostor
    assert seed.get("frontend", "database:3306").verdict == Verdict.DENY  # no skipping a tier
    for row in scenario.PROTECTED:
        assert seed.get(row, "outside").verdict == Verdict.DENY
        assert seed.get(row, "metadata").verdict == Verdict.DENY


def test_broken_table_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "stages" / "0-open"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# Stage 0: x\n\ny.\n")
    (folder / "expect.txt").write_text("from a b\nfrontend ALLOW\n")
    [stage] = load_stages(tmp_path)
    with pytest.raises(LabError, match=r"expect\.txt: row 2 .* 1 verdicts for 2 columns"):
        _ = stage.expect


def test_stage_7_takes_stage_6s_guardrails_out_of_force() -> None:
    assert [s.number for s in in_force(STAGES, 6)] == [0, 1, 2, 3, 4, 5, 6]
    assert [s.number for s in in_force(STAGES, 7)] == [0, 1, 2, 3, 4, 5, 7]
    kinds = sorted({d["kind"] for d in cumulative_documents(STAGES, 7)})
    assert kinds == ["ClusterNetworkPolicy", "NetworkPolicy"]  # no GlobalNetworkPolicy left


@pytest.mark.parametrize(
    "text",
    ['{"replaces": [1]}', '{"replaces": "0"}', '{"replace": [0]}', "{not json", '{"replaces": [true]}'],
)
def test_a_stage_json_that_is_not_a_list_of_earlier_stages_is_one_clear_error(
    tmp_path: Path, text: str
) -> None:
    for number in (0, 1):
        folder = tmp_path / "stages" / f"{number}-s"
        folder.mkdir(parents=True)
        (folder / "README.md").write_text(f"# Stage {number}: x\n\ny.\n")
    (tmp_path / "stages" / "1-s" / "stage.json").write_text(text)
    stages = load_stages(tmp_path)
    with pytest.raises(LabError, match=r"stage\.json: "):
        in_force(stages, 1)
