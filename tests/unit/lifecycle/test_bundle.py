"""The offline bundle: `bundle save` gathers Calico, kind and kubectl, the wheels and the images from
fakes (a fake docker on PATH, a local mirror, wheels packed from this test run's own packages, a
fake interpreter for the project's wheel), and the project installs from it with --no-index into a
fresh venv; `bundle load` and `make lab-up BUNDLE=DIR` take everything from the folder."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from lab import pins as lab_pins
from lab.boundary.runner import ShRunner
from lab.env import project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle import bundle, images
from lab.pins import CALICO_MANIFESTS, PinnedFile, Pins
from tests.fakes import RecordingRunner
from tests.unit import wheels
from tests.unit.fakebin.tools import install
from tests.unit.lifecycle.locks import index_of, inspect_rows, lock_data, write_lock

ROOT = project_root()
CALICO = {p.name: f"# stand-in for {p.name}\nkind: List\n".encode() for p in CALICO_MANIFESTS}
KIND = b"#!/bin/sh\necho 'kind v0.32.0'\n"
KUBECTL = b"#!/bin/sh\necho 'Client Version: v1.36.3'\n"
PLATFORM = "linux/amd64"


def checkout(folder: Path) -> Path:
    """The parts of the repository `bundle save` reads: the package, the installer, the project file."""
    for part in ("lab", "scripts"):
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def stand_in_pins() -> Pins:
    manifests = tuple(
        PinnedFile(p.name, hashlib.sha256(CALICO[p.name]).hexdigest(), len(CALICO[p.name]))
        for p in CALICO_MANIFESTS
    )
    return Pins(calico_base_url="https://mirror.invalid/manifests/", calico_manifests=manifests)


def opener(url: str, timeout: float) -> IO[bytes]:
    return io.BytesIO(CALICO[url.rsplit("/", 1)[1]])


def test_a_bundle_built_from_fakes_installs_the_project_offline_into_a_fresh_venv(tmp_path: Path) -> None:
    root = checkout(tmp_path / "checkout")
    write_lock(root)
    lab_images = images.lab_images(images.with_lock(Pins(), images.read_lock(root, Pins())))
    names = [image.name for image in lab_images]
    tools = install(tmp_path / "fakes", ("docker",))
    tools.script(
        {
            "docker image ls": {
                "stdout": "\n".join(
                    json.dumps(
                        {"Repository": i.repository, "Tag": i.name.rsplit(":", 1)[1], "Digest": i.digest}
                    )
                    for i in lab_images
                )
            },
            "docker image inspect": {"stdout": inspect_rows({name: index_of(name) for name in names}) + "\n"},
        }
    )
    mirror = tmp_path / "mirror"
    for path, data in (
        (mirror / "kind" / "v0.32.0" / "kind-linux-amd64", KIND),
        (mirror / "k8s" / "v1.36.3" / "bin" / "linux" / "amd64" / "kubectl", KUBECTL),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    fake_python = tools.bin_dir / "python"
    fake_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(wheels.__file__)}" "$@"\n')
    fake_python.chmod(0o755)
    env = tools.env(
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels.find_links(tmp_path / "index")),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONPATH=str(ROOT),  # the fake interpreter imports tests.unit.wheels' helpers
        PYTHON=sys.executable,
        NETPOL_LAB_KIND_BASE_URL=f"file://{mirror}/kind",
        NETPOL_LAB_KUBECTL_BASE_URL=f"file://{mirror}/k8s",
        NETPOL_LAB_KIND_SHA256_LINUX_AMD64=hashlib.sha256(KIND).hexdigest(),  # stand-ins, not the pins
        NETPOL_LAB_KUBECTL_SHA256_LINUX_AMD64=hashlib.sha256(KUBECTL).hexdigest(),
    )
    out = tmp_path / "usb"
    echoed = io.StringIO()
    said: list[str] = []
    warned: list[str] = []
    bundle.save(
        ShRunner(echoed, env=env, cwd=root),
        stand_in_pins(),
        root=root,
        out=out,
        platforms=[PLATFORM],
        python=str(fake_python),
        say=said.append,
        warn=warned.append,
        opener=opener,
    )
    assert warned == []  # a lock: every image pinned by digest
    assert {p.name: p.read_bytes() for p in (out / "calico").iterdir()} == CALICO  # what --calico-dir takes
    assert (out / "tools" / "linux-amd64" / "kind").read_bytes() == KIND
    assert (out / "tools" / "linux-amd64" / "kubectl").read_bytes() == KUBECTL
    assert (out / "images.lock.json").read_text() == (root / "images.lock.json").read_text()
    archive = out / "images" / "linux-amd64.tar"
    assert tools.lines[-1] == f"docker image save --platform {PLATFORM} -o {archive} " + " ".join(names)
    assert [line for line in tools.lines if line.startswith("docker pull ")] == [
        f"docker pull --platform {PLATFORM} {image.ref}" for image in lab_images
    ]
    built = sorted(p.name for p in (out / "wheels").iterdir())
    assert "netpol_lab-0.1.0-py3-none-any.whl" in built
    assert any(name.startswith("kubernetes-37.") for name in built)
    assert any(name.startswith("setuptools-") for name in built)  # for `pip install --no-index -e .`
    assert (
        "$ " + " ".join([str(fake_python), "-m", "pip", "download", "--dest", str(out / "wheels")])
        in echoed.getvalue()
    )

    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120)
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(fresh / "bin" / "python"),
            "install",
            "--quiet",
            "--no-compile",
            "--no-index",
            "--find-links",
            str(out / "wheels"),
            "netpol-lab",
        ],
        env={"PATH": "/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    version = subprocess.run(
        [str(fresh / "bin" / "netpol-lab"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == "netpol-lab 0.1.0", version.stderr
    imports = subprocess.run(
        [str(fresh / "bin" / "python"), "-c", "import kubernetes, sh, tenacity, yaml, rich"], timeout=120
    )
    assert imports.returncode == 0


def test_without_a_lock_the_bundle_says_its_images_go_in_unchecked(tmp_path: Path) -> None:
    runner = RecordingRunner(dry_run=True)
    warned: list[str] = []
    bundle.save(
        runner, stand_in_pins(), root=tmp_path, out=tmp_path / "usb", platforms=[PLATFORM],
        python="python3", say=lambda _: None, warn=warned.append, opener=opener,
    )  # fmt: skip
    [warning] = warned
    assert "12 of 14 images are pinned by tag only" in warning and "saved unchecked" in warning
    assert f"{tmp_path / 'scripts' / 'install-tools.sh'} --platform {PLATFORM} --bin-dir" in " ".join(
        runner.lines
    )


def test_platforms_the_tools_do_not_exist_for_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"--platform windows/amd64: the lab's tools exist for linux/amd64"):
        bundle.save(
            RecordingRunner(dry_run=True), Pins(), root=tmp_path, out=tmp_path, platforms=["windows/amd64"],
            python="python3", say=lambda _: None, warn=lambda _: None,
        )  # fmt: skip


def test_the_images_of_a_mac_bundle_are_linux_ones() -> None:
    assert bundle.image_platform("darwin/arm64") == "linux/arm64"
    assert bundle.archive_name("linux/arm64") == "linux-arm64.tar"


def test_the_build_backend_is_the_one_pyproject_names() -> None:
    section = (ROOT / "pyproject.toml").read_text().split("[build-system]", 1)[1].split("\n[", 1)[0]
    requires = re.search(r"^requires = \[(.*)\]$", section, re.M)
    assert requires is not None
    assert list(bundle.BUILD_REQUIREMENTS) == re.findall(r'"([^"]+)"', requires[1])
    assert bundle.runtime_requirements()  # from the installed metadata, extras left out
    assert not any("pytest" in req for req in bundle.runtime_requirements())


def participant(tmp_path: Path) -> tuple[Path, Path]:
    usb = tmp_path / "usb"
    (usb / "images").mkdir(parents=True)
    (usb / "images" / "linux-amd64.tar").write_bytes(b"an archive")
    write_lock(usb)
    (tmp_path / "checkout").mkdir()
    return tmp_path / "checkout", usb


def test_load_takes_the_bundles_lock_and_checks_the_images_against_it(tmp_path: Path) -> None:
    root, usb = participant(tmp_path)
    runner = RecordingRunner()
    runner.answer("docker version --format '{{.Server.Os}}/{{.Server.Arch}}'", stdout="linux/amd64\n")
    lab_names = [i.name for i in images.lab_images(Pins())]
    runner.answer("docker image inspect", stdout=inspect_rows({n: index_of(n) for n in lab_names}))
    said: list[str] = []
    bundle.load(runner, Pins(), root=root, bundle=usb, say=said.append)
    assert (root / "images.lock.json").read_bytes() == (usb / "images.lock.json").read_bytes()
    assert f"docker load -i {usb / 'images' / 'linux-amd64.tar'}" in runner.lines
    assert "14 image(s) match the content digests of images.lock.json" in said


def test_load_refuses_a_bundle_checked_against_another_lock(tmp_path: Path) -> None:
    root, usb = participant(tmp_path)
    other = lock_data()
    other["images"]["quay.io/calico/cni:v3.32.1"]["index"] = "sha256:" + "9" * 64
    write_lock(root, other)
    with pytest.raises(LabError) as caught:
        bundle.load(RecordingRunner(), Pins(), root=root, bundle=usb, say=lambda _: None)
    assert caught.value.status == ExitStatus.USAGE
    assert "is not this checkout's images.lock.json" in caught.value.message


def test_load_names_the_platform_a_bundle_lacks(tmp_path: Path) -> None:
    root, usb = participant(tmp_path)
    runner = RecordingRunner()
    runner.answer("docker version --format '{{.Server.Os}}/{{.Server.Arch}}'", stdout="linux/arm64\n")
    with pytest.raises(LabError, match=r"the bundle has no images for linux/arm64, .*--platform linux/arm64"):
        bundle.load(runner, Pins(), root=root, bundle=usb, say=lambda _: None)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed: apt-get install make")
def test_make_lab_up_with_a_bundle_takes_everything_from_it(tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "-n", "-s", "-C", str(ROOT), "lab-up", f"BUNDLE={tmp_path}", "STAMP=/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f".venv/bin/python -m pip install --quiet --no-index --find-links {tmp_path}/wheels -e ." in lines
    lab = f'PATH="{ROOT}/bin:$PATH" .venv/bin/netpol-lab'
    assert lines[-3:] == [
        f"scripts/install-tools.sh --from {tmp_path}/tools",
        f"{lab} bundle load {tmp_path}",
        f"{lab} up --cni calico --ip-family ipv4 --calico-dir {tmp_path}/calico",
    ]
    offline = subprocess.run(
        [
            "make",
            "-n",
            "-s",
            "-C",
            str(ROOT),
            "offline-bundle",
            "STAMP=",
            "PLATFORMS=linux/amd64 darwin/arm64",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        offline.stdout.strip()
        == f"{lab} bundle save dist/offline-bundle --platform linux/amd64 --platform darwin/arm64"
    )
    assert lab_pins.IMAGES_LOCK_FILE == "images.lock.json"
