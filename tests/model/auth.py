"""Authentication and RBAC for the model: bearer tokens, ServiceAccount tokens from TokenRequest, and
an authorizer for Role, ClusterRole, RoleBinding and ClusterRoleBinding.

Who is asking:

* no ``Authorization`` header, or the bearer token the fake kind writes into the lab's kubeconfig
  (``model``): the cluster's administrator (group ``system:masters``, allowed everything), as kind's
  own kubeconfig is;
* a token this model issued through ``POST .../serviceaccounts/NAME/token`` (TokenRequest, what
  ``kubectl create token`` sends; kubectl staging/src/k8s.io/kubectl/pkg/cmd/create/create_token.go):
  the ServiceAccount ``system:serviceaccount:NS:NAME``, in the groups ``system:serviceaccounts``,
  ``system:serviceaccounts:NS`` and ``system:authenticated``, while the token has not expired and the
  ServiceAccount it names still exists with the same uid (a bound token dies with its account);
* anything else: 401 Unauthorized.

What a ServiceAccount may do is decided as the RBAC authorizer does it (plugin/pkg/auth/authorizer/rbac):
the rules of the Roles and ClusterRoles bound to it by RoleBindings in the request's namespace and by
ClusterRoleBindings, matched on verb, API group, resource (``pods/exec`` for a subresource, ``*``
for any) and resourceNames. The request's verb and resource follow the API server's RequestInfo
(staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): GET is get, or list without a
name, or watch with ``watch=true``; POST create; PUT update; PATCH patch; DELETE delete, or
deletecollection without a name. A server-side apply that creates the object needs ``create`` too
(handlers/patch.go authorizes the create it turns into). A websocket exec (a GET) needs ``get`` and,
since Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, on by default), ``create`` on
``pods/exec``. Discovery, OpenAPI and /version are open to every authenticated user (the
system:discovery and system:public-info-viewer ClusterRoles). A refusal is 403 with the message and
details of apierrors.NewForbidden wrapping the authorizer's sentence
(handlers/responsewriters/errors.go forbiddenMessage).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from typing import TYPE_CHECKING, Any, TypeAlias

from tests.model.api import ApiError, bad_request

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

Headers: TypeAlias = "Message | Mapping[str, str]"  # http.server's (case-insensitive), or a plain mapping
ADMIN_TOKEN = "model"  # what tests/model/fake_tool.py writes for the kind context
ADMIN = "kubernetes-admin"
ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600  # seconds: the API server's default for a TokenRequest without expirationSeconds
MIN_EXPIRATION = 600  # the API server refuses shorter ones (validation of TokenRequestSpec)
_KEY = secrets.token_bytes(32)  # the model's signing key for the tokens it issues
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def admin(self) -> bool:
        return "system:masters" in self.groups

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) for a ServiceAccount's user."""
        prefix = "system:serviceaccount:"
        if not self.name.startswith(prefix):
            return None
        namespace, _, name = self.name[len(prefix) :].partition(":")
        return namespace, name


ADMIN_USER = User(ADMIN, ("system:masters", "system:authenticated"))


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it."""

    verb: str
    group: str
    resource: str  # plural; "" for a non-resource request
    subresource: str
    namespace: str
    name: str
    path: str

    @property
    def resource_request(self) -> bool:
        return bool(self.resource)

    @property
    def qualified(self) -> str:
        """``networkpolicies.networking.k8s.io``, ``pods``: what NewForbidden names."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


# -- tokens -------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    namespace: str, name: str, uid: str, seconds: int, now: float | None = None
) -> tuple[str, int]:
    """A signed JWT with the claims a Kubernetes ServiceAccount token carries; (token, expiry)."""
    issued = int(now if now is not None else time.time())
    expiry = issued + seconds
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": ISSUER,
        "aud": [ISSUER],
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "iat": issued,
        "nbf": issued,
        "exp": expiry,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
    }
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(_KEY, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(signature)}", expiry


def _claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    signing = f"{parts[0]}.{parts[1]}"
    expected = hmac.new(_KEY, signing.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def token_request(cluster: ModelCluster, namespace: str, name: str, body: Any) -> dict[str, Any]:
    """POST serviceaccounts/NAME/token: a TokenRequest with its token and expiry."""
    account = cluster.store.get(("", "serviceaccounts"), namespace, name)
    if account is None:
        raise ApiError(
            404, "NotFound", f'serviceaccounts "{name}" not found', {"name": name, "kind": "serviceaccounts"}
        )
    spec = (body or {}).get("spec") or {} if isinstance(body, dict) else {}
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
    if not isinstance(seconds, int) or seconds < MIN_EXPIRATION:
        raise ApiError(
            422,
            "Invalid",
            f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: Invalid '
            f"value: {seconds}: may not specify a duration less than 10 minutes",
        )
    token, expiry = issue_token(namespace, name, str(account["metadata"].get("uid", "")), seconds)
    stamp = datetime.fromtimestamp(expiry, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": {"audiences": [ISSUER], "expirationSeconds": seconds, "boundObjectRef": None},
        "status": {"token": token, "expirationTimestamp": stamp},
    }


def authenticate(cluster: ModelCluster, headers: Headers) -> User:
    """The user a request's bearer token names; 401 for a token nobody issued or one that expired."""
    header = headers.get("Authorization") or ""
    if not header:
        return ADMIN_USER
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token == ADMIN_TOKEN:
        return ADMIN_USER
    claims = _claims(token) if scheme.lower() == "bearer" else None
    bound = (claims or {}).get("kubernetes.io") or {}
    account = bound.get("serviceaccount") or {}
    namespace, name = str(bound.get("namespace", "")), str(account.get("name", ""))
    live = cluster.store.get(("", "serviceaccounts"), namespace, name) if claims else None
    if (
        claims is None
        or int(claims.get("exp", 0)) <= time.time()
        or live is None
        or str(live["metadata"].get("uid")) != str(account.get("uid"))
    ):
        raise ApiError(401, "Unauthorized", "Unauthorized")
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


# -- what a request asks for ---------------------------------------------------------------------------


def attributes(method: str, parts: Sequence[str], query: Mapping[str, str]) -> Attributes:
    """The verb, group, resource, subresource, namespace and name of a request (RequestInfo)."""
    path = "/" + "/".join(parts)
    if parts[:2] == ["api", "v1"]:
        group, rest = "", list(parts[2:])
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], list(parts[3:])
    else:
        return Attributes(method.lower(), "", "", "", "", "", path)
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) > 2 and not (group == "" and rest[2] in ("status", "finalize")):
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    return Attributes(verb, group, resource, subresource, namespace, name, path)


# -- RBAC ---------------------------------------------------------------------------------------------


def _rule_allows(rule: Mapping[str, Any], attrs: Attributes, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    names = rule.get("resourceNames") or []
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (
        ("*" in verbs or verb in verbs)
        and ("*" in groups or attrs.group in groups)
        and ("*" in resources or wanted in resources)
        and (not names or attrs.name in names)
    )


def _binds(binding: Mapping[str, Any], user: User) -> bool:
    account = user.service_account
    for subject in binding.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "User" and subject.get("name") == user.name:
            return True
        if kind == "Group" and subject.get("name") in user.groups:
            return True
        if kind == "ServiceAccount" and account is not None:
            namespace = subject.get("namespace") or binding["metadata"].get("namespace", "")
            if (namespace, subject.get("name")) == account:
                return True
    return False


def _rules(cluster: ModelCluster, binding: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ref = binding.get("roleRef") or {}
    if ref.get("kind") == "ClusterRole":
        role = cluster.store.get((RBAC, "clusterroles"), "", str(ref.get("name")))
    else:
        role = cluster.store.get(
            (RBAC, "roles"), binding["metadata"].get("namespace", ""), str(ref.get("name"))
        )
    return list((role or {}).get("rules") or [])


def allowed(cluster: ModelCluster, user: User, attrs: Attributes, verb: str | None = None) -> bool:
    """Whether RBAC lets ``user`` do ``attrs`` (with ``verb`` instead of the request's own, if given)."""
    if user.admin:
        return True
    verb = verb or attrs.verb
    if not attrs.resource_request:
        return "system:authenticated" in user.groups and _public(attrs.path)
    bindings = list(cluster.store.list((RBAC, "clusterrolebindings")))
    if attrs.namespace:
        bindings += cluster.store.list((RBAC, "rolebindings"), attrs.namespace)
    return any(
        _binds(binding, user) and any(_rule_allows(rule, attrs, verb) for rule in _rules(cluster, binding))
        for binding in bindings
    )


def _public(path: str) -> bool:
    """system:discovery and system:public-info-viewer: discovery, OpenAPI, version, health."""
    open_paths = ("/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz")
    return any(path == p or path.startswith(p + "/") for p in open_paths)


def forbidden(user: User, attrs: Attributes, verb: str) -> ApiError:
    """403 as apierrors.NewForbidden(resource, name, forbiddenMessage) renders it."""
    if not attrs.resource_request:
        return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {verb} path "{attrs.path}"')
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    sentence = f'User "{user.name}" cannot {verb} resource "{resource}" in API group "{attrs.group}" {scope}'
    what = f'{attrs.qualified} "{attrs.name}"' if attrs.name else attrs.qualified
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    return ApiError(403, "Forbidden", f"{what} is forbidden: {sentence}", details)


def check(
    cluster: ModelCluster,
    method: str,
    parts: Sequence[str],
    query: Mapping[str, str],
    headers: Headers,
) -> User:
    """Authenticate and authorize one request (raises the 401 or 403 the API server would send)."""
    user = authenticate(cluster, headers)
    if user.admin:
        return user
    attrs = attributes(method, parts, query)
    verbs = [attrs.verb]
    if (
        attrs.resource == "pods"
        and attrs.subresource in ("exec", "attach", "portforward")
        and method == "GET"
    ):
        verbs.append("create")  # the websocket upgrade is authorized as create too (Kubernetes 1.35+)
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
    if method == "PATCH" and content_type == "application/apply-patch+yaml" and not _exists(cluster, attrs):
        verbs.append("create")  # server-side apply that creates: authorized as a create as well
    for verb in verbs:
        if not allowed(cluster, user, attrs, verb):
            raise forbidden(user, attrs, verb)
    return user


def _exists(cluster: ModelCluster, attrs: Attributes) -> bool:
    resource = next(
        (t for t in cluster.registry.all() if t.group == attrs.group and t.plural == attrs.resource), None
    )
    if resource is None or not attrs.name:
        return True
    namespace = attrs.namespace if resource.namespaced else ""
    return cluster.store.get(resource.key, namespace, attrs.name) is not None


def body_of(raw: bytes, content_type: str = "application/json") -> Any:
    """A TokenRequest body: JSON, or the protobuf kubectl's typed client sends (Kubernetes' envelope:
    ``k8s\\0`` then a runtime.Unknown whose field 2 holds the TokenRequest; its spec is field 2, and
    the spec's expirationSeconds field 4: k8s.io/api/authentication/v1/generated.proto)."""
    if content_type.startswith("application/vnd.kubernetes.protobuf"):
        if not raw.startswith(b"k8s\x00"):
            raise bad_request("not a Kubernetes protobuf envelope")
        request = _fields(_fields(raw[4:]).get(2, b""))
        spec = _fields(request.get(2, b""))
        seconds = spec.get(4)
        return {"spec": {"expirationSeconds": seconds}} if isinstance(seconds, int) else {"spec": {}}
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise bad_request("the body of a TokenRequest must be JSON or protobuf") from None


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _fields(data: bytes) -> dict[int, Any]:
    """The last value of each field of one protobuf message (varints and length-delimited bytes)."""
    out: dict[int, Any] = {}
    position = 0
    try:
        while position < len(data):
            key, position = _varint(data, position)
            number, wire = key >> 3, key & 7
            if wire == 0:
                out[number], position = _varint(data, position)
            elif wire == 2:
                size, position = _varint(data, position)
                out[number], position = data[position : position + size], position + size
            else:
                raise bad_request(f"protobuf wire type {wire} is not used by a TokenRequest")
    except IndexError:
        raise bad_request("a truncated protobuf message") from None
    return out
