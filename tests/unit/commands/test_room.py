"""`netpol-lab room`: many participants on one shared cluster, driven against the model API server with
real kubectl, each participant through the kubeconfig the room wrote for them."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import cli
from lab.env import project_root
from lab.errors import ExitStatus
from lab.lifecycle import waits
from tests.fakes import captured_env, errors, output
from tests.model.roomplane import RoomPlane
from tests.model.tls import NO_OPENSSL, OPENSSL, serve_tls
from tests.model.world import KUBECTL, NO_KUBECTL, LabWorld

SHARED = "workshop"  # a kind cluster `netpol-lab up` did not build: the room's shared cluster
CONTEXT = f"kind-{SHARED}"


@pytest.fixture
def room_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LabWorld, RoomPlane]]:
    if KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    monkeypatch.setattr(waits, "POLL_INTERVAL", 0.1)
    plane = RoomPlane(project_root())
    world = LabWorld(tmp_path, dataplane=plane.dataplane())
    config = tmp_path / "shared.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kind": "Cluster",
                "apiVersion": "kind.x-k8s.io/v1alpha4",
                "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}],
            }
        )
    )
    done = subprocess.run(
        [str(world.bin / "kind"), "create", "cluster", "--name", SHARED, "--config", str(config)],
        capture_output=True,
        text=True,
        env=world.env_vars,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    if OPENSSL is None:
        pytest.skip(NO_OPENSSL)
    tls = serve_tls(world.cluster)
    point_at(world.kubeconfig, CONTEXT, tls.url, tls.ca_pem)
    try:
        yield world, plane
    finally:
        tls.stop()
        world.close()


def point_at(kubeconfig: Path, context: str, url: str, ca_pem: bytes) -> None:
    """The shared cluster's context over HTTPS with its CA, as a managed cluster's kubeconfig has it."""
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        if entry["name"] == context:
            entry["cluster"] = {
                "server": url,
                "certificate-authority-data": base64.b64encode(ca_pem).decode(),
            }
    kubeconfig.write_text(yaml.safe_dump(config))


def run(world: LabWorld, *argv: str) -> tuple[ExitStatus, str, str]:
    env = world.environment()
    status = cli.run(list(argv), env)
    return status, output(env), errors(env)


def participant_kubectl(
    world: LabWorld, kubeconfig: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Real kubectl with only the participant's kubeconfig (no instructor credentials around)."""
    assert KUBECTL
    env = {**world.env_vars, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=env, timeout=60)


def versions(world: LabWorld) -> dict[str, str]:
    """resourceVersion of every object carrying the room's label."""
    out = {}
    for key in world.cluster.store._objects:
        for obj in world.cluster.store.list(key):
            labels = obj["metadata"].get("labels") or {}
            if labels.get("netpol-lab/room") == "true":
                meta = obj["metadata"]
                out[f"{key}/{meta.get('namespace', '')}/{meta['name']}"] = meta["resourceVersion"]
    return out


def policy(namespace: str, peer_namespace: str | None = None) -> str:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress"]}
    if peer_namespace is not None:
        spec["ingress"] = [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer_namespace}}}
                ]
            }
        ]
    return yaml.safe_dump(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "mine", "namespace": namespace},
            "spec": spec,
        }
    )


def test_room_up_gives_each_participant_a_copy_and_a_kubeconfig_that_works_only_at_home(
    room_world: tuple[LabWorld, RoomPlane], tmp_path: Path
) -> None:
    world, _ = room_world
    out_dir = tmp_path / "handout"
    status, out, err = run(
        world, "room", "up", "--participants", "3", "--context", CONTEXT, "--out", str(out_dir)
    )
    assert status == ExitStatus.SUCCESS, out + err
    assert out.splitlines()[0].startswith(f"room: context {CONTEXT} (https://127.0.0.1:")
    for name in ("p01", "p02", "p03"):
        for role in ("frontend", "backend", "database", "untrusted"):
            namespace = world.cluster.store.get(("", "namespaces"), "", f"{name}-{role}")
            assert namespace is not None
            assert namespace["metadata"]["labels"]["netpol-lab/participant"] == name
            assert namespace["metadata"]["labels"]["netpol-lab/role"] == role
    kubeconfig = out_dir / "p01.kubeconfig"
    assert f"wrote {kubeconfig} (context netpol-lab-p01, token valid until " in out
    config = yaml.safe_load(kubeconfig.read_text())
    assert [u["name"] for u in config["users"]] == ["p01"]
    assert set(config["users"][0]["user"]) == {"token"}
    assert config["users"][0]["user"]["token"] != "model"  # never the instructor's credentials
    assert "model" not in [line.strip() for line in kubeconfig.read_text().splitlines()]
    assert config["contexts"][0]["context"]["namespace"] == "p01-frontend"
    assert kubeconfig.stat().st_mode & 0o077 == 0

    allowed = participant_kubectl(world, kubeconfig, "apply", "-f", "-", input=policy("p01-backend"))
    assert allowed.returncode == 0, allowed.stderr
    refused = participant_kubectl(world, kubeconfig, "apply", "-f", "-", input=policy("p02-backend"))
    assert refused.returncode != 0
    assert (
        'networkpolicies.networking.k8s.io "mine" is forbidden:'
        ' User "system:serviceaccount:netpol-lab-room:p01" cannot get resource "networkpolicies"'
        ' in API group "networking.k8s.io" in the namespace "p02-backend"'
    ) in refused.stderr
    server_side = participant_kubectl(
        world, kubeconfig, "apply", "--server-side", "-f", "-", input=policy("p02-backend")
    )
    assert (
        'cannot patch resource "networkpolicies" in API group "networking.k8s.io" in the namespace'
        ' "p02-backend"' in server_side.stderr
    )
    # at home, but a selector that reaches another participant's namespace: the admission policy refuses it
    reaching = participant_kubectl(
        world, kubeconfig, "apply", "--server-side", "-f", "-", input=policy("p01-backend", "p02-frontend")
    )
    assert reaching.returncode != 0
    assert (
        'networkpolicies.networking.k8s.io "mine" is forbidden: ValidatingAdmissionPolicy '
        "'netpol-lab-room-selectors' with binding 'netpol-lab-room-selectors' denied request: "
        "a namespaceSelector"
    ) in reaching.stderr
    own = participant_kubectl(
        world, kubeconfig, "apply", "--server-side", "-f", "-", input=policy("p01-backend", "p01-frontend")
    )
    assert own.returncode == 0, own.stderr
    pods = participant_kubectl(world, kubeconfig, "get", "pods", "-n", "p01-backend")
    assert pods.returncode == 0, pods.stderr
    nodes = participant_kubectl(world, kubeconfig, "get", "nodes")
    assert 'cannot list resource "nodes" in API group "" at the cluster scope' in nodes.stderr
    deleting = participant_kubectl(world, kubeconfig, "delete", "pod", "--all", "-n", "p01-backend")
    assert 'cannot delete resource "pods" in API group "" in the namespace "p01-backend"' in deleting.stderr

    before = versions(world)
    handed = {p.name: p.read_text() for p in out_dir.glob("*.kubeconfig")}
    status, out, err = run(
        world, "room", "up", "--participants", "3", "--context", CONTEXT, "--out", str(out_dir)
    )
    assert status == ExitStatus.SUCCESS, out + err
    assert versions(world) == before  # the second run changed nothing in the cluster
    assert {p.name: p.read_text() for p in out_dir.glob("*.kubeconfig")} == handed  # nor in the folder

    status, out, err = run(
        world, "room", "up", "--participants", "4", "--context", CONTEXT, "--out", str(out_dir)
    )
    assert status == ExitStatus.SUCCESS, out + err
    after = versions(world)
    assert {k: v for k, v in after.items() if k in before} == before  # the first three untouched
    assert any("p04-backend" in k for k in after)
    assert (out_dir / "p04.kubeconfig").is_file()


def test_participants_apply_stages_and_probe_their_own_copy_then_room_status_and_down(
    room_world: tuple[LabWorld, RoomPlane], tmp_path: Path
) -> None:
    world, plane = room_world
    out_dir = tmp_path / "handout"
    team = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a", "labels": {"app.kubernetes.io/part-of": "netpol-lab"}},
    }
    world.cluster.api.create(world.cluster.registry.find("", "v1", "namespaces"), "", team, manager="test")  # type: ignore[arg-type]
    # someone else's namespace, even labelled as the lab's: the room must never touch it
    status, out, err = run(
        world, "room", "up", "--participants", "3", "--context", CONTEXT, "--out", str(out_dir)
    )
    assert status == ExitStatus.SUCCESS, out + err

    # a participant, with nothing but their kubeconfig: the stage is rendered into their namespaces
    p02 = str(out_dir / "p02.kubeconfig")
    status, out, err = run(world, "stage", "apply", "3", "--kubeconfig", p02)
    assert status == ExitStatus.SUCCESS, out + err
    assert "Stage 3: frontend to backend on port 80 for p02" in out
    assert "namespace: p02-backend" in out and "netpol-lab/participant: p02" in out
    policies = world.objects("networking.k8s.io", "networkpolicies")
    assert {p["metadata"]["namespace"] for p in policies} == {"p02-frontend", "p02-backend", "p02-database"}
    peer = next(p for p in policies if p["metadata"]["name"] == "backend-from-frontend")["spec"]["ingress"][
        0
    ]["from"][0]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"netpol-lab/participant": "p02", "netpol-lab/role": "frontend"}
    }
    # stage 6 is cluster-wide: refused for a participant before anything changes
    status, out, err = run(world, "stage", "apply", "6", "--kubeconfig", p02)
    assert status == ExitStatus.USAGE
    assert "stage 6 is cluster-wide (GlobalNetworkPolicy)" in err and "--participant demo" in err

    # the instructor probes p01 and p02 with their own kubeconfig: only that copy's pods are used
    status, out, err = run(
        world, "stage", "apply", "1", "--participant", "p01", "--context", CONTEXT, "--no-probe"
    )
    assert status == ExitStatus.SUCCESS, out + err
    world.cluster.exec_log.clear()
    status, out, err = run(world, "probe", "--participant", "p02", "--stage", "3", "--context", CONTEXT)
    assert status == ExitStatus.SUCCESS, out + err
    assert {request.namespace for request in world.cluster.exec_log} <= {
        "p02-frontend",
        "p02-backend",
        "p02-database",
        "p02-untrusted",
    }
    assert len({request.namespace for request in world.cluster.exec_log}) == 4
    assert plane.crossings == []  # no probe of p02 went into another copy
    assert "backend.p02-backend.svc.cluster.local" in " ".join(
        " ".join(r.argv) for r in world.cluster.exec_log
    )
    # p01 probed against the wrong stage: the record says how many cells were wrong
    status, out, err = run(
        world, "probe", "--participant", "p01", "--stage", "3", "--context", CONTEXT, "--retry-for", "0"
    )
    assert status == ExitStatus.MISMATCH

    status, out, err = run(world, "room", "status", "--context", CONTEXT)
    assert status == ExitStatus.SUCCESS, err
    assert "$ kubectl --context kind-workshop get namespaces -l netpol-lab/room=true -o json" in err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}  # stdout: the participants alone
    assert set(lines) == {"p01", "p02", "p03"}
    assert "stage 3" in lines["p02"] and "pods 4/4" in lines["p02"] and "matches" in lines["p02"]
    assert "stage 1" in lines["p01"] and "wrong cell" in lines["p01"] and "against stage 3" in lines["p01"]
    assert "no stage applied" in lines["p03"] and "not probed yet" in lines["p03"]
    page = tmp_path / "room.html"
    status, out, err = run(world, "room", "report", "--html", str(page), "--context", CONTEXT)
    assert status == ExitStatus.SUCCESS, err
    html = page.read_text()
    assert 'id="heatmap"' in html and "wrong for p01" in html

    status, out, err = run(world, "room", "down", "--context", CONTEXT, "--out", str(out_dir))
    assert status == ExitStatus.SUCCESS, out + err
    world.cluster.wait_until(
        lambda: not [n for n in world.names("", "namespaces") if n.startswith(("p0", "netpol-lab-room"))]
    )
    assert "team-a" in world.names("", "namespaces")
    assert world.names("admissionregistration.k8s.io", "validatingadmissionpolicies") == []
    assert not list(out_dir.glob("*.kubeconfig"))
    status, out, err = run(world, "room", "status", "--context", CONTEXT)
    assert status == ExitStatus.MISSING_PREREQUISITE


def test_the_dry_run_prints_the_whole_plan_for_three_participants_and_runs_nothing(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "w", "cluster": {"server": "https://203.0.113.7:6443"}}],
                "users": [{"name": "me", "user": {"token": "instructor-secret"}}],
                "contexts": [{"name": "workshop", "context": {"cluster": "w", "user": "me"}}],
                "current-context": "workshop",
            }
        )
    )
    env = captured_env({"PATH": "/nonexistent", "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)})
    out_dir = tmp_path / "handout"
    status = cli.run(["room", "up", "--participants", "3", "--dry-run", "--out", str(out_dir)], env)
    text = output(env)
    assert status == ExitStatus.SUCCESS, errors(env)
    assert text.splitlines()[0] == "room: context workshop (https://203.0.113.7:6443)"
    planned = [d for d in yaml.safe_load_all(_heredocs(text)) if d]
    kinds = [d["kind"] for d in planned]
    assert kinds.count("Namespace") == 13  # 3 x 4, and the room's own
    assert kinds.count("Deployment") == 12 and kinds.count("Service") == 12
    assert (
        kinds.count("Role") == 12 and kinds.count("RoleBinding") == 12 and kinds.count("ServiceAccount") == 3
    )
    assert kinds.count("ValidatingAdmissionPolicy") == 1
    for name in ("p01", "p02", "p03"):
        assert f"$ kubectl --context workshop create token {name} -n netpol-lab-room --duration=12h" in text
        assert f"would write {out_dir}/{name}.kubeconfig: context netpol-lab-{name}" in text
    assert "instructor-secret" not in text
    assert not out_dir.exists()  # nothing written


def _heredocs(text: str) -> str:
    """The documents of every `<<'EOF'` input the dry run printed."""
    docs, inside = [], False
    for line in text.splitlines():
        if line.endswith("<<'EOF'"):
            inside = True
            docs.append("---")
        elif line == "EOF":
            inside = False
        elif inside:
            docs.append(line)
    return "\n".join(docs)


def test_without_a_kubeconfig_context_every_room_action_is_4(tmp_path: Path) -> None:
    for action in (
        ["status"],
        ["down"],
        ["report", "--html", str(tmp_path / "r.html")],
        ["up", "--participants", "2"],
    ):
        env = captured_env(
            {"PATH": "/nonexistent", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
        )
        assert cli.run(["room", *action], env) == ExitStatus.MISSING_PREREQUISITE, errors(env)
        assert errors(env).count("error: ") == 1
