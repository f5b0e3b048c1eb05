"""Build the lab, step by step: check this machine, fetch and verify Calico's pinned
manifests, create the kind cluster (1 control plane, 2 workers), load the images Docker
already has into it, install the network (Calico, kind's kindnet, or the plain network that
enforces nothing), wait for it, deploy the four workloads, the probes' control pod and the
metadata stand-in, wait until they are Ready, and check whether NetworkPolicy is enforced.

Safe to rerun: a healthy lab is left as it is, a half-built one is carried on, and a
cluster of the same name built differently is reported with the command to rebuild
it. Every kind and kubectl command is printed as you could type it; --dry-run prints
the whole plan and runs nothing."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle.build import DEFAULT_TIMEOUT, UpOptions, build
from lab.lifecycle.cni import CNIS, DEFAULT_CNI
from lab.scenario import IP_FAMILIES, IPV4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print the whole plan in order and run nothing"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"overall time limit for building the lab (default {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--cni",
        choices=sorted(CNIS),
        default=DEFAULT_CNI,
        help="network plugin: calico (default; NetworkPolicy and Calico policies), kindnet (kind's own; "
        "enforces NetworkPolicy) or plain (enforces NO NetworkPolicy: a policy alone does nothing)",
    )
    parser.add_argument(
        "--ip-family",
        choices=IP_FAMILIES,
        default=IPV4,
        help="ipv4 (default) or dual: a dual-stack lab (kind's ipFamily dual, a Calico IPv6 pool, IPv6 "
        "probes beside the IPv4 ones); falls back to ipv4 when Docker has no IPv6",
    )
    parser.add_argument(
        "--skip-enforcement-check",
        dest="enforcement_check",
        action="store_false",
        help="do not check with a canary pod whether the cluster enforces NetworkPolicy",
    )
    parser.add_argument(
        "--no-flow-ui",
        dest="flow_ui",
        action="store_false",
        help="leave out Whisker and Goldmane (Calico's flow UI), for laptops short of memory",
    )
    parser.add_argument(
        "--calico-dir",
        metavar="DIR",
        help="take Calico's manifests from this folder instead of downloading them (offline workshops; "
        "checksums still apply; also NETPOL_LAB_CALICO_DIR)",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file for kind and kubectl (default: kind's)")


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    if not args.timeout > 0:
        return env.fail(f"--timeout {args.timeout:g}: give a number of seconds above 0", ExitStatus.USAGE)
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root, dry_run=args.dry_run)
    return execute(args, env, runner)


def execute(
    args: argparse.Namespace,
    env: Environment,
    runner: Runner,
    *,
    system: str | None = None,
    proc: Path = Path("/proc"),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExitStatus:
    options = UpOptions(
        cni=args.cni,
        timeout=args.timeout,
        flow_ui=args.flow_ui,
        calico_dir=args.calico_dir,
        kubeconfig=args.kubeconfig,
        enforcement_check=args.enforcement_check,
        ip_family=args.ip_family,
    )
    return build(options, env, runner, system=system, proc=proc, sleep=sleep, clock=clock)
