"""Delete the lab's kind cluster (and the kubeconfig context kind made for it); nothing else.
Succeeds when there is no cluster. A kind cluster called netpol-lab that `netpol-lab up` did not
build (its nodes carry no fingerprint) is left alone unless --force."""

from __future__ import annotations

import argparse

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle.cluster import Cluster, lab_fingerprint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--kubeconfig", help="kubeconfig file kind wrote the cluster into")
    parser.add_argument(
        "--force",
        action="store_true",
        help="delete the kind cluster called netpol-lab even if `netpol-lab up` did not build it",
    )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root, dry_run=args.dry_run)
    return execute(env, runner, kubeconfig=args.kubeconfig, force=args.force)


def execute(
    env: Environment, runner: Runner, *, kubeconfig: str | None = None, force: bool = False
) -> ExitStatus:
    cluster = Cluster(runner, kubeconfig=kubeconfig)
    if not runner.dry_run and not cluster.exists():
        env.out(f"no cluster {cluster.name}: nothing to delete")
        return ExitStatus.SUCCESS
    if not force:
        if not cluster.has_context():
            cluster.export_kubeconfig()
        fingerprint, why = lab_fingerprint(runner, cluster.kubectl)
        if fingerprint is None:
            return env.fail(
                f"kind cluster {cluster.name} is not one `netpol-lab up` built, or cannot be told ({why}): "
                f"not deleted; delete it yourself (`kind delete cluster --name {cluster.name}`) or rerun "
                "with --force (`netpol-lab down --force`)",
                ExitStatus.MISSING_PREREQUISITE,
            )
    cluster.delete()
    if not runner.dry_run:
        env.out(f"deleted cluster {cluster.name}; `make lab-up` builds a new one")
    return ExitStatus.SUCCESS
