"""Predictions per CNI (lab.policy.dataplanes): what calico, kindnet and plain enforce of one state."""

from __future__ import annotations

import pytest

from lab.cli import run
from lab.env import project_root
from lab.errors import ExitStatus
from lab.matrix import Verdict
from lab.policy.dataplanes import CNIS, enforced_by
from lab.workshop.lab_matrix import expected_lab_matrix
from lab.workshop.lab_state import load_stage_state
from lab.workshop.stages import load_stages, stage_by_name
from tests.fakes import captured_env, errors, output

ROOT = project_root()
STAGES = load_stages(ROOT)


def verdicts(number: int, cni: str) -> dict[tuple[str, str], Verdict]:
    matrix = expected_lab_matrix(enforced_by(load_stage_state(ROOT, str(number)), cni))
    return {(row, column): cell.verdict for row, column, cell in matrix}


@pytest.mark.parametrize("number", [s.number for s in STAGES])
def test_calico_is_the_state_as_written(number: int) -> None:
    state = load_stage_state(ROOT, str(number))
    assert enforced_by(state, "calico") is state


def test_kindnet_at_stage_7_is_stage_5_its_cluster_network_policies_stored_only() -> None:
    # stage 7 = the NetworkPolicies of stages 0-5 plus two ClusterNetworkPolicies kindnet ignores
    assert verdicts(7, "kindnet") == verdicts(5, "calico")
    assert verdicts(7, "kindnet") != verdicts(7, "calico")
    table = stage_by_name(STAGES, "7").expect
    assert table.get("untrusted", "metadata").verdict == Verdict.DENY  # Calico: the Admin tier denies
    assert verdicts(7, "kindnet")[("untrusted", "metadata")] == Verdict.ALLOW  # kindnet: nothing does


def test_kindnet_keeps_every_network_policy() -> None:
    for stage in STAGES[:6]:
        assert verdicts(stage.number, "kindnet") == verdicts(stage.number, "calico"), stage.name


@pytest.mark.parametrize("number", [s.number for s in STAGES])
def test_plain_enforces_nothing(number: int) -> None:
    judged = {v for v in verdicts(number, "plain").values() if v != Verdict.NOT_JUDGED}
    assert judged == {Verdict.ALLOW}


def test_what_is_left_out_is_named_never_silently_dropped() -> None:
    state = enforced_by(load_stage_state(ROOT, "7"), "kindnet")
    assert any(
        "2 ClusterNetworkPolicies in the state are stored and not enforced there" in n for n in state.notes
    )
    plain = enforced_by(load_stage_state(ROOT, "4"), "plain")
    assert any("NetworkPolicies in the state are stored and not enforced there" in n for n in plain.notes)


def test_an_unknown_cni_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown CNI 'cilium'"):
        enforced_by(load_stage_state(ROOT, "0"), "cilium")
    assert CNIS == ("calico", "kindnet", "plain")


def test_expect_stage_7_for_kindnet_prints_the_unenforced_cells_and_says_why() -> None:
    env = captured_env()
    assert run(["expect", "--stage", "7", "--cni", "kindnet"], env) == ExitStatus.SUCCESS
    assert "predicted for kindnet, which enforces NetworkPolicy only" in errors(env)
    calico = captured_env()
    assert run(["expect", "--stage", "7"], calico) == ExitStatus.SUCCESS
    assert output(env) != output(calico)
