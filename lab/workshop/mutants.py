"""How good is a stage's probe set? Near-miss versions of its policies, and which of them its table
catches.

Each mutant changes one thing in one policy in force at the stage, the way people get it wrong:

* ``and-split``: a peer with a namespaceSelector AND a podSelector becomes two peers (OR);
* ``drop-namespace-selector``: the same peer loses its namespaceSelector (the podSelector then
  means the policy's own namespace);
* ``udp-without-tcp``: a port listed over UDP and TCP keeps only UDP (DNS's classic trap);
* ``missing-except``: an ipBlock (or a Calico rule's notNets) loses one of its exceptions;
* ``label-typo``: one label value a selector matches is misspelt;
* ``port-off-by-one``: one port number is one higher;
* ``policy-types-dropped``: ``policyTypes`` is left out, so the API server's default applies
  (Ingress, plus Egress only when there are egress rules); mutants that mean the same as the
  original are not generated.

A mutant is caught when some judged cell of the stage's ``expect.txt`` comes out differently
(both computed by the evaluator, so the verdict does not depend on whether the table is up to
date). For a survivor, a probe that would catch it is searched among cells the table does not
have: the lab's pods on other ports and protocols, CoreDNS over TCP, addresses inside each
carved-out range, and pods the lab does not run (a pod without labels in a lab namespace, a pod
with a workload's labels in another namespace or a new one); the cheapest that tells the two
apart is proposed, with the verdict the stage's policies give. When none does, the mutant is
equivalent at this stage: other policies give the same verdicts (a default deny on the other
side, usually).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import pins, scenario
from lab.matrix import Verdict
from lab.policy.engine import Engine
from lab.policy.model import ClusterState, Pod
from lab.workshop.check import NEWCOMER_NAMESPACE, STRANGER, extend_state, newcomer_namespace, probe_pod
from lab.workshop.lab_matrix import expected_lab_matrix
from lab.workshop.lab_state import DNS_LABELS, DNS_NAMESPACE, load_stage_state
from lab.workshop.stages import Stage, cumulative_documents, load_stages, stage_by_name

Document = dict[str, Any]
OPERATORS: dict[str, str] = {
    "and-split": "AND peer split into two OR peers",
    "drop-namespace-selector": "namespaceSelector dropped from a peer",
    "udp-without-tcp": "a port over UDP without TCP",
    "missing-except": "an exception of an address block missing",
    "label-typo": "a label value misspelt",
    "port-off-by-one": "a port one higher",
    "policy-types-dropped": "policyTypes left out",
}
DNS_PORT = 53


@dataclass(frozen=True)
class Mutant:
    operator: str
    policy: str  # "NetworkPolicy backend/backend-from-frontend"
    where: str  # "spec.ingress[0].from[0]"
    change: str  # what changed, in words
    documents: tuple[Document, ...] = field(repr=False, default=())  # the stage's objects, this one mutated
    index: int = 0  # which of them

    @property
    def name(self) -> str:
        return f"{self.operator} {self.policy} {self.where}"


@dataclass(frozen=True)
class Probe:
    """A cell the table could have: from a pod (perhaps one the lab does not run) to a target."""

    source: str  # as shown: a workload, or "a new pod ... in namespace X"
    target: str  # "backend:80", "kube-system/coredns:53/TCP", "10.96.0.1:443"
    expected: Verdict  # what the stage's own policies give
    mutant: Verdict
    needs: str = ""  # what the probe set must add for it ("" when the lab's pods suffice)

    def describe(self) -> str:
        verdicts = f"expected {self.expected.value}; the mutant gives {self.mutant.value}"
        return f"{self.source} -> {self.target} ({verdicts})"


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    caught_by: tuple[tuple[str, str, Verdict, Verdict], ...]  # (row, column, expected, mutant)
    proposal: Probe | None = None
    why_equivalent: str = ""
    masked_by: str = ""  # the policy without which a probe would catch it (an equivalent mutant)
    unmasked: Probe | None = None  # that probe

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


@dataclass
class MutantReport:
    stage: Stage
    results: list[MutantResult]
    judged_cells: int

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.results if not r.caught]


# -- generating ---------------------------------------------------------------------------------


def _typo(value: str) -> str:
    """A plausible misspelling: the last two letters swapped (``frontend`` -> ``frontedn``)."""
    if len(value) >= 2 and value[-1] != value[-2]:
        return value[:-2] + value[-1] + value[-2]
    return value + "x"


def _name(document: Mapping[str, Any]) -> str:
    meta = document.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{document.get('kind')} {namespace}{meta.get('name')}"


def _is_k8s_policy(document: Mapping[str, Any]) -> bool:
    return document.get("kind") == "NetworkPolicy" and str(document.get("apiVersion", "")).startswith(
        "networking.k8s.io/"
    )


Edit = Callable[[Document], None]


def _rules(spec: Mapping[str, Any]) -> Iterator[tuple[str, int, dict[str, Any], str]]:
    """(direction, number, rule, peers field) of a NetworkPolicy's spec."""
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for number, rule in enumerate(spec.get(direction) or []):
            if isinstance(rule, dict):
                yield direction, number, rule, peers


def _k8s_edits(document: Document) -> Iterator[tuple[str, str, str, Edit]]:
    """(operator, where, change, edit) for every near miss of one NetworkPolicy."""
    spec = document.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        defaulted = {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}
        if set(types) != defaulted:

            def drop_types(doc: Document) -> None:
                del doc["spec"]["policyTypes"]

            change = f"policyTypes {list(types)} left out (the default is {sorted(defaulted)})"
            yield "policy-types-dropped", "spec.policyTypes", change, drop_types
    for direction, number, rule, peers_field in _rules(spec):
        base = f"spec.{direction}[{number}]"
        for position, peer in enumerate(rule.get(peers_field) or []):
            if not isinstance(peer, dict):
                continue
            where = f"{base}.{peers_field}[{position}]"
            if "namespaceSelector" in peer and "podSelector" in peer:

                def split(
                    doc: Document,
                    d: str = direction,
                    n: int = number,
                    p: int = position,
                    f: str = peers_field,
                ) -> None:
                    peers = doc["spec"][d][n][f]
                    both = peers.pop(p)
                    peers[p:p] = [
                        {"namespaceSelector": both["namespaceSelector"]},
                        {"podSelector": both["podSelector"]},
                    ]

                def drop_ns(
                    doc: Document,
                    d: str = direction,
                    n: int = number,
                    p: int = position,
                    f: str = peers_field,
                ) -> None:
                    del doc["spec"][d][n][f][p]["namespaceSelector"]

                yield "and-split", where, "namespaceSelector and podSelector in two peers (OR)", split
                yield "drop-namespace-selector", where, "namespaceSelector dropped", drop_ns
            block = peer.get("ipBlock")
            if isinstance(block, dict):
                for hole_number, hole in enumerate(block.get("except") or []):

                    def drop_hole(
                        doc: Document,
                        d: str = direction,
                        n: int = number,
                        p: int = position,
                        h: int = hole_number,
                        f: str = peers_field,
                    ) -> None:
                        del doc["spec"][d][n][f][p]["ipBlock"]["except"][h]

                    yield (
                        "missing-except",
                        f"{where}.ipBlock.except[{hole_number}]",
                        f"except {hole} missing",
                        drop_hole,
                    )
        ports = rule.get("ports") or []
        for position, entry in enumerate(ports):
            if not isinstance(entry, dict):
                continue
            where = f"{base}.ports[{position}]"
            protocol = entry.get("protocol", "TCP")
            if protocol == "TCP" and any(
                isinstance(e, dict) and e.get("protocol") == "UDP" and e.get("port") == entry.get("port")
                for e in ports
            ):

                def drop_tcp(doc: Document, d: str = direction, n: int = number, p: int = position) -> None:
                    del doc["spec"][d][n]["ports"][p]

                yield "udp-without-tcp", where, f"TCP {entry.get('port')} dropped, UDP kept", drop_tcp
            if isinstance(entry.get("port"), int) and not isinstance(entry.get("port"), bool):

                def bump(doc: Document, d: str = direction, n: int = number, p: int = position) -> None:
                    doc["spec"][d][n]["ports"][p]["port"] += 1

                yield "port-off-by-one", f"{where}.port", f"port {entry['port']} -> {entry['port'] + 1}", bump


def _selector_edits(node: Any, path: list[Any], where: str) -> Iterator[tuple[str, str, str, Edit]]:
    """A typo in each label value a selector matches: matchLabels and matchExpressions values (any
    policy kind), and the quoted values of a Calico selector string."""
    if isinstance(node, dict):
        for key, value in node.items():
            spot = f"{where}.{key}" if where else str(key)
            if key == "matchLabels" and isinstance(value, dict):
                for label, text in value.items():
                    if isinstance(text, str) and text:

                        def typo(doc: Document, p: list[Any] = [*path, key, label]) -> None:  # noqa: B006
                            _set(doc, p, _typo(_get(doc, p)))

                        yield "label-typo", f"{spot}.{label}", f"{text!r} -> {_typo(text)!r}", typo
            elif key == "matchExpressions" and isinstance(value, list):
                for number, expression in enumerate(value):
                    for position, text in enumerate((expression or {}).get("values") or []):
                        if isinstance(text, str) and text:
                            step = [*path, key, number, "values", position]

                            def typo_value(doc: Document, p: list[Any] = step) -> None:
                                _set(doc, p, _typo(_get(doc, p)))

                            rule = f"{expression.get('key')} {expression.get('operator')}"
                            change = f"{text!r} -> {_typo(text)!r} in {rule}"
                            yield "label-typo", f"{spot}[{number}].values[{position}]", change, typo_value
            elif key in ("selector", "namespaceSelector") and isinstance(value, str):
                for match in re.finditer(r'"([^"]+)"', value):
                    text = match.group(1)

                    step = [*path, key]

                    def typo_calico(doc: Document, p: list[Any] = step, m: re.Match[str] = match) -> None:
                        old = _get(doc, p)
                        _set(doc, p, old[: m.start(1)] + _typo(m.group(1)) + old[m.end(1) :])

                    yield "label-typo", spot, f'"{text}" -> "{_typo(text)}"', typo_calico
            else:
                yield from _selector_edits(value, [*path, key], spot)
    elif isinstance(node, list):
        for number, item in enumerate(node):
            yield from _selector_edits(item, [*path, number], f"{where}[{number}]")


def _other_edits(document: Document) -> Iterator[tuple[str, str, str, Edit]]:
    """Ports and carve-outs of Calico's policies and ClusterNetworkPolicies."""
    spec = document.get("spec") or {}
    for direction in ("ingress", "egress"):
        rules = spec.get(direction) or []
        for number, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            base = f"spec.{direction}[{number}]"
            for side in ("destination", "source"):  # Calico
                entity = rule.get(side) or {}
                for position, port in enumerate(entity.get("ports") or []):
                    if isinstance(port, int) and not isinstance(port, bool):

                        def bump(
                            doc: Document,
                            d: str = direction,
                            n: int = number,
                            s: str = side,
                            p: int = position,
                        ) -> None:
                            doc["spec"][d][n][s]["ports"][p] += 1

                        yield (
                            "port-off-by-one",
                            f"{base}.{side}.ports[{position}]",
                            f"port {port} -> {port + 1}",
                            bump,
                        )
                for position, net in enumerate(entity.get("notNets") or []):

                    def drop_net(
                        doc: Document, d: str = direction, n: int = number, s: str = side, p: int = position
                    ) -> None:
                        del doc["spec"][d][n][s]["notNets"][p]

                    yield (
                        "missing-except",
                        f"{base}.{side}.notNets[{position}]",
                        f"notNets {net} missing",
                        drop_net,
                    )
            if rule.get("protocol") == "TCP" and rule.get("action") == "Allow":  # Calico: a UDP twin rule
                twin = {**rule, "protocol": "UDP"}
                if any(r == twin for r in rules):

                    def drop_rule(doc: Document, d: str = direction, n: int = number) -> None:
                        del doc["spec"][d][n]

                    yield "udp-without-tcp", base, "the TCP twin of a UDP rule dropped", drop_rule
            protocols = rule.get("protocols") or []  # ClusterNetworkPolicy
            for position, entry in enumerate(protocols):
                if not isinstance(entry, dict):
                    continue
                for protocol, value in entry.items():
                    number_of = (
                        ((value or {}).get("destinationPort") or {}).get("number")
                        if isinstance(value, dict)
                        else None
                    )
                    if not isinstance(number_of, int):
                        continue
                    where = f"{base}.protocols[{position}].{protocol}.destinationPort.number"

                    def bump_cnp(
                        doc: Document,
                        d: str = direction,
                        n: int = number,
                        p: int = position,
                        q: str = protocol,
                    ) -> None:
                        doc["spec"][d][n]["protocols"][p][q]["destinationPort"]["number"] += 1

                    yield "port-off-by-one", where, f"port {number_of} -> {number_of + 1}", bump_cnp
                    udp = {"udp": {"destinationPort": {"number": number_of}}}
                    if protocol == "tcp" and udp in protocols:

                        def drop_tcp(
                            doc: Document, d: str = direction, n: int = number, p: int = position
                        ) -> None:
                            del doc["spec"][d][n]["protocols"][p]

                        yield (
                            "udp-without-tcp",
                            f"{base}.protocols[{position}]",
                            f"TCP {number_of} dropped, UDP kept",
                            drop_tcp,
                        )


def _get(node: Any, path: Sequence[Any]) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(node: Any, path: Sequence[Any], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def generate(documents: Sequence[Document]) -> list[Mutant]:
    """Every near miss of every policy among ``documents`` (the objects in force at a stage)."""
    mutants = []
    for index, document in enumerate(documents):
        edits: list[tuple[str, str, str, Edit]] = []
        if _is_k8s_policy(document):
            edits.extend(_k8s_edits(document))
        else:
            edits.extend(_other_edits(document))
        edits.extend(_selector_edits(document.get("spec") or {}, ["spec"], "spec"))
        for operator, where, change, edit in edits:
            mutated = copy.deepcopy(document)
            edit(mutated)
            others = [copy.deepcopy(d) for d in documents]
            others[index] = mutated
            mutants.append(Mutant(operator, _name(document), where, change, tuple(others), index))
    order = list(OPERATORS)
    return sorted(mutants, key=lambda m: (order.index(m.operator), m.policy, m.where))


# -- the candidate probes -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    key: str  # the pod, NAMESPACE/NAME
    shown: str
    needs: str
    cost: int


def _candidate_pods() -> tuple[list[Document], list[_Source]]:
    """Pods the lab does not run, each a possible source or destination of a proposed probe."""
    documents: list[Document] = [newcomer_namespace()]
    sources: list[_Source] = []
    for namespace in (*scenario.LAB_NAMESPACES, NEWCOMER_NAMESPACE):
        documents.append(probe_pod(namespace, STRANGER, {"app": STRANGER}, "stranger"))
        what = f"a new pod without labels in namespace {namespace}"
        sources.append(
            _Source(f"{namespace}/{STRANGER}", what, what, 2 if namespace != NEWCOMER_NAMESPACE else 3)
        )
        for workload in scenario.WORKLOADS:
            if workload.namespace == namespace:
                continue
            labels = {"app": workload.name, "role": workload.role}
            name = f"like-{workload.name}"
            documents.append(probe_pod(namespace, name, labels, "lookalike"))
            what = f"a pod labelled role={workload.role} (like {workload.name}) in namespace {namespace}"
            sources.append(
                _Source(f"{namespace}/{name}", what, what, 2 if namespace != NEWCOMER_NAMESPACE else 3)
            )
        if namespace != NEWCOMER_NAMESPACE:  # a pod that claims CoreDNS's label, outside kube-system
            documents.append(
                probe_pod(namespace, "like-coredns", {"app": "like-coredns", **DNS_LABELS}, "lookalike")
            )
            what = f"a pod labelled k8s-app=kube-dns (like CoreDNS) in namespace {namespace}"
            sources.append(_Source(f"{namespace}/like-coredns", what, what, 2))
    documents.append(probe_pod(DNS_NAMESPACE, STRANGER, {"app": STRANGER}, "stranger"))
    what = f"a new pod without labels in namespace {DNS_NAMESPACE}"
    sources.append(_Source(f"{DNS_NAMESPACE}/{STRANGER}", what, what, 2))
    return documents, sources


def _ports(documents: Sequence[Document]) -> list[tuple[int, str]]:
    """Every port the policies name, its neighbour, the workloads' ports, DNS; over TCP and UDP."""
    numbers = {w.port for w in scenario.WORKLOADS} | {DNS_PORT}

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif key in ("port", "number", "ports") and isinstance(node, int) and not isinstance(node, bool):
            numbers.update({node, node + 1} if 0 < node < 65535 else set())

    for document in documents:
        walk(document.get("spec") or {})
    return [(n, p) for n in sorted(numbers) for p in ("TCP", "UDP")]


def _addresses(documents: Sequence[Document], outside: str) -> list[tuple[str, int, str, str]]:
    """(ip, port, shown, note) outside the pod network: the lab's targets, then one address inside
    every carved-out or named range (not the Service subnet: policies never see Service addresses,
    they see the pod a Service leads to)."""
    public, _, port = outside.rpartition(":")
    found = [(public.strip("[]"), int(port), "outside", ""), (pins.METADATA_IP, 80, "metadata", "")]
    services = ipaddress.IPv4Network(pins.SERVICE_SUBNET)
    pods = ipaddress.IPv4Network(pins.POD_SUBNET)
    ranges: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif key in ("except", "cidr", "nets", "notNets", "networks") and isinstance(node, str):
            ranges.append(node)

    for document in documents:
        walk(document.get("spec") or {})
    for text in ranges:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if (
            network.version != 4
            or network.prefixlen == 0
            or network.subnet_of(services)
            or network.subnet_of(pods)
        ):
            continue
        address = (
            str(network.network_address + 1) if network.num_addresses > 2 else str(network.network_address)
        )
        for number in (80, 443):
            found.append(
                (address, number, f"{address}:{number}", f"an address in {network} that answers on {number}")
            )
    return found


# -- judging ------------------------------------------------------------------------------------


def _table_cells(stage: Stage) -> list[tuple[str, str]]:
    return [(r, c) for r, c, cell in stage.expect if cell.verdict != Verdict.NOT_JUDGED]


def _state(base: ClusterState, documents: Sequence[Document], extra: Sequence[Document]) -> ClusterState:
    return extend_state(base, [*extra, *documents], source="mutant")


def _shown_pod(pod: Pod, sources: Mapping[str, _Source], *, source: bool) -> tuple[str, str, int]:
    """How a probe names a pod, what the probe set must add for it, and what that costs."""
    made_up = sources.get(pod.key)
    if made_up is not None:
        return made_up.shown, made_up.needs, made_up.cost
    for workload in scenario.WORKLOADS:
        if pod.namespace == workload.namespace and pod.labels.get("app") == workload.name:
            return workload.name, "", 0
    if pod.namespace == DNS_NAMESPACE:
        if source:  # CoreDNS's image has no shell and no agnhost to probe from
            return f"a pod in {DNS_NAMESPACE}", f"a pod in {DNS_NAMESPACE} to probe from", 3
        return f"{DNS_NAMESPACE}/coredns", "", 0
    raise KeyError(pod.key)  # every pod of the state is a lab pod, CoreDNS or a candidate


class _Verdicts:
    """An engine's answers, each computed once (the stage's engine is asked for every mutant)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pods = engine.pods
        self._matrices: dict[tuple[int, str], list[int]] = {}
        self._addresses: dict[tuple[int, str, int], bool] = {}

    def matrix(self, port: int, protocol: str) -> list[int]:
        key = (port, protocol)
        if key not in self._matrices:
            self._matrices[key] = self.engine.matrix(port, protocol)
        return self._matrices[key]

    def ip_allowed(self, source: int, ip: str, port: int) -> bool:
        key = (source, ip, port)
        if key not in self._addresses:
            self._addresses[key] = self.engine.ip_allowed(source, ip, port, "TCP")
        return self._addresses[key]


def _propose(
    original: _Verdicts,
    mutant: _Verdicts,
    sources: Mapping[str, _Source],
    ports: Sequence[tuple[int, str]],
    addresses: Sequence[tuple[str, int, str, str]],
) -> Probe | None:
    """The cheapest cell that tells the two apart: lab pods before pods the lab does not run, TCP
    before UDP, a low port before a high one."""
    best: tuple[tuple[int, ...], Probe] | None = None
    pods = original.pods
    for port, protocol in ports:
        before, after = original.matrix(port, protocol), mutant.matrix(port, protocol)
        for d, (was, now) in enumerate(zip(before, after, strict=True)):
            differs = was ^ now
            if not differs:
                continue
            target_shown, target_needs, target_cost = _shown_pod(pods[d], sources, source=False)
            for s in range(len(pods)):
                if not differs >> s & 1:
                    continue
                source_shown, source_needs, source_cost = _shown_pod(pods[s], sources, source=True)
                cost = (source_cost + target_cost, protocol != "TCP", port)
                if best is not None and cost >= best[0]:
                    continue
                target = target_shown if target_cost == 0 else f"[{target_shown}]"
                column = f"{target}:{port}" + ("" if protocol == "TCP" else f"/{protocol}")
                needs = " and ".join(n for n in (source_needs, target_needs) if n)
                expected = Verdict.ALLOW if was >> s & 1 else Verdict.DENY
                flipped = Verdict.DENY if expected == Verdict.ALLOW else Verdict.ALLOW
                best = (cost, Probe(source_shown, column, expected, flipped, needs))
    for s, pod in enumerate(pods):
        source_shown, source_needs, source_cost = _shown_pod(pod, sources, source=True)
        for ip, port, shown, note in addresses:
            was = original.ip_allowed(s, ip, port)
            if was == mutant.ip_allowed(s, ip, port):
                continue
            cost = (source_cost + (1 if note else 0), False, port)
            if best is not None and cost >= best[0]:
                continue
            expected = Verdict.ALLOW if was else Verdict.DENY
            flipped = Verdict.DENY if was else Verdict.ALLOW
            needs = " and ".join(n for n in (source_needs, note) if n)
            best = (cost, Probe(source_shown, shown, expected, flipped, needs))
    return best[1] if best else None


def _namespace(document: Mapping[str, Any]) -> str | None:
    return (document.get("metadata") or {}).get("namespace")


def _masking(
    base: ClusterState,
    documents: Sequence[Document],
    mutant: Mutant,
    extra: Sequence[Document],
    sources: Mapping[str, _Source],
    ports: Sequence[tuple[int, str]],
    addresses: Sequence[tuple[str, int, str, str]],
    without: dict[tuple[int, ...], _Verdicts],
) -> tuple[str, Probe | None]:
    """What hides an equivalent mutant: without it (in both worlds), some probe would tell the two
    apart. Tried first: each policy of the mutated one's namespace and each cluster-wide one; then
    all the policies of one namespace at once (a pair of default denies often masks together).
    ``without`` caches the stage minus each of those."""
    home = _namespace(documents[mutant.index])
    policies = [
        i for i, d in enumerate(documents) if i != mutant.index and str(d.get("kind", "")).endswith("Policy")
    ]
    groups: list[tuple[str, tuple[int, ...]]] = [
        (_name(documents[i]), (i,)) for i in policies if _namespace(documents[i]) in (None, home)
    ]
    for namespace in sorted({n for i in policies if (n := _namespace(documents[i]))}):
        members = tuple(i for i in policies if _namespace(documents[i]) == namespace)
        if len(members) > 1 or namespace != home:
            names = ", ".join(_name(documents[i]).split("/", 1)[1] for i in members)
            groups.append((f"the policies of namespace {namespace} ({names})", members))
    for what, removed in groups:
        if removed not in without:
            kept = [d for i, d in enumerate(documents) if i not in removed]
            without[removed] = _Verdicts(Engine(_state(base, kept, extra)))
        changed = [d for i, d in enumerate(mutant.documents) if i not in removed]
        probe = _propose(
            without[removed], _Verdicts(Engine(_state(base, changed, extra))), sources, ports, addresses
        )
        if probe is not None:
            return what, probe
    return "", None


def run_mutants(root: Path, stage_name: str, *, outside: str = pins.OUTSIDE_TARGET) -> MutantReport:
    stages = load_stages(root)
    stage = stage_by_name(stages, stage_name)
    documents = cumulative_documents(stages, stage.number)
    cells = _table_cells(stage)
    extra, candidates = _candidate_pods()
    sources = {c.key: c for c in candidates}
    ports = _ports(documents)
    addresses = _addresses(documents, outside)
    base = load_stage_state(root, "0", outside=outside)  # the lab without a policy
    original_state = _state(base, documents, extra)
    original = _Verdicts(Engine(original_state))
    original_matrix = expected_lab_matrix(original_state, outside=outside)
    results = []
    without: dict[tuple[int, ...], _Verdicts] = {}
    for mutant in generate(documents):
        state = _state(base, mutant.documents, extra)
        matrix = expected_lab_matrix(state, outside=outside)
        caught = tuple(
            (row, column, original_matrix.get(row, column).verdict, matrix.get(row, column).verdict)
            for row, column in cells
            if original_matrix.get(row, column).verdict != matrix.get(row, column).verdict
        )
        if caught:
            results.append(MutantResult(mutant, caught))
            continue
        proposal = _propose(original, _Verdicts(Engine(state)), sources, ports, addresses)
        if proposal is not None:
            results.append(MutantResult(mutant, (), proposal))
            continue
        masked_by, unmasked = _masking(base, documents, mutant, extra, sources, ports, addresses, without)
        why = "no probe tells it apart at this stage: other policies give the same verdicts"
        results.append(MutantResult(mutant, (), None, why, masked_by, unmasked))
    return MutantReport(stage, results, len(cells))
