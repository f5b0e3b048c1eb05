"""Fuzz the state loader and `expect`/`explain` on it: any state file either loads, or is refused with
one error line and exit 2. Never an exception ("internal error"), never over 10 s, never raw control
characters on the terminal (issue 10, item 12).

The documents start from the lab's own manifests (every stage's policies, the four workloads,
CoreDNS, Services, a Tier, a ClusterNetworkPolicy), then get corrupted (``fuzzing.mutated``) and
written as JSON or YAML, sometimes with broken bytes. ``HYPOTHESIS_PROFILE=fuzz`` runs 10,000."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from lab.cli import run
from lab.env import project_root
from lab.errors import ExitStatus
from lab.policy.model import InputError
from lab.policy.state import load_state_file
from tests.fakes import captured_env, errors, output
from tests.unit.policy import fuzzing

RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _pod(namespace: str, name: str, ip: str, labels: dict[str, str], ports: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "main", "ports": ports}]},
        "status": {"podIP": ip, "phase": "Running"},
    }


def _service(namespace: str, name: str, port: int, target: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app": name},
            "clusterIP": "10.96.0.10",
            "ports": [{"port": port, "targetPort": target, "protocol": "TCP", "name": "p"}],
        },
    }


def _workloads() -> list[dict[str, Any]]:
    http = [{"containerPort": 80, "name": "http", "protocol": "TCP"}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"team": n}}}
        for n in ("frontend", "backend", "database", "untrusted")
    ] + [
        _pod("frontend", "frontend", "192.168.1.2", {"app": "frontend", "role": "frontend"}, http),
        _pod("backend", "backend", "192.168.2.2", {"app": "backend", "role": "backend"}, http),
        _pod(
            "database",
            "database",
            "192.168.1.3",
            {"app": "database"},
            [{"containerPort": 3306, "name": "mysql"}],
        ),
        _pod("untrusted", "untrusted", "192.168.2.3", {"app": "untrusted", "role": "frontend"}, http),
        _pod(
            "kube-system",
            "coredns-1",
            "192.168.0.2",
            {"k8s-app": "kube-dns"},
            [
                {"containerPort": 53, "protocol": "UDP", "name": "dns"},
                {"containerPort": 53, "name": "dns-tcp"},
            ],
        ),
        _service("backend", "backend", 80, "http"),
        _service("database", "database", 3306, 3306),
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Tier",
            "metadata": {"name": "security"},
            "spec": {"order": 50},
        },
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "admin"},
            "spec": {
                "tier": "Admin",
                "priority": 10,
                "subject": {"namespaces": {"matchLabels": {"team": "untrusted"}}},
                "egress": [
                    {
                        "action": "Deny",
                        "to": [{"networks": ["169.254.169.254/32"]}],
                        "protocols": [{"tcp": {"destinationPort": {"number": 80}}}],
                    }
                ],
            },
        },
    ]


def _stage_policies() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((project_root() / "stages").glob("*/*.yaml")):
        try:
            out.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
        except yaml.YAMLError:  # a stage being edited: not this test's business
            continue
    return out


WORKLOADS = _workloads()
POLICIES = _stage_policies()


@st.composite
def states(draw: Any) -> tuple[bytes, str]:
    """A state file's bytes and its suffix."""
    policies = draw(st.lists(st.sampled_from(POLICIES), max_size=6)) if POLICIES else []
    items = draw(st.lists(st.sampled_from(WORKLOADS), min_size=1, max_size=12, unique_by=id))
    if draw(st.booleans()):
        items = list(WORKLOADS)  # the lab's four workloads: expect draws the lab's matrix
    document: Any = {"apiVersion": "v1", "kind": "List", "items": [*items, *policies]}
    document = draw(fuzzing.mutated(document))
    yaml_text = draw(st.booleans())
    text = fuzzing.as_yaml(document) if yaml_text else fuzzing.as_json(document)
    data = (
        draw(fuzzing.broken_bytes(text, yaml_text))
        if draw(st.integers(0, 3)) == 0
        else text.encode("utf-8", "surrogatepass")
    )
    return data, ".yaml" if yaml_text else ".json"


def _clean(text: str) -> None:
    assert not RAW.search(text), f"raw control character on the terminal: {RAW.search(text)!r}"
    text.encode("utf-8")


def _command(argv: list[str]) -> ExitStatus:
    env = captured_env()
    status = run(argv, env)  # an exception here is what main() prints as "internal error"
    assert status in (ExitStatus.SUCCESS, ExitStatus.USAGE), (status, errors(env))
    _clean(output(env))
    _clean(errors(env))
    failures = [line for line in errors(env).splitlines() if line.startswith("error: ")]
    if status == ExitStatus.USAGE:
        assert len(failures) == 1, errors(env)
        assert "internal error" not in failures[0]
    return status


def check_state_file(data: bytes, suffix: str) -> bool:
    """Load and run the commands on one state file; whether it was refused."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"state{suffix}"
        path.write_bytes(data)
        try:
            state = load_state_file(path)
        except InputError as error:
            assert error.status == ExitStatus.USAGE
            assert "\n" not in error.message and error.message.startswith(str(path))
            assert len(error.message) < 1000, error.message[:300]
            _clean(error.message)
            fuzzing.note_message("state", error.message)
            assert _command(["expect", "--state", str(path)]) == ExitStatus.USAGE
            return True
        _command(["expect", "--state", str(path)])
        _command(["expect", "--state", str(path), "--output", "json"])
        pods = sorted(state.pods, key=lambda p: p.key)
        if pods:
            first, last = pods[0], pods[-1]
            port = str(last.ports[0].port) if last.ports else "80"
            _command(["explain", first.key, last.key, port, "--state", str(path)])
            _command(["explain", first.key, "169.254.169.254", "80/TCP", "--state", str(path)])
        return False


@fuzzing.fuzz_settings("state")
@given(states())
def test_any_state_file_loads_or_is_one_usage_line(case: tuple[bytes, str]) -> None:
    data, suffix = case
    fuzzing.timed("state", data[:200].decode("utf-8", "replace"), lambda: check_state_file(data, suffix))
