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


@dataclass(frozen=True)
class Difference:
    row: str
    column: str
    expected: Cell
    observed: Cell


@dataclass(frozen=True)
class Comparison:
    """The result of comparing an observed matrix against an expected one."""

    matched: tuple[tuple[str, str], ...]
    mismatched: tuple[Difference, ...]
    unjudged: tuple[Difference, ...]  # observed inconclusive or check failed

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
            if expected.verdict == Verdict.NOT_JUDGED:
                continue
            seen = observed.get(row, column)
            if seen.verdict == Verdict.NOT_JUDGED:
                continue
            if not seen.verdict.judged:
                unjudged.append(Difference(row, column, expected, seen))
            elif matches(expected.verdict, seen.verdict):
                matched.append((row, column))
            else:
                mismatched.append(Difference(row, column, expected, seen))
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

    def to_table(self) -> str:
        """Render in the hand-written table format (round-trips through ``from_table``)."""
        header = ["from \\ to", *self.columns]
        body = [[row, *(self.get(row, c).verdict.value for c in self.columns)] for row in self.rows]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        return (
            "\n".join(
                "  ".join(word.ljust(w) for word, w in zip(r, widths, strict=True)).rstrip()
                for r in [header, *body]
            )
            + "\n"
        )


def restrict(matrix: Matrix, rows: Iterable[str], columns: Iterable[str]) -> Matrix:
    """A copy holding only the given rows and columns (in that order)."""
    out = Matrix(title=matrix.title)
    for row in rows:
        for column in columns:
            if (row, column) in matrix.cells:
                out.set(row, column, matrix.cells[(row, column)])
    return out
