"""Put fake kind/kubectl/docker executables on a PATH (the real ShRunner then runs them)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAKE_TOOL = Path(__file__).with_name("fake_tool.py")


@dataclass
class FakeTools:
    bin_dir: Path
    script_path: Path
    log_path: Path

    def script(self, answers: dict[str, dict[str, Any]]) -> None:
        self.script_path.write_text(json.dumps(answers))

    @property
    def calls(self) -> list[list[str]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    @property
    def lines(self) -> list[str]:
        return [" ".join(call) for call in self.calls]

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}:/usr/bin:/bin",
            "FAKE_TOOL_SCRIPT": str(self.script_path),
            "FAKE_TOOL_LOG": str(self.log_path),
            "HOME": str(self.bin_dir.parent),
            **extra,
        }


def install(folder: Path, tools: tuple[str, ...] = ("kind", "kubectl", "docker")) -> FakeTools:
    """Executables named ``tools`` in ``folder/bin`` that run fake_tool.py with this Python."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_TOOL}" {tool} "$@"\n')
        path.chmod(0o755)
    fakes = FakeTools(bin_dir, folder / "script.json", folder / "calls.log")
    fakes.script({})
    return fakes
