"""The terminal matrix: words in every cell, expected against observed, wrong cells with their fix."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from lab.matrix import Cell, Matrix, Verdict
from lab.report.table import (
    CellStatus,
    cell_label,
    cell_status,
    legend,
    render_differences,
    render_matrix,
    summary_line,
)
from tests.fakes import captured_env, output
from tests.unit.report.samples import REPRODUCE, observed_as_expected, observed_with_problems, seed_expected

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, no_color=True, width=200), buffer


def terminal_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, color_system="standard", width=220), buffer


def table_rows(text: str) -> dict[str, list[str]]:
    """Parse the plain (Markdown-style) table back into {row: [cells]} plus the header under 'from'."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        words = [w.strip() for w in line.strip("|").split("|")]
        rows["from" if words[0] == "from \\ to" else words[0]] = words[1:]
    return rows


@pytest.mark.parametrize(
    ("observed", "expected", "status", "label"),
    [
        (Cell(Verdict.ALLOW, tries=1), None, CellStatus.PLAIN, "ALLOW"),
        (Cell(Verdict.DENY, tries=1), Cell(Verdict.DENY), CellStatus.MATCH, "DENY"),
        (Cell(Verdict.REFUSED, tries=1), Cell(Verdict.ALLOW), CellStatus.MATCH, "REFUSED"),
        (Cell(Verdict.DENY, tries=10), Cell(Verdict.ALLOW), CellStatus.MISMATCH, "✗ DENY≠ALLOW ×10"),
        (Cell(Verdict.ALLOW, tries=1), Cell(Verdict.DENY), CellStatus.MISMATCH, "✗ ALLOW≠DENY"),
        (Cell(Verdict.DNS_FAIL, tries=2), Cell(Verdict.ALLOW), CellStatus.MISMATCH, "✗ DNS-FAIL≠ALLOW ×2"),
        (Cell(Verdict.INCONCLUSIVE, tries=3), Cell(Verdict.DENY), CellStatus.UNJUDGED, "? (DENY) ×3"),
        (Cell(Verdict.CHECK_FAILED, tries=1), Cell(Verdict.ALLOW), CellStatus.UNJUDGED, "ERROR (ALLOW)"),
        (Cell(Verdict.NOT_JUDGED), Cell(Verdict.NOT_JUDGED), CellStatus.PLAIN, "-"),
        (Cell(Verdict.ALLOW, tries=1), Cell(Verdict.NOT_JUDGED), CellStatus.PLAIN, "ALLOW"),
    ],
)
def test_each_cell_says_its_verdict_in_words(
    observed: Cell, expected: Cell | None, status: CellStatus, label: str
) -> None:
    assert cell_status(observed, expected) == status
    assert cell_label(observed, expected) == label


def test_cell_status_agrees_with_matrix_compare() -> None:
    expected = seed_expected()
    observed = observed_with_problems(expected)
    comparison = expected.compare(observed)
    mismatched = {(d.row, d.column) for d in comparison.mismatched}
    unjudged = {(d.row, d.column) for d in comparison.unjudged}
    for row, column, cell in observed:
        status = cell_status(cell, expected.get(row, column))
        assert (status == CellStatus.MISMATCH) == ((row, column) in mismatched)
        assert (status == CellStatus.UNJUDGED) == ((row, column) in unjudged)
        assert (status == CellStatus.MATCH) == ((row, column) in comparison.matched)


def test_plain_matrix_has_rows_of_sources_and_columns_of_targets() -> None:
    console, buffer = plain_console()
    expected = seed_expected()
    render_matrix(console, observed_as_expected(expected), title="stage 4 observed")
    text = buffer.getvalue()
    assert "\x1b[" not in text, "no escape codes when the console is not a terminal"
    assert text.splitlines()[0] == "stage 4 observed"
    rows = table_rows(text)
    assert rows["from"] == expected.columns
    assert list(rows)[1:] == expected.rows
    assert rows["frontend"][expected.columns.index("backend:80")] == "ALLOW"
    assert rows["untrusted"][expected.columns.index("backend:80")] == "DENY"
    assert rows["backend"][expected.columns.index("svc/backend:80")] == "-"
    assert all(line == line.rstrip() for line in text.splitlines()), "no trailing blanks in plain text"


def test_against_expected_marks_mismatches_and_tries_without_colour() -> None:
    console, buffer = plain_console()
    expected = seed_expected()
    render_matrix(console, observed_with_problems(expected), expected=expected)
    rows = table_rows(buffer.getvalue())
    column = expected.columns.index
    assert rows["frontend"][column("backend:80")] == "✗ DENY≠ALLOW ×10"
    assert rows["untrusted"][column("database:3306")] == "✗ ALLOW≠DENY"
    assert rows["untrusted"][column("outside")] == "? (ALLOW) ×3"
    assert rows["database"][column("dns")] == "ERROR (ALLOW)"
    assert rows["backend"][column("database:3306")] == "REFUSED"
    assert rows["frontend"][column("svc/backend:80")] == "ALLOW"
    assert "✗ OBSERVED≠EXPECTED: mismatch" in buffer.getvalue()


def test_legend_explains_every_verdict_word() -> None:
    text = legend(with_expected=False)
    for verdict in Verdict:
        assert f"{verdict.value} " in text
    assert "≠" not in text
    assert "OBSERVED (EXPECTED)" in legend(with_expected=True)


def test_terminal_matrix_is_coloured_and_still_says_the_words() -> None:
    console, buffer = terminal_console()
    expected = seed_expected()
    render_matrix(console, observed_with_problems(expected), expected=expected)
    text = buffer.getvalue()
    assert "\x1b[" in text
    words = ANSI.sub("", text)
    assert "✗ DENY≠ALLOW ×10" in words
    assert "|" not in words.splitlines()[1], "terminal tables are drawn, not Markdown"


def test_rows_and_columns_only_in_the_expectation_are_shown() -> None:
    expected = seed_expected()
    observed = Matrix()
    observed.set("frontend", "backend:80", Cell(Verdict.ALLOW, tries=1))
    console, buffer = plain_console()
    render_matrix(console, observed, expected=expected)
    rows = table_rows(buffer.getvalue())
    assert list(rows)[1:] == expected.rows
    assert rows["from"] == expected.columns
    assert rows["database"][expected.columns.index("dns")] == "- (ALLOW)"


def test_environment_console_gives_plain_text_off_a_terminal() -> None:
    env = captured_env()
    expected = seed_expected()
    render_matrix(env.console(), observed_with_problems(expected), expected=expected)
    text = output(env)
    assert "\x1b[" not in text
    assert "✗ DENY≠ALLOW ×10" in text


def test_differences_list_each_wrong_cell_with_its_reproduce_command() -> None:
    expected = seed_expected()
    comparison = expected.compare(observed_with_problems(expected))
    console, buffer = plain_console()
    render_differences(console, comparison)
    text = buffer.getvalue()
    assert "2 cell(s) disagree with the expectation:" in text
    assert "✗ frontend -> backend:80: expected ALLOW, observed DENY after 10 tries" in text
    assert f"reproduce: $ {REPRODUCE}" in text
    assert "✗ untrusted -> database:3306: expected DENY, observed ALLOW" in text
    assert "2 cell(s) without a verdict (not counted):" in text
    assert "? untrusted -> outside (inconclusive, expected ALLOW): the control could not reach" in text
    assert "ERROR database -> dns (check failed, expected ALLOW): exec failed: container not running" in text


def test_differences_show_why_a_cell_was_expected() -> None:
    expected = seed_expected()
    observed = observed_as_expected(expected)
    observed.set("untrusted", "backend:80", Cell(Verdict.ALLOW, "connected", 1, "probe untrusted backend"))
    console, buffer = plain_console()
    render_differences(console, expected.compare(observed))
    assert "expected because: policy backend/allow-frontend selects the pod" in buffer.getvalue()


def test_no_differences_print_nothing() -> None:
    expected = seed_expected()
    console, buffer = plain_console()
    render_differences(console, expected.compare(observed_as_expected(expected)))
    assert buffer.getvalue() == ""


def test_summary_line_counts_judged_cells_mismatches_and_inconclusive() -> None:
    expected = seed_expected()
    judged = sum(1 for _, _, cell in expected if cell.verdict != Verdict.NOT_JUDGED)
    assert summary_line(expected.compare(observed_as_expected(expected))) == (
        f"{judged} of {judged} judged cells match, 0 mismatches"
    )
    problems = expected.compare(observed_with_problems(expected))
    assert summary_line(problems) == (
        f"{judged - 4} of {judged - 2} judged cells match, 2 mismatches, 1 inconclusive, 1 check failed"
    )


def test_summary_line_singular() -> None:
    expected = Matrix()
    expected.set("a", "b:80", Cell(Verdict.ALLOW))
    observed = Matrix()
    observed.set("a", "b:80", Cell(Verdict.DENY, tries=1))
    assert summary_line(expected.compare(observed)) == "0 of 1 judged cell matches, 1 mismatch"
