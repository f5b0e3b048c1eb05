"""The engine's view of a room: every copy's matrix, computed from the whole room at once, and the check
that the copies are independent (no cell of one participant depends on another participant's policies).

The room is modelled as the cluster would hold it: each participant's rendered namespaces (with the
labels ``room up`` sets, ``kubernetes.io/metadata.name`` included, as the API server sets it),
workloads and the rendered policies of the stage that copy is at, plus CoreDNS. Each pod gets its
synthetic address once, from its real name, so every variant below sees the same addresses.

A copy's matrix is the lab's matrix (lab.workshop.lab_matrix) with that copy addressed under the
scenario's namespace names: its namespaces, pods, Services and policies are renamed from
``p02-backend`` to ``backend`` and nothing else changes (every namespace keeps its real labels), a
renaming the engine cannot see, since it compares namespaces by name only for "the same namespace".

``independence`` computes each copy's matrix three ways (with the whole room; with that copy alone;
with every other copy given policies that open and close everything, and peers that select any
namespace) and compares them cell by cell, and with the lab's own matrix at the same stage.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import pins
from lab.lifecycle import room
from lab.lifecycle.room import Participant
from lab.matrix import Matrix
from lab.policy.model import NAMESPACE_NAME_LABEL, Pod, Service
from lab.policy.state import finish, parse_objects
from lab.workshop import participant as rendering
from lab.workshop.lab_matrix import expected_lab_matrix
from lab.workshop.lab_state import (
    DNS_LABELS,
    DNS_NAMESPACE,
    DNS_PORTS,
    _pods_from_deployments,
    load_stage_state,
    outside_targets,
    synthetic_ips,
)
from lab.workshop.stages import load_stages

Objects = list[dict[str, Any]]


def copy_objects(root: Path, participant: Participant, stage: int) -> Objects:
    """One copy as `room up` and `stage apply` leave it: namespaces, workloads, the stage's policies."""
    docs = room.render_workloads(room.workload_documents(root), participant)
    for doc in docs:
        if doc["kind"] == "Namespace":
            doc["metadata"]["labels"][NAMESPACE_NAME_LABEL] = doc["metadata"]["name"]
    stages = load_stages(root)
    policies = [d for d in rendering.rendered_stage(stages, stage, participant, room.LAB_RANGES)]
    return docs + [d for d in policies if not rendering.is_cluster_wide(d)]


def hostile_policies(participant: Participant) -> Objects:
    """What a careless or curious participant might write at home: open everything in and out, to
    and from any namespace (a peer the room's admission policy would refuse), and close everything."""
    docs: Objects = []
    for namespace in participant.namespaces.values():
        for name, spec in (
            (
                "open-all",
                {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]},
            ),
            (
                "any-namespace",
                {
                    "podSelector": {},
                    "ingress": [{"from": [{"namespaceSelector": {}}]}],
                    "egress": [{"to": [{"namespaceSelector": {}}]}],
                    "policyTypes": ["Ingress", "Egress"],
                },
            ),
            ("close-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ):
            docs.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": name, "namespace": namespace, "labels": participant.labels},
                    "spec": spec,
                }
            )
    return docs


def _renamed(obj: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    meta = out["metadata"]
    if out["kind"] == "Namespace" and meta["name"] in names:
        meta["name"] = names[meta["name"]]
    elif meta.get("namespace") in names:
        meta["namespace"] = names[meta["namespace"]]
    return out


def copy_matrix(objects: Iterable[Mapping[str, Any]], participant: Participant, *, title: str = "") -> Matrix:
    """The engine's matrix of ``participant``'s copy, judged with every object of the room present."""
    objects = list(objects)
    deployments = [dict(o) for o in objects if o.get("kind") == "Deployment"]
    pods = synthetic_ips(
        [
            *_pods_from_deployments(deployments, "the room"),
            Pod(DNS_NAMESPACE, "coredns", dict(DNS_LABELS), None, DNS_PORTS),
        ]
    )
    names = {namespace: role for role, namespace in participant.namespaces.items()}  # p02-backend -> backend
    rest = [_renamed(o, names) for o in objects if o.get("kind") in ("Namespace", "Service", "NetworkPolicy")]
    rest.append({"kind": "Namespace", "metadata": {"name": DNS_NAMESPACE}})
    state = parse_objects(rest, f"the room, {participant.name}'s copy", modelled=True)
    state.pods = [Pod(names.get(p.namespace, p.namespace), p.name, p.labels, p.ip, p.ports) for p in pods]
    state.services.append(Service(DNS_NAMESPACE, "kube-dns", dict(DNS_LABELS), (), pins.KUBE_DNS_IP))
    state.targets = outside_targets()
    return expected_lab_matrix(finish(state), title=title or f"{participant.name} (computed)")


@dataclass(frozen=True)
class Dependence:
    """A cell of one copy that is not what it should be, and under which variant of the room."""

    participant: str
    row: str
    column: str
    variant: str
    got: str
    wanted: str

    def __str__(self) -> str:
        return (
            f"{self.participant}: {self.row} -> {self.column} is {self.got} {self.variant}, "
            f"{self.wanted} in the lab at the same stage"
        )


def independence(root: Path, stages: Mapping[Participant, int]) -> list[Dependence]:
    """Every cell of every copy that differs from the lab at that copy's stage, in any variant of the room
    (the whole room, the copy alone, the others made hostile); an empty list: independent."""
    built = {p: copy_objects(root, p, number) for p, number in stages.items()}
    hostile = {p: hostile_policies(p) for p in stages}
    found: list[Dependence] = []
    for participant, number in stages.items():
        lab = expected_lab_matrix(load_stage_state(root, str(number)))
        others = [o for p, objs in built.items() if p != participant for o in objs]
        variants: Sequence[tuple[str, Objects]] = (
            ("with the whole room", built[participant] + others),
            ("with the copy alone", built[participant]),
            (
                "with the other copies open, closed and selecting any namespace",
                built[participant]
                + others
                + [o for p, objs in hostile.items() if p != participant for o in objs],
            ),
        )
        for variant, objects in variants:
            matrix = copy_matrix(objects, participant)
            for row, column, cell in lab:
                seen = matrix.get(row, column)
                if seen.verdict != cell.verdict:
                    found.append(
                        Dependence(
                            participant.name, row, column, variant, seen.verdict.value, cell.verdict.value
                        )
                    )
    return found
