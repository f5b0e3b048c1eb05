"""A self-contained HTML report of saved probe results: one section per stage.

Each section shows when and where the probes ran, the expected and observed matrices side
by side, an inline SVG drawing of the namespaces, pods (with their node) and the flows, the
wrong cells with the command that reproduces them, and why each denied flow is denied.
The page fetches nothing (no external CSS, scripts or fonts), so it opens offline, and every
cell and arrow says its meaning in words as well as in colour.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from lab import scenario
from lab.matrix import (
    MEANINGS,
    MISMATCH_MARK,
    Cell,
    CellStatus,
    Matrix,
    Verdict,
    aligned,
    cell_status,
    union_order,
)
from lab.report.table import cell_label, summary_line
from lab.result import ProbeResult

# -- flows to draw -------------------------------------------------------------------------

ALLOWED = (Verdict.ALLOW, Verdict.REFUSED)  # REFUSED: the packet got through the policy
DENIED = (Verdict.DENY, Verdict.DNS_FAIL)
EXTERNAL_LABELS = {
    scenario.DNS_COLUMN: ("DNS", "cluster name lookup"),
    scenario.OUTSIDE_COLUMN: ("outside", "a public address"),
    scenario.METADATA_COLUMN: ("metadata", scenario.METADATA_TARGET),
}


class FlowKind(str, enum.Enum):
    """How a drawn flow stands; flows denied as expected are not drawn."""

    ALLOWED = "allowed"  # observed allowed (and expected so, or nothing expected)
    UNEXPECTED = "unexpected"  # observed allowed, expected denied
    MISSING = "missing"  # observed denied, expected allowed
    UNKNOWN = "unknown"  # expected allowed, no verdict observed


FLOW_WORDS = {
    FlowKind.ALLOWED: "allowed",
    FlowKind.UNEXPECTED: "allowed but expected denied",
    FlowKind.MISSING: "denied but expected allowed",
    FlowKind.UNKNOWN: "expected allowed, no verdict",
}
_PRECEDENCE = [FlowKind.UNEXPECTED, FlowKind.MISSING, FlowKind.ALLOWED, FlowKind.UNKNOWN]


@dataclass
class Flow:
    """One arrow: all the matrix columns from one pod to one destination in the same state."""

    source: str
    target: str  # a pod name, or dns / outside / metadata
    kind: FlowKind
    columns: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Short port label: ``80``, ``80 + svc`` (pod IP and Service name), ``svc 80``."""
        if self.target in EXTERNAL_LABELS:
            return ""
        direct = sorted({c.split(":", 1)[-1] for c in self.columns if not c.startswith("svc/")})
        service = sorted({c.split(":", 1)[-1] for c in self.columns if c.startswith("svc/")})
        if direct and service:
            return ", ".join(direct) + " + svc"
        return ", ".join(direct) if direct else "svc " + ", ".join(service)

    @property
    def words(self) -> str:
        via = f" ({', '.join(self.columns)})"
        return f"{self.source} → {self.target}{via}: {FLOW_WORDS[self.kind]}"


def column_target(column: str) -> str:
    """The drawing node a matrix column points at: a pod name or an external target."""
    if column in EXTERNAL_LABELS:
        return column
    return column.removeprefix("svc/").split(":", 1)[0]


def _flow_kind(observed: Cell, expected: Cell | None) -> FlowKind | None:
    wanted = expected.verdict if expected is not None else Verdict.NOT_JUDGED
    if observed.verdict in ALLOWED:
        return FlowKind.UNEXPECTED if wanted in DENIED else FlowKind.ALLOWED
    if observed.verdict in DENIED:
        return FlowKind.MISSING if wanted == Verdict.ALLOW else None
    if wanted == Verdict.ALLOW and observed.verdict in (Verdict.INCONCLUSIVE, Verdict.CHECK_FAILED):
        return FlowKind.UNKNOWN
    return None


def flows(result: ProbeResult) -> list[Flow]:
    """The arrows of the drawing: allowed flows, and flows where observation and expectation differ."""
    expected = result.expected
    rows, columns = aligned(result.observed, expected)
    found: dict[tuple[str, str, FlowKind], Flow] = {}
    for row in rows:
        for column in columns:
            target = column_target(column)
            if target == row:
                continue
            kind = _flow_kind(
                result.observed.get(row, column), expected.get(row, column) if expected else None
            )
            if kind is None:
                continue
            flow = found.setdefault((row, target, kind), Flow(row, target, kind))
            flow.columns.append(column)
    return sorted(found.values(), key=lambda f: (_PRECEDENCE.index(f.kind), f.source, f.target))


# -- the drawing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def contains(self, px: float, py: float, margin: float = 0.0) -> bool:
        return (
            self.x - margin <= px <= self.x + self.w + margin
            and self.y - margin <= py <= self.y + self.h + margin
        )

    def edge_towards(self, px: float, py: float, gap: float = 3.0) -> tuple[float, float]:
        """Where the ray from the centre towards (px, py) leaves the box (plus a small gap)."""
        dx, dy = px - self.cx, py - self.cy
        if dx == 0 and dy == 0:
            return self.cx, self.cy
        scale = min(
            (self.w / 2) / abs(dx) if dx else math.inf,
            (self.h / 2) / abs(dy) if dy else math.inf,
        )
        length = math.hypot(dx, dy)
        scale += gap / length
        return self.cx + dx * scale, self.cy + dy * scale


NS_W, NS_H, POD_W, POD_H = 220.0, 104.0, 190.0, 62.0
EXT_W, EXT_H = 190.0, 52.0
GAP_X, GAP_Y, MARGIN, GRID_COLUMNS = 170.0, 140.0, 24.0, 2


@dataclass
class Layout:
    namespaces: dict[str, Box]
    pods: dict[str, Box]
    pod_namespace: dict[str, str]
    externals: dict[str, Box]
    width: float
    height: float

    def box(self, node: str) -> Box:
        return self.pods.get(node) or self.externals[node]

    def obstacles(self, *ends: str) -> list[Box]:
        """Every box an arrow between ``ends`` must not cross."""
        skip = {self.pod_namespace.get(end) for end in ends}
        return [b for n, b in self.namespaces.items() if n not in skip] + [
            b for n, b in self.externals.items() if n not in ends
        ]


def _pods_and_targets(result: ProbeResult) -> tuple[list[str], list[str]]:
    matrices = [result.observed] + ([result.expected] if result.expected else [])
    rows: list[str] = []
    columns: list[str] = []
    for matrix in matrices:
        rows = union_order(rows, matrix.rows)
        columns = union_order(columns, matrix.columns)
    pods = union_order(rows, [column_target(c) for c in columns if c not in EXTERNAL_LABELS])
    externals = [c for c in EXTERNAL_LABELS if c in columns]
    return pods, externals


def _namespace_of(result: ProbeResult, pod: str) -> str:
    if pod in result.pods:
        return result.pods[pod].namespace
    workload = scenario.BY_NAME.get(pod)
    return workload.namespace if workload else pod


# The scenario's namespaces on the 2-column grid: the allowed path frontend -> backend -> database
# turns one corner, and the impostor sits under the frontend it imitates. Others fill free slots.
PREFERRED_SLOTS = {"frontend": 0, "backend": 1, "untrusted": 2, "database": 3}


def _slots(namespaces: list[str]) -> list[tuple[int, str]]:
    taken: dict[int, str] = {}
    for namespace in namespaces:
        slot = PREFERRED_SLOTS.get(namespace)
        if slot is not None and slot not in taken:
            taken[slot] = namespace
    free = (n for n in range(len(namespaces) + len(PREFERRED_SLOTS)) if n not in taken)
    for namespace in namespaces:
        if namespace not in taken.values():
            taken[next(free)] = namespace
    return sorted(taken.items())


def layout(result: ProbeResult) -> Layout:
    """Namespaces on a grid (their pods stacked inside), the external targets in a column to the right."""
    pods, externals = _pods_and_targets(result)
    members: dict[str, list[str]] = {}
    for pod in pods:
        members.setdefault(_namespace_of(result, pod), []).append(pod)
    placed = _slots(list(members))
    row_heights: dict[int, float] = {}
    for slot, namespace in placed:
        height = NS_H + (len(members[namespace]) - 1) * (POD_H + 12)
        row_heights[slot // GRID_COLUMNS] = max(row_heights.get(slot // GRID_COLUMNS, 0.0), height)
    namespaces: dict[str, Box] = {}
    pod_boxes: dict[str, Box] = {}
    pod_namespace: dict[str, str] = {}
    for slot, namespace in placed:
        col, grid_row = slot % GRID_COLUMNS, slot // GRID_COLUMNS
        y = MARGIN + sum(h + GAP_Y for r, h in row_heights.items() if r < grid_row)
        height = NS_H + (len(members[namespace]) - 1) * (POD_H + 12)
        box = Box(MARGIN + col * (NS_W + GAP_X), y, NS_W, height)
        namespaces[namespace] = box
        for number, pod in enumerate(members[namespace]):
            pod_boxes[pod] = Box(box.x + (NS_W - POD_W) / 2, box.y + 30 + number * (POD_H + 12), POD_W, POD_H)
            pod_namespace[pod] = namespace
    columns_used = min(GRID_COLUMNS, max((slot for slot, _ in placed), default=0) + 1)
    pods_bottom = max((b.y + b.h for b in namespaces.values()), default=MARGIN + EXT_H)
    ext_x = MARGIN + columns_used * (NS_W + GAP_X)
    ext_boxes: dict[str, Box] = {}
    if externals:
        area = max(pods_bottom - MARGIN, len(externals) * (EXT_H + 20))
        step = area / len(externals)
        for number, name in enumerate(externals):
            ext_boxes[name] = Box(ext_x, MARGIN + step * number + (step - EXT_H) / 2, EXT_W, EXT_H)
    width = ext_x + (EXT_W if externals else -GAP_X) + MARGIN
    bottom = max([b.y + b.h for b in [*namespaces.values(), *ext_boxes.values()]], default=0.0)
    return Layout(namespaces, pod_boxes, pod_namespace, ext_boxes, width, bottom + MARGIN)


@dataclass(frozen=True)
class Curve:
    start: tuple[float, float]
    control: tuple[float, float]
    end: tuple[float, float]

    def at(self, t: float) -> tuple[float, float]:
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
        return (
            a * self.start[0] + b * self.control[0] + c * self.end[0],
            a * self.start[1] + b * self.control[1] + c * self.end[1],
        )


_BENDS = (0.06, 0.0, -0.06, 0.14, -0.14, 0.22, -0.22, 0.3, -0.3, 0.4, -0.4, 0.55, -0.55, 0.75, -0.75)


def route(source: Box, target: Box, obstacles: Sequence[Box], used: set[float]) -> tuple[Curve, float]:
    """A curve from ``source`` to ``target`` that avoids ``obstacles`` and the bends in ``used``.

    The bend is the control point's offset to the left of the direction of travel, as a share of
    the distance, so the two directions of one pair bend apart. When every bend crosses a box,
    the one crossing least is taken.
    """
    (sx, sy), (tx, ty) = (source.cx, source.cy), (target.cx, target.cy)
    distance = math.hypot(tx - sx, ty - sy) or 1.0
    nx, ny = -(ty - sy) / distance, (tx - sx) / distance  # left-hand normal
    best: tuple[int, Curve, float] | None = None
    for bend in _BENDS:
        if bend in used:
            continue
        mx, my = (sx + tx) / 2 + nx * bend * distance, (sy + ty) / 2 + ny * bend * distance
        curve = Curve(source.edge_towards(mx, my), (mx, my), target.edge_towards(mx, my))
        samples = [curve.at(i / 40) for i in range(1, 40)]
        hits = sum(1 for px, py in samples if any(box.contains(px, py, 8) for box in obstacles))
        if hits == 0:
            return curve, bend
        if best is None or hits < best[0]:
            best = (hits, curve, bend)
    assert best is not None, "more arrows between two boxes than bends to draw them"
    return best[1], best[2]


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


def route_flows(plan: Layout, drawn: Sequence[Flow]) -> list[tuple[Flow, Curve, float]]:
    """Each flow with its arrow and bend; arrows between the same two boxes bend different ways."""
    used: dict[frozenset[str], set[float]] = {}
    routed = []
    for flow in drawn:
        taken = used.setdefault(frozenset((flow.source, flow.target)), set())
        forward = flow.source < flow.target  # bends are stored from the smaller name's point of view
        curve, bend = route(
            plan.box(flow.source),
            plan.box(flow.target),
            plan.obstacles(flow.source, flow.target),
            {b if forward else -b for b in taken},
        )
        taken.add(bend if forward else -bend)
        routed.append((flow, curve, bend))
    return routed


def _label_spot(
    curve: Curve, bend: float, text: str, placed: list[Box], away: float = 11.0
) -> tuple[float, float]:
    """A point beside the curve, on the outside of its bend, where the label overlaps no earlier one."""
    dx, dy = curve.end[0] - curve.start[0], curve.end[1] - curve.start[1]
    length = math.hypot(dx, dy) or 1.0
    side = 1.0 if bend >= 0 else -1.0
    width = 7.0 * len(text) + 8  # about 7 px per character at the label's 12 px bold
    spots = []
    for t in (0.5, 0.36, 0.64, 0.25, 0.75):
        x, y = curve.at(t)
        x, y = x - dy / length * away * side, y + dx / length * away * side
        box = Box(x - width / 2, y - 9, width, 16)
        spots.append((x, y, box))
        if not any(_overlap(box, other) for other in placed):
            placed.append(box)
            return x, y
    x, y, box = spots[0]
    placed.append(box)
    return x, y


def _overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _f(value: float) -> str:
    return f"{value:.1f}"


def render_svg(result: ProbeResult, ident: str) -> str:
    """The drawing of one probe result: namespaces, pods, external targets and the flows."""
    plan = layout(result)
    drawn = flows(result)
    parts = [
        f'<title id="{ident}-t">Namespaces, pods and flows</title>',
        f'<desc id="{ident}-d">{escape("; ".join(f.words for f in drawn) or "no flow is allowed")}</desc>',
        "<defs>",
    ]
    for kind, colour in ARROW_COLOURS.items():
        parts.append(
            f'<marker id="{ident}-head-{kind.value}" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    parts.append("</defs>")
    for namespace, box in plan.namespaces.items():
        parts.append(
            f'<g class="namespace" data-namespace="{escape(namespace)}">'
            f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.w)}" height="{_f(box.h)}" rx="12" '
            'fill="#f3f6fa" stroke="#8a9bb0" stroke-width="1.5"/>'
            f'<text x="{_f(box.x + 12)}" y="{_f(box.y + 20)}" class="ns-label">'
            f"namespace {escape(namespace)}</text>"
            "</g>"
        )
    for pod, box in plan.pods.items():
        info = result.pods.get(pod)
        details = [f"node {info.node}" if info and info.node else "node unknown"]
        if info and info.ip:
            details.append(info.ip)
        lines = "".join(
            f'<text x="{_f(box.cx)}" y="{_f(box.y + 42 + 15 * n)}" class="pod-detail">{escape(text)}</text>'
            for n, text in enumerate(details)
        )
        parts.append(
            f'<g class="pod" data-pod="{escape(pod)}" data-node="{escape(info.node if info else "")}">'
            f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.w)}" height="{_f(box.h)}" rx="8" '
            'fill="#ffffff" stroke="#33475b" stroke-width="1.5"/>'
            f'<text x="{_f(box.cx)}" y="{_f(box.y + 22)}" class="pod-name">pod {escape(pod)}</text>'
            f"{lines}</g>"
        )
    for name, box in plan.externals.items():
        title, detail = EXTERNAL_LABELS[name]
        parts.append(
            f'<g class="external" data-target="{escape(name)}">'
            f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.w)}" height="{_f(box.h)}" rx="26" '
            'fill="#fffdf5" stroke="#a08a4a" stroke-width="1.5" stroke-dasharray="5 3"/>'
            f'<text x="{_f(box.cx)}" y="{_f(box.y + 22)}" class="pod-name">{escape(title)}</text>'
            f'<text x="{_f(box.cx)}" y="{_f(box.y + 39)}" class="pod-detail">{escape(detail)}</text></g>'
        )
    labels = []
    placed: list[Box] = []
    right, bottom = plan.width, plan.height  # grown to hold arrows that bend around the boxes
    for flow, curve, bend in route_flows(plan, drawn):
        for x, y in (curve.at(i / 20) for i in range(21)):
            right, bottom = max(right, x + MARGIN), max(bottom, y + MARGIN)
        colour, dash = ARROW_COLOURS[flow.kind], ARROW_DASHES[flow.kind]
        path = (
            f"M{_f(curve.start[0])},{_f(curve.start[1])} Q{_f(curve.control[0])},{_f(curve.control[1])} "
            f"{_f(curve.end[0])},{_f(curve.end[1])}"
        )
        parts.append(
            f'<g class="flow {flow.kind.value}" data-from="{escape(flow.source)}" '
            f'data-to="{escape(flow.target)}" data-kind="{flow.kind.value}">'
            f"<title>{escape(flow.words)}</title>"
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{ARROW_WIDTHS[flow.kind]}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f' marker-end="url(#{ident}-head-{flow.kind.value})"/></g>'
        )
        text = flow.label if flow.kind == FlowKind.ALLOWED else f"{flow.label} {_SHORT[flow.kind]}".strip()
        if text:
            x, y = _label_spot(curve, bend, text, placed)
            labels.append(
                f'<text x="{_f(x)}" y="{_f(y + 4)}" class="flow-label" fill="{colour}">{escape(text)}</text>'
            )
    parts.extend(labels)  # labels last, so no arrow is drawn over them
    head = (
        f'<svg class="drawing" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(right)} {_f(bottom)}" '
        f'width="{_f(right)}" role="img" aria-labelledby="{ident}-t {ident}-d">'
    )
    return "\n".join([head, *parts, "</svg>"])


_SHORT = {FlowKind.UNEXPECTED: "✗ should be denied", FlowKind.MISSING: "✗ denied", FlowKind.UNKNOWN: "?"}

# -- the page --------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6876; --line: #d5dce4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #fbfcfd; }
main { max-width: 1640px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.35rem; margin: 0 0 6px; }
h3 { font-size: 1.05rem; margin: 22px 0 8px; }
.meta, .note { color: var(--muted); margin: 2px 0 10px; }
code { font: 0.9em ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #eef2f6;
  padding: 1px 4px; border-radius: 4px; overflow-wrap: anywhere; }
section.stage { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 20px 22px;
  margin: 22px 0; }
.result { display: inline-block; font-weight: 700; padding: 2px 10px; border-radius: 999px;
  margin-right: 8px; }
.result.pass { background: #dcf2e3; color: #0f5b29; }
.result.fail { background: #fbe0de; color: #8c1d18; }
.result.none { background: #eceff3; color: #3d4753; }
.matrices { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
.matrices > figure { flex: 1 1 700px; max-width: max-content; overflow-x: auto; }
figure { margin: 0; }
figcaption { font-weight: 600; margin: 0 0 6px; }
table { border-collapse: collapse; font-size: 0.8rem; }
.matrix table { font-size: 0.74rem; }
th, td { border: 1px solid var(--line); padding: 3px 4px; text-align: center; }
.matrix thead th { font-size: 0.68rem; }
thead th { background: #f0f3f7; font-weight: 600; }
tbody th { text-align: left; background: #f7f9fb; }
td.v-ALLOW { background: #e3f4e8; color: #0f5b29; }
td.v-DENY { background: #fbe6e4; color: #8c1d18; }
td.v-REFUSED { background: #fdf1d8; color: #6d4a00; }
td.v-DNS-FAIL { background: #f1e6fa; color: #5b2a86; }
td.v-q { background: #f2f2ea; color: #5d5a36; }
td.v-ERROR { background: #f9d4d0; color: #7a0f0a; font-weight: 700; }
td.v-none { color: #9aa5b1; }
td.s-mismatch { outline: 3px solid #b3261e; outline-offset: -3px; font-weight: 700; }
.drawing-wrap { margin-top: 18px; overflow-x: auto; }
svg.drawing { max-width: 100%; height: auto; display: block; }
svg .ns-label { font: 600 13px system-ui, sans-serif; fill: #4a5a6c; }
svg .pod-name { font: 700 14px system-ui, sans-serif; fill: #1d2733; text-anchor: middle; }
svg .pod-detail { font: 12px ui-monospace, Menlo, Consolas, monospace; fill: #4a5a6c; text-anchor: middle; }
svg .flow-label { font: 700 12px system-ui, sans-serif; text-anchor: middle; paint-order: stroke;
  stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 20px; margin: 8px 0 0; padding: 0; list-style: none;
  color: var(--muted); font-size: 0.88rem; }
.legend svg { vertical-align: middle; margin-right: 6px; }
ul.flows { margin: 8px 0 0; padding-left: 20px; font-size: 0.9rem; }
table.explain td, table.explain th { white-space: normal; text-align: left; vertical-align: top; }
table.explain { width: 100%; }
.problem { margin: 6px 0; }
@media print { section.stage { break-inside: avoid-page; border: none; } body { background: #fff; } }
"""


def _cell_text(cell: Cell, expected: Cell | None) -> str:
    """The cell's words; the mismatch mark stays on the line of the verdict it marks."""
    text = escape(cell_label(cell, expected)).replace(f"{MISMATCH_MARK} ", f"{MISMATCH_MARK}&nbsp;")
    return text.replace("≠", "≠<wbr>")


def _breakable(name: str) -> str:
    """A column name that may wrap after ``/`` and ``:`` (keeps the two matrices side by side)."""
    return escape(name).replace("/", "/<wbr>").replace(":", ":<wbr>")


def _verdict_class(verdict: Verdict) -> str:
    return {Verdict.INCONCLUSIVE: "v-q", Verdict.NOT_JUDGED: "v-none"}.get(verdict, f"v-{verdict.value}")


def _matrix_table(
    matrix: Matrix, rows: list[str], columns: list[str], *, against: Matrix | None, caption: str
) -> str:
    head = "".join(f'<th scope="col">{_breakable(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            cell = matrix.get(row, column)
            expected = against.get(row, column) if against is not None else None
            status = cell_status(cell, expected)
            tip = "; ".join(
                part
                for part in (
                    MEANINGS[cell.verdict],
                    cell.reason,
                    f"expected {expected.verdict.value}" if status != CellStatus.PLAIN and expected else "",
                    f"{cell.tries} tries" if cell.tries > 1 else "",
                )
                if part
            )
            cells.append(
                f'<td class="{_verdict_class(cell.verdict)} s-{status.value}" data-row="{escape(row)}" '
                f'data-column="{escape(column)}" data-verdict="{escape(cell.verdict.value)}" '
                f'data-status="{status.value}" title="{escape(tip)}">'
                f"{_cell_text(cell, expected)}</td>"
            )
        body.append(f'<tr><th scope="row">{escape(row)}</th>{"".join(cells)}</tr>')
    return (
        f'<figure class="matrix"><figcaption>{escape(caption)}</figcaption>'
        f'<table><thead><tr><th scope="col">from \\ to</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></figure>"
    )


def _when(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return f'<time datetime="{escape(utc.isoformat())}">{utc.strftime("%Y-%m-%d %H:%M:%S UTC")}</time>'


def stage_heading(result: ProbeResult) -> str:
    if result.stage_title:
        return result.stage_title
    return f"Stage {result.stage}" if result.stage is not None else "Probe result"


def _anchor(result: ProbeResult, index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (result.stage or "result").lower()).strip("-") or "result"
    return f"s{index}-{slug}"


def _status_badge(result: ProbeResult) -> str:
    comparison = result.comparison
    if comparison is None:
        return '<span class="result none">NO EXPECTATION</span>'
    if comparison.ok:
        return '<span class="result pass">PASS</span>'
    return '<span class="result fail">FAIL</span>'


def _legend(ident: str) -> str:
    items = []
    for kind in FlowKind:
        dash = ARROW_DASHES[kind]
        items.append(
            f'<li><svg width="46" height="12" aria-hidden="true"><line x1="2" y1="6" x2="44" y2="6" '
            f'stroke="{ARROW_COLOURS[kind]}" stroke-width="{ARROW_WIDTHS[kind]}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f"/></svg>{escape(FLOW_WORDS[kind])}</li>"
        )
    items.append("<li>flows denied as expected are not drawn</li>")
    return f'<ul class="legend" id="{ident}-legend">{"".join(items)}</ul>'


def _problems(result: ProbeResult) -> str:
    comparison = result.comparison
    if comparison is None or (not comparison.mismatched and not comparison.unjudged):
        return ""
    out = []
    if comparison.mismatched:
        out.append("<h3>Cells that disagree with the expectation</h3>")
        for diff in comparison.mismatched:
            tries = f" after {diff.observed.tries} tries" if diff.observed.tries > 1 else ""
            lines = [
                f"<strong>✗ {escape(diff.row)} → {escape(diff.column)}</strong>: expected "
                f"{escape(diff.expected.verdict.value)}, observed "
                f"{escape(diff.observed.verdict.value)}{tries}"
            ]
            if diff.observed.reason:
                lines.append(f"seen: {escape(diff.observed.reason)}")
            if diff.expected.reason:
                lines.append(f"expected because: {escape(diff.expected.reason)}")
            if diff.observed.command:
                lines.append(f"reproduce: <code>$ {escape(diff.observed.command)}</code>")
            out.append(f'<p class="problem mismatch">{"<br>".join(lines)}</p>')
    if comparison.unjudged:
        out.append("<h3>Cells without a verdict (not counted)</h3><ul>")
        for diff in comparison.unjudged:
            reason = diff.observed.reason or "no reason recorded"
            out.append(
                f'<li class="problem unjudged">{escape(diff.observed.verdict.value)} {escape(diff.row)} → '
                f"{escape(diff.column)} ({escape(MEANINGS[diff.observed.verdict])}, expected "
                f"{escape(diff.expected.verdict.value)}): {escape(reason)}</li>"
            )
        out.append("</ul>")
    return "\n".join(out)


def _denied(result: ProbeResult, rows: list[str], columns: list[str]) -> str:
    entries = []
    for row in rows:
        for column in columns:
            seen = result.observed.get(row, column)
            wanted = result.expected.get(row, column) if result.expected else Cell(Verdict.NOT_JUDGED)
            if seen.verdict not in DENIED and wanted.verdict not in DENIED:
                continue
            why = wanted.reason or "—"
            entries.append(
                f'<tr data-row="{escape(row)}" data-column="{escape(column)}"><td>{escape(row)} → '
                f"{escape(column)}</td><td>{escape(wanted.verdict.value)}</td>"
                f"<td>{escape(seen.verdict.value)}</td><td>{escape(why)}</td>"
                f"<td>{escape(seen.reason or '')}</td></tr>"
            )
    if not entries:
        return "<h3>Denied flows</h3><p class='note'>No flow is denied at this stage.</p>"
    return (
        "<h3>Why each denied flow is denied</h3>"
        "<p class='note'>Reasons come from the policy evaluator when it computed the expectation; "
        "hand-written stage tables give verdicts only (<code>netpol-lab explain</code> gives the reason "
        "for one flow).</p>"
        '<table class="explain"><thead><tr><th scope="col">flow</th><th scope="col">expected</th>'
        '<th scope="col">observed</th><th scope="col">why</th><th scope="col">what the probe saw</th>'
        f"</tr></thead><tbody>{''.join(entries)}</tbody></table>"
    )


def render_stage(result: ProbeResult, index: int) -> str:
    """One ``<section>``: heading, when and where, matrices, drawing, problems, denied flows."""
    ident = _anchor(result, index)
    expected = result.expected
    rows, columns = aligned(result.observed, expected)
    summary = summary_line(result.comparison) if result.comparison else "no expectation to compare with"
    matrices = []
    if expected is not None:
        matrices.append(_matrix_table(expected, rows, columns, against=None, caption="Expected"))
    matrices.append(_matrix_table(result.observed, rows, columns, against=expected, caption="Observed"))
    drawn = flows(result)
    flow_items = "".join(f'<li class="flow-{f.kind.value}">{escape(f.words)}</li>' for f in drawn)
    return f"""
<section class="stage" id="{ident}" data-stage="{escape(result.stage or "")}" aria-labelledby="{ident}-h">
<h2 id="{ident}-h">{escape(stage_heading(result))}</h2>
<p class="meta">Probed {_when(result.probed_at)} against context
<code>{escape(result.context or "unknown")}</code>.</p>
<p class="summary">{_status_badge(result)}{escape(summary)}</p>
<div class="matrices">{"".join(matrices)}</div>
<p class="note">Cells read OBSERVED; ✗ OBSERVED≠EXPECTED marks a mismatch, OBSERVED (EXPECTED) a cell
without a verdict, ×N the number of tries. REFUSED means the packet got through and nothing listened.</p>
<figure class="drawing-wrap"><figcaption>Namespaces, pods and flows</figcaption>
{render_svg(result, ident)}
{_legend(ident)}
<ul class="flows" aria-label="flows drawn">{flow_items or "<li>no flow is allowed</li>"}</ul>
</figure>
{_problems(result)}
{_denied(result, rows, columns)}
</section>"""


def render_html(
    results: Sequence[ProbeResult], *, generated_at: datetime, title: str = "NetworkPolicy lab report"
) -> str:
    """The whole page: an overview of every result, then one section per result."""
    overview = "".join(
        f'<tr><th scope="row"><a href="#{_anchor(r, i)}">{escape(stage_heading(r))}</a></th>'
        f"<td>{_when(r.probed_at)}</td><td><code>{escape(r.context or 'unknown')}</code></td>"
        f"<td>{_status_badge(r)}</td>"
        f"<td>{escape(summary_line(r.comparison) if r.comparison else 'no expectation')}</td></tr>"
        for i, r in enumerate(results)
    )
    stages = "".join(render_stage(r, i) for i, r in enumerate(results))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>{escape(title)}</h1>
<p class="meta">Written {_when(generated_at)} from {len(results)} saved probe result(s).
Every flow was tried with a real connection from inside the pods.</p>
</header>
<table class="overview">
<thead><tr><th scope="col">stage</th><th scope="col">probed</th><th scope="col">context</th>
<th scope="col">result</th><th scope="col">cells</th></tr></thead>
<tbody>{overview}</tbody>
</table>
{stages}
</main>
</body>
</html>
"""


def write_html(path: Path, results: Sequence[ProbeResult], *, generated_at: datetime | None = None) -> None:
    """Write the report to ``path`` (its folder is created if needed)."""
    page = render_html(results, generated_at=generated_at or datetime.now(timezone.utc))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
