"""What the probes try from each pod: one probe per matrix cell, self cells left out."""

from __future__ import annotations

import pytest

from lab import pins, scenario
from lab.probe.agnhost import AGNHOST, DIG
from lab.probe.targets import is_self, parse_host_port, plan_probes
from tests.unit.probe.fakes import POD_IPS, lab_pods


def test_one_probe_per_cell_except_a_pod_reaching_itself() -> None:
    probes = plan_probes(lab_pods(), timeout=2)
    cells = {(p.row, p.column) for p in probes}
    assert len(cells) == len(probes)
    for row in scenario.ROWS:
        for column in scenario.COLUMNS:
            assert ((row, column) in cells) != is_self(row, column), (row, column)
    # 4 rows x 13 columns, minus 7 pod self cells (frontend 1, backend TCP and UDP, database TCP, UDP
    # and SCTP, untrusted 1) and 2 Service self cells (backend, database)
    assert len(probes) == 4 * 13 - 7 - 2


def test_self_cells_match_the_stage_tables() -> None:
    from lab.env import project_root
    from lab.matrix import Verdict
    from lab.workshop.stages import load_stages

    for stage in load_stages(project_root()):
        for row, column, cell in stage.expect:
            assert (cell.verdict == Verdict.NOT_JUDGED) == is_self(row, column), (stage.name, row, column)


def test_pod_columns_use_the_pod_ip_and_its_port() -> None:
    probes = {(p.row, p.column): p for p in plan_probes(lab_pods(), timeout=2)}
    probe = probes[("frontend", "database:3306")]
    assert probe.argv == (AGNHOST, "connect", f"{POD_IPS['database']}:3306", "--timeout=2s", "--protocol=tcp")
    assert probe.source.namespace == "frontend"
    assert not probe.target.by_name


def test_service_columns_use_the_fully_qualified_name() -> None:
    probes = {(p.row, p.column): p for p in plan_probes(lab_pods(), timeout=2)}
    probe = probes[("frontend", "svc/backend:80")]
    assert probe.argv[2] == "backend.backend.svc.cluster.local.:80"
    assert probe.target.by_name
    assert probe.budget > probes[("frontend", "backend:80")].budget


def test_dns_outside_and_metadata_columns() -> None:
    probes = {(p.row, p.column): p for p in plan_probes(lab_pods(), outside=("8.8.8.8", 53), timeout=3)}
    dns = probes[("backend", "dns")]
    assert dns.argv[0] == DIG and dns.argv[-1] == scenario.DNS_LOOKUP_NAME + "."
    assert dns.target.is_lookup
    assert probes[("backend", "outside")].argv[2:4] == ("8.8.8.8:53", "--timeout=3s")
    assert probes[("backend", "metadata")].argv[2] == f"{pins.METADATA_IP}:80"


def test_reproduce_line_is_a_kubectl_exec_into_the_deployment() -> None:
    probes = {
        (p.row, p.column): p
        for p in plan_probes(lab_pods(), timeout=2, kubectl=("kubectl", "--context", "kind-netpol-lab"))
    }
    assert probes[("untrusted", "backend:80")].command == (
        "kubectl --context kind-netpol-lab exec -n untrusted deploy/untrusted -- "
        f"/agnhost connect {POD_IPS['backend']}:80 --timeout=2s --protocol=tcp"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.1.1.1:443", ("1.1.1.1", 443)),
        ("example.com:80", ("example.com", 80)),
        ("[2606:4700::1]:443", ("2606:4700::1", 443)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["1.1.1.1", ":443", "1.1.1.1:0", "1.1.1.1:99999", "host:http", "[::1]"])
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port(text)


def test_udp_and_sctp_columns_connect_in_their_protocol() -> None:
    probes = {(p.row, p.column): p for p in plan_probes(lab_pods(), timeout=2)}
    udp = probes[("frontend", "backend:80/udp")]
    assert udp.argv == (AGNHOST, "connect", f"{POD_IPS['backend']}:80", "--timeout=2s", "--protocol=udp")
    assert udp.target.protocol == "UDP"
    sctp = probes[("backend", "database:3306/sctp")]
    assert sctp.argv[-1] == "--protocol=sctp" and sctp.target.protocol == "SCTP"
    assert probes[("backend", "database:3306")].argv[-1] == "--protocol=tcp"


def test_dns_over_tcp_asks_dig_for_tcp() -> None:
    probes = {(p.row, p.column): p for p in plan_probes(lab_pods(), timeout=2)}
    assert probes[("database", "dns/tcp")].argv == (
        DIG,
        "+tcp",
        "+time=2",
        "+tries=1",
        "+short",
        scenario.DNS_LOOKUP_NAME + ".",
    )
    assert "+tcp" not in probes[("database", "dns")].argv
