"""Show the lab: nodes (with their slot), the CNI, Calico's components, each lab pod with
the node it runs on and its IP (placement decides which flows cross nodes), and the probes'
control pod and metadata stand-in."""

from __future__ import annotations

import argparse

from lab.boundary.runner import ShRunner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle.cluster import Cluster
from lab.lifecycle.status import show


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file to use (default: $KUBECONFIG or ~/.kube/config)"
    )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root)
    return show(env, runner, Cluster(runner, kubeconfig=args.kubeconfig))
