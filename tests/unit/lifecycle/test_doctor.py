"""doctor: one line per problem with its fix; missing Docker, kind or kubectl is fatal."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lab import cli
from lab.boundary.runner import Result
from lab.commands import doctor as doctor_command
from lab.errors import ExitStatus
from lab.lifecycle import doctor
from lab.lifecycle.cluster import Cluster
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.model.world import LabWorld
from tests.unit.fakebin.tools import install
from tests.unit.lab_world import World


def proc_folder(
    tmp_path: Path, watches: int = 524288, instances: int = 512, available_kib: int = 8 << 20
) -> Path:
    inotify = tmp_path / "proc" / "sys" / "fs" / "inotify"
    inotify.mkdir(parents=True)
    (inotify / "max_user_watches").write_text(f"{watches}\n")
    (inotify / "max_user_instances").write_text(f"{instances}\n")
    (tmp_path / "proc" / "meminfo").write_text(f"MemTotal: 16000000 kB\nMemAvailable: {available_kib} kB\n")
    return tmp_path / "proc"


def findings(world: World, tmp_path: Path, **proc: int) -> dict[str, doctor.Finding]:
    found = doctor.run_checks(world.runner(), system="Linux", proc=proc_folder(tmp_path, **proc))
    return {f.check: f for f in found}


def test_a_healthy_machine_passes(tmp_path: Path) -> None:
    found = findings(World(), tmp_path)
    assert {name: f.level for name, f in found.items()} == {
        "docker": doctor.Level.OK,
        "kind": doctor.Level.OK,
        "kubectl": doctor.Level.OK,
        "inotify": doctor.Level.OK,
        "memory": doctor.Level.OK,
        "cluster": doctor.Level.INFO,
        "ipv6": doctor.Level.OK,
    }
    assert "does not exist yet" in found["cluster"].message
    assert "netpol-lab exists" in findings(World(cluster_exists=True), tmp_path / "2")["cluster"].message


def test_docker_daemon_down(tmp_path: Path) -> None:
    found = findings(World(docker=False), tmp_path)["docker"]
    assert found.level is doctor.Level.FAIL
    assert "daemon is not reachable" in found.message
    assert "Is the docker daemon running?" in found.message
    assert "start Docker" in found.message


def test_docker_not_installed() -> None:
    runner = RecordingRunner()
    runner.script["docker"] = Result(("docker",), 127, not_found=True)
    found, info = doctor.check_docker(runner)
    assert found.level is doctor.Level.FAIL and info is None
    assert (
        "Docker is not installed" in found.message and "https://docs.docker.com/get-docker/" in found.message
    )


def test_docker_permission_denied() -> None:
    runner = RecordingRunner()
    runner.answer(
        "docker info", 1, "{}", "permission denied while trying to connect to the Docker daemon socket"
    )
    found, _ = doctor.check_docker(runner)
    assert "usermod -aG docker" in found.message


@pytest.mark.parametrize("tool", ["kind", "kubectl"])
def test_missing_tools_point_at_make_tools(tool: str) -> None:
    runner = RecordingRunner()
    runner.script[tool] = Result((tool,), 127, not_found=True)
    found = doctor.check_kind(runner) if tool == "kind" else doctor.check_kubectl(runner)
    assert found.level is doctor.Level.FAIL
    assert found.line == f"FAIL {tool}: {tool} is not installed: {doctor.TOOLS_FIX}"


def test_old_kind_and_kubectl_are_refused(tmp_path: Path) -> None:
    found = findings(World(kind_version="v0.27.0", kubectl_version="v1.32.4-dispatcher"), tmp_path)
    assert (
        found["kind"].level is doctor.Level.FAIL and "v0.27.0 is older than v0.32.0" in found["kind"].message
    )
    assert (
        found["kubectl"].level is doctor.Level.FAIL
        and "v1.32.4 is older than v1.35.0" in found["kubectl"].message
    )
    assert "cluster" not in found  # kind is unusable, so whether the cluster exists is unknown


def test_low_inotify_limits_warn_with_the_sysctl_fix(tmp_path: Path) -> None:
    found = findings(World(), tmp_path, watches=8192, instances=128)["inotify"]
    assert found.level is doctor.Level.WARN
    assert "max_user_watches=8192, max_user_instances=128" in found.message
    assert "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512" in found.message


def test_inotify_is_not_checked_off_linux(tmp_path: Path) -> None:
    assert doctor.check_inotify("Darwin", proc_folder(tmp_path, watches=1)) is None


def test_little_memory_warns(tmp_path: Path) -> None:
    found = findings(World(), tmp_path, available_kib=1 << 20)["memory"]
    assert found.level is doctor.Level.WARN and "only 1.0 GiB free" in found.message
    small = doctor.DockerInfo("28", 2 << 30)
    warned = doctor.check_memory(small, "Darwin", tmp_path)
    assert warned is not None and "Docker has 2.0 GiB" in warned.message and "--no-flow-ui" in warned.message


def test_the_command_prints_every_line_and_exits_4_on_failure(tmp_path: Path) -> None:
    env = captured_env()
    status = doctor_command.execute(
        env, World(docker=False).runner(), system="Linux", proc=proc_folder(tmp_path)
    )
    assert status is ExitStatus.MISSING_PREREQUISITE
    lines = output(env).splitlines()
    assert lines[0].startswith("FAIL docker: ")
    assert [line.split()[0] for line in lines] == ["FAIL", "ok", "ok", "ok"]
    assert "1 problem(s)" in errors(env)


def test_the_command_through_fake_executables(tmp_path: Path) -> None:
    fakes = install(tmp_path)
    fakes.script(World(kubectl_version="v1.36.1").fake_script())
    env = captured_env(fakes.env())
    parser = argparse.ArgumentParser()
    doctor_command.add_arguments(parser)
    status = doctor_command.run(parser.parse_args([]), env)
    assert status is ExitStatus.SUCCESS, output(env) + errors(env)
    assert fakes.lines[:3] == [
        "docker info --format {{json .}}",
        "kind version",
        "kubectl version --client -o json",
    ]
    assert "$ docker info --format '{{json .}}'" in output(env)  # echoed as a line one can type


# --- exit codes ----------------------------------------------------------------------------------------


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    env = captured_env()
    runner = World().runner()
    status = doctor_command.execute(env, runner, system="Linux", proc=proc_folder(tmp_path, watches=8192))
    assert status is ExitStatus.SUCCESS
    assert "warn inotify: " in output(env)
    assert errors(env) == ""


@pytest.mark.parametrize("tool", ["docker", "kind", "kubectl"])
def test_a_missing_tool_exits_4(tool: str, tmp_path: Path) -> None:
    runner = World().runner()
    for prefix in [p for p in runner.script if p.split()[0] == tool]:
        del runner.script[prefix]
    runner.script[tool] = Result((tool,), 127, not_found=True)
    env = captured_env()
    status = doctor_command.execute(env, runner, system="Linux", proc=proc_folder(tmp_path))
    assert status is ExitStatus.MISSING_PREREQUISITE
    assert [line.split()[:2] for line in output(env).splitlines() if line.startswith("FAIL")] == [
        ["FAIL", f"{tool}:"]
    ]
    assert errors(env) == "error: 1 problem(s) stop the lab from being built: fix the FAIL lines above\n"


def test_without_any_tool_on_path_every_fatal_line_shows_and_exit_is_4(tmp_path: Path) -> None:
    env = captured_env({"PATH": str(tmp_path / "empty")})
    assert cli.run(["doctor"], env) is ExitStatus.MISSING_PREREQUISITE
    fails = [line for line in output(env).splitlines() if line.startswith("FAIL")]
    assert [line.split()[1] for line in fails] == ["docker:", "kind:", "kubectl:"]
    assert "Traceback" not in errors(env)


# --- doctor --enforcement ------------------------------------------------------------------------------


def enforcement(world: World) -> tuple[ExitStatus, str, str, list[float]]:
    env = captured_env()
    slept: list[float] = []
    runner = world.runner()
    status = doctor_command.check_enforcement(env, runner, Cluster(runner), sleep=slept.append)
    return status, output(env), errors(env), slept


def test_enforcement_enforced_exits_0() -> None:
    status, out, _, _ = enforcement(World(cluster_exists=True))
    assert status is ExitStatus.SUCCESS
    network_policy, cluster_policy = out.splitlines()[-2:]
    assert network_policy.startswith("this cluster enforces NetworkPolicy: a deny-all-ingress policy")
    # this scripted cluster's canary stays blocked once the NetworkPolicy goes: no verdict on
    # ClusterNetworkPolicy, and the exit status is NetworkPolicy's (the model world answers both)
    assert cluster_policy.startswith("cannot tell whether this cluster enforces ClusterNetworkPolicy")


def test_enforcement_not_enforced_exits_3() -> None:
    status, out, _, slept = enforcement(World(cluster_exists=True, cni="plain", canary="answers"))
    assert status is ExitStatus.MISMATCH
    assert "this cluster does NOT enforce NetworkPolicy" in out.splitlines()[-1]
    assert len(slept) == 9


def test_enforcement_unknown_exits_1() -> None:
    status, out, _, _ = enforcement(World(cluster_exists=True, canary=None))
    assert status is ExitStatus.ERROR
    assert out.splitlines()[-1].startswith("cannot tell whether this cluster enforces NetworkPolicy")


def test_enforcement_without_a_cluster_is_one_line_naming_lab_up() -> None:
    status, out, err, _ = enforcement(World(cluster_exists=False))
    assert status is ExitStatus.MISSING_PREREQUISITE
    assert err == "error: there is no lab cluster netpol-lab to check: create it with `make lab-up`\n"
    assert "canary" not in out


def test_enforcement_through_the_cli_and_fake_tools(tmp_path: Path) -> None:
    fakes = install(tmp_path)
    fakes.script(World(cluster_exists=True).fake_script())
    env = captured_env(fakes.env())
    assert cli.run(["doctor", "--enforcement"], env) is ExitStatus.SUCCESS, errors(env)
    assert "this cluster enforces NetworkPolicy" in output(env)
    assert fakes.lines[0] == "kind get clusters"
    assert fakes.lines[-1].startswith(
        "kubectl --context kind-netpol-lab delete namespace netpol-lab-enforcement-"
    )


def test_enforcement_without_kind_is_one_line_with_the_one_fix(tmp_path: Path) -> None:
    # the first thing to fix is kind itself; "create it with make lab-up" would contradict it
    env = captured_env({"PATH": str(tmp_path / "empty")})
    assert cli.run(["doctor", "--enforcement"], env) is ExitStatus.MISSING_PREREQUISITE
    assert errors(env).splitlines() == [
        "error: kind is not installed (not on PATH): run `make tools` (pinned kind and kubectl into ./bin, "
        "checksums verified), then rerun"
    ]


# -- cgroup v1: through fake docker and kind on the model, the real runner and real kubectl ---------


def test_cgroup_v1_is_one_line_with_the_fix(model_world: LabWorld) -> None:
    model_world.world.cgroup_version = "1"
    env = model_world.environment()
    assert cli.run(["doctor"], env) == ExitStatus.MISSING_PREREQUISITE
    line = next(line for line in output(env).splitlines() if line.startswith("FAIL cgroups"))
    assert "cgroup v1" in line and "refuse it" in line and "cgroup v2" in line


def test_up_stops_on_cgroup_v1_before_creating_anything(model_world: LabWorld) -> None:
    model_world.world.cgroup_version = "1"
    env = model_world.environment()
    assert cli.run(["up"], env) == ExitStatus.MISSING_PREREQUISITE
    assert errors(env).splitlines()[-1].startswith("error: Docker runs on cgroup v1")
    assert not [call for call in model_world.tool_calls() if call[:3] == ["kind", "create", "cluster"]]
    assert model_world.cluster.kind is None


def test_cgroup_v2_passes(model_world: LabWorld) -> None:
    env = model_world.environment()
    assert cli.run(["doctor"], env) == ExitStatus.SUCCESS
    assert "ok   cgroups: cgroup v2" in output(env)


@pytest.mark.parametrize(
    ("network", "wanted", "level", "words"),
    [
        ("true", True, doctor.Level.OK, "has IPv6: a dual-stack lab can be built"),
        ("false", True, doctor.Level.WARN, "the lab falls back to IPv4"),
        ("false", False, doctor.Level.INFO, "`make lab-up IPFAMILY=dual` would fall back to IPv4"),
        ("missing", True, doctor.Level.INFO, "kind creates it, with IPv6 where Docker allows it"),
    ],
)
def test_doctor_says_whether_docker_gives_the_nodes_ipv6(
    network: str, wanted: bool, level: doctor.Level, words: str
) -> None:
    found = doctor.check_ipv6(World(kind_network_ipv6=network).runner(), wanted=wanted)
    assert found.level is level
    assert words in found.message
    if level is doctor.Level.WARN:
        assert "docker network rm kind" in found.message  # the fix


def test_doctor_lists_the_ipv6_finding(tmp_path: Path) -> None:
    found = findings(World(kind_network_ipv6="false"), tmp_path)["ipv6"]
    assert found.level is doctor.Level.INFO and "would fall back to IPv4" in found.message
