"""The stages rendered for a room participant: the same policies, moved into the copy's namespaces."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from lab.boundary.kubectl import Kubectl
from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle.room import DEMO, Participant, RoomRanges
from lab.workshop import participant as rendering
from lab.workshop.stages import load_stages
from tests import calico_schemas
from tests.unit.test_manifests_validate import validate_calico

STAGES = load_stages(project_root())
P07 = Participant("p07")
RANGES = RoomRanges(("10.8.0.0/14",), ("10.12.0.0/20", "fd00:10::/108"))


def by_name(docs: list[dict[str, object]]) -> dict[tuple[str, str], dict[str, object]]:
    return {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs}  # type: ignore[index]


def test_stage_4_moves_into_the_copy_and_selects_namespaces_by_participant_and_role() -> None:
    docs = rendering.rendered_stage(STAGES, 4, P07, RANGES)
    assert {d["metadata"]["namespace"] for d in docs} == {"p07-frontend", "p07-backend", "p07-database"}
    policy = by_name(docs)[("p07-database", "database-from-backend")]
    peer = policy["spec"]["ingress"][0]["from"][0]  # type: ignore[index]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"netpol-lab/participant": "p07", "netpol-lab/role": "backend"}
    }
    assert peer["podSelector"] == {"matchLabels": {"role": "backend"}}
    dns = by_name(docs)[("p07-backend", "allow-dns-egress")]["spec"]["egress"][0]["to"][0]  # type: ignore[index]
    assert dns["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    for doc in docs:
        assert doc["metadata"]["labels"]["netpol-lab/participant"] == "p07"
        assert doc["metadata"]["labels"]["netpol-lab/stage"]
        kubernetes_validate.validate(doc, "1.36.0", strict=True)
    assert 'kubernetes.io/metadata.name": "backend"' not in json.dumps(docs)


def test_stage_5_excepts_this_clusters_pod_and_service_ranges() -> None:
    docs = rendering.rendered_stage(STAGES, 5, P07, RANGES)
    block = by_name(docs)[("p07-backend", "backend-to-outside")]["spec"]["egress"][0]["to"][0]["ipBlock"]  # type: ignore[index]
    assert block["cidr"] == "0.0.0.0/0"
    assert "169.254.169.254/32" in block["except"]
    assert "10.8.0.0/14" in block["except"] and "10.12.0.0/20" in block["except"]
    assert "192.168.0.0/16" not in block["except"] and "10.96.0.0/16" not in block["except"]


@pytest.mark.parametrize(
    ("selector", "rendered"),
    [
        ({}, {"matchLabels": {"netpol-lab/participant": "p07"}}),
        (
            {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": ["frontend", "backend"],
                    }
                ]
            },
            {
                "matchLabels": {"netpol-lab/participant": "p07"},
                "matchExpressions": [
                    {"key": "netpol-lab/role", "operator": "In", "values": ["frontend", "backend"]}
                ],
            },
        ),
        ({"matchLabels": {"team": "x"}}, {"matchLabels": {"team": "x"}}),
    ],
)
def test_namespace_selectors(selector: dict[str, object], rendered: dict[str, object]) -> None:
    assert rendering.render_namespace_selector(selector, P07) == rendered


def test_a_selector_that_cannot_be_moved_is_refused() -> None:
    selector = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["backend"]}
        ]
    }
    with pytest.raises(LabError):
        rendering.render_namespace_selector(selector, P07)


def test_cluster_wide_stages_are_the_instructors_demo_only() -> None:
    for number in (6, 7):
        with pytest.raises(LabError) as raised:
            rendering.check_stage_allowed(STAGES, number, P07)
        assert raised.value.status == ExitStatus.USAGE
        assert "--participant demo" in raised.value.message
    rendering.check_stage_allowed(STAGES, 5, P07)
    rendering.check_stage_allowed(STAGES, 6, Participant(DEMO))
    assert rendering.cluster_wide_stages(STAGES) == [6, 7]


@pytest.mark.skipif(calico_schemas.source() is None, reason=calico_schemas.MISSING)
def test_the_demo_copys_guardrails_select_only_the_demo_namespaces() -> None:
    demo = Participant(DEMO)
    for number in (6, 7):
        wide = [
            d for d in rendering.rendered_stage(STAGES, number, demo, RANGES) if rendering.is_cluster_wide(d)
        ]
        assert wide
        for doc in wide:
            assert doc["metadata"]["name"].endswith("-demo")
            assert doc["metadata"]["labels"]["netpol-lab/participant"] == DEMO
            spec = doc["spec"]
            if doc["kind"] == "GlobalNetworkPolicy":
                assert spec["namespaceSelector"] == 'netpol-lab/participant == "demo"'
            else:
                assert spec["subject"] == {"namespaces": {"matchLabels": {"netpol-lab/participant": "demo"}}}
                assert spec["priority"] == rendering.DEMO_PRIORITY
            validate_calico(doc)


def test_the_plan_deletes_only_in_the_copys_namespaces_and_records_at_home() -> None:
    plan = rendering.plan_participant_apply(
        STAGES, 3, P07, RANGES, Kubectl("netpol-lab-p07", "p07.kubeconfig")
    )
    lines = [" ".join(step.argv) for step in plan.steps]
    deletes = [line for line in lines if " delete " in line]
    assert len(deletes) == 4
    for line, namespace in zip(deletes, P07.namespaces.values(), strict=True):
        assert (
            f"-n {namespace} -l netpol-lab/stage,netpol-lab/stage notin (0,1,2,3),netpol-lab/participant=p07"
            in line
        )
    assert not [line for line in lines if "--all-namespaces" in line or "globalnetworkpolicies" in line]
    record = plan.steps[-1].input or ""
    assert "name: netpol-lab-stage" in record and "namespace: p07-frontend" in record


def test_stage_5_on_a_dual_stack_cluster_puts_each_range_in_its_familys_block() -> None:
    import ipaddress

    ranges = RoomRanges(("10.8.0.0/14", "fd00:10:244::/56"), ("10.12.0.0/20", "fd00:10:96::/112"))
    docs = rendering.rendered_stage(STAGES, 5, P07, ranges)
    policy: Any = by_name(docs)[("p07-backend", "backend-to-outside")]
    blocks = [
        peer["ipBlock"]
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert {b["cidr"] for b in blocks} == {"0.0.0.0/0", "::/0"}
    for block in blocks:  # the API: every except entry strictly inside its cidr
        cidr = ipaddress.ip_network(block["cidr"])
        for entry in block.get("except", []):
            net = ipaddress.ip_network(entry)
            assert net.version == cidr.version and net.subnet_of(cidr) and net != cidr, (block, entry)  # type: ignore[arg-type]
    v6 = next(b for b in blocks if b["cidr"] == "::/0")
    assert "fd00:10:244::/56" in v6["except"] and "fd00:10:96::/112" in v6["except"]
    kubernetes_validate.validate(policy, "1.36.0", strict=True)
