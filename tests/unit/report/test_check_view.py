"""A check's result in the matrix style, in the terminal and as HTML, and as JSON lines."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from lab.env import project_root
from lab.report.check_view import html_page, json_lines, render_check, sections
from lab.workshop.check import CheckResult, check_offline
from lab.workshop.exercises import load_exercise
from tests.unit.report.dom import parse

ROOT = project_root()
WHEN = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def result(answer: str | Path, exercise: str = "monitoring") -> CheckResult:
    chosen = load_exercise(ROOT, exercise)
    return check_offline(ROOT, chosen, [str(chosen.path / answer)], participant="ada")


def text(checked: CheckResult) -> str:
    stream = io.StringIO()
    render_check(Console(file=stream, width=200, force_terminal=False, no_color=True), checked)
    return stream.getvalue()


def test_least_privilege_marks_only_what_gained_access() -> None:
    checked = result("wrong/too-open.yaml")
    [goal, extra] = sections(checked)
    assert goal.wrong == 0 and extra.wrong == 1
    marked = [(r, c) for r, c, cell in extra.observed if cell.verdict != extra.expected.get(r, c).verdict]
    assert marked == [("monitoring/netpol-lab-stranger", "backend:9090")]
    shown = text(checked)
    assert shown.count("✗ ALLOW≠DENY") == 1  # with the answer, then without it
    assert "The lab's matrix: all" in shown  # unchanged, so not drawn


def test_the_lab_matrix_is_drawn_when_one_of_its_cells_changed(tmp_path: Path) -> None:
    anywhere = tmp_path / "anywhere.yaml"  # the goal holds, and the backend may now go anywhere
    anywhere.write_text(
        (ROOT / "exercises/monitoring/solution.yaml").read_text()
        + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: anywhere, namespace: backend}\n"
        "spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}\n"
    )
    checked = result(anywhere)
    captions = [s.caption for s in sections(checked)]
    assert captions[-1].startswith("The lab's matrix")
    assert "✗ backend -> untrusted:80: gained access: DENY without your policies, ALLOW with them" in text(
        checked
    )


def test_json_lines_are_each_a_whole_record() -> None:
    lines = json_lines(result("solution.yaml"), checked_at=WHEN).splitlines()
    records = [json.loads(line) for line in lines]
    assert records[-1]["checked_at"] == "2026-05-04T10:00:00+00:00"
    assert records[-1]["passed"] is True
    cell = records[0]
    assert set(cell) == {
        "record",
        "exercise",
        "participant",
        "check",
        "probe",
        "what",
        "from",
        "to",
        "expected",
        "got",
        "ok",
        "problem",
        "why",
        "hint",
        "how",
    }


def test_the_html_page_titles_wrong_cells_with_why() -> None:
    page = html_page(result("wrong/too-closed.yaml"), generated_at=WHEN)
    root = parse(page)
    cells = [td for td in root.iter("td") if td.attrs.get("data-status") == "mismatch"]
    assert [(td.attrs["data-row"], td.attrs["data-column"]) for td in cells] == [
        ("monitoring/prober", "backend:9090")
    ]
    assert "no rule allows this flow" in cells[0].attrs["title"]
    assert "default-src 'none'" in page
