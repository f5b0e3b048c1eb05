"""`netpol-lab mutants STAGE`: every mutant listed as caught or surviving, a probe or a mask for each
survivor, the same as JSON; a bad stage is one line."""

from __future__ import annotations

import json

from lab.cli import run as cli_run
from lab.errors import ExitStatus
from tests.fakes import captured_env, errors, output


def mutants(*argv: str) -> tuple[ExitStatus, str, str]:
    env = captured_env()
    status = cli_run(["mutants", *argv], env)
    return status, output(env), errors(env)


def test_seed_lists_each_mutant_as_caught_or_surviving_with_a_probe_or_its_mask() -> None:
    status, out, _ = mutants("seed")
    assert status == ExitStatus.SUCCESS
    lines = out.splitlines()
    assert lines[0].startswith("Mutants of stage 4 (")
    total = int(lines[0].rsplit("): ", 1)[1].split()[0])
    caught = sum(1 for line in lines if line.startswith("  ") and " becomes " in line)
    surviving = [
        line
        for line in lines
        if line.startswith("  ") and not line.startswith("      ") and " becomes " not in line
    ]
    assert caught + len(surviving) == total
    assert f"caught {caught}, surviving {len(surviving)}" in lines[1]
    assert (
        "  drop-namespace-selector NetworkPolicy backend/backend-from-frontend spec.ingress[0].from[0]: "
        "namespaceSelector dropped: frontend -> backend:80 ALLOW becomes DENY"
    ) in out
    assert "  and-split NetworkPolicy frontend/frontend-to-backend spec.egress[0].to[0]: " in out
    assert "      without NetworkPolicy frontend/default-deny, this probe would catch it: frontend -> " in out
    for name in ("and-split", "drop-namespace-selector", "udp-without-tcp", "label-typo", "port-off-by-one"):
        assert any(line.startswith(name) for line in lines), name  # the per-operator table


def test_json_holds_every_mutant() -> None:
    status, out, _ = mutants("5", "--output", "json")
    assert status == ExitStatus.SUCCESS
    report = json.loads(out)
    assert report["stage"] == 5
    node = next(m for m in report["mutants"] if m["change"] == "except 172.16.0.0/12 missing")
    assert node["caught"] is False and node["equivalent"] is False
    assert node["proposal"] == {
        "from": "backend",
        "to": "172.16.0.1:80",
        "expected": "DENY",
        "mutant": "ALLOW",
        "needs": "an address in 172.16.0.0/12 that answers on 80",
    }
    assert all(m["caught"] == bool(m["caught_by"]) for m in report["mutants"])


def test_an_unknown_stage_is_one_line() -> None:
    status, _, err = mutants("9")
    assert status == ExitStatus.USAGE
    assert err.strip().splitlines() == ["error: no stage '9': choose one of 0, 1, 2, 3, 4, 5, 6, 7 or seed"]
