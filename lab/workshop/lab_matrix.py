"""The lab's own matrix (rows = scenario.ROWS, columns = scenario.COLUMNS), computed by the engine.

This is what ``probe --expect computed`` compares reality with, and what the stage tables
are cross-checked against. Each column is judged the way the probe tries it:

* ``<pod>:<port>``: a TCP connection to the pod's IP on that port; ``<pod>:<port>/udp`` and
  ``/sctp`` the same in UDP and SCTP, judged against that protocol only (a port entry without a
  protocol means TCP, so it opens no UDP).
* ``svc/<name>:<port>``: the probe resolves the Service's name first, so DNS must work
  (egress to CoreDNS on 53/UDP and CoreDNS's ingress), else ``DNS-FAIL``; then kube-proxy
  sends the connection to a backing pod on the Service's ``targetPort`` (policies see the
  pod's port, never the Service's).
* ``dns``: a lookup, i.e. 53/UDP to CoreDNS (both sides); ``dns/tcp`` the same over 53/TCP.
* ``outside`` / ``metadata``: egress to an address outside the pod network.
* ``...@v6`` (a dual-stack lab): the same over IPv6; ``outside@v6`` and ``metadata@v6`` are
  2606:4700:4700::1111:443 and AWS's fd00:ec2::254:80, judged against the policies' IPv6 ipBlocks.
* A pod reaching itself (its own pod or Service column) is not judged (``-``).
"""

from __future__ import annotations

from lab import pins, scenario
from lab.matrix import Cell, Matrix, Verdict
from lab.policy.engine import Engine
from lab.policy.explain import Explanation, explain_flow
from lab.policy.model import ClusterState, ExternalTarget, Pod, Service
from lab.workshop.lab_state import DNS_LABELS, DNS_NAMESPACE, outside_targets

DNS_PORT = 53


def workload_pod(state: ClusterState, workload: scenario.Workload) -> Pod | None:
    """The pod of a lab workload: in its namespace, labelled ``app=<name>``."""
    for pod in state.pods:
        if pod.namespace == workload.namespace and pod.labels.get("app") == workload.name:
            return pod
    return None


def dns_pod(state: ClusterState) -> Pod | None:
    for pod in state.pods:
        if pod.namespace == DNS_NAMESPACE and all(pod.labels.get(k) == v for k, v in DNS_LABELS.items()):
            return pod
    return None


def _service(state: ClusterState, workload: scenario.Workload) -> Service | None:
    for service in state.services:
        if service.namespace == workload.namespace and service.name == workload.name:
            return service
    return None


def _backend(state: ClusterState, service: Service, port: int) -> tuple[Pod, int, str] | None:
    """A pod behind ``service`` and the pod port a connection to ``port`` lands on."""
    entry = next((p for p in service.ports if p.port == port), None)
    if entry is None or service.selector is None:
        return None
    selector = service.selector
    for pod in state.pods:
        if pod.namespace != service.namespace or any(pod.labels.get(k) != v for k, v in selector.items()):
            continue
        if isinstance(entry.target, int):
            return pod, entry.target, entry.protocol
        named = [c for c in pod.ports if c.name == entry.target and c.protocol == entry.protocol]
        if named:
            return pod, named[0].port, entry.protocol
    return None


def _judged(engine: Engine, flow: Explanation, prefix: str = "") -> Cell:
    """The engine's verdict with the explanation's reason (the two are written independently)."""
    source = engine.position[flow.source.key]
    if flow.destination is not None:
        allowed = engine.pod_allowed(source, engine.position[flow.destination.key], flow.port, flow.protocol)
    else:
        allowed = engine.ip_allowed(source, flow.address, flow.port, flow.protocol)
    if allowed != flow.allowed:
        return Cell(Verdict.CHECK_FAILED, "engine and explanation disagree; please report this state")
    verdict = Verdict.ALLOW if allowed else Verdict.DENY
    return Cell(verdict, prefix + flow.reason(), tier=flow.deciding_tier())


def expected_lab_matrix(
    state: ClusterState,
    *,
    outside: str = pins.OUTSIDE_TARGET,
    title: str = "",
    ip_family: str = scenario.IPV4,
) -> Matrix:
    """The engine's verdict for every cell of the lab's matrix (a dual-stack lab's IPv6 twins too)."""
    matrix = Matrix(title=title or "computed")
    targets = {target.label: target for target in outside_targets(outside)}
    coredns = dns_pod(state)
    engine = Engine(state)
    for row in scenario.ROWS:
        source = workload_pod(state, scenario.BY_NAME[row])
        for column in scenario.columns_for(ip_family):
            matrix.set(row, column, _cell(engine, source, row, column, coredns, targets))
    return matrix


def _cell(
    engine: Engine,
    source: Pod | None,
    row: str,
    column: str,
    coredns: Pod | None,
    targets: dict[str, ExternalTarget],
) -> Cell:
    state = engine.state
    spec = scenario.parse_column(column)
    workload = spec.workload
    if workload is not None and workload.name == row:
        return Cell(Verdict.NOT_JUDGED, "a pod reaching itself is not judged")
    if source is None:
        return Cell(Verdict.INCONCLUSIVE, f"no pod of workload {row} (with an IP) in this state")
    if column in targets:
        target = targets[column]
        return _judged(engine, explain_flow(state, source, target.ip, target.port, target.protocol))
    if spec.base in (scenario.DNS_COLUMN, scenario.DNS_TCP_COLUMN) or spec.via_service:
        if coredns is None:
            return Cell(Verdict.INCONCLUSIVE, "no CoreDNS pod (kube-system, k8s-app=kube-dns) in this state")
        # a Service name is resolved over UDP (Go's resolver); dns/tcp asks over TCP
        transport = "TCP" if spec.base == scenario.DNS_TCP_COLUMN else "UDP"
        lookup = explain_flow(state, source, coredns, DNS_PORT, transport)
        dns = _judged(engine, lookup, f"DNS lookup ({transport} 53 to CoreDNS): ")
        if not spec.via_service or dns.verdict == Verdict.CHECK_FAILED:
            return dns
        if dns.verdict == Verdict.DENY:
            return Cell(
                Verdict.DNS_FAIL, "the name does not resolve: " + lookup.reason(), tier=lookup.deciding_tier()
            )
    assert workload is not None and spec.port is not None
    port = spec.port
    if spec.via_service:
        service = _service(state, workload)
        if service is None:
            return Cell(
                Verdict.INCONCLUSIVE, f"no Service {workload.namespace}/{workload.name} in this state"
            )
        backend = _backend(state, service, port)
        if backend is None:
            return Cell(Verdict.INCONCLUSIVE, f"Service {service.key} has no pod behind port {port}")
        pod, pod_port, protocol = backend
        flow = explain_flow(state, source, pod, pod_port, protocol)
        return _judged(engine, flow, f"via Service {service.key} to {pod.key} port {pod_port}: ")
    destination = workload_pod(state, workload)
    if destination is None:
        return Cell(Verdict.INCONCLUSIVE, f"no pod of workload {workload.name} (with an IP) in this state")
    # The evaluator models one address per pod (its IPv4 one): an IPv6 twin is judged by the same
    # policies, with any ipBlock matched against that address, which the lab's stages keep in step.
    prefix = "over IPv6, by the pods' policies: " if spec.family == 6 else ""
    return _judged(engine, explain_flow(state, source, destination, port, spec.protocol), prefix)
