"""The model cluster: the API server, its controllers and the world around it (kind's nodes, Docker).

``ModelCluster().start()`` serves the API on 127.0.0.1 and runs the controllers on a short
tick. A test points kind and docker at it by putting the fakes of ``tests.model.tools`` on
PATH with ``NETPOL_MODEL_URL`` set: ``kind create cluster`` then makes the nodes and kind's
own system objects here and writes a kubeconfig whose context points at this server, so
`netpol-lab up`, real kubectl and the official Python client all run their real code paths.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.model import admission, controllers, operator
from tests.model.api import Api, ApiError, bad_request
from tests.model.dataplane import Dataplane, Flow
from tests.model.resources import Registry, ResourceType
from tests.model.server import ModelServer
from tests.model.store import Obj, Store, now_iso

KIND_POD_SUBNET = "10.244.0.0/16"  # kind's default networking.podSubnet
KIND_SERVICE_SUBNET = "10.96.0.0/16"
KIND_CONFIG_KEYS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
KIND_NODE_KEYS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
KIND_NETWORKING_KEYS = {
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
}
CONFLIST = "/etc/cni/net.d/10-netpol-lab.conflist"


@dataclass
class World:
    """What the test decides about the machine and the network; times are in seconds."""

    tick: float = 0.02
    crd_delay: float = 0.05
    namespace_delay: float = 0.3
    operator_delay: float = 0.1
    pod_start_delay: float = 0.05
    internet: bool = True
    metadata_ip: str = "169.254.169.254"
    dns_ip: str = "10.96.0.10"
    broken_images: set[str] = field(default_factory=set)
    docker_running: bool = True
    cgroup_version: str = "2"
    memory: int = 16 << 30
    other_kind_clusters: list[str] = field(default_factory=list)
    docker_images: dict[str, str] = field(default_factory=dict)  # ref -> digest Docker holds


@dataclass
class KindCluster:
    name: str
    config: dict[str, Any]
    nodes: list[str]
    pod_subnet: str
    default_cni: bool
    cni_configured: set[str] = field(default_factory=set)  # nodes with the plain network's conflist


class ModelCluster:
    def __init__(self, world: World | None = None, dataplane: Dataplane | None = None) -> None:
        self.world = world or World()
        self.dataplane = dataplane or Dataplane()
        self.store = Store()
        self.registry = Registry()
        self.api = Api(self.store, self.registry)
        self.api.on_create.append(self._on_create)
        self.api.on_delete.append(self._on_delete)
        self.request_log: list[str] = []
        self.exec_log: list[Any] = []
        self.docker_log: list[list[str]] = []
        self.operator_errors: list[str] = []  # what the operator model could not create, and why
        self.kind: KindCluster | None = None
        self._seen: dict[tuple[str, str], float] = {}
        self._ips: dict[str, list[str]] = {}
        self._used_ips: set[str] = set()
        self._events: set[tuple[str, str]] = set()
        self.established: set[str] = set()  # CRDs the controller has made Established
        self._stop = threading.Event()
        self.server: ModelServer | None = None
        self.paused = threading.Event()  # set: the controllers stand still (a test inspects a moment)

    # -- life cycle ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> ModelCluster:
        self.server = ModelServer(self)
        threading.Thread(target=self.server.serve_forever, name="model-apiserver", daemon=True).start()
        threading.Thread(target=self._run_controllers, name="model-controllers", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.stopping.set()
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> ModelCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_controllers(self) -> None:
        while not self._stop.is_set():
            if not self.paused.is_set():
                controllers.reconcile(self)
                with self.store.lock:
                    operator.reconcile(self)
            self._stop.wait(self.world.tick)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop the controllers for the duration (what the test reads then stays put)."""
        self.paused.set()
        try:
            yield
        finally:
            self.paused.clear()

    def wait_until(self, condition: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the model did not reach the expected state in time")
            time.sleep(self.world.tick)

    # -- small services for controllers, the operator and the dataplane ----------------------------

    def aged(self, obj: Obj, delay: float, tag: str = "created") -> bool:
        """Whether ``delay`` seconds passed since the controllers first saw ``obj`` (with ``tag``)."""
        key = (str(obj["metadata"].get("uid", obj["metadata"].get("name"))), tag)
        first = self._seen.setdefault(key, time.monotonic())
        return time.monotonic() - first >= delay

    def once(self, obj: Obj, tag: str) -> bool:
        key = (str(obj["metadata"].get("uid")), tag)
        if key in self._seen:
            return False
        self._seen[key] = time.monotonic()
        return True

    def event(self, obj: Obj, kind: str, type_: str, reason: str, message: str) -> None:
        key = (str(obj["metadata"].get("uid")), reason + message)
        if key in self._events:
            return
        self._events.add(key)
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        if self.store.get(("", "namespaces"), "", namespace) is None:
            return
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{len(self._events):x}", "namespace": namespace},
            "involvedObject": {
                "kind": kind,
                "name": meta["name"],
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now_iso(),
            "lastTimestamp": now_iso(),
            "source": {"component": "model"},
        }
        self.store.put(("", "events"), event)

    def network(self) -> str:
        """calico, kindnet, plain or none: what networks the pods now."""
        if self.kind is None:
            return "none"
        if self.kind.default_cni:
            return "kindnet"
        if operator.calico_installed(self):
            return "calico"
        if self.kind.cni_configured:
            return "plain"
        return "none"

    def enforces(self) -> bool:
        return self.network() in ("calico", "kindnet")

    def network_ready(self, node: str) -> bool:
        if self.kind is None:
            return False
        if self.kind.default_cni:
            return self._daemon_running("kube-system", "kindnet", node)
        if node in self.kind.cni_configured:
            return True
        return self._daemon_running("calico-system", "calico-node", node)

    def _daemon_running(self, namespace: str, app: str, node: str) -> bool:
        for pod in self.store.list(("", "pods"), namespace):
            labels = pod["metadata"].get("labels") or {}
            if (
                (labels.get("k8s-app") == app or labels.get("app") == app)
                and pod["spec"].get("nodeName") == node
                and (pod.get("status") or {}).get("phase") == "Running"
            ):
                return True
        return False

    def allocate_pod_ip(self, node: str) -> str:
        if node not in self._ips:
            self._ips[node] = self._addresses_for(node)
        for ip in self._ips[node]:
            if ip not in self._used_ips:
                self._used_ips.add(ip)
                return ip
        raise RuntimeError(f"no pod IP left on {node}")

    def _addresses_for(self, node: str) -> list[str]:
        assert self.kind is not None
        index = self.kind.nodes.index(node)
        pool = operator.pool_cidr(self) if self.network() == "calico" else None
        if pool:  # Calico IPAM: a /26 block per node from the Installation's pool
            network = ipaddress.ip_network(pool)
            block = ipaddress.ip_network(f"{network.network_address + 64 * (index + 1)}/26")
        else:  # kube-controller-manager's pod CIDR of the node
            obj = self.store.get(("", "nodes"), "", node) or {}
            block = ipaddress.ip_network((obj.get("spec") or {}).get("podCIDR") or f"10.244.{index}.0/24")
        return [str(block.network_address + i) for i in range(2, block.num_addresses - 1)]

    def resolve(self, name: str) -> str | None:
        """What CoreDNS answers for a cluster name (None: no such host)."""
        parts = name.rstrip(".").split(".")
        if len(parts) >= 3 and parts[2] == "svc":
            service = self.store.get(("", "services"), parts[1], parts[0])
            if service is not None:
                return str((service.get("spec") or {}).get("clusterIP") or "") or None
        return None

    def translate(self, flow: Flow) -> Flow:
        """kube-proxy and routing: a Service IP goes to a backing pod's targetPort; a pod IP to that pod."""
        if flow.address is None:
            return flow
        for service in self.store.list(("", "services")):
            spec = service.get("spec") or {}
            if spec.get("clusterIP") != flow.address:
                continue
            port = next((p for p in spec.get("ports") or [] if p.get("port") == flow.port), None)
            selector = spec.get("selector") or {}
            if port is None or not selector:
                return flow
            for pod in self.store.list(("", "pods"), service["metadata"]["namespace"]):
                labels = pod["metadata"].get("labels") or {}
                if any(labels.get(k) != v for k, v in selector.items()):
                    continue
                if (pod.get("status") or {}).get("phase") != "Running":
                    continue
                target = port.get("targetPort", port["port"])
                if isinstance(target, str):
                    named = [
                        p
                        for c in pod["spec"].get("containers") or []
                        for p in c.get("ports") or []
                        if p.get("name") == target
                    ]
                    if not named:
                        continue
                    target = named[0]["containerPort"]
                return Flow(
                    flow.source, flow.host, pod["status"].get("podIP"), int(target), flow.protocol, pod
                )
            return flow
        for pod in self.store.list(("", "pods")):
            if (pod.get("status") or {}).get("podIP") == flow.address and not pod["spec"].get("hostNetwork"):
                return Flow(flow.source, flow.host, flow.address, flow.port, flow.protocol, pod)
        return flow

    def deny_action(self) -> str:
        return operator.deny_action(self)

    def metadata_answers(self) -> bool:
        for pod in self.store.list(("", "pods"), "netpol-lab-metadata"):
            if (pod.get("status") or {}).get("phase") == "Running":
                return True
        return False

    # -- hooks on writes -------------------------------------------------------------------------------

    def _on_create(self, resource: ResourceType, obj: Obj) -> None:
        if resource.kind == "Service":
            spec = obj.setdefault("spec", {})
            if spec.get("clusterIP") and spec["clusterIP"] != "None":
                self.api.service_ips.reserve(spec["clusterIP"])
            elif not spec.get("clusterIP"):
                spec["clusterIP"] = self.api.service_ips.allocate()
                spec["clusterIPs"] = [spec["clusterIP"]]
        elif resource.kind == "Pod":
            namespace = self.store.get(("", "namespaces"), "", obj["metadata"]["namespace"]) or {}
            labels = (namespace.get("metadata") or {}).get("labels") or {}
            admission.check_pod_security(obj["metadata"]["name"], obj.get("spec") or {}, labels)
        elif resource.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            expected = f"{names.get('plural')}.{spec.get('group')}"
            if obj["metadata"]["name"] != expected:
                raise admission.Refused(
                    422,
                    "Invalid",
                    f'CustomResourceDefinition.apiextensions.k8s.io "{obj["metadata"]["name"]}" is invalid: '
                    'metadata.name: Invalid value: must be spec.names.plural+"."+spec.group',
                )

    def _on_delete(self, resource: ResourceType, obj: Obj) -> None:
        if resource.kind == "CustomResourceDefinition":
            controllers.unregister_crd(self, obj)

    # -- the world's side: kind and docker (the fake executables call these) -------------------------

    def control(self, method: str, parts: list[str], body: Any) -> Any:
        route = "/".join(parts)
        if route == "kind/clusters":
            names = [*self.world.other_kind_clusters, *([self.kind.name] if self.kind else [])]
            return {"clusters": sorted(names), "docker": self.world.docker_running}
        if route == "kind/create":
            return self.kind_create(str(body["name"]), body.get("config") or {})
        if route == "kind/delete":
            return self.kind_delete(str(body["name"]))
        if route == "kind/load":
            return {"loaded": list(body.get("images") or [])}
        if route == "docker/info":
            return {
                "running": self.world.docker_running,
                "cgroup": self.world.cgroup_version,
                "memory": self.world.memory,
            }
        if route == "docker/exec":
            return self.docker_exec(str(body["container"]), list(body["argv"]), body.get("stdin"))
        if route == "docker/images":
            return {"images": self.world.docker_images}
        raise bad_request(f"no such model control {route}")

    def kind_create(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        if self.kind is not None and self.kind.name == name:
            raise ApiError(
                409, "AlreadyExists", f'node(s) already exist for a cluster with the name "{name}"'
            )
        problem = _kind_config_problem(config)
        if problem:
            raise bad_request(problem)
        networking = config.get("networking") or {}
        nodes_config = config.get("nodes") or [{"role": "control-plane"}]
        names: list[str] = []
        workers = 0
        for node in nodes_config:
            if node.get("role", "control-plane") == "control-plane":
                names.append(
                    f"{name}-control-plane"
                    if "control-plane" not in " ".join(names)
                    else f"{name}-control-plane{len(names) + 1}"
                )
            else:
                workers += 1
                names.append(f"{name}-worker" + (str(workers) if workers > 1 else ""))
        pod_subnet = str(networking.get("podSubnet") or KIND_POD_SUBNET)
        self.kind = KindCluster(
            name, config, names, pod_subnet, not networking.get("disableDefaultCNI", False)
        )
        from tests.model import kindsystem

        kindsystem.bootstrap(self, nodes_config, names)
        return {"nodes": names}

    def kind_delete(self, name: str) -> dict[str, Any]:
        if name in self.world.other_kind_clusters:
            self.world.other_kind_clusters.remove(name)
            return {"deleted": True}
        if self.kind is None or self.kind.name != name:
            return {"deleted": False}
        with self.store.lock:
            self.kind = None
            self.store.__init__()  # type: ignore[misc]
            self.registry.__init__()  # type: ignore[misc]
            self.api.store = self.store
            self._ips.clear()
            self._used_ips.clear()
            self.established.clear()
        return {"deleted": True}

    def docker_exec(self, container: str, argv: list[str], stdin: str | None) -> dict[str, Any]:
        self.docker_log.append([container, *argv])
        if self.kind is None or container not in self.kind.nodes:
            return {
                "stdout": "",
                "stderr": f"Error response from daemon: No such container: {container}\n",
                "exit": 1,
            }
        if argv[:2] == ["cat", "/sys/class/net/eth0/mtu"]:
            return {"stdout": "1500\n", "stderr": "", "exit": 0}
        if argv[:1] == ["cat"] and argv[1:2] == [CONFLIST]:
            configured = container in self.kind.cni_configured
            return {
                "stdout": "{}\n" if configured else "",
                "stderr": "" if configured else f"cat: {CONFLIST}: No such file or directory\n",
                "exit": 0 if configured else 1,
            }
        if argv[:2] == ["sh", "-c"] and CONFLIST in argv:
            self.kind.cni_configured.add(container)
            return {"stdout": "", "stderr": "", "exit": 0}
        if argv[:3] == ["ip", "-4", "route"]:
            return {"stdout": "default via 172.18.0.1 dev eth0\n", "stderr": "", "exit": 0}
        if argv[:1] == ["iptables"] and "-C" in argv:
            return {
                "stdout": "",
                "stderr": "iptables: Bad rule (does a matching rule exist in that chain?).\n",
                "exit": 1,
            }
        return {"stdout": "", "stderr": "", "exit": 0}


def _kind_config_problem(config: dict[str, Any]) -> str | None:
    """kind decodes its config strictly (sigs.k8s.io/yaml UnmarshalStrict): unknown keys fail."""
    if config.get("kind") != "Cluster" or config.get("apiVersion") != "kind.x-k8s.io/v1alpha4":
        return "ERROR: failed to create cluster: unknown apiVersion/kind for the cluster config"
    for key in set(config) - KIND_CONFIG_KEYS:
        return f'ERROR: failed to create cluster: error unmarshaling JSON: unknown field "{key}"'
    for key in set(config.get("networking") or {}) - KIND_NETWORKING_KEYS:
        return f'ERROR: failed to create cluster: error unmarshaling JSON: unknown field "networking.{key}"'
    for node in config.get("nodes") or []:
        for key in set(node) - KIND_NODE_KEYS:
            return f'ERROR: failed to create cluster: error unmarshaling JSON: unknown field "nodes.{key}"'
    return None
