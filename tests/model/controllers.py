"""The controllers and the kubelet, as far as the lab can see them, run on a short tick.

* CRDs become NamesAccepted and Established (then their types are served).
* Terminating namespaces lose their objects, then disappear.
* Deployments get a ReplicaSet per pod template and the ReplicaSet its pods; DaemonSets one
  pod per eligible node. Pods go through Pod Security admission like any other create, and a
  refusal becomes a FailedCreate event, as the ReplicaSet controller reports it.
* The scheduler binds pods to Ready nodes that match their nodeSelector and whose taints they
  tolerate; the kubelet starts them once the node's network is up (hostNetwork pods at once),
  with an IP from the node's pod CIDR.
* Objects whose owner is gone are garbage collected.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from typing import TYPE_CHECKING, Any

from tests.model.api import ApiError
from tests.model.resources import ResourceType
from tests.model.store import Obj, now_iso

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

PODS = ("", "pods")
NODES = ("", "nodes")
MANAGER = "kube-controller-manager"


def reconcile(cluster: ModelCluster) -> None:
    for step in (
        crds,
        namespaces,
        deployments,
        replicasets,
        daemonsets,
        schedule,
        kubelet,
        workload_status,
        garbage_collect,
        node_conditions,
    ):
        with cluster.store.lock:
            step(cluster)


# -- CRDs -----------------------------------------------------------------------------------------


def crds(cluster: ModelCluster) -> None:
    key = ("apiextensions.k8s.io", "customresourcedefinitions")
    for _, name in cluster.store.keys(key):
        if name in cluster.established:
            continue
        crd = cluster.store.get(key, "", name)
        if crd is None:
            continue
        conditions = (crd.get("status") or {}).get("conditions") or []
        established = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
        if established:
            continue
        if not cluster.aged(crd, cluster.world.crd_delay):
            continue
        spec = crd["spec"]
        crd["status"] = {
            "acceptedNames": spec["names"],
            "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now_iso(),
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now_iso(),
                },
            ],
        }
        cluster.store.put(key, crd, spec_changed=False)
        register_crd(cluster, crd)
        cluster.established.add(name)


def register_crd(cluster: ModelCluster, crd: Obj) -> None:
    spec = crd["spec"]
    names = spec["names"]
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        subresources = tuple(sorted((version.get("subresources") or {}).keys() & {"status"}))
        cluster.registry.add(
            ResourceType(
                spec["group"],
                version["name"],
                names["kind"],
                names["plural"],
                spec.get("scope") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                subresources,
                schema=schema,
                source="crd",
            )
        )


def unregister_crd(cluster: ModelCluster, crd: Obj) -> None:
    cluster.established.discard(crd["metadata"]["name"])
    spec = crd["spec"]
    cluster.registry.remove(spec["group"], spec["names"]["plural"], source="crd")
    cluster.store.drop_type((spec["group"], spec["names"]["plural"]))


# -- namespaces -----------------------------------------------------------------------------------


def namespaces(cluster: ModelCluster) -> None:
    for namespace in cluster.store.list(("", "namespaces")):
        meta = namespace["metadata"]
        if not meta.get("deletionTimestamp") or not cluster.aged(
            namespace, cluster.world.namespace_delay, "deletion"
        ):
            continue
        for type_key, name in list(cluster.store.namespaces_with_objects(meta["name"])):
            cluster.store.remove(type_key, meta["name"], name)
        cluster.store.remove(("", "namespaces"), "", meta["name"])


# -- workloads ------------------------------------------------------------------------------------


def _template_hash(template: Any) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _owner(obj: Obj, kind: str, api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _owned_by(obj: Obj, owner: Obj) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or []
    )


def deployments(cluster: ModelCluster) -> None:
    for deploy in cluster.store.list(("apps", "deployments")):
        meta, spec = deploy["metadata"], deploy["spec"]
        template = spec.get("template") or {}
        digest = _template_hash(template)
        name = f"{meta['name']}-{digest}"
        replica_sets = [
            rs
            for rs in cluster.store.list(("apps", "replicasets"), meta["namespace"])
            if _owned_by(rs, deploy)
        ]
        for old in replica_sets:
            if old["metadata"]["name"] != name:
                cluster.store.remove(("apps", "replicasets"), meta["namespace"], old["metadata"]["name"])
        current = next((rs for rs in replica_sets if rs["metadata"]["name"] == name), None)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": digest}
        wanted = {
            "replicas": spec.get("replicas", 1),
            "selector": {
                "matchLabels": {
                    **(spec.get("selector") or {}).get("matchLabels", {}),
                    "pod-template-hash": digest,
                }
            },
            "template": {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}},
        }
        if current is None or current["spec"] != wanted:
            rs = current or {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": labels,
                    "ownerReferences": [_owner(deploy, "Deployment", "apps/v1")],
                },
            }
            rs["spec"] = wanted
            cluster.store.put(("apps", "replicasets"), rs)


def _create_pod(
    cluster: ModelCluster, owner: Obj, owner_kind: str, template: Obj, name: str, node: str = ""
) -> None:
    namespace = owner["metadata"]["namespace"]
    spec = json.loads(json.dumps(template.get("spec") or {}))
    if node:
        spec["nodeName"] = node
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "ownerReferences": [_owner(owner, owner_kind, "apps/v1")],
        },
        "spec": spec,
    }
    if owner_kind == "DaemonSet":
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute"})
        for key in ("node.kubernetes.io/unschedulable", "node.kubernetes.io/network-unavailable"):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoSchedule"})
    try:
        cluster.api.create(cluster.registry.by_key("", "pods"), namespace, pod, manager=MANAGER)  # type: ignore[arg-type]
    except ApiError as error:
        cluster.event(owner, owner_kind, "Warning", "FailedCreate", f"Error creating: {error.message}")


def _random_suffix(seed: str) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:5])


def replicasets(cluster: ModelCluster) -> None:
    for rs in cluster.store.list(("apps", "replicasets")):
        namespace = rs["metadata"]["namespace"]
        pods = [
            p
            for p in cluster.store.list(PODS, namespace)
            if _owned_by(p, rs) and not p["metadata"].get("deletionTimestamp")
        ]
        missing = int(rs["spec"].get("replicas", 1)) - len(pods)
        for number in range(missing):
            suffix = _random_suffix(f"{rs['metadata']['uid']}-{len(pods) + number}-{time.monotonic_ns()}")
            _create_pod(
                cluster, rs, "ReplicaSet", rs["spec"]["template"], f"{rs['metadata']['name']}-{suffix}"
            )
        for extra in pods[int(rs["spec"].get("replicas", 1)) :]:
            cluster.store.remove(PODS, namespace, extra["metadata"]["name"])


def _tolerates(pod_spec: Obj, taints: list[dict[str, Any]]) -> bool:
    tolerations = pod_spec.get("tolerations") or []
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        ok = False
        for toleration in tolerations:
            if (toleration.get("operator") == "Exists" and not toleration.get("key")) or (
                toleration.get("key") == taint.get("key")
                and (toleration.get("operator") == "Exists" or toleration.get("value") == taint.get("value"))
                and toleration.get("effect") in (None, "", taint.get("effect"))
            ):
                ok = True
        if not ok:
            return False
    return True


def _fits(pod_spec: Obj, node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    return _tolerates(pod_spec, (node.get("spec") or {}).get("taints") or [])


def daemonsets(cluster: ModelCluster) -> None:
    nodes = cluster.store.list(NODES)
    for ds in cluster.store.list(("apps", "daemonsets")):
        namespace = ds["metadata"]["namespace"]
        template = ds["spec"].get("template") or {}
        digest = _template_hash(template)
        template = {
            **template,
            "metadata": {
                **(template.get("metadata") or {}),
                "labels": {
                    **((template.get("metadata") or {}).get("labels") or {}),
                    "controller-revision-hash": digest,
                },
            },
        }
        pods = [p for p in cluster.store.list(PODS, namespace) if _owned_by(p, ds)]
        probe_spec = dict(template.get("spec") or {})
        probe_spec["tolerations"] = [
            *(probe_spec.get("tolerations") or []),
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
        ]
        eligible = [n["metadata"]["name"] for n in nodes if _fits(probe_spec, n)]
        for pod in pods:
            stale = (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != digest
            if stale or pod["spec"].get("nodeName") not in eligible:
                cluster.store.remove(PODS, namespace, pod["metadata"]["name"])
        have = {p["spec"].get("nodeName") for p in cluster.store.list(PODS, namespace) if _owned_by(p, ds)}
        for node in eligible:
            if node not in have:
                suffix = _random_suffix(f"{ds['metadata']['uid']}-{node}-{digest}")
                _create_pod(cluster, ds, "DaemonSet", template, f"{ds['metadata']['name']}-{suffix}", node)


# -- scheduler and kubelet ----------------------------------------------------------------------


def schedule(cluster: ModelCluster) -> None:
    nodes = cluster.store.list(NODES)
    for pod in cluster.store.list(PODS):
        if pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            continue
        fitting = [n for n in nodes if _fits(pod["spec"], n)]
        if not fitting:
            message = f"0/{len(nodes)} nodes are available: {len(nodes)} node(s) didn't match Pod's node affinity/selector or had untolerated taints"  # noqa: E501
            status = pod.setdefault("status", {})
            status["phase"] = "Pending"
            status["conditions"] = [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
            ]
            if cluster.once(pod, "unschedulable-event"):
                cluster.event(pod, "Pod", "Warning", "FailedScheduling", message)
            cluster.store.put(PODS, pod, spec_changed=False)
            continue
        count = {n["metadata"]["name"]: 0 for n in fitting}
        for other in cluster.store.list(PODS):
            if other["spec"].get("nodeName") in count:
                count[other["spec"]["nodeName"]] += 1
        chosen = min(fitting, key=lambda n: (count[n["metadata"]["name"]], n["metadata"]["name"]))
        pod["spec"]["nodeName"] = chosen["metadata"]["name"]
        cluster.store.put(PODS, pod, spec_changed=False)


def kubelet(cluster: ModelCluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.store.list(NODES)}
    for pod in cluster.store.list(PODS):
        node_name = pod["spec"].get("nodeName")
        status = pod.setdefault("status", {})
        if not node_name or node_name not in nodes or pod["metadata"].get("deletionTimestamp"):
            continue
        if status.get("phase") == "Running":
            continue
        node = nodes[node_name]
        host_network = bool(pod["spec"].get("hostNetwork"))
        containers = pod["spec"].get("containers") or []
        broken = [c for c in containers if c.get("image") in cluster.world.broken_images]
        base = {"hostIP": _node_ip(node), "startTime": status.get("startTime") or now_iso()}
        if broken:
            status.update(
                base,
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                ],
                containerStatuses=[
                    _container_status(
                        c,
                        False,
                        {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": f'Back-off pulling image "{c.get("image")}"',
                            }
                        },
                    )
                    for c in containers
                ],
            )
            cluster.store.put(PODS, pod, spec_changed=False)
            continue
        if not host_network and not cluster.network_ready(node_name):
            if status.get("phase") != "Pending" or not status.get("containerStatuses"):
                status.update(
                    base,
                    phase="Pending",
                    conditions=[
                        {"type": "PodScheduled", "status": "True"},
                        {"type": "Ready", "status": "False"},
                    ],
                    containerStatuses=[
                        _container_status(c, False, {"waiting": {"reason": "ContainerCreating"}})
                        for c in containers
                    ],
                )
                cluster.store.put(PODS, pod, spec_changed=False)
            continue
        if not cluster.aged(pod, cluster.world.pod_start_delay):
            continue
        ip = _node_ip(node) if host_network else cluster.allocate_pod_ip(node_name)
        status.update(
            base,
            phase="Running",
            podIP=ip,
            podIPs=[{"ip": ip}],
            conditions=[
                {"type": t, "status": "True", "lastTransitionTime": now_iso()}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            containerStatuses=[
                _container_status(c, True, {"running": {"startedAt": now_iso()}}) for c in containers
            ],
        )
        cluster.store.put(PODS, pod, spec_changed=False)


def _container_status(container: Obj, ready: bool, state: dict[str, Any]) -> dict[str, Any]:
    """A kubelet's container status: the official client refuses one without these fields."""
    image = str(container.get("image", ""))
    digest = (
        image.split("@", 1)[1] if "@" in image else "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    )
    return {
        "name": container["name"],
        "image": image,
        "imageID": f"{image.split('@')[0]}@{digest}" if ready else "",
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": state,
    }


def _node_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address["address"])
    return ""


def workload_status(cluster: ModelCluster) -> None:
    for deploy in cluster.store.list(("apps", "deployments")):
        namespace = deploy["metadata"]["namespace"]
        sets = [rs for rs in cluster.store.list(("apps", "replicasets"), namespace) if _owned_by(rs, deploy)]
        pods = [p for rs in sets for p in cluster.store.list(PODS, namespace) if _owned_by(p, rs)]
        ready = [p for p in pods if _ready(p)]
        wanted = int(deploy["spec"].get("replicas", 1))
        status = {
            "observedGeneration": deploy["metadata"]["generation"],
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "unavailableReplicas": max(0, wanted - len(ready)),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if len(ready) >= wanted else "False",
                    "reason": "MinimumReplicasAvailable"
                    if len(ready) >= wanted
                    else "MinimumReplicasUnavailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable" if len(ready) >= wanted else "ReplicaSetUpdated",
                },
            ],
        }
        if not len(ready):
            status.pop("readyReplicas")
            status.pop("availableReplicas")
        if deploy.get("status") != status:
            deploy["status"] = status
            cluster.store.put(("apps", "deployments"), deploy, spec_changed=False)
    for ds in cluster.store.list(("apps", "daemonsets")):
        namespace = ds["metadata"]["namespace"]
        pods = [p for p in cluster.store.list(PODS, namespace) if _owned_by(p, ds)]
        probe_spec = dict((ds["spec"].get("template") or {}).get("spec") or {})
        probe_spec["tolerations"] = [
            *(probe_spec.get("tolerations") or []),
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
        ]
        desired = len([n for n in cluster.store.list(NODES) if _fits(probe_spec, n)])
        ready_count = len([p for p in pods if _ready(p)])
        status = {
            "observedGeneration": ds["metadata"]["generation"],
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": len(pods),
            "updatedNumberScheduled": len(pods),
            "numberReady": ready_count,
            "numberAvailable": ready_count,
            "numberMisscheduled": 0,
        }
        if ready_count < desired:
            status["numberUnavailable"] = desired - ready_count
        if ds.get("status") != status:
            ds["status"] = status
            cluster.store.put(("apps", "daemonsets"), ds, spec_changed=False)
    for rs in cluster.store.list(("apps", "replicasets")):
        pods = [p for p in cluster.store.list(PODS, rs["metadata"]["namespace"]) if _owned_by(p, rs)]
        status = {
            "replicas": len(pods),
            "readyReplicas": len([p for p in pods if _ready(p)]),
            "observedGeneration": rs["metadata"]["generation"],
        }
        if rs.get("status") != status:
            rs["status"] = status
            cluster.store.put(("apps", "replicasets"), rs, spec_changed=False)


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


OWNERS = (("apps", "deployments"), ("apps", "replicasets"), ("apps", "daemonsets"))


def garbage_collect(cluster: ModelCluster) -> None:
    """Pods and ReplicaSets whose owner (a Deployment, ReplicaSet or DaemonSet) is gone."""
    uids = set()
    for type_key in OWNERS:
        for obj in cluster.store.list(type_key):
            uids.add(obj["metadata"].get("uid"))
    for type_key in (PODS, ("apps", "replicasets")):
        for obj in cluster.store.list(type_key):
            owners = obj["metadata"].get("ownerReferences") or []
            if owners and not any(ref.get("uid") in uids for ref in owners):
                cluster.store.remove(type_key, obj["metadata"]["namespace"], obj["metadata"]["name"])


def node_conditions(cluster: ModelCluster) -> None:
    for node in cluster.store.list(NODES):
        name = node["metadata"]["name"]
        ready = cluster.network_ready(name)
        condition = {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "KubeletReady" if ready else "KubeletNotReady",
            "message": "kubelet is posting ready status"
            if ready
            else "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
            "message:Network plugin returns error: cni plugin not initialized",
        }
        taints = [
            t
            for t in (node.get("spec") or {}).get("taints") or []
            if t.get("key") != "node.kubernetes.io/not-ready"
        ]
        if not ready:
            taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
        status = node.setdefault("status", {})
        if status.get("conditions") == [condition] and (node.get("spec") or {}).get("taints", []) == taints:
            continue
        status["conditions"] = [condition]
        node.setdefault("spec", {})["taints"] = taints
        if not taints:
            node["spec"].pop("taints")
        cluster.store.put(NODES, node, spec_changed=False)


def pod_cidr_addresses(cidr: str) -> list[str]:
    network = ipaddress.ip_network(cidr)
    return [str(network.network_address + offset) for offset in range(2, min(network.num_addresses - 1, 250))]
