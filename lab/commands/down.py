"""Delete the lab's kind cluster (and the kubeconfig context kind made for it); nothing else.
Succeeds when there is no cluster."""

from __future__ import annotations

import argparse

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle.cluster import Cluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--kubeconfig", help="kubeconfig file kind wrote the cluster into")


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root, dry_run=args.dry_run)
    return execute(env, runner, kubeconfig=args.kubeconfig)


def execute(env: Environment, runner: Runner, *, kubeconfig: str | None = None) -> ExitStatus:
    cluster = Cluster(runner, kubeconfig=kubeconfig)
    if not runner.dry_run and not cluster.exists():
        env.out(f"no cluster {cluster.name}: nothing to delete")
        return ExitStatus.SUCCESS
    cluster.delete()
    if not runner.dry_run:
        env.out(f"deleted cluster {cluster.name}; `make lab-up` builds a new one")
    return ExitStatus.SUCCESS
