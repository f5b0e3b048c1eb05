"""`down`: deletes the lab's cluster and nothing else; succeeds when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import cli
from lab.boundary.runner import Result
from lab.commands import down
from lab.errors import ExitStatus, LabError
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.unit.fakebin.tools import install
from tests.unit.lab_world import World


def test_deletes_the_cluster_and_only_it() -> None:
    env = captured_env()
    runner = World(cluster_exists=True).runner()
    assert down.execute(env, runner) is ExitStatus.SUCCESS
    assert runner.lines == ["kind get clusters", "kind delete cluster --name netpol-lab"]
    assert "deleted cluster netpol-lab" in output(env)


def test_succeeds_when_there_is_no_cluster() -> None:
    env = captured_env()
    runner = World(cluster_exists=False).runner()
    assert down.execute(env, runner) is ExitStatus.SUCCESS
    assert runner.lines == ["kind get clusters"]
    assert "nothing to delete" in output(env)


def test_passes_the_kubeconfig_to_kind() -> None:
    runner = World(cluster_exists=True).runner()
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


def test_through_fake_kind(tmp_path: Path) -> None:
    fakes = install(tmp_path)
    fakes.script(World(cluster_exists=True).fake_script())
    env = captured_env(fakes.env())
    assert cli.run(["down"], env) is ExitStatus.SUCCESS
    assert fakes.lines == ["kind get clusters", "kind delete cluster --name netpol-lab"]
    assert "$ kind delete cluster --name netpol-lab" in output(env)


def test_dry_run_deletes_nothing(tmp_path: Path) -> None:
    fakes = install(tmp_path)
    env = captured_env(fakes.env())
    assert cli.run(["down", "--dry-run"], env) is ExitStatus.SUCCESS
    assert fakes.calls == []
    assert "$ kind delete cluster --name netpol-lab" in output(env)


def test_recording_runner_sees_no_other_command() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer("kind get clusters", 0, "other\nnetpol-lab\n")
    runner.answer("kind delete cluster --name netpol-lab")
    assert down.execute(captured_env(), runner) is ExitStatus.SUCCESS
