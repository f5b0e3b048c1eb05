"""`netpol-lab report --html FILE [--result saved.json ...]` through the real CLI dispatch."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lab import cli
from lab.errors import ExitStatus
from lab.report.json_report import save_probe_result
from tests.fakes import captured_env, errors, output
from tests.unit.report.dom import parse
from tests.unit.report.samples import PROBED_AT, seed_result


def run(argv: list[str]) -> tuple[ExitStatus, str, str]:
    env = captured_env()
    status = cli.run(["report", *argv], env)
    return status, output(env), errors(env)


def stages_in(page: Path) -> list[str]:
    doc = parse(page.read_text(encoding="utf-8"))
    return [s.attrs["data-stage"] for s in doc.find_all("section", class_="stage")]


def test_report_from_given_files_in_order(tmp_path: Path) -> None:
    four = save_probe_result(seed_result(stage="4"), tmp_path)
    three = save_probe_result(seed_result(problems=False, stage="3"), tmp_path)
    page = tmp_path / "out" / "lab.html"
    status, out, err = run(["--html", str(page), "--result", str(four), "--result", str(three)])
    assert status == ExitStatus.SUCCESS, err
    assert stages_in(page) == ["4", "3"]
    assert f"wrote {page} (2 result(s)); open file://" in out
    assert "Stage 4: backend to database on 3306: 26 of 28 judged cells match, 2 mismatches" in out


def test_default_reads_newest_result_per_stage_from_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    old = seed_result(stage="4")
    new = seed_result(problems=False, stage="4")
    new = replace(new, probed_at=PROBED_AT + timedelta(hours=1))
    for result in (old, new, seed_result(stage="2")):
        save_probe_result(result, Path("reports"))
    status, _, err = run([])
    assert status == ExitStatus.SUCCESS, err
    page = tmp_path / "reports" / "report.html"
    assert stages_in(page) == ["2", "4"]
    assert "2026-11-02T11:15:00+00:00" in page.read_text(encoding="utf-8")  # the newer stage-4 run


def test_folder_as_result(tmp_path: Path) -> None:
    save_probe_result(seed_result(stage="5"), tmp_path / "saved")
    status, _, err = run(["--html", str(tmp_path / "r.html"), "--result", str(tmp_path / "saved")])
    assert status == ExitStatus.SUCCESS, err
    assert stages_in(tmp_path / "r.html") == ["5"]


def test_no_saved_results_says_how_to_make_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run([])
    assert status == ExitStatus.USAGE
    assert err.strip() == (
        "error: no saved probe results in reports/: run `netpol-lab probe --save` (or `make probe`) first, "
        "or pass --result FILE"
    )
    assert out == ""


def test_bad_result_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "other"}), encoding="utf-8")
    status, _, err = run(["--html", str(tmp_path / "r.html"), "--result", str(bad)])
    assert status == ExitStatus.USAGE
    assert err.count("\n") == 1 and err.startswith(f"error: {bad}: not a netpol-lab probe result")
    assert not (tmp_path / "r.html").exists()


def test_html_pointing_at_a_folder_is_refused(tmp_path: Path) -> None:
    saved = save_probe_result(seed_result(), tmp_path)
    status, _, err = run(["--html", str(tmp_path), "--result", str(saved)])
    assert status == ExitStatus.ERROR
    assert "is a folder: give --html a file name" in err


def test_help_explains_where_results_come_from() -> None:
    parser, _ = cli.verb_parser("report")
    text = parser.format_help()
    assert "netpol-lab probe --save" in text and "--result SAVED.json" in text and "reports/" in text
