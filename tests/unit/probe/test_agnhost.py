"""The probe command lines and the verdict of every outcome agnhost and dig can give."""

from __future__ import annotations

import pytest

from lab.boundary.kube import ExecOutcome
from lab.matrix import Verdict
from lab.probe import agnhost


def test_connect_argv_always_passes_a_timeout_and_tcp() -> None:
    assert agnhost.connect_argv("10.0.0.5", 80, 2) == (
        "/agnhost",
        "connect",
        "10.0.0.5:80",
        "--timeout=2s",
        "--protocol=tcp",
    )
    assert agnhost.connect_argv("10.0.0.5", 3306, 1.5)[3] == "--timeout=1.5s"


def test_connect_argv_brackets_ipv6() -> None:
    assert agnhost.connect_argv("fd00::5", 80, 2)[2] == "[fd00::5]:80"


def test_dns_argv_is_one_bounded_try() -> None:
    assert agnhost.dns_argv("kubernetes.default.svc.cluster.local.", 2) == (
        "dig",
        "+time=2",
        "+tries=1",
        "+short",
        "kubernetes.default.svc.cluster.local.",
    )
    assert agnhost.dns_argv("x.", 0.4)[1] == "+time=1"  # dig takes whole seconds, at least 1


def test_names_get_more_time_than_addresses() -> None:
    by_ip = agnhost.connect_budget(2, by_name=False)
    by_name = agnhost.connect_budget(2, by_name=True)
    assert by_ip > 2
    # Go's resolver gives up after 2 tries of 5 s when DNS is blocked: the exec must outlast it
    assert by_name >= 2 + 10


@pytest.mark.parametrize(
    ("outcome", "verdict", "reason_part"),
    [
        (ExecOutcome(0), Verdict.ALLOW, "connected"),
        (ExecOutcome(1, stderr="TIMEOUT\n"), Verdict.DENY, "no answer within 2s"),
        (ExecOutcome(1, stderr="REFUSED\n"), Verdict.REFUSED, "nothing listened"),
        (
            ExecOutcome(1, stderr="DNS: lookup backend.backend.svc.cluster.local.: i/o timeout\n"),
            Verdict.DNS_FAIL,
            "lookup backend.backend.svc.cluster.local.: i/o timeout",
        ),
        (
            ExecOutcome(1, stderr="UNKNOWN: address 10.0.0.1: missing port in address\n"),
            Verdict.INCONCLUSIVE,
            "UNKNOWN: address",
        ),
        (
            ExecOutcome(1, stderr="OTHER: dial tcp 1.1.1.1:443: connect: network is unreachable\n"),
            Verdict.INCONCLUSIVE,
            "network is unreachable",
        ),
    ],
    ids=["connected", "timeout", "refused", "dns", "unknown", "other"],
)
def test_classify_connect(outcome: ExecOutcome, verdict: Verdict, reason_part: str) -> None:
    result = agnhost.classify_connect(outcome, 2)
    assert result.verdict == verdict
    assert reason_part in result.reason


@pytest.mark.parametrize(
    "outcome",
    [
        ExecOutcome(None, error="the command did not finish within 7 s"),
        ExecOutcome(None, error="no exit status received (the exec stream closed before the status frame)"),
        ExecOutcome(None, error='the command did not run: exec: "/agnhost": executable file not found'),
        ExecOutcome(None, error="exec could not start: Handshake status 404 Not Found"),
        ExecOutcome(0, error="an exit code and an error: the error wins"),
    ],
)
def test_a_failed_exec_is_never_a_verdict(outcome: ExecOutcome) -> None:
    for classify in (agnhost.classify_connect, agnhost.classify_dns):
        result = classify(outcome, 2)
        assert result.verdict == Verdict.CHECK_FAILED
        assert not result.verdict.judged
        assert outcome.error in result.reason


@pytest.mark.parametrize(
    "outcome",
    [
        ExecOutcome(1, stderr="TIMEOUTS\n"),  # not the exact word
        ExecOutcome(1, stderr=""),
        ExecOutcome(126, stderr="permission denied"),
        ExecOutcome(137, stderr=""),  # killed (e.g. out of memory)
        ExecOutcome(2, stderr="TIMEOUT\n"),  # the right word with the wrong exit code
    ],
)
def test_unexpected_connect_results_are_check_failures(outcome: ExecOutcome) -> None:
    result = agnhost.classify_connect(outcome, 2)
    assert result.verdict == Verdict.CHECK_FAILED
    assert f"exit {outcome.exit_code}" in result.reason


@pytest.mark.parametrize(
    ("outcome", "verdict", "reason_part"),
    [
        (ExecOutcome(0, stdout="10.96.0.1\n"), Verdict.ALLOW, "resolved to 10.96.0.1"),
        (ExecOutcome(0, stdout=""), Verdict.ALLOW, "answered"),
        (
            ExecOutcome(9, stdout=";; connection timed out; no servers could be reached\n"),
            Verdict.DENY,
            "no DNS answer within 2s",
        ),
        (  # bind 9.18 wording, on stderr
            ExecOutcome(9, stderr=";; communications error to 10.96.0.10#53: timed out\n"),
            Verdict.DENY,
            "blocked",
        ),
        (
            ExecOutcome(9, stdout=";; communications error to 10.96.0.10#53: connection refused\n"),
            Verdict.INCONCLUSIVE,
            "connection refused",
        ),
        (ExecOutcome(127, stderr="dig: not found"), Verdict.CHECK_FAILED, "exit 127"),
    ],
    ids=["resolved", "nxdomain", "timeout", "timeout-918", "refused", "no-dig"],
)
def test_classify_dns(outcome: ExecOutcome, verdict: Verdict, reason_part: str) -> None:
    result = agnhost.classify_dns(outcome, 2)
    assert result.verdict == verdict
    assert reason_part in result.reason


# What agnhost 2.66's connect prints per protocol (test/images/agnhost/connect/connect.go):
# UDP prefixes TIMEOUT/REFUSED/UNKNOWN to the Go error of the write or read, and says OTHER when
# the socket cannot be made or the reply is empty; SCTP prints a bare TIMEOUT and OTHER for every
# other error, a refused association included.
UDP_READ = "read udp 192.168.10.10:41000->192.168.20.10:80"


@pytest.mark.parametrize(
    ("protocol", "outcome", "verdict", "reason_part"),
    [
        ("UDP", ExecOutcome(0), Verdict.ALLOW, "the UDP server answered"),
        (
            "UDP",
            ExecOutcome(1, stderr=f"TIMEOUT: {UDP_READ}: i/o timeout\n"),
            Verdict.DENY,
            "no reply within 2s",
        ),
        (
            "UDP",
            ExecOutcome(1, stderr=f"REFUSED: {UDP_READ}: recvfrom: connection refused\n"),
            Verdict.REFUSED,
            "got through",
        ),
        (
            "UDP",
            ExecOutcome(1, stderr=f"UNKNOWN: {UDP_READ}: recvfrom: no route to host\n"),
            Verdict.INCONCLUSIVE,
            "agnhost: UNKNOWN: read udp",
        ),
        (
            "UDP",
            ExecOutcome(
                1,
                stderr="OTHER: No data received from the server. "
                "Cannot guarantee the server received the request.\n",
            ),
            Verdict.INCONCLUSIVE,
            "No data received",
        ),
        (
            "UDP",
            ExecOutcome(1, stderr="DNS: lookup backend.backend.svc.cluster.local.: i/o timeout\n"),
            Verdict.DNS_FAIL,
            "did not resolve",
        ),
        ("SCTP", ExecOutcome(0), Verdict.ALLOW, "the SCTP server answered"),
        ("SCTP", ExecOutcome(1, stderr="TIMEOUT\n"), Verdict.DENY, "blocked"),
        ("SCTP", ExecOutcome(1, stderr="OTHER: connection refused\n"), Verdict.REFUSED, "got through"),
        ("SCTP", ExecOutcome(1, stderr="OTHER: protocol not supported\n"), Verdict.INCONCLUSIVE, "no SCTP"),
        ("SCTP", ExecOutcome(1, stderr="OTHER: no route to host\n"), Verdict.INCONCLUSIVE, "agnhost: OTHER"),
    ],
)
def test_classify_udp_and_sctp_as_agnhost_words_them(
    protocol: str, outcome: ExecOutcome, verdict: Verdict, reason_part: str
) -> None:
    result = agnhost.classify_connect(outcome, 2, protocol=protocol)
    assert result.verdict == verdict
    assert reason_part in result.reason


@pytest.mark.parametrize(
    ("protocol", "said"),
    [
        ("TCP", f"TIMEOUT: {UDP_READ}: i/o timeout"),  # TCP's TIMEOUT is a bare word
        ("UDP", "TIMEOUT"),  # UDP's always carries the error
        ("UDP", "REFUSED"),
        ("SCTP", "REFUSED"),  # SCTP has no REFUSED word: a refusal is OTHER: connection refused
    ],
)
def test_another_protocols_words_are_not_taken_for_a_verdict(protocol: str, said: str) -> None:
    result = agnhost.classify_connect(ExecOutcome(1, stderr=said + "\n"), 2, protocol=protocol)
    assert result.verdict == Verdict.CHECK_FAILED


def test_under_reject_a_refused_udp_read_where_something_answers_is_a_denial() -> None:
    refused = ExecOutcome(1, stderr=f"REFUSED: {UDP_READ}: recvfrom: connection refused\n")
    rejected = agnhost.classify_connect(refused, 2, deny_action=agnhost.REJECT, listens=True, protocol="UDP")
    assert rejected.verdict == Verdict.DENY
    unknown = agnhost.classify_connect(refused, 2, deny_action=agnhost.REJECT, protocol="UDP")
    assert unknown.verdict == Verdict.INCONCLUSIVE


def test_connect_argv_names_the_protocol() -> None:
    assert agnhost.connect_argv("10.0.0.5", 80, 2, "UDP")[-1] == "--protocol=udp"
    assert agnhost.connect_argv("10.0.0.5", 3306, 2, "SCTP")[-1] == "--protocol=sctp"
    with pytest.raises(ValueError, match="TCP, UDP or SCTP"):
        agnhost.connect_argv("10.0.0.5", 80, 2, "ICMP")


def test_dns_over_tcp_is_dig_plus_tcp() -> None:
    assert agnhost.dns_argv("x.", 2, tcp=True)[:2] == ("dig", "+tcp")


def test_under_reject_an_sctp_timeout_is_still_a_denial_and_an_sctp_refusal_never_is() -> None:
    # Linux SCTP keeps resending its INIT through an ICMP unreachable: a rejected SCTP connect times
    # out, and a refusal can only be the peer's ABORT, where nothing listens
    timed_out = ExecOutcome(1, stderr="TIMEOUT\n")
    denied = agnhost.classify_connect(timed_out, 2, deny_action=agnhost.REJECT, listens=True, protocol="SCTP")
    assert denied.verdict == Verdict.DENY
    refused = ExecOutcome(1, stderr="OTHER: connection refused\n")
    nothing = agnhost.classify_connect(refused, 2, deny_action=agnhost.REJECT, listens=True, protocol="SCTP")
    assert nothing.verdict == Verdict.REFUSED


def test_under_reject_a_refused_dns_lookup_is_a_denial() -> None:
    said = ";; communications error to 10.96.0.10#53: connection refused\n"
    refused = ExecOutcome(9, stdout=said)
    assert agnhost.classify_dns(refused, 2, deny_action=agnhost.REJECT).verdict == Verdict.DENY
    assert agnhost.classify_dns(refused, 2).verdict == Verdict.INCONCLUSIVE  # under Drop it proves nothing
