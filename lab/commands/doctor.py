"""Check this machine for the lab: Docker answers, kind and kubectl are present and new
enough, inotify limits (Linux), free memory, and whether the lab's cluster exists.
Each problem is one line with its fix; warnings alone exit 0, and a missing or unusable
Docker, kind or kubectl exits 4.

With --enforcement, check the lab's cluster instead: a canary pod behind a deny-all-ingress
policy says whether NetworkPolicy is enforced (exit 0 it is, 3 it is not, 1 cannot tell,
4 there is no lab cluster)."""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.lifecycle import doctor, enforcement
from lab.lifecycle.cluster import Cluster
from lab.pins import Pins

ENFORCEMENT_STATUS = {
    enforcement.Enforcement.ENFORCES: ExitStatus.SUCCESS,
    enforcement.Enforcement.DOES_NOT_ENFORCE: ExitStatus.MISMATCH,
    enforcement.Enforcement.UNKNOWN: ExitStatus.ERROR,
}

ENFORCEMENT_INTERVAL = 1.0  # seconds between the canary probes while a policy is programmed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--enforcement",
        action="store_true",
        help="check whether the lab's cluster enforces NetworkPolicy (a canary pod behind a deny policy) "
        "instead of checking this machine",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file for kind and kubectl (default: kind's)")


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root)
    if args.enforcement:
        return check_enforcement(env, runner, Cluster(runner, kubeconfig=args.kubeconfig))
    return execute(env, runner)


def execute(
    env: Environment, runner: Runner, *, system: str | None = None, proc: Path = Path("/proc")
) -> ExitStatus:
    findings = doctor.run_checks(
        runner,
        system=system or platform.system(),
        proc=proc,
        kubectl_minimum=Pins.from_env(env.env).kubectl_min_version,
    )
    for finding in findings:
        env.out(finding.line)
    failed = doctor.failures(findings)
    if failed:
        env.err(f"error: {len(failed)} problem(s) stop the lab from being built: fix the FAIL lines above")
        return ExitStatus.MISSING_PREREQUISITE
    return ExitStatus.SUCCESS


def check_enforcement(
    env: Environment, runner: Runner, cluster: Cluster, *, sleep: Callable[[float], None] = time.sleep
) -> ExitStatus:
    """Run the canary check against the lab's cluster and say the answer in one sentence."""
    try:
        exists = cluster.exists()
    except LabError as error:  # no kind, or Docker down: that is the one thing to fix first
        return env.fail(error.message, error.status)
    if not exists:
        return env.fail(
            f"there is no lab cluster {cluster.name} to check: create it with `make lab-up`",
            ExitStatus.MISSING_PREREQUISITE,
        )
    result = enforcement.check_enforcement(
        runner,
        kubectl=cluster.kubectl,
        image=Pins.from_env(env.env).agnhost_image,
        sleep=sleep,
        interval=ENFORCEMENT_INTERVAL,
        cluster_policy=True,
    )
    env.out(result.message)
    if result.cluster_policy_message:  # a second finding: the exit status stays NetworkPolicy's
        env.out(result.cluster_policy_message)
    return ENFORCEMENT_STATUS[result.verdict]
