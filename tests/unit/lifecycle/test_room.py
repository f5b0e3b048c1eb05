"""The room's objects, built without a cluster: participants, their copies, RBAC, the admission policy,
the kubeconfigs; and the checks that keep a room off the laptop lab and off a cluster that does not
enforce NetworkPolicy."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lab import pins
from lab.boundary.kubectl import Kubectl
from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle import room, room_access, room_ops
from lab.lifecycle.cluster import FINGERPRINT_LABEL
from lab.lifecycle.enforcement import Enforcement, EnforcementResult
from lab.lifecycle.room import Participant, parse_participants
from tests.fakes import RecordingRunner

ROOT = project_root()
P07 = Participant("p07")


def documents(participants: list[Participant]) -> list[dict[str, Any]]:
    return room_ops.room_documents(
        ROOT,
        participants,
        ranges=room.LAB_RANGES,
        deny_action="Drop",
        enforcement="enforces",
        admission=True,
        image=pins.AGNHOST_IMAGE,
    )


def test_participants_by_number_or_by_name() -> None:
    assert [p.name for p in parse_participants("3")] == ["p01", "p02", "p03"]
    assert [p.name for p in parse_participants("alice, bob")] == ["alice", "bob"]
    assert [p.name for p in parse_participants("2", demo=True)] == ["p01", "p02", "demo"]
    assert parse_participants("120")[-1].name == "p120"
    for bad in ("0", "al-ice", "Bob", "a,a", "", "x" * 21):
        with pytest.raises(LabError) as raised:
            parse_participants(bad)
        assert raised.value.status == ExitStatus.USAGE


def test_a_copy_is_the_scenario_under_a_prefix_labelled_by_participant_and_role() -> None:
    docs = room.render_workloads(room.workload_documents(ROOT), P07, image="example.test/agnhost:1")
    namespaces = {d["metadata"]["name"]: d["metadata"]["labels"] for d in docs if d["kind"] == "Namespace"}
    assert set(namespaces) == {"p07-frontend", "p07-backend", "p07-database", "p07-untrusted"}
    assert namespaces["p07-untrusted"]["netpol-lab/role"] == "untrusted"
    assert namespaces["p07-untrusted"]["netpol-lab/participant"] == "p07"
    assert namespaces["p07-untrusted"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        assert doc["metadata"]["labels"]["netpol-lab/room"] == "true"
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"].startswith("p07-")
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]
            assert pod["metadata"]["labels"]["netpol-lab/participant"] == "p07"
            assert pins.AGNHOST_IMAGE not in json.dumps(doc)  # the override reached every container
            assert "netpol-lab/slot" not in json.dumps(pod["spec"])  # only the lab's kind nodes have slots


def test_every_room_object_validates_strictly_against_kubernetes_1_36() -> None:
    docs = documents([Participant("p01"), P07, Participant(room.DEMO)])
    kinds = {d["kind"] for d in docs}
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Role", "RoleBinding"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, "1.36.0", strict=True)


def test_the_strict_check_would_catch_a_misspelt_admission_policy() -> None:
    policy = room_access.admission_documents()[0]
    policy["spec"]["validation"] = policy["spec"].pop("validations")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, "1.36.0", strict=True)


def test_rbac_is_namespaced_read_only_for_pods_and_write_for_policies_at_home_only() -> None:
    docs = documents([P07])
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = {d["metadata"]["namespace"]: d["rules"] for d in docs if d["kind"] == "Role"}
    assert set(roles) == set(P07.namespaces.values())
    for namespace, rules in roles.items():
        by_resource = {r: rule["verbs"] for rule in rules for r in rule["resources"]}
        assert by_resource["pods"] == ["get", "list", "watch"]
        assert set(by_resource["pods/exec"]) == {"get", "create"}
        assert "delete" in by_resource["networkpolicies"]
        assert ("configmaps" in by_resource) == (namespace == "p07-frontend")
        assert "secrets" not in by_resource
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert {(s["kind"], s["namespace"], s["name"]) for b in bindings for s in b["subjects"]} == {
        ("ServiceAccount", room.ROOM_NAMESPACE, "p07")
    }
    assert not [d for d in documents([Participant(room.DEMO)]) if d["kind"] in ("ServiceAccount", "Role")]


def test_the_admission_policy_matches_policies_in_participants_namespaces_and_checks_every_peer() -> None:
    policy, binding = room_access.admission_documents()
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    constraints = spec["matchConstraints"]
    assert constraints["namespaceSelector"]["matchExpressions"] == [
        {"key": "netpol-lab/participant", "operator": "Exists"}
    ]
    assert constraints["resourceRules"] == [
        {
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["networkpolicies"],
        }
    ]
    assert spec["variables"] == [
        {"name": "own", "expression": "namespaceObject.metadata.labels['netpol-lab/participant']"}
    ]
    ingress, egress = (v["expression"] for v in spec["validations"])
    assert ingress.startswith("!has(object.spec.ingress) || object.spec.ingress.all(r, !has(r.from) ||")
    assert egress.startswith("!has(object.spec.egress) || object.spec.egress.all(r, !has(r.to) ||")
    for expression in (ingress, egress):
        assert expression.count("(") == expression.count(")")
        assert "variables.own" in expression and "'kube-system'" in expression
        assert "v in [variables.own + '-frontend', variables.own + '-backend'" in expression  # exactly
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_endpoint_comes_from_the_instructors_kubeconfig_without_its_credentials(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nx\n")
    first = write(tmp_path / "a.yaml", {"current-context": "workshop", "contexts": []})
    second = write(
        tmp_path / "b.yaml",
        {
            "clusters": [
                {
                    "name": "gke",
                    "cluster": {"server": "https://203.0.113.9", "certificate-authority": "certs/ca.crt"},
                }
            ],
            "users": [{"name": "me", "user": {"token": "instructor-secret", "client-key-data": "S0VZ"}}],
            "contexts": [{"name": "workshop", "context": {"cluster": "gke", "user": "me"}}],
        },
    )
    files = [first, second]
    assert room_access.current_context(files) == "workshop"
    endpoint = room_access.read_endpoint(files, "workshop")
    assert endpoint.server == "https://203.0.113.9"
    assert base64.b64decode(endpoint.ca_data or "") == b"-----BEGIN CERTIFICATE-----\nx\n"
    config = room_access.participant_kubeconfig(endpoint, P07, "sa-token")
    text = yaml.safe_dump(config)
    assert "instructor-secret" not in text and "S0VZ" not in text
    assert config["users"] == [{"name": "p07", "user": {"token": "sa-token"}}]
    assert room_access.participant_of_context([write(tmp_path / "p07.kubeconfig", config)], None) == (
        "p07",
        "netpol-lab-p07",
    )
    with pytest.raises(LabError) as raised:
        room_access.read_endpoint(files, "elsewhere")
    assert raised.value.status == ExitStatus.MISSING_PREREQUISITE


def jwt(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{body}.c2ln"


def test_a_token_is_kept_while_bound_to_the_live_account_with_an_hour_left(tmp_path: Path) -> None:
    endpoint = room_access.Endpoint("workshop", "https://203.0.113.9")
    path = tmp_path / "p07.kubeconfig"
    claims = {
        "exp": int(time.time()) + 7200,
        "kubernetes.io": {"serviceaccount": {"name": "p07", "uid": "u1"}},
    }
    room_access.write_kubeconfig(path, room_access.participant_kubeconfig(endpoint, P07, jwt(claims)))
    assert room_access.reusable_token(path, "u1") == jwt(claims)
    assert room_access.reusable_token(path, "u2") is None  # the account was recreated: the token is dead
    assert room_access.reusable_token(path, "u1", now=time.time() + 4000) is None  # less than an hour left
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


def test_the_folder_handed_out_never_holds_the_instructors_kubeconfig(tmp_path: Path) -> None:
    mine = tmp_path / ".kube" / "config"
    with pytest.raises(LabError, match="holds your own kubeconfig"):
        room_ops.guard_folder(tmp_path / ".kube", [mine])
    with pytest.raises(LabError, match="holds your own kubeconfig"):
        room_ops.guard_folder(tmp_path, [mine])
    room_ops.guard_folder(tmp_path / "handout", [mine])


def target(context: str = "workshop") -> room_ops.Target:
    return room_ops.Target(Kubectl(context), room_access.Endpoint(context, "https://203.0.113.9"), ())


def test_the_laptop_lab_is_refused_before_anything_changes() -> None:
    runner = RecordingRunner()
    with pytest.raises(LabError, match="is the laptop lab"):
        room_ops.refuse_laptop_lab(runner, target(pins.KUBE_CONTEXT))
    assert runner.calls == []  # not even asked
    nodes = {"items": [{"metadata": {"name": "n", "labels": {FINGERPRINT_LABEL: "abc"}}}]}
    runner.answer("kubectl --context workshop get nodes -o json", stdout=json.dumps(nodes))
    with pytest.raises(LabError, match="carry netpol-lab/fingerprint"):
        room_ops.refuse_laptop_lab(runner, target())
    assert runner.lines == ["kubectl --context workshop get nodes -o json"]  # read only


def test_a_cluster_that_does_not_enforce_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    verdict = EnforcementResult(Enforcement.DOES_NOT_ENFORCE, "does not", "ns", attempts=10)
    monkeypatch.setattr(room_ops, "check_enforcement", lambda *args, **kwargs: verdict)
    with pytest.raises(LabError) as raised:
        room_ops.check_enforces(RecordingRunner(), target(), pins.AGNHOST_IMAGE, lambda line: None)
    assert raised.value.status == ExitStatus.MISMATCH
    assert (
        "does NOT enforce NetworkPolicy" in raised.value.message
        and "nothing was created" in raised.value.message
    )
    unknown = EnforcementResult(Enforcement.UNKNOWN, "cannot tell whether ...: the pods never started", "ns")
    monkeypatch.setattr(room_ops, "check_enforcement", lambda *args, **kwargs: unknown)
    with pytest.raises(LabError, match="nothing was created"):
        room_ops.check_enforces(RecordingRunner(), target(), pins.AGNHOST_IMAGE, lambda line: None)


def test_a_cluster_that_does_not_answer_is_4_and_nothing_changes() -> None:
    runner = RecordingRunner()
    runner.answer(
        "kubectl --context workshop get nodes -o json",
        exit_code=1,
        stderr="The connection to the server 203.0.113.9 was refused - did you specify the right host?",
    )
    with pytest.raises(LabError) as raised:
        room_ops.refuse_laptop_lab(runner, target())
    assert raised.value.status == ExitStatus.MISSING_PREREQUISITE
    assert "was refused" in raised.value.message and "nothing was changed" in raised.value.message
