"""`netpol-lab check` offline as a participant runs it: exit codes, the matrix view, the JSON lines,
the default answers folder, refusals in one line, the HTML page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lab.cli import run as cli_run
from lab.env import project_root
from lab.errors import ExitStatus
from tests.fakes import captured_env, errors, output

ROOT = project_root()
MONITORING = ROOT / "exercises" / "monitoring"


def check(*argv: str, root: Path = ROOT, **env: str) -> tuple[ExitStatus, str, str]:
    environment = captured_env(env, root=root)
    status = cli_run(["check", *argv], environment)
    return status, output(environment), errors(environment)


def test_the_shipped_solution_passes() -> None:
    status, out, err = check("monitoring", str(MONITORING / "solution.yaml"))
    assert status == ExitStatus.SUCCESS, out + err
    assert (
        out.splitlines()[0]
        == "Exercise monitoring: Let the monitoring probe scrape the backend's metrics port"
    )
    assert "PASS: all 5 goal cells hold" in out


def test_a_wrong_answer_fails_naming_the_cell_the_reason_and_the_hint() -> None:
    status, out, _ = check("monitoring", str(MONITORING / "wrong" / "too-closed.yaml"))
    assert status == ExitStatus.MISMATCH
    assert "✗ DENY≠ALLOW" in out  # in the matrix: observed, then the goal
    assert "✗ monitoring/prober -> backend:9090: expected ALLOW, got DENY" in out
    assert "why: ingress: backend/backend is isolated by" in out
    assert "hint: The backend's ingress is isolated" in out
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 1 of 5 goal cells wrong")


def test_the_too_open_answer_fails_least_privilege_only() -> None:
    status, out, _ = check("monitoring", str(MONITORING / "wrong" / "too-open.yaml"))
    assert status == ExitStatus.MISMATCH
    assert (
        "✗ monitoring/netpol-lab-stranger (a new pod without labels in namespace monitoring) -> "
        "backend:9090: gained access: DENY without your policies, ALLOW with them"
    ) in out
    assert "FAIL: 0 of 5 goal cells wrong, 1 of" in out


def test_json_is_one_record_per_line_with_the_result_last() -> None:
    status, out, _ = check(
        "monitoring",
        str(MONITORING / "wrong" / "too-open.yaml"),
        "--output",
        "json",
        NETPOL_LAB_PARTICIPANT="ada",
    )
    assert status == ExitStatus.MISMATCH
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["record"] for r in records[:-1]} == {"cell"}
    result = records[-1]
    assert result["record"] == "result"
    assert (result["participant"], result["exercise"], result["passed"]) == ("ada", "monitoring", False)
    assert result["goal"] == {"cells": 5, "wrong": 0}
    assert result["least_privilege"]["wrong"] == 1
    [wrong] = [r for r in records if r["record"] == "cell" and not r["ok"]]
    assert wrong["probe"] == "stranger" and wrong["from"] == "monitoring/netpol-lab-stranger"
    assert wrong["why"].startswith("egress: monitoring/netpol-lab-stranger is not isolated")
    assert wrong["hint"]


def test_the_participant_defaults_to_the_login_name() -> None:
    _, out, _ = check("monitoring", str(MONITORING / "solution.yaml"), "--output", "json", USER="grace")
    assert json.loads(out.splitlines()[-1])["participant"] == "grace"


def test_objects_outside_the_scope_are_refused_and_nothing_is_judged() -> None:
    status, out, err = check(
        "database-dns", str(ROOT / "exercises" / "database-dns" / "wrong" / "wrong-namespace.yaml")
    )
    assert status == ExitStatus.USAGE
    assert "✗ refused NetworkPolicy kube-system/coredns-from-database" in out
    assert err.strip().splitlines() == [
        "error: 1 object(s) refused, e.g. NetworkPolicy kube-system/coredns-from-database in "
        "exercises/database-dns/wrong/wrong-namespace.yaml: namespace kube-system is not yours in this "
        "exercise (yours: database)"
    ]


def test_without_files_the_answers_folder_is_read(tmp_path: Path) -> None:
    for name in ("manifests", "stages", "exercises"):
        os.symlink(ROOT / name, tmp_path / name)
    status, _, err = check("monitoring", root=tmp_path)
    assert status == ExitStatus.USAGE
    assert "no answer files in answers/monitoring/: put your policies there" in err
    folder = tmp_path / "answers" / "monitoring"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text((MONITORING / "solution.yaml").read_text())
    status, out, err = check("monitoring", root=tmp_path)
    assert status == ExitStatus.SUCCESS, out + err
    assert "answers/monitoring/mine.yaml" in out


def test_without_an_exercise_the_exercises_are_listed() -> None:
    status, out, _ = check()
    assert status == ExitStatus.SUCCESS
    lines = out.splitlines()
    assert lines[0].startswith("1  monitoring") and lines[5].startswith("6  guardrail")
    assert "(from stage 4)" in lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "no exercise 'nope': choose one of"),
        (["monitoring", "missing.yaml"], "missing.yaml: no such file"),
        (["--live"], "name the exercise first"),
        (["monitoring", "--timeout", "0"], "--timeout must be more than 0 seconds"),
    ],
)
def test_bad_arguments_are_one_line_with_the_fix(argv: list[str], message: str) -> None:
    status, _, err = check(*argv)
    assert status == ExitStatus.USAGE
    assert len(err.strip().splitlines()) == 1 and message in err


def test_a_bad_policy_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: backend}\n"
        "spec: {podSelector: {}, ingress: [{ports: [{port: 99999}]}]}\n"
    )
    status, _, err = check("monitoring", str(bad))
    assert status == ExitStatus.USAGE
    assert len(err.strip().splitlines()) == 1 and "bad.yaml" in err


def test_html_shows_the_same_matrices_with_the_wrong_cells_marked(tmp_path: Path) -> None:
    page = tmp_path / "check.html"
    status, _, err = check("monitoring", str(MONITORING / "wrong" / "too-closed.yaml"), "--html", str(page))
    assert status == ExitStatus.MISMATCH
    assert f"wrote {page}" in err
    html = page.read_text()
    assert 'class="result fail"' in html
    assert (
        'data-row="monitoring/prober" data-column="backend:9090" data-verdict="DENY" data-status="mismatch"'
        in html
    )
    assert "✗ monitoring/prober -&gt; backend:9090: expected ALLOW, got DENY" in html
