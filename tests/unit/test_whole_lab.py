"""The whole lab as a user runs it, offline: `up`, `up` again, every stage, the probes, the report, `down`.

Everything runs its real code path: the lab's runner starts fake `kind` and `docker` (which make
the nodes in the model cluster) and the machine's real `kubectl`; the probes exec through the
official Python client's websocket into the model. The dataplane answers from the stages'
hand-written tables, so `probe --stage N` compares the tables with what the model's dataplane does
and `probe --expect computed` compares the evaluator, run on the cluster's live objects (the Tigera
operator's own tier and policies included), with those tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import cli
from lab.errors import ExitStatus
from lab.lifecycle import build, waits
from tests.fakes import errors, output
from tests.model.world import LabWorld

LAB_KINDS = (("", "namespaces"), ("apps", "deployments"), ("", "services"), ("apps", "daemonsets"))


@pytest.fixture(autouse=True)
def quick_enforcement_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "ENFORCEMENT_INTERVAL", 0.1)


def run(world: LabWorld, *argv: str) -> tuple[ExitStatus, str, str]:
    env = world.environment()
    status = cli.run(list(argv), env)
    return status, output(env), errors(env)


def lab_versions(world: LabWorld) -> dict[str, str]:
    """resourceVersion of every object the lab deploys (they change on any write)."""
    out = {}
    for group, plural in LAB_KINDS:
        for obj in world.objects(group, plural):
            labels = obj["metadata"].get("labels") or {}
            if labels.get("app.kubernetes.io/part-of") == "netpol-lab":
                key = f"{plural}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
                out[key] = obj["metadata"]["resourceVersion"]
    return out


def canaries(world: LabWorld) -> list[str]:
    return [
        line for line in world.cluster.request_log if "netpol-lab-enforcement-" in line and "PATCH" in line
    ]


@pytest.mark.parametrize("cni", ["calico", "kindnet", "plain"])
def test_the_whole_lab_as_a_user_runs_it(model_world: LabWorld, cni: str, tmp_path: Path) -> None:
    status, out, err = run(model_world, "up", "--cni", cni)
    assert status == ExitStatus.SUCCESS, err
    assert "The lab is ready" in out
    if cni == "plain":
        assert "NetworkPolicy is NOT enforced in this lab" in out

    before, checks = lab_versions(model_world), len(canaries(model_world))
    status, out, err = run(model_world, "up", "--cni", cni)
    assert status == ExitStatus.SUCCESS, err
    assert "exists and matches: not recreated" in out
    assert lab_versions(model_world) == before  # nothing changed
    assert len(canaries(model_world)) == checks  # and no second canary: the verdict was recorded

    for number in range(8):
        # `stage apply` applies, then probes against the stage's table, as a participant runs it; on the
        # plain network every cell disagrees, so probe once without the retries that wait for a CNI
        retry = ["--retry-for", "0"] if cni == "plain" else []
        staged, out, err = run(model_world, "stage", "apply", str(number), *(["--no-probe"] if retry else []))
        if cni != "calico" and number == 6:  # Calico's own kinds: refused before anything changes
            assert staged == ExitStatus.MISSING_PREREQUISITE, out + err
            assert err.strip().splitlines() == [
                f"error: stage 6 uses Calico's own policy kinds (GlobalNetworkPolicy), which a {cni} lab "
                "does not serve: nothing was changed; build the lab with Calico (`make lab-down && "
                "make lab-up`) or take stage 7, the same guardrails in ClusterNetworkPolicy"
            ]
            assert "apply" not in out
            continue
        if cni == "kindnet" and number == 7:  # stored, said before applying, and the probe shows it
            assert "are stored and NOT enforced on this lab" in err
            crds = model_world.names("apiextensions.k8s.io", "customresourcedefinitions")
            assert crds.count("clusternetworkpolicies.policy.networking.k8s.io") == 1
            assert staged == ExitStatus.MISMATCH, out + err
            # what kindnet lets through: the impostor reaches the outside and the metadata address
            assert "untrusted" in out and "metadata" in out
            # what the evaluator predicts for kindnet (it reads the lab's CNI from its nodes) holds
            computed = run(model_world, "probe", "--expect", "computed")
            assert computed[0] == ExitStatus.SUCCESS, computed[1] + computed[2]
            assert "note: this lab runs kindnet (its nodes say so)" in computed[2]
            assert "2 ClusterNetworkPolicies in the state are stored and not enforced there" in computed[2]
            continue
        if retry:
            staged, out, err = run(model_world, "probe", "--stage", str(number), *retry)
        computed = run(model_world, "probe", "--expect", "computed", *retry)
        if cni == "plain" and number > 0:  # the trap: the tables say DENY, the plain network lets all through
            assert staged == ExitStatus.MISMATCH
            # while the evaluator, reading the lab's CNI from its nodes, predicts exactly that
            assert computed[0] == ExitStatus.SUCCESS, computed[1] + computed[2]
            assert "note: this lab runs plain (its nodes say so)" in computed[2]
            continue
        assert staged == ExitStatus.SUCCESS, out + err
        assert computed[0] == ExitStatus.SUCCESS, computed[1] + computed[2]
        assert "43 of 43 judged cells match" in computed[1]  # 4 rows x 13 columns, 9 self cells

    reports = tmp_path / "reports"
    assert run(model_world, "stage", "apply", "seed", "--no-probe")[0] == ExitStatus.SUCCESS
    probe_status, _, err = run(
        model_world, "probe", "--stage", "seed", "--save", str(reports), "--retry-for", "0"
    )
    assert probe_status == (ExitStatus.MISMATCH if cni == "plain" else ExitStatus.SUCCESS)
    saved = next(line.split(" ", 1)[1] for line in err.splitlines() if line.startswith("saved "))
    page = tmp_path / "report.html"
    status, out, err = run(model_world, "report", "--html", str(page), "--result", saved)
    assert status == ExitStatus.SUCCESS, err
    assert "<svg" in page.read_text()

    status, out, err = run(model_world, "down")
    assert status == ExitStatus.SUCCESS, err
    assert model_world.cluster.kind is None
    assert "kind-netpol-lab" not in model_world.kubeconfig.read_text()


@pytest.fixture(scope="module")
def calico_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    """One Calico lab, built once with `up`, for the tests below (each leaves it as it found it)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(waits, "POLL_INTERVAL", 0.1)
    patch.setattr(build, "ENFORCEMENT_INTERVAL", 0.1)
    world = LabWorld(tmp_path_factory.mktemp("calico-lab"))
    try:
        status, _, err = run(world, "up")
        assert status == ExitStatus.SUCCESS, err
        yield world
    finally:
        world.close()
        patch.undo()


def test_the_computed_expectation_holds_with_the_operators_tiers(calico_lab: LabWorld) -> None:
    # The Tigera operator always reconciles tier calico-system (order 100) and its policies, e.g.
    # kube-system/calico-system.cluster-dns; `probe --expect computed` used to refuse every tier but default.
    model_world = calico_lab
    tiers = model_world.names("crd.projectcalico.org", "tiers")
    assert "calico-system" in tiers
    assert "calico-system.cluster-dns" in model_world.names(
        "crd.projectcalico.org", "networkpolicies", "kube-system"
    )
    assert run(model_world, "stage", "apply", "seed", "--no-probe")[0] == ExitStatus.SUCCESS
    status, out, err = run(model_world, "probe", "--expect", "computed")
    assert status == ExitStatus.SUCCESS, out + err
    coredns = "kube-system/" + next(
        p for p in model_world.names("", "pods", "kube-system") if p.startswith("coredns")
    )
    status, out, err = run(model_world, "explain", "--from-cluster", coredns, "frontend/frontend", "80")
    assert status == ExitStatus.SUCCESS, err
    # the first line says which cluster was read: the lab's context by default, and its server
    server = model_world.cluster.url
    assert err.splitlines()[0] == (
        f"reading the cluster of context kind-netpol-lab (server {server}); "
        "--context NAME reads another cluster"
    )
    assert "tier calico-system" in out  # the operator's policy egress for CoreDNS decides first


def test_stage_7s_cluster_network_policies_are_read_back_and_explained(calico_lab: LabWorld) -> None:
    model_world = calico_lab
    assert run(model_world, "stage", "apply", "7", "--no-probe")[0] == ExitStatus.SUCCESS
    assert sorted(model_world.names("policy.networking.k8s.io", "clusternetworkpolicies")) == [
        "netpol-lab-baseline-deny",
        "netpol-lab-deny-metadata",
    ]
    guardrails = model_world.names("crd.projectcalico.org", "globalnetworkpolicies")
    assert "netpol-lab-default-deny" not in guardrails
    status, out, err = run(model_world, "probe", "--expect", "computed")
    assert status == ExitStatus.SUCCESS, out + err
    status, out, err = run(
        model_world, "explain", "--from-cluster", "untrusted/untrusted", "backend/backend", "80"
    )
    assert status == ExitStatus.SUCCESS, err
    assert "ClusterNetworkPolicy's Baseline tier" in out, out
    assert "=> DENY by ClusterNetworkPolicy netpol-lab-baseline-deny (priority 10), rule #2" in out
    # the main path to the page: probe --stage 7 --save, then report; the page names the tier
    reports = model_world.root / "reports-7"
    status, _, err = run(model_world, "probe", "--stage", "7", "--save", str(reports))
    assert status == ExitStatus.SUCCESS, err
    saved = next(line.split(" ", 1)[1] for line in err.splitlines() if line.startswith("saved "))
    page = model_world.root / "report-7.html"
    assert run(model_world, "report", "--html", str(page), "--result", saved)[0] == ExitStatus.SUCCESS
    text = page.read_text()
    row = text[text.index('<tr data-row="untrusted" data-column="backend:80">') :]
    assert '<td class="tier">kube-baseline</td>' in row[: row.index("</tr>")]
    assert 'data-tier="default"' in text  # frontend -> backend, allowed by NetworkPolicies
    # back to stage 6: the ClusterNetworkPolicies go, Calico's guardrails return
    assert run(model_world, "stage", "apply", "6", "--no-probe")[0] == ExitStatus.SUCCESS
    assert model_world.names("policy.networking.k8s.io", "clusternetworkpolicies") == []
    assert "netpol-lab-default-deny" in model_world.names("crd.projectcalico.org", "globalnetworkpolicies")


@pytest.mark.parametrize(
    ("cni", "line"),
    [
        ("calico", "this cluster enforces ClusterNetworkPolicy: an Admin-tier Deny blocked the canary"),
        ("kindnet", "this cluster does NOT enforce ClusterNetworkPolicy: the canary still answered"),
    ],
)
def test_doctor_enforcement_tests_cluster_network_policy_too(
    model_world: LabWorld, cni: str, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lab.commands import doctor

    monkeypatch.setattr(doctor, "ENFORCEMENT_INTERVAL", 0.05)
    assert run(model_world, "up", "--cni", cni, "--skip-enforcement-check")[0] == ExitStatus.SUCCESS
    status, out, err = run(model_world, "doctor", "--enforcement")
    assert status == ExitStatus.SUCCESS, out + err  # the exit status is NetworkPolicy's
    assert "this cluster enforces NetworkPolicy" in out
    assert line in out, out
    # the cluster-scoped canary policy is gone, the canary's namespace is on its way out
    assert model_world.names("policy.networking.k8s.io", "clusternetworkpolicies") == []


def set_deny_action(world: LabWorld, action: str) -> None:
    patch = json.dumps({"spec": {"iptablesFilterDenyAction": action}})
    world.kubectl(
        "patch", "felixconfigurations.crd.projectcalico.org", "default", "--type=merge", "-p", patch
    )


def test_a_reject_deny_action_is_read_and_refusals_become_denials(calico_lab: LabWorld) -> None:
    model_world = calico_lab
    assert run(model_world, "stage", "apply", "seed", "--no-probe")[0] == ExitStatus.SUCCESS
    set_deny_action(model_world, "Reject")
    try:
        status, out, err = run(model_world, "probe", "--stage", "seed", "--output", "json")
        assert status == ExitStatus.SUCCESS, err
        result = json.loads(out)
        assert result["deny_action"] == "Reject"
        for row, column in (("untrusted", "backend:80"), ("frontend", "outside")):  # a pod, and the outside
            cell = next(c for c in result["cells"] if (c["from"], c["to"]) == (row, column))
            assert cell["observed"]["verdict"] == "DENY"
            assert "Reject" in cell["observed"]["reason"]
        status, out, _ = run(model_world, "probe", "--stage", "seed")
        assert "denied packets: Reject (FelixConfiguration default: iptablesFilterDenyAction Reject)" in out
    finally:
        set_deny_action(model_world, "Drop")


def test_a_namespace_deleted_halfway_is_waited_for_and_rebuilt(calico_lab: LabWorld) -> None:
    model_world = calico_lab
    model_world.world.namespace_delay = 1.5  # the namespace controller takes its time
    model_world.kubectl("delete", "namespace", "backend", "--wait=false")
    status, out, err = run(model_world, "up")
    assert status == ExitStatus.SUCCESS, err
    assert "no lab namespace being deleted" in out
    assert model_world.names("apps", "deployments", "backend") == ["backend"]


def test_a_slow_operator_is_waited_for(model_world: LabWorld) -> None:
    model_world.world.operator_delay = 3.0
    status, out, err = run(model_world, "up")
    assert status == ExitStatus.SUCCESS, err
    assert "ok tigerastatus/calico Available" in out


def test_an_interrupted_up_is_resumed_by_running_it_again(model_world: LabWorld) -> None:
    model_world.world.operator_delay = 30.0  # longer than this run's time limit
    status, out, err = run(model_world, "up", "--timeout", "8")
    assert status == ExitStatus.TIMEOUT
    assert "timed out" in err and "rerun `make lab-up` to carry on" in err
    assert "What is not ready:" in out  # diagnosed
    model_world.world.operator_delay = 0.1
    status, out, err = run(model_world, "up")
    assert status == ExitStatus.SUCCESS, err
    assert "exists and matches: not recreated" in out
    assert "The lab is ready" in out
