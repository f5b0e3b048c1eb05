"""An offline bundle: everything `make lab-up` needs on a machine without network.

``netpol-lab bundle save DIR`` (``make offline-bundle``), on a machine with network access,
writes::

    DIR/calico/                 Calico's pinned manifests, checked: the folder `up --calico-dir` takes
    DIR/tools/<os>-<arch>/      kind and kubectl, checked against lab/pins.py (scripts/install-tools.sh)
    DIR/wheels/                 the project and its runtime dependencies as wheels (pip wheel, pip
                                download), and its build backend, for `pip install --no-index`
    DIR/images/linux-<arch>.tar every lab image for that platform (docker image save), each one's
                                content digest checked against images.lock.json first
    DIR/images.lock.json        the lock the images were checked against

``make lab-up BUNDLE=DIR`` installs the project from DIR/wheels (``pip install --no-index
--find-links``), kind and kubectl from DIR/tools (``scripts/install-tools.sh --from``), then runs
``netpol-lab bundle load DIR`` (the images, checked again against the lock) and ``up --calico-dir
DIR/calico`` (the manifests, checked again against lab/pins.py). Nothing is taken on trust from
the bundle: every pin lives in the checkout.

The wheels are for the Python version and the system of the machine that builds the bundle: build
it on a machine like the participants'.
"""

from __future__ import annotations

import importlib.metadata
import platform as host
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from lab.boundary.runner import Runner
from lab.errors import ExitStatus, LabError
from lab.lifecycle import calico, images
from lab.pins import CLUSTER_NAME, IMAGES_LOCK_FILE, TOOL_PLATFORMS, Pins

DISTRIBUTION = "netpol-lab"
# pyproject.toml's [build-system] requires: `pip install --no-index -e .` builds the project with it.
BUILD_REQUIREMENTS = ("setuptools>=77",)
INSTALL_TOOLS = Path("scripts") / "install-tools.sh"
CALICO_DIR, TOOLS_DIR, WHEELS_DIR, IMAGES_DIR = "calico", "tools", "wheels", "images"


def host_platform() -> str:
    """This machine as ``os/arch`` (linux/amd64, darwin/arm64), the default of ``--platform``."""
    os_ = host.system().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host.machine().lower(), host.machine().lower())
    return f"{os_}/{arch}"


def image_platform(platform: str) -> str:
    """The images a platform's Docker runs: always Linux ones (Docker Desktop runs a Linux VM)."""
    return "linux/" + platform.split("/", 1)[1]


def archive_name(platform: str) -> str:
    return platform.replace("/", "-") + ".tar"


def runtime_requirements() -> list[str]:
    """The project's runtime dependencies as its installed metadata states them (pyproject.toml)."""
    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise LabError(
            f"{DISTRIBUTION} is not installed in this Python: run `make lab-up` or "
            "`pip install -e .` in the lab's folder first",
            ExitStatus.MISSING_PREREQUISITE,
        ) from None
    return [req.split(";", 1)[0].strip() for req in requires if "extra ==" not in req]


def save(
    runner: Runner,
    pins: Pins,
    *,
    root: Path,
    out: Path,
    platforms: Sequence[str],
    python: str,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    opener: calico.Opener | None = None,
) -> None:
    """Gather the bundle into ``out``; the cheap checks first (Calico, tools, wheels), the images last."""
    for platform in platforms:
        if platform not in TOOL_PLATFORMS:
            raise LabError(
                f"--platform {platform}: the lab's tools exist for {', '.join(TOOL_PLATFORMS)}",
                ExitStatus.USAGE,
            )
    locked, lock = images.locked(root, pins)
    wanted = images.lab_images(locked)
    warning = images.tag_only_warning(wanted)
    if warning:
        warn(warning + "; until then the bundle's images are saved unchecked")
    if not runner.dry_run:
        out.mkdir(parents=True, exist_ok=True)

    say(f"--- Calico {pins.calico_version}'s manifests -> {out / CALICO_DIR}")
    source = calico.source_for(root, pins, None)
    checked = calico.verify(pins, source, say, root=root, dry_run=runner.dry_run, opener=opener)
    if not runner.dry_run:
        (out / CALICO_DIR).mkdir(exist_ok=True)
        for name, data in checked.items():
            (out / CALICO_DIR / name).write_bytes(data)

    for platform in platforms:
        say(f"--- kind and kubectl for {platform}")
        folder = out / TOOLS_DIR / platform.replace("/", "-")
        argv = [str(root / INSTALL_TOOLS), "--platform", platform, "--bin-dir", str(folder)]
        result = runner.run(argv, timeout=900, stream=True)
        if not (result.ok or result.dry_run):
            raise result.failure(f"{INSTALL_TOOLS} --platform {platform}", "then run `bundle save` again")

    say(f"--- the Python wheels -> {out / WHEELS_DIR}")
    wheels = str(out / WHEELS_DIR)
    pip = [python, "-m", "pip"]
    steps = (
        ([*pip, "wheel", "--no-deps", "--wheel-dir", wheels, str(root)], "pip wheel (the project)"),
        ([*pip, "download", "--dest", wheels, *runtime_requirements(), *BUILD_REQUIREMENTS], "pip download"),
    )
    for argv, what in steps:
        result = runner.run(argv, timeout=1800, stream=True)
        if not (result.ok or result.dry_run):
            raise result.failure(
                what, "check the network and the package index, then run `bundle save` again"
            )

    here = image_platform(host_platform())
    targets = sorted({image_platform(p) for p in platforms}, key=lambda p: p == here)  # this host's last
    for platform in targets:
        archive = out / IMAGES_DIR / archive_name(platform)
        say(f"--- {len(wanted)} images for {platform} -> {archive}")
        if not runner.dry_run:
            archive.parent.mkdir(exist_ok=True)
        images.pull(runner, wanted, platform)
        images.save(runner, wanted, archive, platform, lock)
    if lock is not None and not runner.dry_run:
        shutil.copyfile(lock.path, out / IMAGES_LOCK_FILE)
    say(f"bundle ready in {out}: participants run `make lab-up BUNDLE={out}` (no network needed)")


def load(
    runner: Runner,
    pins: Pins,
    *,
    root: Path,
    bundle: Path,
    cluster: str = CLUSTER_NAME,
    say: Callable[[str], None],
) -> None:
    """Take the bundle's lock when the checkout has none (refuse a different one), then load the
    images for this Docker's platform, checked against the lock."""
    if not runner.dry_run and not bundle.is_dir():
        raise LabError(f"{bundle}: no such folder; make one with `make offline-bundle`", ExitStatus.USAGE)
    theirs, ours = bundle / IMAGES_LOCK_FILE, images.lock_path(root)
    if theirs.is_file():
        if not ours.exists():
            if not runner.dry_run:
                shutil.copyfile(theirs, ours)
            say(f"{ours}: taken from the bundle (commit it: it pins every image by digest)")
        elif ours.read_bytes() != theirs.read_bytes():
            raise LabError(
                f"{theirs} is not this checkout's {IMAGES_LOCK_FILE}: the bundle's images were checked "
                "against another lock; make the bundle again from this checkout (`make offline-bundle`)",
                ExitStatus.USAGE,
            )
    locked, lock = images.locked(root, pins)
    platform = images.docker_platform(runner) or image_platform(host_platform())  # dry run: this host
    archive = bundle / IMAGES_DIR / archive_name(platform)
    if not runner.dry_run and not archive.is_file():
        raise LabError(
            f"{archive}: the bundle has no images for {platform}, this Docker's platform; make it with "
            f"`netpol-lab bundle save DIR --platform {platform}`",
            ExitStatus.USAGE,
        )
    images.load_checked(runner, locked, lock, archive, cluster, say)
