"""The Makefile's targets run the lab's tools the same way: ./bin (where `make tools` puts the pinned
kind and kubectl) comes first on PATH for every target that talks to a cluster."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from lab.env import project_root

ROOT = project_root()
CLUSTER_TARGETS = (
    *("lab-up", "lab-down", "lab-status", "doctor", "probe", "lab-report", "stage-list", "stage-apply"),
    *("stage-next", "stage-reset", "images-save", "images-load", "e2e"),
)


def planned(target: str) -> list[str]:
    """The commands `make` would run for ``target`` (make's own dry run; STAMP= skips the install)."""
    done = subprocess.run(
        ["make", "-n", "-s", "-C", str(ROOT), target, "STAMP="], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed: apt-get install make")
@pytest.mark.parametrize("target", CLUSTER_TARGETS)
def test_every_cluster_target_puts_the_pinned_tools_first_on_path(target: str) -> None:
    commands = [c for c in planned(target) if re.search(r"netpol-lab|pytest", c)]
    assert commands, f"make {target} runs neither netpol-lab nor pytest"
    for command in commands:
        assert command.startswith(f'PATH="{ROOT}/bin:'), command
