"""Namespaces, pods, Services and NetworkPolicies as plain typed values, parsed from API objects.

The parser accepts objects exactly as the API server returns them (``kubectl get -o yaml``)
and as manifests write them, applies the API's defaults (a port without protocol is TCP,
``policyTypes`` inferred as in ``pkg/apis/networking/v1/defaults.go``) and refuses what the
API server would refuse, with the object named in the message.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lab.errors import ExitStatus, LabError
from lab.policy.selectors import LabelSelector, SelectorError, parse_selector

if TYPE_CHECKING:
    from lab.policy.calico import CalicoPolicy
    from lab.policy.cnp import ClusterPolicy
    from lab.policy.tiers import Tier

PROTOCOLS = ("TCP", "UDP", "SCTP")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InputError(LabError):
    """Bad input: one line naming the source and the object."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitStatus.USAGE)


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str | None
    ports: tuple[ContainerPort, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str) -> list[ContainerPort]:
        return [p for p in self.ports if p.name == name]


@dataclass(frozen=True)
class ExternalTarget:
    """An address outside the pod network that flows may be judged against (egress only)."""

    ip: str
    port: int
    protocol: str = "TCP"
    label: str = ""

    @property
    def key(self) -> str:
        return f"{self.ip}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class IPBlock:
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, ip: str | IPAddress) -> bool:
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if address.version != self.cidr.version or address not in self.cidr:
            return False
        return not any(address in hole for hole in self.excepts)

    def describe(self) -> str:
        text = f"ipBlock {self.cidr}"
        if self.excepts:
            text += " except " + ", ".join(str(e) for e in self.excepts)
        return text


@dataclass(frozen=True)
class Peer:
    """One entry of ``from``/``to``: selectors (AND when both) or an ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class PolicyPort:
    protocol: str = "TCP"
    port: int | str | None = None  # None: every port of the protocol
    end_port: int | None = None

    def describe(self) -> str:
        if self.port is None:
            return f"every {self.protocol} port"
        if self.end_port is not None:
            return f"{self.protocol} {self.port}-{self.end_port}"
        if isinstance(self.port, str):
            return f"{self.protocol} port named {self.port!r}"
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True)
class Rule:
    """An ingress or egress rule: empty ``peers`` = every source/destination, empty ``ports`` = every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    pod_selector: LabelSelector
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    types: frozenset[str] = frozenset({"Ingress"})
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def affects_ingress(self) -> bool:
        return "Ingress" in self.types

    @property
    def affects_egress(self) -> bool:
        return "Egress" in self.types


@dataclass(frozen=True)
class ServicePort:
    port: int
    target: int | str
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    selector: Mapping[str, str] | None
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class ClusterState:
    """Everything the engine judges: the objects, the outside targets, and what was noticed on loading."""

    namespaces: dict[str, Namespace] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    targets: list[ExternalTarget] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said once on stderr (e.g. synthetic IPs)
    warnings: list[str] = field(default_factory=list)
    unaddressed: list[Pod] = field(default_factory=list)  # pods without an IP: reported, not judged
    source: str = ""
    calico: list[CalicoPolicy] = field(default_factory=list)  # projectcalico.org/v3 policies
    tiers: dict[str, Tier] = field(default_factory=dict)  # Tier objects found (the static ones are implied)
    cluster_policies: list[ClusterPolicy] = field(default_factory=list)  # ClusterNetworkPolicy v1alpha2

    @property
    def ordered(self) -> bool:
        """Whether policies beyond Kubernetes NetworkPolicy take part (then evaluation goes tier by tier)."""
        return bool(self.calico or self.cluster_policies)

    def pod(self, key: str) -> Pod | None:
        for pod in self.pods:
            if pod.key == key:
                return pod
        return None

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        namespace = self.namespaces.get(name)
        return namespace.labels if namespace else {NAMESPACE_NAME_LABEL: name}


# -- parsing -----------------------------------------------------------------------------


def object_name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    kind = obj.get("kind", "object")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _meta(obj: Mapping[str, Any], source: str, *, namespaced: bool) -> tuple[str, str, dict[str, str]]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        raise InputError(f"{source}: a {obj.get('kind', 'object')} without metadata.name")
    namespace = str(meta.get("namespace") or ("default" if namespaced else ""))
    labels = meta.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise InputError(f"{source}: {object_name(obj)}: metadata.labels must be a mapping")
    return str(meta["name"]), namespace, {str(k): str(v) for k, v in labels.items()}


def parse_namespace(obj: Mapping[str, Any], source: str) -> Namespace:
    name, _, labels = _meta(obj, source, namespaced=False)
    labels.setdefault(NAMESPACE_NAME_LABEL, name)  # the API server sets it on every namespace
    return Namespace(name, labels)


def _protocol(raw: Any, where: str) -> str:
    if raw is None:
        return "TCP"  # the API default for a port without protocol
    text = str(raw)
    if text not in PROTOCOLS:
        raise InputError(f"{where}: unknown protocol {text!r} (use TCP, UDP or SCTP, in upper case)")
    return text


def parse_container_ports(containers: Any, where: str) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    for container in containers or []:
        if not isinstance(container, Mapping):
            continue
        for entry in container.get("ports") or []:
            if not isinstance(entry, Mapping) or "containerPort" not in entry:
                raise InputError(f"{where}: a container port without containerPort")
            try:
                number = int(entry["containerPort"])
            except (TypeError, ValueError):
                raise InputError(
                    f"{where}: containerPort {entry['containerPort']!r} is not a number"
                ) from None
            ports.append(
                ContainerPort(number, _protocol(entry.get("protocol"), where), str(entry.get("name") or ""))
            )
    return tuple(ports)


def parse_pod(obj: Mapping[str, Any], source: str) -> tuple[Pod, bool]:
    """The pod, and whether NetworkPolicy governs it (not for hostNetwork or finished pods)."""
    name, namespace, labels = _meta(obj, source, namespaced=True)
    where = f"{source}: Pod {namespace}/{name}"
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ip = status.get("podIP") if isinstance(status, Mapping) else None
    if ip:
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            raise InputError(f"{where}: status.podIP {ip!r} is not an IP address") from None
    ports = parse_container_ports(spec.get("containers") if isinstance(spec, Mapping) else None, where)
    governed = not (isinstance(spec, Mapping) and spec.get("hostNetwork")) and (
        not isinstance(status, Mapping) or status.get("phase") not in ("Succeeded", "Failed")
    )
    return Pod(namespace, name, labels, str(ip) if ip else None, ports), governed


def _network(text: Any, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        raise InputError(f"{where}: invalid CIDR {text!r} (write it like 10.0.0.0/8)") from None


def parse_ip_block(raw: Any, where: str) -> IPBlock:
    if not isinstance(raw, Mapping) or "cidr" not in raw:
        raise InputError(f"{where}: ipBlock needs a cidr")
    cidr = _network(raw["cidr"], where)
    excepts = []
    for text in raw.get("except") or []:
        hole = _network(text, where)
        if hole.version != cidr.version or not hole.subnet_of(cidr):  # type: ignore[arg-type]
            raise InputError(f"{where}: except {text} is not inside cidr {cidr}")
        excepts.append(hole)
    return IPBlock(cidr, tuple(excepts))


def _peer(raw: Any, where: str) -> Peer:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: a peer must be a mapping")
    unknown = set(raw) - {"podSelector", "namespaceSelector", "ipBlock"}
    if unknown:
        raise InputError(f"{where}: unknown peer field(s) {', '.join(sorted(unknown))}")
    if "ipBlock" in raw:
        if "podSelector" in raw or "namespaceSelector" in raw:
            raise InputError(f"{where}: ipBlock cannot be combined with podSelector or namespaceSelector")
        return Peer(ip_block=parse_ip_block(raw["ipBlock"], where))
    if "podSelector" not in raw and "namespaceSelector" not in raw:
        raise InputError(f"{where}: a peer needs podSelector, namespaceSelector or ipBlock")
    try:
        pods = parse_selector(raw["podSelector"], f"{where}.podSelector") if "podSelector" in raw else None
        nss = (
            parse_selector(raw["namespaceSelector"], f"{where}.namespaceSelector")
            if "namespaceSelector" in raw
            else None
        )
    except SelectorError as error:
        raise InputError(str(error)) from None
    return Peer(pods, nss)


def _port(raw: Any, where: str) -> PolicyPort:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: a port entry must be a mapping")
    protocol = _protocol(raw.get("protocol"), where)
    port = raw.get("port")
    end = raw.get("endPort")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if port is not None and not isinstance(port, (int, str)):
        raise InputError(f"{where}: port {port!r} must be a number or a port name")
    if isinstance(port, int) and not 1 <= port <= 65535:
        raise InputError(f"{where}: port {port} is out of range 1-65535")
    if end is not None:
        if not isinstance(port, int):
            raise InputError(f"{where}: endPort needs a numeric port")
        if not isinstance(end, int) or end < port or end > 65535:
            raise InputError(f"{where}: endPort {end!r} must be a number between port {port} and 65535")
    return PolicyPort(protocol, port, end)


def _rules(raw: Any, direction: str, where: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"{where}: spec.{direction} must be a list of rules")
    peer_key = "from" if direction == "ingress" else "to"
    rules = []
    for number, item in enumerate(raw):
        spot = f"{where}: spec.{direction}[{number}]"
        item = item or {}
        if not isinstance(item, Mapping):
            raise InputError(f"{spot} must be a mapping")
        unknown = set(item) - {peer_key, "ports"}
        if unknown:
            raise InputError(
                f"{spot}: unknown field(s) {', '.join(sorted(unknown))} (expected {peer_key}, ports)"
            )
        peers = tuple(_peer(p, f"{spot}.{peer_key}[{i}]") for i, p in enumerate(item.get(peer_key) or []))
        ports = tuple(_port(p, f"{spot}.ports[{i}]") for i, p in enumerate(item.get("ports") or []))
        rules.append(Rule(peers, ports))
    return tuple(rules)


def parse_policy(obj: Mapping[str, Any], source: str) -> Policy:
    name, namespace, _ = _meta(obj, source, namespaced=True)
    where = f"{source}: NetworkPolicy {namespace}/{name}"
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: missing spec")
    try:
        selector = parse_selector(spec.get("podSelector"), "spec.podSelector")
    except SelectorError as error:
        raise InputError(f"{where}: {error}") from None
    ingress = _rules(spec.get("ingress"), "ingress", where)
    egress = _rules(spec.get("egress"), "egress", where)
    raw_types = spec.get("policyTypes")
    if raw_types:
        bad = [t for t in raw_types if t not in ("Ingress", "Egress")]
        if bad:
            raise InputError(f"{where}: unknown policyTypes {bad} (use Ingress, Egress)")
        types = frozenset(str(t) for t in raw_types)
    else:
        # pkg/apis/networking/v1/defaults.go: Ingress always; Egress only if there is at
        # least one egress rule (`egress: []` does not count).
        types = frozenset({"Ingress", "Egress"} if egress else {"Ingress"})
    return Policy(namespace, name, selector, ingress, egress, types, source)


def parse_service(obj: Mapping[str, Any], source: str) -> Service:
    name, namespace, _ = _meta(obj, source, namespaced=True)
    where = f"{source}: Service {namespace}/{name}"
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    ports = []
    for entry in spec.get("ports") or []:
        if not isinstance(entry, Mapping) or "port" not in entry:
            raise InputError(f"{where}: a Service port without port")
        target = entry.get("targetPort", entry["port"])
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        ports.append(
            ServicePort(
                int(entry["port"]),
                target,
                _protocol(entry.get("protocol"), where),
                str(entry.get("name") or ""),
            )
        )
    cluster_ip = spec.get("clusterIP")
    return Service(
        namespace,
        name,
        {str(k): str(v) for k, v in selector.items()} if isinstance(selector, Mapping) else None,
        tuple(ports),
        str(cluster_ip) if cluster_ip and cluster_ip != "None" else None,
    )
