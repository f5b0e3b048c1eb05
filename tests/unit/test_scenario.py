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
    container, *sidecars = template["spec"]["containers"]
    assert container["name"] == "agnhost"
    assert container["image"] == pins.AGNHOST_IMAGE
    # netexec serves HTTP and UDP on the same number (its UDP server answers `hostname`)
    assert f"--http-port={workload.port}" in container["args"]
    assert f"--udp-port={workload.port}" in container["args"]
    assert container["ports"] == [
        {"name": workload.port_name, "containerPort": workload.port, "protocol": "TCP"},
        {"name": workload.udp_port_name, "containerPort": workload.port, "protocol": "UDP"},
    ]
    if not workload.sctp:
        assert sidecars == []
        return
    [sctp] = sidecars
    assert sctp["image"] == pins.AGNHOST_IMAGE
    assert sctp["ports"] == [
        {"name": workload.sctp_port_name, "containerPort": workload.port, "protocol": "SCTP"}
    ]
    [script] = sctp["args"]
    # serves SCTP where the kernel has it, and idles instead of crash-looping where it has not
    assert f"--sctp-port={workload.port}" in script and "--udp-port=-1" in script
    assert script.endswith("|| exec /agnhost pause")
    assert f"--http-port={workload.port}" not in script  # the main container has that port
    annotations = template["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/default-container"] == "agnhost"  # what the probes exec into


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


def test_columns_name_their_protocol_and_family() -> None:
    assert scenario.parse_column("database:3306/sctp").protocol == "SCTP"
    assert scenario.parse_column("backend:80/udp").protocol == "UDP"
    assert scenario.parse_column("backend:80").protocol == "TCP"
    assert scenario.parse_column("dns").protocol == "UDP"
    assert scenario.parse_column("dns/tcp").protocol == "TCP"
    twin = scenario.parse_column("backend:80/udp@v6")
    assert (twin.family, twin.base, twin.workload) == (6, "backend:80/udp", scenario.BY_NAME["backend"])
    with pytest.raises(ValueError, match="unknown matrix column"):
        scenario.parse_column("svc/backend:80@v6")  # Services keep one family


def test_a_dual_stack_lab_puts_each_ipv6_twin_beside_its_column() -> None:
    dual = scenario.columns_for(scenario.DUAL)
    assert scenario.columns_for(scenario.IPV4) == scenario.COLUMNS
    assert [c for c in dual if not c.endswith(scenario.IPV6_SUFFIX)] == list(scenario.COLUMNS)
    for column in dual:
        if column.endswith(scenario.IPV6_SUFFIX):
            assert dual[dual.index(column) - 1] == column.removesuffix(scenario.IPV6_SUFFIX)
    assert "metadata@v6" in dual and "dns@v6" not in dual
