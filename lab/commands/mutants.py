"""How good is a stage's probe set: near-miss versions of its policies, caught or surviving.

Each mutant changes one thing in one policy in force at STAGE (an AND peer split into two OR
peers, a dropped namespaceSelector, UDP without TCP, a missing except, a label typo, a port off
by one, policyTypes left out). A mutant is caught when a judged cell of the stage's expect.txt
comes out differently; for each survivor a probe (source, target, port) is proposed that would
catch it, or, when none can at this stage, the policy that masks it and the probe that would
catch it without that policy. Nothing touches a cluster.

Examples:
  netpol-lab mutants seed
  netpol-lab mutants 5 --output json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lab import pins
from lab.env import Environment
from lab.errors import ExitStatus
from lab.workshop.mutants import OPERATORS, MutantReport, MutantResult, Probe, run_mutants


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", metavar="STAGE", help="0-7 or seed")
    parser.add_argument(
        "--output", choices=("table", "json"), default="table", help="table (default) or json"
    )
    parser.add_argument("--outside", metavar="IP:PORT", default=pins.OUTSIDE_TARGET, help=argparse.SUPPRESS)


def _probe(probe: Probe | None) -> dict[str, Any] | None:
    if probe is None:
        return None
    return {
        "from": probe.source,
        "to": probe.target,
        "expected": probe.expected.value,
        "mutant": probe.mutant.value,
        "needs": probe.needs,
    }


def to_json(report: MutantReport) -> dict[str, Any]:
    return {
        "stage": report.stage.number,
        "judged_cells": report.judged_cells,
        "mutants": [
            {
                "operator": r.mutant.operator,
                "policy": r.mutant.policy,
                "where": r.mutant.where,
                "change": r.mutant.change,
                "caught": r.caught,
                "caught_by": [
                    {"from": row, "to": column, "expected": e.value, "mutant": m.value}
                    for row, column, e, m in r.caught_by
                ],
                "proposal": _probe(r.proposal),
                "equivalent": not r.caught and r.proposal is None,
                "masked_by": r.masked_by,
                "unmasked": _probe(r.unmasked),
            }
            for r in report.results
        ],
    }


def survivor_lines(result: MutantResult) -> list[str]:
    lines = [f"  {result.mutant.name}: {result.mutant.change}"]
    if result.proposal is not None:
        lines.append(f"      probe that catches it: {result.proposal.describe()}")
        if result.proposal.needs:
            lines.append(f"      needs: {result.proposal.needs}")
    else:
        lines.append(f"      equivalent here: {result.why_equivalent}")
        if result.unmasked is not None:
            lines.append(
                f"      without {result.masked_by}, this probe would catch it: {result.unmasked.describe()}"
            )
    return lines


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    report = run_mutants(env.root, args.stage, outside=args.outside)
    if args.output == "json":
        json.dump(to_json(report), env.stdout, indent=1)
        env.out()
        return ExitStatus.SUCCESS
    stage = report.stage
    caught = [r for r in report.results if r.caught]
    survivors = report.survivors
    equivalent = [r for r in survivors if r.proposal is None]
    env.out(
        f"Mutants of stage {stage.number} ({stage.title}): {len(report.results)} near misses, judged by the "
        f"{report.judged_cells} cells of {stage.path.name}/expect.txt"
    )
    with_probe = len(survivors) - len(equivalent)
    env.out(
        f"caught {len(caught)}, surviving {len(survivors)} "
        f"({with_probe} with a probe that would catch them, {len(equivalent)} equivalent here)"
    )
    env.out()
    env.out("operator                 caught  surviving")
    for operator in OPERATORS:
        mine = [r for r in report.results if r.mutant.operator == operator]
        if mine:
            hit = sum(r.caught for r in mine)
            env.out(f"{operator:<24} {hit:>6}  {len(mine) - hit:>9}")
    env.out()
    if caught:
        env.out("Caught (the first cell of the table that changes):")
        for result in caught:
            row, column, expected, mutant = result.caught_by[0]
            more = f", and {len(result.caught_by) - 1} more" if len(result.caught_by) > 1 else ""
            env.out(
                f"  {result.mutant.name}: {result.mutant.change}: {row} -> {column} "
                f"{expected.value} becomes {mutant.value}{more}"
            )
        env.out()
    if survivors:
        env.out("Surviving:")
        for result in survivors:
            for line in survivor_lines(result):
                env.out(line)
    return ExitStatus.SUCCESS
