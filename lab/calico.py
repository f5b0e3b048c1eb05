"""Calico through the Tigera operator: fetch the pinned manifests, verify, apply.

Every file is checked against its pinned sha256 before anything is applied: one
mismatch stops the install with one error line and nothing reaches the cluster.
The files come from the pinned release URL (kept in a cache folder, re-checked on
every run) or from a local folder (``--calico-dir`` / NETPOL_LAB_CALICO_DIR) for
offline workshops; the checksums apply to both.

Applying uses ``kubectl apply --server-side --force-conflicts``: the CRD bundle is
too large for client-side apply (its last-applied annotation would exceed the
size limit), and the operator runs with ``-manage-crds=true``, so it co-owns the
CRDs; without ``--force-conflicts`` a re-run would stop on field conflicts. The
re-run behaviour is deliberate: the same commands run again and change nothing on
unchanged objects.
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

from lab.env import ExitStatus
from lab.errors import LabError
from lab.pins import PinnedFile, Pins
from lab.runner import Result, Runner

FIELD_MANAGER = "netpol-lab"
LAB_MANIFESTS = Path("manifests") / "calico"  # relative to the project root
CORE_OBJECTS = ("installation.yaml", "apiserver.yaml")
FLOW_UI_OBJECTS = ("goldmane.yaml", "whisker.yaml")
OPERATOR_CRDS = (
    "installations.operator.tigera.io",
    "apiservers.operator.tigera.io",
    "goldmanes.operator.tigera.io",
    "whiskers.operator.tigera.io",
    "tigerastatuses.operator.tigera.io",
)
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


def apply_argv(kubectl: Callable[..., list[str]], files: Sequence[str]) -> list[str]:
    """`kubectl apply --server-side --force-conflicts` of ``files`` (see the module docstring)."""
    argv = kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}")
    for name in files:
        argv += ["-f", name]
    return argv


def install(
    runner: Runner,
    kubectl: Callable[..., list[str]],
    manifests: Sequence[Path],
    *,
    root: Path,
    flow_ui: bool,
    timeout: float,
) -> None:
    """Apply the verified operator manifests, then the lab's own Calico objects."""
    for path in manifests:
        _must(runner.run(apply_argv(kubectl, [_shown(path, root)]), timeout=timeout), "apply " + path.name)
    # The Installation and friends can only be applied once their CRDs are served.
    crds = [f"crd/{crd}" for crd in OPERATOR_CRDS]
    wait = kubectl("wait", "--for=condition=Established", f"--timeout={int(max(timeout, 1))}s", *crds)
    _must(runner.run(wait, timeout=timeout + 10), "wait for the operator's CRDs")
    names = [*CORE_OBJECTS, *(FLOW_UI_OBJECTS if flow_ui else ())]
    lab_files = [str(LAB_MANIFESTS / name) for name in names]
    _must(runner.run(apply_argv(kubectl, lab_files), timeout=timeout), "apply the lab's Calico objects")
    if not flow_ui:  # a lab built with the flow UI loses it on `up --no-flow-ui`, as asked
        files = [arg for name in FLOW_UI_OBJECTS for arg in ("-f", str(LAB_MANIFESTS / name))]
        off = kubectl("delete", "--ignore-not-found", *files)
        _must(runner.run(off, timeout=timeout), "remove Whisker and Goldmane")


def _shown(path: Path, root: Path) -> str:
    """A path as the echoed command shows it: relative to the project folder when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _must(result: Result, what: str) -> None:
    """Turn a failed step into one error line with the way forward."""
    if result.ok or result.dry_run:
        return
    if result.not_found:
        raise LabError(
            "kubectl is not installed: run `make tools`, then rerun", ExitStatus.MISSING_PREREQUISITE
        )
    if result.timed_out:
        raise LabError(f"{what}: `{result.command_line}` did not finish in time", ExitStatus.TIMEOUT)
    raise LabError(f"{what} failed: {result.error_line()}: rerun `make lab-up` to carry on")
