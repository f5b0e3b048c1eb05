"""Workshop stages: folders of policy manifests with their expectation tables.

``stages/<N>-<slug>/`` holds ``README.md`` (first line ``# Stage N: title``), ``expect.txt``
(a hand-written ``Matrix`` table) and zero or more policy manifests (``*.yaml``). Stages
are cumulative: the policies in force at stage N are those of folders 0..N, except those of
the stages a later one replaces (``stage.json``: ``{"replaces": [6]}``: stage 7 puts stage 6's
guardrails into another API, so stage 6's objects are not in force from stage 7 on).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from lab.errors import ExitStatus, LabError
from lab.matrix import Matrix

SEED_STAGE = 4  # the stage at which every rule of the scenario holds
STAGE_LABEL = "netpol-lab/stage"  # carried by every stage policy, for declarative apply
_FOLDER = re.compile(r"^(\d+)-([a-z0-9-]+)$")


@dataclass(frozen=True)
class Stage:
    number: int
    slug: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.number}-{self.slug}"

    @cached_property
    def text(self) -> str:
        """The participant's explanation (README.md)."""
        return (self.path / "README.md").read_text(encoding="utf-8")

    @property
    def title(self) -> str:
        first = self.text.splitlines()[0] if self.text else ""
        return first.lstrip("# ").split(":", 1)[-1].strip() or self.slug

    @cached_property
    def expect(self) -> Matrix:
        path = self.path / "expect.txt"
        try:
            return Matrix.from_table(path.read_text(encoding="utf-8"), title=f"stage {self.number}")
        except (OSError, ValueError) as error:
            raise LabError(f"{path}: {error}", ExitStatus.USAGE) from error

    @property
    def manifest_files(self) -> list[Path]:
        return sorted(self.path.glob("*.yaml"))

    @cached_property
    def replaces(self) -> tuple[int, ...]:
        """The earlier stages whose objects this one takes out of force (``stage.json``)."""
        path = self.path / "stage.json"
        if not path.is_file():
            return ()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            numbers = data["replaces"]
            if not isinstance(numbers, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 <= n < self.number for n in numbers
            ):
                raise ValueError("replaces must list earlier stage numbers")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LabError(f"{path}: {error}", ExitStatus.USAGE) from error
        return tuple(numbers)

    def documents(self) -> list[dict[str, Any]]:
        """This stage's own policy objects (not the earlier stages')."""
        docs: list[dict[str, Any]] = []
        for path in self.manifest_files:
            try:
                loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except yaml.YAMLError as error:
                raise LabError(f"{path}: not valid YAML: {error}", ExitStatus.USAGE) from error
            docs.extend(doc for doc in loaded if doc)
        return docs


def load_stages(root: Path) -> list[Stage]:
    """Every stage folder under ``root/stages``, in order."""
    folder = root / "stages"
    stages = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = _FOLDER.match(path.name)
        if match and path.is_dir():
            stages.append(Stage(int(match.group(1)), match.group(2), path))
    stages.sort(key=lambda s: s.number)
    if not stages:
        raise LabError(f"no stages found in {folder}", ExitStatus.USAGE)
    return stages


def stage_by_name(stages: list[Stage], name: str) -> Stage:
    """A stage by number, folder name or slug; ``seed`` is the stage where every rule holds."""
    wanted = str(SEED_STAGE) if name == "seed" else name
    for stage in stages:
        if wanted in (str(stage.number), stage.name, stage.slug):
            return stage
    known = ", ".join(str(s.number) for s in stages)
    raise LabError(f"no stage {name!r}: choose one of {known} or seed", ExitStatus.USAGE)


def in_force(stages: list[Stage], number: int) -> list[Stage]:
    """The stages whose objects are in force at stage ``number``: 0..number, minus those replaced."""
    upto = [s for s in stages if s.number <= number]
    replaced = {n for s in upto for n in s.replaces}
    return [s for s in upto if s.number not in replaced]


def cumulative_documents(stages: list[Stage], number: int) -> list[dict[str, Any]]:
    """The policies in force at stage ``number``."""
    return [doc for stage in in_force(stages, number) for doc in stage.documents()]
