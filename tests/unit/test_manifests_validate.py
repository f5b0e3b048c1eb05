"""Every manifest the lab applies is valid: Kubernetes 1.36 schemas (strict), the CRD schemas of
Calico's bundle for Calico's kinds and ClusterNetworkPolicy (strict, tests/calico_schemas), the
part-of label on every object, and the restricted Pod Security Standard for pods in namespaces
that enforce it."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from lab.env import project_root
from lab.pins import PART_OF_LABEL
from lab.scenario import LAB_NAMESPACES
from tests import calico_schemas

ROOT = project_root()
K8S_VERSION = "1.36.0"
# Kinds defined by CRDs (Calico's bundle ships ClusterNetworkPolicy's too): no kubernetes-validate schema
CALICO_GROUPS = (
    "operator.tigera.io/",
    "crd.projectcalico.org/",
    "projectcalico.org/",
    "policy.networking.k8s.io/",
)

FILES = sorted([*ROOT.glob("manifests/**/*.yaml"), *ROOT.glob("stages/**/*.yaml")])
DOCUMENTS = [
    (path, index, doc)
    for path in FILES
    for index, doc in enumerate(yaml.safe_load_all(path.read_text()))
    if doc is not None
]


def doc_id(item: tuple[Path, int, dict[str, Any]]) -> str:
    path, index, doc = item
    return f"{path.relative_to(ROOT)}#{index}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def is_calico(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(CALICO_GROUPS)


def test_there_are_manifests_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert "manifests/calico/installation.yaml" in names
    assert any(n.startswith("manifests/workloads/") for n in names)
    assert any(n.startswith("stages/") for n in names)


@pytest.mark.parametrize("item", [d for d in DOCUMENTS if not is_calico(d[2])], ids=doc_id)
def test_kubernetes_objects_validate_against_kubernetes_1_36(item: tuple[Path, int, dict[str, Any]]) -> None:
    _, _, doc = item
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_kubernetes_check_is_strict() -> None:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "x"},
        "spec": {"finalizer": []},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(namespace, K8S_VERSION, strict=True)


# --- Calico objects ---------------------------------------------------------------------------------


def closed(schema: Any) -> Any:
    """The schema with unknown keys forbidden: the API server prunes them silently, which hides typos."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@cache
def load_schema(api_version: str, kind: str) -> dict[str, Any]:
    found = calico_schemas.schema(api_version, kind)
    assert found is not None, f"no schema for {api_version} {kind} in {calico_schemas.source()}"
    closed_schema: dict[str, Any] = closed(found)
    return closed_schema


def validate_calico(doc: dict[str, Any]) -> None:
    schema = load_schema(doc["apiVersion"], doc["kind"])
    body = copy.deepcopy(doc)
    body.pop("status", None)
    jsonschema.validate(body, schema)
    for rule in schema.get("x-kubernetes-validations", []):
        if "metadata.name ==" in rule.get("rule", ""):  # the one CEL rule shape these CRDs use: allowed names
            allowed = [part.split("'")[1] for part in rule["rule"].split("||")]
            assert doc["metadata"]["name"] in allowed, rule["message"]


needs_schemas = pytest.mark.skipif(calico_schemas.source() is None, reason=calico_schemas.MISSING)


@needs_schemas
@pytest.mark.parametrize("item", [d for d in DOCUMENTS if is_calico(d[2])], ids=doc_id)
def test_calico_objects_validate_against_calico_schemas(item: tuple[Path, int, dict[str, Any]]) -> None:
    validate_calico(item[2])


@needs_schemas
def test_the_calico_check_catches_a_misspelt_field_and_a_wrong_name() -> None:
    installation = yaml.safe_load((ROOT / "manifests" / "calico" / "installation.yaml").read_text())
    typo = copy.deepcopy(installation)
    typo["spec"]["calicoNetwork"]["ipPools"][0]["natOutGoing"] = "Enabled"
    with pytest.raises(jsonschema.ValidationError):
        validate_calico(typo)
    renamed = copy.deepcopy(installation)
    renamed["metadata"]["name"] = "lab"
    with pytest.raises(AssertionError):
        validate_calico(renamed)


# --- labels and Pod Security ------------------------------------------------------------------------


@pytest.mark.parametrize("item", DOCUMENTS, ids=doc_id)
def test_every_object_carries_the_part_of_label(item: tuple[Path, int, dict[str, Any]]) -> None:
    key, value = PART_OF_LABEL
    assert (item[2].get("metadata", {}).get("labels") or {}).get(key) == value


def namespace_levels() -> dict[str, str]:
    return {
        doc["metadata"]["name"]: doc["metadata"]
        .get("labels", {})
        .get("pod-security.kubernetes.io/enforce", "")
        for _, _, doc in DOCUMENTS
        if doc.get("kind") == "Namespace"
    }


def test_the_lab_namespaces_enforce_restricted() -> None:
    levels = namespace_levels()
    assert {ns: levels.get(ns) for ns in LAB_NAMESPACES} == {ns: "restricted" for ns in LAB_NAMESPACES}


# The restricted profile of https://kubernetes.io/docs/concepts/security/pod-security-standards/
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What in a pod spec the restricted Pod Security Standard refuses."""
    problems = []
    pod_sc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(key)
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl['name']}")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)}")
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    for container in containers:
        sc = container.get("securityContext") or {}
        name = container["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities not dropped")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def pod_templates() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, index, doc in DOCUMENTS:
        spec = doc.get("spec", {})
        if doc.get("kind") == "Pod":
            found.append((doc_id((path, index, doc)), doc["metadata"].get("namespace", ""), spec))
        elif "template" in spec:
            found.append(
                (doc_id((path, index, doc)), doc["metadata"].get("namespace", ""), spec["template"]["spec"])
            )
    return found


def test_every_lab_namespace_has_a_workload() -> None:
    namespaces = {namespace for _, namespace, _ in pod_templates()}
    assert set(LAB_NAMESPACES) <= namespaces


@pytest.mark.parametrize(
    "template",
    [t for t in pod_templates() if namespace_levels().get(t[1]) == "restricted"],
    ids=lambda t: t[0],
)
def test_pods_in_restricted_namespaces_comply(template: tuple[str, str, dict[str, Any]]) -> None:
    assert restricted_violations(template[2]) == []


def test_the_restricted_check_finds_violations() -> None:
    [(_, _, spec)] = [t for t in pod_templates() if t[0].startswith("manifests/workloads/frontend.yaml")]
    bad = copy.deepcopy(spec)
    bad["hostNetwork"] = True
    bad["securityContext"]["runAsNonRoot"] = False
    bad["securityContext"]["sysctls"].append({"name": "net.core.somaxconn", "value": "1024"})
    bad["containers"][0]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    bad["volumes"] = [{"name": "host", "hostPath": {"path": "/"}}]
    found = restricted_violations(bad)
    assert "hostNetwork" in found
    assert "agnhost: runAsNonRoot not true" in found
    assert "sysctl net.core.somaxconn" in found
    assert "agnhost: capabilities not dropped" in found
    assert "agnhost: adds capabilities ['NET_ADMIN']" in found
    assert "volume host: ['hostPath']" in found


@needs_schemas
def test_the_cluster_network_policy_check_catches_a_misspelt_field_and_a_bad_action() -> None:
    [cnp] = yaml.safe_load_all(
        (ROOT / "stages" / "7-cluster-guardrails" / "admin-deny-metadata.yaml").read_text()
    )
    validate_calico(cnp)
    typo = copy.deepcopy(cnp)
    typo["spec"]["egress"][0]["actions"] = typo["spec"]["egress"][0].pop("action")
    with pytest.raises(jsonschema.ValidationError):
        validate_calico(typo)
    allow = copy.deepcopy(cnp)
    allow["spec"]["egress"][0]["action"] = "Allow"  # v1alpha2 says Accept
    with pytest.raises(jsonschema.ValidationError):
        validate_calico(allow)
