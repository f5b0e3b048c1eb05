"""A matrix written back in the stages' hand-written table format (tests compare through it)."""

from __future__ import annotations

from lab.matrix import Matrix


def table_text(matrix: Matrix) -> str:
    """The table ``Matrix.from_table`` reads, aligned in columns; round-trips through it."""
    header = ["from \\ to", *matrix.columns]
    body = [[row, *(matrix.get(row, c).verdict.value for c in matrix.columns)] for row in matrix.rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(word.ljust(w) for word, w in zip(r, widths, strict=True)).rstrip() for r in [header, *body]
    ]
    return "\n".join(lines) + "\n"
