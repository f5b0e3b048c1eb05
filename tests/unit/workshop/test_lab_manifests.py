"""The control workload and the metadata stand-in: valid, pinned, and only as privileged as needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lab import pins, scenario
from lab.env import project_root

ROOT = project_root()
CONTROL = ROOT / "manifests" / "control"
STANDIN = ROOT / "manifests" / "metadata-standin"
GUARDRAILS = ROOT / "stages" / "6-calico-guardrails"
CONTROL_NAMESPACE = "netpol-lab-control"


def docs(folder: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        found.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return found


def one(folder: Path, kind: str) -> dict[str, Any]:
    [obj] = [d for d in docs(folder) if d["kind"] == kind]
    return obj


@pytest.mark.parametrize("folder", [CONTROL, STANDIN], ids=lambda p: p.name)  # exercises: test_exercises.py
def test_manifests_validate_against_kubernetes_1_36(folder: Path) -> None:
    objects = docs(folder)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, "1.36", strict=True)
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "netpol-lab"


def pod_spec(folder: Path, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(folder, kind)["spec"]["template"]["spec"]
    return spec


def only_on_lab_workers(spec: dict[str, Any]) -> bool:
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    [term] = terms["nodeSelectorTerms"]
    return term["matchExpressions"] == [{"key": scenario.SLOT_LABEL, "operator": "Exists"}]


def test_control_is_restricted_and_pinned() -> None:
    namespace = one(CONTROL, "Namespace")
    assert namespace["metadata"]["name"] == CONTROL_NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert one(CONTROL, "Deployment")["metadata"]["namespace"] == CONTROL_NAMESPACE
    spec = pod_spec(CONTROL, "Deployment")
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = spec["containers"]
    assert container["image"] == pins.AGNHOST_IMAGE
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert only_on_lab_workers(spec)


def test_control_namespace_is_the_one_the_guardrails_exempt() -> None:
    for doc in docs(GUARDRAILS):
        assert f'"{CONTROL_NAMESPACE}"' in doc["spec"]["namespaceSelector"]


def test_standin_lives_apart_and_only_on_lab_nodes() -> None:
    namespace = one(STANDIN, "Namespace")
    assert namespace["metadata"]["name"] not in (*scenario.LAB_NAMESPACES, CONTROL_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    spec = pod_spec(STANDIN, "DaemonSet")
    assert spec["hostNetwork"] is True
    assert only_on_lab_workers(spec)  # never on a node the lab's kind config did not label


def test_standin_splits_its_privileges() -> None:
    containers = {c["name"]: c for c in pod_spec(STANDIN, "DaemonSet")["containers"]}
    assert set(containers) == {"address", "responder"}
    for container in containers.values():
        assert container["image"] == pins.AGNHOST_IMAGE
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    address, responder = containers["address"], containers["responder"]
    assert address["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]
    assert "ports" not in address  # the container that may change the node's network listens on nothing
    assert f"{pins.METADATA_IP}/32 dev lo" in address["args"][0]
    assert "ip address del" in address["args"][0]  # removed again when the pod stops
    assert responder["securityContext"]["capabilities"]["add"] == ["NET_BIND_SERVICE"]
    # --http-override serves one fixed page: netexec's /shell and /upload stay unreachable.
    assert "--http-override=/hostname" in responder["args"]
    assert responder["readinessProbe"]["httpGet"]["host"] == pins.METADATA_IP
