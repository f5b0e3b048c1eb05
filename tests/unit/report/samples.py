# ruff: noqa: E501  (the expectation table below is wider than a code line)
"""Probe results to render: the seed stage's expectation and observations that disagree with it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from lab.matrix import Cell, Matrix, Verdict
from lab.result import PodInfo, ProbeResult

SEED_TABLE = """
from      frontend:80 backend:80 database:3306 untrusted:80 svc/backend:80 svc/database:3306 dns   outside metadata
frontend  -           ALLOW      DENY          DENY         ALLOW          DENY              ALLOW DENY    DENY
backend   DENY        -          ALLOW         DENY         -              ALLOW             ALLOW DENY    DENY
database  DENY        DENY       -             DENY         DENY           -                 ALLOW DENY    DENY
untrusted DENY        DENY       DENY          -            DENY           DENY              ALLOW ALLOW   ALLOW
"""

REPRODUCE = (
    "kubectl --context kind-netpol-lab exec -n frontend deploy/frontend -- "
    "/agnhost connect 10.244.1.7:80 --timeout=2s"
)
PROBED_AT = datetime(2026, 11, 2, 10, 15, 0, tzinfo=timezone.utc)


def seed_expected() -> Matrix:
    expected = Matrix.from_table(SEED_TABLE, title="stage 4")
    expected.set(
        "untrusted",
        "backend:80",
        Cell(
            Verdict.DENY,
            reason="policy backend/allow-frontend selects the pod; no rule admits namespace untrusted",
        ),
    )
    return expected


def observed_as_expected(expected: Matrix) -> Matrix:
    """Every cell observed as expected, in one try (self cells stay unjudged)."""
    observed = Matrix(title=expected.title)
    for row, column, cell in expected:
        tries = 0 if cell.verdict == Verdict.NOT_JUDGED else 1
        observed.set(row, column, Cell(cell.verdict, reason="", tries=tries, command=f"probe {row} {column}"))
    return observed


def observed_with_problems(expected: Matrix) -> Matrix:
    """Two wrong cells, one inconclusive cell, one failed check, a REFUSED that counts as ALLOW."""
    observed = observed_as_expected(expected)
    observed.set("frontend", "backend:80", Cell(Verdict.DENY, "TIMEOUT", 10, REPRODUCE))
    observed.set(
        "untrusted", "database:3306", Cell(Verdict.ALLOW, "connected", 1, "probe untrusted database")
    )
    observed.set(
        "untrusted",
        "outside",
        Cell(Verdict.INCONCLUSIVE, "the control could not reach 1.1.1.1:443 either (no internet?)", 3),
    )
    observed.set("database", "dns", Cell(Verdict.CHECK_FAILED, "exec failed: container not running", 1))
    observed.set("backend", "database:3306", Cell(Verdict.REFUSED, "REFUSED", 1))
    return observed


def seed_result(*, problems: bool = True, stage: str = "4") -> ProbeResult:
    expected = seed_expected()
    observed = observed_with_problems(expected) if problems else observed_as_expected(expected)
    return ProbeResult(
        observed=observed,
        expected=expected,
        context="kind-netpol-lab",
        stage=stage,
        probed_at=PROBED_AT,
        stage_title="Stage 4: backend to database on 3306",
        pods={
            "frontend": PodInfo("frontend", "netpol-lab-worker", "10.244.1.7"),
            "backend": PodInfo("backend", "netpol-lab-worker2", "10.244.2.4"),
            "database": PodInfo("database", "netpol-lab-worker", "10.244.1.9"),
            "untrusted": PodInfo("untrusted", "netpol-lab-worker2", "10.244.2.8"),
        },
    )


def open_result() -> ProbeResult:
    """Stage 0 as observed: every pair connects, nothing expected."""
    result = seed_result(problems=False, stage="0")
    for row, column, cell in list(result.observed):
        if cell.verdict != Verdict.NOT_JUDGED:
            result.observed.set(row, column, Cell(Verdict.ALLOW, tries=1))
    return replace(result, expected=None, stage_title="Stage 0: an open cluster")


# Names from a saved result file are hostile input: each tries to break out of text, of a quoted
# attribute, or of an entity. (No ":" in the pod name: a matrix column is ``pod:port``.)
HOSTILE_POD = """<script>alert("pod")</script> & 'x' &amp;"""
HOSTILE_NAMESPACE = """ns"><img src=x onerror=alert(1)>&"""
HOSTILE_CONTEXT = """<script>alert('ctx')</script> "q" & <b>"""
HOSTILE_REASON = """policy <i>x</i> & "y" denies"""


def _renamed(matrix: Matrix, old: str, new: str) -> Matrix:
    out = Matrix(title=matrix.title)
    for row, column, cell in matrix:
        pod = column.removeprefix("svc/").split(":", 1)[0]
        out.set(new if row == old else row, column.replace(old, new, 1) if pod == old else column, cell)
    return out


def hostile_result() -> ProbeResult:
    """The seed result with the impostor pod, its namespace, the context and a reason named to attack the page."""
    result = seed_result()
    assert result.expected is not None
    expected = _renamed(result.expected, "untrusted", HOSTILE_POD)
    expected.set(HOSTILE_POD, "frontend:80", Cell(Verdict.DENY, reason=HOSTILE_REASON))
    pods = {name: info for name, info in result.pods.items() if name != "untrusted"}
    pods[HOSTILE_POD] = PodInfo(HOSTILE_NAMESPACE, "netpol-lab-worker2", "10.244.2.8")
    return replace(
        result,
        observed=_renamed(result.observed, "untrusted", HOSTILE_POD),
        expected=expected,
        context=HOSTILE_CONTEXT,
        stage="hostile",
        stage_title="Names that attack the page",
        pods=pods,
    )
