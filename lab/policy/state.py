"""The evaluator's cluster state from API objects: a saved file, or objects read or modelled elsewhere.

``parse_objects`` turns a list of objects, as ``kubectl get ... -o yaml`` prints them (nested
Lists included), into a ``ClusterState``: namespaces, pods, Services, NetworkPolicies, Calico's
tiers and policies, ClusterNetworkPolicies; ``load_state_file`` reads one from YAML or JSON.
The lab's own modelled state is ``lab.workshop.lab_state``; a live cluster is read by the
commands (``lab.commands._state``) and parsed here.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from lab.policy import calico, cnp
from lab.policy.model import (
    NAMESPACE_NAME_LABEL,
    ClusterState,
    InputError,
    Namespace,
    Pod,
    kind_of,
    list_field,
    object_name,
    parse_namespace,
    parse_pod,
    parse_policy,
    parse_service,
    string_field,
)
from lab.policy.tiers import parse_tier, tiers_of

# libyaml's parser, when PyYAML was built with it (None otherwise).
try:
    from yaml import cyaml

    _CParser: Any = getattr(cyaml, "CParser", None)
except ImportError:
    _CParser = None

# What a live cluster is read as: the kinds every cluster serves, then the optional ones.
CLUSTER_KINDS = "namespaces,pods,networkpolicies.networking.k8s.io,services"
OPTIONAL_KINDS = (
    (calico.CLUSTER_KINDS, "Calico's tiers and policies"),
    (cnp.CLUSTER_KINDS, "ClusterNetworkPolicies"),
)


# -- parsing a list of objects -------------------------------------------------------------


def _flatten(items: Iterable[Any], source: str) -> Iterator[Mapping[str, Any]]:
    """The objects of ``items``, the items of Lists (nested ones too) in their place; each must be a
    mapping with a ``kind``. Iterative: a deep stack of Lists is refused, not recursed into."""
    stack: list[Iterator[Any]] = [iter(items)]
    while stack:
        for item in stack[-1]:
            if not isinstance(item, Mapping):
                raise InputError(f"{source}: an object must be a mapping, not {kind_of(item)}")
            kind = item.get("kind")
            if not isinstance(kind, str) or not kind:
                raise InputError(
                    f"{source}: {object_name(item)}: kind must be a string such as Pod, not {kind_of(kind)}"
                )
            if kind == "List" or (kind.endswith("List") and "items" in item):
                if len(stack) > MAX_LIST_DEPTH:
                    raise InputError(f"{source}: Lists nested more than {MAX_LIST_DEPTH} deep")
                stack.append(iter(list_field(item.get("items"), f"{source}: {kind}", "items")))
                break
            yield item
        else:
            stack.pop()


# Kinds that decide or shape connectivity and that this evaluator does not read: Cilium's and
# Antrea's policies, AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1, removed from
# network-policy-api at v0.2.0), a MultiNetworkPolicy, Calico's kinds in their storage group
# (crd.projectcalico.org) or not modelled (network sets, host endpoints). Any other kind whose name
# says NetworkPolicy counts too. Present in a state, they make every verdict unprovable.
FOREIGN_GROUPS = ("crd.projectcalico.org/", "cilium.io/", "crd.antrea.io/")
CALICO_SHAPING_KINDS = ("GlobalNetworkSet", "NetworkSet", "HostEndpoint")


def not_understood(kind: str, api: str) -> bool:
    if "NetworkPolicy" in kind:
        return True  # the kinds the evaluator reads were matched before this test
    if api.startswith("projectcalico.org/"):
        return kind.endswith("Policy") or kind in CALICO_SHAPING_KINDS
    return api.startswith(FOREIGN_GROUPS) and (kind.endswith("Policy") or kind in CALICO_SHAPING_KINDS)


def refuse_foreign(foreign: list[tuple[str, str]], source: str) -> None:
    """One line naming every object the evaluator cannot read (the first ten), and how to go on."""
    names = ", ".join(f"{name} ({api})" for name, api in foreign[:10]) + (
        ", ..." if len(foreign) > 10 else ""
    )
    hint = ""
    if any(api.startswith("crd.projectcalico.org/") for _, api in foreign):
        hint = (
            "; save Calico's objects as projectcalico.org/v3 "
            "(`kubectl get globalnetworkpolicies.projectcalico.org -o yaml`)"
        )
    raise InputError(
        f"{source}: {len(foreign)} object(s) of kinds this evaluator does not understand, which can change "
        f"the verdicts: {names}: no verdict can be predicted with them; remove them from the file to judge "
        f"the rest without them{hint}"
    )


def parse_objects(items: Iterable[Any], source: str, *, modelled: bool = False) -> ClusterState:
    """Namespaces, Pods, NetworkPolicies and Services from API objects; other kinds are ignored.

    ``modelled``: the pods come later (the stage model), so neither require them nor finish.
    """
    state = ClusterState(source=source)
    skipped: list[str] = []
    staged: list[str] = []
    foreign: list[tuple[str, str]] = []  # (object, apiVersion) of kinds this evaluator does not read
    seen: set[str] = set()
    for obj in _flatten(items, source):
        kind = obj["kind"]
        api = string_field(obj.get("apiVersion"), f"{source}: {object_name(obj)}", "apiVersion")
        if kind == "Namespace":
            namespace = parse_namespace(obj, source)
            state.namespaces[namespace.name] = namespace
        elif kind == "Pod":
            pod, governed = parse_pod(obj, source)
            if pod.key in seen:  # the API server keeps one object per name: two would be two truths
                raise InputError(f"{source}: Pod {pod.key} appears twice")
            seen.add(pod.key)
            if governed:
                state.pods.append(pod)
            else:
                skipped.append(pod.key)
        elif kind == "NetworkPolicy" and api.startswith("networking.k8s.io/"):
            state.policies.append(parse_policy(obj, source))
        elif kind == "Service":
            state.services.append(parse_service(obj, source))
        elif api.startswith("projectcalico.org/") and kind in calico.KINDS:
            state.calico.append(calico.parse_calico_policy(obj, source))
        elif api.startswith("projectcalico.org/") and kind == "Tier":
            tier = parse_tier(obj, source)
            state.tiers[tier.name] = tier
        elif api.startswith("projectcalico.org/") and kind in calico.STAGED_KINDS:
            staged.append(object_name(obj))
        elif kind == cnp.KIND and api == cnp.API_VERSION:
            policy = cnp.parse_cluster_policy(obj, source)
            state.cluster_policies.append(policy)
            state.notes.extend(cnp.unsupported_notes(policy))
        elif not_understood(kind, api):
            foreign.append((object_name(obj), api))
    if foreign:
        refuse_foreign(foreign, source)
    known = tiers_of(state.tiers)
    for calico_policy in state.calico:
        if calico_policy.tier not in known:
            raise InputError(
                f"{source}: {calico_policy.key} is in tier {calico_policy.tier!r}, which is not in the "
                "state: save the tiers with it (`kubectl get tiers.projectcalico.org -o yaml`) so their "
                "order is known"
            )
    if staged:
        state.notes.append(
            f"note: {len(staged)} staged polic{'y' if len(staged) == 1 else 'ies'} left out: Calico does not "
            f"enforce staged policies ({', '.join(staged[:3])}{', ...' if len(staged) > 3 else ''})"
        )
    portless = [pod.key for pod in state.pods if not pod.ports]
    if portless:  # no column in the matrix: say so rather than show nothing
        shown = ", ".join(portless[:3]) + (", ..." if len(portless) > 3 else "")
        state.notes.append(
            f"note: {len(portless)} pod(s) declare no container port, so the matrix has no column for "
            f"them ({shown}); ask about one port with `netpol-lab explain FROM POD PORT`"
        )
    if skipped:  # kube-system on kind has several: one line, not one each
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        state.notes.append(
            f"note: {len(skipped)} pod(s) use the host network or have finished; NetworkPolicy does not "
            f"apply to them, left out ({shown})"
        )
    if modelled:
        return state
    if not state.pods:
        raise InputError(
            f"{source}: holds no pods; save the state with "
            "`kubectl get namespaces,pods,networkpolicies -A -o yaml > FILE`"
        )
    return finish(state)


def finish(state: ClusterState) -> ClusterState:
    """Fill implicit namespaces, set aside pods without an IP, and warn about dead named ports."""
    for pod in state.pods:
        if pod.namespace not in state.namespaces:
            state.namespaces[pod.namespace] = Namespace(pod.namespace, {NAMESPACE_NAME_LABEL: pod.namespace})
    unaddressed = [p for p in state.pods if not p.ip]
    if unaddressed:
        state.unaddressed = unaddressed
        state.pods = [p for p in state.pods if p.ip]
        names = ", ".join(p.key for p in unaddressed)
        state.warnings.append(
            f"{state.source}: {len(unaddressed)} pod(s) have no IP yet and are left out "
            f"(not guessed): {names}"
        )
    state.warnings.extend(_named_port_warnings(state))
    return state


def _named_port_warnings(state: ClusterState) -> list[str]:
    """A warning for each named port entry that no pod it could resolve on declares.

    Indexed, not pods x policies: an egress entry resolves on any pod, so it needs the names
    declared anywhere; an ingress entry on the pods its policy selects, so only the pods of the
    policy's namespace that declare that name are matched against its selector."""
    everyone = state.pods + state.unaddressed
    anywhere: set[tuple[str, str]] = set()
    declaring: dict[tuple[str, str, str], list[Pod]] = {}  # (namespace, name, protocol) -> pods
    for pod in everyone:
        for name, protocol in {(c.name, c.protocol) for c in pod.ports if c.name}:
            anywhere.add((name, protocol))
            declaring.setdefault((pod.namespace, name, protocol), []).append(pod)
    warnings = []
    for policy in state.policies:
        for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
            for number, rule in enumerate(rules):
                for position, entry in enumerate(rule.ports):
                    if not isinstance(entry.port, str):
                        continue
                    if direction == "egress":
                        declared = (entry.port, entry.protocol) in anywhere
                    else:
                        candidates = declaring.get((policy.namespace, entry.port, entry.protocol), ())
                        declared = any(policy.pod_selector.matches(p.labels) for p in candidates)
                    if not declared:
                        warnings.append(
                            f"{policy.source}: NetworkPolicy {policy.key}: spec.{direction}[{number}]"
                            f".ports[{position}]: no container declares a {entry.protocol} port named "
                            f"{entry.port!r}, so this entry allows nothing (as in Kubernetes)"
                        )
    return warnings


# -- source 1: a saved file ------------------------------------------------------------------

# A state file is read whole and parsed in memory: refuse what could not be a cluster's dump before
# reading it (`kubectl get namespaces,pods,networkpolicies,services -A -o yaml` of 10,000 pods is
# well under this).
MAX_STATE_BYTES = 128 * 1024 * 1024
MAX_NUMBER_LENGTH = 32  # characters of a YAML integer: int64 needs 20; more is no Kubernetes field
MAX_LIST_DEPTH = 8  # Lists inside Lists (kubectl prints one; a few levels are generous)

_BOMS = (  # the byte order marks an editor or a shell may write, longest first
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),  # Windows PowerShell 5: `kubectl get ... > state.yaml`
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def read_input_file(path: Path, *, limit: int, what: str, missing: str = "") -> bytes:
    """The bytes of ``path``, at most ``limit`` of them (``/dev/zero`` ends too): an ``InputError``
    naming the file when it cannot be read or is larger (``missing``: the fix for no such file)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file" + (f": {missing}" if missing else "")) from None
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than the {limit // (1024 * 1024)} MiB a {what} may have")
    return data


def decode_text(data: bytes, source: str) -> str:
    """Text from the bytes of a file: UTF-8, or UTF-8/16/32 with a byte order mark (what Windows
    writes), the mark dropped. Anything else is an ``InputError`` naming the file and the byte."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], name
            break
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding != "utf-8":
            raise InputError(
                f"{source}: starts with a {encoding.upper()} byte order mark but is not valid "
                f"{encoding.upper()} (at byte {error.start}): save it again as UTF-8"
            ) from None
        byte = data[error.start]
        raise InputError(
            f"{source}: not UTF-8 text (byte 0x{byte:02x} at offset {error.start}): save it as UTF-8 "
            "(PowerShell: `kubectl get ... -o yaml | Out-File -Encoding utf8 state.yaml`)"
        ) from None


class _StateConstructor(SafeConstructor):
    """SafeConstructor for state files: no aliases, no numbers beyond int64, timestamps as text.

    kubectl never writes an anchor or an alias; a few of them nest into a billion nodes ("billion
    laughs"), so the second use of any node is refused. Timestamps stay the text written, as
    kubectl reads them (and `0000-01-01` cannot fail to be a date)."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if node in self.constructed_objects:
            raise ConstructorError(
                None,
                None,
                "found an alias (*name): state files may not use YAML anchors and aliases",
                node.start_mark,
            )
        return super().construct_object(node, deep)

    def construct_bounded_int(self, node: ScalarNode) -> int:
        text = self.construct_scalar(node)
        if len(text) > MAX_NUMBER_LENGTH:
            raise ConstructorError(
                None,
                None,
                f"found a number {len(text)} characters long: no Kubernetes field holds one that large",
                node.start_mark,
            )
        return int(super().construct_yaml_int(node))


_StateConstructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", _StateConstructor.construct_bounded_int
)
_StateConstructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str
)


class PureStateLoader(Reader, Scanner, Parser, Composer, _StateConstructor, Resolver):
    """The pure-Python loader of state files (when PyYAML has no libyaml)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _StateConstructor.__init__(self)
        Resolver.__init__(self)


StateLoader: type[Any] = PureStateLoader
if _CParser is not None:

    class CStateLoader(_CParser, _StateConstructor, Resolver):
        """libyaml's parser with the state files' constructor: a 2,000-pod dump parses in a fraction
        of the time."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _StateConstructor.__init__(self)
            Resolver.__init__(self)

    StateLoader = CStateLoader


def _bounded_json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise _TooLarge(f"a number {len(text)} digits long: no Kubernetes field holds one that large")
    return int(text)


class _TooLarge(ValueError):
    pass


def _json_constant(name: str) -> Any:
    raise _TooLarge(f"{name} is not JSON (and no Kubernetes field holds it)")


def parse_json(text: str, source: str) -> Any:
    """A JSON document, with an ``InputError`` naming ``source`` for anything that is not one, or is
    nested too deeply, or holds a number no Kubernetes object holds."""
    try:
        return json.loads(text, parse_int=_bounded_json_int, parse_constant=_json_constant)
    except json.JSONDecodeError as error:
        raise InputError(f"{source}: not valid JSON (line {error.lineno}): {error.msg}") from None
    except _TooLarge as error:
        raise InputError(f"{source}: not valid state: {error}") from None
    except RecursionError:
        raise InputError(f"{source}: nested too deeply to be a Kubernetes object") from None


def parse_yaml(text: str, source: str) -> list[Any]:
    """The YAML documents of ``text`` (empty ones left out), with an ``InputError`` naming ``source``."""
    try:
        return [d for d in yaml.load_all(text, Loader=StateLoader) if d is not None]
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or (str(error).splitlines() or [type(error).__name__])[0]
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        what = "refused" if isinstance(error, ConstructorError) else "not valid YAML"  # valid, but not data
        raise InputError(f"{source}: {what}{where}: {problem}") from None
    except RecursionError:
        raise InputError(f"{source}: nested too deeply to be a Kubernetes object") from None
    except (ValueError, TypeError, OverflowError) as error:  # a tagged scalar the constructor refuses
        raise InputError(f"{source}: not valid YAML: {error}") from None


def load_state_file(path: Path) -> ClusterState:
    text = decode_text(read_input_file(path, limit=MAX_STATE_BYTES, what="state file"), str(path))
    if path.suffix == ".json":
        documents: list[Any] = [parse_json(text, str(path))]
    else:
        documents = parse_yaml(text, str(path))
    return parse_objects(documents, str(path))
