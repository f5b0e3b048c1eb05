"""Calico through the Tigera operator: fetch the pinned manifests, verify, apply.

Every file is checked against its pinned sha256 before anything is applied: one
mismatch stops the install with one error line and nothing reaches the cluster.
The files come from the pinned release URL (kept in a cache folder, re-checked on
every run) or from a local folder (``--calico-dir`` / NETPOL_LAB_CALICO_DIR) for
offline workshops; the checksums apply to both.

Applying goes through ``lab.boundary.apply`` (server-side, ``--force-conflicts``, namespaces and
CRDs first, then a wait until the CRDs are Established): the same commands run again
change nothing on unchanged objects.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lab.boundary.apply import plan_apply, run_steps
from lab.boundary.runner import Runner
from lab.errors import ExitStatus, LabError
from lab.pins import PinnedFile, Pins

FIELD_MANAGER = "netpol-lab"
LAB_MANIFESTS = Path("manifests") / "calico"  # relative to the project root
CORE_OBJECTS = ("installation.yaml", "apiserver.yaml")
CRD_BUNDLE = "v1_crd_projectcalico_org.yaml"  # the operator's and Calico's CRDs, nothing else
FLOW_UI_OBJECTS = ("goldmane.yaml", "whisker.yaml")
DOWNLOAD_TIMEOUT = 120.0

Opener = Callable[[str, float], IO[bytes]]


def _open_url(url: str, timeout: float) -> IO[bytes]:
    return urllib.request.urlopen(url, timeout=timeout)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_folder(root: Path, pins: Pins) -> Path:
    return root / ".cache" / "calico" / pins.calico_version


@dataclass(frozen=True)
class Source:
    """Where the pinned manifests come from: a local folder, or the release URL via the cache."""

    local_dir: Path | None
    base_url: str
    cache_dir: Path

    def describe(self) -> str:
        return f"local folder {self.local_dir}" if self.local_dir else self.base_url


def source_for(root: Path, pins: Pins, calico_dir: str | None) -> Source:
    local = calico_dir or pins.calico_dir
    return Source(
        local_dir=Path(local).expanduser().resolve() if local else None,
        base_url=pins.calico_base_url.rstrip("/") + "/",
        cache_dir=cache_folder(root, pins),
    )


def _mismatch(pinned: PinnedFile, path: Path) -> str | None:
    if not path.is_file():
        return f"{pinned.name}: missing"
    got = sha256_of(path)
    if got != pinned.sha256:
        return f"{pinned.name}: sha256 {got}, pinned {pinned.sha256}"
    return None


def _download(url: str, target: Path, opener: Opener) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with opener(url, DOWNLOAD_TIMEOUT) as response, partial.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise LabError(
            f"could not download {url} ({reason}): check the network, or point --calico-dir "
            "(NETPOL_LAB_CALICO_DIR) at a folder holding the same files (offline workshops)"
        ) from None
    os.replace(partial, target)


def fetch_verified(
    pins: Pins,
    source: Source,
    say: Callable[[str], None],
    *,
    root: Path,
    dry_run: bool = False,
    opener: Opener = _open_url,
) -> list[Path]:
    """The manifests' paths, every one verified against its pin; a LabError naming each mismatch.

    A cached file that no longer matches is downloaded once more (an interrupted or
    corrupted download); a local folder is never written to.
    """
    paths: list[Path] = []
    problems: list[str] = []
    for pinned in pins.calico_manifests:
        if source.local_dir is not None:
            path = source.local_dir / pinned.name
        else:
            path = source.cache_dir / pinned.name
            if dry_run:
                say(f"fetch {source.base_url}{pinned.name} -> {_shown(path, root)} (unless cached)")
            elif _mismatch(pinned, path):
                say(f"fetch {source.base_url}{pinned.name} -> {_shown(path, root)}")
                _download(source.base_url + pinned.name, path, opener)
        if dry_run:
            paths.append(path)
            continue
        problem = _mismatch(pinned, path)
        if problem:
            problems.append(problem)
        paths.append(path)
    if problems:
        where = source.describe()
        fix = (
            "put the files of Calico " + pins.calico_version + " there"
            if source.local_dir
            else "the download was altered or upstream changed the file; delete "
            f"{source.cache_dir} and rerun, or, if you trust a new file, set "
            "NETPOL_LAB_CALICO_SHA256_<FILE> to its sha256"
        )
        raise LabError(
            f"Calico manifests from {where} do not match their pinned checksums ({'; '.join(problems)}): "
            f"nothing was applied; {fix}",
            ExitStatus.ERROR,
        )
    for pinned in pins.calico_manifests:
        verb = "check" if dry_run else "ok"
        folder = _shown(source.local_dir or source.cache_dir, root)
        say(f"{verb} sha256 {pinned.sha256} {folder}/{pinned.name}")
    return paths


def install(
    runner: Runner,
    kubectl: Callable[..., Sequence[str]],
    manifests: Sequence[Path],
    *,
    root: Path,
    flow_ui: bool,
    timeout: float,
) -> None:
    """Apply the verified operator manifests (each with its namespaces and CRDs first, and a wait
    until the CRDs are served), then the lab's own Calico objects."""
    fix = "rerun `make lab-up` to carry on"
    bundle = [path for path in manifests if path.name == CRD_BUNDLE]  # CustomResourceDefinitions only
    for path in manifests:
        steps = plan_apply(kubectl, [path], root=root, crds_only=bundle)
        run_steps(runner, steps, what=f"applying {path.name}", fix=fix, timeout=timeout)  # fmt: skip
    names = [*CORE_OBJECTS, *(FLOW_UI_OBJECTS if flow_ui else ())]
    lab_files = [LAB_MANIFESTS / name for name in names]
    run_steps(runner, plan_apply(kubectl, lab_files, root=root), what="applying the lab's Calico objects",
              fix=fix, timeout=timeout)  # fmt: skip
    if not flow_ui:  # a lab built with the flow UI loses it on `up --no-flow-ui`, as asked
        files = [arg for name in FLOW_UI_OBJECTS for arg in ("-f", str(LAB_MANIFESTS / name))]
        off = runner.run(list(kubectl("delete", "--ignore-not-found", *files)), timeout=timeout)
        if not (off.ok or off.dry_run):
            raise off.failure("removing Whisker and Goldmane", fix)


def _shown(path: Path, root: Path) -> str:
    """A path as the echoed command shows it: relative to the project folder when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
