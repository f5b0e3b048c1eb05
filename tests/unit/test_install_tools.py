"""scripts/install-tools.sh: pinned kind and kubectl into ./bin, checked against the published
checksums (served here by a local HTTP server standing in for the release sites)."""

from __future__ import annotations

import hashlib
import http.server
import platform
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import pins
from lab.env import project_root

SCRIPT = project_root() / "scripts" / "install-tools.sh"
OS = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "")
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")

pytestmark = pytest.mark.skipif(
    not (OS and ARCH and shutil.which("bash") and (shutil.which("curl") or shutil.which("wget"))),
    reason="needs bash, curl or wget, and a linux/darwin amd64/arm64 machine (what the script supports)",
)

KIND = f"#!/bin/sh\necho 'kind {pins.KIND_VERSION} go1.24 {OS}/{ARCH}'\n".encode()
KUBECTL = f"#!/bin/sh\necho 'Client Version: {pins.KUBERNETES_VERSION}'\n".encode()


class Releases:
    """kind's and Kubernetes' download layouts on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                seen.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.folder = folder
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, kind: bytes = KIND, kubectl: bytes = KUBECTL, *, kind_sum: str | None = None) -> None:
        kind_dir = self.folder / "kind" / pins.KIND_VERSION
        kind_dir.mkdir(parents=True, exist_ok=True)
        name = f"kind-{OS}-{ARCH}"
        (kind_dir / name).write_bytes(kind)
        (kind_dir / f"{name}.sha256sum").write_text(
            f"{kind_sum or hashlib.sha256(kind).hexdigest()}  {name}\n"
        )
        kube_dir = self.folder / "k8s" / pins.KUBERNETES_VERSION / "bin" / OS / ARCH
        kube_dir.mkdir(parents=True, exist_ok=True)
        (kube_dir / "kubectl").write_bytes(kubectl)
        (kube_dir / "kubectl.sha256").write_text(hashlib.sha256(kubectl).hexdigest())


@pytest.fixture
def releases(tmp_path: Path) -> Iterator[Releases]:
    server = Releases(tmp_path / "www")
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def run_script(releases: Releases, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "KIND_BASE_URL": f"{releases.url}/kind",
        "KUBECTL_BASE_URL": f"{releases.url}/k8s",
        "BIN_DIR": str(bin_dir),
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_installs_both_tools_verified(releases: Releases, tmp_path: Path) -> None:
    releases.publish()
    done = run_script(releases, tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    for tool, content in (("kind", KIND), ("kubectl", KUBECTL)):
        installed = tmp_path / "bin" / tool
        assert installed.read_bytes() == content
        assert installed.stat().st_mode & 0o111
    assert f"/kind/{pins.KIND_VERSION}/kind-{OS}-{ARCH}.sha256sum" in releases.requests
    assert f"/k8s/{pins.KUBERNETES_VERSION}/bin/{OS}/{ARCH}/kubectl.sha256" in releases.requests
    assert f"installed kind {pins.KIND_VERSION}" in done.stdout


def test_a_second_run_downloads_nothing(releases: Releases, tmp_path: Path) -> None:
    releases.publish()
    run_script(releases, tmp_path / "bin")
    before = len(releases.requests)
    done = run_script(releases, tmp_path / "bin")
    assert done.returncode == 0
    assert len(releases.requests) == before
    assert f"kind {pins.KIND_VERSION} is already in" in done.stdout


def test_a_checksum_mismatch_installs_nothing(releases: Releases, tmp_path: Path) -> None:
    releases.publish(kind_sum="0" * 64)
    done = run_script(releases, tmp_path / "bin")
    assert done.returncode != 0
    assert "does not match the published" in done.stderr and "nothing installed" in done.stderr
    assert not (tmp_path / "bin" / "kind").exists()
    assert not (tmp_path / "bin" / "kubectl").exists()  # it stops at the first bad tool


def test_a_missing_release_fails_plainly(releases: Releases, tmp_path: Path) -> None:
    done = run_script(releases, tmp_path / "bin")
    assert done.returncode != 0
    assert "error: could not download" in done.stderr


def test_the_versions_come_from_the_pins() -> None:
    text = SCRIPT.read_text()
    assert "pin KIND_VERSION" in text and "pin KUBERNETES_VERSION" in text
    source = (project_root() / "lab" / "pins.py").read_text()
    assert f'KIND_VERSION = "{pins.KIND_VERSION}"' in source
    assert f'KUBERNETES_VERSION = "{pins.KUBERNETES_VERSION}"' in source
