"""What to show when `up` fails or times out: what is not ready, and where kind's logs went.

Pods that are not Ready (with the kubelet's reason), recent Warning events, the
tigerastatus conditions (with Calico), then `kind export logs` into a folder whose
path is printed. Each step is best effort: a failing kubectl is reported in one
line and the next step still runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lab.boundary import kubeobjects
from lab.boundary.runner import Runner
from lab.lifecycle.cluster import Cluster

MAX_PODS = 20
MAX_EVENTS = 15
LOGS_FOLDER = "lab-logs"  # under the project root (git-ignored)


def not_ready_pods(runner: Runner, cluster: Cluster) -> list[str]:
    result = runner.run(cluster.kubectl("get", "pods", "-A", "-o", "json"), timeout=30)
    if not result.ok:
        return [f"(could not list pods: {result.error_line()})"]
    lines = []
    for pod in kubeobjects.items(result.stdout):
        if kubeobjects.pod_ready(pod) or pod.get("status", {}).get("phase") == "Succeeded":
            continue
        node = pod.get("spec", {}).get("nodeName") or "unscheduled"
        where = f"{kubeobjects.namespace(pod)}/{kubeobjects.name(pod)}"
        lines.append(f"{where} on {node}: {kubeobjects.pod_problem(pod)}")
    return lines[:MAX_PODS]


def warning_events(runner: Runner, cluster: Cluster) -> list[str]:
    argv = cluster.kubectl(
        "get", "events", "-A", "--field-selector", "type=Warning", "--sort-by=.lastTimestamp", "-o", "json"
    )
    result = runner.run(argv, timeout=30)
    if not result.ok:
        return [f"(could not list events: {result.error_line()})"]
    lines = []
    for event in kubeobjects.items(result.stdout)[-MAX_EVENTS:]:
        involved = event.get("involvedObject", {})
        what = f"{involved.get('namespace') or '-'}/{involved.get('kind', '?')}/{involved.get('name', '?')}"
        message = " ".join(str(event.get("message", "")).split())
        count = event.get("count") or 1
        lines.append(f"{what}: {event.get('reason', '?')} (x{count}): {message}")
    return lines


def tigerastatus_conditions(runner: Runner, cluster: Cluster) -> list[str]:
    result = runner.run(cluster.kubectl("get", "tigerastatus", "-o", "json"), timeout=30)
    if not result.ok:
        return [f"(no tigerastatus: {result.error_line()})"]
    lines = []
    for status in kubeobjects.items(result.stdout):
        conds = status.get("status", {}).get("conditions") or []
        true = [c for c in conds if c.get("status") == "True"]
        shown = ", ".join(
            f"{c.get('type')}" + (f" ({c['message']})" if c.get("message") else "") for c in true
        )
        lines.append(f"{kubeobjects.name(status)}: {shown or 'no conditions yet'}")
    return lines or ["(no tigerastatus objects yet: the operator has not started)"]


def diagnose(
    runner: Runner,
    cluster: Cluster,
    root: Path,
    say: Callable[[str], None],
    *,
    calico: bool,
    now: Callable[[], float] = time.time,
) -> Path | None:
    """Print what is not ready and export kind's logs; returns the logs folder (None if export failed)."""
    sections: list[tuple[str, Callable[[Runner, Cluster], list[str]]]] = [
        ("pods not Ready", not_ready_pods),
        ("recent warning events", warning_events),
    ]
    if calico:
        sections.append(("Calico status (tigerastatus)", tigerastatus_conditions))
    for title, collect in sections:
        say(f"--- {title}")
        lines = collect(runner, cluster)
        for line in lines or ["(none)"]:
            say(f"  {line}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now()))
    folder = root / LOGS_FOLDER / stamp
    say("--- kind logs")
    exported = cluster.export_logs(folder)
    if exported is None:
        say("  (kind could not export the logs)")
    else:
        say(f"  kind logs exported to {exported}")
    return exported
