"""`netpol-lab expect` and `netpol-lab explain` end to end, through the CLI dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from lab.cli import run
from lab.errors import ExitStatus
from lab.matrix import Matrix
from lab.workshop.stages import load_stages, stage_by_name
from tests.fakes import captured_env, errors, output
from tests.tables import table_text
from tests.unit.policy.builders import namespace, pod, policy


def test_expect_seed_prints_the_workshop_matrix() -> None:
    env = captured_env()
    assert run(["expect", "--stage", "seed"], env) == ExitStatus.SUCCESS
    text = output(env)
    seed = stage_by_name(load_stages(env.root), "seed").expect
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| from")]
    table = (
        "from "
        + " ".join(seed.columns)
        + "\n"
        + "\n".join(" ".join(c.strip() for c in ln.strip("|").split("|")) for ln in rows)
    )
    assert table_text(Matrix.from_table(table)) == table_text(seed)
    assert "synthetic" in errors(env)


def test_expect_defaults_to_the_seed_stage() -> None:
    env = captured_env()
    assert run(["expect"], env) == ExitStatus.SUCCESS
    assert "stage 4-seed" in output(env)


def test_expect_json_contract() -> None:
    env = captured_env()
    assert (
        run(["expect", "--stage", "3", "--output", "json-v1", "--to", "10.20.30.40:8443"], env)
        == ExitStatus.SUCCESS
    )
    flows = json.loads(output(env))["flows"]
    assert all(set(f) == {"from", "to", "port", "protocol", "allowed", "reason"} for f in flows)
    by = {(f["from"], f["to"], f["port"], f["protocol"]): f for f in flows}
    assert by[("frontend/frontend", "backend/backend", 80, "TCP")]["allowed"] is True
    assert by[("untrusted/untrusted", "backend/backend", 80, "TCP")]["allowed"] is False
    assert by[("backend/backend", "backend/backend", 80, "TCP")]["allowed"] is True  # loopback included
    assert ("frontend/frontend", "kube-system/coredns", 53, "UDP") in by
    assert by[("untrusted/untrusted", "169.254.169.254", 80, "TCP")]["allowed"] is True
    assert by[("frontend/frontend", "10.20.30.40", 8443, "TCP")]["allowed"] is False
    # stage 3's rules name TCP 80: the backend's UDP 80 stays closed to the frontend
    assert by[("frontend/frontend", "backend/backend", 80, "UDP")]["allowed"] is False
    sources = {f["from"] for f in flows}
    # 4 pods x TCP and UDP on their port (+ SCTP on the database's), coredns x 3 ports, 5 targets (the
    # outside and metadata addresses in both families, and --to)
    assert len(flows) == len(sources) * (4 * 2 + 1 + 3 + 5)


def test_expect_table_for_an_arbitrary_state(tmp_path: Path) -> None:
    items = [
        namespace("web"),
        pod("web/a", "10.0.0.1", {"app": "a"}, [("http", 80, "TCP")]),
        pod("web/b", "10.0.0.2", {"app": "b"}, [("http", 80, "TCP")]),
        policy("web", "deny", {"podSelector": {"matchLabels": {"app": "b"}}}),
    ]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"kind": "List", "items": items}))
    env = captured_env()
    assert run(["expect", "--state", str(path)], env) == ExitStatus.SUCCESS
    lines = [
        [c.strip() for c in ln.split("|")[1:-1]] for ln in output(env).splitlines() if ln.startswith("| web/")
    ]
    assert lines == [["web/a", "-", "DENY"], ["web/b", "ALLOW", "-"]]


def test_explain_the_impostor() -> None:
    env = captured_env()
    assert run(["explain", "untrusted/untrusted", "backend/backend", "80"], env) == ExitStatus.SUCCESS
    text = output(env)
    assert "DENIED: untrusted/untrusted -> backend/backend on TCP 80" in text
    assert "isolated for ingress by backend/default-deny, backend/backend-from-frontend" in text
    assert "namespace 'untrusted'" in text and "does not match namespaceSelector" in text
    assert "the pod's labels do match podSelector role=frontend, but one peer needs both" in text


def test_explain_an_allowed_flow_names_policy_and_rule() -> None:
    env = captured_env()
    assert (
        run(["explain", "frontend/frontend", "backend/backend", "http", "--stage", "3"], env)
        == ExitStatus.SUCCESS
    )
    text = output(env)
    assert "ALLOWED" in text
    assert "allowed by frontend/frontend-to-backend, rule #1 (spec.egress[0])" in text
    assert "allowed by backend/backend-from-frontend, rule #1 (spec.ingress[0])" in text


def test_explain_outside_address_and_port_protocol() -> None:
    env = captured_env()
    assert (
        run(["explain", "backend/backend", "169.254.169.254", "80/TCP", "--stage", "5"], env)
        == ExitStatus.SUCCESS
    )
    assert "169.254.169.254 is inside 0.0.0.0/0 but in its except list" in output(env)
    env = captured_env()
    assert (
        run(["explain", "frontend/frontend", "kube-system/coredns", "53/udp", "--stage", "1"], env)
        == ExitStatus.SUCCESS
    )
    assert "DENIED: frontend/frontend -> kube-system/coredns on UDP 53" in output(env)


def test_explain_unknown_pod_is_a_usage_error() -> None:
    env = captured_env()
    assert run(["explain", "nowhere/x", "backend/backend", "80"], env) == ExitStatus.USAGE
    assert "error: no pod nowhere/x in stage 4-seed" in errors(env)


def test_from_cluster_names_another_context_and_its_server(tmp_path: Path) -> None:
    from lab.boundary.kubectl import Kubectl
    from lab.commands._state import reading_line

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: work\n"
        "clusters: [{name: prod, cluster: {server: 'https://10.0.0.1:6443'}}]\n"
        "contexts: [{name: work, context: {cluster: prod, user: me}}]\nusers: [{name: me, user: {}}]\n"
    )
    env = captured_env()
    assert reading_line(Kubectl("work", str(kubeconfig)), str(kubeconfig), env) == (
        "reading the cluster of context work (server https://10.0.0.1:6443)"
    )
    # the lab's context where the kubeconfig lacks it: said so, with how to read another
    assert reading_line(Kubectl("kind-netpol-lab", str(kubeconfig)), str(kubeconfig), env) == (
        "reading the cluster of context kind-netpol-lab (server not in the kubeconfig); "
        "--context NAME reads another cluster"
    )
