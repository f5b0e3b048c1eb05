"""images.lock.json: each image's multi-architecture index digest and its per-platform digests.

`netpol-lab images lock` writes it on a machine with registry access; it is committed with the
repository like lab/pins.py, and `images`, `up` and `bundle` read it. It is input from a file, so
it is checked before anything uses it: its JSON shape, the schema version, and every digest
(``sha256:`` and 64 hex digits). A broken lock is refused with one line naming the file and the
entry; it is never half used.

Schema 1::

    {
      "schema": 1,
      "images": {
        "quay.io/calico/node:v3.32.1": {
          "index": "sha256:...",                      # the multi-architecture index (what pods name)
          "platforms": {
            "linux/amd64": {"manifest": "sha256:...",  # the platform's image manifest
                            "config": "sha256:..."},   # its config: Docker's image ID (classic store)
            "linux/arm64": {...}
          }
        }
      }
    }
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.errors import ExitStatus, LabError

SCHEMA = 1
PLATFORMS = ("linux/amd64", "linux/arm64")  # every entry has both: the laptops a workshop meets
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?")
TOP_LEVEL = ("schema", "images")
RELOCK = "rerun `netpol-lab images lock` on a machine with registry access (or delete the file to pin by tag)"


@dataclass(frozen=True)
class PlatformDigests:
    """One platform's image: the manifest the index lists, and the image config it names."""

    manifest: str
    config: str


@dataclass(frozen=True)
class LockedImage:
    """One image of the lock: ``repo:tag``, its index digest, and its digests per platform."""

    name: str
    index: str
    platforms: Mapping[str, PlatformDigests]

    @property
    def ref(self) -> str:
        """``repo:tag@sha256:...``: how the lab names an image pinned by digest."""
        return f"{self.name}@{self.index}"


@dataclass(frozen=True)
class Lock:
    path: Path
    images: Mapping[str, LockedImage]


class LockError(LabError):
    """A lock file that cannot be used: one line naming the file, the entry and the fix."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}; {RELOCK}", ExitStatus.USAGE)


def read(path: Path) -> Lock | None:
    """The lock at ``path``, checked; None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise LockError(path, f"cannot read it ({error})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LockError(path, f"not JSON ({error.msg} at line {error.lineno})") from None
    return parse(path, data)


def parse(path: Path, data: Any) -> Lock:
    """Check the shape and every digest of a decoded lock."""
    if not isinstance(data, dict):
        raise LockError(path, "not a JSON object")
    if data.get("schema") != SCHEMA:
        raise LockError(path, f"schema {data.get('schema')!r}: this lab reads schema {SCHEMA}")
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise LockError(path, f"unknown key {unknown[0]!r} (a lock has {', '.join(TOP_LEVEL)})")
    entries = data.get("images")
    if not isinstance(entries, dict) or not entries:
        raise LockError(path, 'no "images" object')
    images = {name: _entry(path, name, entry) for name, entry in entries.items()}
    return Lock(path, images)


def _entry(path: Path, name: str, entry: Any) -> LockedImage:
    def bad(what: str) -> LockError:
        return LockError(path, f"entry {name!r}: {what}")

    if "@" in name or ":" not in name.rsplit("/", 1)[-1]:
        raise bad("the key must be the image's repo:tag")
    if not isinstance(entry, dict) or set(entry) != {"index", "platforms"}:
        raise bad('must hold exactly "index" and "platforms"')
    index = _digest(entry["index"], "index", bad)
    platforms = entry["platforms"]
    if not isinstance(platforms, dict):
        raise bad('"platforms" is not an object')
    missing = [p for p in PLATFORMS if p not in platforms]
    if missing:
        raise bad(f"no {missing[0]} digests")
    digests = {}
    for platform, pair in platforms.items():
        if not PLATFORM.fullmatch(str(platform)):
            raise bad(f"{platform!r} is not a platform like linux/amd64")
        if not isinstance(pair, dict) or set(pair) != {"manifest", "config"}:
            raise bad(f'platforms.{platform} must hold exactly "manifest" and "config"')
        digests[platform] = PlatformDigests(
            _digest(pair["manifest"], f"platforms.{platform}.manifest", bad),
            _digest(pair["config"], f"platforms.{platform}.config", bad),
        )
    return LockedImage(name, index, digests)


def _digest(value: Any, field: str, bad: Any) -> str:
    if not isinstance(value, str) or not DIGEST.fullmatch(value):
        raise bad(f"{field} {value!r} is not sha256: followed by 64 hex digits")
    return value


def to_json(images: Mapping[str, LockedImage]) -> str:
    entries = {
        name: {
            "index": image.index,
            "platforms": {
                platform: {"manifest": pair.manifest, "config": pair.config}
                for platform, pair in image.platforms.items()
            },
        }
        for name, image in images.items()
    }
    return json.dumps({"schema": SCHEMA, "images": entries}, indent=2) + "\n"


def write(path: Path, images: Mapping[str, LockedImage]) -> Lock:
    """Write the lock atomically (a reader never sees half a file) and return it as read back."""
    text = to_json(images)
    lock = parse(path, json.loads(text))  # what we write must be what we would accept
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return lock
