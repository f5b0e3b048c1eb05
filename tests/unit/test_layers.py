"""Imports go downward only: boundaries <- domain <- reports <- commands <- cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab.env import project_root

PACKAGE = project_root() / "lab"
BOUNDARIES = {"lab", "lab.env", "lab.errors", "lab.pins", "lab.boundary.runner", "lab.boundary.kube"}


def rank(module: str) -> int:
    if module in BOUNDARIES:
        return 0
    if module == "lab.cli" or module == "lab.__main__":
        return 4
    if module.startswith("lab.commands"):
        return 3
    if module.startswith("lab.report"):
        return 2
    return 1  # the lab's domain: scenario, matrix, stages, policy/, probe/, cluster, calico, ...


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lab_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lab"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lab"))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_go_down(path: Path) -> None:
    me = module_name(path)
    upward = sorted(m for m in lab_imports(path) if rank(m) > rank(me))
    assert not upward, f"{me} (layer {rank(me)}) imports from a higher layer: {upward}"


def test_rank_classifies_the_layers() -> None:
    assert (
        rank("lab.boundary.runner") < rank("lab.matrix") < rank("lab.report.table") < rank("lab.commands.up")
    )
    assert rank("lab.commands.up") < rank("lab.cli")
