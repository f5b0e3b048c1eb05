"""Small readers for the JSON that `kubectl get -o json` prints (nodes, pods, conditions).

Shared by the waits, the diagnostics and `status`, so "Ready" means one thing everywhere.
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]


def items(text: str) -> list[Obj]:
    """The objects of a `kubectl get -o json` answer (a List or one object); [] if unreadable."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return []
    if not isinstance(data, dict):
        return []
    if "items" in data:
        return [item for item in data.get("items") or [] if isinstance(item, dict)]
    return [data]


def name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def namespace(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("namespace", ""))


def labels(obj: Obj) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})


def condition(obj: Obj, kind: str) -> Obj | None:
    """The status condition of type ``kind``, if the object reports one."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def condition_true(obj: Obj, kind: str) -> bool:
    cond = condition(obj, kind)
    return bool(cond and cond.get("status") == "True")


def is_terminating(obj: Obj) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def pod_ready(pod: Obj) -> bool:
    return condition_true(pod, "Ready") and not is_terminating(pod)


def pod_problem(pod: Obj) -> str:
    """Why a pod is not Ready, in a few words (the kubelet's reason and message where it gives one)."""
    status = pod.get("status", {})
    if is_terminating(pod):
        return "terminating"
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            state = container.get("state", {})
            for phase in ("waiting", "terminated"):
                detail = state.get(phase)
                if detail and detail.get("reason") not in (None, "Completed"):
                    message = (detail.get("message") or "").strip().splitlines()
                    text = f"{container.get('name')}: {detail['reason']}"
                    return f"{text} ({message[0]})" if message else text
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return f"{scheduled.get('reason', 'not scheduled')}: {scheduled.get('message', '')}".strip(": ")
    if status.get("reason"):
        return f"{status['reason']}: {status.get('message', '')}".strip(": ")
    ready = condition(pod, "Ready")
    if ready and ready.get("status") != "True":
        return f"{status.get('phase', 'Pending')}, not Ready ({ready.get('reason', 'readiness probe')})"
    return str(status.get("phase", "Pending"))


def node_ready(node: Obj) -> bool:
    return condition_true(node, "Ready")


def node_problem(node: Obj) -> str:
    cond = condition(node, "Ready")
    if cond is None:
        return "no Ready condition yet"
    return f"{cond.get('reason', 'NotReady')}: {cond.get('message', '')}".strip(": ")


def node_internal_ip(node: Obj) -> str:
    for address in node.get("status", {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address", ""))
    return ""
