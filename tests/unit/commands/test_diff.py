"""`netpol-lab diff`: two sides (stages, state files), a table and JSON, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from lab.cli import run
from lab.errors import ExitStatus
from tests.fakes import captured_env, errors, output
from tests.unit.policy.builders import namespace, pod, policy


def test_stage_4_to_5_as_a_table_names_the_policy_on_both_sides() -> None:
    env = captured_env()
    assert run(["diff", "--stage", "4", "--stage", "5"], env) == ExitStatus.SUCCESS
    lines = output(env).splitlines()
    assert lines[0].startswith("A = stage 4-seed, B = stage 5-backend-outside: 2 opened, 0 closed")
    assert lines[1] == "  opened: backend/backend -> 1.1.1.1:443/TCP (outside)"
    assert lines[2].startswith("    A: DENY  egress: backend/backend is isolated by")
    assert lines[3] == "    B: ALLOW egress: allowed by backend/backend-to-outside spec.egress[0]"
    assert lines[4] == "  opened: backend/backend -> 2606:4700:4700::1111:443/TCP (outside@v6)"
    assert "synthetic" in errors(env)


def test_words_and_json() -> None:
    env = captured_env()
    assert run(["diff", "2", "seed", "--output", "json"], env) == ExitStatus.SUCCESS
    document = json.loads(output(env))
    assert (document["a"], document["b"]) == ("stage 2-dns", "stage 4-seed")
    by = {(c["from"], c["to"], c["port"], c["protocol"]): c for c in document["changes"]}
    trap = by[("database/database", "kube-system/kube-dns", 53, "TCP")]
    assert trap["change"] == "opened" and trap["target"] is None
    assert trap["before"]["verdict"] == "DENY"
    assert "database/allow-dns-over-tcp-egress" in trap["after"]["reason"]
    assert all(
        set(c) == {"change", "from", "to", "port", "protocol", "target", "before", "after"}
        for c in document["changes"]
    )
    assert document["unchanged"] > 0


def test_a_state_file_against_a_stage_in_the_order_given(tmp_path: Path) -> None:
    objects = [
        namespace("backend"),
        pod(
            "backend/backend-6d8f-x1",
            "192.168.1.5",
            {"app": "backend", "role": "backend"},
            [("http", 80, "TCP")],
        ),
        policy("backend", "open", {"podSelector": {}, "ingress": [{}]}),
    ]
    saved = tmp_path / "state.yaml"
    saved.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    env = captured_env()
    assert run(["diff", "--state", str(saved), "--stage", "seed"], env) == ExitStatus.SUCCESS
    head = output(env).splitlines()[0]
    assert head.startswith(f"A = {saved}, B = stage 4-seed:")
    assert "only in B" in head  # the seed's other pods are not in the file


def test_two_sides_exactly() -> None:
    for argv in (["diff", "--stage", "4"], ["diff", "1", "2", "3"], ["diff"]):
        env = captured_env()
        assert run(argv, env) == ExitStatus.USAGE
        assert len(errors(env).strip().splitlines()) == 1
        assert "diff compares two sides" in errors(env)


def test_an_unknown_stage_is_one_line() -> None:
    env = captured_env()
    assert run(["diff", "--stage", "4", "--stage", "9"], env) == ExitStatus.USAGE
    assert "no stage '9'" in errors(env)


def test_cluster_options_need_from_cluster() -> None:
    env = captured_env()
    assert run(["diff", "4", "5", "--context", "kind-x"], env) == ExitStatus.USAGE
    assert "--kubeconfig and --context go with --from-cluster" in errors(env)
