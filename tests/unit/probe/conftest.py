"""Fixtures: a local fake API server and a kubeconfig pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.kube import KubeClients
from tests.unit.probe.fake_apiserver import FakeApiServer, write_kubeconfig


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
