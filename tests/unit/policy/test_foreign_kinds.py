"""Policy kinds the evaluator does not read are named and refused, never taken as absent; pods
without a declared port are said, not shown as an empty matrix."""

from __future__ import annotations

from typing import Any

import pytest

from lab.policy.model import InputError
from lab.policy.state import parse_objects
from tests.unit.policy.builders import namespace, pod, policy


def world(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [namespace("a"), pod("a/p", "10.0.0.1", {"app": "x"}, [("http", 80, "TCP")]), *extra]


FOREIGN = [
    ("cilium.io/v2", "CiliumNetworkPolicy", "a"),
    ("cilium.io/v2", "CiliumClusterwideNetworkPolicy", None),
    ("crd.projectcalico.org/v1", "GlobalNetworkPolicy", None),
    ("crd.projectcalico.org/v1", "NetworkPolicy", "a"),
    ("projectcalico.org/v3", "GlobalNetworkSet", None),
    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", None),
    ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy", None),
    ("crd.antrea.io/v1beta1", "ClusterNetworkPolicy", None),
    ("k8s.cni.cncf.io/v1beta1", "MultiNetworkPolicy", "a"),
]


@pytest.mark.parametrize(("api", "kind", "where"), FOREIGN, ids=[f"{k}@{a}" for a, k, _ in FOREIGN])
def test_a_kind_the_evaluator_does_not_read_is_refused_by_name(
    api: str, kind: str, where: str | None
) -> None:
    meta: dict[str, Any] = {"name": "x"} | ({"namespace": where} if where else {})
    with pytest.raises(InputError) as raised:
        parse_objects(world({"apiVersion": api, "kind": kind, "metadata": meta, "spec": {}}), "state.yaml")
    message = raised.value.message
    assert message.startswith("state.yaml: 1 object(s) of kinds this evaluator does not understand")
    assert f"({api})" in message and kind in message
    assert "no verdict can be predicted with them" in message


def test_every_such_object_is_listed_in_one_line() -> None:
    objects = [
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": f"c{i}", "namespace": "a"},
        }
        for i in range(3)
    ]
    with pytest.raises(InputError) as raised:
        parse_objects(world(*objects), "state.yaml")
    assert "3 object(s)" in raised.value.message
    assert all(f"a/c{i}" in raised.value.message for i in range(3))
    assert "\n" not in raised.value.message


def test_kinds_that_do_not_shape_connectivity_are_still_ignored() -> None:
    others = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}},
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "b", "namespace": "a"},
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "v"},
        },
    ]
    state = parse_objects(world(*others), "state.yaml")
    assert [p.key for p in state.pods] == ["a/p"]


def test_a_pod_without_a_declared_port_is_said() -> None:
    state = parse_objects([*world(), pod("a/q", "10.0.0.2")], "state.yaml")
    [note] = [n for n in state.notes if "declare no container port" in n]
    assert "a/q" in note and "a/p" not in note and "netpol-lab explain" in note


def test_the_kinds_it_reads_pass() -> None:
    state = parse_objects(
        world(policy("a", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})), "state.yaml"
    )
    assert len(state.policies) == 1
