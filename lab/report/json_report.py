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
         "expected": {"verdict": "ALLOW", "reason": ""},   # null when there is no expectation
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

from lab.errors import ExitStatus, LabError
from lab.matrix import Cell, Comparison, Matrix, Verdict, aligned, cell_status
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


class _Invalid(ValueError):
    pass


def _get(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise _Invalid(f"{where} has no {key!r}")
    value = mapping[key]
    if not isinstance(value, kind):
        raise _Invalid(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _optional(mapping: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = mapping.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Invalid(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _cell(data: Any, where: str) -> Cell:
    verdict = Verdict.parse(_get(data, "verdict", str, where))
    return Cell(
        verdict,
        reason=_optional(data, "reason", str, "", where),
        tries=_optional(data, "tries", int, 0, where),
        command=_optional(data, "command", str, "", where),
    )


def probe_result_from_dict(document: Any) -> ProbeResult:
    """Rebuild a ``ProbeResult`` from its JSON document; ``ValueError`` names what is wrong."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _Invalid(f'not a netpol-lab probe result (no "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise _Invalid(f"probe result version {version!r}; this netpol-lab reads version {VERSION}")
    rows = [str(r) for r in _get(document, "rows", list, "result")]
    columns = [str(c) for c in _get(document, "columns", list, "result")]
    observed = Matrix(rows=list(rows), columns=list(columns))
    expected: Matrix | None = None
    for number, item in enumerate(_get(document, "cells", list, "result")):
        where = f"cells[{number}]"
        row, column = _get(item, "from", str, where), _get(item, "to", str, where)
        observed.set(row, column, _cell(_get(item, "observed", dict, where), f"{where}.observed"))
        if item.get("expected") is not None:  # item is a dict: _get checked it
            expected = expected or Matrix(rows=list(rows), columns=list(columns))
            expected.set(row, column, _cell(item["expected"], f"{where}.expected"))
    try:
        probed_at = _aware(datetime.fromisoformat(_get(document, "probed_at", str, "result")))
    except ValueError as error:
        raise _Invalid(f"probed_at is not an ISO 8601 time: {error}") from error
    pod_data = document.get("pods") or {}
    if not isinstance(pod_data, dict):
        raise _Invalid("result.pods is not a mapping")
    pods = {
        str(name): PodInfo(
            namespace=_get(info, "namespace", str, f"pods.{name}"),
            node=_optional(info, "node", str, "", f"pods.{name}"),
            ip=_optional(info, "ip", str, "", f"pods.{name}"),
        )
        for name, info in pod_data.items()
    }
    stage = document.get("stage")
    title = str(document.get("stage_title") or "")
    deny_action = document.get("deny_action", "Drop")
    if deny_action not in ("Drop", "Reject"):
        raise _Invalid(f"deny_action {deny_action!r} is neither Drop nor Reject")
    return ProbeResult(
        observed=observed,
        expected=expected,
        context=str(document.get("context", "")),
        stage=None if stage is None else str(stage),
        probed_at=probed_at,
        stage_title=title,
        pods=pods,
        deny_action=str(deny_action),
    )


def load_probe_result(path: Path) -> ProbeResult:
    """Read a result saved by ``probe --save`` or ``--output json``; ``LabError`` says the fix."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise LabError(
            f"{path}: no such file: save a probe result with `netpol-lab probe --save` first",
            ExitStatus.USAGE,
        ) from error
    except OSError as error:
        raise LabError(f"{path}: cannot read it: {error.strerror}", ExitStatus.USAGE) from error
    try:
        return probe_result_from_dict(json.loads(text))
    except json.JSONDecodeError as error:
        raise LabError(
            f"{path}: not JSON ({error.msg} at line {error.lineno}): pass a file written by "
            "`netpol-lab probe --save` or `--output json`",
            ExitStatus.USAGE,
        ) from error
    except ValueError as error:
        raise LabError(
            f"{path}: {error}: pass a file written by `netpol-lab probe --save` or `--output json`",
            ExitStatus.USAGE,
        ) from error


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
    number = re.match(r"\d+", stage)
    return (0, int(number.group()) if number else 1 << 30, stage)


def newest_per_stage(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    """The latest result of each stage, ordered by stage number (results without a stage last)."""
    newest: dict[str | None, ProbeResult] = {}
    for result in results:
        kept = newest.get(result.stage)
        if kept is None or result.probed_at > kept.probed_at:
            newest[result.stage] = result
    return sorted(newest.values(), key=lambda r: _stage_key(r.stage))
