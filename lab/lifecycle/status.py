"""Show the lab: nodes (with their slot), the CNI, Calico's components, each lab pod with
the node it runs on and its IP (placement decides which flows cross nodes), and the probes'
control pod and metadata stand-in."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from lab.boundary import kubeobjects
from lab.boundary.runner import Runner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle.cluster import CNI_LABEL, Cluster
from lab.lifecycle.workloads import CONTROL_NAMESPACE, STANDIN_NAMESPACE
from lab.pins import PART_OF_LABEL
from lab.scenario import LAB_NAMESPACES, SLOT_LABEL

HELPER_NAMESPACES = {CONTROL_NAMESPACE: "control", STANDIN_NAMESPACE: "metadata stand-in"}
HELPER_CONSEQUENCES = {
    CONTROL_NAMESPACE: "the outside and metadata cells are inconclusive until it is",
    STANDIN_NAMESPACE: "the metadata cells are inconclusive until it is",
}


def _get(runner: Runner, argv: list[str]) -> list[dict[str, Any]] | None:
    result = runner.run(argv, timeout=30)
    return kubeobjects.items(result.stdout) if result.ok else None


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def show(env: Environment, runner: Runner, cluster: Cluster, *, check_exists: bool = True) -> ExitStatus:
    """Print the lab's state; ERROR with the fix when there is no lab."""
    if check_exists and not cluster.exists():
        return env.fail(
            f"there is no lab cluster {cluster.name}: create it with `make lab-up`",
            ExitStatus.MISSING_PREREQUISITE,
        )
    console = env.console()
    nodes = cluster.nodes()
    slot_of = {kubeobjects.name(n): kubeobjects.labels(n).get(SLOT_LABEL, "") for n in nodes}
    cnis = {kubeobjects.labels(n).get(CNI_LABEL, "?") for n in nodes}
    cni = cnis.pop() if len(cnis) == 1 else "?"

    table = _table("NODE", "ROLE", "SLOT", "READY", "INTERNAL-IP")
    for node in nodes:
        role = (
            "control-plane"
            if "node-role.kubernetes.io/control-plane" in kubeobjects.labels(node)
            else "worker"
        )
        ready = "yes" if kubeobjects.node_ready(node) else f"no ({kubeobjects.node_problem(node)})"
        name = kubeobjects.name(node)
        table.add_row(name, role, slot_of.get(name) or "-", ready, kubeobjects.node_internal_ip(node))
    console.print(f"Cluster {cluster.name} (context {cluster.context}), CNI {cni}")
    console.print(table)

    if cni == "calico":
        statuses = _get(runner, cluster.kubectl("get", "tigerastatus", "-o", "json"))
        calico = _table("CALICO", "AVAILABLE", "PROGRESSING", "DEGRADED", "MESSAGE")
        for status in statuses or []:
            flags = [
                "yes" if kubeobjects.condition_true(status, kind) else "no"
                for kind in ("Available", "Progressing", "Degraded")
            ]
            messages = [
                str(c.get("message"))
                for c in status.get("status", {}).get("conditions") or []
                if c.get("message")
            ]
            calico.add_row(kubeobjects.name(status), *flags, messages[0] if messages else "")
        if statuses is None:
            console.print("Calico: no tigerastatus yet (the operator is not running)")
        else:
            console.print(calico)

    selector = "=".join(PART_OF_LABEL)
    found = _get(runner, cluster.kubectl("get", "pods", "-A", "-l", selector, "-o", "json")) or []
    pods = [p for p in found if kubeobjects.namespace(p) in LAB_NAMESPACES]
    helpers = [p for p in found if kubeobjects.namespace(p) in HELPER_NAMESPACES]
    table = _table("NAMESPACE", "POD", "ROLE", "READY", "NODE", "SLOT", "IP")
    for pod in _sorted(pods):
        table.add_row(
            kubeobjects.namespace(pod),
            kubeobjects.name(pod),
            kubeobjects.labels(pod).get("role", ""),
            *_placement(pod, slot_of),
        )
    if pods:
        console.print(table)
    else:
        console.print("Workloads: none yet (`make lab-up` deploys them)")
    for line in _helpers(console, helpers, slot_of):
        console.print(line)
    return ExitStatus.SUCCESS


def _sorted(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pods, key=lambda p: (kubeobjects.namespace(p), kubeobjects.name(p)))


def _placement(pod: dict[str, Any], slot_of: dict[str, str]) -> tuple[str, str, str, str]:
    """The READY, NODE, SLOT and IP cells of a pod's row."""
    node_name = str(pod.get("spec", {}).get("nodeName") or "")
    ready = "yes" if kubeobjects.pod_ready(pod) else f"no ({kubeobjects.pod_problem(pod)})"
    ip = str(pod.get("status", {}).get("podIP") or "-")
    return ready, node_name or "-", slot_of.get(node_name) or "-", ip


def _helpers(console: Console, pods: list[dict[str, Any]], slot_of: dict[str, str]) -> list[str]:
    """The control pod and the metadata stand-in, and what it means when they are not Ready."""
    if not pods:
        return ["Control pod and metadata stand-in: none yet (`make lab-up` deploys them)"]
    table = _table("PROBE HELPER", "POD", "READY", "NODE", "SLOT", "IP")
    for pod in _sorted(pods):
        table.add_row(
            HELPER_NAMESPACES[kubeobjects.namespace(pod)],
            f"{kubeobjects.namespace(pod)}/{kubeobjects.name(pod)}",
            *_placement(pod, slot_of),
        )
    console.print(table)
    notes = []
    for namespace, consequence in HELPER_CONSEQUENCES.items():
        mine = [p for p in pods if kubeobjects.namespace(p) == namespace]
        if not mine or not all(kubeobjects.pod_ready(p) for p in mine):
            notes.append(f"{HELPER_NAMESPACES[namespace]} not Ready: {consequence}")
    return notes
