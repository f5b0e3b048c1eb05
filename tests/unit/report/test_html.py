"""The HTML report as a document: matrices side by side, the drawing, explanations, nothing fetched."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from lab.matrix import Cell, Verdict
from lab.report.html import Box, FlowKind, flows, layout, render_html, route, route_flows
from lab.result import ProbeResult
from tests.unit.report.dom import Node, parse
from tests.unit.report.samples import REPRODUCE, seed_result

GENERATED = datetime(2026, 11, 2, 11, 0, 0, tzinfo=timezone.utc)


def page(*results: ProbeResult) -> Node:
    return parse(render_html(list(results), generated_at=GENERATED))


def open_result() -> ProbeResult:
    """Stage 0 as observed: every pair connects, nothing expected."""
    result = seed_result(problems=False, stage="0")
    for row, column, cell in list(result.observed):
        if cell.verdict != Verdict.NOT_JUDGED:
            result.observed.set(row, column, Cell(Verdict.ALLOW, tries=1))
    result = replace(result, expected=None, stage_title="Stage 0: an open cluster")
    return result


def test_nothing_is_fetched_from_the_network() -> None:
    text = render_html([seed_result(), open_result()], generated_at=GENERATED)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls == {"http://www.w3.org/2000/svg"}, "only the SVG namespace name, which is never fetched"
    doc = parse(text)
    assert not doc.find_all("script") and not doc.find_all("link") and not doc.find_all("img")
    assert all(a.attrs["href"].startswith("#") for a in doc.find_all("a"))
    assert "@import" not in text and "url(" not in text.replace("url(#", "")
    csp = doc.find_all("meta", http_equiv="Content-Security-Policy")
    assert csp and "default-src 'none'" in csp[0].attrs["content"]


def test_one_section_per_result_with_when_and_where() -> None:
    doc = page(seed_result(), open_result())
    sections = doc.find_all("section", class_="stage")
    assert [s.attrs["data-stage"] for s in sections] == ["4", "0"]
    first = sections[0]
    assert first.find_all("h2")[0].text == "Stage 4: backend to database on 3306"
    times = first.find_all("time")
    assert times[0].attrs["datetime"] == "2026-11-02T10:15:00+00:00"
    assert "2026-11-02 10:15:00 UTC" in times[0].text
    assert "kind-netpol-lab" in first.find_all("p", class_="meta")[0].text
    assert "FAIL" in first.find_all("p", class_="summary")[0].text
    assert "2 mismatches" in first.find_all("p", class_="summary")[0].text
    assert "NO EXPECTATION" in sections[1].find_all("p", class_="summary")[0].text


def test_overview_links_every_stage() -> None:
    doc = page(seed_result(), open_result())
    overview = doc.find_all("table", class_="overview")[0]
    links = [a.attrs["href"] for a in overview.find_all("a")]
    ids = [s.attrs["id"] for s in doc.find_all("section", class_="stage")]
    assert links == [f"#{i}" for i in ids]
    assert len(set(ids)) == 2


def test_expected_and_observed_matrices_say_verdicts_in_words() -> None:
    section = page(seed_result()).find_all("section", class_="stage")[0]
    figures = section.find_all("figure", class_="matrix")
    assert [f.find_all("figcaption")[0].text for f in figures] == ["Expected", "Observed"]
    expected, observed = (
        {(td.attrs["data-row"], td.attrs["data-column"]): td for td in f.iter("td")} for f in figures
    )
    assert len(expected) == len(observed) == 4 * 9
    assert expected[("frontend", "backend:80")].text == "ALLOW"
    wrong = observed[("frontend", "backend:80")]
    assert wrong.text == "✗ DENY≠ALLOW ×10"  # the same words as the terminal table
    assert wrong.attrs["data-status"] == "mismatch" and "s-mismatch" in wrong.attrs["class"]
    assert "TIMEOUT" in wrong.attrs["title"]
    assert observed[("untrusted", "outside")].attrs["data-status"] == "unjudged"
    assert observed[("backend", "database:3306")].text == "REFUSED"
    assert observed[("backend", "database:3306")].attrs["data-status"] == "match"
    headers = [th.text for th in figures[1].find_all("th", scope="col")]
    assert headers[0] == "from \\ to" and headers[1:] == [c for c in seed_result().observed.columns]


def test_drawing_has_namespaces_pods_with_nodes_and_flows() -> None:
    result = seed_result()
    svg = page(result).find_all("svg", class_="drawing")[0]
    assert {g.attrs["data-namespace"] for g in svg.find_all("g", class_="namespace")} == {
        "frontend", "backend", "database", "untrusted",
    }  # fmt: skip
    pods = {g.attrs["data-pod"]: g for g in svg.find_all("g", class_="pod")}
    assert set(pods) == {"frontend", "backend", "database", "untrusted"}
    assert pods["backend"].attrs["data-node"] == "netpol-lab-worker2"
    assert "node netpol-lab-worker2" in pods["backend"].text and "10.244.2.4" in pods["backend"].text
    assert {g.attrs["data-target"] for g in svg.find_all("g", class_="external")} == {
        "dns",
        "outside",
        "metadata",
    }
    drawn = {
        (g.attrs["data-from"], g.attrs["data-to"], g.attrs["data-kind"])
        for g in svg.find_all("g", class_="flow")
    }
    assert drawn == {(f.source, f.target, f.kind.value) for f in flows(result)}
    assert ("frontend", "backend", "missing") in drawn  # dashed red: expected allowed, observed denied
    assert ("untrusted", "database", "unexpected") in drawn
    assert ("frontend", "database", "allowed") not in drawn
    for g in svg.find_all("g", class_="flow"):
        path = g.find_all("path")[0]
        assert path.attrs["marker-end"].startswith("url(#")
        assert g.find_all("title")[0].text  # each arrow says what it is
    missing = svg.find_all("g", data_kind="missing")[0].find_all("path")[0]
    assert missing.attrs["stroke-dasharray"]


def test_flows_merge_columns_and_skip_expected_denials() -> None:
    by_key = {(f.source, f.target, f.kind): f for f in flows(seed_result())}
    backend_db = by_key[("backend", "database", FlowKind.ALLOWED)]
    assert backend_db.columns == ["database:3306", "svc/database:3306"]
    assert backend_db.label == "3306 + svc"
    assert by_key[("frontend", "backend", FlowKind.ALLOWED)].label == "svc 80"
    assert by_key[("frontend", "backend", FlowKind.MISSING)].label == "80"
    assert by_key[("untrusted", "outside", FlowKind.UNKNOWN)].label == ""
    assert by_key[("database", "dns", FlowKind.UNKNOWN)]
    assert not any(f.kind == FlowKind.ALLOWED and f.target == f.source for f in by_key.values())
    assert all(f.source != "frontend" or f.target != "database" for f in by_key.values())


def test_open_cluster_draws_every_pair() -> None:
    result = open_result()
    pairs = {(f.source, f.target) for f in flows(result)}
    assert len(pairs) == 4 * 3 + 4 * 3  # every other pod, and dns, outside, metadata
    assert all(f.kind == FlowKind.ALLOWED for f in flows(result))


def test_arrows_avoid_the_boxes_they_do_not_join() -> None:
    for result in (seed_result(), open_result()):
        plan = layout(result)
        for flow, curve, _bend in route_flows(plan, flows(result)):
            for box in plan.obstacles(flow.source, flow.target):
                assert not any(box.contains(*curve.at(i / 40)) for i in range(1, 40)), flow.words


def test_route_bends_two_directions_apart() -> None:
    a, b = Box(0, 0, 100, 50), Box(400, 0, 100, 50)
    there, bend = route(a, b, [], set())
    back, _ = route(b, a, [], {-bend})
    assert there.control != back.control
    assert there.start[0] == pytest.approx(103, abs=1) and there.end[0] == pytest.approx(397, abs=1)


def test_problems_list_reproduce_commands_and_unjudged_reasons() -> None:
    section = page(seed_result()).find_all("section", class_="stage")[0]
    mismatches = section.find_all("p", class_="mismatch")
    assert len(mismatches) == 2
    assert REPRODUCE in mismatches[0].text
    assert "expected ALLOW, observed DENY after 10 tries" in mismatches[0].text
    unjudged = [li.text for li in section.find_all("li", class_="unjudged")]
    assert any("the control could not reach 1.1.1.1:443" in text for text in unjudged)


def test_denied_flows_carry_their_explanation() -> None:
    section = page(seed_result()).find_all("section", class_="stage")[0]
    explain = section.find_all("table", class_="explain")[0]
    rows = {(tr.attrs["data-row"], tr.attrs["data-column"]): tr for tr in explain.find_all("tr") if tr.attrs}
    assert "policy backend/allow-frontend selects the pod" in rows[("untrusted", "backend:80")].text
    assert ("frontend", "backend:80") in rows  # observed denied although expected allowed
    assert ("frontend", "svc/backend:80") not in rows  # allowed both ways
    assert "TIMEOUT" in rows[("frontend", "backend:80")].text


def test_text_is_escaped() -> None:
    result = seed_result()
    result = replace(result, context="<script>alert(1)</script>")
    result.observed.set("frontend", "backend:80", Cell(Verdict.DENY, "<b>bold</b>", 1, "echo '<&>'"))
    text = render_html([result], generated_at=GENERATED)
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert "<b>bold</b>" not in text
