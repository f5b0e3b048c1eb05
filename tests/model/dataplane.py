"""What an exec into a model pod answers: agnhost connect, dig, and anything else.

The model has no packets, so connectivity is decided by a ``Reachability`` the test chooses
(an oracle written independently of the lab's evaluator, typically a stage's hand-written
table). The dataplane turns that decision into exactly what the real tools print:
agnhost connect exits 0 when it connects and prints ``TIMEOUT`` or ``REFUSED`` on stderr when
it does not (kubernetes test/images/agnhost/connect/connect.go); dig exits 9 with "timed out"
when no server answers. A Felix deny action of Reject turns a denied TCP connect into REFUSED.
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
        if argv[0] in ("/agnhost", "sh", "cat", "true", "hostname"):
            return ExecReply(stdout="")
        return ExecReply(stdout=argv[0], exit_code=None, mode="not-found")

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
            return ExecReply(stderr=f"OTHER: invalid address {target!r}\n", exit_code=1)
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
        if decision == "allow":
            return ExecReply()
        if decision == "refused":
            return ExecReply(stderr="REFUSED\n", exit_code=1)
        if decision == "unreachable":
            return ExecReply(stderr="UNKNOWN: dial tcp: connect: no route to host\n", exit_code=1)
        if cluster.deny_action() == "Reject" and cluster.enforces() and decision == "deny":
            # felix's REJECT (no --reject-with: ICMP port unreachable), which connect() reports as refused
            return ExecReply(stderr="REFUSED\n", exit_code=1)
        return ExecReply(stderr="TIMEOUT\n", exit_code=1)

    def _dig(self, cluster: ModelCluster, request: ExecRequest) -> ExecReply:
        name = request.argv[-1]
        if not self.dns_works(cluster, request.pod_object):
            return ExecReply(
                stdout=f";; communications error to {cluster.world.dns_ip}#53: timed out\n"
                ";; no servers could be reached\n",
                exit_code=9,
            )
        address = cluster.resolve(name)
        return ExecReply(stdout=f"{address}\n" if address else "")
