"""Compare two sets of policies: which flows open, which close, which another rule now decides.

Each side is a stage (`--stage N`, modelled from the lab's manifests as `expect --stage` does), a
file saved with `kubectl get namespaces,pods,networkpolicies -A -o yaml` (`--state FILE`), or the
live cluster (`--from-cluster`); give two, in the order to compare (A, then B). Two plain words
work too: `netpol-lab diff 4 5` (a word that names a file is a state file, else a stage).

Every flow is judged on both sides as `expect --output json` judges it: each pod to every port a
pod declares, each protocol apart, and to the outside targets. A change names, on both sides, what
decides the flow: the policy and rule that allow or deny it, or that nothing selects the pod, or
that policies select it and no rule allows it. `--output json` prints
{"a", "b", "changes": [{"change", "from", "to", "port", "protocol", "target", "before", "after"}],
"unchanged"}, each side {"verdict", "reason"} or null where the flow exists on one side only.

Examples:
  netpol-lab diff --stage 4 --stage 5
  netpol-lab diff --stage seed --from-cluster
  netpol-lab diff --state before.yaml --state after.yaml --output json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lab import pins
from lab.commands._state import load_cluster_state
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.policy.diff import ADDED, CLOSED, OPENED, REASON, REMOVED, FlowChange, StateDiff, diff_states
from lab.policy.model import ClusterState, printable
from lab.policy.state import load_state_file
from lab.workshop.lab_state import load_stage_state, outside_targets

HEADINGS = {
    OPENED: "opened",
    CLOSED: "closed",
    REASON: "another rule decides",
    ADDED: "only in B",
    REMOVED: "only in A",
}


class _Side(argparse.Action):
    """Collects --stage/--state/--from-cluster in the order given: that order is A, then B."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sides = list(getattr(namespace, "sides", None) or [])
        sides.append((str(self.const), values if isinstance(values, str) else ""))
        namespace.sides = sides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(sides=[])
    parser.add_argument(
        "words", nargs="*", metavar="A B", help="a stage (0-7, seed) or a state file, for each side"
    )
    parser.add_argument("--stage", action=_Side, const="stage", metavar="N", help="a side: stage N or `seed`")
    parser.add_argument(
        "--state", action=_Side, const="file", metavar="FILE", help="a side: a saved List (YAML or JSON)"
    )
    parser.add_argument(
        "--from-cluster", action=_Side, const="cluster", nargs=0, help="a side: the live cluster, via kubectl"
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="with --from-cluster: the kubeconfig to use")
    parser.add_argument("--context", metavar="NAME", help="with --from-cluster: the kubeconfig context")
    parser.add_argument(
        "--outside",
        metavar="IP:PORT",
        default=pins.OUTSIDE_TARGET,
        help=f"the outside target on both sides (default {pins.OUTSIDE_TARGET})",
    )
    parser.add_argument(
        "--output", choices=("table", "json"), default="table", help="table (default) or json"
    )


def _sides(args: argparse.Namespace) -> list[tuple[str, str]]:
    sides = list(args.sides)
    for word in args.words:
        sides.append(("file" if Path(word).is_file() else "stage", word))
    if len(sides) != 2:
        raise LabError(
            f"diff compares two sides, {len(sides)} given: name A and B, for example "
            "`netpol-lab diff --stage 4 --stage 5`",
            ExitStatus.USAGE,
        )
    if sum(kind == "cluster" for kind, _ in sides) > 1:
        raise LabError("--from-cluster can be one side only", ExitStatus.USAGE)
    if (args.kubeconfig or args.context) and not any(kind == "cluster" for kind, _ in sides):
        raise LabError("--kubeconfig and --context go with --from-cluster", ExitStatus.USAGE)
    return sides


def load_side(kind: str, value: str, args: argparse.Namespace, env: Environment) -> ClusterState:
    if kind == "stage":
        return load_stage_state(env.root, value, outside=args.outside)
    if kind == "file":
        path = Path(value)
        state = load_state_file(path if path.is_absolute() else Path.cwd() / path)
        state.source = printable(value)
    else:
        from lab.boundary.kubectl import Kubectl
        from lab.boundary.runner import ShRunner

        runner = ShRunner(env.stderr, env=env.env)
        state = load_cluster_state(runner, Kubectl(args.context or pins.KUBE_CONTEXT, args.kubeconfig))
    known = {t.key for t in state.targets}
    state.targets.extend(t for t in outside_targets(args.outside) if t.key not in known)
    return state


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    (kind_a, a), (kind_b, b) = _sides(args)
    before = load_side(kind_a, a, args, env)
    after = load_side(kind_b, b, args, env)
    for state in (before, after):
        for line in [*state.notes, *(f"warning: {w}" for w in state.warnings)]:
            env.err(printable(f"{state.source}: {line}"))
    result = diff_states(before, after)
    if args.output == "json":
        json.dump(to_json(result), env.stdout, indent=1)
        env.out()
    else:
        for line in table_lines(result):
            env.out(line)
    return ExitStatus.SUCCESS


def headline(result: StateDiff) -> str:
    counts = ", ".join(f"{result.count(kind)} {HEADINGS[kind]}" for kind in (OPENED, CLOSED, REASON))
    extra = [f"{result.count(k)} {HEADINGS[k]}" for k in (ADDED, REMOVED) if result.count(k)]
    tail = f", {', '.join(extra)}" if extra else ""
    return f"A = {result.before}, B = {result.after}: {counts}{tail}; {result.unchanged} flows unchanged"


def change_lines(change: FlowChange, indent: str = "") -> list[str]:
    """``opened  backend/backend -> 1.1.1.1:443/TCP (outside)`` and what decides it in A and in B."""
    lines = [f"{indent}{HEADINGS[change.kind]}: {printable(change.key.text())}"]
    for side, judged in (("A", change.before), ("B", change.after)):
        if judged is None:
            lines.append(f"{indent}  {side}: no such flow")
        else:
            lines.append(f"{indent}  {side}: {judged.word:<5} {printable(judged.reason)}")
    return lines


def table_lines(result: StateDiff) -> list[str]:
    lines = [printable(headline(result))]
    for change in result.changes:
        lines += change_lines(change, "  ")
    if not result.changes:
        lines.append("  no flow changes")
    return lines


def _side_json(change: FlowChange, before: bool) -> dict[str, Any] | None:
    judged = change.before if before else change.after
    return None if judged is None else {"verdict": judged.word, "reason": judged.reason}


def to_json(result: StateDiff) -> dict[str, Any]:
    return {
        "a": result.before,
        "b": result.after,
        "changes": [
            {
                "change": change.kind,
                "from": change.key.source,
                "to": change.key.target,
                "port": change.key.port,
                "protocol": change.key.protocol,
                "target": change.key.label or None,
                "before": _side_json(change, True),
                "after": _side_json(change, False),
            }
            for change in result.changes
        ],
        "unchanged": result.unchanged,
    }
