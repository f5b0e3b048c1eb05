"""`netpol-lab check --live` against the model cluster, with a dataplane that enforces what is applied.

The model's dataplane here is ``tests.model.policyplane``: it evaluates the NetworkPolicies and
ClusterNetworkPolicies the model holds with its own small evaluator (tests/model/policy_oracle.py),
not with the lab's. So a live check that passes means the lab's apply, its probes and its grading
agree with an independent judgement of the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import cli
from lab.errors import ExitStatus
from lab.lifecycle import build, waits
from tests.fakes import errors, output
from tests.model.policyplane import policy_dataplane
from tests.model.world import KUBECTL, NO_KUBECTL, LabWorld

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    """One Calico lab on the policy-enforcing dataplane, at stage 4, for every test below."""
    if KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    patch = pytest.MonkeyPatch()
    patch.setattr(waits, "POLL_INTERVAL", 0.1)
    patch.setattr(build, "ENFORCEMENT_INTERVAL", 0.1)
    world = LabWorld(tmp_path_factory.mktemp("check-lab"), dataplane=policy_dataplane())
    for name in ("exercises",):
        (world.root / name).symlink_to(ROOT / name)
    try:
        status, _, err = run(world, "up")
        assert status == ExitStatus.SUCCESS, err
        status, _, err = run(world, "stage", "apply", "4", "--no-probe")
        assert status == ExitStatus.SUCCESS, err
        yield world
    finally:
        world.close()
        patch.undo()


def run(world: LabWorld, *argv: str) -> tuple[ExitStatus, str, str]:
    env = world.environment(NETPOL_LAB_PARTICIPANT="ada")
    status = cli.run(list(argv), env)
    return status, output(env), errors(env)


def check(world: LabWorld, exercise: str, answer: str) -> tuple[ExitStatus, list[dict[str, Any]], str]:
    path = str(ROOT / "exercises" / exercise / answer)
    status, out, err = run(world, "check", exercise, path, "--live", "--output", "json")
    return status, [json.loads(line) for line in out.splitlines()], err


def test_the_shipped_solution_passes_live_and_every_cell_was_probed_or_says_why_not(lab: LabWorld) -> None:
    status, records, err = check(lab, "monitoring", "solution.yaml")
    result = records[-1]
    assert status == ExitStatus.SUCCESS, [r for r in records if not r.get("ok", True)]
    assert result["record"] == "result" and result["passed"] is True and result["mode"] == "live"
    assert any("netpol-lab/synthetic" in note for note in result["notes"])  # how to remove them
    cells = [r for r in records if r["record"] == "cell"]
    goal = [c for c in cells if c["check"] == "goal"]
    assert goal and all(c["how"] == "probed" for c in goal)
    prober = next(c for c in goal if (c["from"], c["to"]) == ("monitoring/prober", "backend:9090"))
    assert prober["got"] == "REFUSED"  # the packet got through; nothing listens on 9090
    udp = next(c for c in cells if c["to"] == "backend:9090/UDP")
    assert udp["how"].startswith("offline (UDP 9090 where nothing answers")
    # every step was echoed as a kubectl line a participant could type
    assert "$ kubectl --context kind-netpol-lab apply --server-side" in err
    assert "$ kubectl --context kind-netpol-lab wait -n monitoring --for=condition=Ready" in err
    names = lab.names("networking.k8s.io", "networkpolicies", "backend")
    assert "backend-metrics-from-prober" in names
    assert "netpol-lab-stranger" in lab.names("", "pods", "monitoring")


def test_a_too_open_answer_fails_live_on_the_stranger_and_the_old_answer_is_gone(lab: LabWorld) -> None:
    status, records, _ = check(lab, "monitoring", "wrong/too-open.yaml")
    assert status == ExitStatus.MISMATCH
    wrong = [r for r in records if r["record"] == "cell" and not r["ok"]]
    assert [(w["from"], w["to"], w["how"]) for w in wrong] == [
        ("monitoring/netpol-lab-stranger", "backend:9090", "probed")
    ]
    assert wrong[0]["problem"].startswith("gained access")
    # declarative: the previous answer (another set) was removed, the new one is in force
    names = lab.names("networking.k8s.io", "networkpolicies", "backend")
    assert "backend-metrics-from-monitoring" in names and "backend-metrics-from-prober" not in names


def test_a_guardrail_is_checked_live_with_cluster_network_policies(lab: LabWorld) -> None:
    status, records, _ = check(lab, "guardrail", "solution.yaml")
    assert status == ExitStatus.SUCCESS, [r for r in records if not r.get("ok", True)]
    assert lab.names("policy.networking.k8s.io", "clusternetworkpolicies") == [
        "database-never-from-untrusted"
    ]
    # the monitoring exercise's answers are gone: the cluster holds this exercise's objects only
    assert "backend-metrics-from-monitoring" not in lab.names(
        "networking.k8s.io", "networkpolicies", "backend"
    )
    status, records, _ = check(lab, "guardrail", "wrong/too-open.yaml")
    assert status == ExitStatus.MISMATCH
    wrong = {(r["from"], r["to"]) for r in records if r["record"] == "cell" and not r["ok"]}
    assert ("untrusted", "database:3306") in wrong


def test_a_lab_at_another_stage_is_not_changed(lab: LabWorld) -> None:
    status, _, err = run(
        lab, "check", "database-dns", str(ROOT / "exercises/database-dns/solution.yaml"), "--live"
    )
    assert status == ExitStatus.ERROR
    assert "this exercise starts from stage 1 and the lab is at stage 4" in err
    assert "netpol-lab stage apply 1" in err
    assert "database-dns" not in lab.names("networking.k8s.io", "networkpolicies", "database")
