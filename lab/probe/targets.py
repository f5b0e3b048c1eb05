"""What to try from each lab pod: one probe per matrix cell (row = source pod, column = target).

Columns come from ``lab.scenario.COLUMNS``: every lab pod's IP on the port it serves (TCP, and
UDP or SCTP where the column says so), the backend and database Services by DNS name, a DNS
lookup over UDP and one over TCP, one outside address and the cloud metadata address. A pod
reaching itself (by IP or through its own Service) is not probed: loopback and hairpin traffic
say nothing about a NetworkPolicy.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lab import pins, scenario
from lab.boundary.kube import CONTAINER, LabPod
from lab.probe import agnhost


@dataclass(frozen=True)
class Target:
    """Where one column points: a host and port to connect to, or a name to look up."""

    column: str
    host: str
    port: int | None = None  # None: a DNS lookup of ``host``
    # Something is known to answer there: a Ready lab workload on the port it serves, or a target the
    # control pod checks; a refusal there under Calico's Reject is then a policy's, not a closed port.
    listens: bool = False
    protocol: str = "TCP"  # a lookup's transport: UDP (dig's default) or TCP (dig +tcp)

    @property
    def is_lookup(self) -> bool:
        return self.port is None

    @property
    def by_name(self) -> bool:
        """Whether connecting needs a name lookup first (not an IP address)."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return True
        return False

    @property
    def address(self) -> str:
        if self.port is None:
            return self.host
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Probe:
    """One attempt to make from one pod: the exec argv, its time budget and how to reproduce it."""

    row: str
    column: str
    source: LabPod
    target: Target
    argv: tuple[str, ...]
    timeout: float  # the probe's own timeout (agnhost --timeout, dig +time)
    budget: float  # how long the whole exec may take
    command: str  # the kubectl line that runs the same probe by hand

    @property
    def container(self) -> str:
        return CONTAINER


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); ValueError with the expected form otherwise."""
    value = text.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
    else:
        host, _, port_text = value.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (for example {pins.OUTSIDE_TARGET})")
    return host, int(port_text)


def is_self(row: str, column: str) -> bool:
    """Whether ``column`` points back at the ``row`` pod itself (its IP or its own Service)."""
    workload = scenario.column_workload(column)
    return workload is not None and workload.name == row


def target_for(column: str, pods: Mapping[str, LabPod], outside: tuple[str, int]) -> Target:
    """The target of one matrix column."""
    try:
        spec = scenario.parse_column(column)
    except ValueError:
        raise ValueError(f"unknown matrix column {column!r}") from None
    ipv6 = spec.family == 6
    if spec.base in (scenario.DNS_COLUMN, scenario.DNS_TCP_COLUMN):
        return Target(column, scenario.DNS_LOOKUP_NAME.rstrip(".") + ".", protocol=spec.protocol)
    # The control pod checks the outside and metadata targets: what it cannot reach proves nothing.
    if spec.base == scenario.OUTSIDE_COLUMN:
        host, port = parse_host_port(scenario.OUTSIDE_TARGET_V6) if ipv6 else outside
        return Target(column, host, port, listens=True)
    if spec.base == scenario.METADATA_COLUMN:
        return Target(column, scenario.METADATA_IP_V6 if ipv6 else pins.METADATA_IP, 80, listens=True)
    workload = spec.workload
    assert workload is not None and spec.port is not None
    if spec.via_service:
        # fully qualified with a trailing dot: one lookup, no search-list expansion
        return Target(column, workload.service_host + ".", spec.port, listens=pods[workload.name].ready)
    pod = pods[workload.name]
    address = pod.ipv6 if ipv6 else pod.ip
    if not address:
        raise ValueError(f"column {column}: pod {pod.namespace}/{pod.name} has no IPv6 address")
    return Target(column, address, spec.port, listens=pod.ready, protocol=spec.protocol)


def kubectl_exec_line(kubectl: Sequence[str], pod: LabPod, argv: Sequence[str]) -> str:
    """``kubectl [--context C] exec -n NS deploy/NAME -- ARGV``: the same probe, by hand."""
    return shlex.join([*kubectl, "exec", "-n", pod.namespace, f"deploy/{pod.deployment}", "--", *argv])


def plan_probes(
    pods: Mapping[str, LabPod],
    *,
    outside: tuple[str, int] | None = None,
    timeout: float = 2.0,
    rows: Sequence[str] = scenario.ROWS,
    columns: Sequence[str] = scenario.COLUMNS,
    kubectl: Sequence[str] = ("kubectl",),
) -> list[Probe]:
    """Every probe of the matrix, self cells left out, in row then column order."""
    outside_target = outside or parse_host_port(pins.OUTSIDE_TARGET)
    probes = []
    for row in rows:
        source = pods[row]
        for column in columns:
            if is_self(row, column):
                continue
            target = target_for(column, pods, outside_target)
            if target.is_lookup:
                argv = agnhost.dns_argv(target.host, timeout, tcp=target.protocol == "TCP")
                budget = agnhost.dns_budget(timeout)
            else:
                assert target.port is not None
                argv = agnhost.connect_argv(target.host, target.port, timeout, target.protocol)
                budget = agnhost.connect_budget(timeout, by_name=target.by_name)
            probes.append(
                Probe(
                    row,
                    column,
                    source,
                    target,
                    argv,
                    timeout,
                    budget,
                    kubectl_exec_line(kubectl, source, argv),
                )
            )
    return probes
