"""The drawing of one probe result as plain data: which flows to draw, where every box and label goes,
and the route of every arrow. No markup here: ``lab.report.html`` turns the numbers into SVG.

Namespaces sit on a two-column grid with their pods stacked inside, the external targets in a
column to the right. Every label has a box (its text's extent, estimated generously), and the
arrows are routed orthogonally on a fine grid around every box and label they do not join, so no
arrow crosses a pod name, a namespace name or a target label; arrows keep apart from each other
where there is room, and each port label goes beside its own arrow where no arrow passes.
Coordinates are SVG user units (pixels at full size).
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lab import scenario
from lab.matrix import Cell, Verdict, aligned, union_order
from lab.result import ProbeResult

Point = tuple[float, float]

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
SHORT_WORDS = {FlowKind.UNEXPECTED: "✗ should be denied", FlowKind.MISSING: "✗ denied", FlowKind.UNKNOWN: "?"}
_PRECEDENCE = [FlowKind.UNEXPECTED, FlowKind.MISSING, FlowKind.ALLOWED, FlowKind.UNKNOWN]


@dataclass
class Flow:
    """One arrow: all the matrix columns from one pod to one destination in the same state."""

    source: str
    target: str  # a pod name, or dns / outside / metadata
    kind: FlowKind
    columns: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)  # the policy tiers that decided its cells (evaluator's)

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
    def label_text(self) -> str:
        """The words beside the arrow: the port label, and for a wrong flow what is wrong."""
        if self.kind == FlowKind.ALLOWED:
            return self.label
        return f"{self.label} {SHORT_WORDS[self.kind]}".strip()

    @property
    def words(self) -> str:
        via = f" ({', '.join(self.columns)})"
        decided = f", decided in tier {' and '.join(self.tiers)}" if self.tiers else ""
        return f"{self.source} → {self.target}{via}: {FLOW_WORDS[self.kind]}{decided}"


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
            # the tier the evaluator says decided, on arrows where the probe agreed with it
            tier = expected.get(row, column).tier if expected and kind == FlowKind.ALLOWED else ""
            for name in tier.split(" + ") if tier else ():
                if name not in flow.tiers:
                    flow.tiers.append(name)
    return sorted(found.values(), key=lambda f: (_PRECEDENCE.index(f.kind), f.source, f.target))


# -- geometry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def contains(self, px: float, py: float, margin: float = 0.0) -> bool:
        return self.x - margin <= px <= self.right + margin and self.y - margin <= py <= self.bottom + margin

    def inflate(self, margin: float) -> Box:
        return Box(self.x - margin, self.y - margin, self.w + 2 * margin, self.h + 2 * margin)

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom
        )

    def crossed_by(self, a: Point, b: Point) -> bool:
        """Whether the segment from ``a`` to ``b`` touches this box (Liang-Barsky clipping)."""
        t0, t1 = 0.0, 1.0
        dx, dy = b[0] - a[0], b[1] - a[1]
        for p, q in (
            (-dx, a[0] - self.x),
            (dx, self.right - a[0]),
            (-dy, a[1] - self.y),
            (dy, self.bottom - a[1]),
        ):
            if p == 0:
                if q < 0:
                    return False
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
        return True


# -- labels ----------------------------------------------------------------------------------


class Role(str, enum.Enum):
    """What a label names; html.py gives each role its CSS class (and report.css its font)."""

    NAMESPACE = "ns-label"  # 600 13px sans-serif
    NODE = "pod-name"  # 700 14px sans-serif: a pod or an external target
    DETAIL = "pod-detail"  # 12px monospace: node, IP, what a target is
    FLOW = "flow-label"  # 700 12px sans-serif: the ports beside an arrow


FONT_SIZES = {Role.NAMESPACE: 13.0, Role.NODE: 14.0, Role.DETAIL: 12.0, Role.FLOW: 12.0}
_NARROW = set("fijlrtI.,:;!|'()[]{}/- ")
_WIDE = set("mwMW@%")


def text_width(text: str, role: Role) -> float:
    """A generous estimate of the text's advance: wide sans-serif fonts (DejaVu Sans) fit inside it."""
    size = FONT_SIZES[role]
    if role == Role.DETAIL:
        return len(text) * 0.62 * size
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.44
        elif char in _WIDE:
            em += 1.06
        elif char.isupper() or char.isdigit() or char in "+=&#?":
            em += 0.86
        elif ord(char) > 0x7F:
            em += 1.0
        else:
            em += 0.68
    return em * size * 1.06  # bold (600 falls back to bold where no semi-bold face exists)


@dataclass(frozen=True)
class Label:
    """One line of text: ``x`` by ``anchor`` (start, middle or end), ``y`` the baseline."""

    text: str
    x: float
    y: float
    role: Role
    anchor: str = "middle"

    @property
    def box(self) -> Box:
        """The extent the text may take (ascent above the baseline, descent below)."""
        size = FONT_SIZES[self.role]
        width = text_width(self.text, self.role)
        left = {"start": self.x, "middle": self.x - width / 2, "end": self.x - width}[self.anchor]
        return Box(left, self.y - 1.0 * size, width, 1.3 * size)


# -- placing namespaces, pods and targets ---------------------------------------------------

POD_H, POD_PAD, POD_MIN_W = 62.0, 12.0, 190.0
EXT_H, EXT_MIN_W = 52.0, 190.0
NS_HEAD, NS_SIDE, NS_FOOT, POD_GAP = 34.0, 16.0, 14.0, 14.0
GAP_X, GAP_Y, MARGIN, GRID_COLUMNS = 170.0, 130.0, 32.0, 2


@dataclass(frozen=True)
class Node:
    """A pod or an external target: its box and the lines written inside it."""

    name: str
    box: Box
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class Namespace:
    name: str
    box: Box
    label: Label


@dataclass(frozen=True)
class Arrow:
    """One flow's route: corners from the source's edge to the target's edge, and its label."""

    flow: Flow
    points: tuple[Point, ...]
    label: Label | None = None

    def segments(self) -> list[tuple[Point, Point]]:
        return list(itertools.pairwise(self.points))

    def commands(self) -> list[tuple[str, tuple[Point, ...]]]:
        """The route as path commands: ``M``, then ``L`` to each corner, rounded by a ``Q`` curve."""
        out: list[tuple[str, tuple[Point, ...]]] = [("M", (self.points[0],))]
        for before, corner, after in zip(self.points, self.points[1:], self.points[2:], strict=False):
            inbound, outbound = math.dist(before, corner), math.dist(corner, after)
            r = min(RADIUS, inbound / 2, outbound / 2)
            enter = _towards(corner, before, r)
            leave = _towards(corner, after, r)
            out.append(("L", (enter,)))
            out.append(("Q", (corner, leave)))
        out.append(("L", (self.points[-1],)))
        return out

    def samples(self, step: float = 2.0) -> list[Point]:
        """Points every ``step`` along the drawn (rounded) path, both ends included."""
        found: list[Point] = []
        position = self.points[0]
        for command, args in self.commands()[1:]:
            if command == "L":
                (end,) = args
                count = max(1, math.ceil(math.dist(position, end) / step))
                found.extend(_lerp(position, end, i / count) for i in range(count))
            else:
                control, end = args
                for i in range(8):
                    t = i / 8
                    a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
                    found.append(
                        (
                            a * position[0] + b * control[0] + c * end[0],
                            a * position[1] + b * control[1] + c * end[1],
                        )
                    )
            position = end
        found.append(position)
        return found


def _lerp(a: Point, b: Point, t: float) -> Point:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t


def _towards(a: Point, b: Point, distance: float) -> Point:
    length = math.dist(a, b) or 1.0
    return _lerp(a, b, distance / length)


@dataclass
class Layout:
    namespaces: dict[str, Namespace]
    pods: dict[str, Node]
    pod_namespace: dict[str, str]
    externals: dict[str, Node]
    arrows: list[Arrow]
    width: float
    height: float

    def box(self, node: str) -> Box:
        return (self.pods.get(node) or self.externals[node]).box

    def labels(self) -> list[Label]:
        """Every label of the drawing: namespaces, pods, targets and arrows."""
        found = [n.label for n in self.namespaces.values()]
        for node in [*self.pods.values(), *self.externals.values()]:
            found.extend(node.labels)
        return found + [a.label for a in self.arrows if a.label is not None]

    def obstacles(self, *ends: str) -> list[Box]:
        """Every box an arrow between ``ends`` must keep out of: boxes it does not join and labels."""
        skip = {self.pod_namespace.get(end) for end in ends}
        boxes = [n.box for name, n in self.namespaces.items() if name not in skip]
        boxes += [n.box for name, n in {**self.pods, **self.externals}.items() if name not in ends]
        return boxes + [n.label.box for n in self.namespaces.values()]


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


def pod_lines(result: ProbeResult, pod: str) -> tuple[str, list[str]]:
    """What a pod's box says: its name, then the node it ran on and its IP."""
    info = result.pods.get(pod)
    details = [f"node {info.node}" if info and info.node else "node unknown"]
    if info and info.ip:
        details.append(info.ip)
    return f"pod {pod}", details


def _node_width(title: str, details: Sequence[str], minimum: float) -> float:
    widest = max([text_width(title, Role.NODE), *(text_width(d, Role.DETAIL) for d in details)])
    return max(minimum, widest + 2 * POD_PAD)


def _node(name: str, box: Box, title: str, details: Sequence[str]) -> Node:
    labels = [Label(title, box.cx, box.y + 22, Role.NODE)]
    labels += [Label(text, box.cx, box.y + 40 + 15 * n, Role.DETAIL) for n, text in enumerate(details)]
    return Node(name, box, tuple(labels))


def place(result: ProbeResult) -> Layout:
    """Namespaces on a grid (their pods stacked inside), the external targets in a column to the right."""
    pods, externals = _pods_and_targets(result)
    members: dict[str, list[str]] = {}
    for pod in pods:
        members.setdefault(_namespace_of(result, pod), []).append(pod)
    placed = _slots(list(members))
    lines = {pod: pod_lines(result, pod) for pod in pods}
    widths = {pod: _node_width(*lines[pod], POD_MIN_W) for pod in pods}
    ns_width = {
        ns: max(
            max(widths[p] for p in members[ns]) + 2 * NS_SIDE,
            text_width(f"namespace {ns}", Role.NAMESPACE) + 2 * NS_SIDE,
        )
        for ns in members
    }
    ns_height = {ns: NS_HEAD + len(members[ns]) * (POD_H + POD_GAP) - POD_GAP + NS_FOOT for ns in members}
    column_width: dict[int, float] = {}
    row_height: dict[int, float] = {}
    for slot, ns in placed:
        col, row = slot % GRID_COLUMNS, slot // GRID_COLUMNS
        column_width[col] = max(column_width.get(col, 0.0), ns_width[ns])
        row_height[row] = max(row_height.get(row, 0.0), ns_height[ns])
    namespaces: dict[str, Namespace] = {}
    pod_nodes: dict[str, Node] = {}
    pod_namespace: dict[str, str] = {}
    for slot, ns in placed:
        col, row = slot % GRID_COLUMNS, slot // GRID_COLUMNS
        x = MARGIN + sum(column_width[c] + GAP_X for c in column_width if c < col)
        y = MARGIN + sum(row_height[r] + GAP_Y for r in row_height if r < row)
        box = Box(x, y, column_width[col], ns_height[ns])
        namespaces[ns] = Namespace(ns, box, Label(f"namespace {ns}", x + 12, y + 21, Role.NAMESPACE, "start"))
        for number, pod in enumerate(members[ns]):
            pod_box = Box(
                box.cx - widths[pod] / 2, y + NS_HEAD + number * (POD_H + POD_GAP), widths[pod], POD_H
            )
            pod_nodes[pod] = _node(pod, pod_box, *lines[pod])
            pod_namespace[pod] = ns
    ext_x = MARGIN + sum(w + GAP_X for w in column_width.values())
    pods_bottom = max((n.box.bottom for n in namespaces.values()), default=MARGIN + EXT_H)
    ext_nodes: dict[str, Node] = {}
    if externals:
        ext_w = max(
            _node_width(EXTERNAL_LABELS[name][0], EXTERNAL_LABELS[name][1:], EXT_MIN_W) for name in externals
        )
        area = max(pods_bottom - MARGIN, len(externals) * (EXT_H + 40))
        step = area / len(externals)
        for number, name in enumerate(externals):
            box = Box(ext_x, MARGIN + step * number + (step - EXT_H) / 2, ext_w, EXT_H)
            title, detail = EXTERNAL_LABELS[name]
            ext_nodes[name] = _node(name, box, title, [detail])
    boxes = [n.box for n in namespaces.values()] + [n.box for n in ext_nodes.values()]
    width = max((b.right for b in boxes), default=0.0) + MARGIN
    height = max((b.bottom for b in boxes), default=0.0) + MARGIN
    return Layout(namespaces, pod_nodes, pod_namespace, ext_nodes, [], width, height)


# -- routing the arrows ----------------------------------------------------------------------

STEP = 8.0  # the routing grid
CLEAR = 6.0  # how far an arrow keeps from every box and label it does not join
STUB = 14.0  # the straight piece at each end (the arrowhead sits on it)
CORNER = 10.0  # no arrow leaves or enters a box this near its corners
RADIUS = 6.0  # corners are rounded by this much (within CLEAR: a rounded corner stays clear)
HEAD_GAP = 2.0  # between an arrowhead's tip and the box it points at
BEND, CROSS, NEAR, BORDER, OVERLAP = 24.0, 30.0, 4.0, 40.0, 4000.0  # route costs, in pixels of length
# The four directions, clockwise from east; (dx, dy) in grid steps.
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))

GridPoint = tuple[int, int]


@dataclass(frozen=True)
class Port:
    """Where an arrow meets a box: ``edge`` on the box, ``grid`` a step outside it."""

    node: str
    grid: GridPoint
    edge: Point
    direction: int  # index into DIRECTIONS, pointing out of the box
    offset: int  # the grid line along the side

    @property
    def key(self) -> tuple[str, int, int]:
        return self.node, self.direction, self.offset


class Router:
    """Routes arrows one after another on a grid; each route pays for bends, for crossing the arrows
    routed before it and (much more) for running along them, so parallel arrows keep a lane apart."""

    def __init__(self, plan: Layout) -> None:
        self.plan = plan
        self.columns = math.ceil(plan.width / STEP) + 4
        self.rows = math.ceil(plan.height / STEP) + 4
        labels = [n.label.box for n in plan.namespaces.values()]
        nodes = {**plan.pods, **plan.externals}
        self.fixed = self._cover(b.box for b in nodes.values()) | self._cover(labels)
        self.ns_cover = {name: self._cover([n.box]) for name, n in plan.namespaces.items()}
        self.borders: dict[GridPoint, set[int]] = {}  # points on a namespace's outline, by its direction
        for namespace in plan.namespaces.values():
            box = namespace.box
            for x in (box.x, box.right):
                self._mark(Box(x, box.y, 0, box.h).inflate(STEP / 2), 1)
            for y in (box.y, box.bottom):
                self._mark(Box(box.x, y, box.w, 0).inflate(STEP / 2), 0)
        self.used: dict[GridPoint, set[int]] = {}  # grid point -> orientations (0 across, 1 down)
        self.ports_used: set[tuple[str, int, int]] = set()  # (node, side, offset along the side)

    def _inside(self, point: GridPoint) -> bool:
        """Whether a grid point is on the drawing, a step in from its top and left edges."""
        return 1 <= point[0] < self.columns and 1 <= point[1] < self.rows

    def _cover(self, boxes: Iterable[Box]) -> set[GridPoint]:
        cover: set[GridPoint] = set()
        for box in boxes:
            grown = box.inflate(CLEAR)
            for i in range(math.ceil(grown.x / STEP), math.floor(grown.right / STEP) + 1):
                for j in range(math.ceil(grown.y / STEP), math.floor(grown.bottom / STEP) + 1):
                    cover.add((i, j))
        return cover

    def _mark(self, band: Box, orientation: int) -> None:
        for i in range(math.ceil(band.x / STEP), math.floor(band.right / STEP) + 1):
            for j in range(math.ceil(band.y / STEP), math.floor(band.bottom / STEP) + 1):
                self.borders.setdefault((i, j), set()).add(orientation)

    def blocked(self, source: str, target: str) -> set[GridPoint]:
        ends = {self.plan.pod_namespace.get(source), self.plan.pod_namespace.get(target)}
        blocked = set(self.fixed)
        for name, cover in self.ns_cover.items():
            if name not in ends:
                blocked |= cover
        return blocked

    def ports(self, node: str, blocked: set[GridPoint], *, target: bool) -> list[Port]:
        """The free places around a node's box where an arrow may attach."""
        box = self.plan.box(node)
        obstacles = [b.inflate(CLEAR - 1) for b in self.plan.obstacles(node)]
        gap = HEAD_GAP if target else 0.0
        found: list[Port] = []
        for side, (dx, dy) in enumerate(DIRECTIONS):
            if dx:
                i = math.ceil((box.right + STUB) / STEP) if dx > 0 else math.floor((box.x - STUB) / STEP)
                edge_x = box.right + gap if dx > 0 else box.x - gap
                along = range(
                    math.ceil((box.y + CORNER) / STEP), math.floor((box.bottom - CORNER) / STEP) + 1
                )
                candidates = [((i, j), (edge_x, j * STEP), j) for j in along]
            else:
                j = math.ceil((box.bottom + STUB) / STEP) if dy > 0 else math.floor((box.y - STUB) / STEP)
                edge_y = box.bottom + gap if dy > 0 else box.y - gap
                along = range(math.ceil((box.x + CORNER) / STEP), math.floor((box.right - CORNER) / STEP) + 1)
                candidates = [((i, j), (i * STEP, edge_y), i) for i in along]
            for grid, edge, offset in candidates:
                if grid in blocked or not self._inside(grid):
                    continue
                if any((node, side, offset + d) in self.ports_used for d in (-1, 0, 1)):
                    continue  # keep the arrows at one side of a box a lane apart
                spot = (grid[0] * STEP, grid[1] * STEP)
                if any(b.crossed_by(edge, spot) for b in obstacles):
                    continue
                found.append(Port(node, grid, edge, side, offset))
        return found

    def _cost(self, point: GridPoint, orientation: int) -> float:
        """What entering ``point`` moving across (0) or down (1) costs beyond its length."""
        cost = BORDER if orientation in self.borders.get(point, ()) else 0.0  # not along an outline
        seen = self.used.get(point)
        if seen:
            cost += OVERLAP if orientation in seen else CROSS
        i, j = point
        beside = ((i, j - 1), (i, j + 1)) if orientation == 0 else ((i - 1, j), (i + 1, j))
        return cost + sum(NEAR for p in beside if orientation in self.used.get(p, ()))

    def route(self, flow: Flow) -> tuple[Point, ...]:
        """The corners of the cheapest route from the source's box to the target's (A* on the grid)."""
        blocked = self.blocked(flow.source, flow.target)
        starts = self.ports(flow.source, blocked, target=False)
        goals = {p.grid: p for p in self.ports(flow.target, blocked, target=True)}
        if not starts or not goals:
            return self._straight(flow)
        gx0 = min(g[0] for g in goals)
        gx1 = max(g[0] for g in goals)
        gy0 = min(g[1] for g in goals)
        gy1 = max(g[1] for g in goals)

        def estimate(i: int, j: int) -> float:
            return (max(0, gx0 - i, i - gx1) + max(0, gy0 - j, j - gy1)) * STEP

        counter = itertools.count()
        heap: list[tuple[float, int, float, GridPoint, int, bool]] = []
        best: dict[tuple[GridPoint, int], float] = {}
        came: dict[tuple[GridPoint, int], tuple[GridPoint, int] | None] = {}
        first: dict[GridPoint, Port] = {}
        for port in starts:
            state = (port.grid, port.direction)
            cost = self._cost(port.grid, port.direction % 2)
            if cost < best.get(state, math.inf):
                best[state], came[state], first[port.grid] = cost, None, port
                heapq.heappush(heap, (cost + estimate(*port.grid), next(counter), cost, *state, False))
        while heap:
            _, _, g, point, direction, done = heapq.heappop(heap)
            state = (point, direction)
            if done:
                return self._finish(state, came, first, goals[point])
            if g > best.get(state, math.inf):
                continue
            if point in goals:
                inward = (goals[point].direction + 2) % 4
                if direction != (inward + 2) % 4:  # no arrow turns back on itself
                    extra = 0.0 if direction == inward else BEND
                    heapq.heappush(heap, (g + extra, next(counter), g + extra, point, direction, True))
            for turn in (0, 1, 3):
                heading = (direction + turn) % 4
                dx, dy = DIRECTIONS[heading]
                step = (point[0] + dx, point[1] + dy)
                if step in blocked or not self._inside(step):
                    continue
                cost = g + STEP + self._cost(step, heading % 2)
                if turn:
                    cost += BEND + (OVERLAP if self.used.get(point) else 0.0)
                nxt = (step, heading)
                if cost < best.get(nxt, math.inf):
                    best[nxt], came[nxt] = cost, state
                    heapq.heappush(heap, (cost + estimate(*step), next(counter), cost, *nxt, False))
        return self._straight(flow)

    def _finish(
        self,
        state: tuple[GridPoint, int],
        came: dict[tuple[GridPoint, int], tuple[GridPoint, int] | None],
        first: dict[GridPoint, Port],
        goal: Port,
    ) -> tuple[Point, ...]:
        trail: list[tuple[GridPoint, int]] = []
        current: tuple[GridPoint, int] | None = state
        while current is not None:
            trail.append(current)
            current = came[current]
        trail.reverse()
        start = first[trail[0][0]]
        for point, direction in trail:
            self.used.setdefault(point, set()).add(direction % 2)
        self.ports_used.update((start.key, goal.key))
        grid_points = [(p[0] * STEP, p[1] * STEP) for p, _ in trail]
        return _corners([start.edge, *grid_points, goal.edge])

    def _straight(self, flow: Flow) -> tuple[Point, ...]:
        """The fallback when no route exists: a straight line between the two boxes' edges."""
        source, target = self.plan.box(flow.source), self.plan.box(flow.target)
        return (_edge_towards(source, target.cx, target.cy), _edge_towards(target, source.cx, source.cy))


def _edge_towards(box: Box, px: float, py: float, gap: float = HEAD_GAP) -> Point:
    """Where the ray from the box's centre towards (px, py) leaves the box (plus a small gap)."""
    dx, dy = px - box.cx, py - box.cy
    if dx == 0 and dy == 0:
        return box.cx, box.cy
    scale = min((box.w / 2) / abs(dx) if dx else math.inf, (box.h / 2) / abs(dy) if dy else math.inf)
    scale += gap / math.hypot(dx, dy)
    return box.cx + dx * scale, box.cy + dy * scale


def _corners(points: Sequence[Point]) -> tuple[Point, ...]:
    """Drop the points that lie on a straight line between their neighbours."""
    kept = [points[0]]
    for here, after in itertools.pairwise(points[1:]):
        before = kept[-1]
        cross = (here[0] - before[0]) * (after[1] - here[1]) - (here[1] - before[1]) * (after[0] - here[0])
        if abs(cross) > 1e-9:
            kept.append(here)
    kept.append(points[-1])
    return tuple(kept)


def _route_order(plan: Layout, drawn: Sequence[Flow]) -> list[Flow]:
    """Wrong flows first, then the shortest: short arrows stay straight, long ones go round."""

    def distance(flow: Flow) -> float:
        a, b = plan.box(flow.source), plan.box(flow.target)
        return abs(a.cx - b.cx) + abs(a.cy - b.cy)

    return sorted(drawn, key=lambda f: (f.kind in (FlowKind.ALLOWED, FlowKind.UNKNOWN), distance(f)))


# -- the arrows' labels ----------------------------------------------------------------------


def _label_candidates(points: Sequence[Point], text: str) -> list[tuple[float, Label]]:
    """Spots beside each straight piece of a route, scored by how far they are from its middle."""
    lengths = [math.dist(a, b) for a, b in itertools.pairwise(points)]
    total = sum(lengths)
    found: list[tuple[float, Label]] = []
    walked = 0.0
    width = text_width(text, Role.FLOW)
    size = FONT_SIZES[Role.FLOW]
    for (a, b), length in zip(itertools.pairwise(points), lengths, strict=True):
        for share in (0.5, 0.3, 0.7, 0.15, 0.85):
            x, y = _lerp(a, b, share)
            where = walked + share * length
            score = abs(where - total / 2)
            for away in (5.0, 12.0, 22.0):
                if a[1] == b[1]:  # across: above or below
                    if length < width + 2 * STUB:
                        continue
                    spots = [Label(text, x, y - away - 0.3 * size, Role.FLOW)]
                    spots.append(Label(text, x, y + away + size, Role.FLOW))
                else:  # down: to the right or the left
                    spots = [Label(text, x + away, y + 0.35 * size, Role.FLOW, "start")]
                    spots.append(Label(text, x - away, y + 0.35 * size, Role.FLOW, "end"))
                found.extend((score + away * 4, spot) for spot in spots)
        walked += length
    return sorted(found, key=lambda item: item[0])


def place_labels(plan: Layout, arrows: Sequence[Arrow]) -> list[Arrow]:
    """Each arrow with its label beside it, where it overlaps no arrow, box or other label."""
    keep_out = [n.box.inflate(2) for n in [*plan.pods.values(), *plan.externals.values()]]
    keep_out += [n.label.box.inflate(2) for n in plan.namespaces.values()]
    segments = [segment for arrow in arrows for segment in arrow.segments()]
    placed: list[Box] = []
    out = []
    for arrow in arrows:
        text = arrow.flow.label_text
        if not text:
            out.append(arrow)
            continue
        chosen: Label | None = None
        fallback: tuple[int, Label] | None = None
        for _, spot in _label_candidates(arrow.points, text):
            if spot.box.x < MARGIN / 4 or spot.box.y < MARGIN / 4:
                continue  # off the drawing's top or left edge
            box = spot.box.inflate(RADIUS / 2 + 1)  # a rounded corner cuts inside its corner by this much
            hits = sum(1 for a, b in segments if box.crossed_by(a, b))
            hits += sum(1 for other in [*keep_out, *placed] if spot.box.overlaps(other))
            if hits == 0:
                chosen = spot
                break
            if fallback is None or hits < fallback[0]:
                fallback = (hits, spot)
        if chosen is None and fallback is not None:
            chosen = fallback[1]
        if chosen is not None:
            placed.append(chosen.box.inflate(2))
        out.append(Arrow(arrow.flow, arrow.points, chosen))
    return out


def layout(result: ProbeResult) -> Layout:
    """The whole drawing: boxes, labels, and every flow's routed arrow with its label."""
    plan = place(result)
    drawn = flows(result)
    router = Router(plan)
    routes = {id(flow): router.route(flow) for flow in _route_order(plan, drawn)}
    arrows = place_labels(plan, [Arrow(flow, routes[id(flow)]) for flow in drawn])
    xs = [plan.width - MARGIN]
    ys = [plan.height - MARGIN]
    for arrow in arrows:
        xs += [p[0] for p in arrow.points]
        ys += [p[1] for p in arrow.points]
        if arrow.label is not None:
            xs.append(arrow.label.box.right)
            ys.append(arrow.label.box.bottom)
    plan.arrows = arrows
    plan.width, plan.height = max(xs) + MARGIN, max(ys) + MARGIN
    return plan
