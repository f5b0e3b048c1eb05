"""The HTML report rendered by a real browser: Debian's headless chromium.

Skipped when chromium is absent (Debian/Ubuntu: `apt-get install chromium`; or point
NETPOL_LAB_CHROMIUM at another Chromium binary). The page is loaded from a file with the
network switched off by flags; the test reads back the DOM chromium built and a screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.report.html import ARROW_COLOURS, FlowKind, flows, write_html
from tests.unit.report.dom import Node, parse
from tests.unit.report.png import colour_counts, decode
from tests.unit.report.samples import seed_result

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
    for g in arrows:
        (path,) = g.find_all("path")
        assert path.attrs["d"].startswith("M") and " Q" in path.attrs["d"]
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
