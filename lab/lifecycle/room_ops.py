"""The room's steps against a cluster: up (checked, declarative, idempotent), down (by label), and what
status and the report read. Every kubectl call goes through the Runner, so each is echoed as a line
the instructor could type, and ``--dry-run`` prints the whole plan without touching anything.

``up`` names the context and the server first, then refuses a cluster ``netpol-lab up`` built (its
nodes carry the lab's fingerprint label: a laptop lab is for one person) and a cluster whose network
does not enforce NetworkPolicy (the enforcement canary, lab.lifecycle.enforcement). Everything is
applied server-side, so a second ``up`` changes nothing, and a participant added later gets a copy
while the others' objects stay exactly as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab import pins
from lab.boundary import kubeobjects
from lab.boundary.apply import plan_apply_documents
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Result, Runner
from lab.errors import ExitStatus, LabError
from lab.lifecycle import room, room_access
from lab.lifecycle.cluster import FINGERPRINT_LABEL
from lab.lifecycle.enforcement import Enforcement, check_enforcement
from lab.lifecycle.room import (
    PARTICIPANT_LABEL,
    RECORD_LABEL,
    ROOM_NAMESPACE,
    SELECTOR,
    Participant,
    RoomRanges,
)

NOT_SERVED = "doesn't have a resource type"
ROLLOUT_TIMEOUT = 300
Say = Callable[[str], None]
CALICO_POLICIES = "globalnetworkpolicies.projectcalico.org"
CLUSTER_POLICIES = "clusternetworkpolicies.policy.networking.k8s.io"


@dataclass(frozen=True)
class Target:
    """The cluster a room command works on: the context, its kubectl, and how to reach it."""

    kubectl: Kubectl
    endpoint: room_access.Endpoint
    files: tuple[Path, ...]

    @property
    def context(self) -> str:
        return self.kubectl.context


def resolve_target(context: str | None, kubeconfig: str | None, env: Mapping[str, str]) -> Target:
    """``--context`` or the kubeconfig's current context, with its server and CA."""
    files = room_access.kubeconfig_files(kubeconfig, env)
    chosen = context or room_access.current_context(files)
    if not chosen:
        raise LabError(
            "the kubeconfig names no current context: pass --context NAME (`kubectl config get-contexts`)",
            ExitStatus.MISSING_PREREQUISITE,
        )
    endpoint = room_access.read_endpoint(files, chosen)
    return Target(Kubectl(chosen, kubeconfig), endpoint, tuple(files))


def refuse_laptop_lab(runner: Runner, target: Target) -> list[dict[str, Any]]:
    """Stop unless this is a shared cluster: the laptop lab (the nodes `up` fingerprinted) is refused.

    Returns the nodes (empty in a dry run)."""
    if target.context == pins.KUBE_CONTEXT:
        raise LabError(
            f"context {target.context} is the laptop lab: a room runs on a shared cluster; nothing was "
            "changed; pick the workshop cluster with --context (`kubectl config get-contexts`)",
            ExitStatus.USAGE,
        )
    result = runner.run(target.kubectl("get", "nodes", "-o", "json"), timeout=60)
    if result.dry_run:
        return []
    if not result.ok:
        error = result.failure(
            f"reaching the cluster of context {target.context} ({target.endpoint.server})",
            "check the context and your credentials (`kubectl cluster-info`); nothing was changed",
        )
        if not result.timed_out:
            error.status = ExitStatus.MISSING_PREREQUISITE  # no cluster to work on, as for every verb
        raise error
    nodes = kubeobjects.items(result.stdout)
    if any(FINGERPRINT_LABEL in kubeobjects.labels(node) for node in nodes):
        raise LabError(
            f"context {target.context} is a laptop lab (its nodes carry {FINGERPRINT_LABEL}, which "
            "`netpol-lab up` stamps): a room runs on a shared cluster; nothing was changed",
            ExitStatus.USAGE,
        )
    return nodes


def serves_admission_policies(runner: Runner, target: Target) -> bool:
    """Whether the cluster serves ValidatingAdmissionPolicy in admissionregistration.k8s.io/v1 (1.30+)."""
    result = runner.run(target.kubectl("get", "--raw", "/apis/admissionregistration.k8s.io/v1"), timeout=60)
    if result.dry_run:
        return True
    if not result.ok:
        return False
    try:
        resources = json.loads(result.stdout).get("resources") or []
    except (ValueError, AttributeError):
        return False
    return any(r.get("name") == "validatingadmissionpolicies" for r in resources if isinstance(r, dict))


def read_value(runner: Runner, kubectl: Kubectl, name: str, namespace: str, key: str) -> str | None:
    argv = kubectl(
        "get", "configmap", name, "-n", namespace, "--ignore-not-found", "-o", f"jsonpath={{.data.{key}}}"
    )
    result = runner.run(argv, timeout=30)
    if result.dry_run or not result.ok:
        return None
    return result.stdout.strip() or None


def check_enforces(runner: Runner, target: Target, image: str, say: Say, *, interval: float = 1.0) -> str:
    """The recorded verdict, or the canary's; a LabError unless this cluster enforces NetworkPolicy."""
    recorded = read_value(runner, target.kubectl, room.ROOM_RECORD, ROOM_NAMESPACE, "enforcement")
    if recorded == Enforcement.ENFORCES.value:
        say("NetworkPolicy is enforced here (recorded by an earlier `room up`)")
        return recorded
    if runner.dry_run:
        say("(dry run: the enforcement check would run here)")
        return Enforcement.ENFORCES.value
    verdict = check_enforcement(runner, kubectl=target.kubectl, image=image, interval=interval)
    if verdict.verdict == Enforcement.DOES_NOT_ENFORCE:
        raise LabError(
            f"context {target.context} does NOT enforce NetworkPolicy (a deny-all-ingress policy left the "
            f"canary reachable {verdict.attempts} times): a room needs a network plugin that enforces it "
            "(Calico, Cilium, kindnet ...); nothing was created",
            ExitStatus.MISMATCH,
        )
    if verdict.verdict == Enforcement.UNKNOWN:
        raise LabError(f"{verdict.message}; nothing was created: fix that and run `room up` again")
    say(verdict.message)
    return verdict.verdict.value


def _cidrs(result: Result, pick: Callable[[dict[str, Any]], Sequence[str]]) -> list[str]:
    if result.dry_run or not result.ok:
        return []
    return sorted({c for item in kubeobjects.items(result.stdout) for c in pick(item) if c})


def discover_ranges(
    runner: Runner,
    target: Target,
    nodes: Sequence[dict[str, Any]],
    pod_cidrs: Sequence[str],
    service_cidrs: Sequence[str],
) -> RoomRanges:
    """The pod and Service ranges (given, else read): Calico's IP pools or the nodes' podCIDRs, and the
    ServiceCIDR objects (networking.k8s.io/v1, Kubernetes 1.33+); the lab's defaults when unreadable."""
    notes = []
    pods = list(pod_cidrs)
    if not pods:
        pools = runner.run(target.kubectl("get", "ippools.crd.projectcalico.org", "-o", "json"), timeout=60)
        pods = _cidrs(pools, lambda item: [str((item.get("spec") or {}).get("cidr") or "")])
        notes.append("Calico's IP pools" if pods else "")
    if not pods:
        pods = sorted({c for n in nodes for c in (n.get("spec") or {}).get("podCIDRs") or []})
        notes.append("the nodes' podCIDRs" if pods else "")
    services = list(service_cidrs)
    if not services:
        found = runner.run(target.kubectl("get", "servicecidrs.networking.k8s.io", "-o", "json"), timeout=60)
        services = _cidrs(found, lambda item: list((item.get("spec") or {}).get("cidrs") or []))
        notes.append("the ServiceCIDRs" if services else "")
    if not pods or not services:
        notes.append("the lab's defaults for the rest (pass --pod-cidr/--service-cidr)")
    source = ", ".join(n for n in notes if n) or "given"
    return RoomRanges(
        tuple(pods or room.LAB_RANGES.pod_cidrs), tuple(services or room.LAB_RANGES.service_cidrs), source
    )


# -- up -------------------------------------------------------------------------------------------------


@dataclass
class UpPlan:
    participants: list[Participant]
    documents: list[dict[str, Any]] = field(default_factory=list)


def room_documents(
    root: Path,
    participants: Sequence[Participant],
    *,
    ranges: RoomRanges,
    deny_action: str,
    enforcement: str,
    admission: bool,
    image: str,
) -> list[dict[str, Any]]:
    """Every object of the room, in the order they make sense to read: the room's namespace, record and
    accounts, then each copy (namespaces, workloads, RBAC, its record), then the admission policy."""
    workloads = room.workload_documents(root)
    docs: list[dict[str, Any]] = [
        room.room_namespace(),
        room.record_document(
            room.ROOM_RECORD, ROOM_NAMESPACE, room.room_labels(), "room", {"enforcement": enforcement}
        ),
    ]
    for participant in participants:
        if not participant.demo:
            docs.append(room_access.service_account(participant))
    for participant in participants:
        docs += room.render_workloads(workloads, participant, image=image)
        if not participant.demo:
            docs += room_access.rbac_documents(participant)
        docs.append(room.participant_record(participant, ranges, deny_action))
    if admission:
        docs += room_access.admission_documents()
    return docs


def apply_documents(runner: Runner, kubectl: Kubectl, documents: Sequence[dict[str, Any]]) -> None:
    for step in plan_apply_documents(kubectl, documents):
        result = runner.run(step.argv, input=step.input, timeout=300)
        if not (result.ok or result.dry_run):
            raise result.failure("applying the room", "fix the cause and run `netpol-lab room up` again")


def wait_for_workloads(runner: Runner, kubectl: Kubectl, participants: Sequence[Participant]) -> None:
    names = ",".join(p.name for p in participants)
    argv = kubectl(
        "wait",
        "--for=condition=Available",
        "deployments",
        "--all-namespaces",
        "-l",
        f"{SELECTOR},{PARTICIPANT_LABEL} in ({names})",
        f"--timeout={ROLLOUT_TIMEOUT}s",
    )
    result = runner.run(argv, timeout=ROLLOUT_TIMEOUT + 30)
    if not (result.ok or result.dry_run):
        raise result.failure(
            "waiting for the participants' workloads",
            "see `netpol-lab room status` and the pods' events, then run `room up` again",
        )


def account_uids(runner: Runner, kubectl: Kubectl) -> dict[str, str]:
    result = runner.run(kubectl("get", "serviceaccounts", "-n", ROOM_NAMESPACE, "-l", SELECTOR, "-o", "json"))
    if result.dry_run or not result.ok:
        return {}
    return {
        kubeobjects.name(item): str((item.get("metadata") or {}).get("uid") or "")
        for item in kubeobjects.items(result.stdout)
    }


def write_kubeconfigs(
    runner: Runner,
    target: Target,
    participants: Sequence[Participant],
    folder: Path,
    say: Say,
    *,
    hours: int = room_access.TOKEN_DURATION_HOURS,
) -> None:
    """One kubeconfig per participant: a token they already hold is kept while it is bound to their
    live ServiceAccount and has an hour left; otherwise a new one from the TokenRequest API."""
    guard_folder(folder, target.files)
    if target.endpoint.insecure:
        say(
            f"warning: your kubeconfig skips TLS verification for {target.endpoint.server} "
            "(insecure-skip-tls-verify), so the participants' kubeconfigs do too"
        )
    uids = account_uids(runner, target.kubectl)
    for participant in participants:
        if participant.demo:
            continue
        path = room_access.kubeconfig_path(folder, participant)
        token = room_access.reusable_token(path, uids.get(participant.service_account, ""))
        if token is None:
            argv = target.kubectl(
                "create", "token", participant.service_account, "-n", ROOM_NAMESPACE, f"--duration={hours}h"
            )
            result = runner.run(argv, timeout=60)
            if result.dry_run:
                say(
                    f"(dry run) would write {path}: context {participant.context}, server "
                    f"{target.endpoint.server}, namespace {participant.home}, the token above"
                )
                continue
            token = result.stdout.strip()
            if not result.ok or not token:
                raise result.failure(
                    f"requesting a token for {participant.name}",
                    "check that the API server serves TokenRequest and run `room up` again",
                )
        config = room_access.participant_kubeconfig(target.endpoint, participant, token)
        changed = room_access.write_kubeconfig(path, config)
        expiry = int(room_access.token_claims(token).get("exp") or 0)
        until = f", token valid until {_stamp(expiry)}" if expiry else ""
        say(f"{'wrote' if changed else 'kept'} {path} (context {participant.context}{until})")
    if not runner.dry_run:
        ignore = folder / ".gitignore"
        if not ignore.exists():  # tokens: never into a repository by accident
            ignore.write_text("*\n", encoding="utf-8")


def guard_folder(folder: Path, kubeconfigs: Sequence[Path]) -> None:
    """The participants' folder never holds (or sits over) the instructor's own kubeconfig."""
    resolved = folder.expanduser().resolve()
    for path in kubeconfigs:
        mine = path.expanduser().resolve()
        if resolved == mine or resolved in mine.parents:
            raise LabError(
                f"--out {folder} holds your own kubeconfig {path}: the folder is handed to participants, so "
                "choose another one (the default is room-kubeconfigs/)",
                ExitStatus.USAGE,
            )


# -- down -----------------------------------------------------------------------------------------------


def down_selector(participants: Sequence[Participant] | None) -> str:
    if not participants:
        return SELECTOR
    return f"{SELECTOR},{PARTICIPANT_LABEL} in ({','.join(p.name for p in participants)})"


def delete_room(
    runner: Runner, kubectl: Kubectl, participants: Sequence[Participant] | None, say: Say
) -> list[str]:
    """Delete what the room created, by its label: the namespaces (and all inside), the accounts, the
    admission policy and the demo's cluster-wide policies. Returns the namespaces it deleted."""
    selector = down_selector(participants)
    listed = runner.run(kubectl("get", "namespaces", "-l", selector, "-o", "json"), timeout=60)
    if not (listed.ok or listed.dry_run):
        raise listed.failure("listing the room's namespaces", "check the context and try again")
    names = [kubeobjects.name(n) for n in kubeobjects.items(listed.stdout)] if listed.ok else []
    if participants:
        names = [n for n in names if n != ROOM_NAMESPACE]
    say(f"deleting {len(names)} namespaces of the room: {', '.join(names) or 'none'}")
    steps: list[tuple[list[str], bool]] = []
    if participants:
        steps.append(
            (
                kubectl(
                    "delete", "serviceaccounts", "-n", ROOM_NAMESPACE, "-l", selector, "--ignore-not-found"
                ),
                False,
            )
        )
    steps.append(
        (kubectl("delete", "namespaces", "-l", selector, "--ignore-not-found", "--timeout=300s"), False)
    )
    if not participants:
        steps.append(
            (
                kubectl(
                    "delete",
                    "validatingadmissionpolicybindings.admissionregistration.k8s.io,"
                    "validatingadmissionpolicies.admissionregistration.k8s.io",
                    "-l",
                    selector,
                    "--ignore-not-found",
                ),
                True,
            )
        )
    steps.append((kubectl("delete", CLUSTER_POLICIES, "-l", selector, "--ignore-not-found"), True))
    steps.append((kubectl("delete", CALICO_POLICIES, "-l", selector, "--ignore-not-found"), True))
    for argv, maybe_not_served in steps:
        result = runner.run(argv, timeout=330)
        if result.ok or result.dry_run:
            continue
        if maybe_not_served and NOT_SERVED in result.stdout + result.stderr:
            continue  # the kind is not served here: none of it to delete
        raise result.failure("deleting the room", "run `netpol-lab room down` again")
    return names


def remove_kubeconfigs(folder: Path, participants: Sequence[Participant] | None, say: Say) -> None:
    """Remove the kubeconfigs `room up` wrote there (their tokens died with the accounts)."""
    if not folder.is_dir():
        return
    wanted = {p.name for p in participants} if participants else None
    for path in sorted(folder.glob("*.kubeconfig")):
        if (wanted is None or path.stem in wanted) and room_access.is_room_kubeconfig(path):
            path.unlink()
            say(f"removed {path}")


# -- what status and the report read ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeRecord:
    stage: str
    probed_at: str
    judged: int
    wrong: tuple[tuple[str, str, str, str], ...]  # row, column, expected, observed
    context: str = ""


@dataclass
class CopyState:
    participant: Participant
    stage: str | None = None
    probe: ProbeRecord | None = None
    pods_ready: int = 0
    pods: int = 0


def _json(runner: Runner, argv: Sequence[str]) -> list[dict[str, Any]]:
    result = runner.run(list(argv), timeout=60)
    if result.dry_run:
        return []
    if not result.ok:
        raise result.failure("reading the room", "check the context (`kubectl config get-contexts`)")
    return kubeobjects.items(result.stdout)


def read_room(runner: Runner, kubectl: Kubectl) -> list[CopyState]:
    """Each copy of the room with its stage, last probe and pods, in three list calls."""
    namespaces = _json(runner, kubectl("get", "namespaces", "-l", SELECTOR, "-o", "json"))
    copies = {p.name: CopyState(p) for p in room.participants_from_namespaces(namespaces)}
    records = _json(
        runner,
        kubectl(
            "get",
            "configmaps",
            "--all-namespaces",
            "-l",
            f"{SELECTOR},{RECORD_LABEL} in (stage,probe)",
            "-o",
            "json",
        ),
    )
    for record in records:
        labels = kubeobjects.labels(record)
        state = copies.get(labels.get(PARTICIPANT_LABEL, ""))
        if state is None or kubeobjects.namespace(record) != state.participant.home:
            continue  # a record outside the copy's home is not the lab's
        data = record.get("data") or {}
        if labels.get(RECORD_LABEL) == "stage":
            state.stage = str(data.get("stage") or "") or None
        else:
            state.probe = probe_record_from(data)
    for pod in _json(runner, kubectl("get", "pods", "--all-namespaces", "-l", SELECTOR, "-o", "json")):
        state = copies.get(kubeobjects.labels(pod).get(PARTICIPANT_LABEL, ""))
        if state is not None and kubeobjects.namespace(pod) in state.participant.namespaces.values():
            state.pods += 1
            state.pods_ready += int(kubeobjects.pod_ready(pod))
    return [copies[name] for name in sorted(copies)]


def probe_record_from(data: Mapping[str, Any]) -> ProbeRecord | None:
    """A probe record as `probe --participant` wrote it; None when it is not readable (never trusted)."""
    try:
        wrong = json.loads(str(data.get("wrong") or "[]"))
        cells = tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in wrong)
        return ProbeRecord(
            str(data.get("stage") or ""),
            str(data.get("probedAt") or ""),
            int(str(data.get("judged") or "0")),
            cells,
            str(data.get("context") or ""),
        )
    except (ValueError, TypeError):
        return None


def probe_record_document(participant: Participant, record: ProbeRecord) -> dict[str, Any]:
    data = {
        "stage": record.stage,
        "probedAt": record.probed_at,
        "judged": str(record.judged),
        "wrong": json.dumps([list(cell) for cell in record.wrong]),
        "context": record.context,
    }
    return room.record_document(room.PROBE_RECORD, participant.home, participant.labels, "probe", data)


def write_probe_record(
    runner: Runner, kubectl: Kubectl, participant: Participant, record: ProbeRecord
) -> None:
    apply_documents(runner, kubectl, [probe_record_document(participant, record)])


def _stamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def now_stamp() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
