"""What an exec into a model pod answers: agnhost connect, dig, and anything else.

The model has no packets, so connectivity is decided by a ``Reachability`` the test chooses
(an oracle written independently of the lab's evaluator, typically a stage's hand-written
table). The dataplane turns that decision into exactly what the real tools print, per protocol
(kubernetes test/images/agnhost/connect/connect.go, agnhost 2.66): agnhost connect exits 0 when it
connected (UDP and SCTP: when the server's reply came back); TCP prints a bare ``TIMEOUT`` or
``REFUSED``, UDP ``TIMEOUT: <err>`` / ``REFUSED: <err>`` / ``UNKNOWN: <err>``, SCTP a bare
``TIMEOUT`` and ``OTHER: <err>`` for everything else (a refusal, a kernel without SCTP). dig exits 9
with "timed out" when no server answers. A Felix deny action of Reject turns a denied packet into an
ICMP port unreachable, which TCP, UDP and dig report as refused (SCTP rides it out and times out).
``cat /proc/net/protocols`` lists SCTP
when the model's kernel has it (``Dataplane.sctp``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

SUCCESS = {"metadata": {}, "status": "Success"}


@dataclass(frozen=True)
class ExecRequest:
    namespace: str
    pod: str
    container: str
    argv: list[str]
    pod_object: dict[str, Any]
    subprotocol: str


@dataclass(frozen=True)
class ExecReply:
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = 0
    # reply: output, status, close; hang: never finish; drop: cut the connection;
    # no-status: close without the status frame; not-found: the binary does not exist
    mode: str = "reply"

    def status(self) -> dict[str, Any]:
        if self.mode == "not-found":
            return {
                "metadata": {},
                "status": "Failure",
                "message": "OCI runtime exec failed: exec failed: unable to start container process: "
                f'exec: "{self.stdout}": executable file not found in $PATH: unknown',
                "reason": "InternalError",
                "code": 500,
            }
        if self.exit_code == 0:
            return SUCCESS
        return {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command [...]: "
            f"exit code {self.exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(self.exit_code)}]},
        }


@dataclass(frozen=True)
class Flow:
    """One connection attempt as the dataplane sees it."""

    source: dict[str, Any]  # the pod object
    host: str  # as given to agnhost (an IP or a name)
    address: str | None  # the IP it resolved to (None: did not resolve)
    port: int
    protocol: str
    target: dict[str, Any] | None  # the pod behind the address, if any (after Service translation)


# allow, deny, refused (nothing listens), unreachable (no route)
Reachability = Callable[["ModelCluster", Flow], str]


def everything_reachable(cluster: ModelCluster, flow: Flow) -> str:
    """No enforcement at all: pods answer on the ports they declare, the outside if the world has it."""
    if flow.target is not None:
        declared = {
            (int(p.get("containerPort", 0)), p.get("protocol", "TCP"))
            for c in flow.target["spec"].get("containers") or []
            for p in c.get("ports") or []
        }
        return "allow" if (flow.port, flow.protocol) in declared else "refused"
    if flow.address == cluster.world.metadata_ip:
        return "allow" if cluster.metadata_answers() else "deny"
    return "allow" if cluster.world.internet else "deny"


@dataclass
class Dataplane:
    """Answers execs; ``reachability`` decides flows, ``overrides`` script individual execs."""

    reachability: Reachability = everything_reachable
    overrides: list[Callable[[ModelCluster, ExecRequest], ExecReply | None]] = field(default_factory=list)
    dns_works: Callable[[ModelCluster, dict[str, Any]], bool] = lambda cluster, pod: True
    # whether a lookup over TCP (dig +tcp) gets an answer; None: the same as over UDP (dns_works)
    dns_over_tcp_works: Callable[[ModelCluster, dict[str, Any]], bool] | None = None
    sctp: bool = True  # the nodes' kernel has the sctp module

    def exec(self, cluster: ModelCluster, request: ExecRequest) -> ExecReply:
        for override in self.overrides:
            reply = override(cluster, request)
            if reply is not None:
                return reply
        argv = request.argv
        if not argv:
            return ExecReply(
                stderr="error: you must specify at least one command for the container\n", exit_code=1
            )
        if argv[0] == "/agnhost" and argv[1:2] == ["connect"]:
            return self._connect(cluster, request)
        if argv[0] == "dig":
            return self._dig(cluster, request)
        if argv == ["cat", "/proc/net/protocols"]:
            return ExecReply(stdout=self._protocols())
        if argv[0] in ("/agnhost", "sh", "cat", "true", "hostname"):
            return ExecReply(stdout="")
        return ExecReply(stdout=argv[0], exit_code=None, mode="not-found")

    def _protocols(self) -> str:
        """/proc/net/protocols as Linux prints it (the columns after the name left out)."""
        names = [
            "PACKET",
            "PINGv6",
            "RAWv6",
            "UDPLITEv6",
            "UDPv6",
            "TCPv6",
            "UNIX",
            "UDP-Lite",
            "PING",
            "RAW",
            "UDP",
            "TCP",
            "NETLINK",
        ]
        if self.sctp:
            names = ["SCTPv6", *names[:2], "SCTP", *names[2:]]
        header = (
            "protocol  size sockets  memory press maxhdr  slab module     cl co di ac io in de sh ss ...\n"
        )
        return header + "".join(
            f"{name:<10}{1000:>5}      0      -1   NI       0   yes  kernel\n" for name in names
        )

    def _connect(self, cluster: ModelCluster, request: ExecRequest) -> ExecReply:
        target = request.argv[2] if len(request.argv) > 2 else ""
        protocol = "tcp"
        for arg in request.argv[3:]:
            if arg.startswith("--protocol="):
                protocol = arg.split("=", 1)[1]
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            return ExecReply(stderr=f"UNKNOWN: address {target}: missing port in address\n", exit_code=1)
        if protocol == "sctp" and not self.sctp:
            return ExecReply(stderr="OTHER: protocol not supported\n", exit_code=1)
        address: str | None = host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not self.dns_works(cluster, request.pod_object):
                return ExecReply(stderr=f"DNS: lookup {host.rstrip('.')}: i/o timeout\n", exit_code=1)
            address = cluster.resolve(host)
            if address is None:
                return ExecReply(stderr=f"DNS: lookup {host.rstrip('.')}: no such host\n", exit_code=1)
        flow = Flow(request.pod_object, host, address, port, protocol.upper(), None)
        flow = cluster.translate(flow)
        decision = self.reachability(cluster, flow)
        if (
            decision == "deny"
            and cluster.deny_action() == "Reject"
            and cluster.enforces()
            and protocol != "sctp"
        ):
            # felix's REJECT (no --reject-with: ICMP port unreachable), which TCP and UDP report as
            # refused; Linux SCTP takes it as a soft error and keeps resending (net/sctp/input.c),
            # so a rejected SCTP connect still times out
            decision = "refused"
        return self._agnhost_says(protocol, decision, f"{address}:{port}")

    @staticmethod
    def _agnhost_says(protocol: str, decision: str, where: str) -> ExecReply:
        """What agnhost connect prints for a decision, in that protocol's words."""
        if decision == "allow":
            return ExecReply()
        if protocol == "udp":
            read = f"read udp 10.0.0.1:40000->{where}"
            words = {
                "refused": f"REFUSED: {read}: recvfrom: connection refused",
                "unreachable": f"UNKNOWN: {read}: recvfrom: no route to host",
            }
            return ExecReply(stderr=words.get(decision, f"TIMEOUT: {read}: i/o timeout") + "\n", exit_code=1)
        if protocol == "sctp":
            words = {"refused": "OTHER: connection refused", "unreachable": "OTHER: no route to host"}
            return ExecReply(stderr=words.get(decision, "TIMEOUT") + "\n", exit_code=1)
        words = {"refused": "REFUSED", "unreachable": "OTHER: dial tcp: connect: no route to host"}
        return ExecReply(stderr=words.get(decision, "TIMEOUT") + "\n", exit_code=1)

    def _dig(self, cluster: ModelCluster, request: ExecRequest) -> ExecReply:
        name = request.argv[-1]
        works = self.dns_works
        if "+tcp" in request.argv and self.dns_over_tcp_works is not None:
            works = self.dns_over_tcp_works
        if not works(cluster, request.pod_object):
            # under Reject the ICMP unreachable comes back and dig says so (bind9 dighost.c)
            rejected = cluster.deny_action() == "Reject" and cluster.enforces()
            why = "connection refused" if rejected else "timed out"
            return ExecReply(
                stdout=f";; communications error to {cluster.world.dns_ip}#53: {why}\n"
                ";; no servers could be reached\n",
                exit_code=9,
            )
        address = cluster.resolve(name)
        return ExecReply(stdout=f"{address}\n" if address else "")
