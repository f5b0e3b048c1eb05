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
from lab.policy.model import printable
from lab.report.html import stage_heading, write_html
from lab.report.json_report import DEFAULT_REPORTS_DIR, load_probe_result, newest_per_stage
from lab.report.table import summary_line
from lab.result import ProbeResult

DEFAULT_HTML = DEFAULT_REPORTS_DIR / "report.html"
# One page holds every result given: its matrices are drawn cell by cell. Each result is capped by
# the loader (json_report.MAX_CELLS); these cap the page, and are checked before anything is drawn.
MAX_FOLDER_FILES = 1_000  # saved results read from one folder (each is loaded to learn its stage)
MAX_REPORT_CELLS = 50_000  # rows x columns over every result on the page


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
    if len(files) > MAX_FOLDER_FILES:
        raise LabError(
            printable(
                f"{folder}/ holds {len(files):,} saved results, more than the {MAX_FOLDER_FILES:,} a report "
                "reads from one folder: move old ones away, or pass --result FILE for the ones to show"
            ),
            ExitStatus.USAGE,
        )
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


def check_size(results: list[ProbeResult]) -> None:
    """Refuse a page that would hold more than ``MAX_REPORT_CELLS`` matrix cells (exit 2, one line)."""
    cells = sum(len(r.observed.rows) * len(r.observed.columns) for r in results)
    if cells > MAX_REPORT_CELLS:
        raise LabError(
            f"{len(results)} results with {cells:,} matrix cells in all, more than the "
            f"{MAX_REPORT_CELLS:,} one report shows: pass fewer with --result FILE",
            ExitStatus.USAGE,
        )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    results = collect(list(args.result), DEFAULT_REPORTS_DIR)
    check_size(results)
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
        env.out(printable(f"{stage_heading(result)}: {summary}"))
    env.out(printable(f"wrote {target} ({len(results)} result(s)); open {target.resolve().as_uri()}"))
    return ExitStatus.SUCCESS
