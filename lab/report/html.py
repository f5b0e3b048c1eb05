"""A self-contained HTML report of saved probe results: one section per stage.

Each section shows when and where the probes ran, the expected and observed matrices side
by side, an inline SVG drawing of the namespaces, pods (with their node) and the flows, the
wrong cells with the command that reproduces them, and why each denied flow is denied.
The page fetches nothing (no external CSS, scripts or fonts), so it opens offline, and every
cell and arrow says its meaning in words as well as in colour.

The page is built as an ``xml.etree.ElementTree`` tree, so every name from a saved result (pods,
policies, contexts) is escaped by the serializer; the drawing's geometry comes from
``lab.report.layout`` and the stylesheet from the package file ``report.css``.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path
from typing import TypeAlias

from lab.matrix import MEANINGS, MISMATCH_MARK, Cell, CellStatus, Matrix, Verdict, aligned, cell_status
from lab.report.layout import DENIED, FLOW_WORDS, Arrow, Box, FlowKind, Label, Layout, Point, layout
from lab.report.table import cell_label, summary_line
from lab.result import ProbeResult

SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name, never fetched
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

ARROW_COLOURS = {
    FlowKind.ALLOWED: "#1a7f37",
    FlowKind.UNEXPECTED: "#b3261e",
    FlowKind.MISSING: "#b3261e",
    FlowKind.UNKNOWN: "#6b6b6b",
}
ARROW_DASHES = {
    FlowKind.ALLOWED: "",
    FlowKind.UNEXPECTED: "",
    FlowKind.MISSING: "9 6",
    FlowKind.UNKNOWN: "2 5",
}
ARROW_WIDTHS = {FlowKind.ALLOWED: 2.5, FlowKind.UNEXPECTED: 4.0, FlowKind.MISSING: 2.5, FlowKind.UNKNOWN: 2.0}
NAMESPACE_STYLE = {"fill": "#f3f6fa", "stroke": "#8a9bb0", "stroke-width": "1.5"}
POD_STYLE = {"fill": "#ffffff", "stroke": "#33475b", "stroke-width": "1.5"}
TARGET_STYLE = {"fill": "#fffdf5", "stroke": "#a08a4a", "stroke-width": "1.5", "stroke-dasharray": "5 3"}

# -- building the tree -----------------------------------------------------------------------

Content: TypeAlias = "str | ET.Element | None"
Attrs: TypeAlias = "Mapping[str, str | float | None]"  # None: the attribute is left out
# Elements after which the serialized page breaks the line (whitespace there renders as nothing).
_BLOCKS = {
    "html", "head", "body", "main", "header", "section", "table", "thead", "tbody", "tr", "figure",
    "figcaption", "p", "h1", "h2", "h3", "ul", "li", "div", "svg", "g", "defs", "marker", "meta",
    "title", "style", "desc", "rect", "text", "path",
}  # fmt: skip


def h(tag: str, attrs: Attrs | None = None, *content: Content) -> ET.Element:
    """An element with attributes (``None`` values left out) and content: text and elements, in order."""
    element = ET.Element(tag, {k: _value(v) for k, v in (attrs or {}).items() if v is not None})
    add(element, *content)
    return element


def add(element: ET.Element, *content: Content) -> ET.Element:
    for item in content:
        if item is None:
            continue
        if isinstance(item, str):
            if len(element):
                element[-1].tail = (element[-1].tail or "") + item
            else:
                element.text = (element.text or "") + item
        else:
            element.append(item)
    return element


def _value(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return f"{value:.1f}".removesuffix(".0")


def breakable(text: str, after: str) -> list[Content]:
    """``text`` with a ``<wbr>`` (a place the line may break) after each of the characters in ``after``."""
    parts: list[Content] = []
    for piece in re.split(f"(?<=[{re.escape(after)}])", text):
        if piece:
            if parts:
                parts.append(h("wbr"))
            parts.append(piece)
    return parts


def serialize(root: ET.Element) -> str:
    """The page as HTML: ``<!DOCTYPE html>``, then the tree (the serializer escapes every text)."""
    for element in root.iter():
        if element.tag in _BLOCKS and element is not root and not element.tail:
            element.tail = "\n"
    return "<!DOCTYPE html>\n" + ET.tostring(root, encoding="unicode", method="html") + "\n"


@functools.cache
def stylesheet() -> str:
    """The report's CSS, a data file of this package (inlined: the page fetches nothing)."""
    return files("lab.report").joinpath("report.css").read_text(encoding="utf-8")


# -- the drawing -----------------------------------------------------------------------------


def _text(label: Label, **attrs: str) -> ET.Element:
    return h(
        "text",
        {"x": label.x, "y": label.y, "class": label.role.value, "text-anchor": label.anchor, **attrs},
        label.text,
    )


def _rect(box: Box, rx: float, style: Mapping[str, str]) -> ET.Element:
    attrs: Attrs = {"x": box.x, "y": box.y, "width": box.w, "height": box.h, "rx": rx, **style}
    return h("rect", attrs)


def _point(point: Point) -> str:
    return f"{_value(round(point[0], 1))},{_value(round(point[1], 1))}"


def path_data(arrow: Arrow) -> str:
    """The SVG path of an arrow: straight runs, corners rounded by quadratic curves."""
    return " ".join(command + " ".join(_point(p) for p in points) for command, points in arrow.commands())


def render_svg(result: ProbeResult, ident: str, plan: Layout | None = None) -> ET.Element:
    """The drawing of one probe result: namespaces, pods, external targets and the flows."""
    plan = plan or layout(result)
    words = "; ".join(a.flow.words for a in plan.arrows) or "no flow is allowed"
    svg = h(
        "svg",
        {
            "class": "drawing",
            "xmlns": SVG_NAMESPACE,
            "viewBox": f"0 0 {_value(plan.width)} {_value(plan.height)}",
            "width": plan.width,
            "role": "img",
            "aria-labelledby": f"{ident}-t {ident}-d",
        },
        h("title", {"id": f"{ident}-t"}, "Namespaces, pods and flows"),
        h("desc", {"id": f"{ident}-d"}, words),
    )
    defs = add(h("defs"))
    for kind, colour in ARROW_COLOURS.items():
        marker = {
            "id": f"{ident}-head-{kind.value}",
            "viewBox": "0 0 10 10",
            "refX": "9",
            "refY": "5",
            "markerWidth": "11",
            "markerHeight": "11",
            "markerUnits": "userSpaceOnUse",
            "orient": "auto-start-reverse",
        }
        add(defs, h("marker", marker, h("path", {"d": "M0,0 L10,5 L0,10 z", "fill": colour})))
    add(svg, defs)
    for namespace in plan.namespaces.values():
        group = {"class": "namespace", "data-namespace": namespace.name}
        add(svg, h("g", group, _rect(namespace.box, 12, NAMESPACE_STYLE), _text(namespace.label)))
    for pod in plan.pods.values():
        info = result.pods.get(pod.name)
        group = {"class": "pod", "data-pod": pod.name, "data-node": info.node if info else ""}
        add(svg, h("g", group, _rect(pod.box, 8, POD_STYLE), *(_text(label) for label in pod.labels)))
    for target in plan.externals.values():
        group = {"class": "external", "data-target": target.name}
        rect = _rect(target.box, target.box.h / 2, TARGET_STYLE)
        add(svg, h("g", group, rect, *(_text(label) for label in target.labels)))
    labels = []
    for arrow in plan.arrows:
        flow = arrow.flow
        colour = ARROW_COLOURS[flow.kind]
        line: Attrs = {
            "d": path_data(arrow),
            "fill": "none",
            "stroke": colour,
            "stroke-width": ARROW_WIDTHS[flow.kind],
            "stroke-dasharray": ARROW_DASHES[flow.kind] or None,
            "marker-end": f"url(#{ident}-head-{flow.kind.value})",
        }
        group = {"class": f"flow {flow.kind.value}", "data-from": flow.source, "data-to": flow.target}
        if flow.tiers:  # which tier decided: in the arrow's title (its words) and for scripts
            group["data-tier"] = " ".join(flow.tiers)
        add(
            svg,
            h("g", {**group, "data-kind": flow.kind.value}, h("title", None, flow.words), h("path", line)),
        )
        if arrow.label is not None:
            labels.append(_text(arrow.label, fill=colour))
    add(svg, *labels)  # labels last, so no arrow is drawn over them
    return svg


# -- the page --------------------------------------------------------------------------------


def _cell_content(cell: Cell, expected: Cell | None) -> list[Content]:
    """The cell's words; the mismatch mark stays on the line of the verdict it marks."""
    text = cell_label(cell, expected).replace(f"{MISMATCH_MARK} ", f"{MISMATCH_MARK}\u00a0")
    return breakable(text, "≠")


def _verdict_class(verdict: Verdict) -> str:
    return {Verdict.INCONCLUSIVE: "v-q", Verdict.NOT_JUDGED: "v-none"}.get(verdict, f"v-{verdict.value}")


def _tip(cell: Cell, expected: Cell | None, status: CellStatus) -> str:
    return "; ".join(
        part
        for part in (
            MEANINGS[cell.verdict],
            cell.reason,
            f"expected {expected.verdict.value}" if status != CellStatus.PLAIN and expected else "",
            f"{cell.tries} tries" if cell.tries > 1 else "",
        )
        if part
    )


def _matrix_table(
    matrix: Matrix, rows: list[str], columns: list[str], *, against: Matrix | None, caption: str
) -> ET.Element:
    head = h("tr", None, h("th", {"scope": "col"}, "from \\ to"))
    for column in columns:
        add(head, h("th", {"scope": "col", "data-column": column}, h("span", None, *breakable(column, "/:"))))
    body = h("tbody")
    for row in rows:
        line = h("tr", None, h("th", {"scope": "row"}, row))
        for column in columns:
            cell = matrix.get(row, column)
            expected = against.get(row, column) if against is not None else None
            status = cell_status(cell, expected)
            attrs = {
                "class": f"{_verdict_class(cell.verdict)} s-{status.value}",
                "data-row": row,
                "data-column": column,
                "data-verdict": cell.verdict.value,
                "data-status": status.value,
                "title": _tip(cell, expected, status),
            }
            add(line, h("td", attrs, *_cell_content(cell, expected)))
        add(body, line)
    return h(
        "figure",
        {"class": "matrix"},
        h("figcaption", None, caption),
        h("table", None, h("thead", None, head), body),
    )


def _when(moment: datetime) -> ET.Element:
    utc = moment.astimezone(timezone.utc)
    return h("time", {"datetime": utc.isoformat()}, utc.strftime("%Y-%m-%d %H:%M:%S UTC"))


def stage_heading(result: ProbeResult) -> str:
    if result.stage_title:
        return result.stage_title
    return f"Stage {result.stage}" if result.stage is not None else "Probe result"


def _anchor(result: ProbeResult, index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (result.stage or "result").lower()).strip("-") or "result"
    return f"s{index}-{slug}"


def _status_badge(result: ProbeResult) -> ET.Element:
    comparison = result.comparison
    if comparison is None:
        return h("span", {"class": "result none"}, "NO EXPECTATION")
    if comparison.ok:
        return h("span", {"class": "result pass"}, "PASS")
    return h("span", {"class": "result fail"}, "FAIL")


def _legend(ident: str) -> ET.Element:
    legend = h("ul", {"class": "legend", "id": f"{ident}-legend"})
    for kind in FlowKind:
        line: Attrs = {
            "x1": "2",
            "y1": "6",
            "x2": "44",
            "y2": "6",
            "stroke": ARROW_COLOURS[kind],
            "stroke-width": ARROW_WIDTHS[kind],
            "stroke-dasharray": ARROW_DASHES[kind] or None,
        }
        sample = h("svg", {"width": "46", "height": "12", "aria-hidden": "true"}, h("line", line))
        add(legend, h("li", None, sample, FLOW_WORDS[kind]))
    return add(legend, h("li", None, "flows denied as expected are not drawn"))


def _problems(result: ProbeResult) -> list[ET.Element]:
    comparison = result.comparison
    if comparison is None:
        return []
    out = []
    if comparison.mismatched:
        out.append(h("h3", None, "Cells that disagree with the expectation"))
        for diff in comparison.mismatched:
            tries = f" after {diff.observed.tries} tries" if diff.observed.tries > 1 else ""
            verdicts = f"expected {diff.expected.verdict.value}, observed {diff.observed.verdict.value}"
            lines: list[list[Content]] = [
                [h("strong", None, f"✗ {diff.row} → {diff.column}"), f": {verdicts}{tries}"]
            ]
            if diff.observed.reason:
                lines.append([f"seen: {diff.observed.reason}"])
            if diff.expected.reason:
                lines.append([f"expected because: {diff.expected.reason}"])
            if diff.observed.command:
                lines.append(["reproduce: ", h("code", None, f"$ {diff.observed.command}")])
            paragraph = h("p", {"class": "problem mismatch"})
            for number, parts in enumerate(lines):
                add(paragraph, h("br") if number else None, *parts)
            out.append(paragraph)
    if comparison.unjudged:
        out.append(h("h3", None, "Cells without a verdict (not counted)"))
        items = h("ul")
        for diff in comparison.unjudged:
            reason = diff.observed.reason or "no reason recorded"
            seen = diff.observed.verdict
            text = (
                f"{seen.value} {diff.row} → {diff.column} ({MEANINGS[seen]}, "
                f"expected {diff.expected.verdict.value}): {reason}"
            )
            add(items, h("li", {"class": "problem unjudged"}, text))
        out.append(items)
    return out


def denial_reason(expected: Cell, observed: Cell) -> tuple[str, str]:
    """Why a flow is denied, and where that came from: the expectation's reason (the evaluator's),
    else what the probe saw, else none."""
    if expected.reason:
        return expected.reason, "expected"
    if observed.reason:
        return observed.reason, "observed"
    return "—", "none"


def _denied(result: ProbeResult, rows: list[str], columns: list[str]) -> list[ET.Element]:
    entries = []
    for row in rows:
        for column in columns:
            seen = result.observed.get(row, column)
            wanted = result.expected.get(row, column) if result.expected else Cell(Verdict.NOT_JUDGED)
            if seen.verdict not in DENIED and wanted.verdict not in DENIED:
                continue
            why, source = denial_reason(wanted, seen)
            entries.append(
                h(
                    "tr",
                    {"data-row": row, "data-column": column},
                    h("td", None, f"{row} → {column}"),
                    h("td", None, wanted.verdict.value),
                    h("td", None, seen.verdict.value),
                    h("td", {"class": f"why from-{source}", "data-from": source}, why),
                    h("td", {"class": "tier"}, wanted.tier or "—"),
                    h("td", None, seen.reason),
                )
            )
    if not entries:
        return [h("h3", None, "Denied flows"), h("p", {"class": "note"}, "No flow is denied at this stage.")]
    head = h(
        "tr",
        None,
        *(
            h("th", {"scope": "col"}, name)
            for name in ("flow", "expected", "observed", "why", "decided in tier", "what the probe saw")
        ),
    )
    return [
        h("h3", None, "Why each denied flow is denied"),
        h(
            "p",
            {"class": "note"},
            "The reason, and the policy tier that decided where tiers are evaluated (Calico's and "
            "ClusterNetworkPolicy's), are the policy evaluator's when it computed the expectation; otherwise "
            "the reason is what the probe saw. Hand-written stage tables give verdicts only (",
            h("code", None, "netpol-lab explain"),
            " gives the reason for one flow).",
        ),
        h("table", {"class": "explain"}, h("thead", None, head), h("tbody", None, *entries)),
    ]


def _cells_note(deny_action: str) -> str:
    """How to read a cell, with what REFUSED means under the deny action that was in force."""
    cells = (
        "Cells read OBSERVED; ✗ OBSERVED≠EXPECTED marks a mismatch, OBSERVED (EXPECTED) a cell without "
        "a verdict, ×N the number of tries. "
    )
    if deny_action == "Reject":  # Felix answers a denied packet with a reset or ICMP unreachable
        return cells + (
            "Denied packets were rejected (Felix's deny action Reject): a refused connection to a port "
            "that answers reads DENY, one to a port where nothing listens inconclusive."
        )
    return cells + "Denied packets were dropped: REFUSED means the packet got through and nothing listened."


def render_stage(result: ProbeResult, index: int) -> ET.Element:
    """One ``<section>``: heading, when and where, matrices, drawing, problems, denied flows."""
    ident = _anchor(result, index)
    expected = result.expected
    rows, columns = aligned(result.observed, expected)
    summary = summary_line(result.comparison) if result.comparison else "no expectation to compare with"
    matrices = h("div", {"class": "matrices"})
    if expected is not None:
        add(matrices, _matrix_table(expected, rows, columns, against=None, caption="Expected"))
    add(matrices, _matrix_table(result.observed, rows, columns, against=expected, caption="Observed"))
    plan = layout(result)
    drawn = [h("li", {"class": f"flow-{a.flow.kind.value}"}, a.flow.words) for a in plan.arrows]
    return h(
        "section",
        {"class": "stage", "id": ident, "data-stage": result.stage or "", "aria-labelledby": f"{ident}-h"},
        h("h2", {"id": f"{ident}-h"}, stage_heading(result)),
        h(
            "p",
            {"class": "meta"},
            "Probed ",
            _when(result.probed_at),
            " against context ",
            h("code", None, result.context or "unknown"),
            "; denied packets: ",
            h("code", {"class": "deny-action"}, result.deny_action),
            ".",
        ),
        h("p", {"class": "summary"}, _status_badge(result), summary),
        matrices,
        h("p", {"class": "note"}, _cells_note(result.deny_action)),
        h(
            "figure",
            {"class": "drawing-wrap"},
            h("figcaption", None, "Namespaces, pods and flows"),
            render_svg(result, ident, plan),
            _legend(ident),
            h(
                "ul",
                {"class": "flows", "aria-label": "flows drawn"},
                *(drawn or [h("li", None, "no flow is allowed")]),
            ),
        ),
        *_problems(result),
        *_denied(result, rows, columns),
    )


def page_head(title: str, style: str | None = None) -> ET.Element:
    """Every page's head: UTF-8, the viewport, a policy that fetches nothing, the inlined stylesheet
    (the report's own unless ``style`` is given)."""
    return h(
        "head",
        None,
        h("meta", {"charset": "utf-8"}),
        h("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        h("meta", {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}),
        h("title", None, title),
        h("style", None, stylesheet() if style is None else style),
    )


def render_html(
    results: Sequence[ProbeResult], *, generated_at: datetime, title: str = "NetworkPolicy lab report"
) -> str:
    """The whole page: an overview of every result, then one section per result."""
    overview = h("tbody")
    for index, result in enumerate(results):
        summary = summary_line(result.comparison) if result.comparison else "no expectation"
        add(
            overview,
            h(
                "tr",
                None,
                h(
                    "th",
                    {"scope": "row"},
                    h("a", {"href": f"#{_anchor(result, index)}"}, stage_heading(result)),
                ),
                h("td", None, _when(result.probed_at)),
                h("td", None, h("code", None, result.context or "unknown")),
                h("td", None, _status_badge(result)),
                h("td", None, summary),
            ),
        )
    columns = ("stage", "probed", "context", "result", "cells")
    head = page_head(title)
    main = h(
        "main",
        None,
        h(
            "header",
            None,
            h("h1", None, title),
            h(
                "p",
                {"class": "meta"},
                "Written ",
                _when(generated_at),
                f" from {len(results)} saved probe result(s). "
                "Every flow was tried with a real connection from inside the pods.",
            ),
        ),
        h(
            "table",
            {"class": "overview"},
            h("thead", None, h("tr", None, *(h("th", {"scope": "col"}, c) for c in columns))),
            overview,
        ),
        *(render_stage(result, index) for index, result in enumerate(results)),
    )
    return serialize(h("html", {"lang": "en"}, head, h("body", None, main)))


def write_html(path: Path, results: Sequence[ProbeResult], *, generated_at: datetime | None = None) -> None:
    """Write the report to ``path`` (its folder is created if needed)."""
    page = render_html(results, generated_at=generated_at or datetime.now(timezone.utc))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")


def render_check_page(
    title: str,
    summary: str,
    matrices: Sequence[tuple[str, Matrix, Matrix, Sequence[str]]],
    refused: Sequence[str],
    *,
    passed: bool,
    generated_at: datetime,
) -> str:
    """A page for one exercise check (``netpol-lab check --html``): the summary, then each matrix
    (caption, what was seen, what it is judged against, the lines about its wrong cells) in the
    report's style, every wrong cell marked and titled with why."""
    badge = h("span", {"class": f"result {'pass' if passed else 'fail'}"}, "PASS" if passed else "FAIL")
    meta = h("p", {"class": "meta"}, badge, " ", summary, ". Written ", _when(generated_at), ".")
    body: list[Content] = [h("header", None, h("h1", None, title), meta)]
    if refused:
        body.append(h("ul", {"class": "problems"}, *(h("li", None, line) for line in refused)))
    for caption, observed, expected, lines in matrices:
        rows, columns = aligned(observed, expected)
        section = h("section", {"class": "stage"}, h("h2", None, caption))
        add(section, _matrix_table(observed, rows, columns, against=expected, caption=caption))
        if lines:
            add(section, h("pre", {"class": "why"}, "\n".join(lines)))
        body.append(section)
    head = page_head(title)
    return serialize(h("html", {"lang": "en"}, head, h("body", None, h("main", None, *body))))
