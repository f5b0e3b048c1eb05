"""Test doubles for the lab's seams: a recording command runner and a captured environment."""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from lab.boundary.runner import Result, echo_line
from lab.env import Environment, project_root

Answer = Result | Callable[[tuple[str, ...], str | None], Result]


@dataclass
class Call:
    argv: tuple[str, ...]
    input: str | None
    timeout: float | None

    @property
    def line(self) -> str:
        return shlex.join(self.argv)


@dataclass
class RecordingRunner:
    """Records every command and answers from a script.

    ``script`` maps a command-line prefix (``"kind get clusters"``) to a ``Result`` or a
    function of (argv, input); the longest matching prefix wins. Unscripted commands
    succeed with empty output, unless ``strict`` is set.
    """

    script: dict[str, Answer] = field(default_factory=dict)
    dry_run: bool = False
    strict: bool = False
    calls: list[Call] = field(default_factory=list)
    echoed: list[str] = field(default_factory=list)

    def answer(self, prefix: str, exit_code: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.script[prefix] = Result(tuple(shlex.split(prefix)), exit_code, stdout, stderr)

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
            self.echoed.append(echo_line(args))
        self.calls.append(Call(args, input, timeout))
        if self.dry_run:
            return Result(args, 0, dry_run=True)
        line = shlex.join(args)
        best = max((p for p in self.script if line == p or line.startswith(p + " ")), key=len, default=None)
        if best is None:
            if self.strict:
                raise AssertionError(f"unscripted command: {line}")
            return Result(args, 0)
        answer = self.script[best]
        if callable(answer):
            return answer(args, input)
        return Result(
            args, answer.exit_code, answer.stdout, answer.stderr, answer.timed_out, answer.not_found
        )

    @property
    def lines(self) -> list[str]:
        return [call.line for call in self.calls]


def captured_env(
    env: dict[str, str] | None = None, *, root: Path | None = None, tty: bool = False
) -> Environment:
    """An Environment writing into StringIO buffers (read them with ``.stdout.getvalue()``)."""
    return Environment(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin=io.StringIO(),
        env=dict(env or {"PATH": "/usr/bin:/bin"}),
        stdout_isatty=tty,
        root=root or project_root(),
    )


def output(env: Environment) -> str:
    return _captured(env.stdout)


def errors(env: Environment) -> str:
    return _captured(env.stderr)


def _captured(stream: TextIO) -> str:
    assert isinstance(stream, io.StringIO), "not a captured_env() stream"
    return stream.getvalue()
