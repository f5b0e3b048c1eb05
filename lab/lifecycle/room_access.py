"""Who may do what in a room: each participant's ServiceAccount, Roles and RoleBindings, the admission
policy that keeps their selectors at home, and the kubeconfig the instructor hands out.

RBAC, per participant, in each of their four namespaces and nowhere else (a Role and a RoleBinding
per namespace; no ClusterRole, no ClusterRoleBinding):

* Pods: get, list, watch (read-only), and ``pods/exec`` get and create, because the probes run
  inside the pods; a websocket exec is authorized as get and, since Kubernetes 1.35
  (AuthorizePodWebsocketUpgradeCreatePermission, on by default), as create too;
* NetworkPolicies (networking.k8s.io): every verb;
* ConfigMaps in the home namespace only: get, list, create, patch, update: the lab's records of the
  stage applied and the last probe (``room status`` reads them), and the copy's own record.

The ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, served from Kubernetes 1.30)
refuses a NetworkPolicy in a participant's namespace when one of its peers' namespaceSelectors could
select a namespace of another participant. A namespaceSelector passes only when one of its terms
pins the selection to the policy's own participant (``netpol-lab/participant`` equal to it, by
matchLabels or an In expression with that single value) or to namespaces by name that are this
participant's (``<name>-...``) or ``kube-system`` (DNS); ``namespaceSelector: {}`` and NotIn terms
fail. Terms of a label selector are ANDed, so one pinning term bounds the whole selection.
podSelector-only peers stay in the policy's namespace. ipBlock peers name addresses, which no
admission policy can map to namespaces: a participant may open their own pods' egress to any
address, and another participant's ingress policies still decide what reaches theirs.

The kubeconfig holds the cluster's server and CA (read from the instructor's kubeconfig, never its
credentials), a token from the TokenRequest API (``kubectl create token``, the way upstream
recommends: bounded lifetime, nothing stored in the cluster; a token stops working when its
ServiceAccount is deleted, as ``room down`` does), and the participant's home namespace.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import scenario
from lab.errors import ExitStatus, LabError
from lab.lifecycle.room import (
    PARTICIPANT_LABEL,
    ROOM_LABEL,
    ROOM_NAMESPACE,
    ROOM_VALUE,
    Participant,
    room_labels,
)

ROLE_NAME = "netpol-lab-participant"
POLICY_NAME = "netpol-lab-room-selectors"
VAP_API = "admissionregistration.k8s.io/v1"
KUBECONFIG_EXTENSION = "netpol-lab"  # the context extension that names the participant
CLUSTER_ENTRY = "netpol-lab-room"
TOKEN_DURATION_HOURS = 12
REUSE_MARGIN = 3600  # seconds: a token with less than this left is replaced on `room up`
DNS_NAMESPACE = "kube-system"


def service_account(participant: Participant) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": participant.service_account,
            "namespace": ROOM_NAMESPACE,
            "labels": participant.labels,
        },
        "automountServiceAccountToken": False,
    }


def role_rules(home: bool) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
        },
    ]
    if home:
        rules.append(
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["get", "list", "create", "patch", "update"],
            }
        )
    return rules


def rbac_documents(participant: Participant) -> list[dict[str, Any]]:
    """A Role and a RoleBinding in each of the participant's namespaces, bound to their ServiceAccount."""
    docs: list[dict[str, Any]] = []
    for namespace in participant.namespaces.values():
        meta = {"name": ROLE_NAME, "namespace": namespace, "labels": participant.labels}
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": dict(meta),
                "rules": role_rules(namespace == participant.home),
            }
        )
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": dict(meta),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": participant.service_account,
                        "namespace": ROOM_NAMESPACE,
                    }
                ],
            }
        )
    return docs


# -- the admission policy ----------------------------------------------------------------------------

# CEL (Kubernetes' CEL environment, admissionregistration.k8s.io/v1). ``variables.own`` is the
# participant of the policy's namespace: the policy only matches namespaces that carry the label.
_NAME = "kubernetes.io/metadata.name"


def pinned(selector: str) -> str:
    """CEL: the label selector at ``selector`` selects only this participant's namespaces (or DNS's)."""
    # exactly the participant's four namespaces (a prefix test would let a participant named
    # `kube` or `calico` reach kube-public or calico-system)
    homes = ", ".join(f"variables.own + '-{namespace}'" for namespace in scenario.LAB_NAMESPACES)
    own_name = f"(v == '{DNS_NAMESPACE}' || v in [{homes}])"
    labels = f"{selector}.matchLabels"
    return (
        f"(has({labels}) && ("
        f"('{PARTICIPANT_LABEL}' in {labels} && {labels}['{PARTICIPANT_LABEL}'] == variables.own) || "
        f"('{_NAME}' in {labels} && [{labels}['{_NAME}']].all(v, {own_name})))) || "
        f"(has({selector}.matchExpressions) && {selector}.matchExpressions.exists(e, e.operator == 'In' && ("
        f"(e.key == '{PARTICIPANT_LABEL}' && e.values.all(v, v == variables.own)) || "
        f"(e.key == '{_NAME}' && e.values.all(v, {own_name})))))"
    )


def peers_ok(direction: str, peers: str) -> str:
    """CEL: every peer of every rule of ``direction`` stays within this participant's namespaces."""
    return (
        f"!has(object.spec.{direction}) || object.spec.{direction}.all(r, !has(r.{peers}) || "
        f"r.{peers}.all(p, !has(p.namespaceSelector) || {pinned('p.namespaceSelector')}))"
    )


MESSAGE = (
    "a namespaceSelector of this NetworkPolicy could select another participant's namespaces: select "
    f"yours with matchLabels {PARTICIPANT_LABEL}: <you> and netpol-lab/role: <frontend|backend|database|"
    f"untrusted>, or name one of your own namespaces or {DNS_NAMESPACE}"
)


def admission_documents() -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding (cluster-scoped, labelled as the room's)."""
    policy = {
        "apiVersion": VAP_API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME, "labels": room_labels()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "namespaceSelector": {
                    "matchLabels": {ROOM_LABEL: ROOM_VALUE},
                    "matchExpressions": [{"key": PARTICIPANT_LABEL, "operator": "Exists"}],
                },
                "resourceRules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["networkpolicies"],
                    }
                ],
            },
            "variables": [
                {"name": "own", "expression": f"namespaceObject.metadata.labels['{PARTICIPANT_LABEL}']"},
            ],
            "validations": [
                {"expression": peers_ok("ingress", "from"), "message": MESSAGE, "reason": "Forbidden"},
                {"expression": peers_ok("egress", "to"), "message": MESSAGE, "reason": "Forbidden"},
            ],
        },
    }
    binding = {
        "apiVersion": VAP_API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME, "labels": room_labels()},
        "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
    }
    return [policy, binding]


# -- kubeconfigs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """How to reach the cluster, as the instructor's kubeconfig says: never its credentials."""

    context: str
    server: str
    ca_data: str | None = None  # base64, as certificate-authority-data holds it
    tls_server_name: str | None = None
    insecure: bool = False


def kubeconfig_files(explicit: str | None, env: Mapping[str, str]) -> list[Path]:
    chosen = explicit or env.get("KUBECONFIG") or str(Path(env.get("HOME", "~")) / ".kube" / "config")
    return [Path(part).expanduser() for part in chosen.split(os.pathsep) if part]


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError) as error:
        raise LabError(f"kubeconfig {path}: cannot read it ({error})", ExitStatus.USAGE) from None
    return data if isinstance(data, dict) else {}


def _merged(files: Sequence[Path]) -> tuple[str, dict[str, tuple[dict[str, Any], Path]]]:
    """kubectl's merge of a KUBECONFIG list: the first file to set current-context or an entry wins."""
    current = ""
    entries: dict[str, tuple[dict[str, Any], Path]] = {}
    for path in files:
        data = _load(path)
        current = current or str(data.get("current-context") or "")
        for section in ("clusters", "contexts", "users"):
            for item in data.get(section) or []:
                if isinstance(item, dict) and item.get("name"):
                    entries.setdefault(f"{section}/{item['name']}", (item, path))
    return current, entries


def current_context(files: Sequence[Path]) -> str:
    return _merged(files)[0]


def context_entry(files: Sequence[Path], context: str) -> dict[str, Any] | None:
    found = _merged(files)[1].get(f"contexts/{context}")
    return dict(found[0].get("context") or {}) if found else None


def server_of(files: Sequence[Path], context: str) -> str | None:
    """The API server URL ``context`` points at, or None when the kubeconfig does not say."""
    entries = _merged(files)[1]
    found = entries.get(f"contexts/{context}")
    cluster_name = str((found[0].get("context") or {}).get("cluster") or "") if found else ""
    cluster = entries.get(f"clusters/{cluster_name}")
    server = (cluster[0].get("cluster") or {}).get("server") if cluster else None
    return str(server) if server else None


def read_endpoint(files: Sequence[Path], context: str) -> Endpoint:
    """The server and CA of ``context``; a LabError naming the fix when the kubeconfig lacks them."""
    _, entries = _merged(files)
    shown = os.pathsep.join(str(f) for f in files)
    found = entries.get(f"contexts/{context}")
    if found is None:
        raise LabError(
            f"kubeconfig {shown} has no context {context!r}: pick one with --context "
            "(`kubectl config get-contexts` lists them)",
            ExitStatus.MISSING_PREREQUISITE,
        )
    cluster_name = str((found[0].get("context") or {}).get("cluster") or "")
    cluster_found = entries.get(f"clusters/{cluster_name}")
    if cluster_found is None or not (cluster_found[0].get("cluster") or {}).get("server"):
        raise LabError(
            f"kubeconfig {shown}: context {context!r} names cluster {cluster_name!r}, which has no server",
            ExitStatus.MISSING_PREREQUISITE,
        )
    cluster, where = dict(cluster_found[0]["cluster"]), cluster_found[1]
    ca = cluster.get("certificate-authority-data")
    if not ca and cluster.get("certificate-authority"):
        ca_path = Path(str(cluster["certificate-authority"])).expanduser()
        ca_path = ca_path if ca_path.is_absolute() else where.parent / ca_path  # relative to its kubeconfig
        try:
            ca = base64.b64encode(ca_path.read_bytes()).decode()
        except OSError as error:
            raise LabError(
                f"kubeconfig {where}: cannot read the cluster's CA {ca_path} ({error.strerror})",
                ExitStatus.MISSING_PREREQUISITE,
            ) from None
    return Endpoint(
        context,
        str(cluster["server"]),
        str(ca) if ca else None,
        str(cluster["tls-server-name"]) if cluster.get("tls-server-name") else None,
        bool(cluster.get("insecure-skip-tls-verify")),
    )


def participant_kubeconfig(endpoint: Endpoint, participant: Participant, token: str) -> dict[str, Any]:
    """A kubeconfig with one cluster (server, CA), one user (the token) and one context."""
    cluster: dict[str, Any] = {"server": endpoint.server}
    if endpoint.ca_data:
        cluster["certificate-authority-data"] = endpoint.ca_data
    if endpoint.tls_server_name:
        cluster["tls-server-name"] = endpoint.tls_server_name
    if endpoint.insecure:
        cluster["insecure-skip-tls-verify"] = True
    extension = {"participant": participant.name, "room": ROOM_VALUE}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_ENTRY, "cluster": cluster}],
        "users": [{"name": participant.name, "user": {"token": token}}],
        "contexts": [
            {
                "name": participant.context,
                "context": {
                    "cluster": CLUSTER_ENTRY,
                    "user": participant.name,
                    "namespace": participant.home,
                    "extensions": [{"name": KUBECONFIG_EXTENSION, "extension": extension}],
                },
            }
        ],
        "current-context": participant.context,
        "preferences": {},
    }


def kubeconfig_path(folder: Path, participant: Participant) -> Path:
    return folder / f"{participant.name}.kubeconfig"


def write_kubeconfig(path: Path, config: Mapping[str, Any]) -> bool:
    """Write the file readable by its owner only; False when it already held exactly this."""
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(path, 0o600)
    return True


def participant_of_context(files: Sequence[Path], context: str | None) -> tuple[str, str] | None:
    """(participant, context) when ``context`` (or the current one) is a room participant's context."""
    chosen = context or current_context(files)
    entry = context_entry(files, chosen) if chosen else None
    for extension in (entry or {}).get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == KUBECONFIG_EXTENSION:
            name = str((extension.get("extension") or {}).get("participant") or "")
            if name:
                return name, chosen
    return None


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a ServiceAccount token (a JWT), read without checking the signature: only to
    decide whether a token this room wrote earlier is still worth keeping; the API server checks it."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def reusable_token(path: Path, account_uid: str, *, now: float | None = None) -> str | None:
    """The token of an earlier kubeconfig when it is bound to the same ServiceAccount (uid) and has
    more than an hour left: then `room up` again rewrites nothing."""
    if not account_uid or not path.is_file():
        return None
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        token = str(config["users"][0]["user"]["token"])
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None
    claims = token_claims(token)
    bound = ((claims.get("kubernetes.io") or {}).get("serviceaccount") or {}).get("uid")
    left = int(claims.get("exp") or 0) - (now if now is not None else time.time())
    return token if bound == account_uid and left > REUSE_MARGIN else None


def is_room_kubeconfig(path: Path) -> bool:
    """Whether ``path`` is a kubeconfig `room up` wrote (its one context carries the extension)."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        contexts = config.get("contexts") or []
    except (OSError, yaml.YAMLError, AttributeError):
        return False
    return len(contexts) == 1 and any(
        isinstance(e, dict) and e.get("name") == KUBECONFIG_EXTENSION
        for e in (contexts[0].get("context") or {}).get("extensions") or []
    )


def labels_of(participant: Participant) -> dict[str, str]:
    return {ROOM_LABEL: ROOM_VALUE, PARTICIPANT_LABEL: participant.name}
