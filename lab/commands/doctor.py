"""Check this machine for the lab: Docker answers, kind and kubectl are present and new
enough, inotify limits (Linux), free memory, and whether the lab's cluster exists.
Each problem is one line with its fix; exits 4 when the lab cannot be built."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from lab import doctor
from lab.env import Environment, ExitStatus
from lab.runner import Runner, ShRunner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    return execute(env, ShRunner(env.stdout, env=env.env, cwd=env.root))


def execute(
    env: Environment, runner: Runner, *, system: str | None = None, proc: Path = Path("/proc")
) -> ExitStatus:
    findings = doctor.run_checks(runner, system=system or platform.system(), proc=proc)
    for finding in findings:
        env.out(finding.line)
    failed = doctor.failures(findings)
    if failed:
        env.err(f"error: {len(failed)} problem(s) stop the lab from being built: fix the FAIL lines above")
        return ExitStatus.MISSING_PREREQUISITE
    return ExitStatus.SUCCESS
