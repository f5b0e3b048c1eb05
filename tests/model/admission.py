"""Admission as the lab meets it: NamespaceLifecycle and Pod Security (baseline and restricted).

Messages follow the API server's wording, since the lab's errors quote them:
``namespaces "X" not found`` (NotFound) and ``unable to create new content in namespace X because
it is being terminated`` (Forbidden); Pod Security refusals read ``violates PodSecurity
"restricted:latest": ...``. The Pod Security checks are the ones of the restricted profile
(pod-security-admission's policy package) that a lab manifest could trip over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
# The sysctls pod-security-admission's baseline profile allows (1.36: the "safe" set).
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "image",
}


class Refused(Exception):
    def __init__(self, status: int, reason: str, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = dict(details or {})


def namespace_missing(namespace: str) -> Refused:
    return Refused(
        404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
    )


def namespace_terminating(namespace: str) -> Refused:
    return Refused(
        403,
        "Forbidden",
        f"unable to create new content in namespace {namespace} because it is being terminated",
        {"name": namespace, "kind": "namespaces"},
    )


def _containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def pod_security_violations(spec: Mapping[str, Any], level: str) -> list[str]:
    """What a pod spec breaks of the ``baseline`` or ``restricted`` profile (empty: complies)."""
    if level not in ("baseline", "restricted"):
        return []
    found: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"host namespaces ({key}=true)")
    pod_context = spec.get("securityContext") or {}
    bad_sysctls = [s["name"] for s in pod_context.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    if bad_sysctls:
        found.append(f"forbidden sysctls ({', '.join(bad_sysctls)})")
    for container in _containers(spec):
        context = container.get("securityContext") or {}
        name = container.get("name", "?")
        if context.get("privileged"):
            found.append(f'privileged (container "{name}" must not set securityContext.privileged=true)')
        added = set((context.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f'non-default capabilities (container "{name}" must not include {sorted(added)})')
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f'hostPort (container "{name}" uses hostPort {port["hostPort"]})')
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f'hostPath volumes (volume "{volume.get("name")}")')
    if level == "baseline":
        return found
    pod_non_root = pod_context.get("runAsNonRoot")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    for container in _containers(spec):
        context = container.get("securityContext") or {}
        name = container.get("name", "?")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(
                f'allowPrivilegeEscalation != false (container "{name}" must set '
                "securityContext.allowPrivilegeEscalation=false)"
            )
        dropped = set((context.get("capabilities") or {}).get("drop") or [])
        added = set((context.get("capabilities") or {}).get("add") or [])
        if "ALL" not in dropped:
            found.append(
                f'unrestricted capabilities (container "{name}" must set '
                'securityContext.capabilities.drop=["ALL"])'
            )
        if added - {"NET_BIND_SERVICE"}:
            found.append(f'unrestricted capabilities (container "{name}" must not add {sorted(added)})')
        non_root = context.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            found.append(
                f'runAsNonRoot != true (container "{name}" must set securityContext.runAsNonRoot=true)'
            )
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if user == 0:
            found.append(f'runAsUser=0 (container "{name}" must not set runAsUser=0)')
        seccomp = (context.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(
                f'seccompProfile (pod or container "{name}" must set securityContext.seccompProfile.type '
                'to "RuntimeDefault" or "Localhost")'
            )
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            found.append(f'restricted volume types (volume "{volume.get("name")}" uses {sorted(kinds)})')
    return found


def check_pod_security(pod_name: str, spec: Mapping[str, Any], namespace_labels: Mapping[str, str]) -> None:
    level = namespace_labels.get(ENFORCE_LABEL, "privileged")
    violations = pod_security_violations(spec, level)
    if violations:
        raise Refused(
            403,
            "Forbidden",
            f'pods "{pod_name}" is forbidden: violates PodSecurity "{level}:latest": '
            + ", ".join(violations),
        )
