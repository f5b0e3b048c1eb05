# ruff: noqa: E501  (the expectation table below is wider than a code line)
"""Probe results to render: the seed stage's expectation and observations that disagree with it."""

from __future__ import annotations

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
