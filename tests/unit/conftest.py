"""Fixtures shared by the offline suite: a lab world on the model API server (real kubectl), and a
scripted exec server for the exec transport's failure modes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.boundary.kube import KubeClients
from lab.lifecycle import waits
from tests.model.world import KUBECTL, NO_KUBECTL, LabWorld
from tests.unit.probe.fake_apiserver import FakeApiServer, write_kubeconfig

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason=NO_KUBECTL)


@pytest.fixture
def model_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabWorld]:
    """A machine with Docker, kind and a kubectl, all pointing at a fresh model cluster.

    The lab's waits poll every 2 s against a real cluster; the model answers within a tick, so
    the waits here poll every 0.1 s (what is waited for, and how, stays the same)."""
    if KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    monkeypatch.setattr(waits, "POLL_INTERVAL", 0.1)
    world = LabWorld(tmp_path)
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", apiserver.url)


@pytest.fixture
def clients(kubeconfig: Path) -> Iterator[KubeClients]:
    made = KubeClients(str(kubeconfig), "kind-netpol-lab")
    try:
        yield made
    finally:
        made.close()
