"""Compute the expected verdict of every flow from the policies alone, without probing.

The state comes from the lab's stage manifests (`--stage N`, default `--stage seed`), a file
saved with `kubectl get namespaces,pods,networkpolicies -A -o json` (`--state FILE`, JSON or
YAML), or a live cluster (`--from-cluster`). Kubernetes NetworkPolicies are judged in full;
Calico's projectcalico.org/v3 (Global)NetworkPolicies in the subset the lab uses (order, Allow,
Deny, Pass, Log, selectors, namespaceSelector, nets/notNets, ports); anything else is refused by
name.

Pods the policies cannot tell apart (the same namespace, the same values of the labels some
selector names, the same ports and address ranges) form a group and are judged once.

* `--output table` (default): the lab's matrix when the state holds the lab's four workloads; a
  pod x (pod:port) matrix up to 40 pods and 60 destinations; beyond that the groups and, for
  each destination (a group's port, an outside target), the groups whose pods may connect.
* `--output json`: JSON Lines, format `netpol-lab/expect` version 2, streamed: a header, the
  groups, then one line per destination and port naming the set of source groups allowed
  (`lab.report.expect_report`); `--explain` adds each group's reason to every line.
* `--output json-v1`: the version 1 document for small states, one object per source pod and
  destination (loopback included) with its reason:
  {"flows": [{"from", "to", "port", "protocol", "allowed", "reason"}]}.

Examples:
  netpol-lab expect --stage seed
  netpol-lab expect --state cluster.json --output json > flows.jsonl
  netpol-lab expect --state cluster.yaml --to 10.0.0.5:443 --output json-v1
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lab.commands._state import add_state_arguments, print_notes, state_from_args
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.matrix import Cell, Matrix, Verdict
from lab.policy.engine import Engine
from lab.policy.explain import Explainer
from lab.policy.groups import GroupedCluster
from lab.policy.model import ClusterState, ExternalTarget
from lab.report.expect_report import expect_lines, report_lines
from lab.report.table import render_matrix
from lab.scenario import WORKLOADS
from lab.workshop.lab_matrix import expected_lab_matrix, workload_pod
from lab.workshop.lab_state import parse_target

MAX_TABLE_ROWS = 40  # beyond this a terminal table helps nobody: say so and point to JSON
MAX_TABLE_COLUMNS = 60  # destinations (pod ports and targets); wider tables take long to draw, and to read
# `--output json-v1` holds every flow in memory before writing it (about 0.7 KB each) and explains
# each one: refuse a state that would make more, before computing any (`--output json` streams).
MAX_FLOWS = 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_state_arguments(parser)
    parser.add_argument(
        "--to",
        metavar="IP:PORT[/PROTO]",
        action="append",
        default=[],
        help="also judge every pod's egress to this address (repeatable)",
    )
    parser.add_argument(
        "--output",
        choices=("table", "json", "json-v1"),
        default="table",
        help="table (default); json: JSON Lines per group of pods, streamed (format version 2); "
        "json-v1: one object per pod-to-pod flow with its reason, for small states",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="with --output json: the reason for every group on every line (costs one explanation "
        "per pair of groups)",
    )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    if args.explain and args.output != "json":
        raise LabError(
            "--explain goes with --output json (json-v1 always explains; for one flow: "
            "`netpol-lab explain FROM TO PORT`)",
            ExitStatus.USAGE,
        )
    state = state_from_args(args, env)
    extra = [parse_target(text) for text in args.to]
    known = {t.key for t in state.targets}
    state.targets.extend(t for t in extra if t.key not in known)
    print_notes(state, env)
    if args.output == "json-v1":
        count = len(state.pods) * len(_destinations(state))
        if count > MAX_FLOWS:
            raise LabError(
                f"{state.source}: {len(state.pods):,} pods and {count // max(len(state.pods), 1):,} "
                f"destinations make {count:,} flows, more than the {MAX_FLOWS:,} `--output json-v1` "
                "writes: use `--output json` (per group of pods, any size), or ask about one flow "
                "with `netpol-lab explain FROM TO PORT`",
                ExitStatus.USAGE,
            )
        json.dump({"flows": flows(state)}, env.stdout, indent=1)
        env.out()
        return ExitStatus.SUCCESS
    if args.output == "json":
        grouped = GroupedCluster(state)
        env.stdout.writelines(expect_lines(grouped, explainer=Explainer(state) if args.explain else None))
        env.stdout.flush()
        return ExitStatus.SUCCESS
    console = env.console()
    if is_lab_state(state) and not extra:
        render_matrix(
            console, expected_lab_matrix(state, outside=args.outside), title=f"expected: {state.source}"
        )
        return ExitStatus.SUCCESS
    if len(state.pods) <= MAX_TABLE_ROWS and len(_destinations(state)) <= MAX_TABLE_COLUMNS:
        render_matrix(console, pod_matrix(state), title=f"expected: {state.source}")
        return ExitStatus.SUCCESS
    for line in report_lines(GroupedCluster(state)):
        env.stdout.write(line + "\n")
    env.stdout.flush()
    return ExitStatus.SUCCESS


def is_lab_state(state: ClusterState) -> bool:
    """Whether the state holds the lab's four workloads (then the lab's matrix applies)."""
    return all(workload_pod(state, w) is not None for w in WORKLOADS)


def _destinations(state: ClusterState) -> list[tuple[str, Any, int, str]]:
    """(column name, pod or target, port, protocol) for every declared port and every outside target."""
    out: list[tuple[str, Any, int, str]] = []
    for pod in sorted(state.pods, key=lambda p: p.key):
        seen = set()
        for port in pod.ports:
            if (port.port, port.protocol) not in seen:
                seen.add((port.port, port.protocol))
                out.append((f"{pod.key}:{port.port}/{port.protocol}", pod, port.port, port.protocol))
    for target in state.targets:
        out.append((target.label or target.key, target, target.port, target.protocol))
    return out


def flows(state: ClusterState) -> list[dict[str, Any]]:
    """The version 1 JSON contract: one flow per source pod x destination (pod, port, protocol) or
    target, each with its reason."""
    engine = Engine(state)
    explainer = Explainer(state)
    out = []
    destinations = _destinations(state)
    for source in sorted(state.pods, key=lambda p: p.key):
        s = engine.position[source.key]
        for _, target, port, protocol in destinations:
            if isinstance(target, ExternalTarget):
                allowed = engine.ip_allowed(s, target.ip, port, protocol)
                flow = explainer.flow(source, target.ip, port, protocol)
            else:
                allowed = engine.pod_allowed(s, engine.position[target.key], port, protocol)
                flow = explainer.flow(source, target, port, protocol)
            if flow.allowed != allowed:  # two independent evaluations; never expected to differ
                raise RuntimeError(f"engine and explanation disagree on {source.key} -> {flow.target} {port}")
            out.append(
                {
                    "from": source.key,
                    "to": flow.target,
                    "port": port,
                    "protocol": protocol,
                    "allowed": allowed,
                    "reason": flow.reason(),
                }
            )
    return out


def pod_matrix(state: ClusterState) -> Matrix:
    """Rows: source pods; columns: every declared pod port and outside target."""
    engine = Engine(state)
    matrix = Matrix(title=state.source)
    destinations = _destinations(state)
    sources = sorted(state.pods, key=lambda p: p.key)
    for column, target, port, protocol in destinations:
        if isinstance(target, ExternalTarget):
            for source in sources:
                allowed = engine.ip_allowed(engine.position[source.key], target.ip, port, protocol)
                matrix.set(source.key, column, Cell(Verdict.ALLOW if allowed else Verdict.DENY))
            continue
        d = engine.position[target.key]
        permitted = engine.allowed_sources(d, port, protocol)
        for source in sources:
            s = engine.position[source.key]
            verdict = Verdict.NOT_JUDGED if s == d else Verdict.ALLOW if permitted >> s & 1 else Verdict.DENY
            matrix.set(source.key, column, Cell(verdict))
    return matrix
