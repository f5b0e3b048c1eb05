"""Workshop stages, one step at a time.

  list        the eight stages, one line each
  show N      what stage N teaches, its policies (YAML) and the cells it changes from N-1
  apply N     make the cluster hold exactly the policies in force at stage N (server-side apply,
              delete those of other stages), show what changed, then probe every flow
  next        apply the stage after the one last applied
  reset       back to stage 0: no lab policy left

Every kubectl command is printed before it runs. `seed` is an alias of stage 4 (every rule
of the scenario holds).

Examples:
  netpol-lab stage show 3
  netpol-lab stage apply seed
  netpol-lab stage next --no-probe
  netpol-lab stage apply 6 --dry-run
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from lab.boundary.kube import DEFAULT_CONTEXT
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Runner, ShRunner
from lab.commands._participant import (
    add_participant_argument,
    change_participant_stage,
    print_policy_changes,
    resolve_participant,
)
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle.cluster import require_lab
from lab.workshop import stage_apply
from lab.workshop.stages import Stage, cumulative_documents, load_stages, stage_by_name

ProbeFunction = Callable[[argparse.Namespace, Environment, Stage], ExitStatus]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the stages, one line each")
    show = actions.add_parser("show", help="explain stage N: text, policies, changed cells")
    show.add_argument("stage", metavar="N", help="0-7 or seed")
    apply = actions.add_parser("apply", help="apply stage N declaratively, then probe")
    apply.add_argument("stage", metavar="N", help="0-7 or seed")
    changing = [
        apply,
        actions.add_parser("next", help="apply the next stage"),
        actions.add_parser("reset", help="back to stage 0"),
    ]
    for sub in changing:
        sub.add_argument("--no-probe", action="store_true", help="apply only, do not probe afterwards")
        sub.add_argument("--dry-run", action="store_true", help="print the kubectl commands, run nothing")
        sub.add_argument(
            "--context", help=f"kubeconfig context (default {DEFAULT_CONTEXT}; a room kubeconfig's own)"
        )
        add_participant_argument(sub)
        sub.add_argument(
            "--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)"
        )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    stages = load_stages(env.root)
    if args.action == "list":
        return list_stages(env, stages)
    if args.action == "show":
        return show_stage(env, stages, stage_by_name(stages, args.stage))
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root, dry_run=args.dry_run)
    participant = resolve_participant(args, env)
    if participant is not None:  # a room copy (lab.commands._participant)
        return change_participant_stage(args, env, runner, stages, participant)
    return change_stage(args, env, runner, stages, probe=probe_stage)


def list_stages(env: Environment, stages: Sequence[Stage]) -> ExitStatus:
    """One line per stage: number, title, its own policies and how many expected cells change."""
    width = max(len(stage.title) for stage in stages)
    previous: Stage | None = None
    for stage in stages:
        policies = len(stage.documents())
        changed = len(stage.expect.changed_cells(previous.expect)) if previous else 0
        change = (
            ("1 expected cell changes" if changed == 1 else f"{changed} expected cells change")
            if previous
            else "baseline"
        )
        added = "+1 policy" if policies == 1 else f"+{policies} policies"
        env.out(f"{stage.number}  {stage.title:<{width}}  {added}, {change}")
        previous = stage
    return ExitStatus.SUCCESS


def changed_cells_lines(stage: Stage, previous: Stage | None) -> list[str]:
    """``  frontend -> backend:80   DENY -> ALLOW`` for each expected cell that differs."""
    if previous is None:
        return ["  (stage 0 is the baseline: no policy, every judged cell ALLOW)"]
    changes = stage.expect.changed_cells(previous.expect)
    if not changes:
        return [f"  none: the expected matrix is the same as stage {previous.number}'s"]
    width = max(len(f"{row} -> {column}") for row, column, _, _ in changes)
    return [
        f"  {f'{row} -> {column}'.ljust(width)}  {before.value} -> {after.value}"
        for row, column, before, after in changes
    ]


def _previous(stages: Sequence[Stage], stage: Stage) -> Stage | None:
    earlier = [s for s in stages if s.number < stage.number]
    return earlier[-1] if earlier else None


def show_stage(env: Environment, stages: Sequence[Stage], stage: Stage) -> ExitStatus:
    env.out(stage.text.rstrip())
    env.out()
    if stage.manifest_files:
        for path in stage.manifest_files:
            env.out(f"--- {path.relative_to(env.root)}")
            env.out(path.read_text(encoding="utf-8").rstrip())
            env.out()
    else:
        env.out("(no policies at this stage)")
        env.out()
    previous = _previous(stages, stage)
    against = f" from stage {previous.number}" if previous else ""
    env.out(f"Expected cells that change{against}:")
    for line in changed_cells_lines(stage, previous):
        env.out(line)
    if previous is not None:
        env.out()
        for line in changed_flows_lines(env, stage, previous):
            env.out(line)
    return ExitStatus.SUCCESS


def changed_flows_lines(env: Environment, stage: Stage, previous: Stage) -> list[str]:
    """Every flow that opens, closes or is decided by another rule, with the policy on both sides
    (what `netpol-lab diff --stage N-1 --stage N` prints)."""
    from lab.commands.diff import change_lines
    from lab.policy.diff import diff_states
    from lab.workshop.lab_state import load_stage_state

    result = diff_states(
        load_stage_state(env.root, str(previous.number)), load_stage_state(env.root, str(stage.number))
    )
    lines = [
        f"Flows that change from stage {previous.number} "
        f"(`netpol-lab diff --stage {previous.number} --stage {stage.number}`; A = stage {previous.number}, "
        f"B = stage {stage.number}):"
    ]
    for change in result.changes:
        lines += change_lines(change, "  ")
    return lines if result.changes else [*lines, "  none"]


def target_stage(args: argparse.Namespace, stages: Sequence[Stage], current: int | None) -> Stage | None:
    if args.action == "apply":
        return stage_by_name(list(stages), args.stage)
    if args.action == "reset":
        return stages[0]
    after = [s for s in stages if s.number > (current or 0)]
    return after[0] if after else None


def change_stage(
    args: argparse.Namespace,
    env: Environment,
    runner: Runner,
    stages: Sequence[Stage],
    *,
    probe: ProbeFunction,
) -> ExitStatus:
    """apply / next / reset: plan, show what changes, run, then probe (unless --no-probe).

    The stage's name is checked first, then that the cluster is a lab (its fingerprint): nothing is
    printed or changed for a cluster `up` did not build."""
    kubectl = _kubectl(args)
    if args.action == "apply":
        stage_by_name(list(stages), args.stage)
    lab = require_lab(runner, kubectl)
    current = stage_apply.read_current_stage(runner, kubectl)
    target = target_stage(args, stages, current)
    if target is None:
        env.out(f"already at the last stage ({stages[-1].number}); `netpol-lab stage reset` starts over")
        return ExitStatus.SUCCESS
    for warning in stage_apply.not_enforced_warnings(stages, target.number, lab.cni):
        env.err(warning)
    by_number = {s.number: s for s in stages}
    base = by_number.get(current) if current is not None else _previous(stages, target)
    where = f"stage {current}" if current is not None else "no recorded stage"
    env.out(f"Stage {target.number}: {target.title} (the cluster was at {where})")
    _print_policy_changes(env, stages, target, base)
    env.out(f"Expected cells that change from stage {base.number if base else '-'}:")
    for line in changed_cells_lines(target, base):
        env.out(line)
    env.out()
    stage_apply.execute(runner, stage_apply.plan_apply(stages, target.number, kubectl))
    if args.no_probe or runner.dry_run:
        env.out(f"now at stage {target.number}; probe with `netpol-lab probe --stage {target.number}`")
        return ExitStatus.SUCCESS
    return probe(args, env, target)


def _print_policy_changes(
    env: Environment, stages: Sequence[Stage], target: Stage, base: Stage | None
) -> None:
    before = cumulative_documents(list(stages), base.number) if base else []
    after = cumulative_documents(list(stages), target.number)
    same = base is not None and base.number == target.number
    print_policy_changes(env, before, after, same_stage=same)


def _kubectl(args: argparse.Namespace) -> Kubectl:
    return Kubectl(args.context, args.kubeconfig)


def probe_stage(args: argparse.Namespace, env: Environment, stage: Stage) -> ExitStatus:
    """Probe every flow against the stage's table, exactly as `netpol-lab probe --stage N` does."""
    from lab.commands import probe

    return probe.probe_stage(env, str(stage.number), context=args.context, kubeconfig=args.kubeconfig)
