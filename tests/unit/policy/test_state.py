"""Loading state: saved files (good and bad), the stage model, and a live cluster through the Runner."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import ShRunner
from lab.cli import run
from lab.commands._state import find_pod, load_cluster_state
from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.policy.model import InputError
from lab.policy.state import load_state_file, parse_objects
from lab.workshop.lab_state import load_stage_state
from tests.fakes import captured_env, errors
from tests.model.world import LabWorld
from tests.unit.policy.builders import namespace, pod, policy

HTTP = [("http", 80, "TCP")]


def listing(*items: dict) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def good_items() -> list[dict]:
    return [
        namespace("web"),
        pod("web/front", "10.0.0.1", {"app": "front"}, HTTP),
        pod("web/back", "10.0.0.2", {"app": "back"}, HTTP),
        policy(
            "web",
            "back-from-front",
            {
                "podSelector": {"matchLabels": {"app": "back"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}]}],
            },
        ),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ignored", "namespace": "web"}},
    ]


def test_yaml_and_json_lists_load(tmp_path: Path) -> None:
    for name, dump in (("state.yaml", yaml.safe_dump), ("state.json", json.dumps)):
        path = tmp_path / name
        path.write_text(dump(listing(*good_items())))
        state = load_state_file(path)
        assert [p.key for p in state.pods] == ["web/front", "web/back"]
        assert [p.key for p in state.policies] == ["web/back-from-front"]


@pytest.mark.parametrize(
    ("items", "text", "needle"),
    [
        (None, "kind: List\nitems: [\n", "not valid YAML"),
        ([namespace("web")], None, "holds no pods"),
        (
            [
                pod("web/a", "10.0.0.1"),
                policy(
                    "web",
                    "bad-cidr",
                    {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
                ),
            ],
            None,
            "NetworkPolicy web/bad-cidr: spec.ingress[0].from[0]: invalid CIDR '10.0.0.0/33'",
        ),
        (
            [
                pod("web/a", "10.0.0.1"),
                policy(
                    "web",
                    "bad-proto",
                    {"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "tcp"}]}]},
                ),
            ],
            None,
            "NetworkPolicy web/bad-proto: spec.ingress[0].ports[0]: unknown protocol 'tcp'",
        ),
    ],
    ids=["invalid-yaml", "no-pods", "invalid-cidr", "unknown-protocol"],
)
def test_bad_input_is_one_line_with_file_and_object(
    tmp_path: Path, items: list | None, text: str | None, needle: str
) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(listing(*(items or []))))
    with pytest.raises(InputError) as caught:
        load_state_file(path)
    assert needle in caught.value.message
    assert str(path) in caught.value.message
    assert "\n" not in caught.value.message
    env = captured_env()
    status = run(["expect", "--state", str(path)], env)
    assert status == ExitStatus.USAGE
    lines = errors(env).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_named_port_warnings_are_those_of_every_pod_against_every_policy() -> None:
    """The indexed warning pass says exactly what checking each policy against each pod says: an
    ingress entry needs a selected pod of the policy's namespace declaring the name and protocol,
    an egress entry any pod."""
    rng = random.Random(5)
    names = ["http", "grpc", "dns", "metrics"]
    items: list[dict] = [namespace("a"), namespace("b")]
    for i in range(30):
        ports = [(rng.choice(names), 1000 + i, rng.choice(["TCP", "UDP"])) for _ in range(rng.randrange(3))]
        items.append(
            pod(f"{rng.choice('ab')}/p{i}", f"10.0.0.{i + 1}" if i % 7 else None, {"app": f"x{i % 4}"}, ports)
        )
    for j in range(40):
        named = {"port": rng.choice(names), "protocol": rng.choice(["TCP", "UDP"])}
        spec: dict = {"podSelector": {"matchLabels": {"app": f"x{rng.randrange(5)}"}}}
        spec["ingress" if j % 2 else "egress"] = [{"ports": [named]}]
        items.append(policy(rng.choice("ab"), f"n{j}", spec))
    state = parse_objects([listing(*items)], "s")
    everyone = state.pods + state.unaddressed
    expected = []
    for item in state.policies:
        for direction, rules in (("ingress", item.ingress), ("egress", item.egress)):
            scope = everyone
            if direction == "ingress":
                scope = [
                    p
                    for p in everyone
                    if p.namespace == item.namespace and item.pod_selector.matches(p.labels)
                ]
            for rule in rules:
                for entry in rule.ports:
                    if not any(
                        c.name == entry.port and c.protocol == entry.protocol for p in scope for c in p.ports
                    ):
                        expected.append(f"NetworkPolicy {item.key}: spec.{direction}")
    said = [w for w in state.warnings if "no container declares" in w]
    assert 0 < len(said) < 40
    assert [w.split(": ", 1)[1].split("[")[0] for w in said] == expected


def test_named_port_no_container_declares_warns_and_denies(tmp_path: Path) -> None:
    items = [
        *good_items()[:3],
        policy("web", "ghost", {"podSelector": {}, "ingress": [{"ports": [{"port": "grpc"}]}]}),
    ]
    path = tmp_path / "state.yaml"
    path.write_text(yaml.safe_dump(listing(*items)))
    env = captured_env()
    assert run(["expect", "--state", str(path), "--output", "json-v1"], env) == ExitStatus.SUCCESS
    assert "warning:" in errors(env) and "'grpc'" in errors(env)
    flows = json.loads(env.stdout.getvalue())["flows"]  # type: ignore[attr-defined]
    cross = [f for f in flows if f["from"] != f["to"]]
    assert cross and not any(f["allowed"] for f in cross)


def test_stage_model_has_workloads_coredns_targets_and_synthetic_ips() -> None:
    state = load_stage_state(project_root(), "seed")
    keys = sorted(p.key for p in state.pods)
    assert keys == [
        "backend/backend",
        "database/database",
        "frontend/frontend",
        "kube-system/coredns",
        "untrusted/untrusted",
    ]
    assert all(p.ip and p.ip.startswith("192.168.") for p in state.pods)
    dns = state.pod("kube-system/coredns")
    assert dns is not None and {(p.port, p.protocol) for p in dns.ports} >= {(53, "UDP"), (53, "TCP")}
    # the outside and metadata addresses, and their IPv6 counterparts (a dual-stack lab probes them)
    assert {t.label for t in state.targets} == {"outside", "metadata", "outside@v6", "metadata@v6"}
    assert any("synthetic" in note for note in state.notes)
    assert find_pod(state, "backend/backend").labels["role"] == "backend"


def test_from_cluster_failure_is_one_line(model_world: LabWorld) -> None:
    env = model_world.environment()
    with pytest.raises(LabError) as caught:
        load_cluster_state(ShRunner(env.stderr, env=env.env), Kubectl("nope"))
    assert caught.value.message.startswith("could not read the cluster: ")
    assert "context was not found for specified context: nope" in caught.value.message


def test_from_cluster_without_calico_says_what_it_did_not_read(model_world: LabWorld) -> None:
    model_world.kind_create()  # kind's own CNI: no Calico, no ClusterNetworkPolicy CRD
    env = model_world.environment()
    state = load_cluster_state(ShRunner(env.stderr, env=env.env), Kubectl())
    assert state.calico == [] and state.cluster_policies == []
    assert any(
        n.startswith("note: no Calico's tiers and policies read: the cluster does not serve them")
        for n in state.notes
    )
    assert any(n.startswith("note: no ClusterNetworkPolicies read") for n in state.notes)
    assert "kube-system" in state.namespaces


def test_find_pod_accepts_a_deployment_name_with_one_pod() -> None:
    from tests.unit.policy.builders import state_of

    state = state_of([pod("web/back-7c9d-x1", "10.0.0.2", {"app": "back"}), pod("web/front", "10.0.0.1")])
    assert find_pod(state, "web/back").key == "web/back-7c9d-x1"


def test_host_network_and_finished_pods_are_left_out_with_one_note() -> None:
    from tests.unit.policy.builders import state_of

    host = pod("kube-system/etcd", "172.18.0.2")
    host["spec"]["hostNetwork"] = True
    done = pod("web/job", "10.0.0.9")
    done["status"]["phase"] = "Succeeded"
    state = state_of([host, done, pod("web/front", "10.0.0.1")])
    assert [p.key for p in state.pods] == ["web/front"]
    [note] = [n for n in state.notes if "host network" in n]
    assert "2 pod(s) use the host network or have finished" in note
