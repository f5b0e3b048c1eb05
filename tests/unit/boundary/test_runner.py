"""The real command runner (ShRunner) against fake executables on PATH."""

from __future__ import annotations

import io
import stat
from pathlib import Path

from lab.boundary.runner import NOT_FOUND_EXIT, TIMEOUT_EXIT, Result, ShRunner, echo_line


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def runner(tmp_path: Path, **kwargs: object) -> tuple[ShRunner, io.StringIO]:
    echo = io.StringIO()
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return ShRunner(echo, env=env, cwd=tmp_path, **kwargs), echo  # type: ignore[arg-type]


def test_runs_echoes_and_captures(tmp_path: Path) -> None:
    fake(tmp_path, "kind", 'echo "out $*"; echo "progress" >&2; exit 3\n')
    run, echo = runner(tmp_path)
    result = run.run(["kind", "get", "clusters", "--name", "a b"])
    assert echo.getvalue() == "$ kind get clusters --name 'a b'\n"
    assert result.exit_code == 3
    assert (result.stdout, result.stderr) == ("out get clusters --name a b\n", "progress\n")
    assert not result.ok


def test_input_goes_to_stdin(tmp_path: Path) -> None:
    fake(tmp_path, "kubectl", "cat\n")
    run, _ = runner(tmp_path)
    assert run.run(["kubectl", "apply", "-f", "-"], input="kind: List\n").stdout == "kind: List\n"


def test_missing_program_is_a_value_not_an_exception(tmp_path: Path) -> None:
    run, _ = runner(tmp_path)
    result = run.run(["kind", "version"])
    assert result.not_found and result.exit_code == NOT_FOUND_EXIT
    assert result.error_line() == "kind: command not found"


def test_timeout_is_a_value(tmp_path: Path) -> None:
    fake(tmp_path, "docker", "sleep 5\n")
    run, _ = runner(tmp_path)
    result = run.run(["docker", "info"], timeout=0.3)
    assert result.timed_out and result.exit_code == TIMEOUT_EXIT
    assert "did not finish in time" in result.error_line()


def test_dry_run_runs_nothing_and_shows_input(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    fake(tmp_path, "kind", f"touch {marker}\n")
    run, echo = runner(tmp_path, dry_run=True)
    result = run.run(["kind", "create", "cluster"], input="a: 1\n")
    assert result.dry_run and result.ok
    assert not marker.exists()
    assert echo.getvalue() == "$ kind create cluster <<'EOF'\na: 1\nEOF\n"


def test_stream_shows_output_live(tmp_path: Path) -> None:
    fake(tmp_path, "kind", 'echo " * Creating cluster" >&2\n')
    run, echo = runner(tmp_path)
    run.run(["kind", "create", "cluster"], stream=True, echo=False)
    assert echo.getvalue() == "   * Creating cluster\n"


def test_environment_is_passed_whole(tmp_path: Path) -> None:
    fake(tmp_path, "kubectl", 'echo "$HOME"\n')
    run, _ = runner(tmp_path)
    assert run.run(["kubectl"]).stdout.strip() == str(tmp_path)


def test_error_line_prefers_the_error_message() -> None:
    result = Result(("kind", "create"), 1, "", "Creating cluster\nERROR: failed to create cluster: boom\n")
    assert result.error_line() == "ERROR: failed to create cluster: boom"
    assert Result(("x",), 2).error_line() == "`x` exited with 2"
    assert echo_line(["a", "b c"]) == "$ a 'b c'"
