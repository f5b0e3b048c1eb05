"""`down`: deletes the lab's cluster and nothing else; succeeds when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab import cli, pins
from lab.boundary.runner import Result
from lab.commands import down
from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle.cluster import KIND_CONFIG, render_kind_config
from lab.lifecycle.cni import CALICO
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.model.world import LabWorld
from tests.unit.fakebin.tools import install
from tests.unit.lab_world import KUBECTL, World, listing

LAB_CONFIG = yaml.safe_load(
    render_kind_config((project_root() / KIND_CONFIG).read_text(), CALICO, pins.NODE_IMAGE).text
)


def test_deletes_the_lab_and_only_it(model_world: LabWorld) -> None:
    model_world.world.other_kind_clusters.append("work")
    model_world.kind_create(LAB_CONFIG)  # as `up` creates it: every node carries the fingerprint
    env = model_world.environment()
    assert cli.run(["down"], env) is ExitStatus.SUCCESS
    assert "deleted cluster netpol-lab" in output(env)
    assert model_world.cluster.kind is None
    assert model_world.world.other_kind_clusters == ["work"]
    assert ["kind", "delete", "cluster", "--name", "netpol-lab"] in model_world.tool_calls()


def test_a_cluster_up_did_not_build_is_refused_unless_forced(model_world: LabWorld) -> None:
    model_world.kind_create()  # called netpol-lab, but made by hand: no fingerprint
    env = model_world.environment()
    assert cli.run(["down"], env) is ExitStatus.MISSING_PREREQUISITE
    assert errors(env).splitlines() == [
        "error: kind cluster netpol-lab is not one `netpol-lab up` built, or cannot be told "
        "(its nodes carry no netpol-lab/fingerprint label: `netpol-lab up` did not build it): "
        "not deleted; delete it yourself (`kind delete cluster --name netpol-lab`) or rerun with "
        "--force (`netpol-lab down --force`)"
    ]
    assert model_world.cluster.kind is not None
    env = model_world.environment()
    assert cli.run(["down", "--force"], env) is ExitStatus.SUCCESS
    assert model_world.cluster.kind is None


def test_succeeds_when_there_is_no_cluster() -> None:
    env = captured_env()
    runner = World(cluster_exists=False).runner()
    assert down.execute(env, runner) is ExitStatus.SUCCESS
    assert runner.lines == ["kind get clusters"]
    assert "nothing to delete" in output(env)


def test_passes_the_kubeconfig_to_kind_and_kubectl() -> None:
    runner = World(cluster_exists=True).runner()
    runner.answer(
        f"{KUBECTL} --kubeconfig /tmp/lab.kubeconfig get nodes -o json", stdout=listing(World().nodes())
    )
    down.execute(captured_env(), runner, kubeconfig="/tmp/lab.kubeconfig")
    assert runner.lines[-1] == "kind delete cluster --name netpol-lab --kubeconfig /tmp/lab.kubeconfig"


def test_a_missing_kind_is_one_line(tmp_path: Path) -> None:
    env = captured_env({"PATH": str(tmp_path)})
    assert cli.run(["down"], env) is ExitStatus.MISSING_PREREQUISITE
    [line] = errors(env).splitlines()
    assert line.startswith("error: kind is not installed (not on PATH): run `make tools`")


def test_a_failed_delete_is_an_error() -> None:
    runner = World(cluster_exists=True).runner()
    runner.script["kind delete cluster"] = Result(("kind",), 1, "", "ERROR: failed to delete nodes\n")
    with pytest.raises(LabError) as caught:
        down.execute(captured_env(), runner)
    assert "failed to delete nodes" in caught.value.message


def test_dry_run_deletes_nothing(tmp_path: Path) -> None:
    fakes = install(tmp_path)
    env = captured_env(fakes.env())
    assert cli.run(["down", "--dry-run"], env) is ExitStatus.SUCCESS
    assert fakes.calls == []
    assert "$ kind delete cluster --name netpol-lab" in output(env)


def test_recording_runner_sees_no_other_command() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer("kind get clusters", 0, "other\nnetpol-lab\n")
    runner.answer("kubectl config get-contexts kind-netpol-lab")
    runner.answer(f"{KUBECTL} get nodes -o json", stdout=listing(World().nodes()))
    runner.answer("kind delete cluster --name netpol-lab")
    assert down.execute(captured_env(), runner) is ExitStatus.SUCCESS
