"""The process boundary: every kind, kubectl and docker call goes through a ``Runner``.

The runner echoes each command as a line a participant could type (``$ kind create
cluster ...``), supports a dry run that runs nothing, applies timeouts, and returns
errors as values (``Result``) instead of raising: callers decide what a failure means.
Tests substitute ``tests.fakes.RecordingRunner`` or put fake executables on PATH.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import sh

from lab.errors import ExitStatus, LabError

NOT_FOUND_EXIT = 127  # what a shell reports for a missing command
TIMEOUT_EXIT = 124  # what coreutils' timeout(1) reports


@dataclass(frozen=True)
class Result:
    """The outcome of one command."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    not_found: bool = False
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def error_line(self) -> str:
        """The most telling single line of the failure, for a one-line error message."""
        if self.not_found:
            return f"{self.argv[0]}: command not found"
        if self.timed_out:
            return f"`{self.command_line}` did not finish in time"
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.startswith(("ERROR", "error", "Error"))]
            if errors:
                return errors[-1]
            if lines:
                return lines[-1]
        return f"`{self.command_line}` exited with {self.exit_code}"

    def failure(self, what: str, fix: str) -> LabError:
        """The one way from a failed command to an error line: what failed, why, and the fix.

        A missing program and a timeout have their own fix and exit status, whatever the step."""
        if self.not_found:
            return not_installed(self.argv[0])
        if self.timed_out:
            return LabError(
                f"{what}: `{self.command_line}` did not finish in time; {fix}", ExitStatus.TIMEOUT
            )
        return LabError(f"{what} failed: {self.error_line()}; {fix}")


TOOLS_FIX = "run `make tools` (pinned kind and kubectl into ./bin, checksums verified), then rerun"
INSTALL_FIXES = {
    "kind": TOOLS_FIX,
    "kubectl": TOOLS_FIX,
    "docker": "install Docker Desktop or Docker Engine (https://docs.docker.com/get-docker/), start it, "
    "and rerun",
}


def not_installed(program: str) -> LabError:
    """A program the lab needs is not on PATH: one line with how to get it."""
    fix = INSTALL_FIXES.get(program, f"install {program} and rerun")
    return LabError(f"{program} is not installed (not on PATH): {fix}", ExitStatus.MISSING_PREREQUISITE)


class Runner(Protocol):
    """Runs external commands; the only way the lab starts a process."""

    dry_run: bool

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        echo: bool = True,
        stream: bool = False,
    ) -> Result:
        """Run ``argv``; ``echo`` prints it first, ``stream`` shows its output live."""
        ...


def echo_line(argv: Sequence[str], input: str | None = None) -> str:
    """The copy-pasteable form of a command, with a here-document for its input."""
    line = "$ " + shlex.join(argv)
    if input is not None:
        line += " <<'EOF'\n" + input.rstrip("\n") + "\nEOF"
    return line


class ShRunner:
    """The real runner, built on ``sh``.

    ``sh`` pitfalls handled here: ``_env`` replaces the whole environment (so we pass a
    full copy), ``_tty_out`` defaults to True (we turn it off so output can be parsed),
    a missing program raises ``CommandNotFound`` and a timeout raises
    ``TimeoutException``, neither of them an ``ErrorReturnCode``.
    """

    def __init__(
        self,
        echo_to: TextIO,
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        dry_run: bool = False,
        echo_input: bool = False,
    ) -> None:
        self.echo_to = echo_to
        self.env = dict(env)
        self.cwd = cwd
        self.dry_run = dry_run
        self.echo_input = echo_input

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        echo: bool = True,
        stream: bool = False,
    ) -> Result:
        args = tuple(argv)
        if echo or self.dry_run:
            shown = input if (self.echo_input or self.dry_run) else None
            print(echo_line(args, shown), file=self.echo_to, flush=True)
        if self.dry_run:
            return Result(args, 0, dry_run=True)
        try:
            program = sh.Command(args[0], search_paths=_search_paths(self.env))
        except sh.CommandNotFound:
            return Result(args, NOT_FOUND_EXIT, not_found=True)
        out: list[str] = []
        err: list[str] = []
        kwargs: dict[str, Any] = {
            "_env": self.env,
            "_tty_out": False,
            "_return_cmd": True,
            "_ok_code": list(range(256)),
            "_out": self._collector(out, stream),
            "_err": self._collector(err, stream),
        }
        if input is not None:
            kwargs["_in"] = input
        if timeout is not None:
            kwargs["_timeout"] = timeout
        if self.cwd is not None:
            kwargs["_cwd"] = str(self.cwd)
        try:
            finished = program(*args[1:], **kwargs)
            code = int(finished.exit_code)
        except sh.TimeoutException:
            return Result(args, TIMEOUT_EXIT, "".join(out), "".join(err), timed_out=True)
        except sh.SignalException as exc:
            return Result(args, 128 + abs(int(exc.exit_code)), "".join(out), "".join(err))
        return Result(args, code, "".join(out), "".join(err))

    def _collector(self, sink: list[str], stream: bool) -> Callable[[str], None]:
        def collect(chunk: str) -> None:
            sink.append(chunk)
            if stream:
                self.echo_to.write("  " + chunk if chunk.endswith("\n") else chunk)
                self.echo_to.flush()

        return collect


def _search_paths(env: Mapping[str, str]) -> list[str]:
    """PATH of the environment we run with (so a project-local bin/ or a test's fakes win)."""
    return [p for p in env.get("PATH", "").split(":") if p]
