"""Calico's CRD schemas for the tests: from the pinned, checksum-verified bundle when it is cached, else
from ../shared/schemas beside the repository. They are read, never copied into the repository.

The bundle is the file `up` fetches and verifies (``.cache/calico/<version>/v1_crd_projectcalico_org.yaml``,
also what an offline bundle holds): after a first `make lab-up` every machine has the real schemas.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from lab import pins
from lab.env import project_root

ROOT = project_root()
SHARED = ROOT.parent / "shared" / "schemas"
BUNDLE = ROOT / ".cache" / "calico" / pins.CALICO_VERSION / "v1_crd_projectcalico_org.yaml"
MISSING = (
    f"Calico's CRD schemas are not here: `make lab-up` fetches and verifies the pinned bundle into "
    f"{BUNDLE.relative_to(ROOT)} (or put the shared/ folder beside the repository)"
)


def _verified_bundle() -> Path | None:
    pinned = next(p for p in pins.CALICO_MANIFESTS if p.name == BUNDLE.name)
    if not BUNDLE.is_file():
        return None
    data = BUNDLE.read_bytes()
    if len(data) != pinned.size or hashlib.sha256(data).hexdigest() != pinned.sha256:
        return None
    return BUNDLE


@functools.cache
def _from_bundle() -> dict[tuple[str, str, str], dict[str, Any]]:
    bundle = _verified_bundle()
    if bundle is None:
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for doc in yaml.load_all(bundle.read_text(encoding="utf-8"), Loader=loader):
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                out[(spec["group"], version["name"], spec["names"]["kind"])] = schema
    return out


def source() -> str | None:
    """Where the schemas come from here (None: nowhere, the checks skip with ``MISSING``)."""
    if _from_bundle():
        return str(BUNDLE.relative_to(ROOT))
    if SHARED.is_dir():
        return str(SHARED)
    return None


@functools.cache
def schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The openAPIV3Schema of a kind (projectcalico.org/v3 objects share crd.projectcalico.org/v1 specs)."""
    group, version = api_version.split("/")
    if group == "projectcalico.org":  # served by Calico's API server with the CRD's spec
        group, version = "crd.projectcalico.org", "v1"
    found = _from_bundle().get((group, version, kind))
    if found is not None:
        return found
    path = SHARED / f"{group}_{version}_{kind}.json"
    if path.is_file():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    return None
