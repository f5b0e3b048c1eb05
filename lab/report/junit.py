"""Probe results as JUnit XML, for CI systems that show test reports (``probe --junit FILE``).

One testcase per judged cell, named after the flow and what was expected
(``frontend->backend:80 allowed``); a wrong cell is a failure that carries the command
reproducing it; a cell without a verdict (inconclusive, check failed) is skipped with its
reason, so it is visible but never counted as a pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from lab.matrix import MEANINGS, Comparison, Matrix, Verdict, aligned, tries_text

EXPECTATION_WORDS: dict[Verdict, str] = {
    Verdict.ALLOW: "allowed",
    Verdict.DENY: "denied",
    Verdict.REFUSED: "refused",
    Verdict.DNS_FAIL: "dns fails",
}


def case_name(row: str, column: str, expected: Verdict) -> str:
    """``frontend->backend:80 allowed``: the flow and what the expectation says of it."""
    return f"{row}->{column} {EXPECTATION_WORDS.get(expected, expected.value)}"


def build_junit(
    observed: Matrix,
    expected: Matrix,
    comparison: Comparison,
    *,
    suite_name: str,
    context: str = "",
    stage: str | None = None,
    probed_at: datetime | None = None,
) -> ET.Element:
    """The ``<testsuites>`` element for one probe run."""
    mismatched = {(d.row, d.column): d for d in comparison.mismatched}
    unjudged = {(d.row, d.column): d for d in comparison.unjudged}
    matched = set(comparison.matched)

    suite = ET.Element("testsuite", name=suite_name)
    if probed_at is not None:
        moment = probed_at if probed_at.tzinfo else probed_at.replace(tzinfo=timezone.utc)
        suite.set("timestamp", moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    properties = ET.SubElement(suite, "properties")
    for prop, text in (("context", context), ("stage", stage or "")):
        if text:
            ET.SubElement(properties, "property", name=prop, value=text)

    counts = {"tests": 0, "failures": 0, "skipped": 0}
    rows, columns = aligned(observed, expected)
    for row in rows:
        for column in columns:
            key = (row, column)
            if key not in matched and key not in mismatched and key not in unjudged:
                continue
            wanted = expected.get(row, column)
            case = ET.SubElement(
                suite,
                "testcase",
                name=case_name(row, column, wanted.verdict),
                classname=f"{suite_name}.{row}",
            )
            counts["tests"] += 1
            if key in mismatched:
                diff = mismatched[key]
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=diff.headline().split(": ", 1)[1],
                    type="mismatch",
                )
                failure.text = "\n".join(diff.details())
                counts["failures"] += 1
            elif key in unjudged:
                seen = unjudged[key].observed
                why = seen.reason or "no reason recorded"
                ET.SubElement(case, "skipped", message=f"{MEANINGS[seen.verdict]}: {why}")
                counts["skipped"] += 1
            else:
                seen = observed.get(row, column)
                out = ET.SubElement(case, "system-out")
                out.text = f"observed {seen.verdict.value}{tries_text(seen)}" + (
                    f"\n$ {seen.command}" if seen.command else ""
                )
    for name, count in counts.items():
        suite.set(name, str(count))
    suite.set("errors", "0")

    suites = ET.Element("testsuites", name=suite_name)
    for name, count in counts.items():
        suites.set(name, str(count))
    suites.set("errors", "0")
    suites.append(suite)
    return suites


def write_junit(
    path: Path,
    observed: Matrix,
    expected: Matrix,
    comparison: Comparison,
    *,
    suite_name: str,
    context: str = "",
    stage: str | None = None,
    probed_at: datetime | None = None,
) -> None:
    """Write the JUnit XML of one probe run to ``path`` (its folder is created if needed)."""
    root = build_junit(
        observed,
        expected,
        comparison,
        suite_name=suite_name,
        context=context,
        stage=stage,
        probed_at=probed_at,
    )
    ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
