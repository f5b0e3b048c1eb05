"""`netpol-lab probe` end to end, against a simulated lab served by the local fake API server.

The fake server lists the lab pods and answers every exec the way a cluster in a given state
would (agnhost's words on stderr, the exit status on the error channel), so the command runs
the real client, pool, classification, controls and report.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from lab import scenario
from lab.boundary.kube import ExecOutcome
from lab.cli import run as cli_run
from lab.env import project_root
from lab.errors import ExitStatus
from lab.matrix import Cell, Matrix, Verdict
from lab.probe.controls import CONTROL_NAMESPACE, CONTROL_ROW, controlled_columns
from lab.probe.sctp import CHECK_ARGV
from lab.probe.targets import plan_probes
from lab.workshop.stages import load_stages, stage_by_name
from tests.fakes import captured_env, errors, output
from tests.tables import table_text
from tests.unit.probe.fake_apiserver import SUCCESS, Exec, FakeApiServer, exit_status, frame, pod_object
from tests.unit.probe.fakes import lab_pods, outcome_for, protocols_outcome
from tests.unit.probe.test_controls import META, OUT

SEED = stage_by_name(load_stages(project_root()), "seed").expect


def simulate(
    server: FakeApiServer,
    truth: Matrix,
    *,
    control: dict[str, Verdict] | None = None,
    sctp: bool = True,
    dual: bool = False,
) -> None:
    """Serve the lab pods and answer each probe with the verdict ``truth`` holds for its cell (``dual``:
    the pods have IPv6 addresses too, and each IPv6 twin answers as its IPv4 column)."""
    pods = lab_pods(with_control=control is not None)
    if dual:
        pods = {r: replace(p, ipv6=f"fd00:10:244::{n + 10:x}") for n, (r, p) in enumerate(pods.items())}
    for pod in pods.values():
        listed = pod_object(pod.app, ip=pod.ip, name=pod.name, namespace=pod.namespace)
        if pod.ipv6:
            listed["status"]["podIPs"] = [{"ip": pod.ip}, {"ip": pod.ipv6}]
        server.pods[pod.namespace] = [listed]
    columns = scenario.columns_for(scenario.DUAL if dual else scenario.IPV4)
    # the nodes' kernel has SCTP (or not): the pods' /proc/net/protocols says so
    answers: dict[tuple[str, tuple[str, ...]], ExecOutcome] = {
        (pod.name, CHECK_ARGV): protocols_outcome(sctp) for pod in pods.values()
    }
    lab = {r: p for r, p in pods.items() if r != CONTROL_ROW}
    for probe in plan_probes(lab, timeout=2, columns=columns):
        base = probe.column.removesuffix(scenario.IPV6_SUFFIX)
        answers[(probe.source.name, probe.argv)] = outcome_for(probe, truth.get(probe.row, base).verdict)
    if control is not None:
        for probe in plan_probes(
            {CONTROL_ROW: pods[CONTROL_ROW]},
            rows=(CONTROL_ROW,),
            columns=controlled_columns(columns),
            timeout=2,
        ):
            base = probe.column.removesuffix(scenario.IPV6_SUFFIX)
            answers[(probe.source.name, probe.argv)] = outcome_for(probe, control[base])

    def behave(conn, request: Exec, _stop) -> None:  # type: ignore[no-untyped-def]
        outcome = answers[(request.pod, tuple(request.argv))]
        if outcome.stdout:
            conn.send(frame(1, outcome.stdout))
        if outcome.stderr:
            conn.send(frame(2, outcome.stderr))
        if outcome.exit_code is not None:
            status = SUCCESS if outcome.exit_code == 0 else exit_status(outcome.exit_code)
            conn.send(frame(3, json.dumps(status)))
        conn.close()

    for pod in pods.values():
        server.behaviours[pod.name] = behave


def probe(kubeconfig: Path, *args: str) -> tuple[ExitStatus, str, str]:
    env = captured_env()
    status = cli_run(["probe", "--kubeconfig", str(kubeconfig), "--retry-for", "0", *args], env)
    return status, output(env), errors(env)


REACHABLE = {OUT: Verdict.ALLOW, META: Verdict.ALLOW}


def test_seed_cluster_matches_the_seed_table(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    simulate(apiserver, SEED, control=REACHABLE)
    status, out, err = probe(kubeconfig, "--stage", "seed")
    assert status == ExitStatus.SUCCESS, out + err
    assert "43 of 43 judged cells match, 0 mismatches" in out  # 4 rows x 13 columns, 9 self cells
    assert "control: the control pod (netpol-lab-control/control): outside ALLOW, metadata ALLOW" in out
    assert "probing every flow in context kind-netpol-lab" in err
    assert {e.namespace for e in apiserver.execs} == {
        "frontend",
        "backend",
        "database",
        "untrusted",
        CONTROL_NAMESPACE,
    }


def test_without_sctp_on_the_nodes_its_cells_say_why_and_are_not_tried(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    simulate(apiserver, SEED, control=REACHABLE, sctp=False)
    status, out, err = probe(kubeconfig, "--stage", "seed")
    assert status == ExitStatus.SUCCESS, out + err  # inconclusive is never a pass or a failure
    assert "40 of 40 judged cells match, 0 mismatches" in out  # the 3 SCTP cells are not judged
    assert "? frontend -> database:3306/sctp (inconclusive, expected DENY): not probed: node" in out
    assert "its kernel has no SCTP" in out
    assert not [e for e in apiserver.execs if "--protocol=sctp" in e.argv]


def test_a_dual_stack_lab_is_probed_over_both_families(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    simulate(apiserver, SEED, control=REACHABLE, dual=True)
    status, out, err = probe(kubeconfig, "--stage", "seed", "--output", "json")
    assert status == ExitStatus.SUCCESS, out + err
    document = json.loads(out)
    columns = document["columns"] if "columns" in document else document["observed"]["columns"]

    assert columns == list(scenario.columns_for(scenario.DUAL))  # each IPv6 twin beside its column
    v6 = [e for e in apiserver.execs if any(a.startswith("[fd00:10:244::") for a in e.argv)]
    assert v6 and all("--protocol=" in " ".join(e.argv) for e in v6)


def test_a_wrong_cell_fails_and_prints_its_reproduce_line(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    truth = Matrix.from_table(table_text(SEED))
    truth.set("untrusted", "backend:80", Cell(Verdict.ALLOW))  # the impostor gets in
    simulate(apiserver, truth, control=REACHABLE)
    status, out, _ = probe(kubeconfig, "--stage", "seed")
    assert status == ExitStatus.MISMATCH
    assert "untrusted -> backend:80: expected DENY, observed ALLOW" in out
    assert (
        f"reproduce: $ kubectl --context kind-netpol-lab --kubeconfig {kubeconfig} exec -n untrusted "
        "deploy/untrusted -- /agnhost connect 192.168.20.10:80 --timeout=2s --protocol=tcp"
    ) in out


def test_without_a_working_control_blocked_exits_are_inconclusive(
    apiserver: FakeApiServer, kubeconfig: Path
) -> None:
    offline = Matrix.from_table(table_text(SEED))  # no internet, no metadata server: nobody gets out
    for column in (OUT, META):
        offline.set("untrusted", column, Cell(Verdict.DENY))
    simulate(apiserver, offline, control={OUT: Verdict.DENY, META: Verdict.DENY})
    status, out, _ = probe(kubeconfig, "--stage", "seed", "--output", "json")
    document = json.loads(out)
    cells = {(c["from"], c["to"]): c for c in document["cells"]}
    frontend_out = cells[("frontend", "outside")]
    assert frontend_out["observed"]["verdict"] == "?"
    assert "cannot reach it either" in frontend_out["observed"]["reason"]
    assert frontend_out["status"] == "unjudged"
    # untrusted is expected to reach both and cannot, like the control: inconclusive too
    assert cells[("untrusted", "outside")]["observed"]["verdict"] == "?"
    assert status == ExitStatus.SUCCESS
    assert document["summary"]["inconclusive"] == 8  # 4 rows x (outside, metadata)
    assert document["pods"]["control"]["namespace"] == CONTROL_NAMESPACE


def test_junit_and_saved_result(apiserver: FakeApiServer, kubeconfig: Path, tmp_path: Path) -> None:
    simulate(apiserver, SEED, control=REACHABLE)
    junit = tmp_path / "out" / "probe.xml"
    status, _, err = probe(
        kubeconfig, "--stage", "4", "--junit", str(junit), "--save", str(tmp_path / "saved")
    )
    assert status == ExitStatus.SUCCESS
    suite = ET.parse(junit).getroot()
    names = {case.get("name") for case in suite.iter("testcase")}
    assert "untrusted->backend:80 denied" in names and "frontend->backend:80 allowed" in names
    assert suite.get("tests") == "43" and suite.get("failures") == "0"
    saved = list((tmp_path / "saved").glob("probe-stage-4-*.json"))
    assert len(saved) == 1 and "saved" in err
    assert err.index("saved") < err.index("wrote")  # the result first: it matters more than its JUnit view
    # the expectation says why: the report's "why each denied flow is denied" reads it
    cells = {(c["from"], c["to"]): c for c in json.loads(saved[0].read_text())["cells"]}
    why = cells[("untrusted", "backend:80")]["expected"]["reason"]
    assert (
        why.startswith("ingress: backend/backend is isolated by backend/default-deny")
        and "no rule allows" in why
    )


def test_failed_checks_are_an_error_not_a_pass(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    simulate(apiserver, SEED, control=REACHABLE)
    for pod in lab_pods().values():
        apiserver.behaviours.pop(pod.name)  # every exec answers 404
    status, out, err = probe(kubeconfig, "--stage", "seed")
    assert status == ExitStatus.ERROR
    assert "check(s) failed" in err and "exec could not start" in err
    assert "0 of 0 judged cells match" in out


def test_no_cluster_is_one_line_naming_make_lab_up(tmp_path: Path) -> None:
    status, out, err = probe(tmp_path / "nothing-here", "--stage", "seed")
    assert status == ExitStatus.MISSING_PREREQUISITE
    assert err.strip().count("\n") == 0 and "make lab-up" in err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--junit", "x.xml"], "--junit needs an expectation"),
        (["--outside", "nowhere"], "--outside"),
        (["--timeout", "0"], "--timeout"),
        (["--stage", "99"], "no stage '99'"),
    ],
)
def test_usage_errors_come_before_any_cluster_call(tmp_path: Path, args: list[str], message: str) -> None:
    status, _, err = probe(tmp_path / "nothing-here", *args)
    assert status == ExitStatus.USAGE
    assert message in err


def test_help_explains_the_verdict_words(capsys: pytest.CaptureFixture[str]) -> None:
    from lab.cli import main

    assert main(["probe", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("ALLOW", "DENY", "REFUSED", "DNS-FAIL", "?", "ERROR", "make lab-up"):
        assert word in text


@pytest.mark.parametrize(
    ("option", "make", "problem"),
    [
        ("--save", lambda base: (base / "taken").write_text("a file"), "it is a file, not a folder"),
        ("--junit", lambda base: (base / "taken").mkdir(), "it is a folder"),
    ],
)
def test_an_output_that_cannot_be_written_stops_before_the_first_probe(
    option: str, make: Callable[[Path], object], problem: str, tmp_path: Path
) -> None:
    make(tmp_path)
    env = captured_env({"PATH": "/nonexistent", "KUBECONFIG": str(tmp_path / "none")})
    argv = ["probe", "--stage", "seed", option, str(tmp_path / "taken")]
    assert cli_run(argv, env) == ExitStatus.USAGE
    assert errors(env).splitlines() == [
        f"error: {option} {tmp_path / 'taken'}: cannot be written ({problem}): choose another path; "
        "nothing was probed"
    ]
