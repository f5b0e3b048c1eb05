"""The lab's kind cluster: render its config, create, find, recognise, delete, export logs.

Every kind and kubectl call goes through the ``Runner`` (echoed, dry-run aware).
A cluster is recognised by a fingerprint label that ``up`` stamps on every node
through the rendered kind config (so it is set atomically at creation): a cluster
called netpol-lab without it, or with another one, was built differently (another
CNI, node image or kind-config.yaml) and is never modified; the user is told to
recreate it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import pins, scenario
from lab.boundary import kubeobjects
from lab.boundary.kubectl import Kubectl, KubectlArgv
from lab.boundary.runner import Result, Runner, not_installed
from lab.errors import ExitStatus, LabError
from lab.lifecycle.cni import Cni

KIND_CONFIG = "kind-config.yaml"
RENDERED_CONFIG = Path(".cache") / "kind-config.rendered.yaml"  # relative to the project root
FINGERPRINT_LABEL = "netpol-lab/fingerprint"
CNI_LABEL = "netpol-lab/cni"
RECREATE = "make lab-down && make lab-up"
EXPECTED_NODES = 3


# kind v0.32.0 (pkg/cluster/internal/create/actions/config/config.go) for a dual-stack config on
# a node that got no IPv6 address: "failed to get IPv6 address for node ...; is docker configured
# to use IPv6 correctly?". It happens when kind had to create its network without IPv6.
IPV6_MISSING = "failed to get IPv6 address for node"


class NoIPv6(LabError):
    """kind created a dual-stack cluster's nodes without IPv6 (``up`` then builds IPv4)."""


@dataclass(frozen=True)
class RenderedConfig:
    """The kind config ``up`` creates the cluster with, and its fingerprint."""

    text: str
    fingerprint: str
    cni: str
    node_image: str
    ip_family: str = scenario.IPV4

    @property
    def pod_subnets(self) -> list[str]:
        """The pod CIDRs kind gives kubeadm, IPv4 first (Calico's IP pools must match them)."""
        networking = yaml.safe_load(self.text).get("networking") or {}
        return [part.strip() for part in str(networking.get("podSubnet", "")).split(",") if part.strip()]


def render_kind_config(
    base_text: str, cni: Cni, node_image: str, ip_family: str = scenario.IPV4
) -> RenderedConfig:
    """kind-config.yaml with the chosen CNI, node image and IP family, every node labelled with the
    fingerprint.

    The fingerprint is a hash of the rendered config before the labels are added, so
    any change that would build a different cluster changes it (a dual-stack lab included). For
    ``dual``, kind's ``networking.ipFamily: dual`` takes comma-separated pairs, IPv4 first: the pod
    subnet gains kind's IPv6 default and the Service subnet likewise (kind v0.32.0
    pkg/apis/config/v1alpha4/types.go, Networking; an IPv4 lab's config is left as it was).
    """
    config: dict[str, Any] = yaml.safe_load(base_text)
    networking = config.setdefault("networking", {})
    networking["disableDefaultCNI"] = cni.disable_default_cni
    networking["podSubnet"] = cni.pod_subnet
    if ip_family == scenario.DUAL:
        networking["ipFamily"] = scenario.DUAL
        networking["podSubnet"] = f"{cni.pod_subnet},{scenario.POD_SUBNET_V6}"
        services = str(networking.get("serviceSubnet") or pins.SERVICE_SUBNET)
        networking["serviceSubnet"] = f"{services},{scenario.SERVICE_SUBNET_V6}"
    elif ip_family != scenario.IPV4:
        raise LabError(f"IP family {ip_family!r}: the lab builds ipv4 or dual", ExitStatus.USAGE)
    for node in config.get("nodes") or []:
        node["image"] = node_image
    canonical = yaml.safe_dump(config, sort_keys=True)
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    for node in config.get("nodes") or []:
        node.setdefault("labels", {})
        node["labels"][FINGERPRINT_LABEL] = fingerprint
        node["labels"][CNI_LABEL] = cni.name
    header = (
        f"# Rendered by `netpol-lab up` from {KIND_CONFIG} (CNI {cni.name}); "
        "edit kind-config.yaml, not this file.\n"
    )
    if ip_family == scenario.DUAL:
        header = header.replace(f"(CNI {cni.name})", f"(CNI {cni.name}, dual-stack)")
    text = header + yaml.safe_dump(config, sort_keys=False)
    return RenderedConfig(text, fingerprint, cni.name, node_image, ip_family)


class Cluster:
    """The kind cluster called ``name`` and the kubectl command lines that talk to it."""

    def __init__(self, runner: Runner, *, name: str = pins.CLUSTER_NAME, kubeconfig: str | None = None):
        self.runner = runner
        self.name = name
        self.kubeconfig = kubeconfig
        self.kubectl = Kubectl(self.context, kubeconfig)  # kubectl aimed at this cluster, whatever is current

    @property
    def context(self) -> str:
        return f"kind-{self.name}"  # kind names the context kind-<cluster>

    def _kubeconfig_flag(self) -> list[str]:
        return ["--kubeconfig", self.kubeconfig] if self.kubeconfig else []

    def _kind(self, *args: str, kubeconfig: bool = True) -> list[str]:
        return ["kind", *args, "--name", self.name, *(self._kubeconfig_flag() if kubeconfig else [])]

    def exists(self) -> bool:
        """Whether kind knows a cluster of this name (`kind get clusters`)."""
        result = self.runner.run(["kind", "get", "clusters"], timeout=60)
        if result.dry_run:
            return False
        if not result.ok:
            raise result.failure("`kind get clusters`", "check that Docker is running")
        return self.name in result.stdout.split()

    def create(self, config_path: str, *, timeout: float | None = None) -> None:
        """`kind create cluster --wait 0s`: kind's own wait only covers the control plane, which
        stays NotReady until a CNI runs, so the lab waits for nodes itself after the CNI."""
        argv = ["kind", "create", "cluster", "--name", self.name, "--config", config_path, "--wait", "0s"]
        argv += self._kubeconfig_flag()
        result = self.runner.run(argv, timeout=timeout, stream=True)
        if result.dry_run or result.ok:
            return
        if result.not_found:
            raise result.failure("kind create cluster", "")
        if result.timed_out:
            raise LabError(
                f"`kind create cluster` did not finish in time: rerun `make lab-up` (it carries on), "
                f"or raise --timeout; if it keeps failing run `{RECREATE}`",
                ExitStatus.TIMEOUT,
            )
        if IPV6_MISSING in result.stderr + result.stdout:
            raise NoIPv6(
                "kind could not give the nodes IPv6 addresses (Docker's kind network has no IPv6); "
                "kind removed the half-made nodes"
            )
        hint = ""
        if "already exist" in result.stderr + result.stdout:
            hint = f" (a cluster of that name exists: run `{RECREATE}`)"
        raise LabError(
            f"kind could not create the cluster: {result.error_line()}{hint}; "
            "kind removed the half-made nodes, so fix the cause (`netpol-lab doctor`) and rerun `make lab-up`"
        )

    def delete(self) -> Result:
        """`kind delete cluster` (kind succeeds when the cluster does not exist)."""
        result = self.runner.run(self._kind("delete", "cluster"), timeout=300, stream=True)
        if not (result.ok or result.dry_run):
            raise result.failure("`kind delete cluster`", "check that Docker runs")
        return result

    def has_context(self) -> bool:
        """Whether the kubeconfig knows the cluster's context (a user may have removed it)."""
        argv = ["kubectl", "config", "get-contexts", self.context, *self._kubeconfig_flag()]
        result = self.runner.run(argv, timeout=30)
        return result.ok or result.dry_run

    def export_kubeconfig(self) -> None:
        result = self.runner.run(self._kind("export", "kubeconfig"), timeout=60)
        if not (result.ok or result.dry_run):
            raise result.failure("writing the cluster's kubeconfig", "rerun `make lab-up`")

    def nodes(self, *, echo: bool = True) -> list[dict[str, Any]]:
        """The cluster's nodes as JSON objects; a LabError when the API server does not answer."""
        result = self.runner.run(self.kubectl("get", "nodes", "-o", "json"), timeout=60, echo=echo)
        if result.dry_run:
            return []
        if not result.ok:
            raise result.failure(
                f"reaching the API server of cluster {self.name}",
                f"check that its containers run (`docker ps`), or recreate it: `{RECREATE}`",
            )
        return kubeobjects.items(result.stdout)

    def check_built_as(self, expected: RenderedConfig) -> None:
        """Stop with the recreate command when the existing cluster was built differently."""
        found = self.nodes()
        if not found and self.runner.dry_run:
            return
        problem = built_differently(found, expected)
        if problem:
            raise LabError(
                f"cluster {self.name} exists but was built differently ({problem}): recreate it with "
                f"`{RECREATE}`" + (f" CNI={expected.cni}" if expected.cni != "calico" else "")
            )

    def export_logs(self, folder: Path) -> Path | None:
        """`kind export logs FOLDER`: kind prints the folder it wrote; None if it could not."""
        # `kind export logs` has no --kubeconfig flag (kind v0.32.0 pkg/cmd/kind/export/logs/logs.go
        # defines only --name): passing it would fail with "unknown flag".
        argv = self._kind("export", "logs", str(folder), kubeconfig=False)
        result = self.runner.run(argv, timeout=300)
        if result.dry_run:
            return folder
        if not result.ok:
            return None
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        return Path(lines[-1]) if lines else folder


def built_differently(nodes: Sequence[dict[str, Any]], expected: RenderedConfig) -> str | None:
    """What differs between the existing nodes and the config ``up`` would build (None: same)."""
    if len(nodes) != EXPECTED_NODES:
        return f"{len(nodes)} nodes instead of {EXPECTED_NODES}"
    for node in nodes:
        node_labels = kubeobjects.labels(node)
        found = node_labels.get(FINGERPRINT_LABEL)
        if found is None:
            return (
                f"node {kubeobjects.name(node)} has no {FINGERPRINT_LABEL} label: not made by `netpol-lab up`"
            )
        cni = node_labels.get(CNI_LABEL)
        if cni != expected.cni:
            return f"CNI {cni}, asked for {expected.cni}"
        if found != expected.fingerprint:
            return "another node image or kind-config.yaml"
    return None


# -- is this a lab? ---------------------------------------------------------------------------------

NOT_A_LAB_FIX = (
    "point --context at the lab (default kind-netpol-lab; `kubectl config get-contexts` lists them) "
    "or build it with `make lab-up`"
)


@dataclass(frozen=True)
class LabIdentity:
    """What ``up`` stamped on the nodes of a cluster it built: its fingerprint and its CNI.
    ``fingerprint`` is None for a cluster ``up`` did not build, and ``why`` says what was seen."""

    fingerprint: str | None
    cni: str | None = None
    why: str = ""


def lab_identity(runner: Runner, kubectl: KubectlArgv) -> LabIdentity:
    """Read the nodes once: the lab's fingerprint and CNI labels, or why this is not a lab (nodes
    without the label, nodes that disagree, a cluster that does not answer)."""
    result = runner.run(list(kubectl("get", "nodes", "-o", "json")), timeout=60)
    if result.dry_run:
        return LabIdentity("dry-run")
    if not result.ok:
        if result.not_found:
            raise not_installed(result.argv[0])
        return LabIdentity(None, why=f"its API server does not answer ({result.error_line()})")
    nodes = kubeobjects.items(result.stdout)
    if not nodes:
        return LabIdentity(None, why="it has no nodes")
    found = {kubeobjects.labels(n).get(FINGERPRINT_LABEL) for n in nodes}
    if None in found:
        return LabIdentity(
            None, why=f"its nodes carry no {FINGERPRINT_LABEL} label: `netpol-lab up` did not build it"
        )
    if len(found) > 1:
        return LabIdentity(None, why=f"its nodes carry different {FINGERPRINT_LABEL} labels")
    cnis = {kubeobjects.labels(n).get(CNI_LABEL) for n in nodes}
    return LabIdentity(found.pop(), cnis.pop() if len(cnis) == 1 else None)


def lab_fingerprint(runner: Runner, kubectl: KubectlArgv) -> tuple[str | None, str]:
    """The fingerprint ``up`` stamped on every node of a cluster it built, and what was seen."""
    identity = lab_identity(runner, kubectl)
    return identity.fingerprint, identity.why


def require_lab(runner: Runner, kubectl: Kubectl) -> LabIdentity:
    """Stop before changing anything unless ``kubectl``'s cluster is one ``up`` built (its fingerprint)."""
    identity = lab_identity(runner, kubectl)
    if identity.fingerprint is None:
        raise LabError(
            f"context {kubectl.context} is not a netpol-lab cluster ({identity.why}): nothing was changed; "
            f"{NOT_A_LAB_FIX}",
            ExitStatus.MISSING_PREREQUISITE,
        )
    return identity
