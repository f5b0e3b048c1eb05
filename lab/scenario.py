"""The workshop scenario as data: the four workloads and the matrix they are judged by.

Everything that names a lab pod, port or matrix column reads it from here, so the
manifests, the probes, the evaluator and the expectation tables cannot drift apart
silently (tests check the manifests against this module).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab import pins

TCP, UDP, SCTP = "TCP", "UDP", "SCTP"
IPV6_SUFFIX = "@v6"  # the IPv6 twin of a column, probed only in a dual-stack lab


@dataclass(frozen=True)
class Workload:
    """One lab workload: a Deployment of one agnhost pod and its Service, in its own namespace.

    Every workload serves TCP (HTTP) and UDP on the same port number: agnhost netexec answers the
    UDP command ``hostname``, which is what ``agnhost connect --protocol=udp`` sends, so a UDP cell
    is ALLOW only when a reply came back. ``sctp`` workloads also serve SCTP on that number (a
    second container, which falls back to idling where the kernel has no SCTP).
    """

    name: str  # also its namespace, Deployment, Service and `app` label
    role: str  # the `role` label the policies select on
    port: int
    port_name: str
    slot: str  # the worker node it is pinned to (node label netpol-lab/slot)
    sctp: bool = False

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def column(self) -> str:
        """Matrix column for a TCP connection to this pod's IP."""
        return self.column_for(TCP)

    def column_for(self, protocol: str) -> str:
        """``backend:80`` (TCP), ``backend:80/udp``, ``database:3306/sctp``."""
        base = f"{self.name}:{self.port}"
        return base if protocol == TCP else f"{base}/{protocol.lower()}"

    @property
    def udp_port_name(self) -> str:
        return f"{self.port_name}-udp"

    @property
    def sctp_port_name(self) -> str:
        return f"{self.port_name}-sctp"

    @property
    def service_host(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


# Placement: frontend and database share worker a, backend and untrusted worker b, so the
# allowed flows (frontend->backend, backend->database) cross nodes, and denied flows
# exist both across nodes (untrusted->frontend) and within one (untrusted->backend).
WORKLOADS: tuple[Workload, ...] = (
    Workload("frontend", "frontend", 80, "http", "a"),
    Workload("backend", "backend", 80, "http", "b"),
    Workload("database", "database", 3306, "mysql", "a", sctp=True),
    Workload("untrusted", "frontend", 80, "http", "b"),  # the impostor: right label, wrong namespace
)
BY_NAME = {w.name: w for w in WORKLOADS}
LAB_NAMESPACES: tuple[str, ...] = tuple(w.namespace for w in WORKLOADS)
PROTECTED: tuple[str, ...] = ("frontend", "backend", "database")
SLOT_LABEL = "netpol-lab/slot"

# Matrix columns, in display order: each pod's TCP column, then its UDP and SCTP ones (for the
# two workloads the rules open, so a TCP rule can be seen not to open UDP), the Services, DNS
# over UDP and over TCP (allowing 53/UDP alone is the classic trap), the outside, the metadata.
SERVICE_WORKLOADS = ("backend", "database")
UDP_WORKLOADS = ("backend", "database")
DNS_COLUMN = "dns"
DNS_TCP_COLUMN = "dns/tcp"
OUTSIDE_COLUMN = "outside"
METADATA_COLUMN = "metadata"


def _pod_columns(workload: Workload) -> tuple[str, ...]:
    columns = [workload.column]
    if workload.name in UDP_WORKLOADS:
        columns.append(workload.column_for(UDP))
    if workload.sctp:
        columns.append(workload.column_for(SCTP))
    return tuple(columns)


POD_COLUMNS: tuple[str, ...] = tuple(c for w in WORKLOADS for c in _pod_columns(w))
SERVICE_COLUMNS: tuple[str, ...] = tuple(f"svc/{BY_NAME[n].column}" for n in SERVICE_WORKLOADS)
COLUMNS: tuple[str, ...] = (
    *POD_COLUMNS,
    *SERVICE_COLUMNS,
    DNS_COLUMN,
    DNS_TCP_COLUMN,
    OUTSIDE_COLUMN,
    METADATA_COLUMN,
)
ROWS: tuple[str, ...] = tuple(w.name for w in WORKLOADS)

DNS_LOOKUP_NAME = "kubernetes.default.svc.cluster.local"  # a cluster name every cluster has
METADATA_TARGET = f"{pins.METADATA_IP}:80"
# The IPv6 counterparts: AWS serves instance metadata on fd00:ec2::254 as well (on Nitro
# instances, when enabled); GCP and Azure have no IPv6 metadata address. Cloudflare's 1.1.1.1
# answers on 2606:4700:4700::1111 too.
METADATA_IP_V6 = "fd00:ec2::254"
OUTSIDE_TARGET_V6 = "[2606:4700:4700::1111]:443"

IPV4, DUAL = "ipv4", "dual"  # kind's networking.ipFamily values the lab builds (ipv6-only it does not)
IP_FAMILIES = (IPV4, DUAL)
# A dual-stack lab's IPv6 ranges beside pins.POD_SUBNET and pins.SERVICE_SUBNET: kind's own IPv6
# defaults (kind v0.32.0 pkg/apis/config/v1alpha4/default.go: fd00:10:244::/56 for pods,
# fd00:10:96::/112 for Services). Calico's IPv6 pool is the pod range (the operator refuses a pool
# outside the cluster's pod CIDRs). kind puts the nodes' IPv6 addresses on its Docker network
# `kind`, whose ULA subnet it derives from the network's name: fc00:f853:ccd:e793::/64
# (pkg/cluster/internal/providers/docker/network.go).
POD_SUBNET_V6 = "fd00:10:244::/56"
SERVICE_SUBNET_V6 = "fd00:10:96::/112"
NODE_SUBNET_V6 = "fc00:f853:ccd:e793::/64"
# Columns with an IPv6 twin: the pod addresses and the addresses outside the cluster. Services keep
# one family (a Service is single-stack unless it asks for more) and DNS is asked over IPv4.
_HAS_IPV6_TWIN = frozenset((*POD_COLUMNS, OUTSIDE_COLUMN, METADATA_COLUMN))


def ipv6_column(column: str) -> str:
    return column + IPV6_SUFFIX


def columns_for(ip_family: str = IPV4) -> tuple[str, ...]:
    """The matrix columns of a lab of this IP family: a dual-stack lab puts each IPv6 twin beside."""
    if ip_family != DUAL:
        return COLUMNS
    out: list[str] = []
    for column in COLUMNS:
        out.append(column)
        if column in _HAS_IPV6_TWIN:
            out.append(ipv6_column(column))
    return tuple(out)


ALL_COLUMNS: tuple[str, ...] = columns_for(DUAL)


@dataclass(frozen=True)
class Column:
    """What one matrix column names: its target, protocol and IP family."""

    name: str
    base: str  # the column without its family suffix
    protocol: str
    family: int  # 4 or 6
    workload: Workload | None = None
    port: int | None = None

    @property
    def via_service(self) -> bool:
        return self.base.startswith("svc/")


def parse_column(column: str) -> Column:
    """``database:3306/udp@v6`` -> Column(database, 3306, UDP, 6); ValueError for an unknown one."""
    if column not in ALL_COLUMNS:
        raise ValueError(f"unknown matrix column {column!r}")
    family = 6 if column.endswith(IPV6_SUFFIX) else 4
    base = column.removesuffix(IPV6_SUFFIX)
    if base in (DNS_COLUMN, OUTSIDE_COLUMN, METADATA_COLUMN):
        return Column(column, base, UDP if base == DNS_COLUMN else TCP, family)
    if base == DNS_TCP_COLUMN:
        return Column(column, base, TCP, family)
    target, _, protocol = base.partition("/") if not base.startswith("svc/") else (base, "", "")
    name, _, port = target.removeprefix("svc/").partition(":")
    return Column(column, base, (protocol or "tcp").upper(), family, BY_NAME[name], int(port))


def column_workload(column: str) -> Workload | None:
    """The workload a pod or service column points at (None for dns/outside/metadata)."""
    name = column.removeprefix("svc/").split(":", 1)[0]
    return BY_NAME.get(name)
