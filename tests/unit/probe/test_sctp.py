"""SCTP is probed only where the nodes' kernel lists it; elsewhere the cells say why not."""

from __future__ import annotations

from lab.boundary.kube import ExecOutcome
from lab.matrix import Verdict
from lab.probe.sctp import CHECK_ARGV, check_nodes, kernel_lacks_sctp, split_sctp
from lab.probe.targets import plan_probes
from tests.unit.probe.fakes import ScriptedTransport, always, lab_pods, protocols_outcome


def test_the_listing_decides() -> None:
    assert kernel_lacks_sctp(protocols_outcome(sctp=True)) is None
    assert "no SCTP" in (kernel_lacks_sctp(protocols_outcome(sctp=False)) or "")
    assert "could not read" in (kernel_lacks_sctp(ExecOutcome(None, error="stream closed")) or "")
    assert "exit 1" in (kernel_lacks_sctp(ExecOutcome(1, stderr="cat: can't open\n")) or "")


def test_sctp_probes_run_only_between_nodes_that_have_it() -> None:
    pods = lab_pods()
    # database and frontend on one node without SCTP, backend and untrusted on one with it
    pods = {
        name: type(pod)(
            pod.app,
            pod.name,
            pod.namespace,
            pod.ip,
            "worker-a" if name in ("frontend", "database") else "worker-b",
            True,
        )
        for name, pod in pods.items()
    }
    transport = ScriptedTransport(
        {
            (pods["frontend"].name, CHECK_ARGV): always(protocols_outcome(sctp=False)),
            (pods["backend"].name, CHECK_ARGV): always(protocols_outcome(sctp=True)),
        }
    )
    support = check_nodes(transport, list(pods.values()))
    assert [c.pod for c in transport.calls] == [pods["frontend"].name, pods["backend"].name]  # one per node
    probes = plan_probes(pods, timeout=2)
    kept, skipped = split_sctp(probes, pods, support)
    sctp_cells = {(p.row, p.column) for p in probes if p.target.protocol == "SCTP"}
    assert set(skipped) == sctp_cells  # every SCTP probe ends on the database's node
    assert all(cell.verdict == Verdict.INCONCLUSIVE for cell in skipped.values())
    assert "node worker-a (where database runs)" in skipped[("backend", "database:3306/sctp")].reason
    assert "node worker-a (where frontend runs)" in skipped[("frontend", "database:3306/sctp")].reason
    assert len(kept) == len(probes) - len(sctp_cells)
    assert all(p.target.protocol != "SCTP" for p in kept)


def test_where_every_node_has_sctp_nothing_is_left_out() -> None:
    pods = lab_pods()
    transport = ScriptedTransport({(pods["frontend"].name, CHECK_ARGV): always(protocols_outcome())})
    probes = plan_probes(pods, timeout=2)
    kept, skipped = split_sctp(probes, pods, check_nodes(transport, list(pods.values())))
    assert kept == probes and skipped == {}
