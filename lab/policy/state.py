"""The evaluator's cluster state from API objects: a saved file, or objects read or modelled elsewhere.

``parse_objects`` turns a list of objects, as ``kubectl get ... -o yaml`` prints them (nested
Lists included), into a ``ClusterState``: namespaces, pods, Services, NetworkPolicies, Calico's
tiers and policies, ClusterNetworkPolicies; ``load_state_file`` reads one from YAML or JSON.
The lab's own modelled state is ``lab.workshop.lab_state``; a live cluster is read by the
commands (``lab.commands._state``) and parsed here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from lab.policy import calico, cnp
from lab.policy.model import (
    NAMESPACE_NAME_LABEL,
    ClusterState,
    InputError,
    Namespace,
    object_name,
    parse_namespace,
    parse_pod,
    parse_policy,
    parse_service,
)
from lab.policy.tiers import parse_tier, tiers_of

# What a live cluster is read as: the kinds every cluster serves, then the optional ones.
CLUSTER_KINDS = "namespaces,pods,networkpolicies.networking.k8s.io,services"
OPTIONAL_KINDS = (
    (calico.CLUSTER_KINDS, "Calico's tiers and policies"),
    (cnp.CLUSTER_KINDS, "ClusterNetworkPolicies"),
)


# -- parsing a list of objects -------------------------------------------------------------


def _flatten(items: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for item in items:
        if isinstance(item, Mapping):
            if item.get("kind") == "List" or (item.get("kind", "").endswith("List") and "items" in item):
                yield from _flatten(item.get("items") or [])
            else:
                yield item


def parse_objects(items: Iterable[Any], source: str, *, modelled: bool = False) -> ClusterState:
    """Namespaces, Pods, NetworkPolicies and Services from API objects; other kinds are ignored.

    ``modelled``: the pods come later (the stage model), so neither require them nor finish.
    """
    state = ClusterState(source=source)
    skipped: list[str] = []
    staged: list[str] = []
    for obj in _flatten(items):
        kind = obj.get("kind")
        api = str(obj.get("apiVersion", ""))
        if kind == "Namespace":
            namespace = parse_namespace(obj, source)
            state.namespaces[namespace.name] = namespace
        elif kind == "Pod":
            pod, governed = parse_pod(obj, source)
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
        elif api.startswith("projectcalico.org/") and str(kind).endswith("Policy"):
            raise InputError(f"{source}: {object_name(obj)}: kind {kind} not understood by this evaluator")
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
    warnings = []
    everyone = state.pods + state.unaddressed
    for policy in state.policies:
        selected = [
            p for p in everyone if p.namespace == policy.namespace and policy.pod_selector.matches(p.labels)
        ]
        for direction, rules, scope in (
            ("ingress", policy.ingress, selected),
            ("egress", policy.egress, everyone),
        ):
            for number, rule in enumerate(rules):
                for position, entry in enumerate(rule.ports):
                    if not isinstance(entry.port, str):
                        continue
                    declared = any(
                        c.name == entry.port and c.protocol == entry.protocol for p in scope for c in p.ports
                    )
                    if not declared:
                        warnings.append(
                            f"{policy.source}: NetworkPolicy {policy.key}: spec.{direction}[{number}]"
                            f".ports[{position}]: no container declares a {entry.protocol} port named "
                            f"{entry.port!r}, so this entry allows nothing (as in Kubernetes)"
                        )
    return warnings


# -- source 1: a saved file ------------------------------------------------------------------


def load_state_file(path: Path) -> ClusterState:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        if path.suffix == ".json":
            documents: list[Any] = [json.loads(text)]
        else:
            # libyaml's loader when present: a 2,000-pod dump parses in a fraction of the time.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: not valid YAML/JSON{where}: {first}") from None
    return parse_objects(documents, str(path))
