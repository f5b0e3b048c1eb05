"""Probe results as JSON: for CI (``probe --output json``) and for the HTML report (``probe --save``).

The document is stable; keys are only ever added, and ``version`` changes when one changes meaning::

    {
      "format": "netpol-lab/probe-result",
      "version": 1,
      "context": "kind-netpol-lab",          # kubeconfig context the probes ran against
      "stage": "4",                           # stage whose expectation was used, or null
      "stage_title": "Stage 4: ...",          # human title ("" when unknown)
      "probed_at": "2026-11-02T10:15:00+00:00",  # ISO 8601, with its UTC offset
      "deny_action": "Drop",                  # what the CNI did with denied packets (Drop or Reject)
      "ok": true,                             # no judged cell disagrees with the expectation
      "summary": {"matched": 31, "mismatched": 0, "inconclusive": 2, "check_failed": 0,
                  "text": "31 of 31 judged cells match, 0 mismatches, 2 inconclusive"},
      "rows": ["frontend", ...],              # source pods, in display order
      "columns": ["frontend:80", ..., "metadata"],  # targets, in display order
      "pods": {"frontend": {"namespace": "frontend", "node": "netpol-lab-worker", "ip": "192.168.1.5"}},
      "cells": [
        {"from": "frontend", "to": "backend:80",
         "observed": {"verdict": "ALLOW", "reason": "", "tries": 1, "command": "kubectl exec ..."},
         "expected": {"verdict": "ALLOW", "reason": ""},   # null when there is no expectation;
                                                           # "tier": the tier that decided, when known
         "status": "match"}                   # match | mismatch | unjudged | plain
      ]
    }

Verdict words are those of ``lab.matrix.Verdict``. ``status`` is ``lab.matrix.cell_status``, the
rule ``Matrix.compare`` judges by: ``unjudged`` means an expectation exists but no verdict was
observed (``?``, ``ERROR``, or the cell was not probed), ``plain`` that there was nothing to
compare with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab.matrix import Cell, Comparison, Matrix, Verdict, aligned, cell_status
from lab.policy.model import InputError, shown
from lab.policy.state import decode_text, read_input_file
from lab.report.table import summary_line
from lab.result import PodInfo, ProbeResult

FORMAT = "netpol-lab/probe-result"
VERSION = 1
DEFAULT_REPORTS_DIR = Path("reports")  # where `probe --save` writes and `report` reads by default


def to_dict(result: ProbeResult) -> dict[str, Any]:
    """The JSON document of one probe run (keys described in the module docstring)."""
    return probe_result_to_dict(
        result.observed,
        result.expected,
        result.comparison,
        context=result.context,
        stage=result.stage,
        probed_at=result.probed_at,
        stage_title=result.stage_title,
        pods=result.pods,
        deny_action=result.deny_action,
    )


def to_json(result: ProbeResult) -> str:
    """``to_dict`` as indented JSON text, ending in a newline (``--output json`` and ``--save``)."""
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n"


def _cell_dict(cell: Cell, *, observed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"verdict": cell.verdict.value, "reason": cell.reason}
    if observed:
        out["tries"] = cell.tries
        out["command"] = cell.command
    elif cell.tier:
        out["tier"] = cell.tier  # the policy tier that decided (an expectation the evaluator computed)
    return out


def _summary(comparison: Comparison | None) -> dict[str, Any] | None:
    if comparison is None:
        return None
    inconclusive = sum(1 for d in comparison.unjudged if d.observed.verdict == Verdict.INCONCLUSIVE)
    return {
        "matched": len(comparison.matched),
        "mismatched": len(comparison.mismatched),
        "inconclusive": inconclusive,
        "check_failed": len(comparison.unjudged) - inconclusive,
        "text": summary_line(comparison),
    }


def probe_result_to_dict(
    observed: Matrix,
    expected: Matrix | None,
    comparison: Comparison | None,
    *,
    context: str,
    stage: str | None,
    probed_at: datetime,
    stage_title: str = "",
    pods: Mapping[str, PodInfo] | None = None,
    deny_action: str = "Drop",
) -> dict[str, Any]:
    """The JSON document of one probe run (keys described in the module docstring)."""
    rows, columns = aligned(observed, expected)
    cells = []
    for row in rows:
        for column in columns:
            seen = observed.get(row, column)
            wanted = expected.get(row, column) if expected is not None else None
            cells.append(
                {
                    "from": row,
                    "to": column,
                    "observed": _cell_dict(seen, observed=True),
                    "expected": _cell_dict(wanted, observed=False) if wanted is not None else None,
                    "status": cell_status(seen, wanted).value,
                }
            )
    return {
        "format": FORMAT,
        "version": VERSION,
        "context": context,
        "stage": stage,
        "stage_title": stage_title,
        "probed_at": _aware(probed_at).isoformat(),
        "deny_action": deny_action,
        "ok": comparison.ok if comparison is not None else None,
        "summary": _summary(comparison),
        "rows": rows,
        "columns": columns,
        "pods": {
            name: {"namespace": info.namespace, "node": info.node, "ip": info.ip}
            for name, info in (pods or {}).items()
        },
        "cells": cells,
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# -- reading back ------------------------------------------------------------------------

# What a saved result may hold. The lab's matrix is 5 rows by 12 columns; these leave room for far
# bigger clusters while keeping the report a page a browser opens: a result beyond any of them is
# refused with the limit named, before anything is rendered.
MAX_RESULT_BYTES = 32 * 1024 * 1024
MAX_ROWS = 500
MAX_COLUMNS = 500
MAX_CELLS = 20_000  # rows x columns: each table cell is drawn, filled or not
MAX_TRIES = 1_000


class _Invalid(ValueError):
    pass


def _get(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise _Invalid(f"{where} has no {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _Invalid(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _optional(mapping: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = mapping.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Invalid(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _text(document: dict[str, Any], key: str, *, nullable: bool = False) -> str | None:
    value = document.get(key)
    if value is None:
        return None if nullable else ""
    if not isinstance(value, str):
        raise _Invalid(f"result.{key} has the wrong type ({type(value).__name__})")
    return value


def _cell(data: Any, where: str) -> Cell:
    word = _get(data, "verdict", str, where)
    if len(word) > 16:  # no verdict word is this long; say so without repeating all of it
        raise _Invalid(f"{where}.verdict {shown(word)} is not a verdict")
    verdict = Verdict.parse(word)
    tries = _optional(data, "tries", int, 0, where)
    if not 0 <= tries <= MAX_TRIES:
        raise _Invalid(f"{where}.tries {shown(tries)} is not a count of tries 0-{MAX_TRIES}")
    return Cell(
        verdict,
        reason=_optional(data, "reason", str, "", where),
        tries=tries,
        command=_optional(data, "command", str, "", where),
        tier=_tier(data, where),
    )


def _tier(data: Any, where: str) -> str:
    tier = _optional(data, "tier", str, "", where)
    if len(tier) > 200:  # tier names are Kubernetes names (at most 63) joined by " + "
        raise _Invalid(f"{where}.tier {shown(tier)} is not a tier name")
    return tier


def _names(document: dict[str, Any], key: str, limit: int) -> list[str]:
    names = _get(document, key, list, "result")
    if len(names) > limit:
        raise _Invalid(f"result has {len(names):,} {key}, more than the {limit:,} a report shows")
    for number, name in enumerate(names):
        if not isinstance(name, str):
            raise _Invalid(f"result.{key}[{number}] has the wrong type ({type(name).__name__})")
    if len(set(names)) != len(names):
        twice = next(n for i, n in enumerate(names) if n in names[:i])
        raise _Invalid(f"result.{key} names {shown(twice)} twice")
    return names


def _moment(text: str) -> datetime:
    try:
        moment = _aware(datetime.fromisoformat(text))
        moment.astimezone(timezone.utc)  # the report shows it in UTC: year 9999 at -01:00 is not a time
    except ValueError as error:
        raise _Invalid(f"probed_at is not an ISO 8601 time: {shown(text)}") from error
    except OverflowError:
        raise _Invalid(f"probed_at {shown(text)} is out of range in UTC") from None
    return moment


def probe_result_from_dict(document: Any) -> ProbeResult:
    """Rebuild a ``ProbeResult`` from its JSON document; ``ValueError`` names what is wrong.

    Only the rows and columns that hold a cell are kept (a saved result holds every cell of its
    matrix); the limits above are checked before any cell is read."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _Invalid(f'not a netpol-lab probe result (no "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION or isinstance(version, bool):
        raise _Invalid(f"probe result version {shown(version)}; this netpol-lab reads version {VERSION}")
    rows = _names(document, "rows", MAX_ROWS)
    columns = _names(document, "columns", MAX_COLUMNS)
    items = _get(document, "cells", list, "result")
    declared_rows, declared_columns = set(rows), set(columns)
    observed_cells: dict[tuple[str, str], Cell] = {}
    expected_cells: dict[tuple[str, str], Cell] = {}
    for number, item in enumerate(items):
        where = f"cells[{number}]"
        row, column = _get(item, "from", str, where), _get(item, "to", str, where)
        if row not in declared_rows or column not in declared_columns:
            missing = f"from {shown(row)}" if row not in declared_rows else f"to {shown(column)}"
            raise _Invalid(f"{where}.{missing} is not in the result's rows and columns")
        if (row, column) in observed_cells:
            raise _Invalid(f"{where}: a second cell from {shown(row)} to {shown(column)}")
        observed_cells[(row, column)] = _cell(_get(item, "observed", dict, where), f"{where}.observed")
        if item.get("expected") is not None:  # item is a dict: _get checked it
            expected_cells[(row, column)] = _cell(item["expected"], f"{where}.expected")
    used_rows = {row for row, _ in observed_cells}
    used_columns = {column for _, column in observed_cells}
    rows = [r for r in rows if r in used_rows]
    columns = [c for c in columns if c in used_columns]
    if len(rows) * len(columns) > MAX_CELLS:
        raise _Invalid(
            f"result has {len(rows):,} rows by {len(columns):,} columns, more than the {MAX_CELLS:,} "
            "cells a report shows"
        )
    observed = Matrix(rows=rows, columns=list(columns), cells=observed_cells)
    expected = (
        Matrix(rows=list(rows), columns=list(columns), cells=expected_cells) if expected_cells else None
    )
    probed_at = _moment(_get(document, "probed_at", str, "result"))
    pod_data = document.get("pods") or {}
    if not isinstance(pod_data, dict):
        raise _Invalid("result.pods is not a mapping")
    if len(pod_data) > MAX_ROWS + MAX_COLUMNS:
        raise _Invalid(f"result has {len(pod_data):,} pods, more than its rows and columns name")
    pods = {
        name: PodInfo(
            namespace=_get(info, "namespace", str, f"pods.{name}"),
            node=_optional(info, "node", str, "", f"pods.{name}"),
            ip=_optional(info, "ip", str, "", f"pods.{name}"),
        )
        for name, info in pod_data.items()
    }
    deny_action = document.get("deny_action", "Drop")
    if deny_action not in ("Drop", "Reject"):
        raise _Invalid(f"deny_action {shown(deny_action)} is neither Drop nor Reject")
    return ProbeResult(
        observed=observed,
        expected=expected,
        context=_text(document, "context") or "",
        stage=_text(document, "stage", nullable=True),
        probed_at=probed_at,
        stage_title=_text(document, "stage_title") or "",
        pods=pods,
        deny_action=str(deny_action),
    )


def load_probe_result(path: Path) -> ProbeResult:
    """Read a result saved by ``probe --save`` or ``--output json``; an ``InputError`` (exit 2, one line
    naming the file and what is wrong in it) says the fix."""
    fix = "pass a file written by `netpol-lab probe --save` or `--output json`"
    data = read_input_file(
        Path(path),
        limit=MAX_RESULT_BYTES,
        what="saved probe result",
        missing="save a probe result with `netpol-lab probe --save` first",
    )
    text = decode_text(data, str(path))
    try:
        document = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not JSON ({error.msg} at line {error.lineno}): {fix}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a probe result: {fix}") from None
    except ValueError as error:
        raise InputError(f"{path}: not a probe result ({error}): {fix}") from None
    try:
        return probe_result_from_dict(document)
    except ValueError as error:
        raise InputError(f"{path}: {error}: {fix}") from None


def _bounded_int(text: str) -> int:
    if len(text) > 20:  # a count of cells or tries: int64 at most
        raise ValueError(f"a number {len(text)} digits long")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- where saved results live -------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def saved_result_name(stage: str | None, probed_at: datetime) -> str:
    """``probe-stage-4-20261102T101500Z.json``: sorts by stage, then time."""
    when = _aware(probed_at).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    label = f"stage-{_UNSAFE.sub('-', stage)}" if stage else "nostage"
    return f"probe-{label}-{when}.json"


def save_probe_result(result: ProbeResult, directory: Path = DEFAULT_REPORTS_DIR) -> Path:
    """Write ``result`` into ``directory`` (created if needed) and return the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / saved_result_name(result.stage, result.probed_at)
    path.write_text(to_json(result), encoding="utf-8")
    return path


def _stage_key(stage: str | None) -> tuple[int, int, str]:
    if stage is None:
        return (1, 0, "")
    number = re.match(r"[0-9]{1,18}", stage)  # ASCII digits, and few: int() of 5,000 digits fails
    return (0, int(number.group()) if number else 1 << 30, stage)


def newest_per_stage(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    """The latest result of each stage, ordered by stage number (results without a stage last)."""
    newest: dict[str | None, ProbeResult] = {}
    for result in results:
        kept = newest.get(result.stage)
        if kept is None or result.probed_at > kept.probed_at:
            newest[result.stage] = result
    return sorted(newest.values(), key=lambda r: _stage_key(r.stage))
