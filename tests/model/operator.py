"""The Tigera operator's visible part, and Calico's API server, as the lab meets them.

Once the operator Deployment runs (host network, so before any CNI) and an Installation
``default`` exists, the operator checks the IP pools against the cluster's pod CIDR (kubeadm's
ClusterConfiguration), creates ``calico-system`` and calico-node on every node, and reports
tigerastatus ``calico`` Progressing, then Available once calico-node runs everywhere. calico-node
writes FelixConfiguration ``default``. With an APIServer ``default`` the Calico API server comes
up and serves projectcalico.org/v3 (aggregated, backed by the crd.projectcalico.org resources),
and the operator then reconciles its own tier ``calico-system`` and the policies in it
(tigera/operator pkg/render/tiers; see ``tests/model/calico_system.py``). Whisker and Goldmane
get their Deployments, the whisker Service and a tigerastatus each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from tests.model import calico_system
from tests.model.api import ApiError
from tests.model.resources import ResourceType
from tests.model.store import Obj, now_iso

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

OPERATOR = ("tigera-operator", "tigera-operator")  # namespace, Deployment
MANAGER = "operator"
CRD_GROUP = "crd.projectcalico.org"
V3 = "projectcalico.org"
# What Calico's API server serves under projectcalico.org/v3: (kind, plural, namespaced).
V3_TYPES = (
    ("NetworkPolicy", "networkpolicies", True),
    ("GlobalNetworkPolicy", "globalnetworkpolicies", False),
    ("StagedNetworkPolicy", "stagednetworkpolicies", True),
    ("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", False),
    ("StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", True),
    ("Tier", "tiers", False),
    ("FelixConfiguration", "felixconfigurations", False),
    ("IPPool", "ippools", False),
    ("GlobalNetworkSet", "globalnetworksets", False),
    ("NetworkSet", "networksets", True),
)


def _get(cluster: ModelCluster, group: str, plural: str, namespace: str, name: str) -> Obj | None:
    return cluster.store.get((group, plural), namespace, name)


def operator_running(cluster: ModelCluster) -> bool:
    namespace, name = OPERATOR
    for pod in cluster.store.list(("", "pods"), namespace):
        owners = pod["metadata"].get("ownerReferences") or []
        running = (pod.get("status") or {}).get("phase") == "Running"
        if running and any(ref.get("name", "").startswith(name) for ref in owners):
            return True
    return False


def installation(cluster: ModelCluster) -> Obj | None:
    return _get(cluster, "operator.tigera.io", "installations", "", "default")


def calico_installed(cluster: ModelCluster) -> bool:
    return cluster.store.get(("apps", "daemonsets"), "calico-system", "calico-node") is not None


def pool_cidr(cluster: ModelCluster) -> str | None:
    install = installation(cluster)
    pools = ((install or {}).get("spec") or {}).get("calicoNetwork", {}).get("ipPools") or []
    return str(pools[0]["cidr"]) if pools and pools[0].get("cidr") else "192.168.0.0/16" if install else None


def deny_action(cluster: ModelCluster) -> str:
    """Felix's action for denied packets: FelixConfiguration default, iptables or nftables field."""
    felix = _get(cluster, CRD_GROUP, "felixconfigurations", "", "default")
    spec = (felix or {}).get("spec") or {}
    if spec.get("bpfEnabled"):
        return "Drop"
    # felix reads the nftables field only when nftablesMode is Enabled (the operator writes Auto
    # for the Nftables dataplane, Disabled for Iptables)
    field = (
        "nftablesFilterDenyAction" if spec.get("nftablesMode") == "Enabled" else "iptablesFilterDenyAction"
    )
    return str(spec.get(field) or "Drop")


def _ensure(cluster: ModelCluster, api_version: str, kind: str, obj: dict[str, Any]) -> None:
    resource = cluster.registry.by_kind(api_version, kind)
    if resource is None:
        return
    meta = obj["metadata"]
    if cluster.store.get(resource.key, meta.get("namespace", ""), meta["name"]) is not None:
        return
    try:
        cluster.api.create(
            resource,
            meta.get("namespace", ""),
            {"apiVersion": api_version, "kind": kind, **obj},
            manager=MANAGER,
            keep_status=True,
        )
    except ApiError as error:  # e.g. the namespace is being deleted: try again on a later tick
        cluster.operator_errors.append(f"{kind} {meta['name']}: {error.message}")


def _status(
    cluster: ModelCluster, name: str, available: bool, message: str = "", degraded: bool = False
) -> None:
    resource = cluster.registry.by_kind("operator.tigera.io/v1", "TigeraStatus")
    if resource is None:
        return
    now = now_iso()
    conditions = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "lastTransitionTime": now,
            "reason": "AllObjectsAvailable" if available else "ResourceNotReady",
            "message": "" if available else message,
        },
        {
            "type": "Progressing",
            "status": "False" if available or degraded else "True",
            "lastTransitionTime": now,
            "reason": "AllObjectsAvailable" if available else "ResourceNotReady",
            "message": "" if available else message,
        },
        {
            "type": "Degraded",
            "status": "True" if degraded else "False",
            "lastTransitionTime": now,
            "reason": "ResourceValidationError" if degraded else "AllObjectsAvailable",
            "message": message if degraded else "",
        },
    ]
    live = cluster.store.get(resource.key, "", name)
    if live is None:
        cluster.api.create(
            resource,
            "",
            {
                "apiVersion": "operator.tigera.io/v1",
                "kind": "TigeraStatus",
                "metadata": {"name": name},
                "spec": {},
                "status": {"conditions": conditions},
            },
            manager=MANAGER,
            keep_status=True,
        )
        return
    old = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in (live.get("status") or {}).get("conditions") or []
    ]
    new = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]
    if old != new:
        live["status"] = {"conditions": conditions}
        cluster.store.put(resource.key, live, spec_changed=False)


def _deployment(
    name: str, namespace: str, labels: dict[str, str], *, host_network: bool = False
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": host_network,
                    "tolerations": [{"operator": "Exists"}]
                    if host_network
                    else [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "containers": [
                        {"name": name, "image": f"quay.io/calico/{name.removeprefix('calico-')}:v3.32.1"}
                    ],
                },
            },
        },
    }


def _running(cluster: ModelCluster, namespace: str, label: str, value: str) -> list[Obj]:
    return [
        p
        for p in cluster.store.list(("", "pods"), namespace)
        if (p["metadata"].get("labels") or {}).get(label) == value
        and (p.get("status") or {}).get("phase") == "Running"
    ]


def _pod_subnet(cluster: ModelCluster) -> str:
    config = cluster.store.get(("", "configmaps"), "kube-system", "kubeadm-config")
    text = ((config or {}).get("data") or {}).get("ClusterConfiguration", "")
    return str(((yaml.safe_load(text) or {}).get("networking") or {}).get("podSubnet", "")) if text else ""


def reconcile(cluster: ModelCluster) -> None:
    if cluster.kind is None or not operator_running(cluster):
        return
    install = installation(cluster)
    if install is None or not cluster.aged(install, cluster.world.operator_delay, "operator"):
        return
    import ipaddress

    subnet = _pod_subnet(cluster)
    pool = pool_cidr(cluster) or ""
    if subnet and pool and not ipaddress.ip_network(pool).subnet_of(ipaddress.ip_network(subnet)):  # type: ignore[arg-type]
        _status(
            cluster,
            "calico",
            False,
            f"IPPool {pool} is not within the platform's configured pod network CIDR(s) [{subnet}]",
            degraded=True,
        )
        return
    _ensure(
        cluster,
        "v1",
        "Namespace",
        {
            "metadata": {
                "name": "calico-system",
                "labels": {"name": "calico-system", "pod-security.kubernetes.io/enforce": "privileged"},
            }
        },
    )
    node_labels = {"k8s-app": "calico-node"}
    _ensure(
        cluster,
        "apps/v1",
        "DaemonSet",
        {
            "metadata": {"name": "calico-node", "namespace": "calico-system", "labels": node_labels},
            "spec": {
                "selector": {"matchLabels": node_labels},
                "template": {
                    "metadata": {"labels": node_labels},
                    "spec": {
                        "hostNetwork": True,
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "calico-node", "image": "quay.io/calico/node:v3.32.1"}],
                    },
                },
            },
        },
    )
    for name in ("calico-kube-controllers", "calico-typha"):
        _ensure(
            cluster,
            "apps/v1",
            "Deployment",
            _deployment(name, "calico-system", {"k8s-app": name}, host_network=name == "calico-typha"),
        )
    nodes = [n["metadata"]["name"] for n in cluster.store.list(("", "nodes"))]
    running = {
        p["spec"].get("nodeName") for p in _running(cluster, "calico-system", "k8s-app", "calico-node")
    }
    if running:
        _felix_defaults(cluster)
    if not set(nodes) <= running:
        _status(
            cluster,
            "calico",
            False,
            f'DaemonSet "calico-system/calico-node" is not available ({len(running)}/{len(nodes)})',
        )
        return
    _status(cluster, "calico", True)
    if _get(cluster, "operator.tigera.io", "apiservers", "", "default") is not None:
        _api_server(cluster)
    for _kind, plural, pod in (("Whisker", "whiskers", "whisker"), ("Goldmane", "goldmanes", "goldmane")):
        if _get(cluster, "operator.tigera.io", plural, "", "default") is None:
            continue
        _ensure(cluster, "apps/v1", "Deployment", _deployment(pod, "calico-system", {"k8s-app": pod}))
        if pod == "whisker":
            _ensure(
                cluster,
                "v1",
                "Service",
                {
                    "metadata": {"name": "whisker", "namespace": "calico-system"},
                    "spec": {
                        "selector": {"k8s-app": "whisker"},
                        "ports": [{"port": 8081, "targetPort": 8081}],
                    },
                },
            )
        _status(
            cluster,
            pod,
            bool(_running(cluster, "calico-system", "k8s-app", pod)),
            f"Deployment {pod} not ready",
        )


def _felix_defaults(cluster: ModelCluster) -> None:
    """calico-node writes FelixConfiguration default with a few fields on start (felix's startup)."""
    _ensure(
        cluster,
        f"{CRD_GROUP}/v1",
        "FelixConfiguration",
        {
            "metadata": {"name": "default"},
            "spec": {
                "bpfEnabled": False,
                "nftablesMode": "Disabled",
                "logSeverityScreen": "Info",
                "reportingInterval": "0s",
                "healthPort": 9099,
            },
        },
    )
    pool = pool_cidr(cluster)
    if pool:
        _ensure(
            cluster,
            f"{CRD_GROUP}/v1",
            "IPPool",
            {
                "metadata": {"name": "default-ipv4-ippool"},
                "spec": {
                    "cidr": pool,
                    "blockSize": 26,
                    "ipipMode": "Never",
                    "vxlanMode": "CrossSubnet",
                    "natOutgoing": True,
                    "nodeSelector": "all()",
                },
            },
        )


def api_served(cluster: ModelCluster) -> bool:
    return cluster.registry.find(V3, "v3", "tiers") is not None


def _api_server(cluster: ModelCluster) -> None:
    _ensure(
        cluster,
        "apps/v1",
        "Deployment",
        _deployment("calico-apiserver", "calico-system", {"k8s-app": "calico-apiserver"}),
    )
    if not _running(cluster, "calico-system", "k8s-app", "calico-apiserver"):
        _status(cluster, "apiserver", False, "Deployment calico-system/calico-apiserver is not available")
        return
    if not api_served(cluster):
        for kind, plural, namespaced in V3_TYPES:
            backing = cluster.registry.by_key(CRD_GROUP, plural)
            cluster.registry.add(
                ResourceType(
                    V3,
                    "v3",
                    kind,
                    plural,
                    namespaced,
                    schema=backing.schema if backing else None,
                    source="aggregated",
                    storage_group=CRD_GROUP,
                )
            )
    _status(cluster, "apiserver", True)
    for tier in [*calico_system.static_tiers(), calico_system.tier()]:
        _ensure(cluster, f"{V3}/v3", "Tier", tier)
    for api_version, kind, policy in calico_system.policies(cluster):
        _ensure(cluster, api_version, kind, policy)
