"""Every flow of the scenario, proven by real connections from inside the lab pods.

One test per judged cell of the seed stage's table (``frontend->backend:80 allowed``), plus
the whole matrix at once and the order-free check: the same policies applied in reverse
order give the same matrix. Run with ``pytest tests/e2e`` once ``make lab-up`` has built
the lab; see tests/e2e/conftest.py for the options.
"""

from __future__ import annotations

import pytest

from lab.matrix import Verdict, matches
from lab.probe.prove import ProbeRun
from tests.e2e.flows import flow_id, flows, seed_expectation

SEED = seed_expectation()
FLOWS = flows(SEED)


def _describe(run: ProbeRun, row: str, column: str) -> str:
    cell = run.observed.get(row, column)
    tries = f" after {cell.tries} tries" if cell.tries > 1 else ""
    return f"observed {cell.verdict.value}{tries}: {cell.reason}\nreproduce: $ {cell.command}"


@pytest.mark.parametrize(
    ("row", "column"),
    FLOWS,
    ids=[flow_id(row, column, SEED.get(row, column).verdict) for row, column in FLOWS],
)
def test_flow(seed_run: ProbeRun, row: str, column: str) -> None:
    expected = SEED.get(row, column).verdict
    seen = seed_run.observed.get(row, column)
    if seen.verdict == Verdict.INCONCLUSIVE:
        pytest.skip(
            f"inconclusive, nothing proven either way: {seen.reason} "
            "(outside cells need internet access; metadata cells need the stand-in: see `make lab-status`)"
        )
    assert seen.verdict != Verdict.CHECK_FAILED, (
        f"the probe itself failed: {_describe(seed_run, row, column)}"
    )
    assert matches(expected, seen.verdict), f"expected {expected.value}, {_describe(seed_run, row, column)}"


def test_the_whole_matrix_matches_the_seed_table(seed_run: ProbeRun) -> None:
    comparison = SEED.compare(seed_run.observed)
    wrong = [
        f"{d.row}->{d.column}: expected {d.expected.verdict.value}, observed {d.observed.verdict.value}"
        for d in comparison.mismatched
    ]
    failed = [
        f"{d.row}->{d.column}: {d.observed.reason}"
        for d in comparison.unjudged
        if d.observed.verdict == Verdict.CHECK_FAILED
    ]
    assert not wrong and not failed, "\n".join(wrong + failed)
    assert comparison.matched, "no cell could be judged"


def test_policies_in_reverse_order_give_the_same_matrix(seed_run: ProbeRun, reverse_run: ProbeRun) -> None:
    different = []
    for row, column in FLOWS:
        first = seed_run.observed.get(row, column).verdict
        second = reverse_run.observed.get(row, column).verdict
        if first.judged and second.judged and not (matches(first, second) or matches(second, first)):
            different.append(f"{row}->{column}: {first.value} in order, {second.value} in reverse order")
    assert not different, "policies are order-free, yet:\n" + "\n".join(different)
    assert SEED.compare(reverse_run.observed).ok
