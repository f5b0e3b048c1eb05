"""The HTML report rendered by a real browser: Debian's headless chromium.

Skipped when chromium is absent (Debian/Ubuntu: `apt-get install chromium`; or point
NETPOL_LAB_CHROMIUM at another Chromium binary). The page is loaded from a file with the
network switched off by flags; the tests read back the DOM chromium built, a screenshot, and
the boxes chromium laid out at several viewport widths (a script added to a copy of the page
measures them; see MEASURE).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lab.report.html import ARROW_COLOURS, CONTENT_SECURITY_POLICY, path_data, write_html
from lab.report.layout import FlowKind, flows, layout
from tests.unit.report.dom import Node, parse
from tests.unit.report.png import colour_counts, decode
from tests.unit.report.samples import (
    HOSTILE_CONTEXT,
    HOSTILE_NAMESPACE,
    HOSTILE_POD,
    hostile_result,
    open_result,
    seed_result,
)

pytestmark = pytest.mark.browser

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # a fetch the page should not make fails instead of leaking
)


def chromium_binary() -> str | None:
    configured = os.environ.get("NETPOL_LAB_CHROMIUM")
    if configured:
        return shutil.which(configured)
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


CHROMIUM = chromium_binary()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not found: install it (Debian/Ubuntu: apt-get install chromium) "
    "or set NETPOL_LAB_CHROMIUM to a Chromium binary",
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    path = folder / "report.html"
    write_html(path, [seed_result()])
    return path


@pytest.fixture(scope="module")
def rendered(report: Path, tmp_path_factory: pytest.TempPathFactory) -> Node:
    result = chromium(tmp_path_factory.mktemp("dom"), "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return parse(result.stdout)


@needs_chromium
def test_matrices_rendered_with_verdict_words(rendered: Node) -> None:
    section = rendered.find_all("section", class_="stage")[0]
    figures = section.find_all("figure", class_="matrix")
    assert [f.find_all("figcaption")[0].text for f in figures] == ["Expected", "Observed"]
    observed = {(td.attrs["data-row"], td.attrs["data-column"]): td.text for td in figures[1].iter("td")}
    assert len(observed) == 36
    assert observed[("frontend", "backend:80")] == "✗ DENY≠ALLOW ×10"
    assert observed[("untrusted", "database:3306")] == "✗ ALLOW≠DENY"
    assert observed[("frontend", "svc/backend:80")] == "ALLOW"
    assert observed[("untrusted", "backend:80")] == "DENY"


@needs_chromium
def test_svg_drawing_rendered_with_pods_and_arrows(rendered: Node) -> None:
    svg = rendered.find_all("svg", class_="drawing")[0]
    pods = {g.attrs["data-pod"]: g.text for g in svg.find_all("g", class_="pod")}
    assert set(pods) == {"frontend", "backend", "database", "untrusted"}
    assert "pod database" in pods["database"] and "node netpol-lab-worker" in pods["database"]
    arrows = svg.find_all("g", class_="flow")
    expected = flows(seed_result())
    assert len(arrows) == len(expected)
    routes = {
        (a.flow.source, a.flow.target, a.flow.kind.value): path_data(a) for a in layout(seed_result()).arrows
    }
    for g in arrows:
        (path,) = g.find_all("path")
        assert path.attrs["d"] == routes[(g.attrs["data-from"], g.attrs["data-to"], g.attrs["data-kind"])]
        assert re.fullmatch(r"M[-\d.,]+( [LQ][-\d., ]+)+", path.attrs["d"])
    labels = [t.text for t in svg.find_all("text", class_="flow-label")]
    assert "3306 + svc" in labels and "80 ✗ denied" in labels


@needs_chromium
def test_screenshot_shows_the_drawing_and_the_mismatches(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(
        tmp_path, "--window-size=1600,1300", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri()
    )
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    width, height, _ = decode(data)
    assert (width, height) == (1600, 1300)
    colours = colour_counts(data)
    assert colours["#1a7f37"] > 500, "the allowed arrows (solid green) were drawn"
    assert colours[ARROW_COLOURS[FlowKind.MISSING]] > 300, "the red mismatch arrows were drawn"
    assert colours["#e3f4e8"] > 5000 and colours["#fbe6e4"] > 5000, "ALLOW and DENY cells were painted"
    keep = os.environ.get("NETPOL_LAB_SCREENSHOT_DIR")
    if keep:  # to look at the page: NETPOL_LAB_SCREENSHOT_DIR=/tmp pytest -m browser
        shutil.copy(shot, Path(keep) / "netpol-lab-report.png")


@pytest.fixture(scope="module")
def rendered_hostile(tmp_path_factory: pytest.TempPathFactory) -> Node:
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "report.html"
    write_html(path, [hostile_result()])
    result = chromium(folder, "--dump-dom", path.as_uri())
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return parse(result.stdout)


@needs_chromium
def test_hostile_names_stay_text_in_chromium(rendered_hostile: Node) -> None:
    for tag in ("script", "img", "b", "i"):
        assert not rendered_hostile.find_all(tag), f"a name made a <{tag}> element"
    assert rendered_hostile.find_all("code")[0].text == HOSTILE_CONTEXT
    observed = rendered_hostile.find_all("figure", class_="matrix")[1]
    assert HOSTILE_POD in [th.text for th in observed.find_all("th", scope="row")]
    svg = rendered_hostile.find_all("svg", class_="drawing")[0]
    (pod,) = svg.find_all("g", data_pod=HOSTILE_POD)
    assert pod.find_all("text")[0].text == f"pod {HOSTILE_POD}"
    (namespace,) = svg.find_all("g", data_namespace=HOSTILE_NAMESPACE)
    assert namespace.find_all("text")[0].text == f"namespace {HOSTILE_NAMESPACE}"


# -- boxes measured in chromium's layout -----------------------------------------------------------

# Runs in a copy of the report (the page's policy lets this one script run, by its hash): the boxes of
# every matrix, cell and cell text in CSS pixels of the viewport, and in the drawing's user units
# the box of every <text>, of every pod and target, and a point every pixel along every arrow.
MEASURE = r"""
(() => {
  const rect = (r) => [r.left, r.top, r.right, r.bottom];
  const bbox = (b) => [b.x, b.y, b.x + b.width, b.y + b.height];
  const root = document.documentElement;
  const out = {viewport: [window.innerWidth, root.clientWidth, root.scrollWidth], sections: []};
  for (const section of document.querySelectorAll("section.stage")) {
    const pair = section.querySelector(".matrices");
    const entry = {
      stage: section.dataset.stage,
      scroll: [pair.scrollWidth, pair.clientWidth],
      matrices: [],
      labels: [],
      nodes: [],
      arrows: [],
    };
    for (const figure of section.querySelectorAll("figure.matrix")) {
      const cells = [];
      for (const cell of figure.querySelectorAll("th, td")) {
        const range = document.createRange();
        range.selectNodeContents(cell);
        cells.push({
          text: cell.textContent,
          box: rect(cell.getBoundingClientRect()),
          content: rect(range.getBoundingClientRect()),
          scroll: [cell.scrollWidth, cell.clientWidth, cell.scrollHeight, cell.clientHeight],
        });
      }
      entry.matrices.push({
        caption: figure.querySelector("figcaption").textContent,
        box: rect(figure.getBoundingClientRect()),
        scroll: [figure.scrollWidth, figure.clientWidth],
        cells,
      });
    }
    const svg = section.querySelector("svg.drawing");
    for (const text of svg.querySelectorAll("text")) {
      const role = text.getAttribute("class");
      entry.labels.push({text: text.textContent, role, box: bbox(text.getBBox())});
    }
    for (const group of svg.querySelectorAll("g.pod, g.external")) {
      entry.nodes.push({
        name: group.dataset.pod || group.dataset.target,
        box: bbox(group.querySelector("rect").getBBox()),
        labels: [...group.querySelectorAll("text")].map((text) => bbox(text.getBBox())),
      });
    }
    for (const group of svg.querySelectorAll("g.flow")) {
      const path = group.querySelector("path");
      const length = path.getTotalLength();
      const points = [];
      for (let at = 0; at < length; at += 1) {
        const point = path.getPointAtLength(at);
        points.push([point.x, point.y]);
      }
      const end = path.getPointAtLength(length);
      points.push([end.x, end.y]);
      const width = parseFloat(path.getAttribute("stroke-width"));
      entry.arrows.push({from: group.dataset.from, to: group.dataset.to, width, points});
    }
    out.sections.push(entry);
  }
  const pre = document.createElement("pre");
  pre.id = "netpol-lab-measurements";
  pre.textContent = JSON.stringify(out);
  document.body.append(pre);
})();
"""
# Side by side from 1,024 px; each side of report.css's two breakpoints (1,300 and 1,700 px).
SIDE_BY_SIDE = (1024, 1299, 1300, 1600, 1699, 1700, 1920)
WIDTHS = (800, *SIDE_BY_SIDE)  # 800: may stack, but nothing may be cut off
Rect = list[float]  # left, top, right, bottom


def measuring_copy(page: str) -> str:
    """The page with MEASURE added, allowed by the page's own policy plus that one script's hash."""
    digest = base64.b64encode(hashlib.sha256(MEASURE.encode()).digest()).decode()
    assert page.count(CONTENT_SECURITY_POLICY) == 1
    page = page.replace(CONTENT_SECURITY_POLICY, f"{CONTENT_SECURITY_POLICY}; script-src 'sha256-{digest}'")
    body, end = page.rsplit("</body>", 1)
    return f"{body}<script>{MEASURE}</script></body>{end}"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """What MEASURE found in the seed, the open cluster and the hostile names, at each width in WIDTHS."""
    folder = tmp_path_factory.mktemp("measure")
    report = folder / "report.html"
    write_html(report, [seed_result(), open_result(), hostile_result()])
    probe = folder / "measure.html"
    probe.write_text(measuring_copy(report.read_text(encoding="utf-8")), encoding="utf-8")

    def measure(width: int) -> dict[str, Any]:
        (folder / str(width)).mkdir()
        result = chromium(folder / str(width), f"--window-size={width},900", "--dump-dom", probe.as_uri())
        found = re.search(r'<pre id="netpol-lab-measurements">(.*?)</pre>', result.stdout, re.S)
        assert found, f"the measuring script did not run at {width} px: {result.stderr[-2000:]}"
        data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
        return data

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(WIDTHS, pool.map(measure, WIDTHS), strict=True))


def inside(inner: Rect, outer: Rect, slack: float = 0.5) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def section(page: dict[str, Any], stage: str) -> dict[str, Any]:
    return next(s for s in page["sections"] if s["stage"] == stage)


@needs_chromium
@pytest.mark.parametrize("width", SIDE_BY_SIDE)
def test_matrices_side_by_side_from_1024_px(measured: dict[int, dict[str, Any]], width: int) -> None:
    page = measured[width]
    inner_width, client_width, scroll_width = page["viewport"]
    assert inner_width == width
    assert scroll_width <= client_width, "the page scrolls sideways"
    expected, observed = section(page, "4")["matrices"]
    assert (expected["caption"], observed["caption"]) == ("Expected", "Observed")
    left, right = expected["box"], observed["box"]
    assert left[2] <= right[0], f"at {width} px the matrices overlap or are not side by side: {left} {right}"
    assert abs(left[1] - right[1]) < 1, f"at {width} px the matrices are not on one row: {left} {right}"
    assert right[2] <= client_width


@needs_chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_no_matrix_text_is_cut_off(measured: dict[int, dict[str, Any]], width: int) -> None:
    page = measured[width]
    client_width = page["viewport"][1]
    for stage in page["sections"]:
        matrices = stage["matrices"]
        assert not any(overlap(a["box"], b["box"]) for a, b in itertools.pairwise(matrices))
        scroll_width, visible_width = stage["scroll"]
        assert scroll_width <= visible_width, f"at {width} px part of the matrices scrolls out of view"
        for matrix in matrices:
            scroll_width, figure_width = matrix["scroll"]
            assert scroll_width <= figure_width, f"at {width} px part of {matrix['caption']} is hidden"
            assert matrix["box"][2] <= client_width
            assert len(matrix["cells"]) == 10 * 5
            for cell in matrix["cells"]:
                assert inside(cell["content"], cell["box"]), f"at {width} px {cell['text']!r} overflows"
                assert cell["scroll"][0] <= cell["scroll"][1] and cell["scroll"][2] <= cell["scroll"][3]


@needs_chromium
def test_arrows_cross_no_label_in_chromium(measured: dict[int, dict[str, Any]]) -> None:
    page = measured[1024]  # the drawing's user units do not depend on the viewport
    for stage in page["sections"]:
        labels = stage["labels"]
        assert {"ns-label", "pod-name", "pod-detail"} <= {label["role"] for label in labels}
        assert stage["arrows"]
        for arrow in stage["arrows"]:
            half = arrow["width"] / 2  # the stroke's half width on either side of the path
            for label in labels:
                left, top, right, bottom = label["box"]
                hits = [
                    (x, y)
                    for x, y in arrow["points"]
                    if left - half < x < right + half and top - half < y < bottom + half
                ]
                assert not hits, f"{arrow['from']} → {arrow['to']} crosses {label['text']!r} at {hits[0]}"
    assert "flow-label" in {label["role"] for label in section(page, "4")["labels"]}


@needs_chromium
def test_labels_fit_the_room_the_layout_gave_them(measured: dict[int, dict[str, Any]]) -> None:
    page = measured[1024]
    results = {"4": seed_result(), "0": open_result(), "hostile": hostile_result()}
    for stage in page["sections"]:
        plan = layout(results[stage["stage"]])
        estimated = plan.labels()  # in the order the SVG writes them
        assert [label.text for label in estimated] == [label["text"] for label in stage["labels"]]
        for room, drawn in zip(estimated, stage["labels"], strict=True):
            box = room.box
            assert inside(drawn["box"], [box.x, box.y, box.right, box.bottom]), (room.text, drawn["box"])
        for node in stage["nodes"]:
            for label in node["labels"]:
                assert inside(label, node["box"]), f"a label of {node['name']!r} sticks out of its box"


@needs_chromium
def test_arrows_run_from_box_to_box_in_chromium(measured: dict[int, dict[str, Any]]) -> None:
    for stage in measured[1024]["sections"]:
        boxes = {node["name"]: node["box"] for node in stage["nodes"]}
        for arrow in stage["arrows"]:
            (x0, y0), (x1, y1) = arrow["points"][0], arrow["points"][-1]
            source, target = boxes[arrow["from"]], boxes[arrow["to"]]
            assert inside([x0, y0, x0, y0], source, 0.1) and not inside([x0, y0, x0, y0], source, -0.6)
            assert inside([x1, y1, x1, y1], target, 2.6) and not inside([x1, y1, x1, y1], target, 0)
