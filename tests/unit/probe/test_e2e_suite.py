"""The live suite, as a new user meets it without a cluster: readable ids, a skip naming `make lab-up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab.env import project_root
from lab.matrix import Verdict
from tests.e2e.flows import flow_id, flows, seed_expectation

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
    assert len(ids) == len(set(ids)) == 30
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
    assert "32 tests collected" in result.stdout


def test_without_a_lab_every_test_skips_naming_make_lab_up(tmp_path: Path) -> None:
    result = pytest_e2e("-rs", kubeconfig=tmp_path / "absent")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "32 skipped" in result.stdout
    assert "make lab-up" in result.stdout
    assert "netpol-lab: context kind-netpol-lab" in result.stdout  # the header names the context


def test_with_lab_required_an_absent_lab_fails(tmp_path: Path) -> None:
    result = pytest_e2e("-q", "--lab-required", "-x", kubeconfig=tmp_path / "absent")
    assert result.returncode != 0
    assert "make lab-up" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]
