"""The workshop scenario as data: the four workloads and the matrix they are judged by.

Everything that names a lab pod, port or matrix column reads it from here, so the
manifests, the probes, the evaluator and the expectation tables cannot drift apart
silently (tests check the manifests against this module).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab import pins


@dataclass(frozen=True)
class Workload:
    """One lab workload: a Deployment of one agnhost pod and its Service, in its own namespace."""

    name: str  # also its namespace, Deployment, Service and `app` label
    role: str  # the `role` label the policies select on
    port: int
    port_name: str
    slot: str  # the worker node it is pinned to (node label netpol-lab/slot)

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def column(self) -> str:
        """Matrix column for a connection to this pod's IP."""
        return f"{self.name}:{self.port}"

    @property
    def service_host(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


# Placement: frontend and database share worker a, backend and untrusted worker b, so the
# allowed flows (frontend->backend, backend->database) cross nodes, and denied flows
# exist both across nodes (untrusted->frontend) and within one (untrusted->backend).
WORKLOADS: tuple[Workload, ...] = (
    Workload("frontend", "frontend", 80, "http", "a"),
    Workload("backend", "backend", 80, "http", "b"),
    Workload("database", "database", 3306, "mysql", "a"),
    Workload("untrusted", "frontend", 80, "http", "b"),  # the impostor: right label, wrong namespace
)
BY_NAME = {w.name: w for w in WORKLOADS}
LAB_NAMESPACES: tuple[str, ...] = tuple(w.namespace for w in WORKLOADS)
PROTECTED: tuple[str, ...] = ("frontend", "backend", "database")
SLOT_LABEL = "netpol-lab/slot"

# Matrix columns, in display order.
SERVICE_WORKLOADS = ("backend", "database")
DNS_COLUMN = "dns"
OUTSIDE_COLUMN = "outside"
METADATA_COLUMN = "metadata"
POD_COLUMNS: tuple[str, ...] = tuple(w.column for w in WORKLOADS)
SERVICE_COLUMNS: tuple[str, ...] = tuple(f"svc/{BY_NAME[n].column}" for n in SERVICE_WORKLOADS)
COLUMNS: tuple[str, ...] = (*POD_COLUMNS, *SERVICE_COLUMNS, DNS_COLUMN, OUTSIDE_COLUMN, METADATA_COLUMN)
ROWS: tuple[str, ...] = tuple(w.name for w in WORKLOADS)

DNS_LOOKUP_NAME = "kubernetes.default.svc.cluster.local"  # a cluster name every cluster has
METADATA_TARGET = f"{pins.METADATA_IP}:80"


def column_workload(column: str) -> Workload | None:
    """The workload a pod or service column points at (None for dns/outside/metadata)."""
    name = column.removeprefix("svc/").split(":", 1)[0]
    return BY_NAME.get(name)
