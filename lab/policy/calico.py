"""The Calico policy subset the lab understands: projectcalico.org/v3 GlobalNetworkPolicy and NetworkPolicy.

Semantics (Calico's policy resource reference; felix rules/policy.go and rules/endpoints.go),
tier by tier (``lab.policy.tiers``):

* In a tier, the policies that select a pod for a direction are evaluated in ``order``, lowest
  first (a policy without ``order`` comes last; equal orders by name). Kubernetes
  NetworkPolicies take part in tier ``default`` at order 1000 with Allow rules.
* Within a policy, rules are tried in order: the first whose criteria all match decides:
  ``Allow`` or ``Deny``; ``Pass`` skips the rest of the tier; ``Log`` records and goes on.
* If the tier's policies selected the pod and none decided, the tier's default action (Deny,
  or Pass on) applies; a tier that selects nothing is skipped; after the last tier the
  namespace's profile allows.
* Selectors see the labels Calico adds: ``projectcalico.org/namespace`` and
  ``projectcalico.org/orchestrator`` on pods, ``projectcalico.org/name`` on namespaces.

Understood fields: ``tier``, ``order``, ``selector``, ``namespaceSelector`` (global policies),
``types``, rules with ``action``, ``protocol``, ``ipVersion``, ``metadata``, and
``source``/``destination`` with ``selector``, ``namespaceSelector``, ``nets``, ``notNets``,
``services`` (the pods behind a Service) and (destination) ``ports``. Anything else is refused
with its field named: a verdict computed while ignoring a field could be wrong unnoticed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.policy.calico_selectors import CalicoSelector, parse_calico_selector
from lab.policy.model import (
    PROTOCOLS,
    InputError,
    IPAddress,
    IPNetwork,
    Pod,
    decimal,
    field_names,
    kind_of,
    list_field,
    order_number,
    policy_types,
    shown,
    string_field,
)
from lab.policy.selectors import SelectorError

KINDS = ("GlobalNetworkPolicy", "NetworkPolicy")
# Staged policies are previews: Calico never enforces them (felix renders no rules for them).
STAGED_KINDS = ("StagedGlobalNetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy")
ACTIONS = ("Allow", "Deny", "Pass", "Log")
CLUSTER_KINDS = (
    "tiers.projectcalico.org,globalnetworkpolicies.projectcalico.org,networkpolicies.projectcalico.org"
)
# The labels Calico adds to what selectors see (libcalico-go's names for them).
NAMESPACE_LABEL = "projectcalico.org/namespace"  # on every pod: its namespace
ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"  # on every pod: k8s
NAME_LABEL = "projectcalico.org/name"  # on every namespace: its name


def pod_labels(labels: Mapping[str, str], namespace: str) -> dict[str, str]:
    """A pod's labels as Calico's selectors see them."""
    return {**labels, NAMESPACE_LABEL: namespace, ORCHESTRATOR_LABEL: "k8s"}


def namespace_labels(labels: Mapping[str, str], name: str) -> dict[str, str]:
    """A namespace's labels as Calico's namespaceSelector sees them."""
    return {**labels, NAME_LABEL: name}


_PROTOCOL_NUMBERS = {"6": "TCP", "17": "UDP", "132": "SCTP"}
_OTHER_PROTOCOLS = ("ICMP", "ICMPv6", "UDPLite")
_SPEC_FIELDS = {"order", "selector", "namespaceSelector", "types", "ingress", "egress", "tier"}
_RULE_FIELDS = {"action", "protocol", "ipVersion", "metadata", "source", "destination"}
_ENTITY_FIELDS = {"selector", "namespaceSelector", "nets", "notNets", "ports", "services"}


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int
    name: str = ""  # a named port (resolved on the destination pod); first/last unused then

    def describe(self) -> str:
        if self.name:
            return f"port named {self.name!r}"
        return str(self.first) if self.first == self.last else f"{self.first}:{self.last}"


@dataclass(frozen=True)
class Entity:
    """``source`` or ``destination`` of a rule; every criterion given must match."""

    selector: CalicoSelector | None = None
    namespace_selector: CalicoSelector | None = None
    nets: tuple[IPNetwork, ...] = ()
    not_nets: tuple[IPNetwork, ...] = ()
    ports: tuple[PortRange, ...] = ()
    service: tuple[str, str] | None = None  # (namespace, name): the pods behind that Service

    @property
    def selects_pods_only(self) -> bool:
        return self.selector is not None or self.namespace_selector is not None or self.service is not None

    def address_ok(self, address: IPAddress | None) -> bool:
        """The nets/notNets criteria against an address (None: no address, fails any nets)."""
        if self.nets and (address is None or not any(address in net for net in self.nets)):
            return False
        return not (self.not_nets and address is not None and any(address in net for net in self.not_nets))

    def describe(self) -> str:
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {self.namespace_selector.describe()}")
        if self.selector is not None:
            parts.append(f"selector {self.selector.describe()}")
        if self.nets:
            parts.append("nets " + ", ".join(map(str, self.nets)))
        if self.not_nets:
            parts.append("notNets " + ", ".join(map(str, self.not_nets)))
        if self.ports:
            parts.append("ports " + ", ".join(p.describe() for p in self.ports))
        if self.service:
            parts.append(f"the pods behind Service {self.service[0]}/{self.service[1]}")
        return " and ".join(parts) or "anything"


@dataclass(frozen=True)
class CalicoRule:
    action: str
    protocol: str | None  # None: every protocol; else TCP/UDP/SCTP or another name (matches none of ours)
    ip_version: int | None
    source: Entity
    destination: Entity


@dataclass(frozen=True)
class CalicoPolicy:
    kind: str  # GlobalNetworkPolicy or NetworkPolicy
    name: str
    namespace: str | None  # None for a global policy
    order: float | None
    tier: str
    selector: CalicoSelector
    namespace_selector: CalicoSelector | None
    types: frozenset[str]
    ingress: tuple[CalicoRule, ...] = ()
    egress: tuple[CalicoRule, ...] = ()
    source: str = ""

    @property
    def key(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @property
    def sort_key(self) -> tuple[float, str]:
        return (float("inf") if self.order is None else self.order, self.name)

    @property
    def affects_ingress(self) -> bool:
        return "Ingress" in self.types

    @property
    def affects_egress(self) -> bool:
        return "Egress" in self.types

    def selects(self, pod: Pod, ns_labels: Mapping[str, str]) -> bool:
        """Whether it selects ``pod`` (its namespace's labels given as Kubernetes keeps them)."""
        if self.namespace is not None and pod.namespace != self.namespace:
            return False
        if self.namespace_selector is not None and not self.namespace_selector.matches(
            namespace_labels(ns_labels, pod.namespace)
        ):
            return False
        return self.selector.matches(pod_labels(pod.labels, pod.namespace))


def _not_understood(where: str, fields: set[str]) -> InputError:
    names = ", ".join(sorted(fields))
    return InputError(
        f"{where}: {names} not understood by this evaluator (it knows the Calico subset the lab uses: "
        "tier, order, selector, namespaceSelector, types, action Allow/Deny/Pass/Log, protocol, "
        "source/destination selector, namespaceSelector, nets, notNets, services, destination ports)"
    )


def _selector(raw: Any, where: str) -> CalicoSelector:
    if not isinstance(raw, str):
        raise InputError(
            f"{where}: a Calico selector is a string such as 'app == \"web\"', not {kind_of(raw)}"
        )
    try:
        return parse_calico_selector(raw)
    except SelectorError as error:
        raise InputError(f"{where}: {error}") from None


def _nets(raw: Any, where: str) -> tuple[IPNetwork, ...]:
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list of CIDRs, not {kind_of(raw)}")
    nets = []
    for item in raw:
        if not isinstance(item, str):
            raise InputError(f"{where}: invalid CIDR {shown(item)} (write it like 10.0.0.0/8)")
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as error:
            raise InputError(f"{where}: invalid CIDR ({error})") from None
    return tuple(nets)


def _port_value(text: str) -> int | None:
    """A port in a Calico port list, 0-65535 (numorstring.Port is a uint16); None when not one."""
    if not decimal(text) or len(text) > 5 or int(text) > 65535:
        return None
    return int(text)


def _ports(raw: Any, where: str) -> tuple[PortRange, ...]:
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list of ports, not {kind_of(raw)}")
    out = []
    for item in raw:
        if isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item <= 65535:
                raise InputError(f"{where}: port {shown(item)} is out of range 0-65535")
            out.append(PortRange(item, item))
        elif isinstance(item, str) and ":" in item:
            first, _, last = (_port_value(part) for part in item.partition(":"))
            if first is None or last is None or first > last:
                raise InputError(f"{where}: port range {shown(item)} must read FIRST:LAST, 0-65535")
            out.append(PortRange(first, last))
        elif isinstance(item, str) and decimal(item):
            number = _port_value(item)
            if number is None:
                raise InputError(f"{where}: port {shown(item)} is out of range 0-65535")
            out.append(PortRange(number, number))
        elif isinstance(item, str) and item:
            out.append(PortRange(0, 0, item))
        else:
            raise InputError(f"{where}: port {shown(item)} is neither a number, a range nor a name")
    return tuple(out)


def _entity(raw: Any, where: str, *, source: bool) -> Entity:
    if raw is None:
        return Entity()
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: must be a mapping, not {kind_of(raw)}")
    unknown = field_names(raw) - _ENTITY_FIELDS
    if source and "ports" in raw:
        unknown.add("ports (source ports)")
    if unknown:
        raise _not_understood(where, {f"{where.rsplit('.', 1)[-1]}.{u}" for u in unknown})
    service = None
    if "services" in raw:
        spec = raw["services"]
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise InputError(f"{where}.services: needs a name (and a namespace)")
        namespace = string_field(spec.get("namespace"), where, "services.namespace") or "default"
        service = (namespace, str(spec["name"]))
    return Entity(
        _selector(raw["selector"], f"{where}.selector") if "selector" in raw else None,
        _selector(raw["namespaceSelector"], f"{where}.namespaceSelector")
        if "namespaceSelector" in raw
        else None,
        _nets(raw["nets"], f"{where}.nets") if "nets" in raw else (),
        _nets(raw["notNets"], f"{where}.notNets") if "notNets" in raw else (),
        _ports(raw["ports"], f"{where}.ports") if "ports" in raw and not source else (),
        service,
    )


def _protocol(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 255:
        raw = str(raw)  # numorstring.Protocol: a number or a name
    if not isinstance(raw, str):
        raise InputError(f"{where}: unknown protocol {shown(raw)}")
    if raw.upper() in PROTOCOLS:
        return raw.upper()
    if raw in _PROTOCOL_NUMBERS:
        return _PROTOCOL_NUMBERS[raw]
    if raw in _OTHER_PROTOCOLS or (decimal(raw) and len(raw) <= 3 and int(raw) <= 255):
        return raw  # a protocol the lab never probes: the rule matches none of its flows
    raise InputError(f"{where}: unknown protocol {shown(raw)}")


def _rule(raw: Any, where: str) -> CalicoRule:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: a rule must be a mapping, not {kind_of(raw)}")
    unknown = field_names(raw) - _RULE_FIELDS
    if unknown:
        raise _not_understood(where, unknown)
    action = raw.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise InputError(f"{where}: action {shown(action)} must be one of {', '.join(ACTIONS)}")
    protocol = _protocol(raw.get("protocol"), f"{where}.protocol")
    destination = _entity(raw.get("destination"), f"{where}.destination", source=False)
    if destination.ports and protocol not in PROTOCOLS:
        raise InputError(
            f"{where}: destination ports need protocol TCP, UDP or SCTP (Calico refuses them otherwise)"
        )
    version = raw.get("ipVersion")
    if version is not None and (isinstance(version, bool) or version not in (4, 6)):
        raise InputError(f"{where}: ipVersion must be 4 or 6")
    return CalicoRule(
        action,
        protocol,
        None if version is None else int(version),
        _entity(raw.get("source"), f"{where}.source", source=True),
        destination,
    )


def parse_calico_policy(obj: Mapping[str, Any], source: str) -> CalicoPolicy:
    kind = str(obj.get("kind"))
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not name:
        raise InputError(f"{source}: a {kind} without metadata.name")
    assert isinstance(meta, Mapping)
    name = string_field(name, f"{source}: {kind} {shown(name)}", "metadata.name")
    namespace = None
    if kind == "NetworkPolicy":
        where = f"{source}: {kind} {name}"
        namespace = string_field(meta.get("namespace"), where, "metadata.namespace") or "default"
    where = f"{source}: {kind} {namespace + '/' if namespace else ''}{name}"
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: missing spec" if spec is None else f"{where}: spec must be a mapping")
    unknown = field_names(spec) - _SPEC_FIELDS
    if kind == "NetworkPolicy" and "namespaceSelector" in spec:
        unknown.add("namespaceSelector (only global policies have one)")
    if unknown:
        raise _not_understood(where, {f"spec.{u}" for u in unknown})
    tier = spec.get("tier") or "default"
    if not isinstance(tier, str):
        raise InputError(f"{where}: spec.tier must be a tier's name")
    order = order_number(spec.get("order"), where, "spec.order")
    ingress = tuple(
        _rule(r, f"{where}: spec.ingress[{i}]")
        for i, r in enumerate(list_field(spec.get("ingress"), where, "spec.ingress"))
    )
    egress = tuple(
        _rule(r, f"{where}: spec.egress[{i}]")
        for i, r in enumerate(list_field(spec.get("egress"), where, "spec.egress"))
    )
    types = policy_types(spec.get("types"), where, "spec.types")
    if types is None:
        # Calico's default: Egress when there are egress rules, Ingress when there are ingress
        # rules or no egress rules at all.
        types = frozenset(
            ({"Ingress"} if ingress or not egress else set()) | ({"Egress"} if egress else set())
        )
    return CalicoPolicy(
        kind,
        name,
        namespace,
        order,
        tier,
        _selector(spec.get("selector", "all()"), f"{where}: spec.selector"),
        _selector(spec["namespaceSelector"], f"{where}: spec.namespaceSelector")
        if "namespaceSelector" in spec
        else None,
        types,
        ingress,
        egress,
        source,
    )


# -- matching one flow (used by explanations and the engine's address path) ----------------------


def protocol_ok(rule: CalicoRule, protocol: str, address: IPAddress | None) -> bool:
    if rule.protocol is not None and rule.protocol != protocol:
        return False
    return rule.ip_version is None or address is None or address.version == rule.ip_version


def ports_ok(entity: Entity, destination: Pod | None, port: int, protocol: str) -> bool:
    if not entity.ports:
        return True
    for entry in entity.ports:
        if entry.name:
            if destination is not None and any(
                c.name == entry.name and c.port == port and c.protocol == protocol for c in destination.ports
            ):
                return True
        elif entry.first <= port <= entry.last:
            return True
    return False


def entity_miss(
    entity: Entity,
    end: Pod | None,
    address: IPAddress | None,
    ns_labels: Mapping[str, str],
    role: str,
    policy_namespace: str | None,
    behind_service: bool = False,
) -> str | None:
    """Why ``entity`` does not match one end of the flow (None when it does).

    In a namespaced policy a ``selector`` without ``namespaceSelector`` means pods of the
    policy's own namespace; in a global policy, pods of every namespace. ``ns_labels`` are the
    end's namespace labels as Kubernetes keeps them; ``behind_service`` whether the end is one of
    the pods behind the entity's ``services``."""
    name = end.key if end else str(address)
    if entity.selects_pods_only and end is None:
        return f"{role} {entity.describe()} picks pods only; {name} is not a pod"
    if end is not None and entity.service is not None and not behind_service:
        return f"{role} {name} is not behind Service {entity.service[0]}/{entity.service[1]}"
    if end is not None:
        calico_ns = namespace_labels(ns_labels, end.namespace)
        calico_pod = pod_labels(end.labels, end.namespace)
        if (
            entity.selector is not None
            and entity.namespace_selector is None
            and policy_namespace is not None
            and end.namespace != policy_namespace
        ):
            return f"{role} selector alone picks pods of namespace '{policy_namespace}' only; {name} is not"
        if entity.namespace_selector is not None and not entity.namespace_selector.matches(calico_ns):
            wanted = entity.namespace_selector.text
            return f"{role} namespace '{end.namespace}' does not match namespaceSelector {wanted}"
        if entity.selector is not None and not entity.selector.matches(calico_pod):
            return f"{role} {name} does not match selector {entity.selector.text}"
    if not entity.address_ok(address):
        nets = entity.describe()
        return f"{role} address {address} does not match {nets}"
    return None
