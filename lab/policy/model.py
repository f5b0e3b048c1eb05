"""Namespaces, pods, Services and NetworkPolicies as plain typed values, parsed from API objects.

The parser accepts objects exactly as the API server returns them (``kubectl get -o yaml``)
and as manifests write them, applies the API's defaults (a port without protocol is TCP,
``policyTypes`` inferred as in ``pkg/apis/networking/v1/defaults.go``) and refuses what the
API server would refuse, with the object named in the message.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lab.errors import ExitStatus, LabError
from lab.policy.selectors import LabelSelector, SelectorError, label_text, parse_selector
from lab.policy.words import kind_of, printable, shown

if TYPE_CHECKING:
    from lab.policy.calico import CalicoPolicy
    from lab.policy.cnp import ClusterPolicy
    from lab.policy.tiers import Tier

PROTOCOLS = ("TCP", "UDP", "SCTP")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InputError(LabError):
    """Bad input: one line naming the source and the object (control characters escaped)."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message), ExitStatus.USAGE)


def mapping_field(raw: Any, where: str, what: str, *, optional: bool = True) -> Mapping[str, Any]:
    """``raw`` as a mapping (``{}`` for a missing optional one), or an ``InputError`` naming ``what``."""
    if type(raw) is dict:  # what JSON and YAML make: no ABC check (a 10,000-pod state has 60,000)
        return raw
    if raw is None and optional:
        return {}
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: {what} must be a mapping, not {kind_of(raw)}")
    return raw


def list_field(raw: Any, where: str, what: str) -> list[Any]:
    """``raw`` as a list (``[]`` when missing or null), or an ``InputError`` naming ``what``."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{where}: {what} must be a list, not {kind_of(raw)}")
    return raw


def string_field(raw: Any, where: str, what: str, default: str = "") -> str:
    """``raw`` as a string (``default`` when missing or null), or an ``InputError`` naming ``what``."""
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise InputError(f"{where}: {what} must be a string, not {kind_of(raw)}")
    return raw


def field_names(raw: Mapping[Any, Any]) -> set[str]:
    """The keys of a mapping as text (YAML allows keys that are numbers, booleans or null)."""
    return {key if isinstance(key, str) else shown(key) for key in raw}


# IANA_SVC_NAME, what the API server accepts as a port name: 1-15 of a-z, 0-9 and single inner '-'s,
# with at least one letter.
_PORT_NAME = re.compile(r"(?=.{1,15}$)(?=[^a-z]*[a-z])[a-z0-9]+(-[a-z0-9]+)*")
_DECIMAL = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also accepts '²' and '٣'


# Dotted-quad IPv4 exactly as ``ipaddress`` accepts it (0-255, ASCII digits, no leading zeros): a
# regular expression checks 10,000 pod IPs in a few milliseconds; anything else goes to ``ipaddress``.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def decimal(text: str) -> bool:
    """Whether ``text`` is a whole number in ASCII digits (what Kubernetes reads as one)."""
    return _DECIMAL.fullmatch(text) is not None


def port_number(raw: Any, where: str, what: str = "port", *, low: int = 1, strings: bool = False) -> int:
    """A port number ``low``-65535: an int (not a boolean), or with ``strings`` its decimal text."""
    if strings and isinstance(raw, str) and decimal(raw):
        raw = int(raw) if len(raw) <= 6 else 1 << 17  # more digits than any port: out of range below
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InputError(f"{where}: {what} {shown(raw)} is not a port number {low}-65535")
    if not low <= raw <= 65535:
        raise InputError(f"{where}: {what} {shown(raw)} is out of range {low}-65535")
    return raw


def order_number(raw: Any, where: str, what: str) -> float | None:
    """A policy or tier ``order``: a finite number (not a boolean) or null."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise InputError(f"{where}: {what} must be a number, not {kind_of(raw)}")
    if (isinstance(raw, int) and raw.bit_length() > 64) or (
        isinstance(raw, float) and not math.isfinite(raw)
    ):
        raise InputError(f"{where}: {what} {shown(raw)} is not a finite number of a sensible size")
    return float(raw)


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
    """``Pod web/x``: the object as messages name it (whatever shape its metadata has)."""
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    kind = obj.get("kind", "object")
    kind = kind if isinstance(kind, str) and kind else "object"
    name = name if isinstance(name, str) else "?" if name is None else shown(name)
    if namespace and isinstance(namespace, str):
        return f"{kind} {namespace}/{name}"
    return f"{kind} {name}"


def labels_field(raw: Any, where: str, what: str) -> dict[str, str]:
    """A label map (``metadata.labels``, a Service's selector): text keys and values.

    Values YAML reads as booleans or numbers (``enabled: true``) count as the text written, as
    selectors compare them (``lab.policy.selectors.label_text``)."""
    labels = mapping_field(raw, where, what)
    if all(type(k) is str and type(v) is str for k, v in labels.items()):  # the usual case, at once
        return dict(labels)
    try:
        return {label_text(k, f"{what} key"): label_text(v, f"{what} value") for k, v in labels.items()}
    except SelectorError as error:
        raise InputError(f"{where}: {error}") from None


def _meta(obj: Mapping[str, Any], source: str, *, namespaced: bool) -> tuple[str, str, dict[str, str]]:
    meta = obj.get("metadata")
    kind = obj.get("kind")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        raise InputError(f"{source}: a {kind} without metadata.name")
    where = f"{source}: {object_name(obj)}"
    name = string_field(meta.get("name"), where, "metadata.name")
    namespace = string_field(meta.get("namespace"), where, "metadata.namespace") or (
        "default" if namespaced else ""
    )
    return name, namespace, labels_field(meta.get("labels"), where, "metadata.labels")


def parse_namespace(obj: Mapping[str, Any], source: str) -> Namespace:
    name, _, labels = _meta(obj, source, namespaced=False)
    labels.setdefault(NAMESPACE_NAME_LABEL, name)  # the API server sets it on every namespace
    return Namespace(name, labels)


def _protocol(raw: Any, where: str) -> str:
    if raw is None:
        return "TCP"  # the API default for a port without protocol
    if not isinstance(raw, str) or raw not in PROTOCOLS:
        raise InputError(f"{where}: unknown protocol {shown(raw)} (use TCP, UDP or SCTP, in upper case)")
    return raw


_FAST = (None, *PROTOCOLS)  # a port's protocol as written: absent (TCP) or one of ours


def parse_container_ports(containers: Any, where: str) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    for number, container in enumerate(list_field(containers, where, "spec.containers")):
        spot = f"spec.containers[{number}]"
        container = mapping_field(container, where, spot, optional=False)
        for position, entry in enumerate(list_field(container.get("ports"), where, f"{spot}.ports")):
            if type(entry) is dict:  # the usual entry, checked at once; anything else the long way
                port, name, protocol = (
                    entry.get("containerPort"),
                    entry.get("name", ""),
                    entry.get("protocol"),
                )
                if type(port) is int and 1 <= port <= 65535 and type(name) is str and protocol in _FAST:
                    ports.append(ContainerPort(port, protocol or "TCP", name))
                    continue
            entry = mapping_field(entry, where, f"{spot}.ports[{position}]", optional=False)
            if "containerPort" not in entry:
                raise InputError(f"{where}: a container port without containerPort")
            port = port_number(entry["containerPort"], where, "containerPort", strings=True)
            name = string_field(entry.get("name"), where, f"{spot}.ports[{position}].name")
            ports.append(ContainerPort(port, _protocol(entry.get("protocol"), where), name))
    return tuple(ports)


def parse_pod(obj: Mapping[str, Any], source: str) -> tuple[Pod, bool]:
    """The pod, and whether NetworkPolicy governs it (not for hostNetwork or finished pods)."""
    name, namespace, labels = _meta(obj, source, namespaced=True)
    where = f"{source}: Pod {namespace}/{name}"
    spec = mapping_field(obj.get("spec"), where, "spec")
    status = mapping_field(obj.get("status"), where, "status")
    ip = status.get("podIP") or None
    if ip is not None and not _IPV4.fullmatch(string_field(ip, where, "status.podIP")):
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InputError(f"{where}: status.podIP {shown(ip)} is not an IP address") from None
    ports = parse_container_ports(spec.get("containers"), where)
    governed = not spec.get("hostNetwork") and status.get("phase") not in ("Succeeded", "Failed")
    return Pod(namespace, name, labels, ip, ports), governed


def _network(text: Any, where: str) -> IPNetwork:
    if isinstance(text, str):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            pass
    raise InputError(f"{where}: invalid CIDR {shown(text)} (write it like 10.0.0.0/8)")


def parse_ip_block(raw: Any, where: str) -> IPBlock:
    if not isinstance(raw, Mapping) or "cidr" not in raw:
        raise InputError(f"{where}: ipBlock needs a cidr")
    cidr = _network(raw["cidr"], where)
    excepts = []
    for text in list_field(raw.get("except"), where, "ipBlock.except"):
        hole = _network(text, where)
        if hole.version != cidr.version or not hole.subnet_of(cidr):  # type: ignore[arg-type]
            raise InputError(f"{where}: except {hole} is not inside cidr {cidr}")
        excepts.append(hole)
    return IPBlock(cidr, tuple(excepts))


def _peer(raw: Any, where: str) -> Peer:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: a peer must be a mapping, not {kind_of(raw)}")
    unknown = field_names(raw) - {"podSelector", "namespaceSelector", "ipBlock"}
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
        raise InputError(f"{where}: a port entry must be a mapping, not {kind_of(raw)}")
    protocol = _protocol(raw.get("protocol"), where)
    port = raw.get("port")
    end = raw.get("endPort")
    if isinstance(port, str) and decimal(port):
        port = port_number(port, where, strings=True)
    elif port is not None and not isinstance(port, str):
        if isinstance(port, bool) or not isinstance(port, int):
            raise InputError(f"{where}: port {shown(port)} must be a number or a port name")
        port = port_number(port, where)
    elif isinstance(port, str) and not _PORT_NAME.fullmatch(port):
        raise InputError(
            f"{where}: port {shown(port)} is neither a number nor a port name (at most 15 lower-case "
            "letters, digits and single '-', with a letter)"
        )
    if end is not None:
        if not isinstance(port, int):
            raise InputError(f"{where}: endPort needs a numeric port")
        if isinstance(end, bool) or not isinstance(end, int) or end < port or end > 65535:
            raise InputError(f"{where}: endPort {shown(end)} must be a number between port {port} and 65535")
    return PolicyPort(protocol, port, end)


def _rules(raw: Any, direction: str, where: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"{where}: spec.{direction} must be a list of rules, not {kind_of(raw)}")
    peer_key = "from" if direction == "ingress" else "to"
    rules = []
    for number, item in enumerate(raw):
        spot = f"{where}: spec.{direction}[{number}]"
        item = item or {}
        if not isinstance(item, Mapping):
            raise InputError(f"{spot} must be a mapping, not {kind_of(item)}")
        unknown = field_names(item) - {peer_key, "ports"}
        if unknown:
            raise InputError(
                f"{spot}: unknown field(s) {', '.join(sorted(unknown))} (expected {peer_key}, ports)"
            )
        peers = tuple(
            _peer(p, f"{spot}.{peer_key}[{i}]")
            for i, p in enumerate(list_field(item.get(peer_key), spot, peer_key))
        )
        ports = tuple(
            _port(p, f"{spot}.ports[{i}]") for i, p in enumerate(list_field(item.get("ports"), spot, "ports"))
        )
        rules.append(Rule(peers, ports))
    return tuple(rules)


def policy_types(raw: Any, where: str, what: str) -> frozenset[str] | None:
    """``policyTypes`` (or Calico's ``types``): a list of Ingress and Egress; None when not given."""
    if not raw:
        return None
    types = list_field(raw, where, what)
    bad = [t for t in types if t not in ("Ingress", "Egress")]
    if bad:
        raise InputError(f"{where}: unknown {what} {shown(bad)} (use Ingress, Egress)")
    return frozenset(str(t) for t in types)


def parse_policy(obj: Mapping[str, Any], source: str) -> Policy:
    name, namespace, _ = _meta(obj, source, namespaced=True)
    where = f"{source}: NetworkPolicy {namespace}/{name}"
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: missing spec" if spec is None else f"{where}: spec must be a mapping")
    try:
        selector = parse_selector(spec.get("podSelector"), "spec.podSelector")
    except SelectorError as error:
        raise InputError(f"{where}: {error}") from None
    ingress = _rules(spec.get("ingress"), "ingress", where)
    egress = _rules(spec.get("egress"), "egress", where)
    types = policy_types(spec.get("policyTypes"), where, "spec.policyTypes")
    if types is None:
        # pkg/apis/networking/v1/defaults.go: Ingress always; Egress only if there is at
        # least one egress rule (`egress: []` does not count).
        types = frozenset({"Ingress", "Egress"} if egress else {"Ingress"})
    return Policy(namespace, name, selector, ingress, egress, types, source)


def parse_service(obj: Mapping[str, Any], source: str) -> Service:
    name, namespace, _ = _meta(obj, source, namespaced=True)
    where = f"{source}: Service {namespace}/{name}"
    spec = mapping_field(obj.get("spec"), where, "spec")
    selector = spec.get("selector")
    ports = []
    for number, entry in enumerate(list_field(spec.get("ports"), where, "spec.ports")):
        if not isinstance(entry, Mapping) or "port" not in entry:
            raise InputError(f"{where}: a Service port without port")
        spot = f"spec.ports[{number}]"
        port = port_number(entry["port"], where, f"{spot}.port", strings=True)
        target: int | str = port
        if entry.get("targetPort") is not None:
            raw = entry["targetPort"]
            if isinstance(raw, str) and raw and not decimal(raw):
                target = raw  # a named port, resolved on each pod behind the Service
            else:
                target = port_number(raw, where, f"{spot}.targetPort", strings=True)
        ports.append(
            ServicePort(
                port,
                target,
                _protocol(entry.get("protocol"), where),
                string_field(entry.get("name"), where, f"{spot}.name"),
            )
        )
    cluster_ip = string_field(spec.get("clusterIP"), where, "spec.clusterIP")
    return Service(
        namespace,
        name,
        labels_field(selector, where, "spec.selector") if selector is not None else None,
        tuple(ports),
        cluster_ip if cluster_ip and cluster_ip != "None" else None,
    )
