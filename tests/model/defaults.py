"""Defaults the API server fills in on write, where the lab reads them back.

NetworkPolicy ``policyTypes`` and port protocols (pkg/apis/networking/v1/defaults.go), the
namespace name label and finalizer, Service ports and cluster IPs, Deployment replicas, and
container port protocols: a state read back from the model looks like one read from a cluster.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.model.store import Obj

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _ports(ports: list[dict[str, Any]] | None) -> None:
    for port in ports or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


CALICO_POLICY_KINDS = (
    "NetworkPolicy",
    "GlobalNetworkPolicy",
    "StagedNetworkPolicy",
    "StagedGlobalNetworkPolicy",
)


def apply_defaults(group: str, kind: str, obj: Obj) -> Obj:
    spec = obj.get("spec")
    if group == "projectcalico.org":
        return _calico_defaults(kind, obj)
    if group not in ("", "apps", "networking.k8s.io"):
        return obj
    if kind == "Namespace":
        meta = obj.setdefault("metadata", {})
        meta.setdefault("labels", {})[NAMESPACE_NAME_LABEL] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind == "NetworkPolicy" and isinstance(spec, dict):
        spec.setdefault("podSelector", {})
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                if isinstance(rule, dict):
                    _ports(rule.get("ports"))
    elif kind in ("Pod",) and isinstance(spec, dict):
        _pod_spec(spec)
    elif kind in ("Deployment", "DaemonSet", "ReplicaSet") and isinstance(spec, dict):
        if kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        # apps/v1 defaults (pkg/apis/apps/v1/defaults.go); kubectl's rollout status needs RollingUpdate
        if kind == "Deployment":
            spec.setdefault(
                "strategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            )
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        if kind == "DaemonSet":
            spec.setdefault(
                "updateStrategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            )
            spec.setdefault("revisionHistoryLimit", 10)
        template = spec.get("template") or {}
        if isinstance(template.get("spec"), dict):
            _pod_spec(template["spec"])
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    return obj


def _calico_defaults(kind: str, obj: Obj) -> Obj:
    """What libcalico-go fills in when a v3 object is written through Calico's API server: the tier of
    a policy (``default``) and its ``types`` from its rules; a Tier's order and default action."""
    spec = obj.setdefault("spec", {})
    if kind in CALICO_POLICY_KINDS:
        spec.setdefault("tier", "default")
        if not spec.get("types"):
            egress = bool(spec.get("egress"))
            spec["types"] = (["Ingress"] if spec.get("ingress") or not egress else []) + (
                ["Egress"] if egress else []
            )
    elif kind == "Tier":
        spec.setdefault("order", 1000000)
        spec.setdefault("defaultAction", "Deny")
    return obj


def _pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers") or []:
        _ports(container.get("ports"))


class ServiceIPs:
    """Cluster IPs from the service subnet: .1 is the kubernetes Service, .10 is kube-dns on kind."""

    def __init__(self, subnet: str = "10.96.0.0/16") -> None:
        self.network = ipaddress.ip_network(subnet)
        self.taken: set[str] = set()
        self._next = 20

    def reserve(self, ip: str) -> str:
        self.taken.add(ip)
        return ip

    def allocate(self) -> str:
        while True:
            ip = str(self.network.network_address + self._next)
            self._next += 1
            if ip not in self.taken:
                return self.reserve(ip)
