"""What a lab without Calico is told before a stage is applied (lab.workshop.stage_apply)."""

from __future__ import annotations

import pytest

from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.workshop.stage_apply import not_enforced_warnings
from lab.workshop.stages import load_stages

STAGES = load_stages(project_root())


@pytest.mark.parametrize("cni", ["calico", None])
def test_calico_labs_and_unknown_labs_are_told_nothing(cni: str | None) -> None:
    assert all(not_enforced_warnings(STAGES, s.number, cni) == [] for s in STAGES)


@pytest.mark.parametrize("cni", ["kindnet", "plain"])
def test_stage_6_is_refused_without_calico_before_anything_changes(cni: str) -> None:
    with pytest.raises(LabError) as raised:
        not_enforced_warnings(STAGES, 6, cni)
    assert raised.value.status == ExitStatus.MISSING_PREREQUISITE
    assert f"which a {cni} lab does not serve: nothing was changed" in raised.value.message


def test_stage_7_on_kindnet_names_the_unenforced_objects() -> None:
    [warning] = not_enforced_warnings(STAGES, 7, "kindnet")
    assert warning.startswith("warning: kindnet enforces NetworkPolicy only: the ClusterNetworkPolicies ")
    assert "netpol-lab-deny-metadata" in warning and "netpol-lab-baseline-deny" in warning
    assert not_enforced_warnings(STAGES, 5, "kindnet") == []  # NetworkPolicies only: nothing to say


def test_an_object_the_server_refuses_as_invalid_is_blamed_on_its_yaml_not_on_the_lab() -> None:
    from lab.workshop.stage_apply import CALICO_MISSING, Plan, Step, execute
    from tests.fakes import RecordingRunner

    runner = RecordingRunner()
    runner.answer(
        "kubectl apply",
        1,
        stderr='The GlobalNetworkPolicy "g" is invalid: spec.egress[0]: '
        "rule contains both IPv4 and IPv6 CIDRs\n",
    )
    with pytest.raises(LabError) as raised:
        execute(
            runner, Plan(6, [Step(("kubectl", "apply", "-f", "-"), "{}", explain_failure=CALICO_MISSING)])
        )
    assert "rule contains both IPv4 and IPv6 CIDRs" in raised.value.message
    assert raised.value.message.endswith("correct it in its YAML and apply again")
    assert CALICO_MISSING not in raised.value.message
