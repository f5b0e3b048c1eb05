"""``netpol-lab check --live``: apply a participant's policies to the lab, probe every cell for real,
and grade from what was observed.

The cluster must be a lab (``require_lab``) at the exercise's stage (the stage record); nothing is
changed otherwise. Then, every step echoed as a kubectl line:

1. server-side apply of the exercise's world, the synthetic pods of the least-privilege check and
   the participant's objects, each labelled (``netpol-lab/exercise``, ``netpol-lab/synthetic``,
   ``netpol-lab/answer`` with a digest of the set in ``netpol-lab/answer-set``);
2. delete what a check applied before and is not in force now: answers of another set (another
   exercise, or files since changed) and the world policies of other exercises, so the cluster
   holds exactly the stage, this exercise's world and these files;
3. wait until the world's and the synthetic pods are Ready;
4. probe every cell in parallel from inside the pods, with the control pod's probes for every
   address column (a blocked address proves a policy only when the control reaches it); cells of
   the lab's matrix are planned exactly as ``netpol-lab probe`` plans them;
5. grade each cell from its observation. A cell this lab cannot observe (UDP or SCTP where nothing
   answers, an address the control cannot reach) is judged by the evaluator and says so.

The synthetic pods stay for the next check (their namespace, ``netpol-lab-newcomer``, too).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from lab import pins, scenario
from lab.boundary.apply import plan_apply_documents
from lab.boundary.kube import (
    DEFAULT_CONTEXT,
    KubeClients,
    LabPod,
    Transport,
    WebsocketTransport,
    check_reachable,
    kubeconfig_path,
    list_lab_pods,
    read_deny_action,
)
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Runner, ShRunner
from lab.errors import ExitStatus, LabError
from lab.lifecycle.cluster import require_lab
from lab.matrix import Cell, Matrix, Verdict
from lab.policy.model import ClusterState
from lab.probe import agnhost
from lab.probe.controls import CONTROL_APP, CONTROL_NAMESPACE, CONTROL_ROW, Controls, judge_with_controls
from lab.probe.pool import DEFAULT_WORKERS, RetryPolicy, run_probes
from lab.probe.targets import Probe, Target, parse_host_port, plan_probes
from lab.workshop import stage_apply
from lab.workshop.check import (
    COREDNS,
    SYNTHETIC_LABEL,
    CheckProbe,
    CheckResult,
    Graded,
    Judge,
    build_state,
    grade,
    plan_check,
)
from lab.workshop.exercises import ANSWER_LABEL, ANSWER_SET_LABEL, EXERCISE_LABEL, PART_OF, Exercise
from lab.workshop.lab_state import DNS_LABELS, DNS_NAMESPACE
from lab.workshop.stages import load_stages, stage_by_name

K8S_POLICIES = stage_apply.K8S_POLICIES
CLUSTER_POLICIES = stage_apply.CLUSTER_POLICIES
READY_TIMEOUT = 120  # seconds for the world's and the synthetic pods to start (the image is already there)


@dataclass(frozen=True)
class LiveOptions:
    context: str = DEFAULT_CONTEXT
    kubeconfig: str | None = None
    timeout: float = 2.0  # per connection attempt
    outside: str = pins.OUTSIDE_TARGET
    workers: int = DEFAULT_WORKERS
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def answer_set(answers: Sequence[Mapping[str, Any]]) -> str:
    """A digest of the participant's objects, so a later check can remove what is no longer in force."""
    text = json.dumps(list(answers), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def labelled_answers(exercise: Exercise, answers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    digest = answer_set(answers)
    out = []
    for answer in answers:
        document = json.loads(json.dumps(answer, default=str))  # a copy, plain data
        labels = document.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({**PART_OF, ANSWER_LABEL: exercise.name, ANSWER_SET_LABEL: digest})
        out.append(document)
    return out


def plan_steps(
    kubectl: Kubectl,
    exercise: Exercise,
    world: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]],
) -> list[stage_apply.Step]:
    """Apply the world and the answers, then remove what earlier checks left that is not in force."""
    labelled = labelled_answers(exercise, answers)
    steps = [stage_apply.Step(s.argv, s.input) for s in plan_apply_documents(kubectl, [*world, *labelled])]
    stale_answers = f"{ANSWER_LABEL},{ANSWER_SET_LABEL}!={answer_set(answers)}"
    other_worlds = f"{EXERCISE_LABEL},{EXERCISE_LABEL}!={exercise.name}"
    for selector in (stale_answers, other_worlds):
        steps.append(
            stage_apply.Step(
                tuple(
                    kubectl("delete", K8S_POLICIES, "--all-namespaces", "-l", selector, "--ignore-not-found")
                )
            )
        )
        steps.append(
            stage_apply.Step(
                tuple(kubectl("delete", CLUSTER_POLICIES, "-l", selector, "--ignore-not-found")),
                fine_if=(stage_apply.NOT_SERVED,),  # no ClusterNetworkPolicy CRD (kindnet): none to delete
            )
        )
    waits: dict[str, list[str]] = {}
    for document in world:
        if document.get("kind") == "Pod":
            meta = document["metadata"]
            waits.setdefault(meta["namespace"], []).append(f"pod/{meta['name']}")
    for namespace, pods in waits.items():
        argv = kubectl("wait", "-n", namespace, "--for=condition=Ready", f"--timeout={READY_TIMEOUT}s", *pods)
        steps.append(
            stage_apply.Step(tuple(argv), explain_failure="see `kubectl get pods -A` and its events")
        )
    return steps


def _with_image(document: Mapping[str, Any], image: str) -> dict[str, Any]:
    """``document`` with the pinned agnhost image replaced by ``image`` (an offline bundle's, say)."""
    copy: dict[str, Any] = json.loads(json.dumps(document, default=str))
    for container in (copy.get("spec") or {}).get("containers") or []:
        if container.get("image") == pins.AGNHOST_IMAGE:
            container["image"] = image
    return copy


# -- the pods as they run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """The cluster's pods by NAMESPACE/NAME as the exercise names them (lab workloads by their
    modelled name, CoreDNS as kube-system/coredns), with what the probes need."""

    pods: dict[str, LabPod]
    lab: dict[str, LabPod]  # by workload name, for the lab's own probes
    ports: dict[str, set[tuple[int, str]]]  # declared container ports of each pod


def read_pods(runner: Runner, kubectl: Kubectl, clients: KubeClients) -> Running:
    result = runner.run(kubectl("get", "pods", "--all-namespaces", "-o", "json"), timeout=60)
    if not result.ok:
        raise LabError(f"could not list the pods: {result.error_line()}")
    try:
        items = json.loads(result.stdout).get("items") or []
    except (ValueError, AttributeError):
        raise LabError(
            "kubectl printed something that is not a list of pods; check the kubeconfig/context"
        ) from None
    lab = list_lab_pods(clients, scenario.ROWS)
    pods: dict[str, LabPod] = {}
    ports: dict[str, set[tuple[int, str]]] = {}
    for item in items:
        meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
        if meta.get("deletionTimestamp") or status.get("phase") != "Running" or not status.get("podIP"):
            continue
        if spec.get("hostNetwork"):
            continue
        labels = meta.get("labels") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if meta.get("namespace") == DNS_NAMESPACE and all(labels.get(k) == v for k, v in DNS_LABELS.items()):
            key = COREDNS
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        pod = LabPod(
            str(labels.get("app", meta.get("name"))),
            meta["name"],
            meta["namespace"],
            status["podIP"],
            spec.get("nodeName", ""),
            ready,
        )
        if key in pods and pods[key].ready:
            continue
        pods[key] = pod
        ports[key] = {
            (int(p.get("containerPort", 0)), str(p.get("protocol", "TCP")))
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
        }
    for name, pod in lab.items():
        workload = scenario.BY_NAME[name]
        key = f"{workload.namespace}/{workload.name}"
        pods[key] = pod
        ports.setdefault(key, {(workload.port, "TCP")})
        ports[key] |= ports.get(f"{pod.namespace}/{pod.name}", set())
    return Running(pods, lab, ports)


# -- planning the probes ----------------------------------------------------------------------------


def _exec_line(kubectl: Kubectl, pod: LabPod, argv: Sequence[str]) -> str:
    import shlex

    return shlex.join([*kubectl.prefix, "exec", "-n", pod.namespace, pod.name, "--", *argv])


def _lookup_argv(name: str, timeout: float, *, tcp: bool, server: str = "") -> tuple[str, ...]:
    """``dig [@SERVER] [+tcp] +time=N +tries=1 +short NAME`` (dig from bind-tools, in the agnhost image)."""
    per_try = max(1, round(timeout))
    at = (f"@{server}",) if server else ()
    return ("dig", *at, *(("+tcp",) if tcp else ()), f"+time={per_try}", "+tries=1", "+short", name)


def plan_one(
    probe: CheckProbe, running: Running, kubectl: Kubectl, options: LiveOptions
) -> tuple[Probe | None, str]:
    """The probe of one cell, or None and why this lab cannot observe it."""
    source = running.pods.get(probe.source)
    if source is None:
        return None, f"no running pod {probe.source}"
    target = probe.target
    timeout = options.timeout
    if target.kind == "service":
        workload = scenario.BY_NAME[target.workload]
        ready = running.lab.get(workload.name)
        spot = Target(
            probe.column, workload.service_host + ".", target.port, listens=bool(ready and ready.ready)
        )
        argv = agnhost.connect_argv(spot.host, target.port, timeout)
        budget = agnhost.connect_budget(timeout, by_name=True)
    elif target.kind == "dns":
        spot = Target(probe.column, scenario.DNS_LOOKUP_NAME.rstrip(".") + ".")
        argv = _lookup_argv(spot.host, timeout, tcp=target.protocol == "TCP")
        budget = agnhost.dns_budget(timeout)
    elif target.kind == "address":
        if target.protocol != "TCP":
            return (
                None,
                f"{target.protocol} to an address outside the cluster cannot be proven (nothing answers)",
            )
        spot = Target(probe.column, target.ip, target.port, listens=True)
        argv = agnhost.connect_argv(target.ip, target.port, timeout)
        budget = agnhost.connect_budget(timeout, by_name=False)
    else:
        destination = running.pods.get(target.pod)
        if destination is None:
            return None, f"no running pod {target.pod}"
        if target.pod == COREDNS and target.port == 53 and target.protocol == "UDP":
            spot = Target(probe.column, scenario.DNS_LOOKUP_NAME.rstrip(".") + ".")
            argv = _lookup_argv(spot.host, timeout, tcp=False, server=destination.ip)
            budget = agnhost.dns_budget(timeout)
        elif target.protocol != "TCP":
            return None, f"{target.protocol} {target.port} where nothing answers cannot be proven live"
        else:
            listens = (target.port, "TCP") in running.ports.get(target.pod, set()) and destination.ready
            if target.pod == COREDNS:
                listens = target.port == 53 and destination.ready
            spot = Target(probe.column, destination.ip, target.port, listens=listens)
            argv = agnhost.connect_argv(destination.ip, target.port, timeout)
            budget = agnhost.connect_budget(timeout, by_name=False)
    return Probe(
        probe.row, probe.column, source, spot, argv, timeout, budget, _exec_line(kubectl, source, argv)
    ), ""


def _is_lab_cell(probe: CheckProbe) -> bool:
    return probe.target.kind == "lab" or (
        probe.kind == "unchanged" and probe.row in scenario.ROWS and probe.column in scenario.COLUMNS
    )


# -- the check --------------------------------------------------------------------------------------


def check_live(
    root: Path,
    exercise: Exercise,
    given: Sequence[str],
    *,
    participant: str,
    options: LiveOptions,
    log: TextIO,
    environ: Mapping[str, str],
    runner: Runner | None = None,
    transport_factory: Callable[[], Transport] | None = None,
) -> CheckResult:
    started = time.monotonic()
    plan = plan_check(root, exercise, given, outside=options.outside)
    result = CheckResult(exercise, participant, "live", plan.files, plan.refused, skipped=dict(exercise.skip))
    if plan.refused:  # nothing touches the cluster
        result.seconds = time.monotonic() - started
        return result
    runner = runner or ShRunner(log, env=environ, cwd=root)
    kubectl = Kubectl(options.context, options.kubeconfig)
    stage = stage_by_name(load_stages(root), exercise.stage)
    require_lab(runner, kubectl)
    current = stage_apply.read_current_stage(runner, kubectl)
    if current != stage.number:
        at = f"stage {current}" if current is not None else "no recorded stage"
        raise LabError(
            f"this exercise starts from stage {stage.number} and the lab is at {at}: "
            f"run `netpol-lab stage apply {stage.number} --no-probe` first, then check again",
            ExitStatus.ERROR,
        )
    image = pins.Pins.from_env(environ).agnhost_image  # NETPOL_LAB_AGNHOST_IMAGE, as the workloads use it
    world = [_with_image(document, image) for document in plan.world]
    steps = plan_steps(kubectl, exercise, world, plan.answers)
    stage_apply.execute(runner, stage_apply.Plan(stage.number, steps))
    result.notes.append(
        "the synthetic pods stay for the next check; remove them with "
        f"`{' '.join(kubectl('delete', 'pods', '--all-namespaces', '-l', SYNTHETIC_LABEL))}`"
    )
    state = build_state(
        root, exercise.stage, [*plan.world, *plan.answers], outside=options.outside, source="offline"
    )
    result.notes.extend(state.warnings)
    clients = KubeClients(kubeconfig_path(options.kubeconfig, environ), options.context)
    try:
        check_reachable(clients)
        running = read_pods(runner, kubectl, clients)
        deny = read_deny_action(clients)
        result.cells = _probe_and_grade(
            exercise, plan.probes, state, running, kubectl, clients, deny.action, options, transport_factory
        )
    finally:
        clients.close()
    result.seconds = time.monotonic() - started
    return result


def _probe_and_grade(
    exercise: Exercise,
    probes: Sequence[CheckProbe],
    state: ClusterState,
    running: Running,
    kubectl: Kubectl,
    clients: KubeClients,
    deny_action: str,
    options: LiveOptions,
    transport_factory: Callable[[], Transport] | None,
) -> list[Graded]:
    judge = Judge(state)
    predicted: dict[tuple[str, str], Cell] = {}
    for probe in probes:
        predicted[(probe.row, probe.column)] = (
            judge.lab_matrix().get(probe.row, probe.column)
            if probe.kind == "unchanged"
            else judge.cell(probe.source, probe.target)
        )
    outside = parse_host_port(options.outside)
    planned: list[Probe] = []
    unobservable: dict[tuple[str, str], str] = {}
    address_columns: dict[str, tuple[str, int]] = {}
    for probe in probes:
        if _is_lab_cell(probe):
            planned += plan_probes(
                running.lab,
                outside=outside,
                timeout=options.timeout,
                rows=(probe.row,),
                columns=(probe.column,),
                kubectl=kubectl.prefix,
            )
            if probe.column in (scenario.OUTSIDE_COLUMN, scenario.METADATA_COLUMN):
                target = outside if probe.column == scenario.OUTSIDE_COLUMN else (pins.METADATA_IP, 80)
                address_columns[probe.column] = target
            continue
        made, why = plan_one(probe, running, kubectl, options)
        if made is None:
            unobservable[(probe.row, probe.column)] = why
            continue
        planned.append(made)
        if probe.target.kind == "address":
            address_columns[probe.column] = (probe.target.ip, probe.target.port)
    control = running.pods.get(f"{CONTROL_NAMESPACE}/{CONTROL_APP}") or next(
        (p for k, p in running.pods.items() if k.startswith(f"{CONTROL_NAMESPACE}/")), None
    )
    if control is not None:
        for column, (ip, port) in address_columns.items():
            argv = agnhost.connect_argv(ip, port, options.timeout)
            planned.append(
                Probe(
                    CONTROL_ROW,
                    column,
                    control,
                    Target(column, ip, port, listens=True),
                    argv,
                    options.timeout,
                    agnhost.connect_budget(options.timeout, by_name=False),
                    _exec_line(kubectl, control, argv),
                )
            )
    expected = Matrix()
    for (row, column), cell in predicted.items():
        expected.set(row, column, Cell(cell.verdict))
    observed = run_probes(
        planned,
        transport_factory or (lambda: WebsocketTransport(clients)),
        expected=expected,
        workers=options.workers,
        retry=options.retry,
        title="observed",
        deny_action=deny_action,
    )
    controls = Controls(
        f"the control pod ({CONTROL_NAMESPACE}/{CONTROL_APP})",
        {c: observed.get(CONTROL_ROW, c) for c in address_columns if (CONTROL_ROW, c) in observed.cells},
    )
    judged = judge_with_controls(
        observed, controls, tuple(address_columns), rejecting=deny_action == "Reject"
    )
    graded = []
    for probe in probes:
        key = (probe.row, probe.column)
        offline = predicted[key]
        if key in unobservable:
            graded.append(grade(exercise, probe, offline, how=f"offline ({unobservable[key]})"))
            continue
        seen = judged.get(*key)
        if seen.verdict == Verdict.NOT_JUDGED and (probe.row, probe.column) not in judged.cells:
            graded.append(grade(exercise, probe, offline, how="offline (not probed: a pod reaching itself)"))
            continue
        if seen.verdict == Verdict.INCONCLUSIVE and probe.target.kind in ("address", "lab"):
            why = seen.reason or "no verdict"
            graded.append(
                grade(
                    exercise,
                    probe,
                    replace(offline, command=seen.command),
                    how=f"offline (not observable here: {why})",
                )
            )
            continue
        graded.append(grade(exercise, probe, seen, how="probed"))
    return graded
