"""Exercises as data: six of them, easy to hard, each with a goal, a scope, a solution and wrong answers;
valid objects; the cells' vocabulary; the scope's refusals; hostile answer files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from lab import pins
from lab.env import project_root
from lab.errors import LabError
from lab.matrix import Verdict
from lab.workshop.exercises import (
    CellTarget,
    Exercise,
    Scope,
    check_goal,
    load_documents,
    load_exercise,
    load_exercises,
    parse_column,
    refusals,
    row_pod,
)
from tests import calico_schemas

ROOT = project_root()
EXERCISES = load_exercises(ROOT)


def test_six_exercises_from_easy_to_hard_each_with_a_solution_and_three_wrong_answers() -> None:
    assert [e.level for e in EXERCISES] == [1, 2, 3, 4, 5, 6]
    assert EXERCISES[0].name == "monitoring"
    for exercise in EXERCISES:
        assert exercise.text.startswith("# Exercise: "), exercise.name
        assert exercise.solution.is_file()
        assert [p.name for p in exercise.wrong_answers] == [
            "too-closed.yaml",
            "too-open.yaml",
            "wrong-namespace.yaml",
        ]
        assert exercise.answers == f"answers/{exercise.name}"
        check_goal(exercise)  # every row and column names something
        verdicts = {v for _, _, v in exercise.goal_cells()}
        assert Verdict.ALLOW in verdicts and Verdict.DENY in verdicts, exercise.name


def test_the_guardrail_exercise_takes_cluster_network_policies_and_no_namespace() -> None:
    guardrail = load_exercise(ROOT, "guardrail")
    assert guardrail.scope == Scope((), ("ClusterNetworkPolicy",))


def _objects(exercise: Exercise) -> list[tuple[str, dict[str, Any]]]:
    files = [exercise.path / "world.yaml", exercise.solution, *exercise.wrong_answers]
    return [(f"{exercise.name}/{p.name}", d) for p in files if p.is_file() for d in load_documents(p)]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_every_object_an_exercise_ships_is_valid(exercise: Exercise) -> None:
    for where, document in _objects(exercise):
        if document["kind"] == "ClusterNetworkPolicy":
            schema = calico_schemas.schema(document["apiVersion"], document["kind"])
            if schema is None:
                pytest.skip(calico_schemas.MISSING)
            import jsonschema

            jsonschema.validate(document, schema)
        else:
            kubernetes_validate.validate(document, "1.36", strict=True)
        assert document["metadata"]["name"], where


@pytest.mark.parametrize(
    "exercise", [e for e in EXERCISES if (e.path / "world.yaml").is_file()], ids=lambda e: e.name
)
def test_world_pods_are_restricted_and_pinned_and_labelled_as_the_exercise(exercise: Exercise) -> None:
    pods = [d for d in exercise.world if d["kind"] == "Pod"]
    for pod in pods:
        [container] = pod["spec"]["containers"]
        assert container["image"] == pins.AGNHOST_IMAGE
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for document in exercise.world:
        assert document["metadata"]["labels"]["netpol-lab/exercise"] == exercise.name
        if document["kind"] == "Namespace":
            assert document["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(
    ("column", "target"),
    [
        ("backend:9090", CellTarget("backend:9090", "pod", pod="backend/backend", port=9090)),
        (
            "monitoring/prober:80/udp",
            CellTarget("monitoring/prober:80/udp", "pod", pod="monitoring/prober", port=80, protocol="UDP"),
        ),
        ("svc/database:3306", CellTarget("svc/database:3306", "service", workload="database", port=3306)),
        ("dns", CellTarget("dns", "dns", port=53, protocol="UDP")),
        ("dns/tcp", CellTarget("dns/tcp", "dns", port=53, protocol="TCP")),
        ("outside", CellTarget("outside", "address", ip="1.1.1.1", port=443)),
        ("outside:53/UDP", CellTarget("outside:53/UDP", "address", ip="1.1.1.1", port=53, protocol="UDP")),
        ("metadata", CellTarget("metadata", "address", ip=pins.METADATA_IP, port=80)),
        ("172.18.0.2:10250", CellTarget("172.18.0.2:10250", "address", ip="172.18.0.2", port=10250)),
    ],
)
def test_a_column_names_a_pod_a_service_a_lookup_or_an_address(column: str, target: CellTarget) -> None:
    assert parse_column(column) == target


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("backend", "write TARGET:PORT"),
        ("backend:0", "1-65535"),
        ("backend:80/icmp", "TCP, UDP or SCTP"),
        ("svc/monitoring:80", "svc/ names a lab workload"),
        ("nowhere:80", "name a lab workload"),
        ("Bad/Pod:80", "name a lab workload"),
    ],
)
def test_a_column_that_names_nothing_says_how_to_write_one(column: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_column(column)


def test_rows_name_a_lab_workload_or_a_pod() -> None:
    assert row_pod("untrusted") == "untrusted/untrusted"
    assert row_pod("monitoring/prober") == "monitoring/prober"


def _policy(namespace: str | None, name: str = "p", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {"podSelector": {}},
    }


def test_objects_outside_the_scope_are_refused_with_the_reason() -> None:
    monitoring = load_exercise(ROOT, "monitoring")
    cnp = {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "x"},
    }
    gnp = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "x"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "backend"}}
    found = refusals(
        monitoring,
        "a.yaml",
        [
            _policy("backend"),
            _policy("database"),
            _policy(None),
            cnp,
            gnp,
            pod,
            _policy("backend", "q", **{"netpol-lab/stage": "4"}),
            _policy("backend", "Not_A_Name"),
        ],
    )
    assert [(r.what, r.why.split(":")[0].split(" (")[0]) for r in found] == [
        ("NetworkPolicy database/p", "namespace database is not yours in this exercise"),
        ("NetworkPolicy p", "name its namespace"),
        ("ClusterNetworkPolicy x", "ClusterNetworkPolicy"),
        ("GlobalNetworkPolicy x", "GlobalNetworkPolicy"),
        ("Pod backend/x", "Pod"),
        ("NetworkPolicy backend/q", "netpol-lab/ labels belong to the lab"),
        ("NetworkPolicy backend/Not_A_Name", "give it a name"),
    ]
    guardrail = load_exercise(ROOT, "guardrail")
    assert refusals(guardrail, "b.yaml", [cnp]) == []
    [namespaced] = refusals(
        guardrail, "b.yaml", [{**cnp, "metadata": {"name": "x", "namespace": "database"}}]
    )
    assert "cluster-scoped" in namespaced.why


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a: &x [1]\nb: *x\n", "found an alias"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"kind: [unclosed\n", "not valid YAML"),
        (b"- just\n- a list\n", "is not a Kubernetes object"),
        (b"kind: NetworkPolicy\nmetadata: [1]\n", "metadata must be a mapping"),
    ],
)
def test_hostile_answer_files_are_refused_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "answer.yaml"
    path.write_bytes(content)
    with pytest.raises(LabError, match=message) as caught:
        load_documents(path)
    assert "\n" not in caught.value.message


def test_a_huge_answer_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "answer.yaml"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(LabError, match="larger than 1024 KiB"):
        load_documents(path)


def test_an_unknown_exercise_names_the_choices() -> None:
    with pytest.raises(LabError, match="no exercise 'nope': choose one of backend-outside, database-dns"):
        load_exercise(ROOT, "nope")
    with pytest.raises(LabError, match="no exercise"):
        load_exercise(ROOT, "../stages")
