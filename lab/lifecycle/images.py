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

Calico's images and the operator are pinned by release tag in lab/pins.py; the lock file
(images.lock.json, lab/lifecycle/imagelock.py) pins them by digest once `images lock` has run on a
machine with registry access. With a lock every image is pulled by digest, and what `docker load`
brings back is checked against the lock's content digests before it reaches the nodes.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.boundary.runner import Result, Runner
from lab.errors import ExitStatus, LabError
from lab.lifecycle import imagelock
from lab.pins import CLUSTER_NAME, IMAGES_LOCK_FILE, Pins

TAG_ONLY = "tag only, digest resolved at pull"
MISSING_CONTENT = "content digest"  # kind#3795's error text
LOCK_COMMAND = "netpol-lab images lock"
# `docker buildx imagetools inspect --format '{{json .Manifest}}'` prints an index with its own
# digest and each platform's descriptor (buildx util/imagetools/printers.go). `docker manifest
# inspect` prints the index re-serialized and without its digest, so the digest pods pull by
# could not be read from it, and it is still marked experimental.
INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
LOCK_FIX = (
    "`images lock` needs Docker's buildx plugin (`docker buildx version`) and the registries: "
    "run it on a machine with both"
)


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


def lock_path(root: Path) -> Path:
    return root / IMAGES_LOCK_FILE


def read_lock(root: Path, pins: Pins) -> imagelock.Lock | None:
    """The project's lock, checked against the pins: every tag-only image has an entry, and an
    entry for a digest-pinned image names that digest. None when there is no lock yet."""
    lock = imagelock.read(lock_path(root))
    if lock is None:
        return None
    for ref in pins.lock_images():
        image = Image(ref)
        entry = lock.images.get(image.name)
        if entry is None and image.digest is None:
            raise imagelock.LockError(lock.path, f"no entry for {image.name}")
        if entry is not None and image.digest is not None and entry.index != image.digest:
            raise imagelock.LockError(
                lock.path,
                f"entry {image.name!r}: index {entry.index}, the pinned reference names {image.digest}",
            )
    return lock


def locked(root: Path, pins: Pins) -> tuple[Pins, imagelock.Lock | None]:
    """The pins with the project's lock applied, and the lock (None until `images lock` ran)."""
    lock = read_lock(root, pins)
    return with_lock(pins, lock), lock


def with_lock(pins: Pins, lock: imagelock.Lock | None) -> Pins:
    """The pins with every tag-only image named by the lock's index digest."""
    if lock is None:
        return pins

    def pinned(ref: str) -> str:
        image = Image(ref)
        entry = lock.images.get(image.name)
        return entry.ref if image.digest is None and entry is not None else ref

    return dataclasses.replace(
        pins,
        operator_image=pinned(pins.operator_image),
        calico_images=tuple(pinned(ref) for ref in pins.calico_images),
        calico_imageset_only=tuple(pinned(ref) for ref in pins.calico_imageset_only),
    )


def tag_only_warning(images: Sequence[Image]) -> str | None:
    """The one line that says how many images are pinned by tag only, and how to lock them."""
    tagged = [image for image in images if image.digest is None]
    if not tagged:
        return None
    return (
        f"warning: {len(tagged)} of {len(images)} images are pinned by tag only, not by digest: "
        f"pin them by digest with `{LOCK_COMMAND}` on a machine with registry access, "
        f"then commit {IMAGES_LOCK_FILE}"
    )


def resolve_lock(
    runner: Runner, pins: Pins, platforms: Sequence[str] = imagelock.PLATFORMS
) -> dict[str, imagelock.LockedImage]:
    """Ask the registries for each image's index digest and its per-platform digests."""
    seen: dict[str, imagelock.LockedImage] = {}
    for ref in pins.lock_images():
        image = Image(ref)
        if image.name not in seen:
            seen[image.name] = resolve_image(runner, image, platforms)
    return seen


def resolve_image(runner: Runner, image: Image, platforms: Sequence[str]) -> imagelock.LockedImage:
    """One image: ``imagetools inspect`` of the index, then ``--raw`` of each platform's manifest."""
    index = _inspect_json(runner, ["--format", "{{json .Manifest}}", image.by_digest or image.name], image)
    manifests = index.get("manifests")
    if index.get("mediaType") not in INDEX_MEDIA_TYPES or not isinstance(manifests, list):
        raise LabError(
            f"{image.name} is not a multi-architecture index (media type {index.get('mediaType')}): "
            f"the lock needs its {' and '.join(platforms)} images; check the tag in lab/pins.py"
        )
    digest = _registry_digest(index.get("digest"), image, "index")
    if image.digest and digest != image.digest:
        raise LabError(
            f"{image.name}: the registry serves index {digest}, lab/pins.py pins {image.digest}: "
            "check the pin before locking"
        )
    per_platform = {}
    for platform in platforms:
        os_, arch = platform.split("/", 1)
        found = [
            m
            for m in manifests
            if isinstance(m, dict)
            and isinstance(m.get("platform"), dict)
            and (m["platform"].get("os"), m["platform"].get("architecture")) == (os_, arch)
        ]
        if not found:
            raise LabError(f"{image.name} has no {platform} image in its index {digest}: it cannot be locked")
        manifest = _registry_digest(found[0].get("digest"), image, f"{platform} manifest")
        raw = _inspect_json(runner, ["--raw", f"{image.repository}@{manifest}"], image)
        config = raw.get("config")
        named = config.get("digest") if isinstance(config, dict) else None
        per_platform[platform] = imagelock.PlatformDigests(
            manifest, _registry_digest(named, image, f"{platform} config")
        )
    return imagelock.LockedImage(image.name, digest, per_platform)


def _inspect_json(runner: Runner, args: Sequence[str], image: Image) -> dict[str, Any]:
    result = runner.run(["docker", "buildx", "imagetools", "inspect", *args], timeout=120)
    _check(result, f"docker buildx imagetools inspect {image.name}", LOCK_FIX)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise LabError(f"{image.name}: `{result.command_line}` printed no JSON object; {LOCK_FIX}")
    return data


def _registry_digest(value: object, image: Image, what: str) -> str:
    if not isinstance(value, str) or not imagelock.DIGEST.fullmatch(value):
        raise LabError(f"{image.name}: the registry gave no sha256 digest for its {what} ({value!r})")
    return value


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


def save(
    runner: Runner,
    images: Sequence[Image],
    file: Path,
    platform: str | None = None,
    lock: imagelock.Lock | None = None,
) -> None:
    """``docker image save -o FILE`` every image, by its tag, after checking they are all pulled
    (and, with a lock, that each one's content digest is the locked one)."""
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
    if lock is not None:
        check = check_content(runner, images, lock, platform)
        if check.refused:
            raise LabError(
                f"not saved: {check.summary()}; pull them again with `netpol-lab images pull"
                + (f" --platform {platform}" if platform else "")
                + "`",
                ExitStatus.MISMATCH,
            )
    argv = ["docker", "image", "save", *(["--platform", platform] if platform else []), "-o", str(file)]
    _check(runner.run([*argv, *(i.name for i in images)], timeout=1800), "docker image save", "see above")


@dataclass
class ContentCheck:
    """What Docker holds, image by image, compared with the lock's content digests."""

    verified: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # name -> why, one phrase
    missing: list[str] = field(default_factory=list)  # not in Docker
    unchecked: list[str] = field(default_factory=list)  # no lock entry (an overridden pin)
    classic_store: bool = False  # matched by config digest: Docker kept no registry digest

    def summary(self) -> str:
        first = next(iter(self.refused.values()))
        more = len(self.refused) - 1
        return first + (f" (and {more} more image(s))" if more else "")


def inspect_images(runner: Runner, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``docker image inspect`` of every name at once: name -> its Id, Os, Architecture, RepoTags."""
    result = runner.run(["docker", "image", "inspect", "--format", "{{json .}}", *names], timeout=120)
    if result.dry_run:
        return {}
    if not result.ok and not result.stdout.strip() and "no such image" not in result.stderr.lower():
        raise result.failure("docker image inspect", "is the Docker daemon running?")
    found: dict[str, dict[str, Any]] = {}
    for line in result.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            for tag in row.get("RepoTags") or ():
                found[tag] = row
    return found


def check_content(
    runner: Runner, images: Sequence[Image], lock: imagelock.Lock, platform: str | None = None
) -> ContentCheck:
    """Compare each image Docker holds under its tag with the lock, for the platform Docker has.

    Docker's image ID is content-addressed: with its containerd image store it is the index digest
    (what was pulled, all platforms' content verified on the way in); with the classic store it is
    the platform's image config digest. Either must be the lock's, or the image is refused.
    ``platform``: the platform being saved, which the classic store must hold."""
    check = ContentCheck()
    rows = inspect_images(runner, [image.name for image in images])
    if runner.dry_run:
        return check
    for image in images:
        row = rows.get(image.name)
        entry = lock.images.get(image.name)
        if row is None:
            check.missing.append(image.name)
            continue
        if entry is None:
            check.unchecked.append(image.name)
            continue
        got = str(row.get("Id", ""))
        held = f"{row.get('Os', '?')}/{row.get('Architecture', '?')}"
        pair = entry.platforms.get(held)
        if got == entry.index:
            check.verified.append(image.name)
        elif pair is None:
            check.refused[image.name] = (
                f"{image.name} is {held} in Docker; {lock.path.name} has digests for "
                + ", ".join(entry.platforms)
            )
        elif got not in (pair.config, pair.manifest):
            check.refused[image.name] = (
                f"{image.name} ({held}) has content digest {got}, {lock.path.name} pins {pair.config}"
            )
        elif platform and held != platform:
            check.refused[image.name] = f"{image.name} is {held} in Docker, not the {platform} asked for"
        else:
            check.verified.append(image.name)
            check.classic_store = check.classic_store or got == pair.config
    return check


def remove(runner: Runner, names: Sequence[str]) -> None:
    """Untag refused images, so nothing loads them into the nodes by name later."""
    if names:
        runner.run(["docker", "image", "rm", *names], timeout=120)


def load_archive(runner: Runner, file: Path) -> None:
    """``docker load -i FILE``: the images come back with their tags."""
    if not runner.dry_run and not file.is_file():
        raise LabError(f"{file}: no such file; save one with `netpol-lab images save FILE`", ExitStatus.USAGE)
    _check(
        runner.run(["docker", "load", "-i", str(file)], timeout=1800, stream=True), "docker load", "see above"
    )


CONTAINERD_STORE = (
    "Docker's containerd image store keeps them (Docker Desktop: Settings > General > use containerd "
    'for pulling and storing images; Docker Engine: "features": {"containerd-snapshotter": true} in '
    "/etc/docker/daemon.json): switch to it, then load the archive again"
)


def load_checked(
    runner: Runner,
    pins: Pins,
    lock: imagelock.Lock | None,
    file: Path,
    cluster: str,
    say: Callable[[str], None],
) -> None:
    """``docker load FILE``; with a lock, refuse (and untag) every image whose content digest is
    not the locked one before anything reaches the nodes; then load the rest into the nodes."""
    wanted = lab_images(pins)
    load_archive(runner, file)
    verified: list[str] = []
    if lock is not None:
        check = check_content(runner, wanted, lock)
        if check.refused:
            remove(runner, list(check.refused))
            raise LabError(
                f"{file}: {check.summary()}: removed from Docker, nothing loaded into the nodes; make "
                "the archive again from pulled images (`netpol-lab images pull`, then `images save FILE`)",
                ExitStatus.MISMATCH,
            )
        verified = check.verified
        if not runner.dry_run:
            missing = f"; not in {file}: {', '.join(check.missing)}" if check.missing else ""
            say(f"{len(verified)} image(s) match the content digests of {lock.path.name}{missing}")
    elif not runner.dry_run:
        say(f"content digests not checked: there is no {IMAGES_LOCK_FILE} to check them against")
    lost = [] if runner.dry_run else lost_digests(local_images(runner), wanted)
    if lost:
        say(
            f"note: Docker kept no registry digest for {len(lost)} digest-pinned image(s) "
            f"({', '.join(lost)}), so kind and the nodes would pull them again; {CONTAINERD_STORE}"
        )
    if runner.dry_run or cluster_exists(runner, cluster):
        loaded = preload_local_images(runner, cluster, pins, verified)
        say(f"loaded {len(loaded)} images into the nodes of {cluster}")
    else:
        say(f"loaded into Docker; there is no cluster {cluster} yet: `make lab-up` loads them into its nodes")


def docker_platform(runner: Runner) -> str:
    """The platform Docker's daemon runs images for (``linux/amd64``)."""
    version = runner.run(["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"], timeout=60)
    _check(version, "docker version", "is the Docker daemon running?")
    return version.stdout.strip()


def cluster_exists(runner: Runner, cluster: str) -> bool:
    result = runner.run(["kind", "get", "clusters"], timeout=60)
    return result.ok and cluster in result.stdout.split()


def lost_digests(local: LocalImages, images: Sequence[Image]) -> list[str]:
    """Digest-pinned images Docker holds by tag only: its classic image store keeps no registry
    digest through ``docker save``/``docker load`` (kind#2734), so they would be pulled again."""
    return [i.name for i in images if i.digest and not local.has(i) and i.name in local.names]


def preload_local_images(
    runner: Runner,
    cluster: str = CLUSTER_NAME,
    pins: Pins | None = None,
    verified: Iterable[str] = (),
) -> list[str]:
    """Load into the kind nodes every lab image that the host's Docker already holds.

    The node image is skipped (the nodes run it). Images Docker does not have are left for the
    nodes to pull. ``verified``: names whose content was just checked against the lock, loaded by
    tag even when Docker kept no registry digest. Returns the names loaded. On kind#3795's
    missing-content error it falls back to a single-platform archive and ``kind load image-archive``.
    """
    pins = pins or Pins()
    wanted = [image for image in lab_images(pins) if image.ref != pins.node_image]
    local = local_images(runner)
    if local.docker_error:
        return []
    checked = set(verified)
    present = [
        image
        for image in wanted
        if runner.dry_run or local.has(image) or (image.name in checked and image.name in local.names)
    ]
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
    platform = docker_platform(runner)
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
