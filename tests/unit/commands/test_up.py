"""`up`: the plan's order, idempotent re-runs, a lab built differently, failures and timeouts.

Driven through the RecordingRunner and, for the same scenarios, through fake kind,
kubectl and docker executables on PATH with the real ShRunner.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import cli, pins
from lab.boundary.runner import Result, Runner, ShRunner
from lab.commands import up
from lab.env import Environment, project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle import build, plain_network
from lab.lifecycle.build import ENFORCEMENT_RECORD
from lab.lifecycle.cluster import RENDERED_CONFIG
from lab.lifecycle.cni import KINDNET, PLAIN
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.unit.fakebin.tools import FakeTools, install
from tests.unit.lab_world import KUBECTL, World, calico_folder, fingerprint

APPLY = f"{KUBECTL} apply --server-side --force-conflicts --field-manager=netpol-lab"


@pytest.fixture
def lab_root(tmp_path: Path) -> Path:
    """A copy of the files `up` reads (kind-config.yaml, manifests/), so runs write nothing into the repo."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(project_root() / "kind-config.yaml", root)
    shutil.copytree(project_root() / "manifests", root / "manifests")
    return root


@pytest.fixture
def lab_env(lab_root: Path, tmp_path: Path) -> Environment:
    _, sha_env = calico_folder(tmp_path / "calico")
    return captured_env(
        {"PATH": "/nonexistent", "NETPOL_LAB_CALICO_DIR": str(tmp_path / "calico"), **sha_env}, root=lab_root
    )


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    up.add_arguments(parser)
    return parser.parse_args(list(argv))


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run_up(env: Environment, runner: Runner, *argv: str, time: FakeTime | None = None) -> ExitStatus:
    """`up` as the CLI runs it (LabError -> one error line and its status), with a fake clock."""
    time = time or FakeTime()
    try:
        return up.execute(
            parse(*argv),
            env,
            runner,
            system="Linux",
            proc=Path("/nonexistent"),
            sleep=time.sleep,
            clock=time.clock,
        )
    except LabError as error:
        return env.fail(error.message, error.status)


def index_of(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


# --- the plan ------------------------------------------------------------------------------------------


def test_dry_run_prints_the_whole_plan_in_order_and_runs_nothing(lab_env: Environment) -> None:
    # the real runner in dry-run mode: it echoes each command into the output and starts nothing
    runner = ShRunner(lab_env.stdout, env=lab_env.env, dry_run=True)
    assert run_up(lab_env, runner, "--dry-run") is ExitStatus.SUCCESS
    text = output(lab_env)
    headings = [line for line in text.splitlines() if line.startswith("==> ")]
    assert [h.split("] ", 1)[1] for h in headings] == [title for title, _, _ in build.STEPS]
    order = [
        "$ docker info",
        "$ kind version",
        "$ kubectl version --client",
        "$ kind get clusters",
        f"$ kind create cluster --name netpol-lab --config {RENDERED_CONFIG} --wait 0s",
        "$ docker image ls --digests",
        "$ kind load docker-image ",
        f"$ {APPLY} -f ",
        f"$ {KUBECTL} wait --for=condition=Established",
        f"$ {APPLY} -f manifests/calico/installation.yaml -f manifests/calico/apiserver.yaml",
        "wait until: tigerastatus/calico Available",
        "wait until: tigerastatus/apiserver Available",
        "wait until: 3 nodes Ready",
        "wait until: CoreDNS Ready",
        f"$ {APPLY} -f manifests/workloads/namespaces.yaml",  # the namespaces first (#1 of the first run)
        f"$ {APPLY} -f manifests/workloads/",
        "wait until: lab pods Ready",
        f"$ {APPLY} -f - <<'EOF'",  # the control's and the stand-in's namespaces (their files hold more)
        f"$ {APPLY} -f manifests/control/ -f manifests/metadata-standin/",
        f"$ {KUBECTL} rollout status deployment/control -n netpol-lab-control --timeout=",
        f"$ {KUBECTL} rollout status daemonset/metadata-standin -n netpol-lab-metadata --timeout=120s",
        "enforcement check: create a canary",
        "  name: netpol-lab-enforcement-",  # the canary's namespace, applied before its pods
        "kind: NetworkPolicy",
        f"$ {KUBECTL} delete namespace netpol-lab-enforcement-",
        "dry run: nothing was run",
    ]
    lines = text.splitlines()
    positions = [index_of(lines, item) for item in order]
    assert positions == sorted(positions)
    preload = lines[index_of(lines, "$ kind load docker-image")]
    assert "quay.io/calico/node:v3.32.1" in preload and "agnhost:2.66.0" in preload
    assert "kindest/node" not in preload  # the nodes run it already
    assert not any(line.startswith("$ docker exec") for line in lines)  # Calico's nodes are not wired by hand
    assert not (lab_env.root / RENDERED_CONFIG).exists()  # nothing written either
    assert not (lab_env.root / ".cache").exists()


def test_dry_run_through_the_cli_needs_no_tools_at_all(lab_root: Path) -> None:
    env = captured_env({"PATH": str(lab_root / "empty")}, root=lab_root)
    assert cli.run(["up", "--dry-run", "--no-flow-ui"], env) is ExitStatus.SUCCESS
    text = output(env)
    assert "$ kind create cluster" in text
    assert f"$ {KUBECTL} delete --ignore-not-found -f manifests/calico/goldmane.yaml" in text
    assert (
        "fetch https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/tigera-operator.yaml"
        in text
    )


# --- building and re-running ---------------------------------------------------------------------------


def test_a_fresh_build_runs_every_step_once(lab_env: Environment) -> None:
    runner = World().runner()
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS, errors(lab_env)
    lines = runner.lines
    create = index_of(lines, "kind create cluster")
    crds = index_of(lines, f"{APPLY} -f ")
    workloads = lines.index(f"{APPLY} -f manifests/workloads/")
    assert create < crds < workloads
    assert (lab_env.root / RENDERED_CONFIG).read_text().count(fingerprint()) == 3
    assert "The lab is ready" in output(lab_env)
    assert "frontend-7d9f" in output(lab_env)  # the summary shows the pods and their nodes


def test_a_healthy_lab_is_left_as_it_is(lab_env: Environment) -> None:
    runner = World(cluster_exists=True).runner()
    time = FakeTime()
    assert run_up(lab_env, runner, time=time) is ExitStatus.SUCCESS, errors(lab_env)
    assert not any(line.startswith("kind create") for line in runner.lines)
    assert "exists and matches: not recreated" in output(lab_env)
    assert time.sleeps == []  # every wait was satisfied by its first look
    # re-applying is server-side apply: no `create`, which would fail with AlreadyExists
    assert not any(" create " in line for line in runner.lines if line.startswith("kubectl"))


def test_a_half_built_lab_carries_on_and_waits_for_the_nodes(lab_env: Environment) -> None:
    world = World(cluster_exists=True)
    runner = world.runner()
    polls = {"n": 0}
    not_ready, ready = World(nodes_ready=False).answers(), world.answers()

    def nodes(argv: tuple[str, ...], _: str | None) -> Result:
        polls["n"] += 1
        stdout = (not_ready if polls["n"] < 4 else ready)[f"{KUBECTL} get nodes"][0]
        return Result(argv, 0, stdout, "")

    runner.script[f"{KUBECTL} get nodes"] = nodes
    time = FakeTime()
    assert run_up(lab_env, runner, time=time) is ExitStatus.SUCCESS, errors(lab_env)
    assert not any(line.startswith("kind create") for line in runner.lines)
    assert any(line.startswith(f"{APPLY} -f manifests/calico/installation.yaml") for line in runner.lines)
    assert time.sleeps == [2.0, 2.0]  # the first look (built-differently check) plus three polls


def test_a_missing_kube_context_is_written_again(lab_env: Environment) -> None:
    runner = World(cluster_exists=True).runner()
    runner.answer("kubectl config get-contexts", 1, "", "error: context kind-netpol-lab not found")
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS
    assert "kind export kubeconfig --name netpol-lab" in runner.lines


def test_a_cluster_built_differently_is_not_touched(lab_env: Environment) -> None:
    runner = World(cluster_exists=True, fingerprint="0123456789abcdef").runner()
    assert run_up(lab_env, runner) is ExitStatus.ERROR
    message = errors(lab_env)
    assert "exists but was built differently" in message
    assert "make lab-down && make lab-up" in message
    assert not any(" apply " in line for line in runner.lines)


def test_a_cluster_with_another_cni_names_it(lab_env: Environment) -> None:
    runner = World(cluster_exists=True, cni="kindnet", fingerprint=fingerprint(KINDNET)).runner()
    assert run_up(lab_env, runner) is ExitStatus.ERROR
    assert "CNI kindnet, asked for calico" in errors(lab_env)


def test_a_foreign_cluster_of_the_same_name_is_not_touched(lab_env: Environment) -> None:
    runner = World(cluster_exists=True, fingerprint=None).runner()
    assert run_up(lab_env, runner) is ExitStatus.ERROR
    assert "not made by `netpol-lab up`" in errors(lab_env)


def test_kindnet_skips_calico(lab_env: Environment) -> None:
    runner = World(cni="kindnet", fingerprint=fingerprint(KINDNET)).runner()
    assert run_up(lab_env, runner, "--cni", "kindnet") is ExitStatus.SUCCESS, errors(lab_env)
    assert_no_calico_but_the_cluster_policy_crd(runner.lines)
    assert "disableDefaultCNI: false" in (lab_env.root / RENDERED_CONFIG).read_text()


def test_kindnet_builds_without_the_cluster_policy_crd_when_the_bundle_fails_its_check(
    lab_env: Environment, tmp_path: Path
) -> None:
    (tmp_path / "calico" / "v1_crd_projectcalico_org.yaml").write_text("tampered\n")
    runner = World(cni="kindnet", fingerprint=fingerprint(KINDNET)).runner()
    assert run_up(lab_env, runner, "--cni", "kindnet") is ExitStatus.SUCCESS, errors(lab_env)
    [warning] = [line for line in errors(lab_env).splitlines() if "ClusterNetworkPolicy" in line]
    assert warning.startswith("warning: no ClusterNetworkPolicy CRD for this lab (")
    assert "stage 7 will say the kind is not served" in warning
    assert not any("clusternetworkpolicies" in line for line in runner.lines)


def test_the_hook_runs_after_the_workloads_are_ready_and_before_the_summary(
    lab_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = World().runner()
    seen: list[int] = []
    monkeypatch.setattr(build, "AFTER_WORKLOADS_READY", [lambda ctx: seen.append(len(runner.lines))])
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS
    [at] = seen
    before = runner.lines[:at]
    assert any(
        line.startswith(f"{KUBECTL} get pods -A -l app.kubernetes.io/part-of=netpol-lab,role")
        for line in before
    )
    assert before[-1].startswith(f"{KUBECTL} rollout status daemonset/metadata-standin")
    assert not any("canary" in line for line in runner.lines)  # the enforcement check was replaced
    assert any(
        line.startswith(f"{KUBECTL} get nodes") for line in runner.lines[at:]
    )  # the summary comes after


def test_an_agnhost_override_applies_a_rendered_copy(lab_env: Environment) -> None:
    env = captured_env(
        {**lab_env.env, "NETPOL_LAB_AGNHOST_IMAGE": "registry.example/agnhost:2.66.1"}, root=lab_env.root
    )
    runner = World().runner()
    assert run_up(env, runner) is ExitStatus.SUCCESS, errors(env)
    assert f"{APPLY} -f .cache/workloads/" in runner.lines
    rendered = (env.root / ".cache" / "workloads" / "frontend.yaml").read_text()
    assert "image: registry.example/agnhost:2.66.1" in rendered
    assert pins.AGNHOST_IMAGE not in rendered
    assert "pins overridden by: NETPOL_LAB_AGNHOST_IMAGE" in output(env)


# --- the enforcement check, the plain network, preloading, the control pod and the stand-in -------------


def test_an_enforcing_lab_says_so(lab_env: Environment) -> None:
    runner = World().runner()
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS, errors(lab_env)
    assert "this cluster enforces NetworkPolicy: a deny-all-ingress policy blocked the canary" in output(
        lab_env
    )
    canary = index_of(runner.lines, f"{KUBECTL} get pod canary")
    assert index_of(runner.lines, f"{KUBECTL} rollout status daemonset/metadata-standin") < canary
    assert runner.lines[-1].startswith(
        f"{KUBECTL} get pods -A -l app.kubernetes.io/part-of=netpol-lab -o json"
    )


def recorded_verdicts(runner: RecordingRunner) -> list[dict[str, Any]]:
    docs = [doc for call in runner.calls if call.input for doc in yaml.safe_load_all(call.input) if doc]
    return [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == ENFORCEMENT_RECORD]


def test_a_definite_verdict_is_recorded_for_the_next_run(lab_env: Environment) -> None:
    runner = World().runner()
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS, errors(lab_env)
    [record] = recorded_verdicts(runner)
    assert record["data"] == {"verdict": "enforces"}
    assert record["metadata"]["labels"] == {"app.kubernetes.io/part-of": "netpol-lab"}


def test_a_lab_checked_when_it_was_built_is_not_checked_again(lab_env: Environment) -> None:
    runner = World(cluster_exists=True, enforcement_recorded="enforces").runner()
    time = FakeTime()
    assert run_up(lab_env, runner, time=time) is ExitStatus.SUCCESS, errors(lab_env)
    assert not any("canary" in line for line in runner.lines)
    assert not any(call.input and "netpol-lab-enforcement-" in call.input for call in runner.calls)
    assert recorded_verdicts(runner) == []
    assert "recorded when the lab was built: enforces" in output(lab_env)
    assert time.sleeps == []


def test_an_unknown_verdict_is_not_recorded(lab_env: Environment) -> None:
    runner = World(canary=None).runner()
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS
    assert recorded_verdicts(runner) == []


def test_a_recorded_non_enforcing_plain_lab_still_says_so_loudly(lab_env: Environment) -> None:
    world = World(cluster_exists=True, cni="plain", fingerprint=fingerprint(PLAIN))
    world.enforcement_recorded = "does-not-enforce"
    assert run_up(lab_env, world.runner(), "--cni", "plain") is ExitStatus.SUCCESS, errors(lab_env)
    assert "!!! NetworkPolicy is NOT enforced in this lab (CNI plain)" in output(lab_env)


def test_calico_that_does_not_enforce_fails_the_lab(lab_env: Environment) -> None:
    runner = World(canary="answers").runner()
    assert run_up(lab_env, runner) is ExitStatus.MISMATCH
    [line] = [ln for ln in errors(lab_env).splitlines() if ln.startswith("error: ")]
    assert line.startswith("error: this cluster (CNI calico) does NOT enforce NetworkPolicy")
    assert "rebuild it with `make lab-down && make lab-up`" in line
    assert "The lab is ready" not in output(lab_env)


def test_kindnet_that_does_not_enforce_fails_and_names_its_cni(lab_env: Environment) -> None:
    runner = World(cni="kindnet", fingerprint=fingerprint(KINDNET), canary="answers").runner()
    assert run_up(lab_env, runner, "--cni", "kindnet") is ExitStatus.MISMATCH
    assert "`make lab-down && make lab-up CNI=kindnet`" in errors(lab_env)


def test_a_check_that_cannot_tell_is_a_warning(lab_env: Environment) -> None:
    runner = World(canary=None).runner()  # the canary never gets an IP
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS
    assert "warning: cannot tell whether this cluster enforces NetworkPolicy" in errors(lab_env)
    assert "netpol-lab doctor --enforcement" in errors(lab_env)


def test_the_check_can_be_skipped(lab_env: Environment) -> None:
    runner = World().runner()
    assert run_up(lab_env, runner, "--skip-enforcement-check") is ExitStatus.SUCCESS
    assert not any("canary" in line or "enforcement" in line for line in runner.lines)
    assert "enforcement check skipped" in output(lab_env)


def test_plain_builds_without_calico_wires_the_nodes_and_says_loudly_that_nothing_is_enforced(
    lab_env: Environment,
) -> None:
    runner = World(cni="plain", fingerprint=fingerprint(PLAIN), canary="answers").runner()
    time = FakeTime()
    assert run_up(lab_env, runner, "--cni", "plain", time=time) is ExitStatus.SUCCESS, errors(lab_env)
    lines = runner.lines
    assert_no_calico_but_the_cluster_policy_crd(lines)
    rendered = (lab_env.root / RENDERED_CONFIG).read_text()
    assert "disableDefaultCNI: true" in rendered and "netpol-lab/cni: plain" in rendered
    first_exec = index_of(lines, "docker exec ")
    assert (
        index_of(lines, "kind create cluster") < first_exec < lines.index(f"{APPLY} -f manifests/workloads/")
    )
    assert "docker exec netpol-lab-worker ip route replace 192.168.0.0/24 via 172.18.0.2" in lines
    # the nodes are read once before wiring (the pod-CIDR wait), not again right after it
    assert [line for line in lines[:first_exec] if line.startswith(f"{KUBECTL} get nodes")] == [
        f"{KUBECTL} get nodes -o json"
    ]
    assert "docker exec netpol-lab-control-plane ip route replace 192.168.2.0/24 via 172.18.0.4" in lines
    text = output(lab_env)
    assert "!!! NetworkPolicy is NOT enforced in this lab (CNI plain), as intended for this mode." in text
    assert "The lab is ready (CNI plain, NetworkPolicy NOT enforced)" in text
    assert time.sleeps == [1.0] * 9  # the check gave the CNI its ten chances
    assert "error" not in errors(lab_env)


def test_plain_dry_run_shows_the_node_wiring_with_what_it_will_read(lab_env: Environment) -> None:
    runner = ShRunner(lab_env.stdout, env=lab_env.env, dry_run=True)
    assert run_up(lab_env, runner, "--dry-run", "--cni", "plain") is ExitStatus.SUCCESS
    lines = output(lab_env).splitlines()
    order = [
        "$ kind create cluster",
        "wait until: 3 nodes have a pod CIDR",
        "$ docker exec netpol-lab-control-plane cat /sys/class/net/eth0/mtu",
        "$ docker exec netpol-lab-worker ip route replace '<podCIDR of netpol-lab-control-plane>' via "
        "'<InternalIP of netpol-lab-control-plane>'",
        "$ docker exec netpol-lab-worker2 iptables -t nat -A POSTROUTING -s 192.168.0.0/16 '!' -d ",
        "wait until: 3 nodes Ready",
    ]
    positions = [index_of(lines, item) for item in order]
    assert positions == sorted(positions)
    assert_no_calico_but_the_cluster_policy_crd([line[2:] for line in lines if line.startswith("$ ")])
    # of Calico's pinned files, only the CRD bundle is checked (and nothing fetched: NETPOL_LAB_CALICO_DIR)
    assert not any("fetch https://" in line or "tigera-operator.yaml" in line for line in lines)
    assert len([line for line in lines if "v1_crd_projectcalico_org.yaml" in line]) == 1


def assert_no_calico_but_the_cluster_policy_crd(lines: list[str]) -> None:
    """A lab without Calico runs none of it: no operator, no Installation, no Calico status; from
    Calico's bundle it applies one CRD, ClusterNetworkPolicy's (stored, enforced by nothing)."""
    calico = [line for line in lines if "calico" in line.lower()]
    assert not any("tigera" in line or "installation.yaml" in line for line in lines)
    [crd] = [line for line in calico if line.startswith(APPLY)]
    assert crd.endswith("/clusternetworkpolicies.policy.networking.k8s.io.yaml")
    waits = [line for line in calico if line.startswith(f"{KUBECTL} wait")]
    assert all(line.endswith("/clusternetworkpolicies.policy.networking.k8s.io.yaml") for line in waits)
    assert calico == [crd, *waits]


def test_a_failed_preload_is_a_warning(lab_env: Environment) -> None:
    runner = World().runner()
    runner.answer(
        "docker image ls",
        stdout='{"Repository": "registry.k8s.io/e2e-test-images/agnhost", "Tag": "2.66.0", '
        '"Digest": "sha256:e518c9d629672720031c601b9aaa83e218ecf5821aff5cc16ac972e109096540"}\n',
    )
    runner.answer("kind load docker-image", 1, "", "ERROR: failed to load image: no space left on device")
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS, errors(lab_env)
    assert (
        "warning: could not preload images from Docker (kind load docker-image failed: ERROR: failed to load "
        "image: no space left on device); the nodes pull them"
    ) in errors(lab_env)
    assert index_of(runner.lines, "kind load docker-image") < index_of(runner.lines, f"{APPLY} -f ")


def test_without_calico_no_calico_image_is_preloaded(lab_env: Environment) -> None:
    runner = ShRunner(lab_env.stdout, env=lab_env.env, dry_run=True)
    assert run_up(lab_env, runner, "--dry-run", "--cni", "kindnet") is ExitStatus.SUCCESS
    lines = output(lab_env).splitlines()
    preload = lines[index_of(lines, "$ kind load docker-image")]
    assert preload.split()[4:] == ["registry.k8s.io/e2e-test-images/agnhost:2.66.0", "--name", "netpol-lab"]


def test_a_standin_that_is_not_ready_is_a_warning(lab_env: Environment) -> None:
    runner = World(standin_ready=False).runner()
    assert run_up(lab_env, runner) is ExitStatus.SUCCESS, errors(lab_env)
    assert (
        "warning: the metadata stand-in is not Ready (error: timed out waiting for the condition): the "
        "metadata cells will be inconclusive until it is"
    ) in errors(lab_env)
    assert "metadata stand-in not Ready" in output(lab_env)  # the summary's status says it again


def test_a_control_pod_that_is_not_ready_fails(lab_env: Environment) -> None:
    runner = World(control_ready=False).runner()
    assert run_up(lab_env, runner) is ExitStatus.TIMEOUT
    assert "the control pod is not Ready (error: timed out waiting for the condition)" in errors(lab_env)
    assert "--- pods not Ready" in output(lab_env)


def test_an_agnhost_override_applies_to_the_control_and_the_standin(lab_env: Environment) -> None:
    env = captured_env(
        {**lab_env.env, "NETPOL_LAB_AGNHOST_IMAGE": "registry.example/agnhost:2.66.1"}, root=lab_env.root
    )
    runner = World().runner()
    assert run_up(env, runner) is ExitStatus.SUCCESS, errors(env)
    assert f"{APPLY} -f .cache/control/ -f .cache/metadata-standin/" in runner.lines
    standin = (env.root / ".cache" / "metadata-standin" / "standin.yaml").read_text()
    assert standin.count("image: registry.example/agnhost:2.66.1") == 2


# --- failures ------------------------------------------------------------------------------------------


def test_missing_docker_ends_with_that_line(lab_env: Environment) -> None:
    runner = World(docker=False).runner()
    assert run_up(lab_env, runner) is ExitStatus.MISSING_PREREQUISITE
    assert errors(lab_env).splitlines() == [
        "error: Docker is installed but its daemon is not reachable (Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?): start Docker (Docker Desktop, or "
        "`sudo systemctl start docker`) and rerun"
    ]
    assert not any(line.startswith("kind get") for line in runner.lines)


def test_no_docker_and_no_kind_is_still_one_line(lab_env: Environment) -> None:
    runner = World(docker=False, kind_version="v0.20.0").runner()
    assert run_up(lab_env, runner) is ExitStatus.MISSING_PREREQUISITE
    [line] = errors(lab_env).splitlines()
    assert line.startswith("error: Docker is installed but its daemon is not reachable")
    assert line.endswith("; `make doctor` shows 1 more problem(s)")


def test_fake_tools_nothing_installed_but_python(lab_root: Path) -> None:
    env = captured_env({"PATH": str(lab_root / "empty")}, root=lab_root)
    assert cli.run(["up"], env) is ExitStatus.MISSING_PREREQUISITE
    [line] = errors(env).splitlines()
    assert line.startswith("error: Docker is not installed (no `docker` on PATH)")
    assert line.endswith("`make doctor` shows 2 more problem(s)")


def test_a_checksum_mismatch_applies_nothing(lab_env: Environment, tmp_path: Path) -> None:
    (tmp_path / "calico" / "tigera-operator.yaml").write_text("tampered\n")
    runner = World().runner()
    assert run_up(lab_env, runner) is ExitStatus.ERROR
    assert "do not match their pinned checksums (tigera-operator.yaml: sha256" in errors(lab_env)
    assert not any(" apply " in line for line in runner.lines)
    assert not any(line.startswith("kind create") for line in runner.lines)  # checked before building


def test_a_failed_create_says_what_kind_said(lab_env: Environment) -> None:
    runner = World(create_fails=True).runner()
    assert run_up(lab_env, runner) is ExitStatus.ERROR
    assert "kind could not create the cluster: ERROR: failed to create cluster" in errors(lab_env)
    assert not any(" apply " in line for line in runner.lines)
    assert not any(line.startswith("kind export logs") for line in runner.lines)  # kind removed the nodes


def test_a_timeout_prints_what_is_not_ready_and_exports_logs(lab_env: Environment) -> None:
    runner = World(calico_available=False, pods_ready=False).runner()
    time = FakeTime()
    assert run_up(lab_env, runner, "--timeout", "60", time=time) is ExitStatus.TIMEOUT
    text, err = output(lab_env), errors(lab_env)
    assert "timed out after" in err and "tigerastatus/calico Available" in err and "Degraded" in err
    assert "--- pods not Ready" in text
    assert "frontend/frontend-7d9f on netpol-lab-worker: agnhost: ImagePullBackOff (pull failed)" in text
    assert "--- Calico status (tigerastatus)" in text and "calico: Degraded (calico-node not ready)" in text
    assert "kind logs exported to /tmp/netpol-lab-logs" in text
    assert any(line.startswith("kind export logs ") for line in runner.lines)
    assert not any(line.endswith("manifests/workloads/") for line in runner.lines)
    assert 55 <= time.now - 1000 <= 60  # one overall deadline, not overshot


def test_a_failed_apply_after_the_cluster_exists_is_diagnosed(lab_env: Environment) -> None:
    runner = World(apply_fails=True).runner()
    assert run_up(lab_env, runner) is ExitStatus.ERROR
    assert "admission webhook denied" in errors(lab_env)
    assert "--- recent warning events" in output(lab_env)


# --- the same through fake executables and the real ShRunner --------------------------------------------


@pytest.fixture
def fakes(tmp_path: Path) -> FakeTools:
    return install(tmp_path / "fake")


def fake_env(fakes: FakeTools, lab_env: Environment) -> Environment:
    return captured_env(fakes.env(**{k: v for k, v in lab_env.env.items() if k != "PATH"}), root=lab_env.root)


def test_fake_tools_no_docker_daemon(fakes: FakeTools, lab_env: Environment) -> None:
    fakes.script(World(docker=False).fake_script())
    env = fake_env(fakes, lab_env)
    assert cli.run(["up"], env) is ExitStatus.MISSING_PREREQUISITE
    [line] = errors(env).splitlines()
    assert line.startswith("error: Docker is installed but its daemon is not reachable")
    assert fakes.lines[0] == "docker info --format {{json .}}"


def test_fake_tools_existing_healthy_cluster(fakes: FakeTools, lab_env: Environment) -> None:
    fakes.script(World(cluster_exists=True).fake_script())
    env = fake_env(fakes, lab_env)
    assert cli.run(["up", "--timeout", "120"], env) is ExitStatus.SUCCESS, errors(env)
    assert not any(line.startswith("kind create") for line in fakes.lines)
    assert f"$ {APPLY} -f manifests/workloads/" in output(env)


def test_fake_tools_failed_create(fakes: FakeTools, lab_env: Environment) -> None:
    fakes.script(World(create_fails=True).fake_script())
    env = fake_env(fakes, lab_env)
    assert cli.run(["up"], env) is ExitStatus.ERROR
    [line] = [ln for ln in errors(env).splitlines() if not ln.startswith("warning: ")]
    assert "ERROR: failed to create cluster: could not pull image kindest/node" in line
    assert any(line.startswith("kind create cluster --name netpol-lab") for line in fakes.lines)


def test_fake_tools_timeout(fakes: FakeTools, lab_env: Environment) -> None:
    fakes.script(World(calico_available=False).fake_script())
    env = fake_env(fakes, lab_env)
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root)
    assert run_up(env, runner, "--timeout", "30") is ExitStatus.TIMEOUT
    assert "kind logs exported to /tmp/netpol-lab-logs" in output(env)
    assert any(line.startswith("kind export logs") for line in fakes.lines)


def test_fake_tools_checksum_mismatch(fakes: FakeTools, lab_env: Environment, tmp_path: Path) -> None:
    (tmp_path / "calico" / "v1_crd_projectcalico_org.yaml").write_text("tampered\n")
    fakes.script(World().fake_script())
    env = fake_env(fakes, lab_env)
    assert cli.run(["up"], env) is ExitStatus.ERROR
    assert not any(line.startswith("kubectl") and " apply " in line for line in fakes.lines)


def test_fake_tools_plain_network_through_the_real_runner(fakes: FakeTools, lab_env: Environment) -> None:
    world = World(cni="plain", fingerprint=fingerprint(PLAIN))
    script = world.fake_script()
    script["docker exec netpol-lab-worker iptables -t nat -C POSTROUTING"] = {"exit": 1, "stderr": "Bad rule"}
    fakes.script(script)
    env = fake_env(fakes, lab_env)
    assert cli.run(["up", "--cni", "plain", "--skip-enforcement-check"], env) is ExitStatus.SUCCESS, errors(
        env
    )
    calls = [call for call in fakes.calls if call[:2] == ["docker", "exec"]]
    [write] = [call for call in calls if call[2] == "netpol-lab-worker" and call[3:5] == ["sh", "-c"]]
    assert json.loads(write[-2])["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "192.168.1.0/24"}]]
    assert write[-1] == "/etc/cni/net.d/10-netpol-lab.conflist"
    added = [call for call in calls if "-A" in call]
    assert [call[2] for call in added] == [
        "netpol-lab-worker"
    ]  # the other nodes had the rule (iptables -C: 0)
    assert added[0][3:] == [
        "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.168.0.0/16", "!", "-d", "192.168.0.0/16",
        "-m", "comment", "--comment", plain_network.MASQ_COMMENT, "-j", "MASQUERADE",
    ]  # fmt: skip
    assert "$ docker exec netpol-lab-worker ip route replace 192.168.0.0/24 via 172.18.0.2" in output(env)
