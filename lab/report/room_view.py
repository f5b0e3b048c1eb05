"""The room at a glance: one line per participant for the terminal, and one HTML page with a heatmap.

Each participant's line says the stage their copy holds, when it was last probed and how that probe
compared with its stage's table: ``matches`` or how many cells were wrong (and which). The page
shows the same as a table, and a heatmap of the matrix: each cell counts the participants whose last
probe found it wrong, so the instructor sees at once which flows the room struggles with. The page
is built with ElementTree (every name is escaped), fetches nothing and opens offline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from lab import scenario
from lab.lifecycle.room_ops import CopyState
from lab.report.html import page_head

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1f2328; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; }
td.heat { text-align: center; min-width: 3.2rem; font-variant-numeric: tabular-nums; }
td.none { color: #6b6b6b; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
.wrong { color: #b3261e; } .ok { color: #1a7f37; }
"""


def _stage(state: CopyState) -> str:
    return f"stage {state.stage}" if state.stage is not None else "no stage applied"


def _probe(state: CopyState) -> str:
    probe = state.probe
    if probe is None:
        return "not probed yet"
    against = f" against stage {probe.stage}" if probe.stage else " (no expectation)"
    if not probe.stage:
        verdict = "observed only"
    elif not probe.wrong:
        verdict = f"matches ({probe.judged} cells)"
    else:
        cells = ", ".join(f"{row} -> {column}" for row, column, _, _ in probe.wrong[:3])
        more = f" and {len(probe.wrong) - 3} more" if len(probe.wrong) > 3 else ""
        verdict = f"{len(probe.wrong)} wrong cell{'s' if len(probe.wrong) != 1 else ''}: {cells}{more}"
    stale = (
        f" (stage {state.stage} applied since)"
        if state.stage and probe.stage and probe.stage != state.stage
        else ""
    )
    return f"probed {probe.probed_at}{against}: {verdict}{stale}"


def status_lines(copies: Sequence[CopyState]) -> list[str]:
    """``p01  stage 3  pods 4/4  probed 2026-12-02T10:31:05Z against stage 3: matches (45 cells)``."""
    width = max(len(c.participant.name) for c in copies)
    stage_width = max(len(_stage(c)) for c in copies)
    return [
        f"{c.participant.name:<{width}}  {_stage(c):<{stage_width}}  "
        f"pods {c.pods_ready}/{c.pods}  {_probe(c)}"
        for c in copies
    ]


def heat(copies: Sequence[CopyState]) -> Counter[tuple[str, str]]:
    """How many participants' last probe found each (row, column) wrong."""
    counts: Counter[tuple[str, str]] = Counter()
    for state in copies:
        if state.probe is not None:
            counts.update({(row, column) for row, column, _, _ in state.probe.wrong})
    return counts


def _colour(share: float) -> str:
    """White for no one, deepening red as more of the room got the cell wrong."""
    lightness = round(97 - 45 * share)
    return f"hsl(4, 75%, {lightness}%)"


def _cell(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def render_html(copies: Sequence[CopyState], *, context: str) -> str:
    probed = [c for c in copies if c.probe is not None]
    counts = heat(copies)
    html = ET.Element("html", {"lang": "en"})
    html.append(page_head(f"netpol-lab room ({context})", STYLE))
    body = ET.SubElement(html, "body")
    _cell(body, "h1", f"The room on {context}")
    wrong = sum(1 for c in probed if c.probe is not None and c.probe.wrong)
    _cell(
        body,
        "p",
        f"{len(copies)} copies; {len(probed)} probed, {len(probed) - wrong} matching their stage, "
        f"{wrong} with wrong cells.",
    )
    table = ET.SubElement(body, "table", {"id": "heatmap"})
    _cell(table, "caption", "Cells found wrong, by number of participants (their last probe)")
    header = ET.SubElement(ET.SubElement(table, "thead"), "tr")
    _cell(header, "th", "from \\ to")
    for column in scenario.COLUMNS:
        _cell(header, "th", column, scope="col")
    rows = ET.SubElement(table, "tbody")
    for row in scenario.ROWS:
        line = ET.SubElement(rows, "tr")
        _cell(line, "th", row, scope="row")
        for column in scenario.COLUMNS:
            count = counts.get((row, column), 0)
            who = [
                c.participant.name
                for c in probed
                if c.probe is not None and any((r, k) == (row, column) for r, k, _, _ in c.probe.wrong)
            ]
            share = count / len(probed) if probed else 0.0
            title = (
                f"{row} -> {column}: wrong for {', '.join(who)}"
                if who
                else f"{row} -> {column}: right for all"
            )
            cell = _cell(line, "td", str(count))
            cell.attrib.update(
                {
                    "class": "heat" if count else "heat none",
                    "style": f"background: {_colour(share)}",
                    "title": title,
                }
            )
    people = ET.SubElement(body, "table", {"id": "participants"})
    _cell(people, "caption", "Participants")
    head_row = ET.SubElement(ET.SubElement(people, "thead"), "tr")
    for title in ("participant", "stage", "pods ready", "last probe"):
        _cell(head_row, "th", title, scope="col")
    listing = ET.SubElement(people, "tbody")
    for state in copies:
        line = ET.SubElement(listing, "tr")
        _cell(line, "td", state.participant.name)
        _cell(line, "td", _stage(state))
        _cell(line, "td", f"{state.pods_ready}/{state.pods}")
        text = _probe(state)
        css = "wrong" if state.probe is not None and state.probe.wrong else "ok" if state.probe else ""
        _cell(line, "td", text, **({"class": css} if css else {}))
    return "<!DOCTYPE html>\n" + ET.tostring(html, encoding="unicode", method="html") + "\n"


def write_html(path: Path, copies: Sequence[CopyState], *, context: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(copies, context=context), encoding="utf-8")
    return path
