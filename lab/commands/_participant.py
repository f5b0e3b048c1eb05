"""Which room participant a `probe` or `stage` command works for, and in which context.

``--participant NAME`` names it (the instructor, with their own kubeconfig); without it, a kubeconfig
that `room up` wrote names it (its context carries the ``netpol-lab`` extension), so a participant
types nothing more than ``--kubeconfig room-kubeconfigs/p07.kubeconfig``. For a participant, the
context defaults to the kubeconfig's current one; for the laptop lab it stays kind-netpol-lab.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import yaml

from lab.boundary.kube import DEFAULT_CONTEXT
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Runner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle import room_access
from lab.lifecycle.room import Participant, check_name
from lab.workshop.stages import Stage, stage_by_name


def add_participant_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--participant",
        metavar="NAME",
        help="a room participant's copy (default: the one your room kubeconfig names, if any)",
    )


def resolve_participant(args: argparse.Namespace, env: Environment) -> Participant | None:
    """The participant (or None: the laptop lab), setting ``args.context`` when it was not given."""
    files = room_access.kubeconfig_files(args.kubeconfig, env.env)
    found = room_access.participant_of_context(files, args.context)
    participant = None
    if getattr(args, "participant", None):
        participant = check_name(args.participant)
    elif found is not None:
        participant = Participant(found[0])
    if args.context is None:
        if participant is not None:
            args.context = found[1] if found is not None else room_access.current_context(files)
        args.context = args.context or DEFAULT_CONTEXT
    return participant


def change_participant_stage(
    args: argparse.Namespace,
    env: Environment,
    runner: Runner,
    stages: Sequence[Stage],
    participant: Participant,
) -> ExitStatus:
    """`stage apply/next/reset` for a room copy: check the stage may go to this copy, check the copy
    exists (its record), show what changes, apply the rendered policies, probe the copy."""
    from lab.commands import stage as stage_command
    from lab.workshop import participant as room_stage
    from lab.workshop import stage_apply

    kubectl = Kubectl(args.context, args.kubeconfig)
    if args.action == "apply":
        room_stage.check_stage_allowed(stages, stage_by_name(list(stages), args.stage).number, participant)
    record = room_stage.require_copy(runner, kubectl, participant)
    current = room_stage.read_participant_stage(runner, kubectl, participant)
    target = stage_command.target_stage(args, stages, current)
    wide = room_stage.cluster_wide_stages(stages)
    if target is None or (args.action == "next" and target.number in wide and not participant.demo):
        last = max((s.number for s in stages if s.number not in wide), default=0)
        env.out(
            f"{participant.name} is at the last stage a room copy takes ({last}); stages "
            f"{', '.join(map(str, wide))} are the instructor's demonstration (`netpol-lab stage show "
            f"{wide[0] if wide else last}`); `netpol-lab stage reset` starts over"
        )
        return ExitStatus.SUCCESS
    room_stage.check_stage_allowed(stages, target.number, participant)
    by_number = {s.number: s for s in stages}
    base = by_number.get(current) if current is not None else None
    where = f"stage {current}" if current is not None else "no recorded stage"
    env.out(f"Stage {target.number}: {target.title} for {participant.name} (the copy was at {where})")
    before = room_stage.rendered_stage(stages, base.number, participant, record.ranges) if base else []
    after = room_stage.rendered_stage(stages, target.number, participant, record.ranges)
    print_policy_changes(env, before, after)
    env.out(f"Expected cells that change from stage {base.number if base else '-'}:")
    for line in stage_command.changed_cells_lines(target, base):
        env.out(line)
    env.out()
    plan = room_stage.plan_participant_apply(stages, target.number, participant, record.ranges, kubectl)
    stage_apply.execute(runner, plan)
    if args.no_probe or runner.dry_run:
        env.out(f"now at stage {target.number}; probe with `netpol-lab probe --stage {target.number}`")
        return ExitStatus.SUCCESS
    from lab.commands import probe

    return probe.probe_stage(
        env,
        str(target.number),
        context=args.context,
        kubeconfig=args.kubeconfig,
        participant=participant.name,
    )


def print_policy_changes(
    env: Environment, before: list[dict[str, Any]], after: list[dict[str, Any]], *, same_stage: bool = False
) -> None:
    """The YAML of the policies a change adds and the names of those it removes (a stage may
    replace an earlier one's: stage 7 removes stage 6's GlobalNetworkPolicies)."""
    had, has = {_identity(d) for d in before}, {_identity(d) for d in after}
    added = [doc for doc in after if _identity(doc) not in had]
    removed = [doc for doc in before if _identity(doc) not in has]
    if added:
        env.out("Policies added:")
        env.out(yaml.safe_dump_all(added, sort_keys=False).rstrip())
    if removed:
        env.out("Policies removed:")
        for doc in removed:
            kind, namespace, name = _identity(doc)
            env.out(f"  {kind} {namespace + '/' if namespace else ''}{name}")
    if not added and not removed:
        env.out(
            "Policies: the same stage again (re-applied, nothing should change)"
            if same_stage
            else "Policies added: none"
        )
    env.out()


def _identity(doc: dict[str, Any]) -> tuple[str, str, str]:
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
