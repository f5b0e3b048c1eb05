"""Order-safe server-side apply: Namespaces and CRDs first, then everything else.

``kubectl apply -f DIR`` reads the files in lexical order and applies the objects in the order
read; it does not put Namespaces or CustomResourceDefinitions first (kubectl's apply.go has no
kind ordering). The API server's NamespaceLifecycle admission then refuses an object whose
namespace does not exist yet (``namespaces "backend" not found``), and kubectl refuses a custom
resource whose CRD is not served yet (``no matches for kind``). Every apply the lab runs goes
through ``plan_apply``: the foundation objects first (by file when a file holds only those, so the
echoed line stays one a participant can type; through stdin otherwise), a wait until new CRDs
are Established, then the whole set as given.

Every apply is server-side with ``--force-conflicts``: the CRD bundle is too large for
client-side apply's last-applied annotation, the Tigera operator co-owns its CRDs
(``-manage-crds=true``), and the lab's own objects are declarative: what the lab says is what
holds, even after a participant edited an object by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.boundary.runner import Runner
from lab.errors import ExitStatus, LabError

FIELD_MANAGER = "netpol-lab"
FOUNDATION_KINDS = ("Namespace", "CustomResourceDefinition")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")  # what kubectl reads from a folder
CRD_TIMEOUT = 120

KubectlArgv = Callable[..., Sequence[str]]


@dataclass(frozen=True)
class ApplyStep:
    """One kubectl command of an apply: its argv, and what it reads on stdin."""

    argv: tuple[str, ...]
    input: str | None = None


def apply_argv(kubectl: KubectlArgv, files: Sequence[str]) -> list[str]:
    """`kubectl apply --server-side --force-conflicts --field-manager=netpol-lab -f F...` (``-`` = stdin)."""
    argv = list(kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}"))
    for name in files:
        argv += ["-f", name]
    return argv


def manifest_files(source: Path) -> list[Path]:
    """The files kubectl would read for ``-f source``, in its order (lexical, one level for a folder)."""
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    return [source]


def read_documents(path: Path) -> list[dict[str, Any]]:
    """The objects of one manifest file; a LabError naming the file when it is not YAML of objects."""
    try:
        loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as error:
        raise LabError(f"{path}: cannot read it ({error})", ExitStatus.USAGE) from None
    except yaml.YAMLError as error:
        raise LabError(f"{path}: not valid YAML: {str(error).splitlines()[0]}", ExitStatus.USAGE) from None
    documents = [d for d in loaded if d is not None]
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, Mapping) or not isinstance(document.get("kind"), str):
            raise LabError(
                f"{path}: document {number} is not a Kubernetes object (no kind)", ExitStatus.USAGE
            )
    return [dict(d) for d in documents]


def is_foundation(document: Mapping[str, Any]) -> bool:
    return document.get("kind") in FOUNDATION_KINDS


def _crd_names(documents: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        f"crd/{(d.get('metadata') or {}).get('name')}"
        for d in documents
        if d.get("kind") == "CustomResourceDefinition"
    ]


def _dump(documents: Sequence[Mapping[str, Any]]) -> str:
    return yaml.safe_dump_all([dict(d) for d in documents], sort_keys=False)


def plan_apply(
    kubectl: KubectlArgv,
    sources: Sequence[Path],
    *,
    root: Path,
    timeout: int = CRD_TIMEOUT,
    crds_only: Sequence[Path] = (),
) -> list[ApplyStep]:
    """The steps that apply ``sources`` (files or folders; relative ones are under ``root``, where
    kubectl runs) with Namespaces and CRDs first. Paths are shown as given, or relative to ``root``
    when inside it, as a participant types them from the lab's folder.

    ``crds_only`` names files known to hold CustomResourceDefinitions only (the pinned, checksum-
    verified CRD bundle): they are planned without being read, which also covers a dry run that
    runs before the download."""
    foundation_files: list[str] = []
    foundation_inline: list[dict[str, Any]] = []
    crd_files: list[str] = []
    crd_names: list[str] = []
    for source in sources:
        for path in manifest_files(root / source):
            shown = _shown(path, root)
            if path in crds_only or root / path in crds_only:
                foundation_files.append(shown)
                crd_files.append(shown)
                continue
            if not path.exists():  # a dry run before anything was fetched: planned as given
                continue
            documents = read_documents(path)
            found = [d for d in documents if is_foundation(d)]
            if not found:
                continue
            names = _crd_names(found)
            if len(found) == len(documents):
                foundation_files.append(shown)
                if names and len(names) == len(documents):
                    crd_files.append(shown)
                else:
                    crd_names += names
            else:
                foundation_inline.extend(found)
                crd_names += names
    shown_sources = [_shown(root / s, root) + ("/" if (root / s).is_dir() else "") for s in sources]
    steps: list[ApplyStep] = []
    if foundation_files:
        steps.append(ApplyStep(tuple(apply_argv(kubectl, foundation_files))))
    if foundation_inline:
        steps.append(ApplyStep(tuple(apply_argv(kubectl, ["-"])), _dump(foundation_inline)))
    if crd_files or crd_names:
        files = [arg for name in crd_files for arg in ("-f", name)]
        wait = kubectl("wait", "--for=condition=Established", f"--timeout={timeout}s", *files, *crd_names)
        steps.append(ApplyStep(tuple(wait)))
    if foundation_files != shown_sources:
        steps.append(ApplyStep(tuple(apply_argv(kubectl, shown_sources))))
    return steps


def plan_apply_documents(
    kubectl: KubectlArgv, documents: Sequence[Mapping[str, Any]], *, timeout: int = CRD_TIMEOUT
) -> list[ApplyStep]:
    """The same for objects the lab builds itself (sent on stdin): foundation objects first."""
    found = [d for d in documents if is_foundation(d)]
    rest = [d for d in documents if not is_foundation(d)]
    steps: list[ApplyStep] = []
    if found:
        steps.append(ApplyStep(tuple(apply_argv(kubectl, ["-"])), _dump(found)))
        crds = _crd_names(found)
        if crds:
            wait = kubectl("wait", "--for=condition=Established", f"--timeout={timeout}s", *crds)
            steps.append(ApplyStep(tuple(wait)))
    if rest:
        steps.append(ApplyStep(tuple(apply_argv(kubectl, ["-"])), _dump(rest)))
    return steps


def _shown(path: Path, root: Path) -> str:
    """A path as the echoed command shows it: relative to the lab's folder when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def run_steps(runner: Runner, steps: Sequence[ApplyStep], *, what: str, fix: str, timeout: float) -> None:
    """Run the steps in order; the first failure stops with one line naming ``what`` and the fix."""
    for step in steps:
        result = runner.run(step.argv, input=step.input, timeout=timeout)
        if not (result.ok or result.dry_run):
            raise result.failure(what, fix)
