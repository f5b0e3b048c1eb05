"""Which tier decided each flow: the evaluator's expectation carries it, the saved result keeps it,
and the HTML report shows it on the arrows and in the denied flows."""

from __future__ import annotations

import json
from dataclasses import replace

from lab.env import project_root
from lab.matrix import Matrix
from lab.report.html import render_html
from lab.report.json_report import probe_result_from_dict, to_dict
from lab.result import ProbeResult
from lab.workshop.lab_matrix import expected_lab_matrix
from lab.workshop.lab_state import load_stage_state
from tests.unit.report.dom import parse
from tests.unit.report.samples import PROBED_AT


def computed(stage: str) -> Matrix:
    return expected_lab_matrix(load_stage_state(project_root(), stage))


def result_of(stage: str) -> ProbeResult:
    expected = computed(stage)
    return ProbeResult(
        observed=expected, expected=expected, context="kind-netpol-lab", stage=stage, probed_at=PROBED_AT
    )


def test_the_evaluator_names_the_tier_that_decided_each_cell_of_stage_7() -> None:
    matrix = computed("7")
    assert matrix.get("untrusted", "backend:80").tier == "kube-baseline"  # the Baseline default deny
    assert matrix.get("backend", "metadata").tier == "kube-admin"  # the Admin guardrail
    assert matrix.get("frontend", "backend:80").tier == "default"  # NetworkPolicies allow it
    # stage 6: Calico's GlobalNetworkPolicies sit in the default tier with the NetworkPolicies
    assert computed("6").get("backend", "metadata").tier == "default"


def test_without_tiers_no_tier_is_named() -> None:
    matrix = computed("4")
    assert {matrix.get(r, c).tier for r in matrix.rows for c in matrix.columns} == {""}


def test_a_saved_result_keeps_the_tiers() -> None:
    result = result_of("7")
    loaded = probe_result_from_dict(json.loads(json.dumps(to_dict(result))))
    assert loaded.expected is not None
    assert loaded.expected.get("untrusted", "backend:80").tier == "kube-baseline"


def test_the_page_shows_which_tier_decided() -> None:
    doc = parse(render_html([result_of("7")], generated_at=PROBED_AT))
    rows = {
        (tr.attrs["data-row"], tr.attrs["data-column"]): tr
        for tr in doc.find_all("tr")
        if "data-row" in tr.attrs
    }
    assert rows[("untrusted", "backend:80")].find_all("td", class_="tier")[0].text == "kube-baseline"
    assert rows[("backend", "metadata")].find_all("td", class_="tier")[0].text == "kube-admin"
    arrows = [g for g in doc.find_all("g") if "flow" in g.attrs.get("class", "").split()]
    frontend = [g for g in arrows if (g.attrs["data-from"], g.attrs["data-to"]) == ("frontend", "backend")]
    assert frontend and frontend[0].attrs["data-tier"] == "default"
    assert "decided in tier default" in frontend[0].find_all("title")[0].text


def test_a_hand_written_table_draws_no_tier() -> None:
    result = result_of("7")
    plain = Matrix(title="table")
    for row in result.observed.rows:
        for column in result.observed.columns:
            plain.set(row, column, replace(result.observed.get(row, column), tier="", reason=""))
    doc = parse(render_html([replace(result, expected=plain, observed=plain)], generated_at=PROBED_AT))
    assert not any("data-tier" in g.attrs for g in doc.find_all("g"))


def test_a_name_a_tier_keeps_from_resolving_names_that_tier() -> None:
    from lab.workshop.check import extend_state

    no_dns = {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "frontend-no-egress"},
        "spec": {
            "tier": "Admin",
            "priority": 5,
            "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "frontend"}}},
            "egress": [{"name": "nothing", "action": "Deny", "to": [{"namespaces": {}}]}],
        },
    }
    state = extend_state(load_stage_state(project_root(), "7"), [no_dns], source="test")
    cell = expected_lab_matrix(state).get("frontend", "svc/backend:80")
    assert cell.verdict.value == "DNS-FAIL"
    assert cell.tier == "kube-admin"


def test_an_arrow_names_each_tier_once_and_only_where_the_probe_agreed() -> None:
    from lab.matrix import Cell, Verdict

    result = result_of("7")
    expected = result.expected
    assert expected is not None
    both = replace(expected.get("frontend", "backend:80"), tier="kube-admin + default")
    expected.set("frontend", "backend:80", both)
    # observed allows what the evaluator denies: the arrow is a mismatch and names no tier
    observed = Matrix(title="observed")
    for row in expected.rows:
        for column in expected.columns:
            observed.set(row, column, expected.get(row, column))
    observed.set("untrusted", "backend:80", Cell(Verdict.ALLOW, "connected", 1))
    doc = parse(render_html([replace(result, observed=observed)], generated_at=PROBED_AT))
    arrows = {
        (g.attrs["data-from"], g.attrs["data-to"], g.attrs["data-kind"]): g
        for g in doc.find_all("g")
        if "flow" in g.attrs.get("class", "").split()
    }
    allowed = arrows[("frontend", "backend", "allowed")]
    assert allowed.attrs["data-tier"] == "kube-admin default"  # svc/backend:80 said default again
    assert "decided in tier kube-admin and default" in allowed.find_all("title")[0].text
    wrong = [g for (src, dst, kind), g in arrows.items() if (src, dst) == ("untrusted", "backend")]
    assert wrong and all("data-tier" not in g.attrs for g in wrong)
