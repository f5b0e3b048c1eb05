"""The probe command lines run inside the lab pods, and what their outcomes mean.

Connections use agnhost's ``connect`` subcommand (test/images/agnhost/connect/connect.go in
kubernetes/kubernetes, agnhost 2.66), which exits 0 on success and 1 with a fixed prefix on
stderr otherwise. What each protocol prints differs, and the classification follows it exactly:

* TCP: ``TIMEOUT``, ``REFUSED`` (ECONNREFUSED), ``DNS: <err>``, ``UNKNOWN: <err>`` (a bad
  address), ``OTHER: <err>``. Success is a completed handshake.
* UDP: it sends ``hostname`` and waits for the reply, so success means the server answered (a
  UDP "connect" alone proves nothing). Failures: ``DNS: <err>``, ``OTHER: <err>`` (the socket
  could not be made, or a reply of zero bytes), then for the write or the read ``TIMEOUT: <err>``,
  ``REFUSED: <err>`` (an ICMP port unreachable came back) or ``UNKNOWN: <err>``.
* SCTP: it sends ``hostname`` and reads a reply too. ``DNS: <err>``, ``TIMEOUT`` when
  ``--timeout`` passed first, and ``OTHER: <err>`` for every other error, a refused association
  (``connection refused``) and a kernel without SCTP (``protocol not supported``) included.

Its ``--timeout`` defaults to 0 (no timeout for TCP and UDP; SCTP gives up at once), so it is
always passed; it does not bound the name lookup, so names are written fully qualified with a
trailing dot (no search-list expansion) and the exec itself is bounded too.

The DNS lookup uses ``dig`` (bind-tools, installed in the agnhost image) with one try and
a per-try timeout, over UDP or with ``+tcp`` over TCP: exit 0 means a DNS server answered,
exit 9 means no server replied.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.boundary.kube import ExecOutcome
from lab.matrix import Verdict

AGNHOST = "/agnhost"
DIG = "dig"
DIG_NO_REPLY = 9  # dig(1): "No reply from server"
# Overhead allowed on top of a probe's own timeout before the exec counts as hung.
EXEC_OVERHEAD = 5.0
# Go's resolver (agnhost) waits 5 s per try and tries twice when DNS is blocked; a lookup
# is not bounded by --timeout, so a probe by name gets this much longer.
NAME_RESOLUTION_BUDGET = 10.0


@dataclass(frozen=True)
class Classified:
    """A verdict and what was seen."""

    verdict: Verdict
    reason: str


def seconds(timeout: float) -> str:
    """``2s``, ``1.5s``: a Go duration for agnhost's --timeout."""
    return f"{timeout:g}s"


PROTOCOLS = ("TCP", "UDP", "SCTP")


def connect_argv(host: str, port: int, timeout: float, protocol: str = "TCP") -> tuple[str, ...]:
    """``/agnhost connect HOST:PORT --timeout=Ns --protocol=tcp|udp|sctp``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"agnhost connect speaks TCP, UDP or SCTP, not {protocol!r}")
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (AGNHOST, "connect", address, f"--timeout={seconds(timeout)}", f"--protocol={protocol.lower()}")


def dns_argv(name: str, timeout: float, *, tcp: bool = False) -> tuple[str, ...]:
    """``dig [+tcp] +time=N +tries=1 +short NAME``: one query, answered within N seconds or given up."""
    per_try = max(1, round(timeout))  # dig takes whole seconds
    return (DIG, *(("+tcp",) if tcp else ()), f"+time={per_try}", "+tries=1", "+short", name)


def connect_budget(timeout: float, *, by_name: bool) -> float:
    """How long the exec of a connect probe may take before it counts as hung."""
    return timeout + EXEC_OVERHEAD + (NAME_RESOLUTION_BUDGET if by_name else 0.0)


def dns_budget(timeout: float) -> float:
    return max(1, round(timeout)) + EXEC_OVERHEAD


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _failed_exec(outcome: ExecOutcome) -> Classified | None:
    """CHECK_FAILED when the exec itself failed: never a verdict on the flow."""
    if outcome.exit_code is None or outcome.error:
        return Classified(Verdict.CHECK_FAILED, outcome.error or "the exec gave no exit status")
    return None


DROP = "Drop"
REJECT = "Reject"


def classify_connect(
    outcome: ExecOutcome,
    timeout: float,
    *,
    deny_action: str = DROP,
    listens: bool = False,
    protocol: str = "TCP",
) -> Classified:
    """The verdict of one ``agnhost connect`` run, read the way agnhost writes it for ``protocol``.

    ``deny_action`` is what the CNI does with a denied packet: Drop (the default everywhere) makes a
    blocked connect time out; Calico's Reject (FelixConfiguration ``iptablesFilterDenyAction``) sends
    ICMP port-unreachable, which a TCP connect and a UDP read report as REFUSED, the same word as a
    closed port. ``listens`` says something is known to answer there: a lab workload that is Ready, or a
    target the control pod checks (the outside and metadata columns, where a refusal stays DENY only if
    the control reaches the target). Then a REFUSED under Reject is the policy's denial; anywhere else
    it proves nothing."""
    failed = _failed_exec(outcome)
    if failed:
        return failed
    if outcome.exit_code == 0:
        if protocol == "TCP":
            return Classified(Verdict.ALLOW, "connected")
        return Classified(Verdict.ALLOW, f"the {protocol} server answered")
    said = _first_line(outcome.stderr)
    if outcome.exit_code == 1:
        word, detail = _failure_word(said, protocol)
        if word:
            # Linux SCTP takes an ICMP unreachable as a soft error and keeps resending its INIT
            # (net/sctp/input.c): under Reject an SCTP denial still times out, and an SCTP refusal
            # is the peer's ABORT (nothing listened), never the policy's
            rejecting = deny_action == REJECT and protocol != "SCTP"
            return _failure_verdict(word, detail, timeout, rejecting, listens, protocol)
    text = said or _first_line(outcome.stdout) or "no output"
    return Classified(
        Verdict.CHECK_FAILED, f"unexpected result of agnhost connect (exit {outcome.exit_code}): {text}"
    )


def _failure_word(said: str, protocol: str) -> tuple[str, str]:
    """What failed, as one of TIMEOUT, REFUSED, DNS, UNKNOWN, OTHER, NO-SCTP (and agnhost's detail).

    TCP prints a bare ``TIMEOUT`` and ``REFUSED``; UDP prefixes both to the error (``TIMEOUT: read
    udp ...: i/o timeout``); SCTP prints a bare ``TIMEOUT`` and puts a refusal under ``OTHER:``."""
    head, colon, rest = said.partition(":")
    detail = rest.strip()
    if said.startswith("DNS:"):
        return "DNS", detail
    if protocol == "UDP":
        if colon and head in ("TIMEOUT", "REFUSED", "UNKNOWN", "OTHER"):
            return head, detail
        return "", ""
    if said in ("TIMEOUT", "REFUSED") and (protocol == "TCP" or said == "TIMEOUT"):
        return said, ""
    if colon and head in ("UNKNOWN", "OTHER"):
        if protocol == "SCTP" and head == "OTHER" and "connection refused" in detail:
            return "REFUSED", detail
        if protocol == "SCTP" and "protocol not supported" in detail:
            return "NO-SCTP", detail
        return head, detail
    return "", ""


def _failure_verdict(
    word: str, detail: str, timeout: float, rejecting: bool, listens: bool, protocol: str
) -> Classified:
    if word == "TIMEOUT" and rejecting:
        return Classified(
            Verdict.INCONCLUSIVE,
            f"no answer within {seconds(timeout)}, yet denied packets are rejected here (Felix's deny "
            "action is Reject): something other than a policy dropped it",
        )
    if word == "TIMEOUT":
        blocked = "no reply" if protocol != "TCP" else "no answer"
        return Classified(
            Verdict.DENY, f"{blocked} within {seconds(timeout)}: blocked (denied packets are dropped)"
        )
    if word == "REFUSED" and rejecting and listens:
        return Classified(
            Verdict.DENY,
            "refused where something answers: rejected by a policy (Felix's deny action is Reject)",
        )
    if word == "REFUSED" and rejecting:
        return Classified(
            Verdict.INCONCLUSIVE,
            "refused: with Felix's deny action Reject, a denial and a closed port look the same here",
        )
    if word == "REFUSED":
        return Classified(Verdict.REFUSED, "connection refused: the packet got through, nothing listened")
    if word == "DNS":
        return Classified(Verdict.DNS_FAIL, f"the name did not resolve ({detail})")
    if word == "NO-SCTP":
        return Classified(Verdict.INCONCLUSIVE, f"this pod's kernel has no SCTP (agnhost: {detail})")
    # no route to host, network unreachable, bad arguments, an empty reply: proves nothing about a policy
    return Classified(Verdict.INCONCLUSIVE, f"agnhost: {word}: {detail}" if detail else f"agnhost: {word}")


def classify_dns(outcome: ExecOutcome, timeout: float, *, deny_action: str = DROP) -> Classified:
    """The verdict of one ``dig`` lookup: ALLOW when a DNS server answered, DENY when none did."""
    failed = _failed_exec(outcome)
    if failed:
        return failed
    answer = [line.strip() for line in outcome.stdout.splitlines() if line.strip()]
    if outcome.exit_code == 0:
        if answer and not answer[0].startswith(";;"):
            return Classified(Verdict.ALLOW, f"resolved to {', '.join(answer)}")
        return Classified(Verdict.ALLOW, "a DNS server answered, but the name has no address")
    said = _first_line(outcome.stdout) or _first_line(outcome.stderr)
    everything = f"{outcome.stdout}\n{outcome.stderr}"
    # bind 9.16 says "connection timed out; no servers could be reached", 9.18+
    # "communications error to ...: timed out": both name a timeout
    if outcome.exit_code == DIG_NO_REPLY and "timed out" in everything:
        return Classified(Verdict.DENY, f"no DNS answer within {seconds(max(1, round(timeout)))}: blocked")
    # under Reject the policy's ICMP makes dig say "communications error to ...: connection
    # refused" (bind9 dighost.c); CoreDNS always listens on 53, so that is the denial
    if outcome.exit_code == DIG_NO_REPLY and deny_action == REJECT and "connection refused" in everything:
        return Classified(
            Verdict.DENY, "the DNS server's port refused: rejected by a policy (deny action Reject)"
        )
    if outcome.exit_code == DIG_NO_REPLY:
        return Classified(Verdict.INCONCLUSIVE, f"dig: {said or 'no reply from the DNS server'}")
    return Classified(
        Verdict.CHECK_FAILED, f"unexpected result of dig (exit {outcome.exit_code}): {said or 'no output'}"
    )
