"""One type for expected and observed verdicts, so comparing and rendering are written once.

Rows are source pods (``frontend``), columns are targets (``backend:80``,
``svc/backend:80``, ``dns``, ``outside``, ``metadata``). The hand-written
expectation tables of the stages use the same words (see ``Matrix.from_table``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


class Verdict(str, enum.Enum):
    """What one cell says. Only ALLOW and DENY (and DNS-FAIL) are verdicts on a policy."""

    ALLOW = "ALLOW"  # connected
    DENY = "DENY"  # blocked: the connection timed out (Calico drops denied packets)
    REFUSED = "REFUSED"  # the packet reached the pod, nothing listened: the policy let it through
    DNS_FAIL = "DNS-FAIL"  # the name did not resolve (DNS egress closed), no connection was tried
    INCONCLUSIVE = "?"  # no verdict possible (e.g. the control could not reach the target either)
    CHECK_FAILED = "ERROR"  # the exec itself failed: never counted as a verdict
    NOT_JUDGED = "-"  # not probed or not judged (a pod talking to itself)

    @classmethod
    def parse(cls, word: str) -> Verdict:
        for verdict in cls:
            if word.upper() == verdict.value:
                return verdict
        raise ValueError(f"unknown verdict {word!r} (use ALLOW, DENY, REFUSED, DNS-FAIL, ?, ERROR or -)")

    @property
    def judged(self) -> bool:
        """Whether an observed cell carries a verdict that can be compared."""
        return self in (Verdict.ALLOW, Verdict.DENY, Verdict.REFUSED, Verdict.DNS_FAIL)


# What each word means, in the table's legend, the JUnit report and the HTML report alike.
MEANINGS: dict[Verdict, str] = {
    Verdict.ALLOW: "connected",
    Verdict.DENY: "blocked",
    Verdict.REFUSED: "got through, nothing listened",
    Verdict.DNS_FAIL: "name did not resolve",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.CHECK_FAILED: "check failed",
    Verdict.NOT_JUDGED: "not judged",
}
MISMATCH_MARK = "✗"


def matches(expected: Verdict, observed: Verdict) -> bool:
    """Whether an observation agrees with an expectation.

    REFUSED agrees with ALLOW: the packet got through the policy, only nothing listened.
    """
    if expected == observed:
        return True
    return expected == Verdict.ALLOW and observed == Verdict.REFUSED


@dataclass(frozen=True)
class Cell:
    verdict: Verdict
    reason: str = ""  # why (engine) or what was seen (probe)
    tries: int = 0  # probe attempts it took (0 for expectations)
    command: str = ""  # the kubectl line that reproduces the probe
    tier: str = ""  # the policy tier that decided (the evaluator's expectations; empty: none evaluated)


class CellStatus(str, enum.Enum):
    """How one observed cell stands against its expectation (the one rule, for every report)."""

    PLAIN = "plain"  # no expectation to compare with (or nothing to judge)
    MATCH = "match"
    MISMATCH = "mismatch"
    UNJUDGED = "unjudged"  # an expectation, but no verdict observed (?, ERROR, or not probed)


def cell_status(observed: Cell, expected: Cell | None) -> CellStatus:
    """The status of one cell; ``Matrix.compare`` sorts cells by it."""
    if expected is None or expected.verdict == Verdict.NOT_JUDGED:
        return CellStatus.PLAIN
    if not observed.verdict.judged:
        return CellStatus.UNJUDGED
    if matches(expected.verdict, observed.verdict):
        return CellStatus.MATCH
    return CellStatus.MISMATCH


def tries_text(cell: Cell) -> str:
    return f" after {cell.tries} tries" if cell.tries > 1 else ""


@dataclass(frozen=True)
class Difference:
    row: str
    column: str
    expected: Cell
    observed: Cell

    def headline(self) -> str:
        """``backend -> database:3306: expected ALLOW, observed DENY after 3 tries``."""
        return (
            f"{self.row} -> {self.column}: expected {self.expected.verdict.value}, "
            f"observed {self.observed.verdict.value}{tries_text(self.observed)}"
        )

    def details(self) -> list[str]:
        """What was seen, why it was expected, and the line that reproduces it (those there are)."""
        lines = []
        if self.observed.reason:
            lines.append(f"seen: {self.observed.reason}")
        if self.expected.reason:
            lines.append(f"expected because: {self.expected.reason}")
        if self.observed.command:
            lines.append(f"reproduce: $ {self.observed.command}")
        return lines


@dataclass(frozen=True)
class Comparison:
    """The result of comparing an observed matrix against an expected one."""

    matched: tuple[tuple[str, str], ...]
    mismatched: tuple[Difference, ...]
    unjudged: tuple[Difference, ...]  # observed inconclusive, check failed, or not probed

    @property
    def ok(self) -> bool:
        return not self.mismatched


@dataclass
class Matrix:
    """Verdicts by (row, column), with the row and column order kept for display."""

    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    title: str = ""

    def set(self, row: str, column: str, cell: Cell) -> None:
        if row not in self.rows:
            self.rows.append(row)
        if column not in self.columns:
            self.columns.append(column)
        self.cells[(row, column)] = cell

    def get(self, row: str, column: str) -> Cell:
        return self.cells.get((row, column), Cell(Verdict.NOT_JUDGED))

    def __iter__(self) -> Iterator[tuple[str, str, Cell]]:
        for row in self.rows:
            for column in self.columns:
                yield row, column, self.get(row, column)

    def compare(self, observed: Matrix) -> Comparison:
        """Compare ``observed`` against this matrix as the expectation."""
        matched: list[tuple[str, str]] = []
        mismatched: list[Difference] = []
        unjudged: list[Difference] = []
        for row, column, expected in self:
            seen = observed.get(row, column)
            status = cell_status(seen, expected)
            if status == CellStatus.MATCH:
                matched.append((row, column))
            elif status == CellStatus.MISMATCH:
                mismatched.append(Difference(row, column, expected, seen))
            elif status == CellStatus.UNJUDGED:
                unjudged.append(Difference(row, column, expected, seen))
        return Comparison(tuple(matched), tuple(mismatched), tuple(unjudged))

    def changed_cells(self, previous: Matrix) -> list[tuple[str, str, Verdict, Verdict]]:
        """Cells whose verdict differs from ``previous`` (for "what this stage changes")."""
        changes = []
        for row, column, cell in self:
            before = previous.get(row, column).verdict
            if before != cell.verdict:
                changes.append((row, column, before, cell.verdict))
        return changes

    # -- the hand-written table format -------------------------------------------------

    @classmethod
    def from_table(cls, text: str, *, title: str = "") -> Matrix:
        """Parse a whitespace-aligned table; ``#`` starts a comment.

        The first row starts with ``from`` and names the columns; each following row
        names a source and gives one verdict word per column.
        """
        lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines or lines[0][0] != "from":
            raise ValueError("an expectation table starts with a header row: from <column> <column> ...")
        header = [word for word in lines[0][1:] if word not in ("\\", "to")]
        matrix = cls(title=title)
        for number, words in enumerate(lines[1:], start=2):
            if len(words) != len(header) + 1:
                raise ValueError(
                    f"row {number} ({words[0]}) has {len(words) - 1} verdicts for {len(header)} columns"
                )
            for column, word in zip(header, words[1:], strict=True):
                matrix.set(words[0], column, Cell(Verdict.parse(word)))
        return matrix


def union_order(first: list[str], second: list[str]) -> list[str]:
    """``first``, then the items of ``second`` it lacks, each in its own order."""
    return first + [item for item in second if item not in first]


def merged_order(first: list[str], second: list[str]) -> list[str]:
    """``first``, with each item of ``second`` it lacks placed right after the item that precedes it in
    ``second`` (or last): a dual-stack run's IPv6 columns stay beside their IPv4 twins."""
    out = list(first)
    for index, item in enumerate(second):
        if item in out:
            continue
        anchor = next((second[j] for j in range(index - 1, -1, -1) if second[j] in out), None)
        out.insert(out.index(anchor) + 1 if anchor is not None else len(out), item)
    return out


def aligned(observed: Matrix, expected: Matrix | None) -> tuple[list[str], list[str]]:
    """The rows and columns to show ``observed`` with: the expectation's order, each extra column
    beside the observed column before it, extra rows last."""
    if expected is None:
        return list(observed.rows), list(observed.columns)
    return union_order(expected.rows, observed.rows), merged_order(expected.columns, observed.columns)


def restrict(matrix: Matrix, rows: Iterable[str], columns: Iterable[str]) -> Matrix:
    """A copy holding only the given rows and columns (in that order)."""
    out = Matrix(title=matrix.title)
    for row in rows:
        for column in columns:
            if (row, column) in matrix.cells:
                out.set(row, column, matrix.cells[(row, column)])
    return out
