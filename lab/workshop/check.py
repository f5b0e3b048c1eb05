"""Grade a participant's policies against an exercise, offline: the goal, then least privilege.

1. The objects must lie inside the exercise's scope (``exercises.refusals``); nothing is judged
   otherwise.
2. The goal: every cell of ``goal.txt`` must come out as written, with the stage, the exercise's
   world and the participant's objects in force. A wrong cell carries the evaluator's explanation
   (which policy and rule allowed it, or why none did) and the exercise's hint for that mistake.
3. Least privilege: probes the goal does not mention must not gain access. For each ALLOW cell of
   the goal: a new pod without labels in the source's namespace (``stranger``) and in the target's
   (``stranger-at-target``), a pod with the source's labels in a new namespace (``newcomer``), the
   next port (``other-port``), the other protocol (``other-protocol``), and, from every pod the goal
   involves, the outside (on its own port and on the goal's) and the metadata address. "Gain" is
   judged against the same world without the participant's objects, so what the stage already
   allowed is nobody's fault. The lab's own matrix must not change either (``unchanged``): no cell
   the goal does not mention may open, or close.

The synthetic pods exist in both worlds (with and without the answers); ``check --live`` creates
them for real (``synthetic_documents``) and probes the same cells.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lab import pins, scenario
from lab.matrix import Cell, Verdict, matches
from lab.policy.engine import Engine
from lab.policy.explain import Explainer, Explanation
from lab.policy.model import ClusterState, InputError, Pod
from lab.policy.state import finish, parse_objects
from lab.workshop.exercises import (
    PART_OF,
    CellTarget,
    Exercise,
    Refusal,
    answer_files,
    check_goal,
    load_documents,
    parse_column,
    refusals,
    row_pod,
)
from lab.workshop.lab_matrix import DNS_PORT, dns_pod, expected_lab_matrix
from lab.workshop.lab_state import DNS_NAMESPACE, load_stage_state

GOAL = "goal"
LEAST_PRIVILEGE = "least-privilege"
PROBE_KINDS: dict[str, str] = {
    GOAL: "a cell of the goal",
    "stranger": "a new pod without labels in the source's namespace",
    "stranger-at-target": "a new pod without labels in the target's namespace",
    "newcomer": "a pod with the source's labels in a new namespace",
    "other-port": "the same target on the next port",
    "other-protocol": "the same port over the other protocol",
    "outside": "the outside address, on its own port and on the goal's",
    "metadata": "the cloud metadata address",
    "unchanged": "a cell of the lab's matrix the goal does not mention",
}
SYNTHETIC_LABEL = "netpol-lab/synthetic"  # on every pod and namespace the check makes up
STRANGER = "netpol-lab-stranger"
COREDNS = f"{DNS_NAMESPACE}/coredns"  # the CoreDNS pod as the modelled lab names it
NEWCOMER_NAMESPACE = "netpol-lab-newcomer"
OPEN = (Verdict.ALLOW, Verdict.REFUSED)  # the packet got through
# Synthetic pods get addresses of their own, clear of the modelled lab pods (192.168.0.10, .11, ...).
SYNTHETIC_IP_OFFSET = 256


@dataclass(frozen=True)
class CheckProbe:
    """One cell the check judges."""

    check: str  # GOAL or LEAST_PRIVILEGE
    kind: str  # a key of PROBE_KINDS
    row: str  # as shown: a workload or NAMESPACE/NAME
    column: str
    source: str  # the source pod, NAMESPACE/NAME
    target: CellTarget
    expected: Verdict = Verdict.NOT_JUDGED  # the goal's verdict (GOAL); filled from the baseline otherwise
    what: str = ""  # the probe in a sentence
    copies: str = ""  # newcomer: the pod whose labels it carries


@dataclass(frozen=True)
class Graded:
    probe: CheckProbe
    got: Cell
    ok: bool
    problem: str = ""  # what is wrong, in a sentence ("" when ok)
    hint: str = ""
    how: str = "offline"  # offline (the evaluator) or probed (a real connection)


@dataclass
class CheckResult:
    exercise: Exercise
    participant: str
    mode: str  # offline or live
    files: list[str]
    refused: list[Refusal] = field(default_factory=list)
    cells: list[Graded] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # probe kinds left out, with the reason
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def wrong(self) -> list[Graded]:
        return [g for g in self.cells if not g.ok]

    def wrong_in(self, check: str) -> list[Graded]:
        return [g for g in self.wrong if g.probe.check == check]

    @property
    def unjudged(self) -> list[Graded]:
        return [g for g in self.wrong if not g.got.verdict.judged]

    @property
    def passed(self) -> bool:
        return not self.refused and bool(self.cells) and not self.wrong


# -- the synthetic pods -----------------------------------------------------------------------


def probe_pod(namespace: str, name: str, labels: Mapping[str, str], kind: str) -> dict[str, Any]:
    """A pod that only waits to be exec'd into (agnhost pause), restricted Pod Security like the lab's."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, SYNTHETIC_LABEL: kind},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "agnhost",
                    "image": pins.AGNHOST_IMAGE,
                    "args": ["pause"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def newcomer_namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NEWCOMER_NAMESPACE,
            "labels": {
                **PART_OF,
                SYNTHETIC_LABEL: "newcomer",
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }


def stranger_key(namespace: str) -> str:
    return f"{namespace}/{STRANGER}"


def newcomer_key(source: str) -> str:
    return f"{NEWCOMER_NAMESPACE}/copy-of-{source.split('/', 1)[1]}"


def synthetic_documents(probes: Sequence[CheckProbe], pods: Mapping[str, Pod]) -> list[dict[str, Any]]:
    """The namespace and pods the probes come from that exist nowhere else (the modelled ones and
    the ones ``check --live`` creates are the same objects)."""
    documents: list[dict[str, Any]] = []
    seen: set[str] = set()
    for probe in probes:
        if probe.source in seen or probe.source in pods:
            continue
        seen.add(probe.source)
        namespace, name = probe.source.split("/", 1)
        if probe.kind == "newcomer":
            if not any(d["kind"] == "Namespace" for d in documents):
                documents.insert(0, newcomer_namespace())
            original = pods[probe.copies]
            documents.append(probe_pod(namespace, name, dict(original.labels), "newcomer"))
        else:
            documents.append(probe_pod(namespace, name, {"app": STRANGER}, probe.kind))
    return documents


# -- the worlds -------------------------------------------------------------------------------


def build_state(
    root: Path, stage: str, objects: Sequence[Mapping[str, Any]], *, outside: str, source: str
) -> ClusterState:
    """The lab at ``stage``, plus ``objects`` (an exercise's world, synthetic pods, answers), the
    pods among them given addresses of their own."""
    return extend_state(load_stage_state(root, stage, outside=outside), objects, source=source)


def extend_state(base: ClusterState, objects: Sequence[Mapping[str, Any]], *, source: str) -> ClusterState:
    """``base`` (a modelled stage) plus ``objects``; ``base`` itself is left as it was."""
    extra = parse_objects(list(objects), source, modelled=True)
    network = ipaddress.ip_network(pins.POD_SUBNET)
    added = []
    for position, pod in enumerate(sorted(extra.pods, key=lambda p: p.key)):
        address = str(network.network_address + SYNTHETIC_IP_OFFSET + position)
        added.append(Pod(pod.namespace, pod.name, pod.labels, address, pod.ports))
    state = replace(
        base,
        namespaces={**base.namespaces, **extra.namespaces},
        pods=[*base.pods, *added],
        policies=[*base.policies, *extra.policies],
        services=[*base.services, *extra.services],
        calico=[*base.calico, *extra.calico],
        tiers={**base.tiers, **extra.tiers},
        cluster_policies=[*base.cluster_policies, *extra.cluster_policies],
        notes=[*base.notes, *extra.notes],
        warnings=[],
        source=source,
    )
    return finish(state)


# -- judging one cell -------------------------------------------------------------------------


class Judge:
    """The evaluator's verdict, with its reason, for the cells of one world."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.engine = Engine(state)
        self.explainer = Explainer(state)
        self.pods = {pod.key: pod for pod in state.pods}
        self.coredns = dns_pod(state)
        self._lab: Any = None

    def lab_matrix(self) -> Any:
        if self._lab is None:
            self._lab = expected_lab_matrix(self.state)
        return self._lab

    def _flow(self, flow: Explanation, prefix: str = "") -> Cell:
        source = self.engine.position[flow.source.key]
        if flow.destination is not None:
            destination = self.engine.position[flow.destination.key]
            allowed = self.engine.pod_allowed(source, destination, flow.port, flow.protocol)
        else:
            allowed = self.engine.ip_allowed(source, flow.address, flow.port, flow.protocol)
        if allowed != flow.allowed:  # two independent evaluations; never expected to differ
            return Cell(Verdict.CHECK_FAILED, "engine and explanation disagree; please report this state")
        return Cell(Verdict.ALLOW if allowed else Verdict.DENY, prefix + flow.reason())

    def cell(self, source_key: str, target: CellTarget) -> Cell:
        source = self.pods.get(source_key)
        if source is None:
            return Cell(Verdict.INCONCLUSIVE, f"no pod {source_key} in this world")
        if target.kind == "address":
            return self._flow(self.explainer.flow(source, target.ip, target.port, target.protocol))
        if target.kind in ("dns", "service"):
            if self.coredns is None:
                return Cell(Verdict.INCONCLUSIVE, f"no CoreDNS pod in {DNS_NAMESPACE} in this world")
            protocol = target.protocol if target.kind == "dns" else "UDP"
            lookup = self._flow(
                self.explainer.flow(source, self.coredns, DNS_PORT, protocol),
                f"DNS lookup ({protocol} 53 to CoreDNS): ",
            )
            if target.kind == "dns" or lookup.verdict == Verdict.CHECK_FAILED:
                return lookup
            if lookup.verdict == Verdict.DENY:
                return Cell(Verdict.DNS_FAIL, "the name does not resolve: " + lookup.reason)
            return self._service(source, target)
        destination = self.pods.get(target.pod)
        if destination is None:
            return Cell(Verdict.INCONCLUSIVE, f"no pod {target.pod} in this world")
        if destination.key == source.key:
            return Cell(Verdict.NOT_JUDGED, "a pod reaching itself is not judged")
        return self._flow(self.explainer.flow(source, destination, target.port, target.protocol))

    def _service(self, source: Pod, target: CellTarget) -> Cell:
        workload = scenario.BY_NAME[target.workload]
        service = next(
            (s for s in self.state.services if s.namespace == workload.namespace and s.name == workload.name),
            None,
        )
        entry = next((p for p in service.ports if p.port == target.port), None) if service else None
        if service is None or entry is None or not service.selector:
            return Cell(
                Verdict.INCONCLUSIVE, f"no Service {workload.name} with port {target.port} in this world"
            )
        selector = service.selector
        for pod in self.state.pods:
            if pod.namespace != service.namespace or any(pod.labels.get(k) != v for k, v in selector.items()):
                continue
            if pod.key == source.key:
                return Cell(Verdict.NOT_JUDGED, "a pod reaching itself through its Service is not judged")
            port = entry.target
            if isinstance(port, str):
                named = [c.port for c in pod.ports if c.name == port and c.protocol == entry.protocol]
                if not named:
                    continue
                port = named[0]
            flow = self.explainer.flow(source, pod, port, entry.protocol)
            return self._flow(flow, f"via Service {service.key} to {pod.key} port {port}: ")
        return Cell(Verdict.INCONCLUSIVE, f"Service {service.key} has no pod behind port {target.port}")


# -- which cells ------------------------------------------------------------------------------


def goal_probes(exercise: Exercise, outside: str = pins.OUTSIDE_TARGET) -> list[CheckProbe]:
    check_goal(exercise)
    return [
        CheckProbe(GOAL, GOAL, row, column, row_pod(row), parse_column(column, outside), verdict, "the goal")
        for row, column, verdict in exercise.goal_cells()
    ]


def _other_protocol(protocol: str) -> str:
    return "UDP" if protocol == "TCP" else "TCP"


def _target_text(target: CellTarget, port: int, protocol: str) -> str:
    """A column for the same target on another port or protocol (a Service's pod, CoreDNS for dns)."""
    suffix = f":{port}" if protocol == "TCP" else f":{port}/{protocol}"
    if target.kind == "address":
        for name in (scenario.OUTSIDE_COLUMN, scenario.METADATA_COLUMN):
            if target.column.split(":", 1)[0] == name:
                return name + suffix
        return target.ip + suffix
    if target.kind == "dns":
        return COREDNS + suffix
    if target.kind == "service":
        return target.workload + suffix
    workload = next((w.name for w in scenario.WORKLOADS if f"{w.namespace}/{w.name}" == target.pod), None)
    return (workload or target.pod) + suffix


def _pod_shown(key: str) -> str:
    """A pod as rows name it: the workload for a lab pod, NAMESPACE/NAME otherwise."""
    for workload in scenario.WORKLOADS:
        if f"{workload.namespace}/{workload.name}" == key:
            return workload.name
    return key


def _target_pod(target: CellTarget) -> str | None:
    if target.kind == "pod":
        return target.pod
    if target.kind == "service":
        workload = scenario.BY_NAME[target.workload]
        return f"{workload.namespace}/{workload.name}"
    return None


def _identity(source: str, target: CellTarget) -> tuple[str, str, str, str, str, int, str]:
    """What a probe tries, whatever its column is called (``outside`` and ``outside:443`` are one,
    and so are ``dns/tcp`` and ``kube-system/coredns:53/TCP``)."""
    if target.kind == "dns":
        return (source, "pod", COREDNS, "", "", target.port, target.protocol)
    return (source, target.kind, target.pod, target.workload, target.ip, target.port, target.protocol)


def least_privilege_probes(
    exercise: Exercise, goal: Sequence[CheckProbe], outside: str = pins.OUTSIDE_TARGET
) -> list[CheckProbe]:
    """The probes the goal does not mention, from its ALLOW cells (see the module's docstring)."""
    mentioned = {_identity(p.source, p.target) for p in goal}
    out: dict[tuple[str, str, str, str, str, int, str], CheckProbe] = {}

    def add(kind: str, row: str, column: str, source: str, what: str, copies: str = "") -> None:
        try:
            target = parse_column(column, outside)
        except ValueError:  # a column of the lab's matrix this module does not name: judged as the matrix is
            if kind != "unchanged":
                raise
            target = CellTarget(column, "lab", pod=column)
        key = _identity(source, target)
        if kind in exercise.skip or key in mentioned or key in out or _target_pod(target) == source:
            return
        out[key] = CheckProbe(LEAST_PRIVILEGE, kind, row, column, source, target, what=what, copies=copies)

    involved: list[str] = []
    for probe in goal:
        if probe.expected != Verdict.ALLOW:
            continue
        source_ns = probe.source.split("/", 1)[0]
        target = probe.target
        stranger = stranger_key(source_ns)
        add(
            "stranger", stranger, probe.column, stranger, f"a new pod without labels in namespace {source_ns}"
        )
        target_pod = _target_pod(target)
        if target_pod is not None and target_pod.split("/", 1)[0] != source_ns:
            target_ns = target_pod.split("/", 1)[0]
            stranger = stranger_key(target_ns)
            add(
                "stranger-at-target",
                stranger,
                probe.column,
                stranger,
                f"a new pod without labels in namespace {target_ns}",
            )
        copy = newcomer_key(probe.source)
        what = f"a pod in a new namespace with the labels of {probe.source}"
        add("newcomer", copy, probe.column, copy, what, copies=probe.source)
        if target.kind != "service":
            port = target.port + 1 if target.port < 65535 else target.port - 1
            column = _target_text(target, port, target.protocol)
            add("other-port", probe.row, column, probe.source, f"{probe.row} to {column}")
            column = _target_text(target, target.port, _other_protocol(target.protocol))
            add("other-protocol", probe.row, column, probe.source, f"{probe.row} to {column}")
        for pod in (probe.source, target_pod):
            if pod is not None and pod not in involved:
                involved.append(pod)
    outside_open = {
        p.source for p in goal if p.expected == Verdict.ALLOW and p.column == scenario.OUTSIDE_COLUMN
    }
    for pod in involved:
        row = _pod_shown(pod)
        add("outside", row, scenario.OUTSIDE_COLUMN, pod, f"{row} to the outside address")
        ports = {
            (p.target.port, p.target.protocol)
            for p in goal
            if p.expected == Verdict.ALLOW and p.source == pod
        }
        for port, protocol in sorted(ports) if pod not in outside_open else ():
            column = scenario.OUTSIDE_COLUMN + (f":{port}" if protocol == "TCP" else f":{port}/{protocol}")
            add("outside", row, column, pod, f"{row} to the outside address on the goal's {protocol} {port}")
        add("metadata", row, scenario.METADATA_COLUMN, pod, f"{row} to the cloud metadata address")
    for row in scenario.ROWS:
        for column in scenario.COLUMNS:
            workload = scenario.column_workload(column)
            if workload is None or workload.name != row:
                add("unchanged", row, column, row_pod(row), "a cell of the lab's matrix")
    return list(out.values())


# -- grading ----------------------------------------------------------------------------------


def grade(exercise: Exercise, probe: CheckProbe, got: Cell, how: str = "offline") -> Graded:
    """Whether one cell holds, what is wrong with it, and the exercise's hint for that mistake.

    A goal cell must match (REFUSED counts as ALLOW: the packet got through). A least-privilege cell
    fails when it opens (ALLOW or REFUSED now, no access before); a cell of the lab's matrix also
    fails when it closes. A cell without a verdict (``?``, ERROR) never passes."""
    seen, expected = got.verdict, probe.expected
    if seen == Verdict.NOT_JUDGED and (probe.check != GOAL or expected == Verdict.NOT_JUDGED):
        return Graded(probe, got, True, how=how)
    if not seen.judged:
        ok, problem = False, f"no verdict ({seen.value})"
    elif probe.check == GOAL:
        ok = matches(expected, seen)
        problem = "" if ok else f"expected {expected.value}, got {seen.value}"
    else:
        opened, before = seen in OPEN, expected in OPEN
        if opened and not before:
            ok, problem = (
                False,
                f"gained access: {expected.value} without your policies, {seen.value} with them",
            )
        elif before and not opened and probe.kind == "unchanged":
            ok, problem = (
                False,
                f"lost access: {expected.value} without your policies, {seen.value} with them",
            )
        else:
            ok, problem = True, ""
    hint = "" if ok else exercise.hint_for(probe.row, probe.column, probe.kind, seen)
    return Graded(probe, got, ok, problem, hint, how)


@dataclass(frozen=True)
class Plan:
    """What a check judges: the probes (the least-privilege ones with their baseline verdicts), the
    objects of the world (the exercise's and the synthetic pods), and the participant's objects."""

    probes: list[CheckProbe]
    world: list[dict[str, Any]]
    answers: list[dict[str, Any]]
    files: list[str]
    refused: list[Refusal]
    baseline: ClusterState | None


def read_answers(
    root: Path, exercise: Exercise, given: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str], list[Refusal]]:
    """The participant's objects, the files they came from, and what lies outside the scope."""
    paths = answer_files(root, exercise, given)
    answers: list[dict[str, Any]] = []
    refused: list[Refusal] = []
    shown = []
    for path in paths:
        name = _shown(path, root)
        shown.append(name)
        documents = load_documents(path)
        if not documents:
            refused.append(Refusal(name, "(the file)", "holds no object: write your policies into it"))
        refused.extend(refusals(exercise, name, documents))
        try:
            parse_objects(documents, name, modelled=True)  # each file on its own: errors name it
        except InputError as error:
            raise InputError(error.message) from None
        answers.extend(documents)
    return answers, shown, refused


def _shown(path: Path, root: Path) -> str:
    for base in (Path.cwd(), root):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def plan_check(
    root: Path, exercise: Exercise, given: Sequence[str], *, outside: str = pins.OUTSIDE_TARGET
) -> Plan:
    answers, files, refused = read_answers(root, exercise, given)
    goal = goal_probes(exercise, outside)
    extra = least_privilege_probes(exercise, goal, outside)
    if refused:
        return Plan(goal + extra, list(exercise.world), answers, files, refused, None)
    plain = build_state(
        root, exercise.stage, exercise.world, outside=outside, source=f"exercise {exercise.name}"
    )
    known = {pod.key: pod for pod in plain.pods}
    world = [*exercise.world, *synthetic_documents(extra, known)]
    baseline = build_state(root, exercise.stage, world, outside=outside, source=f"exercise {exercise.name}")
    before = Judge(baseline)
    judged = []
    for probe in extra:
        judged.append(replace(probe, expected=_cell(before, probe).verdict))
    return Plan(goal + judged, world, answers, files, refused, baseline)


def _cell(judge: Judge, probe: CheckProbe) -> Cell:
    if probe.kind == "unchanged":  # judged exactly as the lab's matrix is (lab.workshop.lab_matrix)
        return judge.lab_matrix().get(probe.row, probe.column)
    return judge.cell(probe.source, probe.target)


def check_offline(
    root: Path,
    exercise: Exercise,
    given: Sequence[str],
    *,
    participant: str,
    outside: str = pins.OUTSIDE_TARGET,
) -> CheckResult:
    """Evaluate the stage, the world and the participant's objects, and grade every cell."""
    started = time.monotonic()
    plan = plan_check(root, exercise, given, outside=outside)
    result = CheckResult(
        exercise, participant, "offline", plan.files, plan.refused, skipped=dict(exercise.skip)
    )
    if plan.refused:
        result.seconds = time.monotonic() - started
        return result
    state = build_state(
        root, exercise.stage, [*plan.world, *plan.answers], outside=outside, source=", ".join(plan.files)
    )
    result.notes.extend(w for w in state.warnings)
    judge = Judge(state)
    result.cells = [grade(exercise, probe, _cell(judge, probe)) for probe in plan.probes]
    result.seconds = time.monotonic() - started
    return result
