"""Exercises as data: a task, the stage it starts from, the goal cells, the scope, and hints.

``exercises/<name>/`` holds:

* ``README.md``: the task in the participant's words (first line ``# Exercise: title``);
* ``exercise.yaml``: the starting stage, the scope (the namespaces the participant may put objects
  in, and the cluster-scoped kinds they may write), the folder their answers go in, the probes the
  least-privilege check leaves out (each with the reason), and hints for the common mistakes;
* ``goal.txt``: the cells that must be ALLOW or DENY, written like a stage's ``expect.txt``, but
  only the cells the exercise cares about (``-`` where it does not care), so a column added to the
  lab's matrix elsewhere changes nothing here;
* ``world.yaml`` (optional): what the exercise adds to the stage before the participant starts (a
  namespace with a probe pod, a careless policy someone else wrote);
* ``solution.yaml`` and ``wrong/*.yaml``: a shipped solution and shipped wrong answers, which the
  tests check against the goal.

Cells name pods and targets so that the offline evaluator and a live probe mean the same thing:

* a row is a lab workload (``frontend``) or a pod ``NAMESPACE/NAME`` of the exercise's world;
* a column is ``WORKLOAD:PORT[/PROTO]`` or ``NAMESPACE/NAME:PORT[/PROTO]`` (that pod's IP),
  ``svc/WORKLOAD:PORT`` (the lab's Service by name, so DNS must work), ``dns`` (a lookup, as in the
  lab's matrix), ``outside`` and ``metadata`` (optionally ``outside:PORT[/PROTO]``), or an address
  ``IP:PORT[/PROTO]``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError

from lab import pins, scenario
from lab.errors import ExitStatus, LabError
from lab.matrix import Matrix, Verdict
from lab.policy.model import PROTOCOLS
from lab.workshop.stages import load_stages, stage_by_name

EXERCISES_FOLDER = "exercises"
EXERCISE_FILE = "exercise.yaml"
GOAL_FILE = "goal.txt"
WORLD_FILE = "world.yaml"
SOLUTION_FILE = "solution.yaml"
WRONG_FOLDER = "wrong"
ANSWERS_FOLDER = "answers"  # where a participant's files go by default: answers/<exercise>/
# Labels the live check puts on what it applies, so that it can remove exactly what it put there.
EXERCISE_LABEL = "netpol-lab/exercise"  # the exercise's world
ANSWER_LABEL = "netpol-lab/answer"  # a participant's object, with the exercise's name
ANSWER_SET_LABEL = "netpol-lab/answer-set"  # which set of answers it came with (a digest)
PART_OF = {"app.kubernetes.io/part-of": "netpol-lab"}
MAX_ANSWER_BYTES = 1024 * 1024  # a participant's file: a few policies, never megabytes
DNS_TCP_COLUMN = "dns/tcp"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# What a participant may write: NetworkPolicies in the scope's namespaces; cluster-scoped kinds
# only when the exercise names them (a guardrail is a cluster administrator's job).
NAMESPACED_KINDS = {("networking.k8s.io/v1", "NetworkPolicy")}
CLUSTER_KINDS = {"ClusterNetworkPolicy": "policy.networking.k8s.io/v1alpha2"}


@dataclass(frozen=True)
class Hint:
    """Said under a wrong cell: for one goal cell (``row -> column``), or for one kind of probe."""

    text: str
    cell: str = ""  # "row -> column" of the goal
    probe: str = ""  # a probe kind of the least-privilege check (see lab.workshop.check.PROBE_KINDS)
    got: Verdict | None = None  # only when the cell came out this way

    def applies(self, row: str, column: str, probe: str, got: Verdict) -> bool:
        if self.got is not None and self.got != got:
            return False
        if self.cell:
            return self.cell == f"{row} -> {column}"
        return self.probe == probe


@dataclass(frozen=True)
class Scope:
    namespaces: tuple[str, ...]
    cluster_kinds: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.namespaces:
            parts.append("NetworkPolicies in namespace(s) " + ", ".join(self.namespaces))
        if self.cluster_kinds:
            parts.append(", ".join(self.cluster_kinds))
        return " and ".join(parts) or "nothing"


@dataclass(frozen=True)
class CellTarget:
    """Where a goal column points, as the evaluator and the live probe both understand it."""

    column: str  # as written
    kind: str  # pod, service, dns, address; lab: a cell of the lab's matrix, judged as the matrix is
    pod: str = ""  # NAMESPACE/NAME (kind pod)
    workload: str = ""  # the lab workload (kind service)
    ip: str = ""  # kind address
    port: int = 0
    protocol: str = "TCP"

    def describe(self) -> str:
        if self.kind == "dns":
            return f"a DNS lookup ({self.protocol} 53 to CoreDNS)"
        if self.kind == "service":
            return f"Service {self.workload} by name, port {self.port}"
        where = self.pod or self.ip
        return f"{where} on {self.protocol} {self.port}"


@dataclass(frozen=True)
class Exercise:
    name: str
    path: Path
    title: str
    level: int
    stage: str
    scope: Scope
    answers: str  # the folder of the participant's files, relative to the lab's folder
    hints: tuple[Hint, ...] = ()
    skip: Mapping[str, str] = field(default_factory=dict)  # probe kind -> why it is left out

    @cached_property
    def text(self) -> str:
        return (self.path / "README.md").read_text(encoding="utf-8")

    @cached_property
    def goal(self) -> Matrix:
        path = self.path / GOAL_FILE
        try:
            goal = Matrix.from_table(path.read_text(encoding="utf-8"), title=f"goal of {self.name}")
        except (OSError, ValueError) as error:
            raise LabError(f"{path}: {error}", ExitStatus.USAGE) from error
        for row, column, cell in goal:
            if cell.verdict not in (Verdict.ALLOW, Verdict.DENY, Verdict.DNS_FAIL, Verdict.NOT_JUDGED):
                raise LabError(
                    f"{path}: {row} -> {column}: a goal cell is ALLOW, DENY, DNS-FAIL or -, "
                    f"not {cell.verdict.value}",
                    ExitStatus.USAGE,
                )
        return goal

    @cached_property
    def world(self) -> list[dict[str, Any]]:
        """The objects the exercise adds to the stage, each labelled as this exercise's."""
        path = self.path / WORLD_FILE
        if not path.is_file():
            return []
        documents = load_documents(path)
        for document in documents:
            labels = document.setdefault("metadata", {}).setdefault("labels", {})
            labels.update({**PART_OF, EXERCISE_LABEL: self.name})
        return documents

    @property
    def solution(self) -> Path:
        return self.path / SOLUTION_FILE

    @property
    def wrong_answers(self) -> list[Path]:
        return sorted((self.path / WRONG_FOLDER).glob("*.yaml"))

    def goal_cells(self) -> list[tuple[str, str, Verdict]]:
        """(row, column, verdict) of every cell the goal judges, in the table's order."""
        return [(r, c, cell.verdict) for r, c, cell in self.goal if cell.verdict != Verdict.NOT_JUDGED]

    def hint_for(self, row: str, column: str, probe: str, got: Verdict) -> str:
        return " ".join(h.text for h in self.hints if h.applies(row, column, probe, got))


# -- reading the files ------------------------------------------------------------------------


class _DocumentLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a participant's policies never need them, and a few of them
    nest into billions of nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ComposerError(
                None,
                None,
                "found an alias (*name): write each object out in full",
                self.peek_event().start_mark,
            )
        return super().compose_node(parent, index)


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The objects of a YAML file (a participant's, or the exercise's own), each a mapping with a kind."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_ANSWER_BYTES + 1)
    except FileNotFoundError:
        raise LabError(f"{path}: no such file", ExitStatus.USAGE) from None
    except OSError as error:
        raise LabError(f"{path}: cannot read it ({error.strerror or error})", ExitStatus.USAGE) from None
    if len(data) > MAX_ANSWER_BYTES:
        raise LabError(
            f"{path}: larger than {MAX_ANSWER_BYTES // 1024} KiB: not a set of policies", ExitStatus.USAGE
        )
    try:
        text = data.decode("utf-8-sig")
        loaded = list(yaml.load_all(text, Loader=_DocumentLoader))
    except UnicodeDecodeError as error:
        raise LabError(
            f"{path}: not UTF-8 text (at byte {error.start}): save it as UTF-8", ExitStatus.USAGE
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise LabError(f"{path}: not valid YAML{where}: {problem}", ExitStatus.USAGE) from None
    documents = []
    for number, document in enumerate((d for d in loaded if d is not None), start=1):
        if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
            raise LabError(
                f"{path}: document {number} is not a Kubernetes object (no kind)", ExitStatus.USAGE
            )
        if not isinstance(document.get("metadata", {}), dict):
            raise LabError(f"{path}: document {number}: metadata must be a mapping", ExitStatus.USAGE)
        documents.append(document)
    return documents


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError(f"{where} must be a list of names")
    return tuple(raw)


def _hints(raw: Any) -> tuple[Hint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("hints must be a list")
    hints = []
    for number, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise ValueError(f"hints[{number}] needs a text")
        unknown = set(entry) - {"text", "cell", "probe", "got"}
        if unknown or bool(entry.get("cell")) == bool(entry.get("probe")):
            raise ValueError(f"hints[{number}]: name a cell or a probe (and only text, cell, probe, got)")
        got = Verdict.parse(str(entry["got"])) if entry.get("got") else None
        hints.append(
            Hint(
                " ".join(entry["text"].split()), str(entry.get("cell", "")), str(entry.get("probe", "")), got
            )
        )
    return tuple(hints)


def load_exercise(root: Path, name: str) -> Exercise:
    """One exercise by folder name; a LabError naming the choices when there is none."""
    folder = root / EXERCISES_FOLDER / name
    if not _NAME.match(name) or not (folder / EXERCISE_FILE).is_file():
        known = ", ".join(exercise_names(root)) or "none"
        raise LabError(f"no exercise {name!r}: choose one of {known}", ExitStatus.USAGE)
    path = folder / EXERCISE_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("must be a mapping")
        unknown = set(data) - {"title", "level", "stage", "scope", "answers", "least_privilege", "hints"}
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        scope = data.get("scope") or {}
        namespaces = _strings(scope.get("namespaces"), "scope.namespaces")
        cluster = _strings(scope.get("cluster"), "scope.cluster")
        for kind in cluster:
            if kind not in CLUSTER_KINDS:
                raise ValueError(f"scope.cluster: {kind} is not a kind a participant may write")
        skip = (data.get("least_privilege") or {}).get("skip") or {}
        if not isinstance(skip, dict) or not all(isinstance(v, str) for v in skip.values()):
            raise ValueError("least_privilege.skip maps a probe kind to the reason it is left out")
        exercise = Exercise(
            name=name,
            path=folder,
            title=str(data["title"]),
            level=int(data.get("level", 1)),
            stage=str(data["stage"]),
            scope=Scope(namespaces, cluster),
            answers=str(data.get("answers") or f"{ANSWERS_FOLDER}/{name}"),
            hints=_hints(data.get("hints")),
            skip={str(k): " ".join(v.split()) for k, v in skip.items()},
        )
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as error:
        raise LabError(f"{path}: {error}", ExitStatus.USAGE) from error
    stage_by_name(load_stages(root), exercise.stage)  # the stage must exist
    return exercise


def exercise_names(root: Path) -> list[str]:
    folder = root / EXERCISES_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / EXERCISE_FILE).is_file())


def load_exercises(root: Path) -> list[Exercise]:
    """Every exercise, easiest first."""
    return sorted((load_exercise(root, n) for n in exercise_names(root)), key=lambda e: (e.level, e.name))


# -- what the cells name ----------------------------------------------------------------------


def row_pod(row: str) -> str:
    """The pod a row names: a lab workload's pod, or NAMESPACE/NAME as written."""
    workload = scenario.BY_NAME.get(row)
    if workload is not None:
        return f"{workload.namespace}/{workload.name}"
    namespace, slash, name = row.partition("/")
    if not slash or not _NAME.match(namespace) or not _NAME.match(name):
        raise ValueError(
            f"row {row!r}: name a lab workload ({', '.join(scenario.BY_NAME)}) or a pod NAMESPACE/NAME"
        )
    return row


def _port(text: str, column: str) -> tuple[int, str]:
    number, slash, protocol = text.partition("/")
    protocol = protocol.upper() if slash else "TCP"
    if not number.isdecimal() or not number.isascii() or not 1 <= int(number) <= 65535:
        raise ValueError(f"column {column!r}: the port is a number 1-65535")
    if protocol not in PROTOCOLS:
        raise ValueError(f"column {column!r}: the protocol is TCP, UDP or SCTP")
    return int(number), protocol


def parse_column(column: str, outside: str = pins.OUTSIDE_TARGET) -> CellTarget:
    """What one column names (see the module's docstring)."""
    if column == scenario.DNS_COLUMN:
        return CellTarget(column, "dns", port=53, protocol="UDP")
    if column == DNS_TCP_COLUMN:  # a lookup over TCP, as the lab's matrix names it
        return CellTarget(column, "dns", port=53, protocol="TCP")
    public_ip, _, public_port = outside.rpartition(":")
    named = {
        scenario.OUTSIDE_COLUMN: (public_ip.strip("[]"), public_port),
        scenario.METADATA_COLUMN: (pins.METADATA_IP, "80"),
    }
    head, colon, rest = column.partition(":")
    if head in named:
        ip, default_port = named[head]
        port, protocol = _port(rest if colon else default_port, column)
        return CellTarget(column, "address", ip=ip, port=port, protocol=protocol)
    if column.startswith("svc/"):
        workload, _, port_text = column.removeprefix("svc/").partition(":")
        if workload not in scenario.BY_NAME:
            raise ValueError(f"column {column!r}: svc/ names a lab workload ({', '.join(scenario.BY_NAME)})")
        port, protocol = _port(port_text, column)
        return CellTarget(column, "service", workload=workload, port=port, protocol=protocol)
    host, colon, port_text = column.rpartition(":")
    if not colon:
        raise ValueError(f"column {column!r}: write TARGET:PORT, dns, outside or metadata")
    port, protocol = _port(port_text, column)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return CellTarget(column, "pod", pod=row_pod(host), port=port, protocol=protocol)
    return CellTarget(column, "address", ip=host, port=port, protocol=protocol)


def check_goal(exercise: Exercise) -> None:
    """Every row and column of the goal names something (a LabError naming the file otherwise)."""
    try:
        for row, column, _ in exercise.goal_cells():
            row_pod(row)
            parse_column(column)
    except ValueError as error:
        raise LabError(f"{exercise.path / GOAL_FILE}: {error}", ExitStatus.USAGE) from None


def answer_files(root: Path, exercise: Exercise, given: Sequence[str]) -> list[Path]:
    """The participant's files: those given, else every YAML file in the exercise's answers folder."""
    if given:
        paths = [Path(p) if Path(p).is_absolute() else Path.cwd() / p for p in given]
        for path in paths:
            if not path.is_file():
                raise LabError(f"{path}: no such file", ExitStatus.USAGE)
        return paths
    folder = root / exercise.answers
    found = sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []
    if not found:
        raise LabError(
            f"no answer files in {exercise.answers}/: put your policies there (one or more .yaml files), "
            f"or name them: `netpol-lab check {exercise.name} FILE...`",
            ExitStatus.USAGE,
        )
    return found


# -- the scope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """An object the check will not take, and why."""

    file: str
    what: str  # "NetworkPolicy database/x"
    why: str


def describe_object(document: Mapping[str, Any]) -> str:
    meta = document.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "(no name)")
    return f"{document.get('kind')} {namespace + '/' if isinstance(namespace, str) else ''}{name}"


def refusals(exercise: Exercise, file: str, documents: Sequence[Mapping[str, Any]]) -> list[Refusal]:
    """What in ``documents`` lies outside the exercise's scope: another kind, another namespace."""
    out = []
    for document in documents:
        kind, api = document.get("kind"), document.get("apiVersion")
        meta = document.get("metadata") or {}
        namespace = meta.get("namespace")
        what = describe_object(document)
        if not isinstance(meta.get("name"), str) or not _NAME.match(meta["name"]):
            out.append(Refusal(file, what, "give it a name: lower-case letters, digits and dashes"))
        elif (api, kind) in NAMESPACED_KINDS:
            if not isinstance(namespace, str):
                out.append(Refusal(file, what, "name its namespace (metadata.namespace)"))
            elif namespace not in exercise.scope.namespaces:
                allowed = ", ".join(exercise.scope.namespaces) or "none"
                out.append(
                    Refusal(
                        file, what, f"namespace {namespace} is not yours in this exercise (yours: {allowed})"
                    )
                )
        elif kind in exercise.scope.cluster_kinds and api == CLUSTER_KINDS[str(kind)]:
            if namespace is not None:
                out.append(Refusal(file, what, f"a {kind} is cluster-scoped: remove metadata.namespace"))
        else:
            out.append(
                Refusal(
                    file,
                    what,
                    f"{kind} ({api}) is not yours to write here: this exercise takes "
                    + exercise.scope.describe(),
                )
            )
        labels = meta.get("labels")
        if isinstance(labels, dict) and any(str(k).startswith("netpol-lab/") for k in labels):
            out.append(Refusal(file, what, "netpol-lab/ labels belong to the lab: remove them"))
    return out
