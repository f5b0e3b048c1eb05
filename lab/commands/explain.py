"""Explain why one flow is allowed or denied: which policies isolate each side, which rule allows it,
or why no rule matched (peer labels, namespace, address, port or protocol).

FROM is a pod (NAMESPACE/NAME); TO is a pod or an IP address; PORT is the destination pod's
port number or port name, optionally with /TCP, /UDP or /SCTP (default TCP). The state comes
from the lab's stages (default `--stage seed`), a saved file (`--state FILE`) or a live cluster
(`--from-cluster`).

Examples:
  netpol-lab explain untrusted/untrusted backend/backend 80
  netpol-lab explain frontend/frontend kube-system/coredns 53/UDP --stage 1
  netpol-lab explain backend/backend 169.254.169.254 80 --stage 5
"""

from __future__ import annotations

import argparse
import ipaddress

from lab.commands._state import add_state_arguments, find_pod, print_notes, state_from_args
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.policy.explain import Explainer
from lab.policy.model import PROTOCOLS, Pod, decimal, printable, shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="FROM", help="the source pod, NAMESPACE/NAME")
    parser.add_argument("target", metavar="TO", help="the destination pod (NAMESPACE/NAME) or an IP address")
    parser.add_argument("port", metavar="PORT[/PROTO]", help="port number or name, e.g. 80, 53/UDP, http")
    add_state_arguments(parser)


def parse_port(text: str, destination: Pod | None) -> tuple[int, str]:
    """A port number, or a port name resolved on the destination pod; the protocol defaults to TCP."""
    spec, slash, protocol = text.partition("/")
    protocol = protocol.upper() if slash else ""
    quoted = shown(text)  # short, control characters escaped
    if protocol and protocol not in PROTOCOLS:
        raise LabError(f"port {quoted}: protocol must be TCP, UDP or SCTP", ExitStatus.USAGE)
    if decimal(spec):  # ASCII digits only ('²'.isdigit() is true)
        if len(spec) <= 5 and 1 <= int(spec) <= 65535:
            return int(spec), protocol or "TCP"
        raise LabError(f"port {quoted}: a port number is 1-65535", ExitStatus.USAGE)
    if destination is None:
        raise LabError(f"port {quoted}: a port name needs a destination pod; give a number", ExitStatus.USAGE)
    named = [p for p in destination.ports if p.name == spec and (not protocol or p.protocol == protocol)]
    if not named:
        declared = ", ".join(f"{p.name or '-'}={p.port}/{p.protocol}" for p in destination.ports) or "none"
        raise LabError(
            printable(f"{destination.key} declares no port named {spec!r} (its ports: {declared})"),
            ExitStatus.USAGE,
        )
    return named[0].port, named[0].protocol


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    state = state_from_args(args, env)
    print_notes(state, env)
    source = find_pod(state, args.source)
    target: Pod | str
    try:
        target = str(ipaddress.ip_address(args.target))
    except ValueError:
        target = find_pod(state, args.target)
    port, protocol = parse_port(args.port, target if isinstance(target, Pod) else None)
    flow = Explainer(state).flow(source, target, port, protocol)
    env.out(printable(f"state: {state.source}"))
    for line in flow.lines():  # names, labels and selectors from input: control characters escaped
        env.out(printable(line))
    return ExitStatus.SUCCESS
