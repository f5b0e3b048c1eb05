"""The enforcement check: blocked means enforces, connected means does not, a failed exec means unknown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lab import pins
from lab.boundary.runner import Result
from lab.lifecycle.enforcement import (
    CANARY_PORT,
    CLUSTER_POLICY_RESOURCE,
    Enforcement,
    EnforcementResult,
    canary_manifests,
    check_enforcement,
    deny_policy,
)
from tests.fakes import RecordingRunner

NS = "netpol-lab-enforcement-test"
KUBECTL = f"kubectl --context {pins.KUBE_CONTEXT}"
EXEC = f"{KUBECTL} exec -n {NS} client -c agnhost -- /agnhost connect"
CONNECTED = Result(("kubectl",), 0)
TIMEOUT = Result(("kubectl",), 1, "", "TIMEOUT\ncommand terminated with exit code 1\n")
REFUSED = Result(("kubectl",), 1, "", "REFUSED\ncommand terminated with exit code 1\n")


def lab_runner(*probe_results: Result) -> RecordingRunner:
    """A cluster whose pods come up; the probes answer in the given order (the last one repeats)."""
    runner = RecordingRunner()
    runner.answer(f"{KUBECTL} get pod canary -n {NS}", stdout="192.168.1.7")
    answers: Iterator[Result] = iter(probe_results)
    last = [probe_results[-1]]

    def probe(argv: tuple[str, ...], _input: str | None) -> Result:
        result = next(answers, last[0])
        return Result(argv, result.exit_code, result.stdout, result.stderr, result.timed_out)

    runner.script[EXEC] = probe
    return runner


def run(runner: RecordingRunner, attempts: int = 4) -> tuple[EnforcementResult, list[float]]:
    slept: list[float] = []
    result = check_enforcement(runner, namespace=NS, attempts=attempts, interval=0.5, sleep=slept.append)
    return result, slept


def probes(runner: RecordingRunner) -> list[str]:
    return [line for line in runner.lines if line.startswith(EXEC)]


def test_blocked_after_the_policy_means_enforces() -> None:
    runner = lab_runner(CONNECTED, TIMEOUT)
    result, slept = run(runner)
    assert result.verdict == Enforcement.ENFORCES
    assert result.enforced is True
    assert "enforces NetworkPolicy" in result.message
    assert slept == []
    verbs = [line.split()[3] for line in runner.lines]
    # the namespace is applied first, then the pods in it (server-side, as every lab apply)
    assert verbs == ["apply", "apply", "wait", "get", "exec", "apply", "exec", "delete"]
    assert yaml.safe_load(runner.calls[0].input or "")["kind"] == "Namespace"
    assert all("--server-side" in line for line in runner.lines if line.split()[3] == "apply")
    assert probes(runner)[0] == f"{EXEC} 192.168.1.7:{CANARY_PORT} --timeout=2s --protocol=tcp"
    policy = yaml.safe_load(runner.calls[5].input or "")
    assert policy["kind"] == "NetworkPolicy"
    assert policy["spec"] == {"podSelector": {"matchLabels": {"app": "canary"}}, "policyTypes": ["Ingress"]}
    assert runner.lines[-1] == f"{KUBECTL} delete namespace {NS} --ignore-not-found --wait=false"


def test_policies_get_time_to_be_programmed() -> None:
    runner = lab_runner(CONNECTED, CONNECTED, CONNECTED, TIMEOUT)
    result, slept = run(runner)
    assert result.verdict == Enforcement.ENFORCES
    assert result.attempts == 3
    assert slept == [0.5, 0.5]


def test_a_rejecting_cni_counts_as_enforcing() -> None:
    result, _ = run(lab_runner(CONNECTED, REFUSED))
    assert result.verdict == Enforcement.ENFORCES
    assert "rejected" in result.message


def test_still_connected_means_does_not_enforce() -> None:
    runner = lab_runner(CONNECTED)
    result, slept = run(runner, attempts=4)
    assert result.verdict == Enforcement.DOES_NOT_ENFORCE
    assert result.enforced is False
    assert "does NOT enforce NetworkPolicy" in result.message
    assert len(probes(runner)) == 1 + 4
    assert slept == [0.5, 0.5, 0.5]
    assert "delete namespace" in runner.lines[-1]


@pytest.mark.parametrize(
    "failure",
    [
        Result(("kubectl",), 1, "", 'Error from server (NotFound): pods "client" not found\n'),
        Result(("kubectl",), 124, timed_out=True),
        Result(("kubectl",), 1, "", "UNKNOWN: dial tcp: network is unreachable\n"),
    ],
    ids=["exec-error", "exec-hang", "no-route"],
)
def test_a_failed_exec_after_the_policy_is_never_a_verdict(failure: Result) -> None:
    runner = lab_runner(CONNECTED, failure)
    result, _ = run(runner)
    assert result.verdict == Enforcement.UNKNOWN
    assert result.enforced is None
    assert result.message.startswith("cannot tell")
    assert "delete namespace" in runner.lines[-1]


def test_blocked_before_the_policy_proves_nothing() -> None:
    runner = lab_runner(TIMEOUT)
    result, _ = run(runner)
    assert result.verdict == Enforcement.UNKNOWN
    assert "even before any policy" in result.message
    assert not any("NetworkPolicy" in (call.input or "") for call in runner.calls)  # no policy applied


def test_pods_that_never_get_ready_give_unknown_and_are_cleaned_up() -> None:
    runner = lab_runner(CONNECTED)
    runner.answer(
        f"{KUBECTL} wait -n {NS}", 1, stderr="error: timed out waiting for the condition on pods/canary"
    )
    result, _ = run(runner)
    assert result.verdict == Enforcement.UNKNOWN
    assert "timed out waiting" in result.message
    assert probes(runner) == []
    assert "delete namespace" in runner.lines[-1]


def test_dry_run_probes_nothing() -> None:
    runner = RecordingRunner(dry_run=True)
    result = check_enforcement(runner, namespace=NS)
    assert result.verdict == Enforcement.UNKNOWN
    assert not any(" exec " in line for line in runner.lines)
    assert "delete namespace" in runner.lines[-1]


def test_random_namespace_per_run() -> None:
    first = check_enforcement(RecordingRunner(dry_run=True))
    second = check_enforcement(RecordingRunner(dry_run=True))
    assert first.namespace.startswith("netpol-lab-enforcement-")
    assert first.namespace != second.namespace


def test_canary_objects_are_valid_and_restricted() -> None:
    objects: list[dict[str, Any]] = [*canary_manifests(NS, pins.AGNHOST_IMAGE), deny_policy(NS)]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.36", strict=True)
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "netpol-lab"
    namespace, *pods, _policy = objects
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = spec["containers"]
        assert container["image"] == pins.AGNHOST_IMAGE
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def run_with_cluster_policy(runner: RecordingRunner) -> EnforcementResult:
    return check_enforcement(
        runner, namespace=NS, attempts=3, interval=0.5, sleep=lambda _s: None, cluster_policy=True
    )


def test_an_admin_deny_that_blocks_the_canary_means_cluster_policy_is_enforced() -> None:
    # before any policy, behind the NetworkPolicy, again without it, behind the ClusterNetworkPolicy
    runner = lab_runner(CONNECTED, TIMEOUT, CONNECTED, TIMEOUT)
    result = run_with_cluster_policy(runner)
    assert result.verdict == Enforcement.ENFORCES
    assert result.cluster_policy == Enforcement.ENFORCES
    assert "enforces ClusterNetworkPolicy" in result.cluster_policy_message
    applied = [d for c in runner.calls if c.input for d in yaml.safe_load_all(c.input)]
    cnp = applied[-1]
    assert cnp["kind"] == "ClusterNetworkPolicy" and cnp["metadata"]["name"] == NS
    assert cnp["spec"]["subject"]["pods"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": NS}
    }
    removed = f"{KUBECTL} delete networkpolicies.networking.k8s.io deny-all-ingress -n {NS} --wait=true"
    assert removed in runner.lines
    # the cluster-scoped object goes by name, before the namespace
    assert runner.lines[-2:] == [
        f"{KUBECTL} delete {CLUSTER_POLICY_RESOURCE} {NS} --ignore-not-found --wait=false",
        f"{KUBECTL} delete namespace {NS} --ignore-not-found --wait=false",
    ]


def test_an_admin_deny_the_canary_passes_means_cluster_policy_is_stored_only() -> None:
    runner = lab_runner(CONNECTED, TIMEOUT, CONNECTED)
    result = run_with_cluster_policy(runner)
    assert result.verdict == Enforcement.ENFORCES  # NetworkPolicy is enforced all the same
    assert result.cluster_policy == Enforcement.DOES_NOT_ENFORCE
    assert "does NOT enforce ClusterNetworkPolicy" in result.cluster_policy_message


def test_a_cluster_without_the_crd_does_not_serve_cluster_policy() -> None:
    runner = lab_runner(CONNECTED, TIMEOUT, CONNECTED)

    def apply(argv: tuple[str, ...], given: str | None) -> Result:
        if "ClusterNetworkPolicy" in (given or ""):
            return Result(argv, 1, "", 'error: resource mapping not found for name: "x": no matches for kind '
                          '"ClusterNetworkPolicy" in version "policy.networking.k8s.io/v1alpha2"\n'
                          "ensure CRDs are installed first\n")  # fmt: skip
        return Result(argv, 0)

    runner.script[f"{KUBECTL} apply"] = apply
    result = run_with_cluster_policy(runner)
    assert result.cluster_policy == Enforcement.DOES_NOT_ENFORCE
    assert "does not serve ClusterNetworkPolicy" in result.cluster_policy_message


def test_a_canary_that_stays_blocked_without_the_networkpolicy_proves_nothing_of_cluster_policy() -> None:
    runner = lab_runner(CONNECTED, TIMEOUT)
    result = run_with_cluster_policy(runner)
    assert result.cluster_policy == Enforcement.UNKNOWN
    assert not any("ClusterNetworkPolicy" in (c.input or "") for c in runner.calls)


def test_the_cluster_policy_canary_is_valid_against_the_crd_schema() -> None:
    import jsonschema

    from lab.lifecycle.enforcement import cluster_deny_policy
    from tests import calico_schemas

    document = cluster_deny_policy(NS)
    schema = calico_schemas.schema(str(document["apiVersion"]), str(document["kind"]))
    if schema is None:
        pytest.skip(calico_schemas.MISSING)
    jsonschema.validate(document, schema)


def test_a_cluster_policy_that_cannot_be_deleted_is_named_with_the_command() -> None:
    runner = lab_runner(CONNECTED, TIMEOUT, CONNECTED, TIMEOUT)
    runner.answer(f"{KUBECTL} delete {CLUSTER_POLICY_RESOURCE}", 1, stderr="error: You must be logged in\n")
    result = run_with_cluster_policy(runner)
    assert result.cluster_policy == Enforcement.ENFORCES
    assert result.cluster_policy_message.endswith(
        f"the canary's ClusterNetworkPolicy {NS} could not be deleted (error: You must be logged in): "
        f"delete it with `{KUBECTL} delete {CLUSTER_POLICY_RESOURCE} {NS} --ignore-not-found --wait=false`"
    )


def test_nothing_is_deleted_of_a_kind_the_cluster_does_not_serve() -> None:
    runner = lab_runner(CONNECTED, TIMEOUT, CONNECTED)

    def apply(argv: tuple[str, ...], given: str | None) -> Result:
        if "ClusterNetworkPolicy" in (given or ""):
            return Result(argv, 1, "", 'no matches for kind "ClusterNetworkPolicy"\n')
        return Result(argv, 0)

    runner.script[f"{KUBECTL} apply"] = apply
    run_with_cluster_policy(runner)
    assert not any(CLUSTER_POLICY_RESOURCE in line for line in runner.lines)
