"""A machine for the lab to run on, offline: the model cluster, fake kind and docker, real kubectl.

``LabWorld`` starts a ``ModelCluster``, puts the fake ``kind`` and ``docker`` first on PATH
(real ``kubectl`` stays where the machine has it), gives the lab its own HOME and KUBECONFIG,
and a local Calico folder whose files stand in for the pinned bundle: the operator.tigera.io,
crd.projectcalico.org and ClusterNetworkPolicy CRDs (with their real schemas when
../shared/schemas is beside the repository) and the operator's Namespace and Deployment.
Their checksums are pinned through the lab's own override variables, so ``up`` verifies them
as it verifies the real files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab import pins
from lab.env import Environment, project_root
from tests import calico_schemas
from tests.fakes import captured_env
from tests.model.cluster import ModelCluster, World
from tests.model.dataplane import Dataplane
from tests.model.labplane import lab_dataplane

FAKE_TOOL = Path(__file__).with_name("fake_tool.py")
NO_KUBECTL = (
    "kubectl not found on PATH: install it (`make tools` puts a pinned one in ./bin) to run the model tests"
)


def find_kubectl() -> str | None:
    """The kubectl the model tests drive: NETPOL_TEST_KUBECTL, the one .ci/run installs, or PATH's."""
    import os

    for candidate in (
        os.environ.get("NETPOL_TEST_KUBECTL"),
        str(project_root() / ".cache" / "test-tools" / "kubectl"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("kubectl")


def kubectl_version(path: str) -> tuple[int, int, int] | None:
    from lab.lifecycle.doctor import parse_version

    try:
        done = subprocess.run(
            [path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30
        )
        return parse_version(json.loads(done.stdout)["clientVersion"]["gitVersion"])
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return None


KUBECTL = find_kubectl()
KUBECTL_VERSION = kubectl_version(KUBECTL) if KUBECTL else None

# (group, kind, plural, scope, schema file in ../shared/schemas or None)
CRDS: tuple[tuple[str, str, str, str, str | None], ...] = (
    (
        "operator.tigera.io",
        "Installation",
        "installations",
        "Cluster",
        "operator.tigera.io_v1_Installation.json",
    ),
    ("operator.tigera.io", "APIServer", "apiservers", "Cluster", "operator.tigera.io_v1_APIServer.json"),
    ("operator.tigera.io", "Goldmane", "goldmanes", "Cluster", "operator.tigera.io_v1_Goldmane.json"),
    ("operator.tigera.io", "Whisker", "whiskers", "Cluster", "operator.tigera.io_v1_Whisker.json"),
    (
        "operator.tigera.io",
        "TigeraStatus",
        "tigerastatuses",
        "Cluster",
        "operator.tigera.io_v1_TigeraStatus.json",
    ),
    (
        "crd.projectcalico.org",
        "FelixConfiguration",
        "felixconfigurations",
        "Cluster",
        "crd.projectcalico.org_v1_FelixConfiguration.json",
    ),
    (
        "crd.projectcalico.org",
        "GlobalNetworkPolicy",
        "globalnetworkpolicies",
        "Cluster",
        "crd.projectcalico.org_v1_GlobalNetworkPolicy.json",
    ),
    (
        "crd.projectcalico.org",
        "NetworkPolicy",
        "networkpolicies",
        "Namespaced",
        "crd.projectcalico.org_v1_NetworkPolicy.json",
    ),
    ("crd.projectcalico.org", "Tier", "tiers", "Cluster", "crd.projectcalico.org_v1_Tier.json"),
    ("crd.projectcalico.org", "IPPool", "ippools", "Cluster", "crd.projectcalico.org_v1_IPPool.json"),
    (
        "crd.projectcalico.org",
        "GlobalNetworkSet",
        "globalnetworksets",
        "Cluster",
        "crd.projectcalico.org_v1_GlobalNetworkSet.json",
    ),
    ("crd.projectcalico.org", "NetworkSet", "networksets", "Namespaced", None),
    (
        "crd.projectcalico.org",
        "StagedNetworkPolicy",
        "stagednetworkpolicies",
        "Namespaced",
        "crd.projectcalico.org_v1_StagedNetworkPolicy.json",
    ),
    (
        "crd.projectcalico.org",
        "StagedGlobalNetworkPolicy",
        "stagedglobalnetworkpolicies",
        "Cluster",
        "crd.projectcalico.org_v1_StagedGlobalNetworkPolicy.json",
    ),
    (
        "crd.projectcalico.org",
        "StagedKubernetesNetworkPolicy",
        "stagedkubernetesnetworkpolicies",
        "Namespaced",
        "crd.projectcalico.org_v1_StagedKubernetesNetworkPolicy.json",
    ),
    (
        "policy.networking.k8s.io",
        "ClusterNetworkPolicy",
        "clusternetworkpolicies",
        "Cluster",
        "policy.networking.k8s.io_v1alpha2_ClusterNetworkPolicy.json",
    ),
)
STATUS_KINDS = {"TigeraStatus", "Installation", "APIServer", "Whisker", "Goldmane", "ClusterNetworkPolicy"}


def crd_object(group: str, kind: str, plural: str, scope: str, schema_file: str | None) -> dict[str, Any]:
    version = "v1alpha2" if group == "policy.networking.k8s.io" else "v1"
    schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if schema_file:
        schema = calico_schemas.schema(f"{group}/{version}", kind) or schema
    entry: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if kind in STATUS_KINDS:
        entry["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "versions": [entry],
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
        },
    }


def operator_manifest() -> list[dict[str, Any]]:
    """What tigera-operator.yaml holds, in its order: the namespace first, then the operator."""
    labels = {"name": "tigera-operator", "k8s-app": "tigera-operator"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "tigera-operator",
                "labels": {"name": "tigera-operator", "pod-security.kubernetes.io/enforce": "privileged"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "tigera-operator", "namespace": "tigera-operator"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "tigera-operator", "namespace": "tigera-operator", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"name": "tigera-operator"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "hostNetwork": True,
                        "serviceAccountName": "tigera-operator",
                        "tolerations": [
                            {"effect": "NoExecute", "operator": "Exists"},
                            {"effect": "NoSchedule", "operator": "Exists"},
                        ],
                        "containers": [
                            {
                                "name": "tigera-operator",
                                "image": pins.TIGERA_OPERATOR_IMAGE,
                                "args": ["-manage-crds=true"],
                            }
                        ],
                    },
                },
            },
        },
    ]


@functools.lru_cache(maxsize=1)
def bundle_contents() -> tuple[tuple[str, str], ...]:
    """The stand-in files' text (built once per test run: the schemas are large)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return (
        (
            "v1_crd_projectcalico_org.yaml",
            yaml.dump_all([crd_object(*c) for c in CRDS], Dumper=dumper, sort_keys=False),
        ),
        ("tigera-operator.yaml", yaml.safe_dump_all(operator_manifest(), sort_keys=False)),
    )


def write_calico_bundle(folder: Path) -> dict[str, str]:
    """The two pinned file names, with stand-in contents; returns the env pinning their checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = dict(bundle_contents())
    env = {"NETPOL_LAB_CALICO_DIR": str(folder)}
    for pinned in pins.CALICO_MANIFESTS:
        data = contents[pinned.name].encode()
        (folder / pinned.name).write_bytes(data)
        env[pinned.checksum_variable] = hashlib.sha256(data).hexdigest()
    return env


@dataclass
class LabWorld:
    home: Path
    world: World = field(default_factory=World)
    dataplane: Dataplane = field(default_factory=lambda: lab_dataplane(project_root()))
    cluster: ModelCluster = field(init=False)

    def __post_init__(self) -> None:
        self.cluster = ModelCluster(self.world, self.dataplane).start()
        self.bin = self.home / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in ("kind", "docker"):
            path = self.bin / tool
            path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_TOOL}" {tool} "$@"\n')
            path.chmod(0o755)
        # The lab's folder: the repository's manifests and stages, and a .cache/ of its own
        self.root = self.home / "lab"
        self.root.mkdir(exist_ok=True)
        for name in ("manifests", "stages", "kind-config.yaml", "docs"):
            link = self.root / name
            if not link.exists():
                link.symlink_to(project_root() / name)
        self.kubeconfig = self.home / ".kube" / "config"
        self.tool_log = self.home / "tools.log"
        self.calico_env = write_calico_bundle(self.home / "calico")

    def close(self) -> None:
        self.cluster.stop()

    @property
    def env_vars(self) -> dict[str, str]:
        kubectl_dir = str(Path(KUBECTL).parent) if KUBECTL else "/usr/bin"
        older: dict[str, str] = {}
        if KUBECTL_VERSION and KUBECTL_VERSION < pins.KUBECTL_MIN_VERSION:
            # This machine's kubectl is older than the lab asks of users (one minor version of skew
            # from the cluster): let the lab accept it, through the pin's own override.
            older["NETPOL_LAB_KUBECTL_MIN_VERSION"] = "v" + ".".join(map(str, KUBECTL_VERSION))
        return {
            **older,
            "PATH": f"{self.bin}:{kubectl_dir}:/usr/bin:/bin",
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
            "NETPOL_MODEL_URL": self.cluster.url,
            "NETPOL_MODEL_TOOL_LOG": str(self.tool_log),
            **self.calico_env,
        }

    def environment(self, **extra: str) -> Environment:
        return captured_env({**self.env_vars, **extra}, root=self.root)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Real kubectl against the model, as a participant would type it."""
        assert KUBECTL, NO_KUBECTL
        done = subprocess.run(
            [KUBECTL, "--context", pins.KUBE_CONTEXT, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env_vars,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def kind_create(self, config: dict[str, Any] | None = None) -> None:
        """A cluster as `kind create cluster` makes it, without going through the lab."""
        config = config or {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}],
        }
        path = self.home / "kind.yaml"
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run(
            [str(self.bin / "kind"), "create", "cluster", "--name", pins.CLUSTER_NAME, "--config", str(path)],
            capture_output=True,
            text=True,
            env=self.env_vars,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    def tool_calls(self) -> list[list[str]]:
        if not self.tool_log.exists():
            return []
        return [json.loads(line) for line in self.tool_log.read_text().splitlines()]

    def objects(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.cluster.store.list((group, plural), namespace)

    def names(self, group: str, plural: str, namespace: str | None = None) -> Sequence[str]:
        return [o["metadata"]["name"] for o in self.objects(group, plural, namespace)]
