"""Scripted answers of kind, kubectl and docker for a lab in a given state.

One description of the world, used both by the RecordingRunner tests and by the fake
executables on PATH, so both paths are driven by the same facts.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import pins
from lab.boundary.runner import Result
from lab.env import project_root
from lab.lifecycle.cluster import CNI_LABEL, FINGERPRINT_LABEL, KIND_CONFIG, render_kind_config
from lab.lifecycle.cni import CALICO, Cni
from lab.scenario import SLOT_LABEL, WORKLOADS
from tests.fakes import RecordingRunner

KUBECTL = f"kubectl --context {pins.KUBE_CONTEXT}"
GIB = 1 << 30


def fingerprint(cni: Cni = CALICO, image: str = pins.NODE_IMAGE) -> str:
    return render_kind_config((project_root() / KIND_CONFIG).read_text(), cni, image).fingerprint


def node(
    name: str,
    slot: str | None,
    ready: bool,
    *,
    fp: str | None,
    cni: str = "calico",
    ip: str = "172.18.0.2",
    pod_cidr: str = "",
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if slot:
        labels[SLOT_LABEL] = slot
    else:
        labels["node-role.kubernetes.io/control-plane"] = ""
    if fp is not None:
        labels[FINGERPRINT_LABEL] = fp
        labels[CNI_LABEL] = cni
    condition = {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletNotReady"}
    if not ready:
        condition["message"] = "container runtime network not ready: cni plugin not initialized"
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": pod_cidr} if pod_cidr else {},
        "status": {"conditions": [condition], "addresses": [{"type": "InternalIP", "address": ip}]},
    }


def pod(
    namespace: str,
    name: str,
    ready: bool,
    *,
    node_name: str = "",
    ip: str = "",
    role: str = "",
    app: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Running" if ready else "Pending",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "podIP": ip,
    }
    if not ready:
        status["containerStatuses"] = [
            {
                "name": "agnhost",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}},
            }
        ]
    return {
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": {**({"role": role} if role else {}), **({"app": app} if app else {})},
        },
        "spec": {"nodeName": node_name},
        "status": status,
    }


def listing(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})


def tigerastatus(name: str, available: bool) -> dict[str, Any]:
    conditions = [
        {"type": "Available", "status": "True" if available else "False"},
        {"type": "Degraded", "status": "False" if available else "True", "message": "calico-node not ready"},
    ]
    return {"metadata": {"name": name}, "status": {"conditions": conditions}}


@dataclass
class World:
    """The state kind, kubectl and docker report."""

    docker: bool = True
    kind_version: str = "v0.32.0"
    kubectl_version: str = "v1.36.1"
    cluster_exists: bool = False
    fingerprint: str | None = field(default_factory=fingerprint)
    cni: str = "calico"
    nodes_ready: bool = True
    calico_available: bool = True
    pods_ready: bool = True
    create_fails: bool = False
    apply_fails: bool = False
    logs_dir: str = "/tmp/netpol-lab-logs"
    # What the enforcement canary sees after the deny policy: "blocked", "answers", or None (no IP:
    # the check cannot tell).
    canary: str | None = "blocked"
    control_ready: bool = True
    standin_ready: bool = True
    pod_cidrs: bool = True  # the controller manager has given each node a pod CIDR
    enforcement_recorded: str = ""  # the verdict `up` recorded when it built the lab, if any
    kind_network_ipv6: str = "true"  # Docker's `kind` network: "true", "false" (no IPv6) or "missing"

    def answers(self) -> dict[str, tuple[str, str, int]]:
        """Command-line prefix -> (stdout, stderr, exit code)."""
        info = {"ServerVersion": "28.2.2", "MemTotal": 16 * GIB, "OSType": "linux", "Architecture": "x86_64"}
        answers: dict[str, tuple[str, str, int]] = {
            "docker info": (json.dumps(info), "", 0)
            if self.docker
            else (
                json.dumps({"ServerVersion": ""}),
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                "Is the docker daemon running?\n",
                1,
            ),
            "kind version": (f"kind {self.kind_version} go1.24.5 linux/amd64\n", "", 0),
            "docker network inspect kind": (
                ("", "Error response from daemon: network kind not found\n", 1)
                if self.kind_network_ipv6 == "missing"
                else (f"{self.kind_network_ipv6}\n", "", 0)
            ),
            "kubectl version": (json.dumps({"clientVersion": {"gitVersion": self.kubectl_version}}), "", 0),
            "kind get clusters": ("netpol-lab\n", "", 0)
            if self.cluster_exists
            else ("", "No kind clusters found.\n", 0),
            "kind create cluster": (
                ("", "ERROR: failed to create cluster: could not pull image kindest/node\n", 1)
                if self.create_fails
                else ("", 'Creating cluster "netpol-lab" ...\n', 0)
            ),
            "kind export logs": (f'Exporting logs for cluster "netpol-lab" to:\n{self.logs_dir}\n', "", 0),
            "kubectl config get-contexts": ("", "", 0),
            f"{KUBECTL} get configmap netpol-lab-enforcement": (self.enforcement_recorded, "", 0),
            f"{KUBECTL} apply": ("", "Error from server: admission webhook denied\n", 1)
            if self.apply_fails
            else ("serverside-applied\n", "", 0),
            f"{KUBECTL} get nodes": (listing(self.nodes()), "", 0),
            f"{KUBECTL} get tigerastatus": (
                listing([tigerastatus("calico", self.calico_available), tigerastatus("apiserver", True)]),
                "",
                0,
            ),
            f"{KUBECTL} get tigerastatus calico": (
                json.dumps(tigerastatus("calico", self.calico_available)),
                "",
                0,
            ),
            f"{KUBECTL} get tigerastatus apiserver": (json.dumps(tigerastatus("apiserver", True)), "", 0),
            f"{KUBECTL} get pods -n kube-system -l k8s-app=kube-dns": (
                listing([pod("kube-system", "coredns-1", True)]),
                "",
                0,
            ),
            f"{KUBECTL} get pods -A -l app.kubernetes.io/part-of=netpol-lab": (
                listing(self.lab_pods() + self.helper_pods()),
                "",
                0,
            ),
            f"{KUBECTL} get pods -A -l app.kubernetes.io/part-of=netpol-lab,role": (
                listing(self.lab_pods()),
                "",
                0,
            ),
            f"{KUBECTL} get pods -A -o json": (listing(self.lab_pods() + self.helper_pods()), "", 0),
            f"{KUBECTL} get events": (listing([]), "", 0),
            f"{KUBECTL} rollout status deployment/control": ("", "", 0)
            if self.control_ready
            else ("", "error: timed out waiting for the condition\n", 1),
            f"{KUBECTL} rollout status daemonset/metadata-standin": ("", "", 0)
            if self.standin_ready
            else ("", "error: timed out waiting for the condition\n", 1),
        }
        if self.canary is not None:
            answers[f"{KUBECTL} get pod canary"] = ("192.168.1.7", "", 0)
        return answers

    def helper_pods(self) -> list[dict[str, Any]]:
        """The probes' control pod and the metadata stand-in on both workers."""
        return [
            pod("netpol-lab-control", "control-5c6b", self.control_ready, node_name="netpol-lab-worker",
                ip="192.168.1.9", app="control"),
            *(
                pod("netpol-lab-metadata", f"metadata-standin-{n}", self.standin_ready, node_name=node_name,
                    ip=ip, app="metadata-standin")
                for n, node_name, ip in (("x1", "netpol-lab-worker", "172.18.0.3"),
                                          ("x2", "netpol-lab-worker2", "172.18.0.4"))
            ),
        ]  # fmt: skip

    def canary_probe(self, argv: tuple[str, ...], _: str | None) -> Result:
        """The canary answers before the deny policy; after it, as ``canary`` says."""
        if self.canary == "blocked" and self._policy_applied:
            return Result(argv, 1, "", "TIMEOUT\ncommand terminated with exit code 1\n")
        return Result(argv, 0, "", "")

    _policy_applied: bool = False

    def apply(self, argv: tuple[str, ...], input: str | None) -> Result:
        if input and "kind: NetworkPolicy" in input:
            self._policy_applied = True
        if self.apply_fails:
            return Result(argv, 1, "", "Error from server: admission webhook denied\n")
        return Result(argv, 0, "serverside-applied\n", "")

    def nodes(self) -> list[dict[str, Any]]:
        names = [("netpol-lab-control-plane", None), ("netpol-lab-worker", "a"), ("netpol-lab-worker2", "b")]
        return [
            node(
                n,
                s,
                self.nodes_ready,
                fp=self.fingerprint,
                cni=self.cni,
                ip=f"172.18.0.{i + 2}",
                pod_cidr=f"192.168.{i}.0/24" if self.pod_cidrs else "",
            )
            for i, (n, s) in enumerate(names)
        ]

    def lab_pods(self) -> list[dict[str, Any]]:
        worker = {"a": "netpol-lab-worker", "b": "netpol-lab-worker2"}
        return [
            pod(
                w.namespace,
                f"{w.name}-7d9f",
                self.pods_ready,
                node_name=worker[w.slot],
                ip=f"192.168.{i}.5",
                role=w.role,
            )
            for i, w in enumerate(WORKLOADS)
        ]

    def runner(self, *, dry_run: bool = False) -> RecordingRunner:
        runner = RecordingRunner(dry_run=dry_run)
        for prefix, (stdout, stderr, code) in self.answers().items():
            runner.script[prefix] = Result(tuple(shlex.split(prefix)), code, stdout, stderr)
        runner.script[f"{KUBECTL} apply"] = self.apply
        runner.script[f"{KUBECTL} exec"] = self.canary_probe
        return runner

    def fake_script(self) -> dict[str, dict[str, Any]]:
        script: dict[str, dict[str, Any]] = {
            p: {"stdout": o, "stderr": e, "exit": c} for p, (o, e, c) in self.answers().items()
        }
        if self.canary == "blocked":  # the first probe (before the policy) connects, the later ones not
            blocked = {"stderr": "TIMEOUT\ncommand terminated with exit code 1\n", "exit": 1}
            script[f"{KUBECTL} exec"] = {"exit": 0, "then": blocked}
        return script


# The shape Calico's bundle holds the ClusterNetworkPolicy CRD in (one document among many)
CLUSTER_POLICY_CRD_STANDIN = """---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusternetworkpolicies.policy.networking.k8s.io
spec:
  group: policy.networking.k8s.io
  names: {kind: ClusterNetworkPolicy, listKind: ClusterNetworkPolicyList, plural: clusternetworkpolicies,
          singular: clusternetworkpolicy}
  scope: Cluster
  versions:
    - name: v1alpha2
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: tiers.crd.projectcalico.org
spec: {}
"""


def calico_folder(folder: Path) -> tuple[Path, dict[str, str]]:
    """A local Calico folder with small stand-in files, and the env pinning their checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {}
    for pinned in pins.CALICO_MANIFESTS:
        content = f"# stand-in for {pinned.name}\n".encode()
        if pinned.name == "v1_crd_projectcalico_org.yaml":  # a lab without Calico takes one CRD from it
            content += CLUSTER_POLICY_CRD_STANDIN.encode()
        (folder / pinned.name).write_bytes(content)
        env[pinned.checksum_variable] = hashlib.sha256(content).hexdigest()
    return folder, env
