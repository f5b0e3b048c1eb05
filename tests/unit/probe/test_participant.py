"""A room participant's probes: the scenario's matrix, aimed at the participant's namespaces only."""

from __future__ import annotations

from dataclasses import replace

from lab import scenario
from lab.boundary.kube import LabPod
from lab.probe.participant import retarget, service_host
from lab.probe.targets import plan_probes
from tests.unit.probe.fakes import lab_pods

COPY = {w.name: f"p02-{w.name}" for w in scenario.WORKLOADS}


def copy_pods() -> dict[str, LabPod]:
    return {row: replace(pod, namespace=COPY[row]) for row, pod in lab_pods().items()}


def test_service_columns_resolve_the_copys_service_and_the_line_to_type_says_so() -> None:
    probes = {(p.row, p.column): p for p in retarget(plan_probes(copy_pods(), timeout=2), COPY)}
    probe = probes[("frontend", "svc/backend:80")]
    assert probe.target.host == "backend.p02-backend.svc.cluster.local."
    assert probe.argv[2] == "backend.p02-backend.svc.cluster.local.:80"
    assert "backend.p02-backend.svc.cluster.local.:80" in probe.command
    assert " -n p02-frontend deploy/frontend " in probe.command
    assert "backend.backend.svc" not in probe.command


def test_every_probe_starts_in_and_aims_at_the_copy_or_outside_the_cluster() -> None:
    probes = retarget(plan_probes(copy_pods(), timeout=2), COPY)
    pod_ips = {pod.ip for pod in copy_pods().values()}
    for probe in probes:
        assert probe.source.namespace.startswith("p02-")
        host = probe.target.host
        assert (
            host in pod_ips
            or host.endswith(".p02-" + host.split(".")[0] + ".svc.cluster.local.")
            or probe.column in (scenario.DNS_COLUMN, scenario.OUTSIDE_COLUMN, scenario.METADATA_COLUMN)
            or probe.target.is_lookup
        ), probe


def test_the_lab_itself_is_left_as_it_was() -> None:
    probes = plan_probes(lab_pods(), timeout=2)
    assert retarget(probes, {}) == probes
    assert (
        service_host(scenario.BY_NAME["database"], "p09-database")
        == "database.p09-database.svc.cluster.local"
    )
