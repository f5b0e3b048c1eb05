"""What changes between two policy sets: the flows that open, close, or are decided by another rule.

Each state is judged flow by flow, as ``expect --output json`` does: every pod to every port a pod
declares (each protocol apart) and to the outside targets. The two sides are matched by flow: a pod
is known by its namespace and its ``app`` (or ``k8s-app``, ``app.kubernetes.io/name``) label, so a
stage's modelled ``backend/backend`` and a live ``backend/backend-7f9c-x0`` are the same pod; pods
without such a label, or several with one, are known by name (replicas of one workload share their
labels and ports, so the first in name order stands for them all).

A flow's *decision* is, per side that decides it, the policy and rule that allowed or denied it, the
tier that ended in a deny, or that no policy isolates the pod, or that policies isolate it and no
rule allows it. A flow whose verdict stays and whose decision moves to another rule "changes
reason"; a flow merely isolated by one more policy, still allowed by nothing, does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lab.errors import ExitStatus, LabError
from lab.policy.engine import Engine
from lab.policy.explain import Explainer, Explanation, Side
from lab.policy.model import ClusterState, ExternalTarget, Pod

OPENED, CLOSED, REASON, ADDED, REMOVED = "opened", "closed", "reason", "added", "removed"
# Kinds in the order a change list is shown.
KINDS = (OPENED, CLOSED, REASON, ADDED, REMOVED)
MAX_FLOWS = 200_000  # per side: each flow is explained, and a person reads the result
IDENTITY_LABELS = ("app", "k8s-app", "app.kubernetes.io/name")


@dataclass(frozen=True)
class FlowKey:
    source: str  # the pod's identity (namespace/app)
    target: str  # a pod's identity, or an address
    port: int
    protocol: str
    label: str = ""  # the outside target's name (outside, metadata), when it has one

    def text(self) -> str:
        where = f" ({self.label})" if self.label else ""
        return f"{self.source} -> {self.target}:{self.port}/{self.protocol}{where}"


@dataclass(frozen=True)
class Judged:
    """One side's verdict on a flow, why, and the decision it rests on."""

    allowed: bool
    reason: str
    decision: tuple[Any, ...]

    @property
    def word(self) -> str:
        return "ALLOW" if self.allowed else "DENY"


@dataclass(frozen=True)
class FlowChange:
    key: FlowKey
    kind: str  # OPENED, CLOSED, REASON, ADDED (only in B), REMOVED (only in A)
    before: Judged | None
    after: Judged | None


@dataclass(frozen=True)
class StateDiff:
    before: str  # what each side is, for the headline
    after: str
    changes: tuple[FlowChange, ...]
    unchanged: int

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


def identities(pods: Iterable[Pod]) -> dict[str, str]:
    """pod key -> the name it is matched by across the two states."""
    wanted: dict[str, str] = {}
    for pod in pods:
        label = next((pod.labels[k] for k in IDENTITY_LABELS if pod.labels.get(k)), None)
        wanted[pod.key] = f"{pod.namespace}/{label}" if label else pod.key
    return wanted


def _side_decision(side: Side) -> tuple[Any, ...]:
    if side.pod is None:
        return ("no pod",)
    if not side.isolating:
        return ("not isolated",)
    for decision, word in ((side.allowed_by, "allowed"), (side.denied_by, "denied")):
        if decision is not None:
            policy, number = decision
            return (word, type(policy).__name__, policy.key, number)
    if side.ended_by is not None:
        return ("tier ends in deny", side.ended_by.name)
    if side.ordered:
        last = side.passed_by[-1] if side.passed_by else None
        return ("profile", (last[0].key, last[1]) if last else None)
    return ("isolated, no rule allows",)


def decision_of(flow: Explanation) -> tuple[Any, ...]:
    """What decides a flow: for a denied one the sides that deny it, for an allowed one both sides."""
    sides = [flow.egress] if flow.destination is None else [flow.egress, flow.ingress]
    if not flow.allowed:
        sides = [s for s in sides if not s.allowed]
    return tuple((s.direction, _side_decision(s)) for s in sides)


def judge_flows(state: ClusterState) -> dict[FlowKey, Judged]:
    """Every flow of ``state`` with its verdict, reason and decision (a pod to itself left out)."""
    names = identities(state.pods)
    representatives: dict[str, Pod] = {}
    for pod in sorted(state.pods, key=lambda p: p.key):
        representatives.setdefault(names[pod.key], pod)
    pods = list(representatives.values())
    destinations: list[tuple[Pod | ExternalTarget, int, str]] = []
    for pod in pods:
        for number, protocol in dict.fromkeys((p.port, p.protocol) for p in pod.ports):
            destinations.append((pod, number, protocol))
    destinations += [(target, target.port, target.protocol) for target in state.targets]
    if len(pods) * len(destinations) > MAX_FLOWS:
        raise LabError(
            f"{state.source}: {len(pods):,} pods x {len(destinations):,} destinations is more flows than "
            f"the {MAX_FLOWS:,} diff compares; save fewer namespaces (`kubectl get ... -n NAMESPACE`)",
            ExitStatus.USAGE,
        )
    engine = Engine(state)
    explainer = Explainer(state)
    out: dict[FlowKey, Judged] = {}
    for source in pods:
        position = engine.position[source.key]
        for target, port, protocol in destinations:
            if target is source:
                continue
            if isinstance(target, ExternalTarget):
                allowed = engine.ip_allowed(position, target.ip, port, protocol)
                flow = explainer.flow(source, target.ip, port, protocol)
                key = FlowKey(names[source.key], target.ip, port, protocol, target.label)
            else:
                allowed = engine.pod_allowed(position, engine.position[target.key], port, protocol)
                flow = explainer.flow(source, target, port, protocol)
                key = FlowKey(names[source.key], names[target.key], port, protocol)
            if flow.allowed != allowed:  # two independent evaluations; never expected to differ
                raise LabError(
                    f"{state.source}: the engine and the explanation disagree on {key.text()}; "
                    "please report this state"
                )
            out[key] = Judged(allowed, flow.reason(), decision_of(flow))
    return out


def diff_states(before: ClusterState, after: ClusterState) -> StateDiff:
    """The flows that open, close or change reason from ``before`` to ``after`` (and those in one only)."""
    old, new = judge_flows(before), judge_flows(after)
    changes: list[FlowChange] = []
    unchanged = 0
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key), new.get(key)
        if a is None:
            changes.append(FlowChange(key, ADDED, None, b))
        elif b is None:
            changes.append(FlowChange(key, REMOVED, a, None))
        elif a.allowed != b.allowed:
            changes.append(FlowChange(key, OPENED if b.allowed else CLOSED, a, b))
        elif a.decision != b.decision:
            changes.append(FlowChange(key, REASON, a, b))
        else:
            unchanged += 1
    changes.sort(key=lambda c: KINDS.index(c.kind))
    return StateDiff(before.source, after.source, tuple(changes), unchanged)
