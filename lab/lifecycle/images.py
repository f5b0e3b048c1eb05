"""Every image the lab needs, and how to carry them to a workshop with bad wifi.

The instructor pulls and saves them once (``images pull``, ``images save FILE``); participants
load the file (``images load FILE``): into Docker first, then into the kind nodes (kind can only
load what the host's Docker holds). ``up`` calls ``preload_local_images`` so the nodes start
from what Docker already has instead of pulling.

Two upstream problems shape the code:
- An image pulled by digest has no tag in Docker. ``docker save`` of a digest reference records
  no name, and the node's containerd then imports it under a made-up name (kind#2394), so the
  lab tags each pinned image with its tag before saving or loading it.
- ``kind load docker-image`` fails with ``ctr: content digest ...: not found`` when Docker uses
  its containerd image store and holds only the host's platform of a multi-platform image
  (kind#3795, documented by kind#4247). The fallback kind's maintainers give is
  ``docker image save --platform`` into an archive and ``kind load image-archive``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.boundary.runner import Result, Runner
from lab.errors import ExitStatus, LabError
from lab.pins import CLUSTER_NAME, Pins

TAG_ONLY = "tag only, digest resolved at pull"
MISSING_CONTENT = "content digest"  # kind#3795's error text


@dataclass(frozen=True)
class Image:
    """One image reference as pinned: ``repo:tag@sha256:...`` or ``repo:tag``."""

    ref: str

    @property
    def name(self) -> str:
        """``repo:tag``, without the digest: what Docker and containerd tag it as."""
        return self.ref.split("@", 1)[0]

    @property
    def repository(self) -> str:
        name = self.name
        slash = name.rfind("/")
        colon = name.rfind(":")
        return name[:colon] if colon > slash else name

    @property
    def digest(self) -> str | None:
        """The pinned ``sha256:...`` digest, or None when only the tag is pinned."""
        return self.ref.split("@", 1)[1] if "@" in self.ref else None

    @property
    def by_digest(self) -> str | None:
        """``repo@sha256:...``: how Docker names an image pulled by digest."""
        return f"{self.repository}@{self.digest}" if self.digest else None


def lab_images(pins: Pins) -> list[Image]:
    """Every image, once each, in the pins' order (agnhost also runs the control, the metadata
    stand-in and the enforcement canary)."""
    seen: dict[str, Image] = {}
    for ref in pins.all_images():
        seen.setdefault(ref, Image(ref))
    return list(seen.values())


@dataclass(frozen=True)
class LocalImages:
    """What the host's Docker holds: ``repo:tag`` names and ``repo@digest`` references."""

    names: frozenset[str]
    digests: dict[str, str]  # repo:tag or repo@digest -> the digest Docker reports
    docker_error: str = ""  # set when Docker could not be asked

    def has(self, image: Image) -> bool:
        if image.by_digest:
            return image.by_digest in self.digests
        return image.name in self.names

    def digest_of(self, image: Image) -> str | None:
        return self.digests.get(image.by_digest or "") or self.digests.get(image.name)


def local_images(runner: Runner) -> LocalImages:
    """``docker image ls --digests``: one call for the whole inventory."""
    result = runner.run(["docker", "image", "ls", "--digests", "--format", "{{json .}}"], timeout=60)
    if result.dry_run:
        return LocalImages(frozenset(), {})
    if not result.ok:
        return LocalImages(frozenset(), {}, docker_error=result.error_line())
    names: set[str] = set()
    digests: dict[str, str] = {}
    for line in result.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        repo, tag, digest = row.get("Repository", ""), row.get("Tag", ""), row.get("Digest", "")
        if not repo or repo == "<none>":
            continue
        has_digest = digest.startswith("sha256:")
        if tag and tag != "<none>":
            names.add(f"{repo}:{tag}")
            if has_digest:
                digests[f"{repo}:{tag}"] = digest
        if has_digest:
            digests[f"{repo}@{digest}"] = digest
    return LocalImages(frozenset(names), digests)


def describe(images: Sequence[Image], local: LocalImages | None) -> list[str]:
    """One line per image: the name, the pinned digest (or that only the tag is pinned), what Docker has."""
    width = max(len(image.name) for image in images)
    lines = []
    for image in images:
        pinned = image.digest or TAG_ONLY
        state = ""
        if local is not None and not local.docker_error:
            found = local.digest_of(image) if local.has(image) else None
            if found and image.digest is None:
                state = f"  (local: {found})"
            elif local.has(image):
                state = "  (local: pulled)"
            else:
                state = "  (local: not pulled)"
        lines.append(f"{image.name.ljust(width)}  {pinned}{state}")
    return lines


def _check(result: Result, doing: str, fix: str) -> None:
    if not result.ok:
        raise result.failure(doing, fix)


def tag_pinned(runner: Runner, image: Image) -> None:
    """Give an image pulled by digest its tag too, so saving and loading keep its name."""
    if image.by_digest:
        _check(
            runner.run(["docker", "tag", image.by_digest, image.name], timeout=60),
            f"docker tag {image.name}",
            "pull it again with `netpol-lab images pull`",
        )


def pull(runner: Runner, images: Sequence[Image], platform: str | None = None) -> None:
    """``docker pull`` each image (by digest where pinned), then tag it."""
    for image in images:
        argv = ["docker", "pull", *(["--platform", platform] if platform else []), image.ref]
        _check(
            runner.run(argv, timeout=1800, stream=True),
            f"docker pull {image.name}",
            "check the network, or load a saved archive with `netpol-lab images load FILE`",
        )
        tag_pinned(runner, image)


def save(runner: Runner, images: Sequence[Image], file: Path, platform: str | None = None) -> None:
    """``docker image save -o FILE`` every image, by its tag, after checking they are all pulled."""
    local = local_images(runner)
    if local.docker_error:
        raise LabError(f"cannot list Docker's images: {local.docker_error}", ExitStatus.MISSING_PREREQUISITE)
    missing = [image.name for image in images if not runner.dry_run and not local.has(image)]
    if missing:
        raise LabError(
            f"not pulled yet: {', '.join(missing)}; run `netpol-lab images pull` first", ExitStatus.ERROR
        )
    for image in images:
        if image.by_digest and image.name not in local.names:
            tag_pinned(runner, image)
    argv = ["docker", "image", "save", *(["--platform", platform] if platform else []), "-o", str(file)]
    _check(runner.run([*argv, *(i.name for i in images)], timeout=1800), "docker image save", "see above")


# The variable that names each digest-pinned image by another reference (lab/pins.py).
_OVERRIDE_VARS = {"node_image": "NETPOL_LAB_NODE_IMAGE", "agnhost_image": "NETPOL_LAB_AGNHOST_IMAGE"}


def lost_digest_overrides(local: LocalImages, pins: Pins) -> dict[str, str]:
    """Overrides naming by tag the digest-pinned images that Docker holds only by tag.

    Docker's classic image store does not keep an image's registry digest through
    ``docker save``/``docker load`` (kind#2734), so a digest-pinned reference would be pulled
    again, and fail offline. Naming the loaded tag instead lets the lab start without network.
    """
    overrides = {}
    for attr, var in _OVERRIDE_VARS.items():
        image = Image(getattr(pins, attr))
        if image.digest and not local.has(image) and image.name in local.names:
            overrides[var] = image.name
    return overrides


def load_archive(runner: Runner, file: Path) -> None:
    """``docker load -i FILE``: the images come back with their tags."""
    if not runner.dry_run and not file.is_file():
        raise LabError(f"{file}: no such file; save one with `netpol-lab images save FILE`", ExitStatus.USAGE)
    _check(
        runner.run(["docker", "load", "-i", str(file)], timeout=1800, stream=True), "docker load", "see above"
    )


def cluster_exists(runner: Runner, cluster: str) -> bool:
    result = runner.run(["kind", "get", "clusters"], timeout=60)
    return result.ok and cluster in result.stdout.split()


def preload_local_images(runner: Runner, cluster: str = CLUSTER_NAME, pins: Pins | None = None) -> list[str]:
    """Load into the kind nodes every lab image that the host's Docker already holds.

    The node image is skipped (the nodes run it). Images Docker does not have are left for the
    nodes to pull. Returns the names loaded. On kind#3795's missing-content error it falls back
    to a single-platform archive and ``kind load image-archive``.
    """
    pins = pins or Pins()
    wanted = [image for image in lab_images(pins) if image.ref != pins.node_image]
    local = local_images(runner)
    if local.docker_error:
        return []
    present = [image for image in wanted if runner.dry_run or local.has(image)]
    for image in present:
        if image.by_digest and image.name not in local.names:
            tag_pinned(runner, image)
    names = [image.name for image in present]
    if not names:
        return []
    loaded = runner.run(["kind", "load", "docker-image", *names, "--name", cluster], timeout=1800)
    if loaded.ok:
        return names
    if MISSING_CONTENT not in f"{loaded.stdout}\n{loaded.stderr}":
        raise LabError(f"kind load docker-image failed: {loaded.error_line()}")
    _load_single_platform(runner, names, cluster)
    return names


def _load_single_platform(runner: Runner, names: Iterable[str], cluster: str) -> None:
    """kind#3795's workaround: save only the host's platform, then load the archive."""
    version = runner.run(["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"], timeout=60)
    _check(version, "docker version", "is the Docker daemon running?")
    platform = version.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="netpol-lab-images-") as folder:
        archive = str(Path(folder) / "images.tar")
        saved = runner.run(
            ["docker", "image", "save", "--platform", platform, "-o", archive, *names], timeout=1800
        )
        _check(
            saved,
            "docker image save --platform",
            "saving one platform needs a recent Docker Engine: update Docker",
        )
        loaded = runner.run(["kind", "load", "image-archive", archive, "--name", cluster], timeout=1800)
        if not loaded.ok:
            raise LabError(f"kind load image-archive failed: {loaded.error_line()}")
