"""Grade your policies against an exercise: the goal's cells, then least privilege.

EXERCISE names a folder under exercises/ (`netpol-lab check` alone lists them). FILES are your
policies (YAML); without them, every .yaml file in the folder the exercise names
(answers/EXERCISE/). Objects outside the exercise's scope (another namespace, another kind) are
refused and nothing is judged.

Offline (the default), the evaluator judges the stage the exercise starts from, plus the
exercise's world, plus your objects: each goal cell that is wrong is shown with why (the policy
and rule that allowed it, or why none did) and a hint. Then least privilege: probes the goal
does not mention (a new pod without labels in the same namespace, a pod with the same labels in
a new namespace, the next port, the other protocol, the outside, the metadata address, the lab's
own matrix) must not gain access compared with the same world without your objects.

With --live (and a lab at the exercise's stage: `netpol-lab stage apply N`), your files are
applied declaratively (server-side apply; the objects of other answers and other exercises'
worlds are removed), the synthetic pods are created, and every cell is probed for real from
inside the pods; the grade comes from what was observed. A cell the lab cannot observe (UDP
where nothing answers, an address the control pod cannot reach) is judged offline and said so.

Exit status: 0 when everything holds, 3 when a cell is wrong, 2 when an object is refused or a
file is bad, 4 without a lab (--live).

Examples:
  netpol-lab check monitoring exercises/monitoring/solution.yaml
  netpol-lab check monitoring                       # your files in answers/monitoring/
  netpol-lab check monitoring --live --output json  # one JSON record per line, the result last
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lab import pins
from lab.boundary.kube import DEFAULT_CONTEXT
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.workshop.exercises import load_exercise, load_exercises

PARTICIPANT_VARIABLES = ("NETPOL_LAB_PARTICIPANT", "USER", "LOGNAME", "USERNAME")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("exercise", metavar="EXERCISE", nargs="?", help="an exercise (without one: the list)")
    parser.add_argument(
        "files", metavar="FILE", nargs="*", help="your policies (default: answers/EXERCISE/*.yaml)"
    )
    parser.add_argument("--live", action="store_true", help="apply the files to the lab and probe for real")
    parser.add_argument(
        "--participant",
        metavar="NAME",
        help="your name in the JSON result (default: $NETPOL_LAB_PARTICIPANT, else your login name)",
    )
    parser.add_argument(
        "--output", choices=("table", "json"), default="table", help="table (default) or json"
    )
    parser.add_argument("--html", metavar="FILE", type=Path, help="also write the result as an HTML page")
    parser.add_argument(
        "--outside",
        metavar="IP:PORT",
        default=pins.OUTSIDE_TARGET,
        help=f"the outside target (default {pins.OUTSIDE_TARGET})",
    )
    live = parser.add_argument_group("with --live")
    live.add_argument(
        "--context", default=DEFAULT_CONTEXT, help=f"kubeconfig context (default {DEFAULT_CONTEXT})"
    )
    live.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)"
    )
    live.add_argument(
        "--timeout", type=float, default=2.0, metavar="SECONDS", help="per connection attempt (default 2)"
    )


def participant(args: argparse.Namespace, env: Environment) -> str:
    if args.participant:
        return str(args.participant)
    for name in PARTICIPANT_VARIABLES:
        if env.env.get(name):
            return env.env[name]
    return "participant"


def list_exercises(env: Environment) -> ExitStatus:
    exercises = load_exercises(env.root)
    if not exercises:
        raise LabError(f"no exercises in {env.root / 'exercises'}", ExitStatus.USAGE)
    width = max(len(e.name) for e in exercises)
    for exercise in exercises:
        env.out(f"{exercise.level}  {exercise.name:<{width}}  {exercise.title} (from stage {exercise.stage})")
    env.out("check one: netpol-lab check EXERCISE [FILE...]; the task is in exercises/EXERCISE/README.md")
    return ExitStatus.SUCCESS


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    if args.exercise is None:
        if args.files or args.live:
            raise LabError("name the exercise first: netpol-lab check EXERCISE [FILE...]", ExitStatus.USAGE)
        return list_exercises(env)
    if args.timeout <= 0:
        raise LabError("--timeout must be more than 0 seconds", ExitStatus.USAGE)
    if args.html is not None and args.html.is_dir():
        raise LabError(f"--html {args.html}: it is a folder; name a file", ExitStatus.USAGE)
    exercise = load_exercise(env.root, args.exercise)
    who = participant(args, env)
    if args.live:
        from lab.workshop.check_live import LiveOptions, check_live

        options = LiveOptions(
            context=args.context, kubeconfig=args.kubeconfig, timeout=args.timeout, outside=args.outside
        )
        result = check_live(
            env.root, exercise, args.files, participant=who, options=options, log=env.stderr, environ=env.env
        )
    else:
        from lab.workshop.check import check_offline

        result = check_offline(env.root, exercise, args.files, participant=who, outside=args.outside)
    from lab.report import check_view

    if args.output == "json":
        env.stdout.write(check_view.json_lines(result))
        env.stdout.flush()
    else:
        check_view.render_check(env.console(), result)
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(check_view.html_page(result), encoding="utf-8")
        env.err(f"wrote {args.html}")
    if result.refused:
        first = result.refused[0]
        return env.fail(
            f"{len(result.refused)} object(s) refused, e.g. {first.what} in {first.file}: {first.why}",
            ExitStatus.USAGE,
        )
    return ExitStatus.SUCCESS if result.passed else ExitStatus.MISMATCH
