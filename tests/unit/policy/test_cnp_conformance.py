"""The ClusterNetworkPolicy conformance cases (network-policy-api v0.2.0), checked offline.

The data is in ``cnp_conformance``: the base houses and pods, each test's objects, its subtests in
order with their cumulative patches, and each probe's expectation. One test id per subtest,
``<upstream test>/<n>-<name>`` (with ``-lab-fails-closed`` at the end for the node-peer cases): the
state is the base plus the test's objects with the patches of subtests 1..n, and every probe must
get its expected verdict from ``builders.verdict`` (the engine, checked against the independent
explanation).

The node-peer cases (feature ClusterNetworkPolicyEgressNodePeers) are not conformance here: the
evaluator fails closed on the experimental ``nodes`` peer, so their probes state the lab's
documented verdicts, and where those differ from upstream's the probe records upstream's too.
"""

from __future__ import annotations

from typing import Any

import pytest

from lab.policy.model import ClusterState
from tests.unit.policy.builders import state_of, verdict
from tests.unit.policy.cnp_conformance import (
    CASES,
    FEATURE,
    LAB_FAIL_CLOSED,
    NAMED_PORTS,
    NODE_PEERS,
    Case,
    Probe,
    base_objects,
    ip_of,
    key_of,
    served_by,
    workload_of,
)

# (case name, subtest number from 1) -> why the evaluator gets it wrong; each one xfails strictly.
KNOWN_WRONG: dict[tuple[str, int], str] = {}


def state_at(case: Case, number: int) -> ClusterState:
    return state_of([*base_objects(), *case.objects_at(number)], f"{case.name}#{number + 1}")


def target_of(probe: Probe) -> str:
    """Where the probe connects: the server pod (by key), or its address for a host-network pod,
    which NetworkPolicy and ClusterNetworkPolicy do not govern (upstream probes the pod's IP)."""
    if workload_of(probe.server).host_network:
        return ip_of(probe.server)
    return key_of(probe.server)


def wrong_probes(state: ClusterState, probes: tuple[Probe, ...]) -> list[str]:
    wrong = []
    for probe in probes:
        allowed = verdict(state, key_of(probe.client), target_of(probe), probe.port, probe.protocol)
        if allowed != probe.allowed:
            wrong.append(f"{probe.describe()}, but the evaluator says {'allowed' if allowed else 'denied'}")
    return wrong


def _params() -> list[Any]:
    params = []
    for case in CASES:
        for number, subtest in enumerate(case.subtests):
            marks = []
            reason = KNOWN_WRONG.get((case.name, number + 1))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            label = f"{case.name}/{number + 1}-{subtest.name}" + (
                "" if case.conformance else "-lab-fails-closed"
            )
            params.append(pytest.param(case, number, id=label, marks=marks))
    return params


@pytest.mark.parametrize(("case", "number"), _params())
def test_subtest(case: Case, number: int) -> None:
    state = state_at(case, number)
    assert wrong_probes(state, case.subtests[number].probes) == []


# -- the lab's deliberate difference: node peers fail closed -----------------------------------------


@pytest.mark.parametrize("case", [c for c in CASES if NODE_PEERS in c.features], ids=lambda c: c.name)
def test_node_peers_are_the_labs_documented_behaviour_not_conformance(case: Case) -> None:
    """LAB_FAIL_CLOSED: the evaluator does not support ``nodes`` and fails closed, deliberately.

    An Accept with a nodes peer matches nothing and a Deny or Pass with one denies everything, so
    every probe of these cases is denied, where upstream (for implementations that support node
    peers) expects the accepted and passed ones allowed. The state says so in a note per rule."""
    assert not case.conformance, LAB_FAIL_CLOSED
    probes = [p for s in case.subtests for p in s.probes]
    assert all(not p.allowed for p in probes)
    assert any(p.upstream for p in probes)  # the difference is recorded, not hidden
    state = state_at(case, len(case.subtests) - 1)
    rules = [r for r in case.objects[0]["spec"]["egress"] if any("nodes" in peer for peer in r["to"])]
    notes = [n for n in state.notes if "fails closed" in n and "nodes" in n]
    assert len(notes) == len(rules), state.notes


def test_only_node_peer_probes_differ_from_upstream() -> None:
    for case in CASES:
        for subtest in case.subtests:
            for probe in subtest.probes:
                if probe.upstream is not None:
                    assert not case.conformance and NODE_PEERS in case.features, (case.name, probe)
                    assert probe.upstream != probe.allowed, (case.name, probe)


# -- the data itself ---------------------------------------------------------------------------------


def test_inventory() -> None:
    """Every ClusterNetworkPolicy and ClusterNetworkPolicyNamedPorts test of v0.2.0, plus the two
    node-peer tests; subtests as upstream runs them."""
    counts = {case.name: len(case.subtests) for case in CASES}
    ladders = ("IngressTCP", "IngressUDP", "IngressSCTP", "EgressTCP", "EgressUDP", "EgressSCTP", "Gress")
    expected = {f"CNPAdminTier{x}": 6 for x in ladders} | {f"CNPBaselineTier{x}": 4 for x in ladders}
    expected |= {
        "CNPAdminTierPriorityField": 3,
        "CNPAdminTierIntegration": 6,
        "CNPAdminTierEgressInlineCIDRPeers": 2,
        "CNPBaselineTierEgressInlineCIDRPeers": 2,
        "CNPAdminTierEgressNamedPort": 1,
        "CNPAdminTierIngressNamedPort": 1,
        "CNPBaselineTierEgressNamedPort": 1,
        "CNPBaselineTierIngressNamedPort": 1,
        "CNPAdminTierEgressNodePeers": 3,
        "CNPBaselineTierEgressNodePeers": 2,
    }
    assert counts == expected
    assert len(CASES) == 24 and sum(counts.values()) == 92
    assert sum(len(s.probes) for c in CASES for s in c.subtests) == 289
    assert all(FEATURE in c.features for c in CASES)
    assert sum(NAMED_PORTS in c.features for c in CASES) == 4


def test_probes_reach_served_ports_between_distinct_pods() -> None:
    for case in CASES:
        for subtest in case.subtests:
            for probe in subtest.probes:
                assert (probe.port, probe.protocol) in served_by(probe.server), (case.name, probe)
                assert probe.client != probe.server and not workload_of(probe.client).host_network


def test_only_web_and_dns_are_named_on_regular_pods() -> None:
    state = state_of(base_objects())
    assert {(p.name, p.port, p.protocol) for pod in state.pods for p in pod.ports} == {
        ("web", 80, "TCP"),
        ("dns", 53, "UDP"),
    }
    assert len(state.pods) == 8  # the host-network centaurs are left out, as NetworkPolicy leaves them


def test_without_policies_every_probe_is_allowed() -> None:
    """The base alone allows everything: each denial in the cases comes from their policies."""
    state = state_of(base_objects())
    everything = [p for c in CASES for s in c.subtests for p in s.probes]
    assert all(verdict(state, key_of(p.client), target_of(p), p.port, p.protocol) for p in everything)


def test_patches_are_cumulative_and_leave_the_data_alone() -> None:
    case = next(c for c in CASES if c.name == "CNPAdminTierIngressTCP")
    before = [dict(r) for r in case.objects[0]["spec"]["ingress"]]
    last = case.objects_at(len(case.subtests) - 1)[0]["spec"]["ingress"]
    # swap 0-1, then 0-2, then 3-4: [Pass, Accept, Deny] for ravenclaw, then Pass before Deny for slytherin
    assert [r["action"] for r in last] == ["Pass", "Accept", "Deny", "Pass", "Deny", "Accept", "Deny"]
    assert case.objects[0]["spec"]["ingress"] == before
