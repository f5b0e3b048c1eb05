"""Exit statuses, and the one exception type the lab raises on purpose: a plain message with its fix."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Process exit codes, one meaning each."""

    SUCCESS = 0
    ERROR = 1  # a step failed (the message says which and how to fix it)
    USAGE = 2  # bad arguments or bad input files
    MISMATCH = 3  # probes or checks disagree with the expectation
    MISSING_PREREQUISITE = 4  # Docker, kind or kubectl missing or unusable
    TIMEOUT = 5  # something did not become ready in time
    INTERRUPTED = 130  # Ctrl-C


class LabError(Exception):
    """An expected failure: shown as one line (what went wrong, then how to fix it)."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
