"""Groups of pods the policies cannot tell apart: judging one pod per group gives every pod's verdict.

Checked on random states against the engine run on every pod (Kubernetes NetworkPolicies with
ipBlocks cutting through the pod network, Calico's ordered policies with nets and ipVersion)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.policy.engine import Engine
from lab.policy.groups import GroupedCluster, label_keys
from lab.policy.model import ClusterState
from tests.unit.policy.builders import namespace, pod, policy, state_of
from tests.unit.policy.test_calico import calico_policies
from tests.unit.policy.test_properties import NAMESPACES, PROBES, labels, policies

ADDRESSES = ("10.9.1.50", "10.9.0.11", "192.0.2.1", "1.1.1.1")


@st.composite
def crowds(draw: Any) -> list[dict[str, Any]]:
    """Namespaces and up to 14 pods, many alike (the same labels and ports, addresses on both sides
    of 10.9.1.0/24), some with a label no selector names."""
    objects: list[dict[str, Any]] = [
        namespace(n, **draw(st.dictionaries(st.just("team"), st.sampled_from(["a", "b"]))))
        for n in NAMESPACES
    ]
    for i in range(draw(st.integers(min_value=2, max_value=14))):
        ns = draw(st.sampled_from(NAMESPACES))
        port_set = draw(
            st.sampled_from([[("http", 80, "TCP")], [("http", 8080, "TCP"), ("dns", 53, "UDP")], []])
        )
        alike = st.sampled_from([{}, {"app": "a"}, {"app": "a", "tier": "b"}, {"tier": "a"}])
        pod_labels = {**draw(st.one_of(alike, labels)), "pod-template-hash": f"h{i}"}
        objects.append(pod(f"{ns}/p{i}", f"10.9.{i % 2}.{i + 10}", pod_labels, port_set))
    return objects


def same_verdicts(state: ClusterState) -> None:
    engine = Engine(state)
    grouped = GroupedCluster(state)
    assert sorted(p.key for g in grouped.groups for p in g.pods) == sorted(p.key for p in engine.pods)
    for port, protocol in PROBES:
        for d, dst in enumerate(engine.pods):
            for s, src in enumerate(engine.pods):
                want = engine.pod_allowed(s, d, port, protocol)
                assert grouped.pod_allowed(src, dst, port, protocol) == want, (src.key, dst.key, port)
                if s != d:  # a group's sources hold the source's group exactly when the flow is allowed
                    mask = grouped.sources(grouped.group_of[dst.key], port, protocol)
                    source_bit = 1 << grouped.position[grouped.group_of[src.key].id]
                    assert bool(mask & source_bit) == want
        for address in ADDRESSES:
            mask = grouped.address_sources(address, port, protocol)
            for s, src in enumerate(engine.pods):
                in_mask = bool(mask >> grouped.position[grouped.group_of[src.key].id] & 1)
                assert in_mask == engine.ip_allowed(s, address, port, protocol), (src.key, address)


@settings(max_examples=150, deadline=None)
@given(crowds(), st.lists(policies("p"), min_size=1, max_size=6))
def test_groups_give_every_pod_the_engine_verdict(objects: list, items: list) -> None:
    for index, item in enumerate(items):
        item["metadata"]["name"] = f"p{index}"
    same_verdicts(state_of(objects + items))


@settings(max_examples=60, deadline=None)
@given(crowds(), st.lists(st.integers(0, 3), min_size=1, max_size=3), st.data())
def test_groups_hold_with_calico_policies(objects: list, seeds: list[int], data: Any) -> None:
    items = [data.draw(calico_policies(i)) for i in range(len(seeds))]
    for item in items:  # test_calico's namespaced policies live in "app"; here that is n1
        if item["metadata"].get("namespace") == "app":
            item["metadata"]["namespace"] = "n1"
    same_verdicts(state_of(objects + items))


def test_replicas_form_one_group_and_unused_labels_do_not_split_it() -> None:
    items = [namespace("web")]
    for i in range(6):
        items.append(pod(f"web/api-{i}", f"10.0.0.{i + 1}", {"app": "api", "pod-template-hash": f"x{i}"}))
    items.append(pod("web/db-0", "10.0.0.9", {"app": "db"}))
    items.append(policy("web", "api-in", {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": [{}]}))
    state = state_of(items)
    grouped = GroupedCluster(state)
    assert [len(g.pods) for g in grouped.groups] == [6, 1]
    assert grouped.groups[0].labels == {"app": "api"}
    assert label_keys(state) == {"app"}


def test_an_ip_block_edge_splits_a_group() -> None:
    items = [namespace("web")]
    for i in range(4):
        items.append(pod(f"web/api-{i}", f"10.0.{i // 2}.{i + 1}", {"app": "api"}))
    block = {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}
    items.append(
        policy("web", "out", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [block]}]})
    )
    grouped = GroupedCluster(state_of(items))
    assert [[p.name for p in g.pods] for g in grouped.groups] == [["api-0", "api-1"], ["api-2", "api-3"]]
    first, second = grouped.groups
    assert grouped.sources(first, 80, "TCP") == 0b11  # both groups may reach the first (inside the block)
    assert grouped.sources(second, 80, "TCP") == 0  # its addresses are in the except: no egress reaches it


def test_groups_hold_on_every_cluster_network_policy_conformance_state() -> None:
    from tests.unit.policy.test_cnp_conformance import CASES, state_at

    checked = 0
    for case in CASES:
        for number in range(len(case.subtests)):
            same_verdicts(state_at(case, number))
            checked += 1
    assert checked > 20
