"""What one probe run produced: the one result type every report takes (table, JSON, JUnit, HTML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lab.matrix import Comparison, Matrix


@dataclass(frozen=True)
class PodInfo:
    """Where a lab pod ran, as far as the probe knew it."""

    namespace: str
    node: str = ""
    ip: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """One probe run: the observed matrix, what was expected, and where and when it ran."""

    observed: Matrix
    expected: Matrix | None
    context: str
    stage: str | None
    probed_at: datetime
    stage_title: str = ""
    pods: dict[str, PodInfo] = field(default_factory=dict)
    deny_action: str = "Drop"  # what the CNI did with denied packets (Drop, or Calico's Reject)

    @property
    def comparison(self) -> Comparison | None:
        return self.expected.compare(self.observed) if self.expected is not None else None
