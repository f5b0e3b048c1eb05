"""Wheels without a package index, for the offline bundle's tests.

``find_links(folder)`` writes a wheel for each runtime dependency of netpol-lab (its whole closure)
by packing the distributions this test run has installed, so ``pip download --no-index
--find-links`` resolves against real metadata and a fresh venv gets working packages. The build
backend pyproject.toml names (setuptools>=77) has no offline wheel here: a stand-in of that name
lets it be downloaded; nothing installs it.

``FAKE_PYTHON`` stands in for the interpreter that runs pip: ``-m pip wheel ... ROOT`` packs the
project by hand (a real build would need that backend); every other call runs the real pip.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

STAND_IN_BACKEND = ("setuptools", "77.0.0")
SKIPPED_METADATA = ("INSTALLER", "REQUESTED", "RECORD", "direct_url.json")
PURE_WHEEL = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(folder: Path, name: str, version: str, tag: str, files: dict[str, bytes]) -> Path:
    """A wheel holding ``files`` (dist-info included), with its RECORD."""
    dist_info = f"{_normalized(name)}-{version}.dist-info"
    path = folder / f"{_normalized(name)}-{version}-{tag}.whl"
    records = [_record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return path


def pack_installed(folder: Path, dist: importlib.metadata.Distribution) -> Path:
    """An installed distribution back into a wheel (the files its RECORD lists)."""
    files: dict[str, bytes] = {}
    for entry in dist.files or ():
        posix = entry.as_posix()
        if posix.startswith("..") or "__pycache__" in posix or posix.rsplit("/", 1)[-1] in SKIPPED_METADATA:
            continue
        located = Path(str(dist.locate_file(entry)))
        if located.is_file():
            files[posix] = located.read_bytes()
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip().split("-")
        for line in wheel_text.splitlines()
        if line.startswith("Tag:")
    ]
    parts = (
        [".".join(dict.fromkeys(tag[i] for tag in tags)) for i in range(3)]
        if tags
        else ["py3", "none", "any"]
    )
    return write_wheel(folder, dist.metadata["Name"], dist.version, "-".join(parts), files)


def runtime_closure(project: str = "netpol-lab") -> list[importlib.metadata.Distribution]:
    """The installed distributions the project needs at run time, dependencies of dependencies too."""
    found: dict[str, importlib.metadata.Distribution] = {}
    wanted = [Requirement(r) for r in importlib.metadata.requires(project) or () if "extra ==" not in r]
    while wanted:
        requirement = wanted.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = _normalized(requirement.name)
        if key in found:
            continue
        dist = importlib.metadata.distribution(requirement.name)
        found[key] = dist
        wanted += [Requirement(r) for r in dist.requires or ()]
    return list(found.values())


def find_links(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for dist in runtime_closure():
        pack_installed(folder, dist)
    name, version = STAND_IN_BACKEND
    dist_info = f"{name}-{version}.dist-info"
    write_wheel(
        folder,
        name,
        version,
        "py3-none-any",
        {
            f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
            f"{dist_info}/WHEEL": PURE_WHEEL,
        },
    )
    return folder


def project_wheel(root: Path, folder: Path) -> Path:
    """The project's wheel, packed by hand: its package, its metadata, its console script."""
    version = importlib.metadata.version("netpol-lab")
    dist_info = f"netpol_lab-{version}.dist-info"
    requires = "".join(f"Requires-Dist: {r}\n" for r in importlib.metadata.requires("netpol-lab") or ())
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "lab").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: netpol-lab\nVersion: {version}\nRequires-Python: >=3.10\n{requires}"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = b"[console_scripts]\nnetpol-lab = lab.cli:main\n"
    folder.mkdir(parents=True, exist_ok=True)
    return write_wheel(folder, "netpol-lab", version, "py3-none-any", files)


def main(argv: list[str]) -> int:
    """The fake interpreter: ``-m pip wheel --no-deps --wheel-dir DIR ROOT`` packs the project."""
    if argv[:3] == ["-m", "pip", "wheel"]:
        options = argv[3:]
        project_wheel(Path(options[-1]), Path(options[options.index("--wheel-dir") + 1]))
        return 0
    import os

    os.execv(sys.executable, [sys.executable, *argv])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
