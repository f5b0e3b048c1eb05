"""A room: many participants on one existing cluster, each with an isolated copy of the scenario.

Every participant gets the four namespaces with their name as prefix (``p07-frontend`` ...), each
labelled with the participant and the scenario role it plays (``netpol-lab/participant: p07``,
``netpol-lab/role: frontend``), so the stages' policies select those labels instead of namespace
names (lab.workshop.participant renders them). Everything the room creates carries
``netpol-lab/room: "true"``: ``room down`` deletes by that label and nothing else.

The room's own objects live in namespace ``netpol-lab-room``: one ServiceAccount per participant
(out of the participant's reach: a participant cannot even read their own account), and the room's
record (the enforcement verdict). Each participant's home namespace (``<name>-frontend``) holds the
records the participant's commands write and read: which stage they applied, the last probe, and
the cluster's ranges stage 5's exceptions need.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import pins, scenario
from lab.boundary.apply import read_documents
from lab.errors import ExitStatus, LabError

ROOM_LABEL = "netpol-lab/room"
ROOM_VALUE = "true"
PARTICIPANT_LABEL = "netpol-lab/participant"
ROLE_LABEL = "netpol-lab/role"
RECORD_LABEL = "netpol-lab/record"  # which record a ConfigMap is: room, stage or probe
ROOM_NAMESPACE = "netpol-lab-room"
HOME_ROLE = "frontend"  # a participant's records live in their frontend namespace
DEMO = "demo"  # the instructor's own copy, the only one the cluster-wide stages are applied to
NAME_RULE = re.compile(r"^[a-z][a-z0-9]{0,19}$")  # no dash: "p07-" names p07's namespaces alone
ROOM_RECORD = "netpol-lab-room"  # ConfigMap: in netpol-lab-room (the room's), in each home (the copy's)
STAGE_RECORD = "netpol-lab-stage"
PROBE_RECORD = "netpol-lab-probe"
WORKLOADS_DIR = Path("manifests") / "workloads"
SELECTOR = f"{ROOM_LABEL}={ROOM_VALUE}"
MAX_PARTICIPANTS = 200


@dataclass(frozen=True)
class Participant:
    """One participant's copy: the namespaces it owns and the labels that mark it."""

    name: str

    def namespace(self, role: str) -> str:
        return f"{self.name}-{role}"

    @property
    def namespaces(self) -> dict[str, str]:
        """Scenario namespace (workload name) -> this participant's namespace, in scenario order."""
        return {w.name: self.namespace(w.name) for w in scenario.WORKLOADS}

    @property
    def home(self) -> str:
        return self.namespace(HOME_ROLE)

    @property
    def labels(self) -> dict[str, str]:
        key, value = pins.PART_OF_LABEL
        return {key: value, ROOM_LABEL: ROOM_VALUE, PARTICIPANT_LABEL: self.name}

    def role_labels(self, role: str) -> dict[str, str]:
        """The labels a namespace of this copy carries: what the rendered policies select on."""
        return {**self.labels, ROLE_LABEL: role}

    @property
    def service_account(self) -> str:
        return self.name

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{ROOM_NAMESPACE}:{self.service_account}"

    @property
    def context(self) -> str:
        return f"netpol-lab-{self.name}"

    @property
    def demo(self) -> bool:
        return self.name == DEMO

    @property
    def selector(self) -> str:
        return f"{SELECTOR},{PARTICIPANT_LABEL}={self.name}"


def check_name(name: str) -> Participant:
    if not NAME_RULE.fullmatch(name):
        raise LabError(
            f"participant name {name!r}: use 1-20 lowercase letters and digits, starting with a letter "
            "(no dash: the name prefixes the participant's namespaces), for example p07 or alice",
            ExitStatus.USAGE,
        )
    return Participant(name)


def parse_participants(text: str, *, demo: bool = False) -> list[Participant]:
    """``3`` -> p01, p02, p03; ``alice,bob`` -> those names; ``demo`` adds the instructor's copy."""
    value = text.strip()
    if value.isdecimal() and value.isascii():
        count = int(value)
        if not 1 <= count <= MAX_PARTICIPANTS:
            raise LabError(f"--participants {value}: give 1 to {MAX_PARTICIPANTS}", ExitStatus.USAGE)
        width = max(2, len(str(count)))
        names = [f"p{n:0{width}d}" for n in range(1, count + 1)]
    else:
        names = [part.strip() for part in value.split(",") if part.strip()]
        if not names:
            raise LabError("--participants: give a number (3) or names (alice,bob)", ExitStatus.USAGE)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LabError(f"--participants names {', '.join(duplicates)} twice", ExitStatus.USAGE)
    chosen = [check_name(name) for name in names]
    if demo and DEMO not in names:
        chosen.append(Participant(DEMO))
    return chosen


# -- the copy's workloads ------------------------------------------------------------------------


def workload_documents(root: Path) -> list[dict[str, Any]]:
    """The lab's workload manifests (namespaces, Deployments, Services), as the lab deploys them."""
    folder = root / WORKLOADS_DIR
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise LabError(f"no manifests in {folder}: restore them with `git checkout -- {WORKLOADS_DIR}`")
    return [doc for path in files for doc in read_documents(path)]


def render_workloads(
    documents: Iterable[Mapping[str, Any]], participant: Participant, *, image: str = pins.AGNHOST_IMAGE
) -> list[dict[str, Any]]:
    """The four namespaces, Deployments and Services of one copy.

    Namespaces get the participant's prefix and labels; everything inside moves with them and is
    labelled, the pods too (room status finds them by label). The Deployments lose the lab's
    ``netpol-lab/slot`` nodeSelector: only the lab's own kind nodes carry that label, so on a shared
    cluster the scheduler places the pods where it likes (the allowed flows may then stay on one
    node). ``image`` replaces the pinned agnhost image (NETPOL_LAB_AGNHOST_IMAGE)."""
    rendered = []
    for source in documents:
        doc = copy.deepcopy(dict(source))
        meta = doc.setdefault("metadata", {})
        kind = doc.get("kind")
        if kind == "Namespace":
            role = str(meta.get("name"))
            _known_role(role)
            meta["name"] = participant.namespace(role)
            meta["labels"] = {**(meta.get("labels") or {}), **participant.role_labels(role)}
        else:
            role = str(meta.get("namespace"))
            _known_role(role)
            meta["namespace"] = participant.namespace(role)
            meta["labels"] = {**(meta.get("labels") or {}), **participant.labels}
        if kind == "Deployment":
            template = doc["spec"]["template"]
            template["metadata"]["labels"] = {**template["metadata"].get("labels", {}), **participant.labels}
            pod = template["spec"]
            selector = pod.get("nodeSelector") or {}
            selector.pop(scenario.SLOT_LABEL, None)
            if selector:
                pod["nodeSelector"] = selector
            else:
                pod.pop("nodeSelector", None)
            for container in pod.get("containers") or []:
                if container.get("image") == pins.AGNHOST_IMAGE:
                    container["image"] = image
        rendered.append(doc)
    return rendered


def _known_role(role: str) -> None:
    if role not in scenario.BY_NAME:
        raise LabError(
            f"manifests/workloads names namespace {role!r}, which is not one of the scenario's "
            f"({', '.join(scenario.LAB_NAMESPACES)}): restore them with `git checkout -- {WORKLOADS_DIR}`",
            ExitStatus.USAGE,
        )


# -- the room's records --------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomRanges:
    """The cluster's own address ranges, which stage 5's ipBlock exceptions must name on this cluster."""

    pod_cidrs: tuple[str, ...]
    service_cidrs: tuple[str, ...]
    source: str = ""  # where they were read, for the plan

    def data(self) -> dict[str, str]:
        return {"podCIDRs": " ".join(self.pod_cidrs), "serviceCIDRs": " ".join(self.service_cidrs)}

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> RoomRanges:
        return cls(
            tuple(str(data.get("podCIDRs", "")).split()),
            tuple(str(data.get("serviceCIDRs", "")).split()),
            "the room's record",
        )


LAB_RANGES = RoomRanges((pins.POD_SUBNET,), (pins.SERVICE_SUBNET,), "the laptop lab's defaults")


def record_document(
    name: str, namespace: str, labels: Mapping[str, str], kind: str, data: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, RECORD_LABEL: kind}},
        "data": dict(data),
    }


def participant_record(participant: Participant, ranges: RoomRanges, deny_action: str) -> dict[str, Any]:
    """What a participant's commands read about their copy (they may not read the cluster's config)."""
    data = {"participant": participant.name, "denyAction": deny_action, **ranges.data()}
    return record_document(ROOM_RECORD, participant.home, participant.labels, "room", data)


def room_labels() -> dict[str, str]:
    key, value = pins.PART_OF_LABEL
    return {key: value, ROOM_LABEL: ROOM_VALUE}


def room_namespace() -> dict[str, Any]:
    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ROOM_NAMESPACE, "labels": {**room_labels(), **restricted}},
    }


def participants_from_namespaces(namespaces: Sequence[Mapping[str, Any]]) -> list[Participant]:
    """The room's participants, from its home namespaces (labelled with participant and role)."""
    names = set()
    for namespace in namespaces:
        labels = (namespace.get("metadata") or {}).get("labels") or {}
        if labels.get(ROOM_LABEL) == ROOM_VALUE and labels.get(ROLE_LABEL) == HOME_ROLE:
            name = str(labels.get(PARTICIPANT_LABEL, ""))
            if NAME_RULE.fullmatch(name):
                names.add(name)
    return [Participant(name) for name in sorted(names)]
