"""Write an HTML report of saved probe results: per stage, the expected and observed matrices side
by side, a drawing of the namespaces, pods and allowed flows, and why each denied flow is denied.

Save results first with `netpol-lab probe --save` (one file per run, under reports/). Without
--result, the report takes the newest saved result of each stage from reports/. The page
needs no network: open it in any browser, offline.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.report.html import stage_heading, write_html
from lab.report.json_report import DEFAULT_REPORTS_DIR, load_probe_result, newest_per_stage
from lab.report.table import summary_line
from lab.result import ProbeResult

DEFAULT_HTML = DEFAULT_REPORTS_DIR / "report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--html",
        metavar="FILE",
        type=Path,
        default=DEFAULT_HTML,
        help=f"where to write the page (default: {DEFAULT_HTML})",
    )
    parser.add_argument(
        "--result",
        metavar="SAVED.json",
        type=Path,
        action="append",
        default=[],
        help="a saved probe result (repeat for several stages; a folder means its newest result per "
        f"stage; default: {DEFAULT_REPORTS_DIR}/)",
    )


def _from_folder(folder: Path) -> list[ProbeResult]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LabError(
            f"no saved probe results in {folder}/: run `netpol-lab probe --save` (or `make probe`) first, "
            "or pass --result FILE",
            ExitStatus.USAGE,
        )
    return newest_per_stage(load_probe_result(path) for path in files)


def collect(paths: list[Path], default_folder: Path) -> list[ProbeResult]:
    """The results to report on: the files given (in order), or the newest per stage of a folder."""
    if not paths:
        return _from_folder(default_folder)
    results: list[ProbeResult] = []
    for path in paths:
        results.extend(_from_folder(path) if path.is_dir() else [load_probe_result(path)])
    return results


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    results = collect(list(args.result), DEFAULT_REPORTS_DIR)
    target: Path = args.html
    if target.is_dir():
        raise LabError(f"{target} is a folder: give --html a file name such as {target / 'report.html'}")
    try:
        write_html(target, results, generated_at=datetime.now(timezone.utc))
    except OSError as error:
        raise LabError(f"cannot write {target}: {error.strerror}: choose another --html FILE") from error
    for result in results:
        comparison = result.comparison
        summary = summary_line(comparison) if comparison is not None else "no expectation recorded"
        env.out(f"{stage_heading(result)}: {summary}")
    env.out(f"wrote {target} ({len(results)} result(s)); open {target.resolve().as_uri()}")
    return ExitStatus.SUCCESS
