"""Fuzz the saved-result loader: any file either loads, or is refused with one line and exit 2.

What loads is then used as `report` uses it (the comparison and its summary, the newest result per
stage, the saved file's name) and drawn as the terminal table, which must show no raw control
character. Never an exception, never over 10 s (issue 10, items 12 to 14). The HTML page itself is
left to its own tests. ``HYPOTHESIS_PROFILE=fuzz`` runs 2,000."""

from __future__ import annotations

import io
import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from lab.commands.report import check_size
from lab.errors import ExitStatus, LabError
from lab.report.json_report import load_probe_result, newest_per_stage, saved_result_name, to_dict
from lab.report.table import render_differences, render_matrix, summary_line
from tests.unit.policy import fuzzing
from tests.unit.report.samples import seed_result

RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
BASES = [
    to_dict(seed_result()),
    to_dict(seed_result(problems=False, stage="3")),
    to_dict(replace(seed_result(), expected=None)),
]


@st.composite
def saved_results(draw: Any) -> bytes:
    document = draw(fuzzing.mutated(draw(st.sampled_from(BASES)), max_mutations=5))
    text = fuzzing.as_json(document)
    if draw(st.integers(0, 4)) == 0:
        return draw(fuzzing.broken_bytes(text, yaml_text=False))
    return text.encode("utf-8", "surrogatepass")


def check_saved_result(data: bytes) -> bool:
    """Load one saved result and use it as `report` does; whether it was refused."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        path.write_bytes(data)
        try:
            result = load_probe_result(path)
        except LabError as error:
            assert error.status == ExitStatus.USAGE
            assert "\n" not in error.message and error.message.startswith(str(path))
            assert len(error.message) < 1000, error.message[:300]
            assert not RAW.search(error.message), error.message
            fuzzing.note_message("result", error.message)
            return True
    check_size([result])
    comparison = result.comparison
    if comparison is not None:
        summary_line(comparison)
    newest_per_stage([result, load_probe_result_of(BASES[0])])
    saved_result_name(result.stage, result.probed_at)
    for tty in (False, True):
        stream = io.StringIO()
        console = Console(file=stream, force_terminal=tty, no_color=not tty, highlight=False, width=200)
        render_matrix(console, result.observed, expected=result.expected, title=result.stage_title)
        if comparison is not None:
            render_differences(console, comparison)
        text = re.sub("\x1b\\[[0-9;]*m", "", stream.getvalue())
        assert not RAW.search(text), f"raw control character on the terminal: {RAW.search(text)!r}"
        text.encode("utf-8")
    return False


def load_probe_result_of(document: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "base.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        return load_probe_result(path)


@fuzzing.fuzz_settings("result")
@given(saved_results())
def test_any_saved_result_loads_or_is_one_usage_line(data: bytes) -> None:
    fuzzing.timed("result", data[:200].decode("utf-8", "replace"), lambda: check_saved_result(data))
