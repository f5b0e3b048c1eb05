"""Calico through the Tigera operator: fetch the pinned manifests, verify, apply.

Every file is checked against its pinned size and sha256 before anything is applied: one
mismatch stops the install with one error line and nothing reaches the cluster. The files come
from the pinned release URL (kept in a cache folder, re-checked on every run) or from a local
folder (``--calico-dir`` / NETPOL_LAB_CALICO_DIR) for offline workshops; the checks apply to both.

Each file is read once and never past its pinned size, and the bytes that were checked are the
bytes applied: after the check they are written into a private folder made for this run (mode
0700, removed at exit), and kubectl reads that copy, so nothing can change the file between the
check and the apply. A download that fails the check is deleted, never kept in the cache.

With images.lock.json (`netpol-lab images lock`), the applied copy of tigera-operator.yaml names
the operator image by digest (rewritten after the check), and an ImageSet, applied with the lab's
Installation, names every Calico image by digest (see ``imageset``).

Applying goes through ``lab.boundary.apply`` (server-side, ``--force-conflicts``, namespaces and
CRDs first, then a wait until the CRDs are Established): the same commands run again
change nothing on unchanged objects.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import yaml

from lab import scenario
from lab.boundary.apply import plan_apply, plan_apply_documents, run_steps
from lab.boundary.runner import Runner
from lab.errors import ExitStatus, LabError
from lab.lifecycle import imagelock, images
from lab.pins import PART_OF_LABEL, PinnedFile, Pins

FIELD_MANAGER = "netpol-lab"
LAB_MANIFESTS = Path("manifests") / "calico"  # relative to the project root
CORE_OBJECTS = ("installation.yaml", "apiserver.yaml")
# A dual-stack lab's Installation has an IPv6 pool beside the IPv4 one; it replaces installation.yaml.
DUAL_STACK_INSTALLATION = "installation-dual-stack.yaml"


def core_objects(ip_family: str = scenario.IPV4) -> tuple[str, ...]:
    """The lab's own Calico objects, the Installation first (the dual-stack one for ``dual``)."""
    if ip_family == scenario.DUAL:
        return (DUAL_STACK_INSTALLATION, *CORE_OBJECTS[1:])
    return CORE_OBJECTS


def installation_pools(root: Path, ip_family: str = scenario.IPV4) -> list[str]:
    """The CIDRs of the IP pools the lab's Installation for ``ip_family`` asks for."""
    import yaml  # only for the plan's check that the pools and kind's pod subnets agree

    path = root / LAB_MANIFESTS / core_objects(ip_family)[0]
    installation = yaml.safe_load(path.read_text(encoding="utf-8"))
    pools = ((installation.get("spec") or {}).get("calicoNetwork") or {}).get("ipPools") or []
    return [str(pool.get("cidr")) for pool in pools]


CRD_BUNDLE = "v1_crd_projectcalico_org.yaml"  # the operator's and Calico's CRDs, nothing else
OPERATOR_MANIFEST = "tigera-operator.yaml"
FLOW_UI_OBJECTS = ("goldmane.yaml", "whisker.yaml")
DOWNLOAD_TIMEOUT = 120.0
UNPINNED_LIMIT = 64 << 20  # a checksum override carries no size: never read more than this

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


def _limit(pinned: PinnedFile) -> int:
    return pinned.size if pinned.size >= 0 else UNPINNED_LIMIT


def _read_capped(stream: IO[bytes], limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to tell that a file is too large, never more."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        block = stream.read(min(1 << 20, limit + 1 - total))
        if not block:
            break
        chunks.append(block)
        total += len(block)
    return b"".join(chunks)


def _problem(pinned: PinnedFile, data: bytes) -> str | None:
    """Why these bytes are not the pinned file (size first, then sha256), or None."""
    if len(data) > _limit(pinned):
        return f"{pinned.name}: larger than the pinned {_limit(pinned)} bytes"
    if pinned.size >= 0 and len(data) != pinned.size:
        return f"{pinned.name}: {len(data)} bytes, pinned {pinned.size}"
    got = hashlib.sha256(data).hexdigest()
    if got != pinned.sha256:
        return f"{pinned.name}: sha256 {got}, pinned {pinned.sha256}"
    return None


def _read(pinned: PinnedFile, path: Path) -> tuple[bytes | None, str | None]:
    """A file's bytes if they are the pinned ones, else why not (missing, size, sha256)."""
    try:
        with path.open("rb") as stream:
            data = _read_capped(stream, _limit(pinned))
    except FileNotFoundError:
        return None, f"{pinned.name}: missing"
    except OSError as error:
        return None, f"{pinned.name}: cannot read it ({error.strerror or error})"
    problem = _problem(pinned, data)
    return (None, problem) if problem else (data, None)


def _download(url: str, target: Path, pinned: PinnedFile, opener: Opener) -> tuple[bytes | None, str | None]:
    """Fetch into memory (never past the pinned size), check, and only then keep it in the cache.
    A refused download is not kept, and the cached file it was to replace is deleted too."""
    try:
        with opener(url, DOWNLOAD_TIMEOUT) as response:
            data = _read_capped(response, _limit(pinned))
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise LabError(
            f"could not download {url} ({reason}): check the network, or point --calico-dir "
            "(NETPOL_LAB_CALICO_DIR) at a folder holding the same files (offline workshops)"
        ) from None
    problem = _problem(pinned, data)
    if problem:
        target.unlink(missing_ok=True)
        return None, problem
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, target)
    return data, None


def verify(
    pins: Pins,
    source: Source,
    say: Callable[[str], None],
    *,
    root: Path,
    dry_run: bool = False,
    opener: Opener | None = None,
) -> dict[str, bytes]:
    """Each manifest's checked bytes, by name in the pins' order; a LabError naming every problem.

    A cached file that fails the check is downloaded once more (an interrupted or corrupted
    download); a local folder is never written to. A dry run reads what is there, says whether
    it holds the verified files, and fetches nothing (it returns only what is verified already)."""
    if source.local_dir is not None and not source.local_dir.is_dir():
        raise LabError(
            f"--calico-dir {source.local_dir}: no such folder; point it (or NETPOL_LAB_CALICO_DIR) at "
            f"the folder holding {', '.join(p.name for p in pins.calico_manifests)} of Calico "
            f"{pins.calico_version} (`netpol-lab bundle save DIR` writes them to DIR/calico)",
            ExitStatus.USAGE,
        )
    folder = source.local_dir or source.cache_dir
    shown = _shown(folder, root)
    checked: dict[str, bytes] = {}
    problems: list[str] = []
    for pinned in pins.calico_manifests:
        path = folder / pinned.name
        data, problem = _read(pinned, path)
        if problem and source.local_dir is None:
            url = source.base_url + pinned.name
            if dry_run:
                held = "not cached" if problem.endswith(": missing") else "the cached file fails its check"
                say(f"fetch {url} -> {_shown(path, root)} ({held}; then check its size and sha256)")
                continue
            say(f"fetch {url} -> {_shown(path, root)}")
            data, problem = _download(url, path, pinned, opener or _open_url)
        if problem:
            if dry_run:
                say(f"{problem}: `up` stops here")
            problems.append(problem)
            continue
        assert data is not None
        checked[pinned.name] = data
        place = "in the folder" if source.local_dir else "cached"
        say(
            f"ok size {len(data)} sha256 {pinned.sha256} {shown}/{pinned.name}"
            + (f" ({place})" if dry_run else "")
        )
    if problems and not dry_run:
        fix = (
            f"put the files of Calico {pins.calico_version} there"
            if source.local_dir
            else "the download was altered or upstream changed the file (it was not kept); rerun, "
            "or, if you trust a new file, set NETPOL_LAB_CALICO_SHA256_<FILE> to its sha256"
        )
        missing = [problem.split(":", 1)[0] for problem in problems if problem.endswith(": missing")]
        wrong = [problem for problem in problems if not problem.endswith(": missing")]
        found = [f"do not match their pinned checksums ({'; '.join(wrong)})"] if wrong else []
        found += [f"are missing ({', '.join(missing)})"] if missing else []
        raise LabError(
            f"Calico manifests from {source.describe()} {' and '.join(found)}: nothing was applied; {fix}",
            ExitStatus.ERROR,
        )
    return checked


def fetch_verified(
    pins: Pins,
    source: Source,
    say: Callable[[str], None],
    *,
    root: Path,
    dry_run: bool = False,
    opener: Opener = _open_url,
    warn: Callable[[str], None] | None = None,
) -> list[Path]:
    """The paths to apply: private copies of the verified bytes (with the operator pinned by
    digest when images.lock.json exists). A dry run returns the cache's or folder's paths."""
    lock = images.read_lock(root, pins)
    warning = images.tag_only_warning(images.lab_images(images.with_lock(pins, lock)))
    if warning:
        (warn or say)(warning)
    checked = verify(pins, source, say, root=root, dry_run=dry_run, opener=opener)
    if dry_run:
        folder = source.local_dir or source.cache_dir
        return [folder / pinned.name for pinned in pins.calico_manifests]
    if lock is not None and OPERATOR_MANIFEST in checked:
        checked[OPERATOR_MANIFEST], pinned_ref = pin_operator(checked[OPERATOR_MANIFEST], pins, lock)
        say(f"the operator image in the applied copy of {OPERATOR_MANIFEST}: {pinned_ref}")
    paths = _private_copies(checked)
    say(f"kubectl applies the checked bytes from {paths[0].parent} (written after the check)")
    return paths


def pin_operator(manifest: bytes, pins: Pins, lock: imagelock.Lock) -> tuple[bytes, str]:
    """The operator Deployment's ``image:`` line naming the locked digest (exactly one such line)."""
    name = images.Image(pins.operator_image).name
    entry = lock.images[name]
    line = re.compile(
        rb"^(?P<head>[ \t]*(?:-[ \t]+)?image:[ \t]*)(?P<q>[\"']?)"
        + re.escape(name.encode())
        + rb"(?P=q)[ \t]*$",
        re.MULTILINE,
    )
    found = len(line.findall(manifest))
    if found != 1:
        raise LabError(
            f"{OPERATOR_MANIFEST}: {found} lines `image: {name}` where the operator's Deployment has one: "
            "cannot pin the operator by digest; check CALICO_VERSION and TIGERA_OPERATOR_IMAGE in lab/pins.py"
        )
    return line.sub(lambda m: m["head"] + entry.ref.encode(), manifest), entry.ref


def _private_copies(checked: Mapping[str, bytes]) -> list[Path]:
    folder = Path(tempfile.mkdtemp(prefix="netpol-lab-calico-"))  # mode 0700, new for this run
    atexit.register(shutil.rmtree, folder, True)
    paths = []
    for name, data in checked.items():
        path = folder / name
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(data)
        paths.append(path)
    return paths


def imageset(pins: Pins, lock: imagelock.Lock) -> dict[str, Any]:
    """Calico's images by digest, as the Tigera operator reads them.

    tigera/operator v1.42.3 (the operator of Calico v3.32.1): api/v1/imageset_types.go (a
    cluster-scoped ImageSet, spec.images[] of {image, digest}, the digest without a leading @);
    pkg/controller/utils/imageset/imageset.go (the operator uses the ImageSet named
    ``calico-<release>``, refuses an image it does not deploy and a digest not starting with
    ``sha256:``); pkg/components/references.go (``image`` is the default path without registry
    or tag, ``calico/node``; a component whose image is missing from the set fails). So the set
    lists every Calico image the lab runs and key-cert-provisioner, which the operator resolves
    for every installation, and not tigera/operator (not one of the images it deploys: the
    Deployment's image line is pinned instead, see ``pin_operator``)."""
    entries = []
    for ref in (*pins.calico_images, *pins.calico_imageset_only):
        image = images.Image(ref)
        entries.append({"image": image.repository.split("/", 1)[1], "digest": lock.images[image.name].index})
    return {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "ImageSet",
        "metadata": {"name": f"calico-{pins.calico_version}", "labels": dict([PART_OF_LABEL])},
        "spec": {"images": entries},
    }


def install(
    runner: Runner,
    kubectl: Callable[..., Sequence[str]],
    manifests: Sequence[Path],
    *,
    root: Path,
    flow_ui: bool,
    timeout: float,
    pins: Pins | None = None,
    ip_family: str = scenario.IPV4,
) -> None:
    """Apply the verified operator manifests (each with its namespaces and CRDs first, and a wait
    until the CRDs are served), then, with images.lock.json, the ImageSet, then the lab's own
    Calico objects (the Installation first)."""
    pins = pins or Pins()
    fix = "rerun `make lab-up` to carry on"
    bundle = [path for path in manifests if path.name == CRD_BUNDLE]  # CustomResourceDefinitions only
    for path in manifests:
        steps = plan_apply(kubectl, [path], root=root, crds_only=bundle)
        run_steps(runner, steps, what=f"applying {path.name}", fix=fix, timeout=timeout)  # fmt: skip
    lock = images.read_lock(root, pins)
    if lock is not None:  # before the Installation, so the operator never deploys by tag
        steps = plan_apply_documents(kubectl, [imageset(pins, lock)])
        run_steps(
            runner, steps, what="applying the ImageSet (Calico's images by digest)", fix=fix, timeout=timeout
        )
    names = [*core_objects(ip_family), *(FLOW_UI_OBJECTS if flow_ui else ())]
    lab_files = [LAB_MANIFESTS / name for name in names]
    run_steps(runner, plan_apply(kubectl, lab_files, root=root), what="applying the lab's Calico objects",
              fix=fix, timeout=timeout)  # fmt: skip
    if not flow_ui:  # a lab built with the flow UI loses it on `up --no-flow-ui`, as asked
        files = [arg for name in FLOW_UI_OBJECTS for arg in ("-f", str(LAB_MANIFESTS / name))]
        off = runner.run(list(kubectl("delete", "--ignore-not-found", *files)), timeout=timeout)
        if not (off.ok or off.dry_run):
            raise off.failure("removing Whisker and Goldmane", fix)


# kind's own CNI and the plain network enforce no ClusterNetworkPolicy, but the API can still be
# there: stage 7 then shows objects the API server accepts and nothing enforces. Its CRD is taken
# from the bundle Calico ships it in (lab-facts: "Its CRD ships in v1_crd_projectcalico_org.yaml"),
# checked like every Calico file, so the lab never carries a copy of it.
CLUSTER_POLICY_CRD = "clusternetworkpolicies.policy.networking.k8s.io"


def only_the_crd_bundle(pins: Pins) -> Pins:
    """The pins with the CRD bundle as the only Calico manifest and no Calico image."""
    bundle = tuple(p for p in pins.calico_manifests if p.name == CRD_BUNDLE)
    return replace(pins, calico_manifests=bundle, calico_images=(), calico_imageset_only=())


def extract_cluster_policy_crd(bundle: Path) -> Path:
    """Write the ClusterNetworkPolicy CRD of the verified bundle (a private copy) beside it.

    The bundle is 3 MB of YAML: its documents are split on their ``---`` lines and only the one
    that names the CRD is parsed."""
    text = bundle.read_text(encoding="utf-8")
    name_line = re.compile(rf"^  name: {re.escape(CLUSTER_POLICY_CRD)}\s*$", re.MULTILINE)
    found = [doc for doc in re.split(r"^---\s*$", text, flags=re.MULTILINE) if name_line.search(doc)]
    docs = [yaml.safe_load(doc) for doc in found]
    crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    if len(crds) != 1 or (crds[0].get("metadata") or {}).get("name") != CLUSTER_POLICY_CRD:
        raise LabError(
            f"{bundle.name} holds {len(crds)} CustomResourceDefinition {CLUSTER_POLICY_CRD} where Calico "
            f"{Pins().calico_version}'s holds one: check CALICO_VERSION in lab/pins.py"
        )
    path = bundle.parent / f"{CLUSTER_POLICY_CRD}.yaml"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        yaml.safe_dump(crds[0], out, sort_keys=False)
    return path


def install_cluster_policy_crd(
    runner: Runner,
    kubectl: Callable[..., Sequence[str]],
    manifests: Sequence[Path],
    *,
    root: Path,
    timeout: float,
) -> None:
    """Apply the ClusterNetworkPolicy CRD alone (a lab without Calico), and wait until it is served."""
    [bundle] = [path for path in manifests if path.name == CRD_BUNDLE]
    crd = (
        bundle.parent / f"{CLUSTER_POLICY_CRD}.yaml" if runner.dry_run else extract_cluster_policy_crd(bundle)
    )
    steps = plan_apply(kubectl, [crd], root=root, crds_only=[crd])
    run_steps(
        runner, steps, what="applying the ClusterNetworkPolicy CRD", fix="rerun `make lab-up` to carry on",
        timeout=timeout,
    )  # fmt: skip


def _shown(path: Path, root: Path) -> str:
    """A path as the echoed command shows it: relative to the project folder when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
