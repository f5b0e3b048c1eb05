"""Invariants of NetworkPolicy semantics, checked on random states (hypothesis):

1. Once a pod is isolated in a direction, adding a policy never closes a flow of that pod in
   that direction (policies only add allows).
2. A new policy closes flows only by isolating a pod that no policy of that direction selected.
3. The order of policies never matters.
4. A pod selected by no policy (of a direction) is open in that direction.
Also: the bitset engine and the pair-by-pair explanation agree on every flow.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.model import ClusterState
from tests.unit.policy.builders import namespace, pod, policy, state_of

NAMESPACES = ("n1", "n2", "n3")
PROBES = ((80, "TCP"), (53, "UDP"), (8080, "TCP"))
labels = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["a", "b"]), max_size=2)


@st.composite
def selectors(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["matchLabels"] = draw(labels)
    if draw(st.booleans()):
        op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        item: dict[str, Any] = {"key": draw(st.sampled_from(["app", "tier", "team"])), "operator": op}
        if op in ("In", "NotIn"):
            item["values"] = draw(st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True))
        out["matchExpressions"] = [item]
    return out


@st.composite
def peers(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pod", "ns", "both", "ip"]))
    if kind == "ip":
        cidr = draw(st.sampled_from(["10.9.0.0/16", "10.9.1.0/24", "0.0.0.0/0"]))
        block: dict[str, Any] = {"cidr": cidr}
        if cidr != "10.9.1.0/24" and draw(st.booleans()):
            block["except"] = ["10.9.1.0/24"]
        return {"ipBlock": block}
    out: dict[str, Any] = {}
    if kind in ("pod", "both"):
        out["podSelector"] = draw(selectors())
    if kind in ("ns", "both"):
        out["namespaceSelector"] = draw(selectors())
    return out


ports = st.sampled_from(
    [
        {"port": 80},
        {"port": 53, "protocol": "UDP"},
        {"port": "http"},
        {"port": "dns", "protocol": "UDP"},
        {"port": 8000, "endPort": 8100},
        {"protocol": "TCP"},
    ]
)


@st.composite
def rules(draw: Any, peer_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule[peer_key] = draw(st.lists(peers(), min_size=1, max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(st.lists(ports, min_size=1, max_size=2))
    return rule


@st.composite
def policies(draw: Any, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selectors())}
    types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    if types:
        spec["policyTypes"] = types
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
    if draw(st.booleans()):
        spec["egress"] = draw(st.lists(rules("to"), max_size=2))
    return policy(draw(st.sampled_from(NAMESPACES)), name, spec)


@st.composite
def worlds(draw: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        namespace(n, **draw(st.dictionaries(st.just("team"), st.sampled_from(["a", "b"]))))
        for n in NAMESPACES
    ]
    count = draw(st.integers(min_value=2, max_value=6))
    for i in range(count):
        ns = draw(st.sampled_from(NAMESPACES))
        port_set = draw(
            st.sampled_from([[("http", 80, "TCP")], [("http", 8080, "TCP"), ("dns", 53, "UDP")], []])
        )
        objects.append(pod(f"{ns}/p{i}", f"10.9.{i % 2}.{i + 10}", draw(labels), port_set))
    return objects


def side_views(state: ClusterState, port: int, protocol: str) -> tuple[list[int], list[int], Engine]:
    engine = Engine(state)
    ingress, egress = engine.view(port, protocol)
    return ingress, egress, engine


@settings(max_examples=60, deadline=None)
@given(worlds(), st.lists(policies("p"), max_size=4), policies("new"))
def test_adding_a_policy_only_closes_by_isolating(objects: list, existing: list, new: dict) -> None:
    for index, item in enumerate(existing):
        item["metadata"]["name"] = f"p{index}"
    before = state_of(objects + existing)
    after = state_of(objects + existing + [new])
    for port, protocol in PROBES:
        ing_b, eg_b, eng_b = side_views(before, port, protocol)
        ing_a, eg_a, eng_a = side_views(after, port, protocol)
        for d in range(len(eng_b.pods)):
            if eng_b.ingress_isolated >> d & 1:  # invariant 1, ingress side
                assert ing_b[d] & ~ing_a[d] == 0
            closed = ing_b[d] & eg_b[d] & ~(ing_a[d] & eg_a[d])
            for s in range(len(eng_b.pods)):
                if closed >> s & 1:  # invariant 2: closed only by newly isolating s or d
                    newly_in = not eng_b.ingress_isolated >> d & 1 and eng_a.ingress_isolated >> d & 1
                    newly_out = not eng_b.egress_isolated >> s & 1 and eng_a.egress_isolated >> s & 1
                    assert newly_in or newly_out
                    if eng_b.egress_isolated >> s & 1:  # invariant 1, egress side
                        assert eg_a[d] >> s & 1 or not eg_b[d] >> s & 1


@settings(max_examples=60, deadline=None)
@given(worlds(), st.lists(policies("p"), max_size=5), st.randoms())
def test_order_never_matters(objects: list, items: list, rnd: Any) -> None:
    for index, item in enumerate(items):
        item["metadata"]["name"] = f"p{index}"
    shuffled = list(items)
    rnd.shuffle(shuffled)
    one, two = Engine(state_of(objects + items)), Engine(state_of(objects + shuffled))
    for port, protocol in PROBES:
        assert one.matrix(port, protocol) == two.matrix(port, protocol)


@settings(max_examples=60, deadline=None)
@given(worlds(), st.lists(policies("p"), max_size=5))
def test_unselected_pods_are_open_and_engine_agrees_with_explain(objects: list, items: list) -> None:
    for index, item in enumerate(items):
        item["metadata"]["name"] = f"p{index}"
    state = state_of(objects + items)
    explainer = Explainer(state)
    for port, protocol in PROBES:
        ingress, egress, engine = side_views(state, port, protocol)
        for d, dst in enumerate(engine.pods):
            if not any(
                "Ingress" in p.types and p.namespace == dst.namespace and p.pod_selector.matches(dst.labels)
                for p in state.policies
            ):
                assert ingress[d] == engine.all  # invariant 4, ingress
            if not any(
                "Egress" in p.types and p.namespace == dst.namespace and p.pod_selector.matches(dst.labels)
                for p in state.policies
            ):
                assert all(egress[t] >> d & 1 for t in range(len(engine.pods)))  # invariant 4, egress
            for s, src in enumerate(engine.pods):
                flow = explainer.flow(src, dst, port, protocol)
                assert engine.pod_allowed(s, d, port, protocol) == flow.allowed, flow.lines()
            for address in ("10.9.1.50", "192.0.2.1"):
                assert (
                    engine.ip_allowed(d, address, port, protocol)
                    == explainer.flow(dst, address, port, protocol).allowed
                )
