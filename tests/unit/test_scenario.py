"""The workload manifests agree with lab/scenario.py and with the pins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import pins, scenario
from lab.env import project_root

WORKLOADS = project_root() / "manifests" / "workloads"


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def objects(kind: str) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(WORKLOADS.glob("*.yaml")):
        for doc in load(path):
            if doc["kind"] == kind:
                found[doc["metadata"]["name"]] = doc
    return found


@pytest.mark.parametrize("workload", scenario.WORKLOADS, ids=lambda w: w.name)
def test_deployment_matches_the_scenario(workload: scenario.Workload) -> None:
    deployment = objects("Deployment")[workload.name]
    assert deployment["metadata"]["namespace"] == workload.namespace
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"]["role"] == workload.role
    assert template["metadata"]["labels"]["app"] == workload.name
    assert template["spec"]["nodeSelector"] == {scenario.SLOT_LABEL: workload.slot}
    [container] = template["spec"]["containers"]
    assert container["image"] == pins.AGNHOST_IMAGE
    assert f"--http-port={workload.port}" in container["args"]
    declared = {"name": workload.port_name, "containerPort": workload.port, "protocol": "TCP"}
    assert container["ports"] == [declared]


@pytest.mark.parametrize("workload", scenario.WORKLOADS, ids=lambda w: w.name)
def test_service_targets_the_named_port(workload: scenario.Workload) -> None:
    service = objects("Service")[workload.name]
    assert service["spec"]["selector"] == {"app": workload.name}
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (workload.port, workload.port_name)


def test_placement_crosses_nodes_for_allowed_and_denied_flows() -> None:
    slot = {w.name: w.slot for w in scenario.WORKLOADS}
    assert slot["frontend"] != slot["backend"]  # allowed, across nodes
    assert slot["backend"] != slot["database"]  # allowed, across nodes
    assert slot["untrusted"] == slot["backend"]  # denied, same node
    assert slot["untrusted"] != slot["frontend"]  # denied, across nodes


def test_namespaces_enforce_restricted() -> None:
    namespaces = objects("Namespace")
    assert sorted(namespaces) == sorted(scenario.LAB_NAMESPACES)
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_impostor_carries_the_frontend_role() -> None:
    assert scenario.BY_NAME["untrusted"].role == scenario.BY_NAME["frontend"].role
    assert scenario.column_workload("svc/backend:80") is scenario.BY_NAME["backend"]
    assert scenario.column_workload("outside") is None
