"""The environment (streams, tty, env vars, the lab's folder) passed to every command.

Commands never touch ``sys.stdout`` or ``os.environ`` directly: they receive an
``Environment``, so tests can capture output and assert on exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console

from lab.errors import ExitStatus


def project_root() -> Path:
    """The repository folder (holds manifests/, stages/, kind-config.yaml)."""
    return Path(__file__).resolve().parent.parent


@dataclass
class Environment:
    """What a command may read and write besides its arguments."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdout_isatty: bool | None = None
    root: Path = field(default_factory=project_root)

    def __post_init__(self) -> None:
        if self.stdout_isatty is None:
            isatty = getattr(self.stdout, "isatty", None)
            self.stdout_isatty = bool(isatty and isatty())

    @property
    def color(self) -> bool:
        """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
        return bool(self.stdout_isatty) and "NO_COLOR" not in self.env

    def console(self, *, stderr: bool = False) -> Console:
        """A rich console on our stream: styled on a terminal, plain text otherwise."""
        stream = self.stderr if stderr else self.stdout
        return Console(
            file=stream,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            soft_wrap=True,
            # off a terminal (a pipe, a CI log) nothing is to fit: wide enough for a dual-stack matrix
            width=None if self.stdout_isatty else 400,
        )

    def out(self, text: str = "") -> None:
        """Write one line to stdout."""
        print(text, file=self.stdout, flush=True)

    def err(self, text: str) -> None:
        """Write one line to stderr."""
        print(text, file=self.stderr, flush=True)

    def fail(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> ExitStatus:
        """Report one plain error line (what went wrong and the fix) and return its status."""
        self.err(f"error: {message}")
        return status
