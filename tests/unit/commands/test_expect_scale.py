"""`netpol-lab expect` per group of pods: the streamed JSON (format version 2), `--explain`, and the
text report beyond a table's size, each checked flow by flow against the version 1 document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.cli import run
from lab.errors import ExitStatus
from tests.fakes import captured_env, errors, output
from tests.unit.policy.builders import namespace, pod, policy

WEB = [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]


def replicas_state(tmp_path: Path, count: int = 12) -> Path:
    """Two namespaces of Deployments with replicas: api (named port ingress from web), web (egress
    to api, and out through an ipBlock with except), db (default deny) and an unrelated label."""
    items: list[dict[str, Any]] = [namespace("shop", team="a"), namespace("ops", team="b")]
    for i in range(count):
        items.append(
            pod(f"shop/api-{i}", f"10.1.0.{i + 1}", {"app": "api", "pod-template-hash": f"h{i}"}, WEB)
        )
        items.append(pod(f"shop/web-{i}", f"10.1.1.{i + 1}", {"app": "web"}, WEB))
        items.append(pod(f"ops/db-{i}", f"10.2.0.{i + 1}", {"app": "db"}, [("sql", 5432, "TCP")]))
    items += [
        policy("ops", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            "shop",
            "api-from-web",
            {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "http"}]}
                ],
            },
        ),
        policy(
            "shop",
            "web-out",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "podSelector": {
                                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]
                                }
                            }
                        ]
                    },
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                        "ports": [{"port": 443}],
                    },
                ],
            },
        ),
    ]
    path = tmp_path / "state.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def lines_of(command: list[str]) -> list[dict[str, Any]]:
    env = captured_env()
    assert run(command, env) == ExitStatus.SUCCESS, errors(env)
    return [json.loads(line) for line in output(env).splitlines()]


def v1_flows(command: list[str]) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    env = captured_env()
    assert run([*command, "--output", "json-v1"], env) == ExitStatus.SUCCESS, errors(env)
    return {(f["from"], f["to"], f["port"], f["protocol"]): f for f in json.loads(output(env))["flows"]}


def pod_verdicts(lines: list[dict[str, Any]]) -> dict[tuple[str, str, int, str], bool]:
    """Every pod-to-pod (and pod-to-target) verdict a version 2 stream states."""
    groups = {line["id"]: line for line in lines if line["kind"] == "group"}
    group_of = {key: gid for gid, line in groups.items() for key in line["pods"]}
    sets: dict[str, set[str]] = {}
    verdicts = {}
    for line in lines:
        if line["kind"] == "sources":
            sets[line["id"]] = set(line["groups"])
        elif line["kind"] == "flow":
            allowed = sets[line["from"]]  # KeyError: a set used before it was written
            targets = groups[line["to"]]["pods"] if line["to"] in groups else [line["to"]]
            for target in targets:
                for source, gid in group_of.items():
                    verdict = source == target or gid in allowed
                    verdicts[(source, target, line["port"], line["protocol"])] = verdict
    return verdicts


@pytest.mark.parametrize("where", ["replicas", "stage 3", "stage 6"])
def test_json_lines_state_every_verdict_of_the_v1_document(tmp_path: Path, where: str) -> None:
    if where == "replicas":
        command = ["expect", "--state", str(replicas_state(tmp_path)), "--to", "1.1.1.1:443"]
    else:
        command = ["expect", "--stage", where.split()[1]]
    lines = lines_of([*command, "--output", "json"])
    header, end = lines[0], lines[-1]
    assert header["kind"] == "header" and header["format"] == "netpol-lab/expect" and header["version"] == 2
    assert end == {
        "kind": "end",
        "flows": sum(line["kind"] == "flow" for line in lines),
        "sources": end["sources"],
    }
    assert header["explained"] is False and not any("why" in line for line in lines)
    v1 = v1_flows(command)
    assert {key: flow["allowed"] for key, flow in v1.items()} == pod_verdicts(lines)
    assert sum(verdict for verdict in pod_verdicts(lines).values()) > len(v1) // 10  # not all denied


def test_replicas_are_one_group_each(tmp_path: Path) -> None:
    lines = lines_of(["expect", "--state", str(replicas_state(tmp_path)), "--output", "json"])
    groups = [line for line in lines if line["kind"] == "group"]
    assert lines[0]["pods"] == 36 and len(groups) == 3
    assert sorted(g["labels"]["app"] for g in groups) == [
        "api",
        "db",
        "web",
    ]  # pod-template-hash: no selector
    assert all("pod-template-hash" not in g["labels"] and len(g["pods"]) == 12 for g in groups)


def test_explain_gives_every_group_its_reason(tmp_path: Path) -> None:
    command = ["expect", "--state", str(replicas_state(tmp_path, count=2))]
    lines = lines_of([*command, "--output", "json", "--explain"])
    assert lines[0]["explained"] is True
    groups = {line["id"]: line["pods"] for line in lines if line["kind"] == "group"}
    v1 = v1_flows(command)
    flows = [line for line in lines if line["kind"] == "flow"]
    assert flows and all(set(line["why"]) == set(groups) for line in flows)
    for line in flows:
        target = groups[line["to"]][0]
        for gid, reason in line["why"].items():
            source = groups[gid][0]
            if source == target:  # a group's own line is explained from its first pod to its second
                target_pod = groups[gid][1]
                assert reason == v1[(source, target_pod, line["port"], line["protocol"])]["reason"]
            else:
                assert reason == v1[(source, target, line["port"], line["protocol"])]["reason"]


def test_explain_goes_with_json_only() -> None:
    env = captured_env()
    assert run(["expect", "--explain"], env) == ExitStatus.USAGE
    assert "--explain goes with --output json" in errors(env)


def test_beyond_a_table_the_report_lists_groups_and_who_may_connect(tmp_path: Path) -> None:
    env = captured_env()
    assert run(["expect", "--state", str(replicas_state(tmp_path)), "--to", "1.1.1.1:443"], env) == 0
    text = output(env).splitlines()
    assert "36 pods in 3 groups" in text[1]
    groups = {line.split()[0]: line for line in text if line.startswith("  g") and " pods " in line}
    api = next(g for g, line in groups.items() if "app=api" in line)
    web = next(g for g, line in groups.items() if "app=web" in line)
    db = next(g for g, line in groups.items() if "app=db" in line)
    assert "shop/api-0, shop/api-1, shop/api-10, ... (9 more)" in groups[api]
    flows = {line.split(" <- ")[0].strip(): line.split(" <- ")[1] for line in text if " <- " in line}
    assert flows[f"{api}:8080/TCP"] == f"{web}"  # only web, on the named port
    assert flows[f"{api}:9090/TCP"] == "nobody"
    assert flows[f"{db}:5432/TCP"] == "nobody"  # default deny
    assert flows[f"{web}:8080/TCP"] == api  # web is open, but web may only send to api, db nothing
    assert flows["1.1.1.1:443/TCP"] == f"every group but {db}"
