"""A tiny local stand-in for the Kubernetes API server, so the official client's real code runs.

It speaks just enough of the API on 127.0.0.1 (plain http, so the client uses ``ws://``):

* pod exec over a websocket (``v5.channel.k8s.io`` / ``v4.channel.k8s.io``): binary frames
  whose first byte is the channel (1 stdout, 2 stderr, 3 the ``metav1.Status`` JSON); what
  each exec does is scripted per pod name;
* ``GET /version``, ``GET /api/v1/namespaces/NS/pods`` and ``.../events`` as JSON.

``silent_server`` accepts TCP connections and never answers (a handshake that hangs).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

STDOUT, STDERR, ERROR, CLOSE = 1, 2, 3, 255
SUBPROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"]

SUCCESS = {"metadata": {}, "status": "Success"}
VERSION = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.1",
    "gitCommit": "0000000",
    "gitTreeState": "clean",
    "buildDate": "2026-05-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def exit_status(code: int) -> dict[str, Any]:
    """The Status the API server sends when the command exits non-zero."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def not_found_status(binary: str) -> dict[str, Any]:
    """The Status sent when the command cannot even start."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{binary}": executable file not found in $PATH: unknown'
        ),
        "reason": "InternalError",
        "details": {"causes": [{"message": "executable file not found"}]},
        "code": 500,
    }


@dataclass
class Exec:
    """One exec request as the server saw it."""

    namespace: str
    pod: str
    container: str
    argv: list[str]
    subprotocol: str | None


Behaviour = Callable[[ServerConnection, Exec, threading.Event], None]


def frame(channel: int, data: str | bytes) -> bytes:
    payload = data.encode() if isinstance(data, str) else data
    return bytes([channel]) + payload


def reply(stdout: str = "", stderr: str = "", status: dict[str, Any] | None = None) -> Behaviour:
    """Send stdout, stderr, then the status frame (if any), then close."""

    def behave(conn: ServerConnection, _: Exec, __: threading.Event) -> None:
        if stdout:
            conn.send(frame(STDOUT, stdout))
        if stderr:
            conn.send(frame(STDERR, stderr))
        if status is not None:
            conn.send(frame(ERROR, json.dumps(status)))
        conn.close()

    return behave


def hang(stdout: str = "") -> Behaviour:
    """Start the command and never finish (until the server stops)."""

    def behave(conn: ServerConnection, _: Exec, stop: threading.Event) -> None:
        if stdout:
            conn.send(frame(STDOUT, stdout))
        stop.wait(60)

    return behave


def drop() -> Behaviour:
    """Cut the TCP connection without a close frame, after a little output."""

    def behave(conn: ServerConnection, _: Exec, __: threading.Event) -> None:
        conn.send(frame(STDOUT, "partial"))
        time.sleep(0.05)
        conn.socket.shutdown(socket.SHUT_RDWR)
        conn.socket.close()

    return behave


def pod_object(
    app: str, *, ip: str, phase: str = "Running", ready: bool = True, name: str = "", namespace: str = ""
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name or f"{app}-5d9c7b-abcde",
            "namespace": namespace or app,
            "labels": {"app": app},
        },
        "spec": {"nodeName": "netpol-lab-worker", "containers": [{"name": "agnhost", "image": "agnhost"}]},
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


@dataclass
class FakeApiServer:
    """Scripted exec behaviours by pod name, pod lists by namespace; records every exec."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    execs: list[Exec] = field(default_factory=list)
    hung_up: threading.Event = field(default_factory=threading.Event)  # a handler saw the client go
    subprotocols: list[str] = field(default_factory=lambda: list(SUBPROTOCOLS))
    stop: threading.Event = field(default_factory=threading.Event)
    server: Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _json(self, conn: ServerConnection, status: int, body: Any) -> Response:
        response = conn.respond(status, json.dumps(body))
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlparse(request.path)
        parts = url.path.strip("/").split("/")
        if url.path.rstrip("/") == "/version":
            return self._json(conn, 200, VERSION)
        if len(parts) == 5 and parts[:2] == ["api", "v1"] and parts[4] in ("pods", "events"):
            namespace = parts[3]
            items = (self.pods if parts[4] == "pods" else self.events).get(namespace, [])
            kind = "PodList" if parts[4] == "pods" else "EventList"
            return self._json(conn, 200, {"kind": kind, "apiVersion": "v1", "metadata": {}, "items": items})
        if len(parts) == 7 and parts[6] == "exec" and parts[5] not in self.behaviours:
            body = {
                "kind": "Status",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
                "message": f'pods "{parts[5]}" not found',
            }
            return self._json(conn, HTTPStatus.NOT_FOUND, body)
        if len(parts) == 7 and parts[6] == "exec":
            return None  # go on with the websocket handshake
        return self._json(conn, HTTPStatus.NOT_FOUND, {"kind": "Status", "status": "Failure", "code": 404})

    def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        url = urlparse(conn.request.path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        request = Exec(
            namespace=parts[3],
            pod=parts[5],
            container=query.get("container", [""])[0],
            argv=query.get("command", []),
            subprotocol=conn.subprotocol,
        )
        self.execs.append(request)
        self.behaviours[request.pod](conn, request, self.stop)
        self.hung_up.set()

    def start(self) -> FakeApiServer:
        self.server = serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=self.subprotocols,  # type: ignore[arg-type]
            process_request=self._process_request,
        )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.stop.set()
        if self.server is not None:
            self.server.shutdown()


def write_kubeconfig(path: Path, server: str, context: str = "kind-netpol-lab") -> Path:
    """A kubeconfig whose ``context`` points at ``server`` (plain http, a dummy token)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "fake", "user": {"token": "dummy"}}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": context,
            }
        ),
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        done.set()
        thread.join(1)
        for conn in accepted:
            conn.close()
        listener.close()
