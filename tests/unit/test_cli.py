"""The entry point: a bare `netpol-lab` and misnamed options say what to type, in one line."""

from __future__ import annotations

from lab.cli import VERBS, run
from lab.errors import ExitStatus
from tests.fakes import captured_env, errors


def test_a_bare_command_names_the_commands_not_an_internal_argument() -> None:
    env = captured_env()
    assert run([], env) == ExitStatus.USAGE
    text = errors(env)
    assert "rest" not in text
    assert text.splitlines()[-1] == (
        f"error: name a command: {', '.join(VERBS)} (`netpol-lab --help` says what each does)"
    )
    assert "up, down, status, doctor, probe" in text


def test_a_bad_outside_address_names_outside() -> None:
    env = captured_env()
    assert run(["expect", "--outside", "1.1.1.1"], env) == ExitStatus.USAGE
    assert errors(env).splitlines()[-1] == (
        "error: --outside 1.1.1.1: write IP:PORT[/PROTO], for example 10.0.0.5:443/TCP"
    )
