"""`netpol-lab stage`: eight stages, `show` explains, `apply` is declarative and then probes."""

from __future__ import annotations

import argparse

import pytest
import yaml

from lab.boundary.runner import Result
from lab.cli import run as cli_run
from lab.commands import stage as stage_command
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.pins import KUBE_CONTEXT
from lab.workshop import stage_apply
from lab.workshop.stages import Stage, load_stages
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.model.world import LabWorld
from tests.unit.lab_world import World, listing

STAGES = load_stages(captured_env().root)
KUBECTL = f"kubectl --context {KUBE_CONTEXT}"
GET_STAGE = f"{KUBECTL} get configmap netpol-lab-stage -n default"
DELETE_K8S = f"{KUBECTL} delete networkpolicies.networking.k8s.io --all-namespaces -l"
DELETE_GNP = f"{KUBECTL} delete globalnetworkpolicies.projectcalico.org -l"
DELETE_CNP = f"{KUBECTL} delete clusternetworkpolicies.policy.networking.k8s.io -l"
APPLY = f"{KUBECTL} apply --server-side --force-conflicts --field-manager=netpol-lab -f -"


def kubectl(*rest: str) -> list[str]:
    return ["kubectl", "--context", KUBE_CONTEXT, *rest]


def args(action: str, stage: str | None = None, *, no_probe: bool = False) -> argparse.Namespace:
    return argparse.Namespace(
        action=action, stage=stage, no_probe=no_probe, dry_run=False, context=KUBE_CONTEXT, kubeconfig=None
    )


class ProbeSpy:
    def __init__(self) -> None:
        self.stages: list[int] = []

    def __call__(self, _args: argparse.Namespace, _env: Environment, stage: Stage) -> ExitStatus:
        self.stages.append(stage.number)
        return ExitStatus.SUCCESS


def at_stage(number: int | None) -> RecordingRunner:
    """A lab (its nodes carry the fingerprint `up` stamps) whose stage record says ``number``."""
    runner = RecordingRunner()
    runner.answer(GET_STAGE, stdout="" if number is None else str(number))
    runner.answer(f"{KUBECTL} get nodes -o json", stdout=listing(World().nodes()))
    return runner


def applied_documents(runner: RecordingRunner) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for call in runner.calls:
        if call.line == APPLY:
            docs.extend(d for d in yaml.safe_load_all(call.input or "") if d)
    return docs


def test_list_shows_eight_stages_one_line_each() -> None:
    env = captured_env()
    assert cli_run(["stage", "list"], env) == ExitStatus.SUCCESS
    lines = output(env).splitlines()
    assert [line.split()[0] for line in lines] == [str(n) for n in range(8)]
    assert "Calico's guardrails" in lines[6]
    assert "ClusterNetworkPolicy" in lines[7]


def test_show_explains_the_stage_its_yaml_and_the_changed_cells() -> None:
    env = captured_env()
    assert cli_run(["stage", "show", "3"], env) == ExitStatus.SUCCESS
    text = output(env)
    assert text.startswith("# Stage 3: frontend to backend on port 80")
    assert "--- stages/3-frontend-backend/backend-from-frontend.yaml" in text
    assert "name: frontend-to-backend" in text
    cells, flows = text.split("Expected cells that change from stage 2:\n", 1)[1].split("\n\n", 1)
    assert [line.split() for line in cells.splitlines()] == [
        ["frontend", "->", "backend:80", "DENY", "->", "ALLOW"],
        ["frontend", "->", "svc/backend:80", "DENY", "->", "ALLOW"],
    ]
    # the flows, from the evaluator (netpol-lab diff), with the rule that decides them on both sides
    assert flows.startswith("Flows that change from stage 2 (`netpol-lab diff --stage 2 --stage 3`")
    changed = [line.strip() for line in flows.splitlines()[1:] if not line.startswith("    ")]
    assert changed == ["opened: frontend/frontend -> backend/backend:80/TCP"]
    assert (
        "B: ALLOW egress: allowed by frontend/frontend-to-backend spec.egress[0]; ingress: allowed by "
        "backend/backend-from-frontend spec.ingress[0]" in flows
    )


def test_show_stage_zero_is_the_baseline() -> None:
    env = captured_env()
    cli_run(["stage", "show", "0"], env)
    assert "(no policies at this stage)" in output(env)
    assert "stage 0 is the baseline" in output(env)


def test_show_an_unknown_stage_is_one_line() -> None:
    env = captured_env()
    assert cli_run(["stage", "show", "9"], env) == ExitStatus.USAGE
    assert "no stage '9'" in errors(env)


def test_plan_for_stage_3_applies_0_to_3_and_deletes_later_stages() -> None:
    plan = stage_apply.plan_apply(STAGES, 3, kubectl)
    lines = [" ".join(step.argv) for step in plan.steps]
    assert lines == [
        APPLY,
        f"{DELETE_K8S} netpol-lab/stage,netpol-lab/stage notin (0,1,2,3) --ignore-not-found",
        f"{DELETE_CNP} netpol-lab/stage,netpol-lab/stage notin (0,1,2,3) --ignore-not-found",
        f"{DELETE_GNP} netpol-lab/stage,netpol-lab/stage notin (0,1,2,3) --ignore-not-found",
        APPLY,
    ]
    policies = list(yaml.safe_load_all(plan.steps[0].input or ""))
    assert sorted({p["metadata"]["labels"]["netpol-lab/stage"] for p in policies}) == ["1", "2", "3"]
    assert len(policies) == sum(len(s.documents()) for s in STAGES[:4])
    record = yaml.safe_load(plan.steps[-1].input or "")
    assert (record["kind"], record["metadata"]["name"], record["data"]) == (
        "ConfigMap",
        "netpol-lab-stage",
        {"stage": "3"},
    )


def test_plan_for_stage_6_applies_calico_objects_separately() -> None:
    plan = stage_apply.plan_apply(STAGES, 6, kubectl)
    kinds = [[d["kind"] for d in yaml.safe_load_all(step.input or "")] for step in plan.steps if step.input]
    assert set(kinds[0]) == {"NetworkPolicy"}
    assert kinds[1] == ["GlobalNetworkPolicy", "GlobalNetworkPolicy"]
    assert kinds[2] == ["ConfigMap"]


def test_stage_7_replaces_stage_6s_guardrails_with_cluster_network_policies() -> None:
    plan = stage_apply.plan_apply(STAGES, 7, kubectl)
    kinds = [[d["kind"] for d in yaml.safe_load_all(step.input or "")] for step in plan.steps if step.input]
    assert set(kinds[0]) == {"NetworkPolicy"}
    assert kinds[1] == ["ClusterNetworkPolicy", "ClusterNetworkPolicy"]
    assert kinds[2] == ["ConfigMap"]  # and no GlobalNetworkPolicy: stage 6 is not in force
    lines = [" ".join(step.argv) for step in plan.steps]
    # stage 6's objects carry label 6, which is no longer kept: every delete takes them away
    for delete in (DELETE_K8S, DELETE_CNP, DELETE_GNP):
        assert any(line.startswith(delete) and "notin (0,1,2,3,4,5,7)" in line for line in lines), delete


def test_going_back_from_7_to_6_deletes_the_cluster_network_policies() -> None:
    plan = stage_apply.plan_apply(STAGES, 6, kubectl)
    lines = [" ".join(step.argv) for step in plan.steps]
    assert any(line.startswith(DELETE_CNP) and "notin (0,1,2,3,4,5,6)" in line for line in lines)


def test_reset_applies_nothing_and_deletes_every_stage_policy() -> None:
    runner = at_stage(6)
    spy = ProbeSpy()
    env = captured_env()
    status = stage_command.change_stage(args("reset", no_probe=True), env, runner, STAGES, probe=spy)
    assert status == ExitStatus.SUCCESS
    assert [d["kind"] for d in applied_documents(runner)] == ["ConfigMap"]
    assert any(line.startswith(DELETE_K8S) and "notin (0)" in line for line in runner.lines)
    assert any(line.startswith(DELETE_GNP) and "notin (0)" in line for line in runner.lines)
    assert "Policies removed:" in output(env)
    assert "GlobalNetworkPolicy netpol-lab-default-deny" in output(env)
    assert "NetworkPolicy backend/default-deny" in output(env)
    assert spy.stages == []


def test_going_down_deletes_the_later_stages_policies() -> None:
    runner = at_stage(5)
    env = captured_env()
    stage_command.change_stage(args("apply", "3"), env, runner, STAGES, probe=ProbeSpy())
    [delete] = [line for line in runner.lines if line.startswith(DELETE_K8S)]
    assert "notin (0,1,2,3)" in delete  # stages 4 and 5 go
    assert "NetworkPolicy backend/backend-to-outside" in output(env)
    changed = output(env).split("Expected cells that change from stage 5:\n", 1)[1]
    assert "backend -> database:3306" in changed and "ALLOW -> DENY" in changed


def test_apply_prints_the_changes_then_probes() -> None:
    runner = at_stage(4)
    spy = ProbeSpy()
    env = captured_env()
    status = stage_command.change_stage(args("apply", "5"), env, runner, STAGES, probe=spy)
    assert status == ExitStatus.SUCCESS
    text = output(env)
    assert "Stage 5: the backend calls an outside API" in text
    assert "name: backend-to-outside" in text  # the YAML that changed
    assert "backend -> outside  DENY -> ALLOW" in text
    assert spy.stages == [5]
    assert runner.lines[0] == f"{KUBECTL} get nodes -o json"  # is it a lab? before anything else
    assert runner.lines[1].startswith(GET_STAGE)


def test_next_follows_the_recorded_stage() -> None:
    runner = at_stage(4)
    spy = ProbeSpy()
    stage_command.change_stage(args("next"), captured_env(), runner, STAGES, probe=spy)
    assert spy.stages == [5]
    record = applied_documents(runner)[-1]
    assert record["data"] == {"stage": "5"}


def test_next_without_a_record_starts_at_stage_1() -> None:
    spy = ProbeSpy()
    stage_command.change_stage(args("next"), captured_env(), at_stage(None), STAGES, probe=spy)
    assert spy.stages == [1]


def test_next_after_the_last_stage_says_so() -> None:
    runner = at_stage(7)
    env = captured_env()
    stage_command.change_stage(args("next"), env, runner, STAGES, probe=ProbeSpy())
    assert "already at the last stage (7)" in output(env)
    assert not any(" delete " in line for line in runner.lines)


def test_no_probe_skips_the_probe() -> None:
    spy = ProbeSpy()
    env = captured_env()
    stage_command.change_stage(args("apply", "seed", no_probe=True), env, at_stage(3), STAGES, probe=spy)
    assert spy.stages == []
    assert "probe with `netpol-lab probe --stage 4`" in output(env)


def test_kindnet_has_no_calico_policies_to_delete() -> None:
    runner = at_stage(2)
    runner.answer(
        DELETE_GNP, 1, stderr='error: the server doesn\'t have a resource type "globalnetworkpolicies"'
    )
    runner.answer(
        DELETE_CNP, 1, stderr='error: the server doesn\'t have a resource type "clusternetworkpolicies"'
    )
    status = stage_command.change_stage(
        args("apply", "3", no_probe=True), captured_env(), runner, STAGES, probe=ProbeSpy()
    )
    assert status == ExitStatus.SUCCESS
    assert applied_documents(runner)[-1]["kind"] == "ConfigMap"  # carried on and recorded the stage


def test_calicos_api_server_down_is_not_taken_for_no_calico() -> None:
    # kubectl says "doesn't have a resource type" here too, after a discovery error: the
    # guardrails may exist, so going back from stage 6 must not report success
    runner = at_stage(6)
    runner.answer(
        DELETE_GNP,
        1,
        stderr=(
            'E0101 00:00:00.000000 1 memcache.go:265] "Unhandled Error" err="couldn\'t get resource list '
            'for projectcalico.org/v3: the server is currently unable to handle the request"\n'
            'error: the server doesn\'t have a resource type "globalnetworkpolicies"\n'
        ),
    )
    with pytest.raises(LabError, match=r"Calico's API server does not answer.*tigerastatus apiserver"):
        stage_command.change_stage(
            args("apply", "4", no_probe=True), captured_env(), runner, STAGES, probe=ProbeSpy()
        )
    assert all(doc["kind"] != "ConfigMap" for doc in applied_documents(runner))  # stage 4 not recorded


def test_stage_6_without_calicos_api_server_is_one_line_with_the_fix() -> None:
    runner = at_stage(5)

    def apply(argv: tuple[str, ...], input: str | None) -> Result:
        if "GlobalNetworkPolicy" in (input or ""):
            return Result(
                argv,
                1,
                "",
                'error: resource mapping not found for name: "netpol-lab-deny-metadata": '
                'no matches for kind "GlobalNetworkPolicy" in version "projectcalico.org/v3"\n',
            )
        return Result(argv, 0)

    runner.script[APPLY] = apply
    with pytest.raises(
        LabError, match=r"no matches for kind .*; Calico's policy kinds .*make lab-up CNI=calico"
    ):
        stage_command.change_stage(args("apply", "6"), captured_env(), runner, STAGES, probe=ProbeSpy())
    assert not any(line.startswith(DELETE_K8S) for line in runner.lines)  # stopped at the failure


def test_dry_run_prints_the_plan_and_runs_nothing() -> None:
    env = captured_env()
    assert cli_run(["stage", "apply", "6", "--dry-run"], env) == ExitStatus.SUCCESS
    text = output(env)
    assert f"$ {APPLY} <<'EOF'" in text
    assert "kind: GlobalNetworkPolicy" in text
    assert (
        f"$ {DELETE_K8S} 'netpol-lab/stage,netpol-lab/stage notin (0,1,2,3,4,5,6)' --ignore-not-found" in text
    )


# -- only the lab: through real kubectl against the model ------------------------------------------


def test_a_cluster_up_did_not_build_is_refused_before_anything_changes(model_world: LabWorld) -> None:
    model_world.kind_create()  # a kind cluster, but not the lab (no fingerprint on its nodes)
    before = len(model_world.cluster.request_log)
    env = model_world.environment()
    assert cli_run(["stage", "apply", "3"], env) == ExitStatus.MISSING_PREREQUISITE
    assert errors(env).splitlines() == [
        "error: context kind-netpol-lab is not a netpol-lab cluster (its nodes carry no "
        "netpol-lab/fingerprint label: `netpol-lab up` did not build it): nothing was changed; point "
        "--context at the lab (default "
        "kind-netpol-lab; `kubectl config get-contexts` lists them) or build it with `make lab-up`"
    ]
    assert (
        output(env) == "$ kubectl --context kind-netpol-lab get nodes -o json\n"
    )  # the check, not even the plan
    writes = [r for r in model_world.cluster.request_log[before:] if not r.startswith("GET ")]
    assert writes == []


def test_another_context_is_refused_too(model_world: LabWorld) -> None:
    model_world.kind_create()
    env = model_world.environment()
    assert (
        cli_run(["stage", "reset", "--context", "some-other-cluster"], env) == ExitStatus.MISSING_PREREQUISITE
    )
    assert "context some-other-cluster is not a netpol-lab cluster" in errors(env)


def test_an_unknown_stage_is_refused_before_the_cluster_is_asked(model_world: LabWorld) -> None:
    env = model_world.environment()
    assert cli_run(["stage", "apply", "99"], env) == ExitStatus.USAGE
    assert errors(env).splitlines() == ["error: no stage '99': choose one of 0, 1, 2, 3, 4, 5, 6, 7 or seed"]
    assert model_world.cluster.request_log == [] and model_world.tool_calls() == []


def test_without_a_lab_a_stage_command_is_one_line(model_world: LabWorld) -> None:
    env = model_world.environment()
    assert cli_run(["stage", "next"], env) == ExitStatus.MISSING_PREREQUISITE
    lines = errors(env).splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: context kind-netpol-lab is not a netpol-lab cluster"
    )
    assert "make lab-up" in lines[0]
