"""What `kind create cluster` leaves in a new cluster (kind v0.32.0 with kubeadm), as the lab sees it.

Nodes named ``<cluster>-control-plane``, ``<cluster>-worker``, ``<cluster>-worker2`` with the
config's labels and kubeadm's, the control plane tainted NoSchedule (kind keeps the taint
when there are workers), pod CIDRs handed out in /24s from the podSubnet; the system
namespaces; the kubernetes Service (first address) and kube-dns (tenth address); CoreDNS
(two replicas, ports dns/53 UDP, dns-tcp/53 TCP, metrics/9153), kube-proxy, kindnet when the
default CNI is on, local-path-provisioner, and the control-plane static pods on the host
network. kube-system's kubeadm-config holds the ClusterConfiguration the Tigera operator reads.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

MANAGER = "kubeadm"


def _put(cluster: ModelCluster, api_version: str, kind: str, obj: dict[str, Any]) -> None:
    resource = cluster.registry.by_kind(api_version, kind)
    assert resource is not None, kind
    namespace = obj["metadata"].get("namespace", "")
    obj = {"apiVersion": api_version, "kind": kind, **obj}
    cluster.api.create(resource, namespace, obj, manager=MANAGER, keep_status=True)


def _tolerate_all() -> list[dict[str, str]]:
    return [{"operator": "Exists"}]


def _container(name: str, image: str, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image}
    if ports:
        container["ports"] = ports
    return container


def bootstrap(cluster: ModelCluster, nodes_config: list[dict[str, Any]], names: list[str]) -> None:
    assert cluster.kind is not None
    networking = cluster.kind.config.get("networking") or {}
    service_subnet = ipaddress.ip_network(networking.get("serviceSubnet") or "10.96.0.0/16")
    pod_subnet = ipaddress.ip_network(cluster.kind.pod_subnet)
    cidrs = pod_subnet.subnets(new_prefix=24) if pod_subnet.prefixlen <= 24 else iter([pod_subnet])
    with cluster.store.lock:
        for namespace in ("default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"):
            _put(cluster, "v1", "Namespace", {"metadata": {"name": namespace}})
        for number, (node, name) in enumerate(zip(nodes_config, names, strict=True)):
            control = node.get("role", "control-plane") == "control-plane"
            labels = {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                **(
                    {
                        "node-role.kubernetes.io/control-plane": "",
                        "node.kubernetes.io/exclude-from-external-load-balancers": "",
                    }
                    if control
                    else {}
                ),
                **{str(k): str(v) for k, v in (node.get("labels") or {}).items()},
            }
            spec: dict[str, Any] = {
                "podCIDR": str(next(cidrs)),
                "providerID": f"kind://docker/{cluster.kind.name}/{name}",
            }
            spec["podCIDRs"] = [spec["podCIDR"]]
            if control and len(names) > 1:
                spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
            _put(
                cluster,
                "v1",
                "Node",
                {
                    "metadata": {"name": name, "labels": labels},
                    "spec": spec,
                    "status": {
                        "addresses": [
                            {"type": "InternalIP", "address": f"172.18.0.{number + 2}"},
                            {"type": "Hostname", "address": name},
                        ],
                        "nodeInfo": {
                            "kubeletVersion": "v1.36.1",
                            "containerRuntimeVersion": "containerd://2.1.1",
                        },
                        "conditions": [],
                    },
                },
            )
        kubeadm = {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "ClusterConfiguration",
            "kubernetesVersion": "v1.36.1",
            "networking": {
                "podSubnet": str(pod_subnet),
                "serviceSubnet": str(service_subnet),
                "dnsDomain": "cluster.local",
            },
        }
        _put(
            cluster,
            "v1",
            "ConfigMap",
            {
                "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                "data": {"ClusterConfiguration": yaml.safe_dump(kubeadm)},
            },
        )
        _put(
            cluster,
            "v1",
            "Service",
            {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver"},
                },
                "spec": {
                    "clusterIP": str(service_subnet.network_address + 1),
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                },
            },
        )
        dns_labels = {"k8s-app": "kube-dns"}
        _put(
            cluster,
            "v1",
            "Service",
            {
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {**dns_labels, "kubernetes.io/name": "CoreDNS"},
                },
                "spec": {
                    "clusterIP": str(service_subnet.network_address + 10),
                    "selector": dns_labels,
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                        {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                    ],
                },
            },
        )
        coredns_ports = [
            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
        ]
        _put(
            cluster,
            "apps/v1",
            "Deployment",
            {
                "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dns_labels},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": dns_labels},
                    "template": {
                        "metadata": {"labels": dns_labels},
                        "spec": {
                            "containers": [
                                _container(
                                    "coredns", "registry.k8s.io/coredns/coredns:v1.12.1", coredns_ports
                                )
                            ],
                            "tolerations": [
                                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                            ],
                        },
                    },
                },
            },
        )
        _daemon(cluster, "kube-proxy", {"k8s-app": "kube-proxy"})
        if cluster.kind.default_cni:
            _daemon(cluster, "kindnet", {"k8s-app": "kindnet", "app": "kindnet"})
        _put(
            cluster,
            "apps/v1",
            "Deployment",
            {
                "metadata": {"name": "local-path-provisioner", "namespace": "local-path-storage"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "local-path-provisioner"}},
                    "template": {
                        "metadata": {"labels": {"app": "local-path-provisioner"}},
                        "spec": {
                            "containers": [
                                _container(
                                    "local-path-provisioner",
                                    "docker.io/kindest/local-path-provisioner:v20250214",
                                )
                            ],
                            "tolerations": [
                                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
                            ],
                        },
                    },
                },
            },
        )
        control_plane = names[0]
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            _put(
                cluster,
                "v1",
                "Pod",
                {
                    "metadata": {
                        "name": f"{component}-{control_plane}",
                        "namespace": "kube-system",
                        "labels": {"component": component, "tier": "control-plane"},
                    },
                    "spec": {
                        "nodeName": control_plane,
                        "hostNetwork": True,
                        "priorityClassName": "system-node-critical",
                        "containers": [_container(component, f"registry.k8s.io/{component}:v1.36.1")],
                        "tolerations": _tolerate_all(),
                    },
                },
            )


def _daemon(cluster: ModelCluster, name: str, labels: dict[str, str]) -> None:
    _put(
        cluster,
        "apps/v1",
        "DaemonSet",
        {
            "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "hostNetwork": True,
                        "tolerations": _tolerate_all(),
                        "containers": [_container(name, f"registry.k8s.io/{name}:v1.36.1")],
                    },
                },
            },
        },
    )
