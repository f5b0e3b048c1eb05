"""The live suite, as a new user meets it without a cluster: readable ids, a skip naming `make lab-up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.boundary.kube import KubeClients
from lab.env import project_root
from lab.matrix import Verdict
from lab.workshop import stage_apply
from lab.workshop.stages import SEED_STAGE
from tests.e2e.conftest import LiveLab, seed_documents
from tests.e2e.flows import flow_id, flows, seed_expectation
from tests.fakes import RecordingRunner

ROOT = project_root()


def pytest_e2e(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/e2e",
            "-p",
            "no:cacheprovider",
            "--kubeconfig",
            str(kubeconfig),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_judged_seed_cell_is_a_flow_with_a_readable_id() -> None:
    seed = seed_expectation()
    ids = [flow_id(row, column, seed.get(row, column).verdict) for row, column in flows(seed)]
    assert len(ids) == len(set(ids)) == 43  # 4 rows x 13 columns, 9 self cells
    assert "frontend->backend:80 allowed" in ids
    assert "backend->database:3306 allowed" in ids
    assert "untrusted->backend:80 denied (impostor: role frontend, wrong namespace)" in ids
    assert "frontend->database:3306 denied (frontend cannot skip to the database)" in ids
    for row in ("frontend", "backend", "database"):
        assert f"{row}->outside denied (no egress outside the cluster)" in ids
        assert f"{row}->metadata denied (no cloud metadata)" in ids
    assert flow_id("frontend", "svc/backend:80", Verdict.DNS_FAIL) == "frontend->svc/backend:80 dns fails"


def test_collection_lists_every_flow_without_a_cluster(tmp_path: Path) -> None:
    result = pytest_e2e("--collect-only", "-q", kubeconfig=tmp_path / "absent")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "test_flow[untrusted->backend:80 denied (impostor: role frontend, wrong namespace)]" in result.stdout
    )
    assert "test_policies_in_reverse_order_give_the_same_matrix" in result.stdout
    assert "45 tests collected" in result.stdout


def test_without_a_lab_every_test_skips_naming_make_lab_up(tmp_path: Path) -> None:
    result = pytest_e2e("-rs", kubeconfig=tmp_path / "absent")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "45 skipped" in result.stdout
    assert "make lab-up" in result.stdout
    assert "netpol-lab: context kind-netpol-lab" in result.stdout  # the header names the context


def test_with_lab_required_an_absent_lab_fails(tmp_path: Path) -> None:
    result = pytest_e2e("-q", "--lab-required", "-x", kubeconfig=tmp_path / "absent")
    assert result.returncode != 0
    assert "make lab-up" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


# -- how the live suite changes the lab (through a recording runner, no cluster) ----------


def live_lab(runner: RecordingRunner) -> LiveLab:
    clients = KubeClients("/nonexistent/kubeconfig", "kind-netpol-lab")  # never called here
    return LiveLab(clients, "kind-netpol-lab", None, fixed_runner=runner)


def applied_names(runner: RecordingRunner) -> list[str]:
    return [
        doc["metadata"]["name"] + "@" + doc["metadata"].get("namespace", "")
        for call in runner.calls
        if call.argv[3:5] == ("apply", "--server-side") and call.input
        for doc in yaml.safe_load_all(call.input)
        if doc["kind"] != "ConfigMap"
    ]


def recorded_stage(runner: RecordingRunner) -> str | None:
    stages = [
        doc["data"]["stage"]
        for call in runner.calls
        if call.input
        for doc in yaml.safe_load_all(call.input)
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == stage_apply.STATE_RECORD
    ]
    return stages[-1] if stages else None


def test_removing_the_stage_policies_deletes_calico_ones_too_and_records_stage_0() -> None:
    runner = RecordingRunner()
    live_lab(runner).remove_stage_policies()
    deletes = [line for line in runner.lines if " delete " in line]
    # group-qualified: with Calico's API server a bare `networkpolicies` has two meanings
    assert any(stage_apply.K8S_POLICIES in line and "--all-namespaces" in line for line in deletes)
    assert any(stage_apply.CALICO_GLOBAL_POLICIES in line for line in deletes)
    assert recorded_stage(runner) == "0"


def test_a_failed_calico_delete_fails_instead_of_leaving_stage_6_guardrails() -> None:
    runner = RecordingRunner()
    runner.answer(
        f"kubectl --context kind-netpol-lab delete {stage_apply.CALICO_GLOBAL_POLICIES}",
        exit_code=1,
        stderr="Error from server (ServiceUnavailable): the server is currently unable to handle the request",
    )
    with pytest.raises(pytest.fail.Exception, match="could not bring the lab to stage 0"):
        live_lab(runner).remove_stage_policies()


def test_the_reverse_run_applies_the_seed_policies_one_by_one_in_reverse_order() -> None:
    runner = RecordingRunner()
    documents = seed_documents()
    live_lab(runner).apply_one_by_one(list(reversed(documents)))
    in_order = [f"{d['metadata']['name']}@{d['metadata'].get('namespace', '')}" for d in documents]
    assert applied_names(runner) == list(reversed(in_order))
    assert all(len(list(yaml.safe_load_all(call.input or ""))) == 1 for call in runner.calls)
    assert applied_names(runner)[0] == "database-from-backend@database"  # the last seed policy first


def test_the_suite_leaves_the_lab_at_the_recorded_seed_stage() -> None:
    runner = RecordingRunner()
    live = live_lab(runner)
    live.restore_seed()
    assert runner.calls == []  # nothing was changed, nothing to restore
    live.remove_stage_policies()
    live.apply_one_by_one(seed_documents())
    live.restore_seed()
    assert recorded_stage(runner) == str(SEED_STAGE)
    last_apply = [call for call in runner.calls if call.input and "ConfigMap" not in call.input][-1]
    seed = {d["metadata"]["name"] for d in seed_documents()}
    assert {d["metadata"]["name"] for d in yaml.safe_load_all(last_apply.input or "")} == seed
