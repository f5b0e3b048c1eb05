"""The check's verdicts against a second opinion: for every exercise, its solution and each wrong
answer, every cell the check judges on a pod or an address is judged again by the model's own
policy oracle (tests/model/policy_oracle.py, written apart from lab.policy), on the same objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.env import project_root
from lab.matrix import Verdict
from lab.policy.model import ClusterState
from lab.workshop.check import COREDNS, Judge, build_state, plan_check, read_answers
from lab.workshop.exercises import Exercise, load_exercises
from lab.workshop.stages import cumulative_documents, load_stages, stage_by_name
from tests.model.policy_oracle import End, Oracle

ROOT = project_root()
# every answer the check judges (those with objects outside the scope are refused, not judged)
CASES = [
    (e, p)
    for e in load_exercises(ROOT)
    for p in (e.solution, *e.wrong_answers)
    if not read_answers(ROOT, e, [str(p)])[2]
]


def _oracle(state: ClusterState, documents: list[dict[str, Any]]) -> Oracle:
    namespaces = [{"metadata": {"name": n.name, "labels": dict(n.labels)}} for n in state.namespaces.values()]
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    cluster = [d for d in documents if d["kind"] == "ClusterNetworkPolicy"]
    return Oracle(namespaces, policies, cluster)


def _pod(state: ClusterState, key: str) -> dict[str, Any] | None:
    pod = state.pod(key)
    if pod is None:
        return None
    ports = [{"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in pod.ports]
    return {
        "metadata": {"namespace": pod.namespace, "name": pod.name, "labels": dict(pod.labels)},
        "spec": {"containers": [{"ports": ports}]},
        "status": {"podIP": pod.ip},
    }


@pytest.mark.parametrize(("exercise", "answer"), CASES, ids=lambda x: getattr(x, "name", ""))
def test_the_oracle_agrees_with_every_judged_cell(exercise: Exercise, answer: Path) -> None:
    plan = plan_check(ROOT, exercise, [str(answer)])
    stages = load_stages(ROOT)
    stage = stage_by_name(stages, exercise.stage)
    documents = [*cumulative_documents(stages, stage.number), *plan.world, *plan.answers]
    state = build_state(ROOT, exercise.stage, [*plan.world, *plan.answers], outside="1.1.1.1:443", source="t")
    judge, oracle = Judge(state), _oracle(state, documents)
    compared = 0
    for probe in plan.probes:
        target = probe.target
        if target.kind not in ("pod", "address", "dns"):
            continue
        source = _pod(state, probe.source)
        assert source is not None, probe.source
        if target.kind == "address":
            destination = End(target.ip)
        else:
            raw = _pod(state, COREDNS if target.kind == "dns" else target.pod)
            assert raw is not None
            destination = oracle.end(raw["status"]["podIP"], raw)
        if destination.pod is not None and destination.pod["metadata"] == source["metadata"]:
            continue
        second = oracle.allowed(
            oracle.end(source["status"]["podIP"], source), destination, target.port, target.protocol
        )
        first = judge.cell(probe.source, target)
        assert first.verdict in (Verdict.ALLOW, Verdict.DENY), (probe.row, probe.column, first)
        assert (first.verdict == Verdict.ALLOW) == second, (probe.row, probe.column, first.reason)
        compared += 1
    assert compared >= 10


def test_most_answers_are_compared() -> None:
    assert len(CASES) == 21  # six solutions and fifteen wrong answers; three are refused
