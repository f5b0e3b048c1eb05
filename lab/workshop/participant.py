"""The stages for one participant of a room: rendered from the stage folders, never copied.

A stage policy names the scenario's namespaces; the participant's copy lives in ``<name>-frontend``
and so on. Rendering rewrites, from the scenario's roles:

* ``metadata.namespace``: ``backend`` -> ``p07-backend``;
* a namespaceSelector naming a scenario namespace (``kubernetes.io/metadata.name: backend``, or an
  In expression over scenario names) -> the labels every namespace of the copy carries
  (``netpol-lab/participant: p07``, ``netpol-lab/role: backend``); ``kube-system`` and other
  namespaces outside the scenario stay as they are (DNS);
* ``namespaceSelector: {}`` ("any namespace") -> any namespace of this copy, as the room's admission
  policy demands;
* stage 5's ipBlock exceptions of the laptop lab's pod and Service ranges -> this cluster's
  (``room up`` records them in the copy's record);
* every object gets the room's labels, so ``room down`` finds it.

Stages 6 and 7 are cluster-wide (a Calico GlobalNetworkPolicy, a ClusterNetworkPolicy): only the
instructor applies them, to the demo copy, as a demonstration. Their rendering selects only the demo's
namespaces (``netpol-lab/participant == "demo"``), so whatever their order or priority they decide
nothing for any other pod; the ClusterNetworkPolicies also move to priority 1000, the end of their tier's
band, so the cluster's own admin policies keep coming first even for the demo's pods.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab import pins, scenario
from lab.boundary.apply import plan_apply_documents
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Runner
from lab.errors import ExitStatus, LabError
from lab.lifecycle import room
from lab.lifecycle.room import PARTICIPANT_LABEL, ROLE_LABEL, Participant, RoomRanges
from lab.workshop import stage_apply
from lab.workshop.stages import STAGE_LABEL, Stage, cumulative_documents, in_force

NAME_LABEL = "kubernetes.io/metadata.name"
DEMO_PRIORITY = 1000  # the last priority of a ClusterNetworkPolicy tier


def is_cluster_wide(doc: Mapping[str, Any]) -> bool:
    return stage_apply.is_calico(dict(doc)) or stage_apply.is_cluster_policy(dict(doc))


def cluster_wide_stages(stages: Sequence[Stage]) -> list[int]:
    return [s.number for s in stages if any(is_cluster_wide(d) for d in s.documents())]


def render_namespace_selector(selector: Mapping[str, Any] | None, participant: Participant) -> dict[str, Any]:
    """A NetworkPolicy peer's namespaceSelector, moved into the participant's copy."""
    result = copy.deepcopy(dict(selector or {}))
    if not result:
        return {"matchLabels": {PARTICIPANT_LABEL: participant.name}}
    labels = dict(result.get("matchLabels") or {})
    named = labels.get(NAME_LABEL)
    moved = False
    if named in scenario.BY_NAME:
        labels.pop(NAME_LABEL)
        labels.update({PARTICIPANT_LABEL: participant.name, ROLE_LABEL: str(named)})
        moved = True
    expressions = []
    for expression in result.get("matchExpressions") or []:
        values = list(expression.get("values") or [])
        scenario_names = [v for v in values if v in scenario.BY_NAME]
        if expression.get("key") != NAME_LABEL or not scenario_names:
            expressions.append(expression)
            continue
        if expression.get("operator") != "In" or len(scenario_names) != len(values):
            raise LabError(
                f"a namespaceSelector with {NAME_LABEL} {expression.get('operator')} {values} cannot "
                "be moved into a room copy: name the scenario's namespaces with In alone",
                ExitStatus.USAGE,
            )
        expressions.append({"key": ROLE_LABEL, "operator": "In", "values": values})
        labels[PARTICIPANT_LABEL] = participant.name
        moved = True
    if moved:
        result["matchLabels"] = labels
        if expressions:
            result["matchExpressions"] = expressions
        else:
            result.pop("matchExpressions", None)
    return result


def _render_ip_block(block: dict[str, Any], ranges: RoomRanges) -> None:
    """The laptop's pod and Service ranges in ``except`` become the room cluster's. The API wants
    each except entry strictly inside the block's cidr (ValidateIPBlock), so a range of the other
    family goes to the other family's block."""
    lab = {
        pins.POD_SUBNET: ranges.pod_cidrs,
        pins.SERVICE_SUBNET: ranges.service_cidrs,
        scenario.POD_SUBNET_V6: ranges.pod_cidrs,
        scenario.SERVICE_SUBNET_V6: ranges.service_cidrs,
    }
    excepted = block.get("except")
    if not excepted:
        return
    cidr = ipaddress.ip_network(str(block.get("cidr")), strict=False)
    out: list[str] = []
    for entry in excepted:
        for replacement in lab.get(entry, (entry,)):
            net = ipaddress.ip_network(replacement, strict=False)
            inside = net.version == cidr.version and net != cidr and net.subnet_of(cidr)  # type: ignore[arg-type]
            if inside and replacement not in out:
                out.append(replacement)
    if out:
        block["except"] = out
    else:
        block.pop("except")


def render_network_policy(
    doc: Mapping[str, Any], participant: Participant, ranges: RoomRanges
) -> dict[str, Any]:
    rendered = copy.deepcopy(dict(doc))
    meta = rendered["metadata"]
    namespace = str(meta.get("namespace") or "")
    if namespace not in scenario.BY_NAME:
        raise LabError(
            f"NetworkPolicy {meta.get('name')} is in namespace {namespace!r}, not one of the scenario's "
            f"({', '.join(scenario.LAB_NAMESPACES)}): it cannot be moved into a room copy",
            ExitStatus.USAGE,
        )
    meta["namespace"] = participant.namespace(namespace)
    meta["labels"] = {**(meta.get("labels") or {}), **participant.labels}
    spec = rendered.get("spec") or {}
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for rule in spec.get(direction) or []:
            for peer in rule.get(peers) or []:
                if "namespaceSelector" in peer:
                    peer["namespaceSelector"] = render_namespace_selector(
                        peer["namespaceSelector"], participant
                    )
                if isinstance(peer.get("ipBlock"), dict):
                    _render_ip_block(peer["ipBlock"], ranges)
    return rendered


def render_cluster_wide(doc: Mapping[str, Any], participant: Participant) -> dict[str, Any]:
    """A GlobalNetworkPolicy or ClusterNetworkPolicy, narrowed to the demo copy's namespaces."""
    if not participant.demo:
        raise LabError(
            f"{doc.get('kind')} {doc['metadata'].get('name')} is cluster-wide: in a room only the instructor "
            f"applies it, to the demo copy (`--participant {room.DEMO}`)",
            ExitStatus.USAGE,
        )
    rendered = copy.deepcopy(dict(doc))
    meta = rendered["metadata"]
    meta["name"] = f"{meta['name']}-{participant.name}"
    meta["labels"] = {**(meta.get("labels") or {}), **participant.labels}
    spec = rendered.setdefault("spec", {})
    if stage_apply.is_calico(rendered):
        spec["namespaceSelector"] = f'{PARTICIPANT_LABEL} == "{participant.name}"'
    else:
        spec["subject"] = {"namespaces": {"matchLabels": {PARTICIPANT_LABEL: participant.name}}}
        spec["priority"] = DEMO_PRIORITY
    return rendered


def render_document(doc: Mapping[str, Any], participant: Participant, ranges: RoomRanges) -> dict[str, Any]:
    if is_cluster_wide(doc):
        return render_cluster_wide(doc, participant)
    if doc.get("kind") != "NetworkPolicy":
        raise LabError(f"a stage holds a {doc.get('kind')}: only policies can be moved into a room copy")
    return render_network_policy(doc, participant, ranges)


def rendered_stage(
    stages: Sequence[Stage], number: int, participant: Participant, ranges: RoomRanges
) -> list[dict[str, Any]]:
    """The policies in force at stage ``number``, rendered for ``participant``."""
    return [render_document(d, participant, ranges) for d in cumulative_documents(list(stages), number)]


def check_stage_allowed(stages: Sequence[Stage], number: int, participant: Participant) -> None:
    """Refuse, before anything changes, a cluster-wide stage for anyone but the demo copy."""
    if participant.demo:
        return
    wide = [d for d in cumulative_documents(list(stages), number) if is_cluster_wide(d)]
    if wide:
        kinds = ", ".join(sorted({str(d["kind"]) for d in wide}))
        raise LabError(
            f"stage {number} is cluster-wide ({kinds}): in a room the instructor shows it on the demo copy "
            f"(`netpol-lab stage apply {number} --participant {room.DEMO}`), read-only for participants "
            f"(`netpol-lab stage show {number}`); your namespaces stay as they are",
            ExitStatus.USAGE,
        )


def plan_participant_apply(
    stages: Sequence[Stage], number: int, participant: Participant, ranges: RoomRanges, kubectl: Kubectl
) -> stage_apply.Plan:
    """Exactly the participant's policies of stage ``number``: apply them, delete those of stages not in
    force in each of the four namespaces (a participant may not list across namespaces), record."""
    docs = rendered_stage(stages, number, participant, ranges)
    namespaced = [d for d in docs if not is_cluster_wide(d)]
    wide = [d for d in docs if is_cluster_wide(d)]
    plan = stage_apply.Plan(number)
    for step in plan_apply_documents(kubectl, namespaced):
        plan.steps.append(stage_apply.Step(step.argv, step.input))
    kept = ",".join(str(s.number) for s in in_force(list(stages), number))
    selector = f"{STAGE_LABEL},{STAGE_LABEL} notin ({kept}),{PARTICIPANT_LABEL}={participant.name}"
    for namespace in participant.namespaces.values():
        argv = kubectl(
            "delete", stage_apply.K8S_POLICIES, "-n", namespace, "-l", selector, "--ignore-not-found"
        )
        plan.steps.append(stage_apply.Step(tuple(argv)))
    if participant.demo:
        for step in plan_apply_documents(kubectl, wide):
            plan.steps.append(stage_apply.Step(step.argv, step.input))
        for resource in (stage_apply.CLUSTER_POLICIES, stage_apply.CALICO_GLOBAL_POLICIES):
            argv = kubectl("delete", resource, "-l", selector, "--ignore-not-found")
            plan.steps.append(stage_apply.Step(tuple(argv), fine_if=(stage_apply.NOT_SERVED,)))
    record = room.record_document(
        room.STAGE_RECORD, participant.home, participant.labels, "stage", {"stage": str(number)}
    )
    for step in plan_apply_documents(kubectl, [record]):
        plan.steps.append(stage_apply.Step(step.argv, step.input))
    return plan


@dataclass(frozen=True)
class CopyRecord:
    """What `room up` recorded in a copy's home: the cluster's ranges and its deny action."""

    ranges: RoomRanges
    deny_action: str = "Drop"


def require_copy(runner: Runner, kubectl: Kubectl, participant: Participant) -> CopyRecord:
    """The copy's record (written by `room up`), or a LabError: nothing is changed for a name the room
    does not know."""
    argv = kubectl(
        "get", "configmap", room.ROOM_RECORD, "-n", participant.home, "--ignore-not-found", "-o", "json"
    )
    result = runner.run(argv, timeout=30)
    if result.dry_run:
        return CopyRecord(room.LAB_RANGES)
    data: Mapping[str, Any] = {}
    if result.ok and result.stdout.strip():
        try:
            loaded = json.loads(result.stdout)
            data = loaded.get("data") or {} if isinstance(loaded, dict) else {}
        except ValueError:
            data = {}
    if not result.ok or data.get("participant") != participant.name:
        why = result.error_line() if not result.ok else f"no room record in namespace {participant.home}"
        raise LabError(
            f"context {kubectl.context} has no room copy for participant {participant.name} ({why}): nothing "
            "was changed; the instructor creates it with `netpol-lab room up`",
            ExitStatus.MISSING_PREREQUISITE,
        )
    return CopyRecord(RoomRanges.from_data(data), str(data.get("denyAction") or "Drop"))


def read_participant_stage(runner: Runner, kubectl: Kubectl, participant: Participant) -> int | None:
    argv = kubectl(
        "get",
        "configmap",
        room.STAGE_RECORD,
        "-n",
        participant.home,
        "--ignore-not-found",
        "-o",
        "jsonpath={.data.stage}",
    )
    result = runner.run(argv, timeout=30)
    text = result.stdout.strip() if result.ok and not result.dry_run else ""
    return int(text) if text.isdecimal() and text.isascii() else None
