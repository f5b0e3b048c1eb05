"""The API boundary: clients per context and per thread, lab pod listing, and exec into pods.

Everything that talks to the Kubernetes API server through the official Python client goes
through this module, so the rest of the lab deals in plain values (``LabPod``,
``ExecOutcome``) and tests substitute a ``Transport`` or point a client at a local server.

Two pitfalls of the official client (kubernetes 37) shape it:

* ``config.load_kube_config`` changes process globals and reads ``KUBECONFIG`` at import
  time, so clients are built with ``new_client_from_config(config_file=..., context=...,
  persist_config=False)`` from a path resolved here, one per context and per thread.
* ``kubernetes.stream.stream()`` swaps ``call_api`` on its ``ApiClient`` for the duration of
  the call, so two threads must never share one client; and ``WSClient.returncode`` raises on
  a missing status frame or "executable not found", so the exec status is parsed here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lab import pins
from lab.errors import ExitStatus, LabError

DEFAULT_CONTEXT = pins.KUBE_CONTEXT
CONTAINER = "agnhost"  # the one container of every lab pod
UP_HINT = "run `make lab-up` to build the lab"
API_TIMEOUT = 10.0  # seconds for ordinary API calls (list, version)
# After the exec's own budget, how long to wait for the API server to hand the stream back
# before giving up on it (covers a websocket handshake that never completes).
EXEC_GRACE = 5.0


def kubeconfig_path(explicit: str | None, env: Mapping[str, str]) -> str:
    """The kubeconfig: ``--kubeconfig``, else ``$KUBECONFIG`` (may list several), else ~/.kube/config."""
    chosen = explicit or env.get("KUBECONFIG") or "~/.kube/config"
    return os.pathsep.join(str(Path(part).expanduser()) for part in chosen.split(os.pathsep) if part)


class KubeClients:
    """``ApiClient``s for one kubeconfig context: one per thread, built on first use.

    The official client's websocket exec is not thread-safe (it swaps methods on its
    ``ApiClient``), so each thread gets its own client; ``discard`` drops a thread's client
    after a call was abandoned while still holding it.
    """

    def __init__(self, kubeconfig: str, context: str = DEFAULT_CONTEXT) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []

    def api(self) -> Any:
        """This thread's ``kubernetes.client.ApiClient`` for the context."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client()
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def discard(self) -> None:
        """Forget this thread's client (the next ``api()`` builds a fresh one)."""
        self._local.client = None

    def close(self) -> None:
        """Close every client built so far (their connection pools)."""
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            with contextlib.suppress(Exception):  # best effort: a client stuck in a call may refuse
                client.close()

    def _new_client(self) -> Any:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException

        files = [part for part in self.kubeconfig.split(os.pathsep) if part]
        if not any(Path(part).is_file() for part in files):
            raise LabError(f"no kubeconfig at {self.kubeconfig}: {UP_HINT}", ExitStatus.MISSING_PREREQUISITE)
        configuration = k8s_client.Configuration()
        configuration.retries = 1  # an unreachable API server should fail fast, not after 3 retries
        try:
            return k8s_config.new_client_from_config(
                config_file=self.kubeconfig,
                context=self.context,
                persist_config=False,
                client_configuration=configuration,
            )
        except ConfigException as error:
            raise LabError(
                f"kubeconfig {self.kubeconfig} has no usable context {self.context!r} ({error}): {UP_HINT}",
                ExitStatus.MISSING_PREREQUISITE,
            ) from error

    @property
    def server(self) -> str:
        """The API server URL of this context (for messages)."""
        return str(self.api().configuration.host)


def describe_api_error(error: BaseException) -> str:
    """One line for an error of the official client (``ApiException`` or a urllib3 error)."""
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None)
    if status and reason:
        return f"HTTP {status} {reason}"
    if reason:  # ApiException(status=0): the websocket handshake failed
        # websocket-client puts response headers and body after " -+-+- ": keep the status line
        lines = [line.strip() for line in str(reason).split(" -+-+- ")[0].splitlines() if line.strip()]
        if lines:
            return lines[0][:300]
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def check_reachable(clients: KubeClients) -> str:
    """The API server's version, or a ``LabError`` naming ``make lab-up`` when it does not answer."""
    from kubernetes import client as k8s_client

    try:
        info = k8s_client.VersionApi(clients.api()).get_code(_request_timeout=API_TIMEOUT)
    except LabError:
        raise
    except Exception as error:  # urllib3 errors (refused, timeout) and ApiException alike
        raise LabError(
            f"cannot reach the cluster of context {clients.context} at {clients.server} "
            f"({describe_api_error(error)}): {UP_HINT}",
            ExitStatus.MISSING_PREREQUISITE,
        ) from error
    return str(getattr(info, "git_version", "") or "")


# -- lab pods ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabPod:
    """One running lab pod, as the probes need it."""

    app: str  # the workload name (label app)
    name: str
    namespace: str
    ip: str
    node: str
    ready: bool
    ipv6: str | None = None  # the pod's IPv6 address in a dual-stack cluster (status.podIPs)

    @property
    def deployment(self) -> str:
        return self.app


def _is_ready(pod: Any) -> bool:
    conditions = getattr(pod.status, "conditions", None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _ipv6_of(status: Any) -> str | None:
    """The IPv6 address among a pod's ``status.podIPs`` (a dual-stack cluster lists one per family)."""
    for entry in getattr(status, "pod_ips", None) or []:
        address = getattr(entry, "ip", None) or ""
        if ":" in address:
            return str(address)
    return None


def pick_pod(app: str, pods: Iterable[Any]) -> LabPod | None:
    """The pod to probe from: running, not being deleted, with an IP; ready ones first."""
    candidates = []
    for pod in pods:
        status = pod.status
        if pod.metadata.deletion_timestamp is not None or status is None:
            continue
        if status.phase != "Running" or not status.pod_ip:
            continue
        candidates.append(
            LabPod(
                app=app,
                name=pod.metadata.name,
                namespace=pod.metadata.namespace,
                ip=status.pod_ip,
                node=(pod.spec.node_name if pod.spec else "") or "",
                ready=_is_ready(pod),
                ipv6=_ipv6_of(status),
            )
        )
    candidates.sort(key=lambda p: (not p.ready, p.name))
    return candidates[0] if candidates else None


def find_pod(clients: KubeClients, namespace: str, app: str) -> LabPod | None:
    """The running pod labelled ``app=<app>`` in ``namespace``, or None when there is none."""
    from kubernetes import client as k8s_client

    core = k8s_client.CoreV1Api(clients.api())
    try:
        listing = core.list_namespaced_pod(
            namespace, label_selector=f"app={app}", _request_timeout=API_TIMEOUT
        )
    except Exception as error:
        if getattr(error, "status", None) == 404:
            return None
        raise LabError(
            f"cannot list the pods of namespace {namespace} in context {clients.context} "
            f"({describe_api_error(error)}): {UP_HINT}",
            ExitStatus.MISSING_PREREQUISITE,
        ) from error
    return pick_pod(app, listing.items or [])


def list_lab_pods(clients: KubeClients, apps: Sequence[str]) -> dict[str, LabPod]:
    """One running pod per lab workload (namespace = app name), keyed by workload name.

    Raises a ``LabError`` naming the fix when a workload has no running pod.
    """
    found: dict[str, LabPod] = {}
    missing: list[str] = []
    for app in apps:
        pod = find_pod(clients, app, app)
        if pod is None:
            missing.append(app)
        else:
            found[app] = pod
    if missing:
        raise LabError(
            f"no running pod for {', '.join(missing)} in context {clients.context}: {UP_HINT} "
            "(or `netpol-lab status` to see what is wrong)",
            ExitStatus.MISSING_PREREQUISITE,
        )
    return found


def recent_events(clients: KubeClients, namespaces: Sequence[str], limit: int = 30) -> list[str]:
    """The latest events of the given namespaces as lines (for failure reports); errors become a line."""
    from kubernetes import client as k8s_client

    core = k8s_client.CoreV1Api(clients.api())
    rows: list[tuple[str, str]] = []
    for namespace in namespaces:
        try:
            events = core.list_namespaced_event(namespace, _request_timeout=API_TIMEOUT).items or []
        except Exception as error:
            rows.append(("", f"{namespace}: cannot list events ({describe_api_error(error)})"))
            continue
        for event in events:
            when = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
            obj = event.involved_object
            stamp = when.isoformat() if when is not None else ""
            rows.append(
                (
                    stamp,
                    f"{stamp} {namespace} {event.type} {event.reason} "
                    f"{obj.kind}/{obj.name}: {(event.message or '').strip()}",
                )
            )
    rows.sort(key=lambda row: row[0])
    return [line for _, line in rows[-limit:]]


# -- what the dataplane does with denied packets ----------------------------------------


@dataclass(frozen=True)
class DenyAction:
    """Drop or Reject, and where that was read (said with the probe results)."""

    action: str
    source: str


def read_deny_action(clients: KubeClients) -> DenyAction:
    """Felix's action for denied packets, from FelixConfiguration ``default``.

    Felix takes ``nftablesFilterDenyAction`` only when ``nftablesMode`` is Enabled, else
    ``iptablesFilterDenyAction`` (felix config; the operator writes nftablesMode Auto or Disabled);
    the eBPF dataplane always drops. Both default to Drop. Without Calico's CRDs (kindnet, plain)
    denied packets are dropped too (kube-network-policies drops)."""
    from kubernetes import client as k8s_client

    api = k8s_client.CustomObjectsApi(clients.api())
    try:
        felix = api.get_cluster_custom_object(
            "crd.projectcalico.org", "v1", "felixconfigurations", "default", _request_timeout=API_TIMEOUT
        )
    except Exception as error:
        if getattr(error, "status", None) == 404:
            return DenyAction("Drop", "no FelixConfiguration default: denied packets are dropped")
        return DenyAction(
            "Drop",
            f"could not read FelixConfiguration default ({describe_api_error(error)}): Drop assumed, so a "
            "refused connection counts as having got through",
        )
    spec = felix.get("spec") or {} if isinstance(felix, dict) else {}
    if spec.get("bpfEnabled"):
        return DenyAction("Drop", "FelixConfiguration default: the eBPF dataplane drops denied packets")
    field_name = (
        "nftablesFilterDenyAction" if spec.get("nftablesMode") == "Enabled" else "iptablesFilterDenyAction"
    )
    action = str(spec.get(field_name) or "Drop")
    return DenyAction(action, f"FelixConfiguration default: {field_name} {action}")


# -- exec ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecOutcome:
    """What one exec into a pod gave back.

    ``exit_code`` is None when the command's exit status is unknown (the exec failed, timed
    out or the stream closed without a status); ``error`` then says why. A failed exec is
    never a verdict on a network flow.
    """

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    seconds: float = 0.0


class Transport(Protocol):
    """Runs a command in a pod's container and reports the outcome; never raises for exec problems."""

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecOutcome: ...


def parse_exec_status(text: str) -> tuple[int | None, str]:
    """The exit code (or None and why) from the exec ERROR channel (channel 3).

    The API server sends a ``metav1.Status`` there: ``Success``; or ``Failure`` with reason
    ``NonZeroExitCode`` and a cause of reason ``ExitCode`` holding the code; or ``Failure``
    with only a message when the command could not start (e.g. executable not found).
    This mirrors how kubectl's remotecommand client reads it; an empty channel means the
    stream ended before the status came.
    """
    if not text.strip():
        return None, "no exit status received (the exec stream closed before the status frame)"
    try:
        status = json.loads(text)
    except ValueError:
        return None, f"unreadable exec status: {text.strip()[:200]}"
    if not isinstance(status, dict):
        return None, f"unreadable exec status: {text.strip()[:200]}"
    if status.get("status") == "Success":
        return 0, ""
    details = status.get("details") or {}
    if status.get("reason") == "NonZeroExitCode":
        for cause in details.get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message", "")), ""
                except ValueError:
                    break
    message = str(status.get("message") or "").strip() or text.strip()[:200]
    return None, f"the command did not run: {message}"


@dataclass
class WebsocketTransport:
    """Exec through the official client's websocket stream (``kubernetes.stream.stream``).

    Each call runs with this thread's ``ApiClient``. The stream is driven with
    ``run_forever(timeout=...)`` so a command that never ends cannot hang the probe, and the
    whole call runs in a short-lived thread that is abandoned (and its client discarded)
    when even the websocket handshake does not finish within ``timeout + grace``.
    """

    clients: KubeClients
    grace: float = EXEC_GRACE
    abandoned: list[str] = field(default_factory=list)

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecOutcome:
        started = time.monotonic()
        api = self.clients.api()
        box: list[ExecOutcome] = []

        def work() -> None:
            try:
                box.append(_websocket_exec(api, namespace, pod, container, argv, timeout))
            except Exception as error:  # a bug or an unexpected client error: still no verdict
                box.append(ExecOutcome(None, error=f"exec failed: {type(error).__name__}: {error}"))

        worker = threading.Thread(target=work, name=f"exec {namespace}/{pod}", daemon=True)
        worker.start()
        worker.join(timeout + self.grace)
        if worker.is_alive() or not box:
            self.clients.discard()  # the abandoned call still holds (and patches) that client
            self.abandoned.append(f"{namespace}/{pod}: {shlex.join(argv)}")
            return ExecOutcome(
                None,
                error=f"no answer from the API server within {timeout + self.grace:g} s",
                seconds=time.monotonic() - started,
            )
        outcome = box[0]
        return ExecOutcome(
            outcome.exit_code, outcome.stdout, outcome.stderr, outcome.error, time.monotonic() - started
        )


def _websocket_exec(
    api: Any, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
) -> ExecOutcome:
    """One exec over the websocket stream; the caller bounds the handshake."""
    from kubernetes import client as k8s_client
    from kubernetes.stream import stream
    from kubernetes.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL

    core = k8s_client.CoreV1Api(api)
    try:
        ws = stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=list(argv),
            container=container,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
    except Exception as error:  # ApiException(status=0) wraps handshake failures (404, 403, refused)
        return ExecOutcome(None, error=f"exec could not start: {describe_api_error(error)}")

    broken = ""
    try:
        if ws.sock is not None and ws.sock.sock is not None:
            ws.sock.sock.settimeout(timeout)  # a half-sent frame must not block a read forever
        ws.run_forever(timeout=timeout)
    except Exception as error:  # the server dropped the connection without a close frame
        broken = describe_api_error(error) or type(error).__name__
    finished = bool(broken) or not ws.is_open()

    channels: dict[int, str] = {}
    for channel in (STDOUT_CHANNEL, STDERR_CHANNEL, ERROR_CHANNEL):
        try:
            data = ws.read_channel(channel, timeout=0)
        except Exception:  # reading only drains buffers; a dead socket just has nothing more
            data = ""
        channels[channel] = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    stdout, stderr, status = channels[STDOUT_CHANNEL], channels[STDERR_CHANNEL], channels[ERROR_CHANNEL]

    with contextlib.suppress(Exception):  # already closed, or closing a hung stream: best effort
        ws.close(timeout=1)
    # When the server closed first, websocket-client's close() returns early and leaves the
    # TCP socket open until garbage collection (one leaked socket per probe, and a server
    # waiting for the client to hang up): close it now.
    with contextlib.suppress(Exception):
        if ws.sock is not None:
            ws.sock.shutdown()
    if not finished:
        return ExecOutcome(None, stdout, stderr, f"the command did not finish within {timeout:g} s")
    code, why = parse_exec_status(status)
    if code is None and broken and not status.strip():
        why = f"the exec stream broke before the exit status ({broken})"
    return ExecOutcome(code, stdout, stderr, why)
