"""The HTML report as a document: matrices side by side, the drawing, explanations, nothing fetched."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace
from datetime import datetime, timezone
from fnmatch import fnmatch
from importlib.resources import files

import pytest

from lab.env import project_root
from lab.matrix import Cell, Verdict
from lab.report.html import render_html
from lab.report.layout import HEAD_GAP, STEP, Box, FlowKind, Role, flows, layout
from lab.result import ProbeResult
from tests.unit.report.dom import Node, parse
from tests.unit.report.samples import (
    HOSTILE_CONTEXT,
    HOSTILE_NAMESPACE,
    HOSTILE_POD,
    HOSTILE_REASON,
    REPRODUCE,
    hostile_result,
    open_result,
    seed_result,
)

GENERATED = datetime(2026, 11, 2, 11, 0, 0, tzinfo=timezone.utc)


def page(*results: ProbeResult) -> Node:
    return parse(render_html(list(results), generated_at=GENERATED))


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


def test_each_stage_says_which_deny_action_was_in_force() -> None:
    dropped, rejected = seed_result(), replace(seed_result(), deny_action="Reject")
    sections = page(dropped, rejected).find_all("section", class_="stage")
    actions = [s.find_all("code", class_="deny-action")[0].text for s in sections]
    assert actions == ["Drop", "Reject"]
    notes = [s.find_all("p", class_="note")[0].text for s in sections]
    assert "REFUSED means the packet got through and nothing listened" in notes[0]
    # under Reject a refused connection is not a REFUSED cell: the page says how it was read
    assert "deny action Reject" in notes[1] and "got through" not in notes[1]


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
    for result in (seed_result(), open_result(), hostile_result()):
        plan = layout(result)
        assert len(plan.arrows) == len(flows(result))
        for arrow in plan.arrows:
            samples = arrow.samples()
            for box in plan.obstacles(arrow.flow.source, arrow.flow.target):
                assert not any(box.contains(*point) for point in samples), arrow.flow.words


def test_arrows_cross_no_label() -> None:
    # The layout's own account; test_html_browser measures the same in chromium's rendering.
    for result in (seed_result(), open_result(), hostile_result()):
        plan = layout(result)
        labels = plan.labels()
        assert {label.role for label in labels} == set(Role)
        for arrow in plan.arrows:
            samples = arrow.samples()
            for label in labels:
                box = label.box.inflate(2)  # half the widest arrow's stroke
                assert not any(box.contains(*point) for point in samples), (arrow.flow.words, label.text)


def test_labels_sit_inside_their_boxes_and_apart() -> None:
    for result in (seed_result(), open_result(), hostile_result()):
        plan = layout(result)
        for node in [*plan.pods.values(), *plan.externals.values()]:
            for label in node.labels:
                inner, outer = label.box, node.box
                assert outer.x <= inner.x and inner.right <= outer.right, (node.name, label.text)
                assert outer.y <= inner.y and inner.bottom <= outer.bottom, (node.name, label.text)
        for namespace in plan.namespaces.values():
            assert namespace.box.contains(namespace.label.box.x, namespace.label.box.y)
            assert namespace.label.box.right <= namespace.box.right
        flow_labels = [a.label.box for a in plan.arrows if a.label is not None]
        for a, b in itertools.combinations(flow_labels, 2):
            assert not a.overlaps(b)
        drawing = Box(0, 0, plan.width, plan.height).inflate(-2)
        for label in plan.labels():
            assert drawing.contains(label.box.x, label.box.y) and drawing.contains(
                label.box.right, label.box.bottom
            )
        assert all(drawing.contains(*point) for arrow in plan.arrows for point in arrow.points)


def test_arrows_run_from_edge_to_edge_in_lanes_of_their_own() -> None:
    plan = layout(open_result())
    stretches: dict[tuple[tuple[float, float], tuple[float, float]], str] = {}
    for arrow in plan.arrows:
        source, target = plan.box(arrow.flow.source), plan.box(arrow.flow.target)
        first, last = arrow.points[0], arrow.points[-1]
        assert source.contains(*first) and not source.contains(*first, margin=-0.5)  # on the edge
        assert target.contains(*last, margin=HEAD_GAP + 0.1) and not target.contains(*last)
        for a, b in arrow.segments():
            assert a[0] == b[0] or a[1] == b[1], "every piece runs across or down"
            steps = max(1, round(math.dist(a, b) / STEP))
            for n in range(steps):  # no two arrows share a stretch of the routing grid
                low, high = sorted((_at(a, b, n / steps), _at(a, b, (n + 1) / steps)))
                assert stretches.setdefault((low, high), arrow.flow.words) == arrow.flow.words
    there = next(a for a in plan.arrows if (a.flow.source, a.flow.target) == ("frontend", "backend"))
    back = next(a for a in plan.arrows if (a.flow.source, a.flow.target) == ("backend", "frontend"))
    assert there.points != tuple(reversed(back.points))


def _at(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t)


def test_box_is_crossed_by_segments_through_it() -> None:
    box = Box(10, 10, 20, 20)
    assert box.crossed_by((0, 20), (40, 20)) and box.crossed_by((20, 0), (20, 15))
    assert not box.crossed_by((0, 0), (40, 0)) and not box.crossed_by((0, 40), (40, 41))
    assert box.crossed_by((0, 0), (40, 40)) and not box.crossed_by((0, 25), (5, 40))


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


def why(page_doc: Node) -> dict[tuple[str, str], Node]:
    explain = page_doc.find_all("table", class_="explain")[0]
    return {
        (tr.attrs["data-row"], tr.attrs["data-column"]): tr.find_all("td", class_="why")[0]
        for tr in explain.find_all("tr")
        if tr.attrs
    }


def test_why_gives_the_expected_reason_else_the_observed_one() -> None:
    result = seed_result()
    result.observed.set("untrusted", "backend:80", Cell(Verdict.DENY, "TIMEOUT", 1))
    reasons = why(page(result))
    expected_reason = "policy backend/allow-frontend selects the pod; no rule admits namespace untrusted"
    assert reasons[("untrusted", "backend:80")].text == expected_reason  # the expectation's, when it has one
    assert reasons[("untrusted", "backend:80")].attrs["data-from"] == "expected"
    assert reasons[("frontend", "backend:80")].text == "TIMEOUT"  # else what the probe saw
    assert reasons[("frontend", "backend:80")].attrs["data-from"] == "observed"
    assert reasons[("frontend", "database:3306")].text == "—"  # neither has one
    assert reasons[("frontend", "database:3306")].attrs["data-from"] == "none"
    no_expectation = why(page(replace(seed_result(), expected=None)))
    assert no_expectation[("frontend", "backend:80")].text == "TIMEOUT"


def test_page_is_a_doctype_document_with_the_package_stylesheet_inlined() -> None:
    text = render_html([seed_result()], generated_at=GENERATED)
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    css = files("lab.report").joinpath("report.css").read_text(encoding="utf-8")
    assert "matrices" in css and f"<style>{css}</style>" in text
    assert len(parse(text).find_all("style")) == 1


def test_the_stylesheet_is_package_data() -> None:
    tomllib = pytest.importorskip(
        "tomllib", reason="tomllib comes with Python 3.11+: run the suite on 3.11 to check the package data"
    )
    config = tomllib.loads((project_root() / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["lab"]
    assert any(fnmatch("report/report.css", pattern) for pattern in patterns)


def test_hostile_names_are_escaped_in_the_page_and_the_drawing() -> None:
    text = render_html([hostile_result()], generated_at=GENERATED)
    for raw in (HOSTILE_POD, HOSTILE_NAMESPACE, HOSTILE_CONTEXT, HOSTILE_REASON):
        assert raw not in text, "written as it is"
    assert "<script>" not in text and '"><img' not in text and "<b>" not in text and "<i>" not in text
    doc = parse(text)
    for tag in ("script", "img", "b", "i"):
        assert not doc.find_all(tag), f"a name made a <{tag}> element"
    # the page: each name reads back exactly, in text and in attributes
    assert [c.text for c in doc.find_all("code")][:2] == [HOSTILE_CONTEXT, HOSTILE_CONTEXT]
    for figure in doc.find_all("figure", class_="matrix"):
        assert HOSTILE_POD in [th.text for th in figure.find_all("th", scope="row")]
        column = figure.find_all("th", data_column=f"{HOSTILE_POD}:80")[0]
        assert column.text == f"{HOSTILE_POD}:80"
        assert len(figure.find_all("td", data_row=HOSTILE_POD)) == 9
    assert why(doc)[(HOSTILE_POD, "frontend:80")].text == HOSTILE_REASON
    flows_listed = [li.text for li in doc.find_all("li", class_="flow-allowed")]
    assert f"{HOSTILE_POD} → dns (dns): allowed" in flows_listed
    # the drawing
    svg = doc.find_all("svg", class_="drawing")[0]
    (pod,) = svg.find_all("g", data_pod=HOSTILE_POD)
    assert pod.find_all("text")[0].text == f"pod {HOSTILE_POD}"
    (namespace,) = svg.find_all("g", data_namespace=HOSTILE_NAMESPACE)
    assert namespace.find_all("text")[0].text == f"namespace {HOSTILE_NAMESPACE}"
    arrows = svg.find_all("g", data_from=HOSTILE_POD)
    assert arrows and all(HOSTILE_POD in g.find_all("title")[0].text for g in arrows)
    assert HOSTILE_POD in svg.find_all("desc")[0].text


def test_text_is_escaped() -> None:
    result = seed_result()
    result = replace(result, context="<script>alert(1)</script>")
    result.observed.set("frontend", "backend:80", Cell(Verdict.DENY, "<b>bold</b>", 1, "echo '<&>'"))
    text = render_html([result], generated_at=GENERATED)
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert "<b>bold</b>" not in text
