"""JUnit XML: one readable testcase per judged cell, failures with the reproduce line, skips with reasons."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lab.matrix import Cell, Verdict
from lab.report.junit import case_name, write_junit
from tests.unit.report.samples import PROBED_AT, REPRODUCE, observed_as_expected, seed_result


def written(tmp_path: Path, *, problems: bool = True) -> ET.Element:
    result = seed_result(problems=problems)
    assert result.expected is not None and result.comparison is not None
    path = tmp_path / "out" / "probe.xml"
    write_junit(
        path,
        result.observed,
        result.expected,
        result.comparison,
        suite_name="netpol-lab stage 4",
        context=result.context,
        stage=result.stage,
        probed_at=PROBED_AT,
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(text)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in root.iter("testcase")}


def test_shape_is_testsuites_with_one_testsuite(tmp_path: Path) -> None:
    root = written(tmp_path)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.attrib["name"] == "netpol-lab stage 4"
    assert suite.attrib["timestamp"] == "2026-11-02T10:15:00"
    properties = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert properties == {"context": "kind-netpol-lab", "stage": "4"}
    for element in (root, suite):
        assert element.attrib["tests"] == str(len(suite.findall("testcase")))
        assert element.attrib["failures"] == "2"
        assert element.attrib["skipped"] == "2"
        assert element.attrib["errors"] == "0"


def test_one_testcase_per_judged_cell_with_readable_names(tmp_path: Path) -> None:
    result = seed_result()
    assert result.comparison is not None
    comparison = result.comparison
    root = written(tmp_path)
    names = cases(root)
    assert len(names) == len(comparison.matched) + len(comparison.mismatched) + len(comparison.unjudged)
    assert "frontend->backend:80 allowed" in names
    assert "untrusted->backend:80 denied" in names
    assert "frontend->frontend:80 allowed" not in names and "frontend->frontend:80 -" not in names
    assert names["frontend->backend:80 allowed"].attrib["classname"] == "netpol-lab stage 4.frontend"


def test_mismatch_is_a_failure_with_the_reproduce_command(tmp_path: Path) -> None:
    failure = cases(written(tmp_path))["frontend->backend:80 allowed"].find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "expected ALLOW, observed DENY after 10 tries"
    assert failure.attrib["type"] == "mismatch"
    assert failure.text is not None
    assert "seen: TIMEOUT" in failure.text
    assert f"reproduce: $ {REPRODUCE}" in failure.text


def test_unjudged_cells_are_skipped_with_their_reason(tmp_path: Path) -> None:
    names = cases(written(tmp_path))
    skipped = names["untrusted->outside allowed"].find("skipped")
    assert skipped is not None
    assert skipped.attrib["message"].startswith("inconclusive: the control could not reach 1.1.1.1:443")
    failed = names["database->dns allowed"].find("skipped")
    assert failed is not None
    assert failed.attrib["message"] == "check failed: exec failed: container not running"


def test_matching_cells_pass(tmp_path: Path) -> None:
    names = cases(written(tmp_path))
    case = names["backend->database:3306 allowed"]  # observed REFUSED: got through, counts as allowed
    assert case.find("failure") is None and case.find("skipped") is None
    out = case.find("system-out")
    assert out is not None and out.text == "observed REFUSED"


def test_all_matching_has_no_failures(tmp_path: Path) -> None:
    root = written(tmp_path, problems=False)
    assert root.attrib["failures"] == "0"
    assert root.attrib["skipped"] == "0"
    assert not list(root.iter("failure"))


def test_special_characters_survive(tmp_path: Path) -> None:
    result = seed_result()
    assert result.expected is not None
    observed = observed_as_expected(result.expected)
    observed.set("frontend", "backend:80", Cell(Verdict.DENY, 'DNS: lookup "a<b>&c"', 2, "echo '<&>'"))
    path = tmp_path / "x.xml"
    write_junit(path, observed, result.expected, result.expected.compare(observed), suite_name="s & <t>")
    root = ET.parse(path).getroot()
    failure = next(root.iter("failure"))
    assert (
        failure.text is not None and 'DNS: lookup "a<b>&c"' in failure.text and "$ echo '<&>'" in failure.text
    )
    assert root.attrib["name"] == "s & <t>"


def test_case_name_words() -> None:
    assert case_name("a", "b:80", Verdict.ALLOW) == "a->b:80 allowed"
    assert case_name("a", "b:80", Verdict.DENY) == "a->b:80 denied"
    assert case_name("a", "svc/b:80", Verdict.DNS_FAIL) == "a->svc/b:80 dns fails"
