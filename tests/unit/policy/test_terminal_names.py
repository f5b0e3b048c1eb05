"""Names from input reach the terminal as plain text: no Rich markup, no control characters.

A pod named `[/x]` used to crash `expect` (Rich read it as a closing tag), `[link=...]` hid a
hyperlink, and ESC or CR in a name reached the terminal raw (issue 10, item 13)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lab.cli import run
from lab.errors import ExitStatus
from lab.policy.model import InputError, printable, shown
from tests.fakes import captured_env, errors, output

HOSTILE = ["[/x]", "[link=http://evil]a[/link]", "\x1b[31mred", "a\rb", ":smile:", "\u202eevil", "\ud800"]
# What may not appear in plain output: C0 controls but newline, DEL, C1, bidi overrides, surrogates.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def pod(namespace: str, name: str, ip: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "x", **labels}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]},
        "status": {"podIP": ip},
    }


def state_file(tmp_path: Path) -> Path:
    pods = [pod("web", name, f"10.0.0.{i + 1}") for i, name in enumerate(HOSTILE)]
    pods.append(pod("[red]ns[/red]", "plain", "10.0.1.1", tier="\x1b[5mblink"))
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "\x1b[2Jwipe", "namespace": "web"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": "grpc"}]}]},  # warns: no such port
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"kind": "List", "items": [*pods, policy]}))
    return path


def assert_clean(text: str, *, tty: bool) -> None:
    if tty:  # Rich's own colours are SGR sequences; nothing else may be there, no hyperlink (OSC 8)
        text = re.sub("\x1b\\[[0-9;]*m", "", text)
    assert not RAW.search(text), repr(RAW.search(text))
    text.encode("utf-8")  # a lone surrogate cannot be written to a UTF-8 terminal


@pytest.mark.parametrize("tty", [False, True])
def test_expect_prints_hostile_names_as_text(tmp_path: Path, tty: bool) -> None:
    env = captured_env(tty=tty)
    assert run(["expect", "--state", str(state_file(tmp_path))], env) == ExitStatus.SUCCESS, errors(env)
    shown_text = output(env)
    assert_clean(shown_text, tty=tty)
    assert_clean(errors(env), tty=False)
    for name in ("web/[/x]", "web/[link=http://evil]a[/link]", "[red]ns[/red]/plain", ":smile:"):
        assert name in shown_text, name
    assert "\x1b]8;" not in shown_text  # no hyperlink
    assert "web/\\x1b[31mred" in shown_text and "web/a\\rb" in shown_text and "\\u202eevil" in shown_text
    assert "\\ud800" in shown_text
    assert "\\x1b[2Jwipe" in errors(env)  # the warning about the named port names the policy


def test_expect_json_escapes_names(tmp_path: Path) -> None:
    env = captured_env()
    assert (
        run(["expect", "--state", str(state_file(tmp_path)), "--output", "json-v1"], env)
        == ExitStatus.SUCCESS
    )
    assert_clean(output(env), tty=False)
    flows = json.loads(output(env))["flows"]
    assert {"web/\x1b[31mred", "web/[/x]"} <= {f["from"] for f in flows}  # the data stays exact
    env = captured_env()
    command = ["expect", "--state", str(state_file(tmp_path)), "--output", "json", "--explain"]
    assert run(command, env) == ExitStatus.SUCCESS
    assert_clean(output(env), tty=False)
    lines = [json.loads(line) for line in output(env).splitlines()]
    pods = {key for line in lines if line["kind"] == "group" for key in line["pods"]}
    assert {"web/\x1b[31mred", "web/[/x]"} <= pods


@pytest.mark.parametrize("tty", [False, True])
def test_explain_prints_hostile_names_as_text(tmp_path: Path, tty: bool) -> None:
    env = captured_env(tty=tty)
    path = str(state_file(tmp_path))
    assert run(["explain", "web/\x1b[31mred", "web/[/x]", "80", "--state", path], env) == ExitStatus.SUCCESS
    assert_clean(output(env), tty=False)
    assert "web/\\x1b[31mred -> web/[/x] on TCP 80" in output(env)
    assert "\\x1b[2Jwipe" in output(env)


def test_an_unknown_pod_argument_is_escaped(tmp_path: Path) -> None:
    env = captured_env()
    assert run(["explain", "web/\x1b[31mnope", "web/a", "80", "--state", str(state_file(tmp_path))], env) == 2
    assert_clean(errors(env), tty=False)
    assert "no pod web/\\x1b[31mnope" in errors(env)


def test_input_errors_escape_names(tmp_path: Path) -> None:
    bad = pod("web", "\x1b]8;;http://evil\x1b\\x", "10.0.0.1")
    bad["spec"]["containers"] = 1
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"kind": "List", "items": [bad]}))
    env = captured_env()
    assert run(["expect", "--state", str(path)], env) == ExitStatus.USAGE
    line = errors(env).strip()
    assert_clean(line, tty=False)
    assert "Pod web/\\x1b]8;;http://evil\\x1b\\x: spec.containers must be a list" in line


def test_printable_escapes_controls_and_keeps_the_rest() -> None:
    assert printable("a\x1b[31mb\rc\nd\te\x7f\x9b") == "a\\x1b[31mb\\rc\\nd\\te\\x7f\\x9b"
    assert printable("é [b] ² 漢 \u202e\u2028\ud800") == "é [b] ² 漢 \\u202e\\u2028\\ud800"
    assert str(InputError("x\x1by")) == "x\\x1by"


def test_shown_is_short_and_safe() -> None:
    assert shown(10**5000) == "<a huge-digit number>"
    assert shown(10**30) == "<a 31-digit number>"
    assert len(shown("x" * 10_000)) < 100
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert shown(deep) == "[[[...]]]"
    assert shown("\x1b") == "'\\x1b'"
