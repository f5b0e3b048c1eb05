"""Near-miss mutants of a stage's policies: each operator, caught or surviving, a probe for survivors,
the equivalent ones with the policy that masks them, and the stage READMEs naming the survivors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from lab.env import project_root
from lab.matrix import Verdict
from lab.workshop.mutants import OPERATORS, MutantResult, generate, run_mutants
from lab.workshop.stages import cumulative_documents, load_stages

ROOT = project_root()
STAGES = load_stages(ROOT)
SEED = run_mutants(ROOT, "seed")


def by_name(results: list[MutantResult], operator: str, policy: str, where: str = "") -> MutantResult:
    found = [r for r in results if r.mutant.operator == operator and r.mutant.policy == policy]
    found = [r for r in found if r.mutant.where.startswith(where)]
    assert found, f"no {operator} of {policy} {where}"
    return found[0]


def test_the_seed_gets_every_kind_of_near_miss_but_a_missing_except() -> None:
    operators = {r.mutant.operator for r in SEED.results}
    assert operators == set(OPERATORS) - {"missing-except"}  # no ipBlock before stage 5
    assert SEED.judged_cells == sum(1 for _, _, c in STAGES[4].expect if c.verdict != Verdict.NOT_JUDGED)


def test_a_dropped_namespace_selector_is_caught_by_the_cell_it_changes() -> None:
    result = by_name(SEED.results, "drop-namespace-selector", "NetworkPolicy backend/backend-from-frontend")
    assert ("frontend", "backend:80", Verdict.ALLOW, Verdict.DENY) in result.caught_by


def test_an_and_split_masked_by_the_other_side_is_equivalent_and_names_the_mask() -> None:
    result = by_name(SEED.results, "and-split", "NetworkPolicy frontend/frontend-to-backend")
    assert not result.caught and result.proposal is None
    assert result.masked_by == "NetworkPolicy frontend/default-deny"
    assert result.unmasked is not None
    assert result.unmasked.source == "frontend"
    assert "like backend" in result.unmasked.target and result.unmasked.target.endswith(":80")
    assert (result.unmasked.expected, result.unmasked.mutant) == (Verdict.DENY, Verdict.ALLOW)


def test_an_and_split_dns_peer_is_caught_by_a_pod_the_lab_does_not_run() -> None:
    result = by_name(SEED.results, "and-split", "NetworkPolicy frontend/allow-dns-egress")
    assert not result.caught and result.proposal is not None
    assert result.proposal.source == "frontend"
    assert result.proposal.target == "[a new pod without labels in namespace kube-system]:53"
    assert result.proposal.needs == "a new pod without labels in namespace kube-system"


def test_mutants_that_mean_the_same_are_not_generated() -> None:
    # backend-from-frontend says policyTypes [Ingress], which is also what the API server defaults to
    assert not [
        r
        for r in SEED.results
        if r.mutant.operator == "policy-types-dropped" and r.mutant.policy.endswith("backend-from-frontend")
    ]


def test_a_survivor_gets_a_probe_that_would_catch_it() -> None:
    report = run_mutants(ROOT, "5")
    result = by_name(
        report.results, "missing-except", "NetworkPolicy backend/backend-to-outside", "spec.egress[0]"
    )
    node_range = next(r for r in report.results if r.mutant.change == "except 172.16.0.0/12 missing")
    assert not node_range.caught and node_range.proposal is not None
    assert node_range.proposal.source == "backend"
    assert node_range.proposal.target == "172.16.0.1:80"
    assert (node_range.proposal.expected, node_range.proposal.mutant) == (Verdict.DENY, Verdict.ALLOW)
    assert "172.16.0.0/12" in node_range.proposal.needs
    metadata = next(r for r in report.results if r.mutant.change == "except 169.254.169.254/32 missing")
    assert ("backend", "metadata", Verdict.DENY, Verdict.ALLOW) in metadata.caught_by
    services = next(r for r in report.results if r.mutant.change == "except 10.96.0.0/16 missing")
    assert services.proposal is None  # policies never see a Service address
    assert result.mutant.documents  # the whole stage, one policy changed


def test_udp_without_tcp_survives_a_table_without_a_tcp_dns_cell_and_gets_that_probe(tmp_path: Path) -> None:
    """A lab folder whose stage 2 table has no dns/tcp column: dropping TCP 53 then survives."""
    for name in ("manifests",):
        os.symlink(ROOT / name, tmp_path / name)
    for stage in STAGES[:3]:
        shutil.copytree(stage.path, tmp_path / "stages" / stage.path.name)
    table = tmp_path / "stages" / STAGES[2].path.name / "expect.txt"
    table.write_text("from \\ to  dns\nfrontend   ALLOW\nbackend    ALLOW\n", encoding="utf-8")
    policies = tmp_path / "stages" / STAGES[2].path.name / "allow-dns-egress.yaml"
    documents = [d for d in yaml.safe_load_all(policies.read_text()) if d]
    for document in documents:  # every namespace allows UDP and TCP 53 here
        document["spec"]["egress"][0]["ports"] = [
            {"protocol": "UDP", "port": 53},
            {"protocol": "TCP", "port": 53},
        ]
    policies.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    report = run_mutants(tmp_path, "2")
    result = by_name(report.results, "udp-without-tcp", "NetworkPolicy frontend/allow-dns-egress")
    assert not result.caught
    assert result.proposal is not None
    assert (result.proposal.source, result.proposal.target) == ("frontend", "kube-system/coredns:53")
    assert (result.proposal.expected, result.proposal.mutant) == (Verdict.ALLOW, Verdict.DENY)
    assert result.proposal.needs == ""  # the lab's own pods suffice: a new cell of the table


def test_each_operator_changes_exactly_what_it_says() -> None:
    documents = cumulative_documents(STAGES, 5)
    mutants = generate(documents)
    for mutant in mutants:
        changed = [i for i, (a, b) in enumerate(zip(documents, mutant.documents, strict=True)) if a != b]
        assert changed == [mutant.index], mutant.name
    split = next(m for m in mutants if m.operator == "and-split")
    peers = split.documents[split.index]["spec"]["ingress" if "ingress" in split.where else "egress"][0]
    entries = peers.get("from") or peers.get("to")
    assert [sorted(p) for p in entries] == [["namespaceSelector"], ["podSelector"]]
    bump = next(m for m in mutants if m.operator == "port-off-by-one" and "backend-from-frontend" in m.policy)
    assert bump.documents[bump.index]["spec"]["ingress"][0]["ports"][0]["port"] == 81
    typo = next(
        m for m in mutants if m.operator == "label-typo" and m.where.endswith("podSelector.matchLabels.role")
    )
    assert "'frontend' -> 'frontedn'" in typo.change or "'backend' -> 'backedn'" in typo.change


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_each_stage_readme_names_the_mutants_its_table_lets_survive(stage: object) -> None:
    """Every surviving operator is named; a survivor with a probe also by its policy (the equivalent
    ones may be summed up)."""
    from lab.workshop.stages import Stage

    assert isinstance(stage, Stage)
    heading = "## Near misses this stage's table does not catch"
    assert heading in stage.text
    section = stage.text.split(heading, 1)[1].split("\n## ", 1)[0]
    report = run_mutants(ROOT, str(stage.number))
    for result in report.survivors:
        short = result.mutant.policy.split(" ", 1)[1]
        named = f"`{result.mutant.operator}`" in section and (result.proposal is None or short in section)
        assert named, (
            f"{stage.path.name}/README.md does not name {result.mutant.name}: run `netpol-lab mutants "
            f"{stage.number}` and update its section"
        )
