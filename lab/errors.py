"""The one exception type the lab raises on purpose: a plain message with its fix."""

from __future__ import annotations

from lab.env import ExitStatus


class LabError(Exception):
    """An expected failure: shown as one line (what went wrong, then how to fix it)."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
