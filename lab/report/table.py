"""The connectivity matrix as a terminal table, the list of wrong cells, and a one-line summary.

Every cell says its verdict in words (ALLOW, DENY, REFUSED, DNS-FAIL, ?, ERROR, -), so the
table reads the same without colour, in a CI log or on a screen reader. Against an
expectation, a wrong cell reads ``✗ DENY≠ALLOW`` (observed, then expected) and a cell without
a verdict reads ``? (ALLOW)``. On a terminal the table is drawn with colour; otherwise it is
a plain Markdown-style table that also pastes into an issue or a CI step summary.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lab.matrix import (
    MEANINGS,
    MISMATCH_MARK,
    Cell,
    CellStatus,
    Comparison,
    Difference,
    Matrix,
    Verdict,
    aligned,
    cell_status,
)
from lab.policy.model import printable

STYLES: dict[Verdict, str] = {
    Verdict.ALLOW: "green",
    Verdict.DENY: "red",
    Verdict.REFUSED: "yellow",
    Verdict.DNS_FAIL: "magenta",
    Verdict.INCONCLUSIVE: "yellow dim",
    Verdict.CHECK_FAILED: "bold red",
    Verdict.NOT_JUDGED: "dim",
}


def cell_label(observed: Cell, expected: Cell | None = None) -> str:
    """The words of one cell: ``ALLOW``, ``✗ DENY≠ALLOW``, ``? (ALLOW)``, with ``×3`` for 3 tries."""
    status = cell_status(observed, expected)
    word = observed.verdict.value
    if status == CellStatus.MISMATCH and expected is not None:
        label = f"{MISMATCH_MARK} {word}≠{expected.verdict.value}"
    elif status == CellStatus.UNJUDGED and expected is not None:
        label = f"{word} ({expected.verdict.value})"
    else:
        label = word
    if observed.tries > 1:
        label += f" ×{observed.tries}"
    return label


def _styled(observed: Cell, expected: Cell | None) -> Text:
    status = cell_status(observed, expected)
    style = "bold white on red" if status == CellStatus.MISMATCH else STYLES[observed.verdict]
    return Text(cell_label(observed, expected), style=style)


def legend(*, with_expected: bool) -> str:
    """Two lines explaining the words and marks used in the table."""
    words = " · ".join(f"{verdict.value} {meaning}" for verdict, meaning in MEANINGS.items())
    marks = "×N: took N tries"
    if with_expected:
        marks = f"{MISMATCH_MARK} OBSERVED≠EXPECTED: mismatch · OBSERVED (EXPECTED): no verdict · " + marks
    return f"{words}\n{marks}"


def render_matrix(
    console: Console, matrix: Matrix, *, expected: Matrix | None = None, title: str = ""
) -> None:
    """Print ``matrix`` (rows: source pods, columns: destination:port), against ``expected`` if given.

    With an expectation, rows and columns follow its order (extra observed ones come last).
    """
    rows, columns = aligned(matrix, expected)
    terminal = console.is_terminal
    table = Table(
        box=box.SIMPLE_HEAD if terminal else box.MARKDOWN,
        show_edge=not terminal,
        padding=(0, 1),
        collapse_padding=terminal,
    )
    table.add_column("from \\ to", style="bold", no_wrap=True)
    for column in columns:  # names from input are plain text: never markup, never control characters
        table.add_column(Text(printable(column)), overflow="fold")
    for row in rows:
        cells = [
            _styled(matrix.get(row, column), expected.get(row, column) if expected else None)
            for column in columns
        ]
        table.add_row(Text(printable(row)), *cells)
    heading = title or matrix.title
    if heading:
        console.print(Text(printable(heading), style="bold"))
    if terminal:
        console.print(table)
    else:  # plain text: no padding lines, no trailing blanks
        with console.capture() as captured:
            console.print(table)
        lines = [line.rstrip() for line in captured.get().splitlines() if line.strip()]
        console.out("\n".join(lines), highlight=False)
    console.print(Text(legend(with_expected=expected is not None), style="dim"))


def render_differences(console: Console, comparison: Comparison) -> None:
    """List each wrong cell with the command that reproduces it, and each cell left without a verdict."""
    if comparison.mismatched:
        count = len(comparison.mismatched)
        console.print(Text(f"{count} cell(s) disagree with the expectation:", style="bold"))
    for diff in comparison.mismatched:
        _print_difference(console, diff)
    if comparison.unjudged:
        count = len(comparison.unjudged)
        console.print(Text(f"{count} cell(s) without a verdict (not counted):", style="bold"))
    for diff in comparison.unjudged:
        _print_unjudged(console, diff)


def _print_difference(console: Console, diff: Difference) -> None:
    console.print(Text(f"  {MISMATCH_MARK} {printable(diff.headline())}", style="bold red"))
    for line in diff.details():
        console.print(Text(f"      {printable(line)}"))


def _print_unjudged(console: Console, diff: Difference) -> None:
    what = MEANINGS[diff.observed.verdict]
    reason = diff.observed.reason or "no reason recorded"
    console.print(
        Text(
            printable(
                f"  {diff.observed.verdict.value} {diff.row} -> {diff.column} ({what}, expected "
                f"{diff.expected.verdict.value}): {reason}"
            )
        )
    )
    if diff.observed.command:
        console.print(Text(printable(f"      reproduce: $ {diff.observed.command}")))


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def summary_line(comparison: Comparison) -> str:
    """``34 of 36 judged cells match, 2 mismatches, 3 inconclusive`` (and check failures, if any)."""
    judged = len(comparison.matched) + len(comparison.mismatched)
    parts = [
        f"{len(comparison.matched)} of {_count(judged, 'judged cell', 'judged cells')} "
        f"{'matches' if judged == 1 else 'match'}",
        _count(len(comparison.mismatched), "mismatch", "mismatches"),
    ]
    seen = [d.observed.verdict for d in comparison.unjudged]
    inconclusive = seen.count(Verdict.INCONCLUSIVE)
    failed = seen.count(Verdict.CHECK_FAILED)
    unprobed = seen.count(Verdict.NOT_JUDGED)
    if inconclusive:
        parts.append(f"{inconclusive} inconclusive")
    if failed:
        parts.append(_count(failed, "check failed", "checks failed"))
    if unprobed:
        parts.append(f"{unprobed} not probed")
    return ", ".join(parts)
