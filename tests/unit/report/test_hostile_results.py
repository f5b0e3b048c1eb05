"""Hostile or broken saved probe results: one error line naming the file, exit 2; never a crash, a
hang or a memory blow-up in `report` (issue 10, items 12 to 14). Names in them print as plain text."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from lab import cli
from lab.commands import report as report_command
from lab.errors import ExitStatus, LabError
from lab.matrix import Cell, Matrix, Verdict
from lab.report import json_report
from lab.report.json_report import FORMAT, load_probe_result, newest_per_stage, to_dict
from lab.report.table import render_differences, render_matrix
from tests.fakes import captured_env, errors, output
from tests.unit.report.samples import seed_result

RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def document(height: int = 1, width: int = 1, **changes: Any) -> dict[str, Any]:
    row_names = [f"r{i}" for i in range(height)]
    column_names = [f"c{j}" for j in range(width)]
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "rows": row_names,
        "columns": column_names,
        "cells": []
        if "cells" in changes
        else [
            {"from": r, "to": c, "observed": {"verdict": "DENY"}, "expected": {"verdict": "ALLOW"}}
            for r in row_names
            for c in column_names
        ],
        "probed_at": "2026-11-02T10:15:00+00:00",
        "stage": "4",
    }
    out.update(changes)
    return out


def saved(tmp_path: Path, content: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def refused(path: Path, *needles: str) -> str:
    with pytest.raises(LabError) as caught:
        load_probe_result(path)
    message = caught.value.message
    assert caught.value.status == ExitStatus.USAGE
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def report(*argv: str) -> tuple[ExitStatus, str, str]:
    env = captured_env()
    status = cli.run(["report", *argv], env)
    return status, output(env), errors(env)


# -- probed_at beyond what a time can be in UTC ---------------------------------------------------


@pytest.mark.parametrize("moment", ["9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"])
def test_probed_at_out_of_range_in_utc_is_refused(tmp_path: Path, moment: str) -> None:
    path = saved(tmp_path, document(probed_at=moment))
    refused(path, f"probed_at '{moment}' is out of range in UTC")
    status, _, err = report("--result", str(path), "--html", str(tmp_path / "r.html"))
    assert status == ExitStatus.USAGE and err.count("\n") == 1 and "internal error" not in err


def test_extreme_but_valid_times_are_kept(tmp_path: Path) -> None:
    late = load_probe_result(saved(tmp_path, document(probed_at="9999-12-31T23:30:00+01:00"), "a.json"))
    early = load_probe_result(saved(tmp_path, document(probed_at="0001-01-01T00:30:00-01:00"), "b.json"))
    assert newest_per_stage([early, late]) == [late]


# -- size: refused before anything is drawn, and only the cells there are -----------------------


def test_3000_by_3000_without_cells_is_refused_at_once(tmp_path: Path) -> None:
    path = saved(tmp_path, document(3000, 3000, cells=[]))
    started = time.monotonic()
    status, _, err = report("--result", str(path), "--html", str(tmp_path / "r.html"))
    assert time.monotonic() - started < 5
    assert status == ExitStatus.USAGE
    assert "result has 3,000 rows, more than the 500 a report shows" in err and err.count("\n") == 1


def test_rows_and_columns_without_cells_are_left_out(tmp_path: Path) -> None:
    doc = document(400, 400, cells=[])
    doc["cells"] = [{"from": "r7", "to": "c9", "observed": {"verdict": "ALLOW"}}]
    result = load_probe_result(saved(tmp_path, doc))
    assert (result.observed.rows, result.observed.columns) == (["r7"], ["c9"])
    status, _, err = report("--result", str(tmp_path / "result.json"), "--html", str(tmp_path / "r.html"))
    assert status == ExitStatus.SUCCESS, err


def test_a_sparse_diagonal_is_refused_by_its_table_size(tmp_path: Path) -> None:
    doc = document(200, 200, cells=[])
    doc["cells"] = [{"from": f"r{i}", "to": f"c{i}", "observed": {"verdict": "DENY"}} for i in range(200)]
    refused(saved(tmp_path, doc), "200 rows by 200 columns, more than the 20,000 cells a report shows")


def test_a_file_larger_than_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_report, "MAX_RESULT_BYTES", 1024 * 1024)
    refused(saved(tmp_path, " " * (2 * 1024 * 1024)), "larger than the 1 MiB a saved probe result may have")


def test_too_many_files_in_a_folder_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_command, "MAX_FOLDER_FILES", 3)
    for number in range(4):
        saved(tmp_path, document(stage=str(number)), f"r{number}.json")
    status, _, err = report("--result", str(tmp_path), "--html", str(tmp_path / "out" / "r.html"))
    assert status == ExitStatus.USAGE and "holds 4 saved results, more than the 3" in err


def test_a_page_beyond_its_cell_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_command, "MAX_REPORT_CELLS", 10)
    paths = [str(saved(tmp_path, document(2, 3, stage=str(n)), f"r{n}.json")) for n in range(2)]
    status, _, err = report("--result", paths[0], "--result", paths[1], "--html", str(tmp_path / "r.html"))
    assert status == ExitStatus.USAGE and "2 results with 12 matrix cells in all, more than the 10" in err
    assert not (tmp_path / "r.html").exists()  # nothing half-written


# -- shapes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"rows": [{"a": 1}]}, "result.rows[0] has the wrong type (dict)"),
        ({"rows": ["r0", "r0"]}, "result.rows names 'r0' twice"),
        ({"columns": "c0"}, "result.columns has the wrong type (str)"),
        (
            {"cells": [{"from": "r0", "to": "elsewhere", "observed": {"verdict": "DENY"}}]},
            "to 'elsewhere' is not in",
        ),
        (
            {"cells": [{"from": "r0", "to": "c0", "observed": {"verdict": "DENY"}}] * 2},
            "cells[1]: a second cell from 'r0' to 'c0'",
        ),
        ({"cells": [{"from": "r0", "to": "c0", "observed": {"verdict": "D" * 10_000}}]}, "is not a verdict"),
        ({"cells": [{"from": "r0", "to": "c0", "observed": {"verdict": "DENY", "tries": 10**19}}]}, "tries"),
        ({"cells": [{"from": "r0", "to": "c0", "observed": {"verdict": "DENY", "tries": -1}}]}, "tries -1"),
        ({"cells": [{"from": "r0", "to": "c0", "observed": {"verdict": "DENY", "tries": True}}]}, "tries"),
        (
            {"cells": [{"from": "r0", "to": "c0", "observed": ["DENY"]}]},
            "cells[0].observed has the wrong type",
        ),
        (
            {"cells": [{"from": "r0", "to": "c0", "observed": {"verdict": "DENY"}, "expected": 3}]},
            "no 'verdict'",
        ),
        ({"context": {"a": 1}}, "result.context has the wrong type (dict)"),
        ({"stage": ["4"]}, "result.stage has the wrong type (list)"),
        ({"stage_title": 7}, "result.stage_title has the wrong type (int)"),
        ({"version": True}, "probe result version True"),
        ({"version": [[[[[[1]]]]]]}, "probe result version [[[...]]]"),
        ({"deny_action": "x" * 10_000}, "is neither Drop nor Reject"),
        ({"pods": {"a": "b"}}, "pods.a has no 'namespace'"),
        ({"probed_at": 5}, "result.probed_at has the wrong type (int)"),
        ({"probed_at": "x" * 10_000}, "probed_at is not an ISO 8601 time"),
    ],
)
def test_wrong_shapes_are_one_line(tmp_path: Path, changes: dict[str, Any], needle: str) -> None:
    message = refused(saved(tmp_path, document(**changes)), needle)
    assert len(message) < 400


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[" * 1000 + "]" * 1000, "nested too deeply"),
        ('{"format": "netpol-lab/probe-result", "version": ' + "9" * 4301 + "}", "a number 4301 digits long"),
        ('{"format": "netpol-lab/probe-result", "version": NaN}', "NaN is not JSON"),
    ],
    ids=["deep", "digits", "nan"],
)
def test_broken_json_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    refused(saved(tmp_path, text), needle)


def test_encodings(tmp_path: Path) -> None:
    text = json.dumps(to_dict(seed_result()))
    assert load_probe_result(saved(tmp_path, b"\xff\xfe" + text.encode("utf-16-le"), "a.json")).stage
    assert load_probe_result(saved(tmp_path, b"\xef\xbb\xbf" + text.encode(), "b.json")).stage
    refused(saved(tmp_path, text.replace("Stage", "Stäge").encode("latin-1"), "c.json"), "not UTF-8 text")


# -- names print as text ---------------------------------------------------------------------------

HOSTILE = ["[/x]", "[link=http://evil]a[/link]", "\x1b[31mred", "a\rb"]


def hostile_matrices() -> tuple[Matrix, Matrix]:
    observed, expected = Matrix(), Matrix()
    for row in HOSTILE:
        for column in HOSTILE:
            reason = f"seen \x1b[2J{row}"
            observed.set(row, column, Cell(Verdict.DENY, reason, 2, f"kubectl exec {row} -- \x07"))
            expected.set(row, column, Cell(Verdict.ALLOW, f"[bold]{column}"))
    return observed, expected


@pytest.mark.parametrize("tty", [False, True])
def test_the_table_prints_names_as_text(tty: bool) -> None:
    observed, expected = hostile_matrices()
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=tty, no_color=not tty, highlight=False, width=300)
    render_matrix(console, observed, expected=expected, title="\x1b]8;;http://evil\x1b\\title")
    render_differences(console, expected.compare(observed))
    text = stream.getvalue()
    plain = re.sub("\x1b\\[[0-9;]*m", "", text) if tty else text
    assert not RAW.search(plain), repr(RAW.search(plain))
    assert "\x1b]8;" not in text
    assert "[/x]" in plain and "[link=http://evil]a[/link]" in plain and "\\x1b[31mred" in plain
    assert "a\\rb" in plain and "[bold]" in plain and "\\x1b[2J" in plain and "\\x07" in plain
    assert "\\x1b]8;;http://evil\\x1b\\title" in plain


def test_report_prints_a_hostile_title_as_text(tmp_path: Path) -> None:
    doc = to_dict(seed_result())
    doc["stage_title"] = "\x1b[2J[link=http://evil]Stage[/link]"
    status, out, err = report("--result", str(saved(tmp_path, doc)), "--html", str(tmp_path / "r.html"))
    assert status == ExitStatus.SUCCESS, err
    assert not RAW.search(out)
    assert "\\x1b[2J[link=http://evil]Stage[/link]: " in out


def test_a_hostile_name_in_an_error_is_escaped(tmp_path: Path) -> None:
    doc = document()
    doc["pods"] = {"\x1b[31mx": {}}
    message = refused(saved(tmp_path, doc), "pods.\\x1b[31mx has no 'namespace'")
    assert not RAW.search(message)


def test_newest_per_stage_compares_any_offsets(tmp_path: Path) -> None:
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    times = [base.astimezone(timezone(timedelta(hours=h))) + timedelta(minutes=h) for h in (-12, 0, 14)]
    results = [
        load_probe_result(saved(tmp_path, document(probed_at=t.isoformat()), f"{i}.json"))
        for i, t in enumerate(times)
    ]
    assert newest_per_stage(results) == [results[2]]


def test_a_stage_of_many_digits_sorts(tmp_path: Path) -> None:
    """The stage's number orders the report; 5,000 digits used to overflow int()'s digit limit."""
    long_stage = load_probe_result(saved(tmp_path, document(stage="9" * 5000), "a.json"))
    four = load_probe_result(saved(tmp_path, document(stage="4"), "b.json"))
    assert newest_per_stage([long_stage, four]) == [four, long_stage]
