"""Doubles for the probe tests: lab pods, agnhost/dig outcomes by verdict, a scripted transport."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lab.boundary.kube import ExecOutcome, LabPod
from lab.matrix import Matrix, Verdict
from lab.probe.controls import CONTROL_APP, CONTROL_NAMESPACE, CONTROL_ROW
from lab.probe.targets import Probe

POD_IPS = {
    "frontend": "192.168.10.10",
    "backend": "192.168.20.10",
    "database": "192.168.10.11",
    "untrusted": "192.168.20.11",
    CONTROL_ROW: "192.168.20.12",
}


def lab_pods(*, with_control: bool = False) -> dict[str, LabPod]:
    pods = {
        name: LabPod(name, f"{name}-7f9c-x{n}", name, ip, "netpol-lab-worker", True)
        for n, (name, ip) in enumerate(POD_IPS.items())
        if name != CONTROL_ROW
    }
    if with_control:
        pods[CONTROL_ROW] = LabPod(
            CONTROL_APP,
            "control-6c5d-x9",
            CONTROL_NAMESPACE,
            POD_IPS[CONTROL_ROW],
            "netpol-lab-worker2",
            True,
        )
    return pods


def connect_outcome(verdict: Verdict, host: str = "backend", protocol: str = "TCP") -> ExecOutcome:
    """What ``agnhost connect`` gives back for a verdict (as the API server reports it), in the
    words agnhost 2.66 uses for ``protocol`` (test/images/agnhost/connect/connect.go)."""
    if verdict == Verdict.ALLOW:
        return ExecOutcome(0)
    udp = f"read udp 192.168.10.10:41000->{host}:80"
    if verdict == Verdict.DENY:
        return ExecOutcome(1, stderr=f"TIMEOUT: {udp}: i/o timeout\n" if protocol == "UDP" else "TIMEOUT\n")
    if verdict == Verdict.REFUSED:
        said = {
            "TCP": "REFUSED",
            "UDP": f"REFUSED: {udp}: recvfrom: connection refused",
            "SCTP": "OTHER: connection refused",
        }
        return ExecOutcome(1, stderr=said[protocol] + "\n")
    if verdict == Verdict.DNS_FAIL:
        return ExecOutcome(1, stderr=f"DNS: lookup {host} on 10.96.0.10:53: read udp: i/o timeout\n")
    if verdict == Verdict.INCONCLUSIVE:
        said = {
            "TCP": "OTHER: dial tcp 1.1.1.1:443: connect: network is unreachable",
            "UDP": f"UNKNOWN: write udp 192.168.10.10:41000->{host}:80: write: network is unreachable",
            "SCTP": "OTHER: protocol not supported",
        }
        return ExecOutcome(1, stderr=said[protocol] + "\n")
    return ExecOutcome(None, error="the command did not finish within 7 s")


PROTOCOLS_WITH_SCTP = (
    "protocol  size sockets\n"
    "SCTPv6     1000   0\n"
    "SCTP       1000   0\n"
    "UDP        1000   0\n"
    "TCP        1000   0\n"
)


def protocols_outcome(sctp: bool = True) -> ExecOutcome:
    """``cat /proc/net/protocols`` on a node with or without the sctp module."""
    listing = (
        PROTOCOLS_WITH_SCTP
        if sctp
        else PROTOCOLS_WITH_SCTP.replace("SCTPv6     1000   0\nSCTP       1000   0\n", "")
    )
    return ExecOutcome(0, stdout=listing)


def dns_outcome(verdict: Verdict) -> ExecOutcome:
    """What ``dig +short`` gives back for a verdict."""
    if verdict == Verdict.ALLOW:
        return ExecOutcome(0, stdout="10.96.0.1\n")
    if verdict == Verdict.DENY:
        return ExecOutcome(9, stdout=";; connection timed out; no servers could be reached\n")
    return ExecOutcome(None, error="exec could not start: Handshake status 404 Not Found")


def outcome_for(probe: Probe, verdict: Verdict) -> ExecOutcome:
    if probe.target.is_lookup:
        return dns_outcome(verdict)
    return connect_outcome(verdict, probe.target.host, probe.target.protocol)


@dataclass
class Call:
    namespace: str
    pod: str
    container: str
    argv: tuple[str, ...]
    timeout: float
    thread: str


Answer = Callable[[int], ExecOutcome]  # try number (1, 2, ...) -> outcome


@dataclass
class ScriptedTransport:
    """Answers each (pod, argv) from a script; records every call (shared across workers)."""

    script: dict[tuple[str, tuple[str, ...]], Answer]
    calls: list[Call] = field(default_factory=list)
    delay: Callable[[Sequence[str]], float] = lambda argv: 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecOutcome:
        key = (pod, tuple(argv))
        with self.lock:
            self.calls.append(
                Call(namespace, pod, container, tuple(argv), timeout, threading.current_thread().name)
            )
            tries = sum(1 for c in self.calls if (c.pod, c.argv) == key)
        wait = self.delay(argv)
        if wait:
            time.sleep(wait)
        return self.script[key](tries)


def script_from_matrix(probes: Sequence[Probe], matrix: Matrix) -> dict[tuple[str, tuple[str, ...]], Answer]:
    """Every probe answers with the verdict ``matrix`` holds for its cell, on every try."""
    script: dict[tuple[str, tuple[str, ...]], Answer] = {}
    for probe in probes:
        outcome = outcome_for(probe, matrix.get(probe.row, probe.column).verdict)
        script[(probe.source.name, probe.argv)] = always(outcome)
    return script


def always(outcome: ExecOutcome) -> Answer:
    return lambda _: outcome


def sequence(*outcomes: ExecOutcome) -> Answer:
    """The n-th try gets the n-th outcome (the last one repeats)."""
    return lambda tries: outcomes[min(tries, len(outcomes)) - 1]
