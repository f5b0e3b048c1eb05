"""HTTP for the model: discovery, OpenAPI v3 (what kubectl's field validation reads), REST, watch, exec.

Plain HTTP on 127.0.0.1 (clients then use ``ws://`` for exec). Paths and answers follow the
API server's: ``/api``, ``/apis``, ``/apis/G/V``, ``/openapi/v3`` listing every served group
version, resource paths with and without ``namespaces/NS``, ``?watch=true`` as a chunked
stream of JSON events, and ``pods/NAME/exec`` as a websocket speaking the channel protocol
(v5/v4.channel.k8s.io: byte 0 is the channel, channel 3 carries the metav1.Status).
Requests under ``/_model/`` are the test world's own (the fake kind and docker use them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from tests.model import auth
from tests.model.api import ApiError, bad_request
from tests.model.resources import ResourceType

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3
# gnostic's openapi_v2.Document with only ``swagger: "2.0"`` (field 1, a string), protobuf-encoded.
OPENAPI_V2_EMPTY = b"\x0a\x032.0"
VERSION_INFO = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.1",
    "gitCommit": "model",
    "gitTreeState": "clean",
    "buildDate": "2026-05-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}


ACCEPT_TIMEOUT = 0.5


# Discovery lists groups by their APIService's groupPriorityMinimum, highest first, then by group
# name as aggregated discovery (what kubectl reads today) breaks ties (kube-aggregator's priority
# table for the built-in groups; the CRD registration controller gives a CRD's group 1000;
# tigera/operator's APIService for projectcalico.org asks 1500). kubectl
# resolves a plural shared by several groups to the first: `networkpolicies` is networking.k8s.io's
# even where Calico's CRDs serve crd.projectcalico.org/v1 NetworkPolicy.
GROUP_PRIORITY = {
    "apps": 17800, "events.k8s.io": 17750, "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600, "autoscaling": 17500, "batch": 17400, "certificates.k8s.io": 17300,
    "networking.k8s.io": 17200, "policy": 17100, "rbac.authorization.k8s.io": 17000,
    "storage.k8s.io": 16800, "apiextensions.k8s.io": 16700, "admissionregistration.k8s.io": 16700,
    "scheduling.k8s.io": 16600, "coordination.k8s.io": 16500, "node.k8s.io": 16300,
    "discovery.k8s.io": 16200, "flowcontrol.apiserver.k8s.io": 16100, "projectcalico.org": 1500,
}  # fmt: skip
CRD_GROUP_PRIORITY = 1000


def discovery_order(groups: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    def priority(item: tuple[str, list[str]]) -> tuple[int, str]:
        return (-GROUP_PRIORITY.get(item[0], CRD_GROUP_PRIORITY), item[0])

    return sorted(groups.items(), key=priority)


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cluster: ModelCluster) -> None:
        self.cluster = cluster
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), Handler)
        # serve_forever accepts after select() says the socket is readable; a client that resets
        # its connection in between leaves nothing to accept, and a blocking accept() would then
        # wait for the next client, so shutdown() (which waits for the loop) could hang for good.
        # With a timeout, accept() gives up and the loop goes on (accepted sockets stay blocking).
        self.socket.settimeout(ACCEPT_TIMEOUT)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:
        self.server.cluster.request_log.append(f"{self.command} {self.path}")

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def cluster(self) -> ModelCluster:
        return self.server.cluster

    def _body(self) -> bytes:
        return self.raw_body

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, error: ApiError) -> None:
        self._send(error.status, error.body())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""  # always read: keep-alive needs it
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.query_lists = parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts[:1] == ["_model"]:
                self._send(200, self.cluster.control(method, parts[1:], self._json_body()))
                return
            auth.check(self.cluster, method, parts, query, self.headers)  # 401/403 as the API server
            if method == "GET" and self._meta_get(parts):
                return
            else:
                self._resource(method, parts, query)
        except ApiError as error:
            self._error(error)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json_body(self) -> Any:
        raw = self._body()
        return json.loads(raw) if raw else {}

    # -- discovery and OpenAPI -------------------------------------------------------------------

    def _meta_get(self, parts: list[str]) -> bool:
        registry = self.cluster.registry
        path = "/".join(parts)
        if path == "version":
            self._send(200, VERSION_INFO)
        elif path in ("healthz", "readyz", "livez"):
            self._send(200, b"ok", "text/plain")
        elif path == "api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})  # fmt: skip  # noqa: E501
        elif path == "api/v1":
            self._send(200, _resource_list("v1", registry.in_group_version("", "v1")))
        elif path == "apis":
            self._send(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [_group(g, v) for g, v in discovery_order(registry.groups())],
                },
            )
        elif len(parts) == 2 and parts[0] == "apis":
            versions = registry.groups().get(parts[1])
            if not versions:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send(200, {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], versions)})
        elif len(parts) == 3 and parts[0] == "apis":
            served = registry.in_group_version(parts[1], parts[2])
            if not served:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send(200, _resource_list(f"{parts[1]}/{parts[2]}", served))
        elif path == "openapi/v3":
            self._send(
                200,
                {
                    "paths": {
                        gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(gv, registry)}"}
                        for gv in _group_versions(registry)
                    }
                },
            )
        elif parts[:2] == ["openapi", "v3"] and len(parts) > 2:
            gv = "/".join(parts[2:])
            if gv not in _group_versions(registry):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send(200, _openapi_document(gv, registry))
        elif parts[:2] == ["openapi", "v2"]:
            # kubectl falls back to the v2 document (protobuf) for kinds the v3 one does not list, such
            # as custom resources whose CRD is missing; an empty document makes its client-side check
            # pass, so that the REST mapping gives the real answer ("no matches for kind").
            self._send(200, OPENAPI_V2_EMPTY, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        else:
            return False
        return True

    # -- resources --------------------------------------------------------------------------------

    def _resource(self, method: str, parts: list[str], query: dict[str, str]) -> None:
        route = _route(parts, self.cluster.registry)
        resource, namespace, name, sub = route
        api = self.cluster.api
        manager = query.get("fieldManager") or _manager_from_agent(self.headers.get("User-Agent", ""))
        dry_run = query.get("dryRun") == "All"
        if sub in ("exec", "attach") and resource.kind == "Pod":
            self._exec(namespace, name or "", query)
            return
        if sub == "token" and resource.kind == "ServiceAccount" and method == "POST":
            self._send(201, auth.token_request(self.cluster, namespace, name or "", self._token_body()))
            return
        if method == "GET":
            if name:
                self._send(200, api.get(resource, namespace, name))
            elif query.get("watch") in ("true", "1"):
                self._watch(resource, namespace or None, query)
            else:
                items, version = api.list(
                    resource, namespace or None, query.get("labelSelector"), query.get("fieldSelector")
                )
                self._send(
                    200,
                    {
                        "kind": f"{resource.kind}List",
                        "apiVersion": resource.api_version,
                        "metadata": {"resourceVersion": str(version)},
                        "items": items,
                    },
                )
        elif method == "POST":
            body = self._json_body()
            if not isinstance(body, dict):
                raise bad_request("the body must be an object")
            self._send(201, api.create(resource, namespace, body, manager=manager, dry_run=dry_run))
        elif method == "PUT":
            body = self._json_body()
            if not name or not isinstance(body, dict):
                raise bad_request("PUT needs a name and an object")
            self._send(
                200,
                api.replace(
                    resource, namespace, name, body, manager=manager, subresource=sub, dry_run=dry_run
                ),
            )
        elif method == "PATCH":
            if not name:
                raise ApiError(405, "MethodNotAllowed", "PATCH needs a name")
            from tests.model.apply import decode_body

            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            body = decode_body(self._body(), content_type)
            if content_type == "application/apply-patch+yaml" and not query.get("fieldManager"):
                raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
            force = query.get("force") in ("true", "1")
            obj, created = api.patch(
                resource,
                namespace,
                name,
                body,
                content_type,
                manager=manager,
                force=force,
                subresource=sub,
                dry_run=dry_run,
            )
            self._send(201 if created else 200, obj)
        elif method == "DELETE":
            if not name:
                items, _ = api.list(
                    resource, namespace or None, query.get("labelSelector"), query.get("fieldSelector")
                )
                for item in items:
                    meta = item["metadata"]
                    api.delete(resource, meta.get("namespace", ""), meta["name"], dry_run=dry_run)
                self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
                return
            self._send(200, api.delete(resource, namespace, name, dry_run=dry_run))
        else:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _token_body(self) -> Any:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        return auth.body_of(self._body(), content_type)

    def _watch(self, resource: ResourceType, namespace: str | None, query: dict[str, str]) -> None:
        from tests.model import selectors

        try:
            labels = selectors.label_matcher(query.get("labelSelector"))
            fields = selectors.field_matcher(query.get("fieldSelector"))
        except selectors.SelectorSyntaxError as error:
            raise bad_request(str(error)) from None
        timeout = float(query.get("timeoutSeconds") or 1800)
        # watch-list (client-go's WatchListClient, on in kubectl 1.36): the current objects as ADDED
        # events, then a BOOKMARK annotated k8s.io/initial-events-end, then the changes
        initial_events = query.get("sendInitialEvents") == "true"
        since = "0" if initial_events else (query.get("resourceVersion") or "0")
        store = self.cluster.store

        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata") or {}
            in_namespace = namespace is None or meta.get("namespace") == namespace
            return in_namespace and labels(meta.get("labels") or {}) and fields(obj)

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with store.lock:
            start = store.resource_version
            initial = (
                [o for o in self.cluster.api.list(resource, namespace)[0] if wanted(o)]
                if since == "0"
                else []
            )
        if since not in ("0", ""):
            start = int(since)
        try:
            for obj in initial:
                self._chunk({"type": "ADDED", "object": obj})
            if initial_events:
                end = {"resourceVersion": str(start), "annotations": {"k8s.io/initial-events-end": "true"}}
                bookmark = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": end}
                self._chunk({"type": "BOOKMARK", "object": bookmark})
            for event in store.events_after(
                start, lambda e: e.type_key == resource.key and wanted(e.obj), timeout, self.server.stopping
            ):
                obj = dict(event.obj)
                obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
                self._chunk({"type": event.type, "object": obj})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _chunk(self, payload: Any) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- exec over websocket ----------------------------------------------------------------------

    def _exec(self, namespace: str, name: str, query: dict[str, str]) -> None:
        from tests.model.dataplane import ExecRequest

        pod = self.cluster.store.get(("", "pods"), namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        if (pod.get("status") or {}).get("phase") != "Running":
            raise bad_request(f"unable to upgrade connection: pod {name} is not running")
        if (self.headers.get("Upgrade") or "").lower() != "websocket":
            raise bad_request("this model serves exec over websockets only (v5.channel.k8s.io)")
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
        chosen = next((p for p in EXEC_PROTOCOLS if p in offered), None)
        if chosen is None:
            raise bad_request(
                "no supported exec subprotocol offered (want v5.channel.k8s.io or v4.channel.k8s.io)"
            )
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(HTTPStatus.SWITCHING_PROTOCOLS)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", chosen)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        container = query.get("container") or (pod["spec"]["containers"][0]["name"])
        request = ExecRequest(
            namespace, name, container, list(self.query_lists.get("command", [])), pod, chosen
        )
        self.cluster.exec_log.append(request)
        reply = self.cluster.dataplane.exec(self.cluster, request)
        sock = self.connection
        try:
            if reply.mode == "hang":
                self._ws_send(STDOUT, reply.stdout.encode()) if reply.stdout else None
                self._wait_for_client_or_stop(sock)
                return
            if reply.stdout:
                self._ws_send(STDOUT, reply.stdout.encode())
            if reply.stderr:
                self._ws_send(STDERR, reply.stderr.encode())
            if reply.mode == "drop":
                sock.shutdown(socket.SHUT_RDWR)
                return
            if reply.mode != "no-status":
                self._ws_send(ERROR, json.dumps(reply.status()).encode())
            self._ws_frame(0x8, struct.pack("!H", 1000))
            self._drain(sock)
        except OSError:
            pass

    def _ws_frame(self, opcode: int, payload: bytes) -> None:
        head = bytes([0x80 | opcode])
        size = len(payload)
        if size < 126:
            head += bytes([size])
        elif size < 1 << 16:
            head += bytes([126]) + struct.pack("!H", size)
        else:
            head += bytes([127]) + struct.pack("!Q", size)
        self.wfile.write(head + payload)
        self.wfile.flush()

    def _ws_send(self, channel: int, data: bytes) -> None:
        self._ws_frame(0x2, bytes([channel]) + data)

    def _drain(self, sock: socket.socket) -> None:
        """Read what the client sends (its close frame) for a moment, then hang up."""
        sock.settimeout(1.0)
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass

    def _wait_for_client_or_stop(self, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not self.server.stopping.is_set():
            try:
                if not sock.recv(4096):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


# -- helpers ---------------------------------------------------------------------------------------


def _manager_from_agent(agent: str) -> str:
    """The field manager a server derives from the User-Agent when the client names none."""
    return (agent.split("/", 1)[0] or "unknown").strip()


def _route(parts: list[str], registry: Any) -> tuple[ResourceType, str, str | None, str | None]:
    """(type, namespace, name, subresource) of a resource URL; 404 for anything not served."""
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    resource = registry.find(group, version, rest[0])
    if resource is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if resource.namespaced is False and namespace:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return resource, namespace, name, sub


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _resource_list(group_version: str, types: list[ResourceType]) -> dict[str, Any]:
    resources = [entry for t in types for entry in t.api_resource()]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _group_versions(registry: Any) -> list[str]:
    out = ["api/v1"]
    for group, versions in sorted(registry.groups().items()):
        out += [f"apis/{group}/{v}" for v in versions]
    return out


def _types_of(gv: str, registry: Any) -> list[ResourceType]:
    parts = gv.split("/")
    group, version = ("", "v1") if parts == ["api", "v1"] else (parts[1], parts[2])
    return registry.in_group_version(group, version)


def _hash(gv: str, registry: Any) -> str:
    names = ",".join(sorted(t.plural for t in _types_of(gv, registry)))
    return hashlib.sha256(f"{gv}:{names}".encode()).hexdigest()[:16].upper()


def _openapi_document(gv: str, registry: Any) -> dict[str, Any]:
    """Enough OpenAPI v3 for kubectl: a PATCH per type that takes ``fieldValidation``.

    kubectl (cli-runtime's queryParamVerifierV3) decides from it that the server validates
    fields itself, and then sends ``fieldValidation=Strict`` instead of validating locally."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for resource in _types_of(gv, registry):
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        template = resource.path("{namespace}" if resource.namespaced else None, "{name}")
        parameters = [
            {"name": n, "in": "query", "schema": {"type": "string"}}
            for n in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        paths[template] = {
            "patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
            }
        }
        name = f"{resource.group or 'core'}.{resource.version}.{resource.kind}"
        schemas[name] = {"type": "object", "x-kubernetes-group-version-kind": [gvk]}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }
