"""The fake ``kind`` and ``docker`` executables of the model world (run as ``python fake_tool.py TOOL ARGS``).

They speak kind v0.32.0's and the Docker CLI's command lines and output conventions (kind's
progress and errors on stderr, ``ERROR: ...`` with exit 1; ``No kind clusters found.``) and
act on the model cluster named by NETPOL_MODEL_URL: ``kind create cluster`` makes the nodes
there and writes the kubeconfig context ``kind-<name>`` pointing at the model, as kind writes
its own. Every call is appended to NETPOL_MODEL_TOOL_LOG as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

KIND_VERSION = "kind v0.32.0 go1.24.5 linux/amd64"
NO_DAEMON = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
)


def control(path: str, body: Any = None) -> Any:
    url = os.environ["NETPOL_MODEL_URL"].rstrip("/") + "/_model/" + path
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read() or b"{}")
        raise SystemExit(_fail(payload.get("message", str(error)))) from None


def _fail(message: str) -> int:
    sys.stderr.write(message if message.startswith("ERROR") else f"ERROR: {message}")
    sys.stderr.write("\n")
    return 1


def _option(args: list[str], name: str, default: str | None = None) -> str | None:
    for position, arg in enumerate(args):
        if arg == name and position + 1 < len(args):
            return args[position + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def _kubeconfig_path(args: list[str]) -> Path:
    explicit = _option(args, "--kubeconfig")
    if explicit:
        return Path(explicit)
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path(os.environ.get("HOME", "~")).expanduser() / ".kube" / "config"


def _write_context(path: Path, name: str) -> None:
    config: dict[str, Any] = {}
    if path.exists():
        config = yaml.safe_load(path.read_text()) or {}
    context = f"kind-{name}"
    server = os.environ["NETPOL_MODEL_URL"]
    for section, entry in (
        ("clusters", {"name": context, "cluster": {"server": server}}),
        ("users", {"name": context, "user": {"token": "model"}}),
        ("contexts", {"name": context, "context": {"cluster": context, "user": context}}),
    ):
        items = [i for i in config.get(section) or [] if i.get("name") != context]
        config[section] = [*items, entry]
    config.update({"apiVersion": "v1", "kind": "Config", "current-context": context})
    config.setdefault("preferences", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))


def _remove_context(path: Path, name: str) -> None:
    if not path.exists():
        return
    config = yaml.safe_load(path.read_text()) or {}
    context = f"kind-{name}"
    for section in ("clusters", "users", "contexts"):
        config[section] = [i for i in config.get(section) or [] if i.get("name") != context]
    if config.get("current-context") == context:
        config["current-context"] = ""
    path.write_text(yaml.safe_dump(config))


def kind(args: list[str]) -> int:
    name = _option(args, "--name") or os.environ.get("KIND_CLUSTER_NAME") or "kind"
    if args[:1] == ["version"]:
        print(KIND_VERSION)
        return 0
    state = control("kind/clusters")
    if not state["docker"]:
        return _fail(
            'failed to list clusters: command "docker ps -a --filter label=io.x-k8s.kind.cluster --format '
            '\'{{.Label "io.x-k8s.kind.cluster"}}\'" failed with error: exit status 1'
        )
    if args[:2] == ["get", "clusters"]:
        if not state["clusters"]:
            sys.stderr.write("No kind clusters found.\n")
        for cluster in state["clusters"]:
            print(cluster)
        return 0
    if args[:2] == ["get", "nodes"]:
        return 0
    if args[:2] == ["create", "cluster"]:
        config_path = _option(args, "--config")
        config = yaml.safe_load(Path(config_path).read_text()) if config_path else {}
        name = _option(args, "--name") or os.environ.get("KIND_CLUSTER_NAME") or config.get("name") or "kind"
        if name in state["clusters"]:
            return _fail(
                f'failed to create cluster: node(s) already exist for a cluster with the name "{name}"'
            )
        sys.stderr.write(f'Creating cluster "{name}" ...\n ✓ Ensuring node image\n ✓ Preparing nodes\n')
        control("kind/create", {"name": name, "config": config})
        _write_context(_kubeconfig_path(args), name)
        sys.stderr.write(f'Set kubectl context to "kind-{name}"\n')
        return 0
    if args[:2] == ["delete", "cluster"]:
        sys.stderr.write(f'Deleting cluster "{name}" ...\n')
        if name in state["clusters"]:
            control("kind/delete", {"name": name})
            _remove_context(_kubeconfig_path(args), name)
        return 0
    if args[:2] == ["export", "kubeconfig"]:
        if name not in state["clusters"]:
            return _fail(
                f"could not locate any control plane nodes for cluster named '{name}'. "
                "Use the --name option to select a different cluster"
            )
        _write_context(_kubeconfig_path(args), name)
        sys.stderr.write(f'Set kubectl context to "kind-{name}"\n')
        return 0
    if args[:2] == ["export", "logs"]:
        folder = args[2] if len(args) > 2 and not args[2].startswith("-") else f"/tmp/{name}-logs"
        Path(folder).mkdir(parents=True, exist_ok=True)
        sys.stderr.write(f'Exporting logs for cluster "{name}" to:\n')
        print(folder)
        return 0
    if args[:2] == ["load", "docker-image"]:
        images = [a for a in args[2:] if not a.startswith("-") and a != name]
        control("kind/load", {"images": images})
        return 0
    return _fail(f'unknown command {" ".join(args)!r} for "kind"')


def docker(args: list[str]) -> int:
    info = control("docker/info")
    if args[:1] == ["info"]:
        if not info["running"]:
            print(json.dumps({"ServerVersion": "", "ServerErrors": ["Cannot connect to the Docker daemon"]}))
            sys.stderr.write(NO_DAEMON)
            return 1
        print(
            json.dumps(
                {
                    "ServerVersion": "28.2.2",
                    "MemTotal": info["memory"],
                    "OSType": "linux",
                    "Architecture": "x86_64",
                    "CgroupVersion": info["cgroup"],
                    "CgroupDriver": "systemd",
                }
            )
        )
        return 0
    if not info["running"]:
        sys.stderr.write(NO_DAEMON)
        return 1
    if args[:1] == ["exec"]:
        rest = [a for a in args[1:]]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        answer = control("docker/exec", {"container": rest[0], "argv": rest[1:], "stdin": None})
        sys.stdout.write(answer["stdout"])
        sys.stderr.write(answer["stderr"])
        return int(answer["exit"])
    if args[:2] == ["image", "ls"]:
        for ref, digest in control("docker/images")["images"].items():
            repository, _, tag = ref.partition("@")[0].rpartition(":")
            print(json.dumps({"Repository": repository, "Tag": tag, "Digest": digest, "ID": digest[:19]}))
        return 0
    if args[:1] == ["version"]:
        print("linux/amd64")
        return 0
    return 0


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    log = os.environ.get("NETPOL_MODEL_TOOL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as stream:
            stream.write(json.dumps([tool, *args]) + "\n")
    return kind(args) if tool == "kind" else docker(args)


if __name__ == "__main__":
    sys.exit(main())
