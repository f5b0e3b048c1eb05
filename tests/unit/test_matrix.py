"""The shared verdict matrix: table round-trip, comparison rules, changed cells."""

from __future__ import annotations

import pytest

from lab.matrix import Cell, Matrix, Verdict, matches, restrict
from tests.tables import table_text

TABLE = """# a comment
from \\ to  a:80   b:80   dns
a          -      ALLOW  ALLOW   # trailing comment
b          DENY   -      DNS-FAIL
"""


def test_table_round_trips() -> None:
    matrix = Matrix.from_table(TABLE)
    assert matrix.rows == ["a", "b"]
    assert matrix.columns == ["a:80", "b:80", "dns"]
    assert matrix.get("b", "dns").verdict == Verdict.DNS_FAIL
    again = Matrix.from_table(table_text(matrix))
    assert again.cells == matrix.cells


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "header row"),
        ("a b\n", "header row"),
        ("from x y\nr ALLOW\n", "row 2 \\(r\\) has 1 verdicts for 2 columns"),
        ("from x\nr MAYBE\n", "unknown verdict 'MAYBE'"),
    ],
)
def test_bad_tables_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Matrix.from_table(text)


def test_refused_matches_allow_only() -> None:
    assert matches(Verdict.ALLOW, Verdict.REFUSED)
    assert not matches(Verdict.DENY, Verdict.REFUSED)
    assert not matches(Verdict.ALLOW, Verdict.DENY)
    assert matches(Verdict.DNS_FAIL, Verdict.DNS_FAIL)


def test_compare_separates_matches_mismatches_and_unjudged() -> None:
    expected = Matrix.from_table("from x y z w\nr ALLOW DENY ALLOW -\n")
    observed = Matrix()
    observed.set("r", "x", Cell(Verdict.REFUSED))
    observed.set("r", "y", Cell(Verdict.ALLOW, tries=4))
    observed.set("r", "z", Cell(Verdict.CHECK_FAILED, reason="exec failed"))
    observed.set("r", "w", Cell(Verdict.DENY))  # not judged by the expectation
    result = expected.compare(observed)
    assert result.matched == (("r", "x"),)
    assert [(d.row, d.column) for d in result.mismatched] == [("r", "y")]
    assert [(d.row, d.column) for d in result.unjudged] == [("r", "z")]
    assert not result.ok


def test_check_failed_and_inconclusive_are_never_verdicts() -> None:
    assert not Verdict.CHECK_FAILED.judged
    assert not Verdict.INCONCLUSIVE.judged
    assert not Verdict.NOT_JUDGED.judged
    assert all(v.judged for v in (Verdict.ALLOW, Verdict.DENY, Verdict.REFUSED, Verdict.DNS_FAIL))


def test_changed_cells_and_restrict() -> None:
    before = Matrix.from_table("from x y\nr DENY DENY\n")
    after = Matrix.from_table("from x y\nr ALLOW DENY\n")
    assert after.changed_cells(before) == [("r", "x", Verdict.DENY, Verdict.ALLOW)]
    assert restrict(after, ["r"], ["y"]).columns == ["y"]


def test_extra_columns_are_shown_beside_the_column_before_them() -> None:
    from lab.matrix import aligned, merged_order

    assert merged_order(["a", "b", "c"], ["a", "a@v6", "b", "c", "c@v6", "z"]) == [
        "a",
        "a@v6",
        "b",
        "c",
        "c@v6",
        "z",
    ]
    assert merged_order(["a", "b"], ["x", "b"]) == ["a", "b", "x"]  # nothing before it: last
    observed, expected = Matrix(), Matrix()
    for column in ("a", "a@v6", "b"):
        observed.set("r", column, Cell(Verdict.ALLOW))
    for column in ("a", "b"):
        expected.set("r", column, Cell(Verdict.ALLOW))
    assert aligned(observed, expected) == (["r"], ["a", "a@v6", "b"])
