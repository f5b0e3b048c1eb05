"""Command-line entry point: parse the verb, import its module, dispatch. Nothing else.

Each verb lives in ``lab/commands/<verb>.py`` with ``add_arguments(parser)`` and
``run(args, env) -> ExitStatus``. Only the chosen verb's module is imported, so
``netpol-lab --help`` stays fast and one command's dependencies do not slow another.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from lab import __version__
from lab.env import Environment
from lab.errors import ExitStatus, LabError

VERBS: dict[str, str] = {
    "up": "build the lab: kind cluster, its network (Calico by default), the four workloads (idempotent)",
    "down": "delete the lab's kind cluster (nothing else)",
    "status": "show the lab: nodes, Calico, workloads and where each pod runs",
    "doctor": "check this machine (Docker, kind, kubectl, limits) and say how to fix each problem",
    "probe": "prove every flow with real connections from inside the pods",
    "expect": "compute the expected verdicts of a set of policies, without a cluster",
    "explain": "explain why one flow is allowed or denied",
    "diff": "the flows that open, close or change reason between two policy sets",
    "stage": "workshop stages: list, show, apply, next, reset",
    "check": "grade your policies against an exercise: its goal, then least privilege (offline or --live)",
    "mutants": "near misses of a stage's policies: which its probes catch, a probe for each survivor",
    "report": "write an HTML report of probe results",
    "images": "list, pull, save or load every image the lab needs (offline workshops)",
    "bundle": "save or load an offline bundle: images, Calico, kind, kubectl and the wheels",
    "room": "many participants on one shared cluster: up, status, report, down (one copy each)",
}


def build_parser() -> argparse.ArgumentParser:
    verbs = "\n".join(f"  {name:<9} {text}" for name, text in VERBS.items())
    parser = argparse.ArgumentParser(
        prog="netpol-lab",
        description="A hands-on Kubernetes NetworkPolicy lab.",
        epilog=f"commands:\n{verbs}\n\nRun `netpol-lab COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"netpol-lab {__version__}")
    parser.add_argument(
        "verb", nargs="?", choices=sorted(VERBS), metavar="COMMAND", help="one of the commands below"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def verb_parser(verb: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of one verb and its module."""
    module = importlib.import_module(f"lab.commands.{verb}")
    parser = argparse.ArgumentParser(
        prog=f"netpol-lab {verb}",
        description=(module.__doc__ or VERBS[verb]).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    return parser, module


def run(argv: Sequence[str], env: Environment) -> ExitStatus:
    """Parse ``argv`` (without the program name) and run the command."""
    top_parser = build_parser()
    top = top_parser.parse_args(list(argv))
    if top.verb is None:  # bare `netpol-lab`: say what to type, not which internal argument is missing
        top_parser.print_usage(env.stderr)
        return env.fail(
            f"name a command: {', '.join(VERBS)} (`netpol-lab --help` says what each does)", ExitStatus.USAGE
        )
    parser, module = verb_parser(top.verb)
    args = parser.parse_args(top.rest)
    try:
        return ExitStatus(module.run(args, env))  # type: ignore[attr-defined]
    except LabError as error:
        return env.fail(error.message, error.status)
    except KeyboardInterrupt:
        env.err("interrupted: run the same command again to carry on from where it stopped")
        return ExitStatus.INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    env = Environment()
    try:
        return int(run(sys.argv[1:] if argv is None else argv, env))
    except SystemExit as exit_:  # argparse: --help, usage errors
        return int(exit_.code or 0) if isinstance(exit_.code, int) else ExitStatus.USAGE
    except KeyboardInterrupt:
        env.err("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:  # the reader went away (`netpol-lab expect | head`): not an error
        _silence_stdout()
        return int(ExitStatus.SUCCESS)
    except Exception as error:  # a bug: one line, the traceback only on request
        if os.environ.get("NETPOL_LAB_DEBUG"):
            traceback.print_exc()
        env.err(
            f"internal error: {type(error).__name__}: {error} "
            "(rerun with NETPOL_LAB_DEBUG=1 for the traceback and report it)"
        )
        return int(ExitStatus.ERROR)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
