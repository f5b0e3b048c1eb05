"""Workshop stages: folders of policy manifests with their expectation tables.

``stages/<N>-<slug>/`` holds ``README.md`` (first line ``# Stage N: title``), ``expect.txt``
(a hand-written ``Matrix`` table) and zero or more policy manifests (``*.yaml``). Stages
are cumulative: the policies in force at stage N are those of folders 0..N.
"""

from __future__ import annotations

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


def cumulative_documents(stages: list[Stage], number: int) -> list[dict[str, Any]]:
    """The policies in force at stage ``number``: those of stages 0..number."""
    docs: list[dict[str, Any]] = []
    for stage in stages:
        if stage.number <= number:
            docs.extend(stage.documents())
    return docs
