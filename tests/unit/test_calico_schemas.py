"""The Calico schema checks read the verified bundle from the cache first, then ../shared/schemas."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from lab import pins
from tests import calico_schemas
from tests.model.world import crd_object


@pytest.fixture
def cached_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    crd = crd_object("crd.projectcalico.org", "Tier", "tiers", "Cluster", None)
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {
        "type": "object",
        "description": "from the bundle",
    }
    data = yaml.safe_dump(crd).encode()
    bundle = tmp_path / "v1_crd_projectcalico_org.yaml"
    bundle.write_bytes(data)
    pinned = [
        replace(p, sha256=hashlib.sha256(data).hexdigest(), size=len(data)) if p.name == bundle.name else p
        for p in pins.CALICO_MANIFESTS
    ]
    monkeypatch.setattr(pins, "CALICO_MANIFESTS", tuple(pinned))
    monkeypatch.setattr(calico_schemas, "BUNDLE", bundle)
    monkeypatch.setattr(calico_schemas, "ROOT", tmp_path)
    calico_schemas._from_bundle.cache_clear()
    calico_schemas.schema.cache_clear()
    yield bundle
    calico_schemas._from_bundle.cache_clear()
    calico_schemas.schema.cache_clear()


def test_the_verified_bundle_comes_first(cached_bundle: Path) -> None:
    found = calico_schemas.schema("projectcalico.org/v3", "Tier")
    assert found == {"type": "object", "description": "from the bundle"}
    assert calico_schemas.source() == cached_bundle.name


def test_a_bundle_that_does_not_match_its_pin_is_not_used(cached_bundle: Path) -> None:
    cached_bundle.write_bytes(cached_bundle.read_bytes() + b"# altered\n")
    calico_schemas._from_bundle.cache_clear()
    calico_schemas.schema.cache_clear()
    found = calico_schemas.schema("projectcalico.org/v3", "Tier")
    assert found is None or found.get("description") != "from the bundle"
