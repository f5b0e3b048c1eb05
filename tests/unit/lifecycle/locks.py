"""A made-up images.lock.json for the lab's pins: digests derived from each image's name, so every
test agrees on them (nothing here is a real registry digest); the digest-pinned images keep the
index digest lab/pins.py pins, as `images lock` would find."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lab.lifecycle import imagelock, images
from lab.pins import Pins


def fake_digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("/".join(parts).encode()).hexdigest()


def lock_data(pins: Pins | None = None) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for ref in (pins or Pins()).lock_images():
        image = images.Image(ref)
        entries[image.name] = {
            "index": image.digest or fake_digest(image.name, "index"),
            "platforms": {
                platform: {
                    "manifest": fake_digest(image.name, platform, "manifest"),
                    "config": fake_digest(image.name, platform, "config"),
                }
                for platform in imagelock.PLATFORMS
            },
        }
    return {"schema": imagelock.SCHEMA, "images": entries}


def write_lock(root: Path, data: dict[str, Any] | None = None) -> Path:
    path = root / "images.lock.json"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data if data is not None else lock_data(), indent=2))
    return path


def index_of(name: str) -> str:
    return str(lock_data()["images"][name]["index"])


def config_of(name: str, platform: str = "linux/amd64") -> str:
    return str(lock_data()["images"][name]["platforms"][platform]["config"])


def inspect_rows(ids: dict[str, str], platform: str = "linux/amd64") -> str:
    """What `docker image inspect --format '{{json .}}' NAME...` prints: one object per line."""
    os_, arch = platform.split("/")
    return "\n".join(
        json.dumps({"Id": digest, "RepoTags": [name], "RepoDigests": [], "Os": os_, "Architecture": arch})
        for name, digest in ids.items()
    )
