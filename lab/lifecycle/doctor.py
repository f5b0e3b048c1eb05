"""Checks of this machine before building the lab; each problem is one line with its fix.

Docker must answer, kind and kubectl must be present and new enough (failures: the
lab cannot be built, `up` stops with MISSING_PREREQUISITE). Low inotify limits on
Linux and little memory are warnings: the lab may still come up, but these are the
usual causes of nodes that never get Ready. Whether the cluster exists is shown
for information.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import pins
from lab.boundary.runner import Runner

GIB = 1 << 30
# Three kind nodes with Calico (and its flow UI) and four small pods: about 3 GiB in use.
MIN_DOCKER_MEMORY = 4 * GIB
MIN_AVAILABLE_MEMORY = 3 * GIB
# kind's known-issues page recommends these for clusters with several nodes.
INOTIFY_LIMITS = {"max_user_watches": 524288, "max_user_instances": 512}
TOOLS_FIX = "run `make tools` (pinned kind and kubectl into ./bin, checksums verified)"


class Level(enum.Enum):
    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: a level and one line (with the fix when something is wrong)."""

    check: str
    level: Level
    message: str

    @property
    def line(self) -> str:
        return f"{self.level.value:<4} {self.check}: {self.message}"


@dataclass(frozen=True)
class DockerInfo:
    """The parts of `docker info` the checks read."""

    server_version: str = ""
    mem_total: int = 0
    cgroup_version: str = ""  # "1" or "2" (empty: Docker did not say)


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _dotted(version: tuple[int, ...]) -> str:
    return "v" + ".".join(str(part) for part in version)


def check_docker(runner: Runner) -> tuple[Finding, DockerInfo | None]:
    result = runner.run(["docker", "info", "--format", "{{json .}}"], timeout=30)
    if result.dry_run:
        return Finding("docker", Level.INFO, "not checked (dry run)"), None
    if result.not_found:
        return Finding(
            "docker",
            Level.FAIL,
            "Docker is not installed (no `docker` on PATH): install Docker Desktop or Docker Engine "
            "(https://docs.docker.com/get-docker/), start it, and rerun",
        ), None
    try:
        data = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        data = {}
    info = DockerInfo(
        str(data.get("ServerVersion") or ""),
        int(data.get("MemTotal") or 0) if str(data.get("MemTotal") or "0").isdigit() else 0,
        str(data.get("CgroupVersion") or ""),
    )
    if result.ok and info.server_version:
        gib = info.mem_total / GIB
        return Finding(
            "docker", Level.OK, f"Docker {info.server_version} answers ({gib:.1f} GiB memory)"
        ), info
    error = result.error_line() if not result.ok else "no server version in `docker info`"
    if "permission denied" in (result.stderr + result.stdout).lower():
        fix = "add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again)"
        return Finding("docker", Level.FAIL, f"no permission to talk to the Docker daemon: {fix}"), None
    return Finding(
        "docker",
        Level.FAIL,
        f"Docker is installed but its daemon is not reachable ({error}): start Docker "
        "(Docker Desktop, or `sudo systemctl start docker`) and rerun",
    ), None


def check_kind(runner: Runner) -> Finding:
    result = runner.run(["kind", "version"], timeout=30)
    wanted = _dotted(pins.KIND_MIN_VERSION)
    if result.dry_run:
        return Finding("kind", Level.INFO, "not checked (dry run)")
    if result.not_found:
        return Finding("kind", Level.FAIL, f"kind is not installed: {TOOLS_FIX}")
    version = parse_version(result.stdout)
    if not result.ok or version is None:
        return Finding("kind", Level.FAIL, f"`kind version` failed ({result.error_line()}): {TOOLS_FIX}")
    if version < pins.KIND_MIN_VERSION:
        return Finding(
            "kind",
            Level.FAIL,
            f"kind {_dotted(version)} is older than {wanted} (needed for the pinned node image): {TOOLS_FIX}",
        )
    return Finding("kind", Level.OK, f"kind {_dotted(version)} (>= {wanted})")


def check_cgroups(docker: DockerInfo | None) -> Finding | None:
    """Kubernetes 1.35+ kubelets refuse cgroup v1 hosts (failCgroupV1 defaults to true); kind v0.32
    only warns about it, and the nodes then never get Ready. `docker info` reports CgroupVersion."""
    if docker is None or not docker.cgroup_version:
        return None
    if docker.cgroup_version == "1":
        return Finding(
            "cgroups",
            Level.FAIL,
            f"Docker runs on cgroup v1, and the lab's Kubernetes {pins.KUBERNETES_VERSION} kubelets "
            "refuse it: switch the host to cgroup v2 (Linux: boot with systemd.unified_cgroup_hierarchy=1; "
            "WSL2: add `kernelCommandLine = cgroup_no_v1=all` under [wsl2] in .wslconfig), "
            "restart Docker and rerun",
        )
    return Finding("cgroups", Level.OK, f"cgroup v{docker.cgroup_version}")


def check_kubectl(runner: Runner, minimum: tuple[int, int, int] = pins.KUBECTL_MIN_VERSION) -> Finding:
    result = runner.run(["kubectl", "version", "--client", "-o", "json"], timeout=30)
    wanted = _dotted(minimum)
    if result.dry_run:
        return Finding("kubectl", Level.INFO, "not checked (dry run)")
    if result.not_found:
        return Finding("kubectl", Level.FAIL, f"kubectl is not installed: {TOOLS_FIX}")
    try:
        text = json.loads(result.stdout)["clientVersion"]["gitVersion"]
    except (json.JSONDecodeError, KeyError, TypeError):
        text = result.stdout
    version = parse_version(text)
    if not result.ok or version is None:
        return Finding(
            "kubectl", Level.FAIL, f"`kubectl version` failed ({result.error_line()}): {TOOLS_FIX}"
        )
    if version < minimum:
        return Finding(
            "kubectl",
            Level.FAIL,
            f"kubectl {_dotted(version)} is older than {wanted} (one minor version of skew from the "
            f"cluster's {pins.KUBERNETES_VERSION} at most): {TOOLS_FIX}",
        )
    return Finding("kubectl", Level.OK, f"kubectl {_dotted(version)} (>= {wanted})")


def check_inotify(system: str, proc: Path) -> Finding | None:
    """kind's nodes run many inotify watchers; low limits make pods fail with "too many open files"."""
    if system != "Linux":
        return None
    low = []
    for name, minimum in INOTIFY_LIMITS.items():
        try:
            value = int((proc / "sys" / "fs" / "inotify" / name).read_text().strip())
        except (OSError, ValueError):
            continue
        if value < minimum:
            low.append((name, value, minimum))
    if not low:
        return Finding("inotify", Level.OK, "limits are high enough for three nodes")
    found = ", ".join(f"{name}={value}" for name, value, _ in low)
    fix = " ".join(f"fs.inotify.{name}={minimum}" for name, _, minimum in low)
    return Finding(
        "inotify",
        Level.WARN,
        f"{found} is low for three kind nodes: `sudo sysctl {fix}` "
        "(add the same lines to /etc/sysctl.d/99-kind.conf to keep them)",
    )


def check_memory(docker: DockerInfo | None, system: str, proc: Path) -> Finding | None:
    findings = []
    if docker and docker.mem_total and docker.mem_total < MIN_DOCKER_MEMORY:
        findings.append(
            f"Docker has {docker.mem_total / GIB:.1f} GiB, "
            f"the lab needs about {MIN_DOCKER_MEMORY / GIB:.0f}: "
            "give Docker more memory (Docker Desktop: Settings > Resources), or use `up --no-flow-ui`"
        )
    if system == "Linux":
        available = _mem_available(proc)
        if available is not None and available < MIN_AVAILABLE_MEMORY:
            findings.append(
                f"only {available / GIB:.1f} GiB free, the lab needs about {MIN_AVAILABLE_MEMORY / GIB:.0f}: "
                "close other programs, or use `up --no-flow-ui`"
            )
    if findings:
        return Finding("memory", Level.WARN, "; ".join(findings))
    if docker and docker.mem_total:
        return Finding("memory", Level.OK, "enough for three nodes")
    return None


def _mem_available(proc: Path) -> int | None:
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_cluster(runner: Runner, name: str) -> Finding:
    result = runner.run(["kind", "get", "clusters"], timeout=60)
    if result.dry_run or not result.ok:
        return Finding("cluster", Level.INFO, "unknown (kind could not list clusters)")
    if name in result.stdout.split():
        return Finding("cluster", Level.INFO, f"{name} exists (`make lab-status` shows it)")
    return Finding("cluster", Level.INFO, f"{name} does not exist yet (`make lab-up` creates it)")


KIND_NETWORK = "kind"  # the Docker network kind puts its nodes on


def check_ipv6(runner: Runner, *, wanted: bool = False) -> Finding:
    """Whether Docker gives kind's nodes IPv6: kind's network ``kind`` has it enabled.

    kind (v0.32.0, pkg/cluster/internal/providers/docker/network.go) creates that network with
    IPv6 (a ULA subnet) where Docker allows it and without where it does not; a dual-stack cluster
    needs it. ``wanted``: a dual-stack lab was asked for, so no IPv6 is a warning (``up`` then
    falls back to an IPv4 lab), else it is said for information."""
    result = runner.run(
        ["docker", "network", "inspect", KIND_NETWORK, "--format", "{{json .EnableIPv6}}"], timeout=30
    )
    if result.dry_run:
        return Finding("ipv6", Level.INFO, "not checked (dry run)")
    said = result.stdout.strip().lower()
    if result.ok and said == "true":
        return Finding(
            "ipv6", Level.OK, f"Docker's {KIND_NETWORK} network has IPv6: a dual-stack lab can be built"
        )
    if result.ok and said == "false":
        # kind creates its network with --ipv6 itself and falls back to IPv4 when Docker refuses
        # (kind v0.32.0 network.go, isIPv6UnavailableError): the host's IPv6 or ip6tables is off.
        # daemon.json's "ipv6" only concerns the default bridge, so it is not the fix.
        fix = (
            "let Docker create IPv6 networks (Docker Desktop: Settings > Resources > Network; Docker "
            "Engine: IPv6 on in the kernel, `sysctl net.ipv6.conf.all.disable_ipv6=0`, and ip6tables "
            "working), remove the network with `docker network rm kind` once no kind cluster uses "
            "it, and rerun `make lab-up IPFAMILY=dual`"
        )
        if wanted:
            return Finding(
                "ipv6",
                Level.WARN,
                f"Docker's {KIND_NETWORK} network has no IPv6, so the nodes get no IPv6 address: "
                f"the lab falls back to IPv4 (for dual-stack: {fix})",
            )
        return Finding(
            "ipv6",
            Level.INFO,
            f"Docker's {KIND_NETWORK} network has no IPv6: `make lab-up IPFAMILY=dual` would "
            "fall back to IPv4",
        )
    said_all = f"{result.stdout}\n{result.stderr}".lower()
    # the Docker CLI says "No such network: kind"; the daemon's API "network kind not found"
    if "no such network" in said_all or f"network {KIND_NETWORK} not found" in said_all:
        return Finding(
            "ipv6",
            Level.INFO,
            f"no Docker network {KIND_NETWORK} yet: kind creates it, with IPv6 where Docker allows it "
            "(`netpol-lab doctor` tells after the first cluster)",
        )
    return Finding(
        "ipv6", Level.INFO, f"unknown (`docker network inspect {KIND_NETWORK}`: {result.error_line()})"
    )


def run_checks(
    runner: Runner,
    *,
    system: str,
    proc: Path = Path("/proc"),
    cluster: bool = True,
    kubectl_minimum: tuple[int, int, int] = pins.KUBECTL_MIN_VERSION,
) -> list[Finding]:
    """Every check, in order; the cluster check only when kind and Docker work."""
    docker, info = check_docker(runner)
    findings = [docker, check_kind(runner), check_kubectl(runner, kubectl_minimum)]
    for extra in (check_cgroups(info), check_inotify(system, proc), check_memory(info, system, proc)):
        if extra is not None:
            findings.append(extra)
    if cluster and docker.level is Level.OK and findings[1].level is Level.OK:
        findings.append(check_cluster(runner, pins.CLUSTER_NAME))
    if cluster and docker.level is Level.OK:  # `up` asks itself, and only for a dual-stack lab
        findings.append(check_ipv6(runner))
    return findings


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.level is Level.FAIL]
