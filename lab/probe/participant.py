"""Probing one participant's copy in a room: the same matrix, the participant's namespaces.

A room copy runs the scenario's four workloads under the participant's prefix (``p02-backend``).
Rows and columns keep the scenario's names, so the stages' tables judge the copy as they judge the
lab; only where the probes go changes: the pods are found in the copy's namespaces (``namespaces``:
scenario namespace -> the copy's), and a Service column resolves the copy's Service
(``backend.p02-backend.svc.cluster.local``). Nothing of another participant is ever a target: the
targets are the copy's own pods, DNS and the outside addresses.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace

from lab import scenario
from lab.boundary.kube import UP_HINT, KubeClients, LabPod, find_pod
from lab.errors import ExitStatus, LabError
from lab.probe.targets import Probe, Target


def participant_pods(clients: KubeClients, namespaces: Mapping[str, str]) -> dict[str, LabPod]:
    """One running pod per workload of the copy, keyed by the scenario's row name."""
    found: dict[str, LabPod] = {}
    missing: list[str] = []
    for row in scenario.ROWS:
        namespace = namespaces[row]
        pod = find_pod(clients, namespace, row)
        if pod is None:
            missing.append(namespace)
        else:
            found[row] = pod
    if missing:
        raise LabError(
            f"no running pod in {', '.join(missing)} (context {clients.context}): the room's copy is not up "
            f"yet; ask the instructor (`netpol-lab room status`) or, on a laptop, {UP_HINT}",
            ExitStatus.MISSING_PREREQUISITE,
        )
    return found


def service_host(workload: scenario.Workload, namespace: str) -> str:
    return f"{workload.name}.{namespace}.svc.cluster.local"


def retarget(probes: Sequence[Probe], namespaces: Mapping[str, str]) -> list[Probe]:
    """The probes with every Service name moved to the copy's namespaces (argv and the line to type)."""
    moved: dict[str, str] = {}
    for workload in scenario.WORKLOADS:
        if workload.name in namespaces:
            moved[workload.service_host + "."] = service_host(workload, namespaces[workload.name]) + "."
    out = []
    for probe in probes:
        target = probe.target
        host = moved.get(target.host)
        if host is None:
            out.append(probe)
            continue
        argv = tuple(arg.replace(target.host, host) for arg in probe.argv)
        command = shlex.join(shlex.split(probe.command.replace(target.host, host)))
        out.append(replace(probe, target=_moved(target, host), argv=argv, command=command))
    return out


def _moved(target: Target, host: str) -> Target:
    return replace(target, host=host)
