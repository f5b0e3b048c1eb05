"""Prove every flow with real connection attempts from inside the lab pods.

From each lab pod, agnhost tries every other lab pod's IP on the port it serves, the
backend and database Services by DNS name, a DNS lookup, one outside address and the cloud
metadata address 169.254.169.254:80. The attempts run in parallel; a cell that disagrees
with the expectation is tried again about once a second for up to 10 s (policies take a
moment to be programmed), and the table says how many tries a cell took (×N).

What each cell says:
  ALLOW     connected
  DENY      blocked: the connection timed out (Calico drops denied packets)
  REFUSED   the packet got through the policy but nothing listened (counts as allowed)
  DNS-FAIL  the Service name did not resolve (DNS egress is closed), nothing was tried
  ?         inconclusive: no verdict possible, e.g. the outside or metadata address timed
            out but the control pod (selected by no policy) cannot reach it either
  ERROR     the check itself failed (the exec did not run or did not finish): never a verdict
  -         not judged (a pod reaching itself)

Exit status: 0 when every judged cell matches the expectation, 3 when one does not,
1 when a check failed, 4 when the lab is not reachable (run `make lab-up`).

Examples:
  netpol-lab probe --stage seed
  netpol-lab probe --stage 3 --output json
  netpol-lab probe --expect computed --junit reports/probe.xml
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lab import pins
from lab.boundary.kube import DEFAULT_CONTEXT, DenyAction, KubeClients, check_reachable, kubeconfig_path
from lab.boundary.kubectl import Kubectl
from lab.commands._participant import add_participant_argument, resolve_participant
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.matrix import Matrix, Verdict
from lab.probe.pool import DEFAULT_WORKERS, RETRY_EVERY, RETRY_FOR, RetryPolicy
from lab.probe.prove import ProbeOptions, ProbeRun, prove
from lab.probe.targets import parse_host_port

if TYPE_CHECKING:
    from lab.lifecycle.room import Participant
    from lab.probe.prove import ProbeRun as _Run
    from lab.workshop.participant import CopyRecord


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to compare with (default: nothing, just show what happens)")
    choice = what.add_mutually_exclusive_group()
    choice.add_argument("--stage", metavar="N", help="the expectation table of stage N (0-7) or `seed`")
    choice.add_argument(
        "--expect",
        choices=("computed",),
        help="computed: the verdicts the policies now in the cluster should give (read with kubectl)",
    )
    where = parser.add_argument_group("where")
    where.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)"
    )
    where.add_argument(
        "--context",
        metavar="NAME",
        help=f"kubeconfig context (default {DEFAULT_CONTEXT}; a room kubeconfig's own)",
    )
    add_participant_argument(where)
    where.add_argument(
        "--outside",
        metavar="HOST:PORT",
        default=pins.OUTSIDE_TARGET,
        help=f"the outside address to try (default {pins.OUTSIDE_TARGET})",
    )
    how = parser.add_argument_group("how")
    how.add_argument(
        "--timeout", type=float, default=2.0, metavar="SECONDS", help="per connection attempt (default 2)"
    )
    how.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"attempts run at the same time (default {DEFAULT_WORKERS})",
    )
    how.add_argument(
        "--retry-for",
        type=float,
        default=RETRY_FOR,
        metavar="SECONDS",
        help=f"keep retrying a disagreeing cell this long (default {RETRY_FOR:g}; 0: no retries)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--output", choices=("table", "json"), default="table", help="table (default) or json")
    out.add_argument("--junit", metavar="FILE", type=Path, help="also write JUnit XML (needs an expectation)")
    out.add_argument(
        "--save",
        metavar="DIR",
        nargs="?",
        const=Path("reports"),
        type=Path,
        help="also save the result as JSON in DIR (default reports/) for `netpol-lab report`",
    )


def _check_arguments(args: argparse.Namespace) -> tuple[str, int]:
    if args.timeout <= 0:
        raise LabError("--timeout must be more than 0 seconds", ExitStatus.USAGE)
    if args.workers < 1:
        raise LabError("--workers must be at least 1", ExitStatus.USAGE)
    if args.retry_for < 0:
        raise LabError("--retry-for cannot be negative", ExitStatus.USAGE)
    if args.junit and not (args.stage or args.expect):
        raise LabError("--junit needs an expectation: add --stage N or --expect computed", ExitStatus.USAGE)
    _check_outputs(args)
    try:
        return parse_host_port(args.outside)
    except ValueError as error:
        raise LabError(f"--outside: {error}", ExitStatus.USAGE) from None


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path must be writable before the first probe: a run is not thrown away at the end."""
    outputs = []
    if args.save is not None:
        outputs.append(("--save", Path(args.save), True))
    if args.junit:
        outputs.append(("--junit", Path(args.junit), False))
    for option, path, folder in outputs:
        directory = path if folder else path.parent
        problem = ""
        if folder and path.exists() and not path.is_dir():
            problem = "it is a file, not a folder"
        elif not folder and path.is_dir():
            problem = "it is a folder"
        else:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                problem = error.strerror or str(error)
            else:
                if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
                    problem = "permission denied"
        if problem:
            raise LabError(
                f"{option} {path}: cannot be written ({problem}): choose another path; nothing was probed",
                ExitStatus.USAGE,
            )


def _stage_expectation(env: Environment, name: str) -> tuple[Matrix, str, str]:
    """The stage's hand-written table, each cell with the evaluator's reason where the two agree
    (the reports then say why a flow is expected to be denied)."""
    from lab.workshop.lab_matrix import expected_lab_matrix
    from lab.workshop.lab_state import load_stage_state
    from lab.workshop.stages import load_stages, stage_by_name

    stage = stage_by_name(load_stages(env.root), name)
    table = stage.expect
    computed = expected_lab_matrix(load_stage_state(env.root, str(stage.number)))
    expected = Matrix(rows=list(table.rows), columns=list(table.columns), title=table.title)
    for row, column, cell in table:
        reasoned = computed.get(row, column)
        if reasoned.verdict == cell.verdict and reasoned.reason and not cell.reason:
            cell = replace(cell, reason=reasoned.reason, tier=reasoned.tier)
        expected.set(row, column, cell)
    return expected, str(stage.number), f"Stage {stage.number}: {stage.title}"


def _computed_expectation(args: argparse.Namespace, env: Environment) -> Matrix:
    """The engine's verdicts for the policies live in the cluster (read with kubectl)."""
    try:
        from lab.commands._state import cluster_cni, load_cluster_state, print_notes
        from lab.policy.dataplanes import DEFAULT_CNI, enforced_by
        from lab.workshop.lab_matrix import expected_lab_matrix
        from lab.workshop.lab_state import outside_targets
    except ImportError as error:  # pragma: no cover - only on a broken install
        raise LabError(f"--expect computed is not available ({error}); use --stage N instead") from error
    from lab.boundary.runner import ShRunner

    runner = ShRunner(env.stderr, env=env.env, cwd=env.root)
    kubectl = Kubectl(args.context, args.kubeconfig)
    state = load_cluster_state(runner, kubectl)
    state.targets = outside_targets(args.outside)
    # what this lab's CNI enforces of them: on kindnet, its ClusterNetworkPolicies are stored only
    state = enforced_by(state, cluster_cni(runner, kubectl, state) or DEFAULT_CNI)
    print_notes(state, env)
    return expected_lab_matrix(state, outside=args.outside, title="computed from the cluster's policies")


def probe_stage(
    env: Environment, stage: str, *, context: str, kubeconfig: str | None, participant: str | None = None
) -> ExitStatus:
    """`probe --stage STAGE` with every other option at its default (what `stage apply` runs after)."""
    parser = argparse.ArgumentParser(prog="netpol-lab probe")
    add_arguments(parser)
    args = parser.parse_args([])
    args.stage, args.context, args.kubeconfig = stage, context, kubeconfig
    args.participant = participant
    return run(args, env)


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    outside = _check_arguments(args)
    participant = resolve_participant(args, env)
    if participant is not None and args.expect == "computed":
        raise LabError(
            "--expect computed reads every namespace's policies, which a room participant may not: "
            "compare with the stage's table instead (--stage N)",
            ExitStatus.USAGE,
        )
    copy = _copy_record(args, env, participant)
    expected: Matrix | None = None
    stage: str | None = None
    stage_title = ""
    if args.stage:
        expected, stage, stage_title = _stage_expectation(env, args.stage)

    clients = KubeClients(kubeconfig_path(args.kubeconfig, env.env), args.context)
    try:
        check_reachable(clients)
        if args.expect == "computed":
            expected = _computed_expectation(args, env)
            stage_title = "expected: computed from the policies in the cluster"
        options = ProbeOptions(
            timeout=args.timeout,
            workers=args.workers,
            outside=outside,
            retry=RetryPolicy(retry_for=args.retry_for, retry_every=RETRY_EVERY),
            kubectl=Kubectl(args.context, args.kubeconfig).prefix,
        )
        env.err(
            f"probing every flow in context {args.context} ({args.workers} at a time, "
            f"{args.timeout:g} s per attempt{', retrying disagreeing cells' if expected else ''})..."
        )
        namespaces = participant.namespaces if participant is not None else None
        deny = DenyAction(copy.deny_action, "recorded by `room up`") if copy is not None else None
        result = prove(clients, expected=expected, options=options, deny_action=deny, namespaces=namespaces)
    finally:
        clients.close()
    status = report(args, env, result, expected, stage=stage, stage_title=stage_title)
    if participant is not None:
        _record_probe(args, env, participant, result, expected, stage)
    return status


def _copy_record(
    args: argparse.Namespace, env: Environment, participant: Participant | None
) -> CopyRecord | None:
    """A room copy's record (its deny action); a LabError before any probe when the copy is unknown."""
    if participant is None:
        return None
    from lab.boundary.runner import ShRunner
    from lab.workshop.participant import require_copy

    runner = ShRunner(env.stderr, env=env.env, cwd=env.root)
    return require_copy(runner, Kubectl(args.context, args.kubeconfig), participant)


def _record_probe(
    args: argparse.Namespace,
    env: Environment,
    participant: Participant,
    result: _Run,
    expected: Matrix | None,
    stage: str | None,
) -> None:
    """Leave the result where `room status` reads it (the copy's probe record)."""
    from lab.boundary.runner import ShRunner
    from lab.lifecycle.room_ops import ProbeRecord, now_stamp, write_probe_record

    comparison = expected.compare(result.observed) if expected is not None else None
    wrong = tuple(
        (d.row, d.column, d.expected.verdict.value, d.observed.verdict.value)
        for d in (comparison.mismatched if comparison is not None else ())
    )
    judged = len(comparison.matched) + len(wrong) if comparison is not None else 0
    record = ProbeRecord(stage or "", now_stamp(), judged, wrong, args.context)
    runner = ShRunner(env.stderr, env=env.env, cwd=env.root)
    try:
        write_probe_record(runner, Kubectl(args.context, args.kubeconfig), participant, record)
    except LabError as error:  # the probe ran: say the record is missing, keep its verdict
        env.err(f"warning: the probe's record for `room status` was not written: {error.message}")


def report(
    args: argparse.Namespace,
    env: Environment,
    result: ProbeRun,
    expected: Matrix | None,
    *,
    stage: str | None,
    stage_title: str,
) -> ExitStatus:
    """Print the result as asked, write JUnit/saved JSON, and decide the exit status."""
    from lab.report.json_report import save_probe_result, to_json
    from lab.report.table import render_differences, render_matrix, summary_line
    from lab.result import PodInfo, ProbeResult

    observed = result.observed
    probed_at = datetime.now(timezone.utc)
    pods = {name: PodInfo(pod.namespace, pod.node, pod.ip) for name, pod in result.pods.items()}
    recorded = ProbeResult(
        observed, expected, args.context, stage, probed_at, stage_title, pods, result.deny_action.action
    )
    comparison = recorded.comparison
    if args.output == "json":
        env.stdout.write(to_json(recorded))
    else:
        console = env.console()
        title = f"{stage_title} (observed against expected)" if expected is not None else "observed"
        render_matrix(console, observed, expected=expected, title=title)
        if comparison is not None:
            render_differences(console, comparison)
        controls = ", ".join(
            f"{column} {cell.verdict.value}" for column, cell in result.controls.cells.items()
        )
        env.out(f"control: {result.controls.name}: {controls or 'none'}")
        env.out(f"denied packets: {result.deny_action.action} ({result.deny_action.source})")
        env.out(
            f"{len(result.probes)} probes in {result.seconds:.1f} s ({result.tries} tries, "
            f"{args.workers} at a time)" + (f"; {summary_line(comparison)}" if comparison is not None else "")
        )
    if args.save is not None:  # first: the result matters more than its JUnit view
        saved = save_probe_result(recorded, args.save)
        env.err(f"saved {saved}")
    if args.junit and expected is not None and comparison is not None:
        from lab.report.junit import write_junit

        write_junit(
            args.junit,
            observed,
            expected,
            comparison,
            suite_name="netpol-lab probe",
            context=args.context,
            stage=stage,
            probed_at=probed_at,
        )
        env.err(f"wrote {args.junit}")

    failed = [(row, column, cell) for row, column, cell in observed if cell.verdict == Verdict.CHECK_FAILED]
    if comparison is not None and not comparison.ok:
        return ExitStatus.MISMATCH
    if failed:
        row, column, cell = failed[0]
        return env.fail(
            f"{len(failed)} check(s) failed, e.g. {row} -> {column}: {cell.reason}; "
            "see `netpol-lab status` and try again"
        )
    return ExitStatus.SUCCESS
