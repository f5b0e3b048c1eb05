"""Controls: a blocked attempt to leave the cluster only proves a policy if it works without one.

A probe to the outside address or to 169.254.169.254 that times out may mean "the policy
blocks it" or "nothing is there" (a laptop without internet; kind has no metadata server
unless the lab's stand-in runs). So the same targets are tried from a control: the lab's
control pod (``netpol-lab-control/control``, selected by no policy and exempted from the
stage 6 guardrails). A blocked cell in those columns stays DENY only when the control
reaches the same target; otherwise it becomes inconclusive (``?``) with the reason, never a
pass. Without the control pod, the ``untrusted`` row serves as control wherever the
expectation says nothing blocks it (stages 0-5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from lab import scenario
from lab.boundary.kube import LabPod
from lab.matrix import Cell, Matrix, Verdict
from lab.probe.targets import Probe, plan_probes

CONTROL_NAMESPACE = "netpol-lab-control"
CONTROL_APP = "control"
CONTROL_ROW = "control"  # the row name of the control's probes (kept out of the lab matrix)
FALLBACK_ROW = "untrusted"  # selected by no policy at stages 0-5
CONTROLLED_COLUMNS: tuple[str, ...] = (scenario.OUTSIDE_COLUMN, scenario.METADATA_COLUMN)


def controlled_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns among ``columns`` a control must back up: outside and metadata, both families."""
    return tuple(c for c in columns if c.removesuffix(scenario.IPV6_SUFFIX) in CONTROLLED_COLUMNS)


REACHED = (Verdict.ALLOW, Verdict.REFUSED)

WHY_UNREACHABLE = {
    scenario.OUTSIDE_COLUMN: "this cluster may have no route to the internet (try --outside HOST:PORT "
    "with an address it can reach)",
    scenario.METADATA_COLUMN: "nothing answers at 169.254.169.254 here (the lab's metadata stand-in is "
    "not running: `make lab-up` deploys it)",
    scenario.ipv6_column(scenario.OUTSIDE_COLUMN): "this cluster may have no IPv6 route to the internet "
    "(most Docker setups have none)",
    scenario.ipv6_column(scenario.METADATA_COLUMN): f"nothing answers at {scenario.METADATA_IP_V6} here "
    "(AWS's IPv6 metadata address; the lab's stand-in serves IPv4 only)",
}


@dataclass(frozen=True)
class Controls:
    """What the control saw for each controlled column (a column missing: no control for it)."""

    name: str  # for messages: "the control pod" or "untrusted"
    cells: Mapping[str, Cell] = field(default_factory=dict)
    row: str | None = None  # the matrix row used as control, when it is one of the lab's rows


def plan_control_probes(
    control: LabPod,
    *,
    outside: tuple[str, int],
    timeout: float,
    kubectl: Sequence[str] = ("kubectl",),
    columns: Sequence[str] = CONTROLLED_COLUMNS,
) -> list[Probe]:
    """The control pod's probes: the same targets as the lab rows, from a pod no policy selects."""
    return plan_probes(
        {CONTROL_ROW: control},
        outside=outside,
        timeout=timeout,
        rows=(CONTROL_ROW,),
        columns=columns,
        kubectl=kubectl,
    )


def controls_from_pod(observed: Matrix, columns: Sequence[str] = CONTROLLED_COLUMNS) -> Controls:
    """The control pod's cells, taken from the ``control`` row of a probe run."""
    cells = {c: observed.get(CONTROL_ROW, c) for c in columns if (CONTROL_ROW, c) in observed.cells}
    return Controls(f"the control pod ({CONTROL_NAMESPACE}/{CONTROL_APP})", cells)


def controls_from_row(
    observed: Matrix,
    expected: Matrix | None,
    *,
    row: str = FALLBACK_ROW,
    columns: Sequence[str] = CONTROLLED_COLUMNS,
) -> Controls:
    """A lab row as control, for the columns where its expectation says nothing blocks it."""
    cells = {}
    for column in columns:
        wanted = expected.get(row, column).verdict if expected is not None else Verdict.ALLOW
        if wanted == Verdict.ALLOW and (row, column) in observed.cells:
            cells[column] = observed.get(row, column)
    return Controls(f"{row} (selected by no policy)", cells, row)


def _inconclusive(cell: Cell, why: str) -> Cell:
    seen = f"{cell.reason}; " if cell.reason else ""
    return replace(cell, verdict=Verdict.INCONCLUSIVE, reason=f"{seen}{why}")


def judge_with_controls(
    observed: Matrix,
    controls: Controls,
    columns: Sequence[str] = CONTROLLED_COLUMNS,
    *,
    rejecting: bool = False,
) -> Matrix:
    """A copy of ``observed`` where each DENY in ``columns`` the control does not back up is ``?``.

    ``rejecting``: denied packets are rejected (Calico's Reject), so a blocked probe reads refused;
    then only a control that connected shows something answers there (a refusal may be a closed port)."""
    reached = (Verdict.ALLOW,) if rejecting else REACHED
    result = Matrix(rows=list(observed.rows), columns=list(observed.columns), title=observed.title)
    result.cells = dict(observed.cells)
    for column in columns:
        control = controls.cells.get(column)
        hint = WHY_UNREACHABLE.get(column, "nothing answers there")
        for row in observed.rows:
            cell = observed.get(row, column)
            if cell.verdict != Verdict.DENY:
                continue
            if control is None:
                why = f"no control shows that the target answers ({controls.name} is meant to be blocked too)"
                result.cells[(row, column)] = _inconclusive(cell, why)
            elif row == controls.row:
                why = f"this pod is the control and cannot reach the target: {hint}"
                result.cells[(row, column)] = _inconclusive(cell, why)
            elif control.verdict in reached:
                why = f"{controls.name} reaches it, so the block is a policy"
                result.cells[(row, column)] = replace(cell, reason=f"{cell.reason} ({why})")
            elif control.verdict == Verdict.CHECK_FAILED:
                why = f"the control probe from {controls.name} failed: {control.reason}"
                result.cells[(row, column)] = _inconclusive(cell, why)
            else:
                why = f"{controls.name} cannot reach it either ({control.verdict.value}): {hint}"
                result.cells[(row, column)] = _inconclusive(cell, why)
    return result
