"""Every verb says the same thing with the same exit code (the table in the README).

0 done; 1 a step failed; 2 bad arguments or input; 3 the cluster disagrees (a flow, or enforcement);
4 no lab, or a missing prerequisite; 5 timed out; 130 interrupted. Each row runs the real command
line in a situation that calls for one code; the rows for 3, 1 and 5 with a running lab are the
whole-lab tests (tests/unit/test_whole_lab.py: the plain network's mismatches, stage 6 on kindnet,
an interrupted up)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.cli import run
from lab.env import project_root
from lab.errors import ExitStatus
from tests.fakes import captured_env, errors
from tests.model.world import LabWorld


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        ([], ExitStatus.USAGE),
        (["nonsense"], ExitStatus.USAGE),
        (["up", "--timeout", "-5"], ExitStatus.USAGE),
        (["up"], ExitStatus.MISSING_PREREQUISITE),
        (["down"], ExitStatus.MISSING_PREREQUISITE),
        (["status"], ExitStatus.MISSING_PREREQUISITE),
        (["doctor"], ExitStatus.MISSING_PREREQUISITE),
        (["doctor", "--enforcement"], ExitStatus.MISSING_PREREQUISITE),
        (["probe"], ExitStatus.MISSING_PREREQUISITE),
        (["probe", "--timeout", "0"], ExitStatus.USAGE),
        (["expect", "--state", "/nonexistent.yaml"], ExitStatus.USAGE),
        (["expect", "--outside", "1.1.1.1"], ExitStatus.USAGE),
        (["expect", "--stage", "seed"], ExitStatus.SUCCESS),
        (["explain", "nobody/x", "backend/backend", "80"], ExitStatus.USAGE),
        (["explain", "untrusted/untrusted", "backend/backend", "80"], ExitStatus.SUCCESS),
        (["stage", "list"], ExitStatus.SUCCESS),
        (["stage", "apply", "99"], ExitStatus.USAGE),
        (["stage", "apply", "3"], ExitStatus.MISSING_PREREQUISITE),
        (["report", "--result", "/nonexistent.json"], ExitStatus.USAGE),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(int(value)),
)
def test_each_verb_without_a_machine(argv: list[str], status: ExitStatus, tmp_path: Path) -> None:
    env = captured_env({"PATH": "/nonexistent", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")})
    try:
        got = run(argv, env)
    except SystemExit as exit_:  # argparse's own usage errors
        got = ExitStatus(exit_.code if isinstance(exit_.code, int) else ExitStatus.ERROR)
    assert got == status, errors(env)
    if status != ExitStatus.SUCCESS and argv:
        lines = [line for line in errors(env).splitlines() if line.startswith("error: ")]
        assert len(lines) <= 1  # one line, or argparse's usage


def test_a_lab_that_is_not_built_is_4_everywhere(model_world: LabWorld) -> None:
    model_world.kind_create()  # a cluster, but not the lab
    for argv in (["stage", "reset"], ["down"]):
        env = model_world.environment()
        assert run(argv, env) == ExitStatus.MISSING_PREREQUISITE, argv


def test_the_readme_lists_every_code_once() -> None:
    text = (project_root() / "README.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = [int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)]
    assert codes == sorted({int(s) for s in ExitStatus})
