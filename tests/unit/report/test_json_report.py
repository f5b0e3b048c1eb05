"""Probe results as JSON: stable keys, a faithful round trip, plain errors for unusable files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lab.errors import ExitStatus, LabError
from lab.matrix import Verdict
from lab.report.json_report import (
    FORMAT,
    load_probe_result,
    newest_per_stage,
    probe_result_to_dict,
    save_probe_result,
    saved_result_name,
    to_dict,
    to_json,
)
from tests.unit.report.samples import PROBED_AT, REPRODUCE, seed_result


def test_top_level_keys_are_stable() -> None:
    data = to_dict(seed_result())
    assert list(data) == [
        "format", "version", "context", "stage", "stage_title", "probed_at", "deny_action",
        "ok", "summary", "rows", "columns", "pods", "cells",
    ]  # fmt: skip
    assert data["format"] == FORMAT
    assert data["version"] == 1
    assert data["context"] == "kind-netpol-lab"
    assert data["stage"] == "4"
    assert data["probed_at"] == "2026-11-02T10:15:00+00:00"
    assert data["ok"] is False
    assert data["pods"]["backend"] == {
        "namespace": "backend",
        "node": "netpol-lab-worker2",
        "ip": "10.244.2.4",
    }


def test_summary_counts_and_text() -> None:
    result = seed_result()
    summary = to_dict(result)["summary"]
    assert summary["mismatched"] == 2
    assert summary["inconclusive"] == 1
    assert summary["check_failed"] == 1
    assert summary["matched"] == len(result.comparison.matched)  # type: ignore[union-attr]
    assert summary["text"].endswith("2 mismatches, 1 inconclusive, 1 check failed")


def test_each_cell_carries_observed_expected_and_status() -> None:
    data = to_dict(seed_result())
    assert len(data["cells"]) == len(data["rows"]) * len(data["columns"])
    cells = {(c["from"], c["to"]): c for c in data["cells"]}
    wrong = cells[("frontend", "backend:80")]
    assert wrong == {
        "from": "frontend",
        "to": "backend:80",
        "observed": {"verdict": "DENY", "reason": "TIMEOUT", "tries": 10, "command": REPRODUCE},
        "expected": {"verdict": "ALLOW", "reason": ""},
        "status": "mismatch",
    }
    assert cells[("untrusted", "outside")]["status"] == "unjudged"
    assert cells[("backend", "database:3306")]["status"] == "match"  # REFUSED counts as ALLOW
    assert cells[("frontend", "frontend:80")]["status"] == "plain"
    statuses = {c["status"] for c in data["cells"]}
    assert statuses == {"match", "mismatch", "unjudged", "plain"}


def test_without_expectation_there_is_nothing_to_compare() -> None:
    result = seed_result()
    data = probe_result_to_dict(
        result.observed, None, None, context="kind-x", stage=None, probed_at=result.probed_at
    )
    assert data["ok"] is None
    assert data["summary"] is None
    assert {c["status"] for c in data["cells"]} == {"plain"}
    assert all(c["expected"] is None for c in data["cells"])


def test_json_text_ends_in_newline() -> None:
    text = to_json(seed_result())
    assert text.endswith("}\n")
    cells = {(c["from"], c["to"]): c for c in json.loads(text)["cells"]}
    assert cells[("frontend", "svc/backend:80")]["observed"]["verdict"] == "ALLOW"
    assert "≠" not in text  # verdict words only, no display marks


def test_naive_time_is_taken_as_utc() -> None:
    result = seed_result()
    result = replace(result, probed_at=datetime(2026, 1, 1, 8, 0, 0))
    assert to_dict(result)["probed_at"] == "2026-01-01T08:00:00+00:00"


def test_round_trip_keeps_every_cell(tmp_path: Path) -> None:
    original = seed_result()
    path = tmp_path / "result.json"
    path.write_text(json.dumps(to_dict(original)), encoding="utf-8")
    loaded = load_probe_result(path)
    assert loaded.observed.rows == original.observed.rows
    assert loaded.observed.columns == original.observed.columns
    assert loaded.observed.cells == original.observed.cells
    assert loaded.expected is not None and original.expected is not None
    assert loaded.expected.cells == original.expected.cells
    assert loaded.context == original.context
    assert loaded.stage == "4"
    assert loaded.stage_title == original.stage_title
    assert loaded.probed_at == PROBED_AT
    assert loaded.pods == original.pods
    assert loaded.comparison == original.comparison
    assert to_dict(loaded) == to_dict(original)


def test_round_trip_without_expectation(tmp_path: Path) -> None:
    original = seed_result()
    original = replace(original, expected=None)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(to_dict(original)), encoding="utf-8")
    loaded = load_probe_result(path)
    assert loaded.expected is None
    assert loaded.comparison is None
    assert loaded.observed.get("frontend", "backend:80").verdict == Verdict.DENY


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"format": "something-else"}', "not a netpol-lab probe result"),
        (json.dumps({"format": FORMAT, "version": 99}), "version 99; this netpol-lab reads version 1"),
        (json.dumps({"format": FORMAT, "version": 1, "rows": [], "columns": []}), "result has no 'cells'"),
        (
            json.dumps({"format": FORMAT, "version": 1, "rows": [], "columns": [], "cells": [{"from": "a"}]}),
            "cells[0] has no 'to'",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT, "version": 1, "rows": ["a"], "columns": ["b"],
                    "cells": [{"from": "a", "to": "b", "observed": {"verdict": "MAYBE"}}],
                }
            ),
            "unknown verdict 'MAYBE'",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT, "version": 1, "rows": ["a"], "columns": ["b"],
                    "cells": [{"from": "a", "to": "b", "observed": {"verdict": "DENY", "tries": "x"}}],
                }
            ),
            "cells[0].observed.tries has the wrong type (str)",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT, "version": 1, "rows": [], "columns": [], "cells": [],
                    "probed_at": "yesterday",
                }
            ),
            "probed_at is not an ISO 8601 time",
        ),
    ],
)  # fmt: skip
def test_unusable_files_fail_with_one_plain_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabError) as caught:
        load_probe_result(path)
    assert message in caught.value.message
    assert caught.value.message.startswith(str(path))
    assert "netpol-lab probe --save" in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.status == ExitStatus.USAGE


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"no such file: save a probe result with `netpol-lab probe --save`"):
        load_probe_result(tmp_path / "absent.json")


def test_saved_result_names_sort_by_stage_then_time() -> None:
    assert saved_result_name("4", PROBED_AT) == "probe-stage-4-20261102T101500Z.json"
    assert saved_result_name(None, PROBED_AT) == "probe-nostage-20261102T101500Z.json"
    assert saved_result_name("../x y", PROBED_AT) == "probe-stage--x-y-20261102T101500Z.json"
    east = PROBED_AT.astimezone(timezone(timedelta(hours=2)))
    assert saved_result_name("4", east) == "probe-stage-4-20261102T101500Z.json"


def test_save_writes_a_loadable_file(tmp_path: Path) -> None:
    result = seed_result()
    path = save_probe_result(result, tmp_path / "reports")
    assert path.parent == tmp_path / "reports"
    assert to_dict(load_probe_result(path)) == to_dict(result)


def test_newest_result_per_stage_in_stage_order() -> None:
    old4 = seed_result(stage="4")
    new4 = seed_result(stage="4")
    new4 = replace(new4, probed_at=PROBED_AT + timedelta(minutes=5))
    stage10 = seed_result(stage="10")
    stage0 = seed_result(stage="0")
    loose = seed_result()
    loose = replace(loose, stage=None)
    picked = newest_per_stage([stage10, old4, loose, new4, stage0])
    assert [r.stage for r in picked] == ["0", "4", "10", None]
    assert picked[1] is new4
