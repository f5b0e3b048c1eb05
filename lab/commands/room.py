"""Run the workshop for many participants on one existing cluster, each in an isolated copy.

  up        create (or complete) the room: per participant four namespaces (p07-frontend ...), the
            four workloads, a ServiceAccount allowed Pods read-only and NetworkPolicies read-write in
            those namespaces only, and a kubeconfig in the folder you hand out (--out)
  status    one line per participant: the stage applied, the last probe and how it compared
  report    --html FILE: the room on one page, with a heatmap of the cells most often wrong
  down      delete what the room created (by its label), nothing else

`up` names the context before it does anything, refuses the laptop lab (kind-netpol-lab) and a
cluster that does not enforce NetworkPolicy, and changes nothing when run again; run it again with
more participants to add them. Participants then run, with their kubeconfig:
  netpol-lab stage apply 3 --kubeconfig room-kubeconfigs/p07.kubeconfig
  netpol-lab probe --stage 3 --kubeconfig room-kubeconfigs/p07.kubeconfig

Examples:
  netpol-lab room up --participants 3 --dry-run
  netpol-lab room up --participants alice,bob,carol --demo --context workshop
  netpol-lab room status
  netpol-lab room report --html reports/room.html
  netpol-lab room down
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lab.boundary.kube import KubeClients, kubeconfig_path, read_deny_action
from lab.boundary.runner import ShRunner
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.lifecycle import room, room_access, room_ops
from lab.pins import Pins

DEFAULT_OUT = Path("room-kubeconfigs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="create or complete the room (idempotent)")
    up.add_argument(
        "--participants",
        required=True,
        metavar="N|NAMES",
        help="how many (3: p01, p02, p03) or their names (alice,bob)",
    )
    up.add_argument("--demo", action="store_true", help="add the instructor's demo copy (for stages 6 and 7)")
    up.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"the folder to hand out (default {DEFAULT_OUT}/)"
    )
    up.add_argument("--pod-cidr", action="append", default=[], metavar="CIDR", help="the cluster's pod range")
    up.add_argument("--service-cidr", action="append", default=[], metavar="CIDR", help="its Service range")
    up.add_argument(
        "--token-hours",
        type=int,
        default=room_access.TOKEN_DURATION_HOURS,
        help="token lifetime (default 12)",
    )
    up.add_argument("--dry-run", action="store_true", help="print the whole plan, change nothing")
    down = actions.add_parser("down", help="delete what the room created")
    down.add_argument("--participants", metavar="NAMES", help="only these participants (alice,bob)")
    down.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where `up` wrote the kubeconfigs")
    down.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    actions.add_parser("status", help="one line per participant")
    report = actions.add_parser("report", help="the room on one HTML page")
    report.add_argument("--html", type=Path, required=True, metavar="FILE", help="where to write it")
    for sub in (up, down, *(actions.choices[name] for name in ("status", "report"))):
        sub.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
        sub.add_argument(
            "--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)"
        )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    target = room_ops.resolve_target(args.context, args.kubeconfig, env.env)
    dry_run = bool(getattr(args, "dry_run", False))
    # up and down print their plan (each kubectl line) on stdout; status and report keep stdout for
    # their own lines and echo the reads on stderr
    echo = env.stdout if args.action in ("up", "down") else env.stderr
    runner = ShRunner(echo, env=env.env, cwd=env.root, dry_run=dry_run)
    env.out(f"room: context {target.context} ({target.endpoint.server})")
    if args.action == "up":
        return up(args, env, runner, target)
    if args.action == "down":
        return down(args, env, runner, target)
    copies = room_ops.read_room(runner, target.kubectl)
    if not copies:
        raise LabError(
            f"context {target.context} has no room: create one with `netpol-lab room up --participants N`",
            ExitStatus.MISSING_PREREQUISITE,
        )
    from lab.report import room_view

    if args.action == "status":
        for line in room_view.status_lines(copies):
            env.out(line)
        return ExitStatus.SUCCESS
    path = room_view.write_html(args.html, copies, context=target.context)
    env.out(f"wrote {path}")
    return ExitStatus.SUCCESS


def up(args: argparse.Namespace, env: Environment, runner: ShRunner, target: room_ops.Target) -> ExitStatus:
    participants = room.parse_participants(args.participants, demo=args.demo)
    if args.token_hours < 1:
        raise LabError("--token-hours must be at least 1", ExitStatus.USAGE)
    room_ops.guard_folder(args.out, target.files)
    pins = Pins.from_env(env.env)
    names = ", ".join(p.name for p in participants)
    env.out(f"room: {len(participants)} copies ({names}); kubeconfigs in {args.out}/")
    nodes = room_ops.refuse_laptop_lab(runner, target)
    admission = room_ops.serves_admission_policies(runner, target)
    if not admission:
        env.err(
            "warning: this cluster does not serve ValidatingAdmissionPolicy "
            "(admissionregistration.k8s.io/v1, Kubernetes 1.30+): RBAC keeps every participant in their "
            "namespaces, but nothing stops a participant's policy from naming another participant's "
            "namespace in a selector"
        )
    enforcement = room_ops.check_enforces(runner, target, pins.agnhost_image, env.out)
    ranges = room_ops.discover_ranges(runner, target, nodes, args.pod_cidr, args.service_cidr)
    env.out(
        f"cluster ranges for stage 5's exceptions: pods {', '.join(ranges.pod_cidrs)}, Services "
        f"{', '.join(ranges.service_cidrs)} ({ranges.source})"
    )
    deny = _deny_action(target, args.kubeconfig, env, dry_run=runner.dry_run)
    docs = room_ops.room_documents(
        env.root,
        participants,
        ranges=ranges,
        deny_action=deny,
        enforcement=enforcement,
        admission=admission,
        image=pins.agnhost_image,
    )
    room_ops.apply_documents(runner, target.kubectl, docs)
    room_ops.wait_for_workloads(runner, target.kubectl, participants)
    room_ops.write_kubeconfigs(runner, target, participants, args.out, env.out, hours=args.token_hours)
    verb = "would be ready" if runner.dry_run else "is ready"
    env.out(
        f"the room {verb}: {len(participants)} copies; hand out {args.out}/ (one kubeconfig each); "
        "`netpol-lab room status` shows where everyone is"
    )
    return ExitStatus.SUCCESS


def _deny_action(target: room_ops.Target, kubeconfig: str | None, env: Environment, *, dry_run: bool) -> str:
    """What Calico does with denied packets here, recorded for participants who may not read it."""
    if dry_run:
        return "Drop"
    clients = KubeClients(kubeconfig_path(kubeconfig, env.env), target.context)
    try:
        return read_deny_action(clients).action
    finally:
        clients.close()


def down(args: argparse.Namespace, env: Environment, runner: ShRunner, target: room_ops.Target) -> ExitStatus:
    participants = None
    if args.participants:
        participants = room.parse_participants(args.participants)
    room_ops.refuse_laptop_lab(runner, target)
    names = room_ops.delete_room(runner, target.kubectl, participants, env.out)
    if not runner.dry_run:
        room_ops.remove_kubeconfigs(args.out, participants, env.out)
    what = f"{len(names)} namespaces" if names else "nothing of a room"
    env.out(f"room down: {'would delete' if runner.dry_run else 'deleted'} {what}; nothing else was touched")
    return ExitStatus.SUCCESS
