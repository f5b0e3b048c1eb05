"""Does this cluster enforce NetworkPolicy? Find out with a canary instead of trusting the CNI's name.

A NetworkPolicy object is only a wish: without a CNI that enforces it, the API server stores
it and nothing changes. The check builds a short-lived namespace with two pods, proves that the
client reaches the canary, applies a deny-all-ingress policy to the canary, and tries again:

- blocked after the policy (timeout, or refused by a Reject rule): this cluster ENFORCES;
- still connected after the retries: this cluster does NOT enforce NetworkPolicy;
- anything else (the exec failed, the pods never became ready, the canary was unreachable even
  before the policy): UNKNOWN, never a verdict.

With ``cluster_policy`` (``doctor --enforcement``) a cluster that enforces NetworkPolicy is asked
the same of ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): the NetworkPolicy goes, the
canary must answer again, then an Admin-tier Deny of all ingress selecting only the canary's
namespace and pod is applied and the canary probed again. Calico 3.32 enforces it; kindnetd
stores it and does nothing; a cluster without the CRD does not serve it at all. The
ClusterNetworkPolicy is cluster-scoped, so it is deleted by name whatever happens.

Every kubectl call goes through the Runner, so each step is echoed as a line to copy.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from lab import pins
from lab.boundary.apply import plan_apply_documents
from lab.boundary.kube import ExecOutcome
from lab.boundary.kubectl import Kubectl
from lab.boundary.runner import Result, Runner
from lab.matrix import Verdict
from lab.probe.agnhost import Classified, classify_connect, connect_argv

NAMESPACE_PREFIX = "netpol-lab-enforcement-"
CANARY_PORT = 8080  # above 1024: the canary needs no sysctl to bind it as non-root
PROBE_TIMEOUT = 2.0
READY_TIMEOUT = 180  # seconds for both pods to pull (if needed) and become Ready
POLICY_NAME = "deny-all-ingress"

KubectlArgv = Callable[..., Sequence[str]]
LAB_KUBECTL = Kubectl()  # the lab's own context


class Enforcement(str, enum.Enum):
    ENFORCES = "enforces"
    DOES_NOT_ENFORCE = "does-not-enforce"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class EnforcementResult:
    """The answer, the sentence that says it plainly, and the lines to reproduce it."""

    verdict: Enforcement
    message: str
    namespace: str
    probe_line: str = ""
    attempts: int = 0
    steps: tuple[str, ...] = field(default=())
    cluster_policy: Enforcement | None = None  # the ClusterNetworkPolicy canary's answer, when asked
    cluster_policy_message: str = ""

    @property
    def enforced(self) -> bool | None:
        """True or False when the check could tell, None when it could not."""
        if self.verdict == Enforcement.UNKNOWN:
            return None
        return self.verdict == Enforcement.ENFORCES


def canary_manifests(namespace: str, image: str) -> list[dict[str, object]]:
    """The namespace (restricted Pod Security), the canary (serves HTTP) and the client (probes)."""

    def pod(name: str, args: list[str], ports: list[dict[str, object]]) -> dict[str, object]:
        container: dict[str, object] = {
            "name": "agnhost",
            "image": image,
            "args": args,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        }
        if ports:
            container["ports"] = ports
            container["readinessProbe"] = {"tcpSocket": {"port": CANARY_PORT}, "periodSeconds": 2}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, **_part_of()}},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 1,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,  # agnhost's image sets no USER
                    "runAsGroup": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
            },
        }

    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    namespace_doc: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {**_part_of(), **restricted}},
    }
    canary = pod(
        "canary",
        ["netexec", f"--http-port={CANARY_PORT}", "--udp-port=-1", "--http-override=/hostname"],
        [{"name": "http", "containerPort": CANARY_PORT, "protocol": "TCP"}],
    )
    client = pod("client", ["pause"], [])
    return [namespace_doc, canary, client]


def deny_policy(namespace: str) -> dict[str, object]:
    """Selects the canary for Ingress and allows nothing."""
    policy: dict[str, object] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY_NAME, "namespace": namespace, "labels": _part_of()},
        "spec": {"podSelector": {"matchLabels": {"app": "canary"}}, "policyTypes": ["Ingress"]},
    }
    return policy


CLUSTER_POLICY_RESOURCE = "clusternetworkpolicies.policy.networking.k8s.io"
# kubectl's words when a kind is not registered (server-side apply, and get/delete)
NOT_REGISTERED = ("no matches for kind", "ensure CRDs are installed first", "doesn't have a resource type")


def cluster_deny_policy(namespace: str) -> dict[str, object]:
    """An Admin-tier ClusterNetworkPolicy denying all ingress to the canary, and to nothing else.

    Priority 0 is the Admin tier's first band (network-policy-api v1alpha2: lower values first; for
    policies that share a priority the implementation may apply any): only another priority-0 Admin
    policy accepting the canary's traffic could come before it, and the lab ships none."""
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": namespace, "labels": _part_of()},
        "spec": {
            "tier": "Admin",
            "priority": 0,
            "subject": {
                "pods": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "podSelector": {"matchLabels": {"app": "canary"}},
                }
            },
            "ingress": [{"name": "deny-all-ingress", "action": "Deny", "from": [{"namespaces": {}}]}],
        },
    }


def _part_of() -> dict[str, str]:
    key, value = pins.PART_OF_LABEL
    return {key: value}


def check_enforcement(
    runner: Runner,
    *,
    kubectl: KubectlArgv = LAB_KUBECTL,
    image: str = pins.AGNHOST_IMAGE,
    namespace: str | None = None,
    attempts: int = 10,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    cluster_policy: bool = False,
) -> EnforcementResult:
    """Apply a deny-all-ingress policy to a canary pod and probe it; always remove the namespace.

    ``attempts`` probes, ``interval`` seconds apart, give the CNI time to program the policy
    (Calico and kindnetd take a moment). ``kubectl`` builds a kubectl command line aimed at the
    cluster (``Cluster.kubectl``); ``namespace`` is random unless given (tests).
    """
    ns = namespace or NAMESPACE_PREFIX + secrets.token_hex(3)
    check = _Check(runner, kubectl, ns)
    try:
        result = check.run(image, attempts, interval, sleep)
        if cluster_policy and result.verdict == Enforcement.ENFORCES:
            try:
                verdict, message = check.cluster_policy(attempts, interval, sleep)
            finally:
                left = check.delete_cluster_policy()  # cluster-scoped: the namespace does not take it
            if left:
                message += f"; {left}"
            result = replace(result, cluster_policy=verdict, cluster_policy_message=message)
        return result
    finally:
        # --wait=false: the namespace and its pods go away in the background.
        runner.run(list(kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")), timeout=60)


@dataclass
class _Check:
    runner: Runner
    kubectl: KubectlArgv
    namespace: str
    steps: list[str] = field(default_factory=list)
    cluster_policy_applied: bool = False  # the canary's ClusterNetworkPolicy may exist: delete it

    def kube(self, *args: str, input: str | None = None, timeout: float = 60) -> Result:
        argv = list(self.kubectl(*args))
        self.steps.append(" ".join(argv))
        return self.runner.run(argv, input=input, timeout=timeout)

    def apply(self, documents: Sequence[Mapping[str, object]]) -> Result:
        """Server-side apply, the namespace first; the first failed step's result, else the last one's."""
        result: Result | None = None
        for step in plan_apply_documents(self.kubectl, documents):
            self.steps.append(" ".join(step.argv))
            result = self.runner.run(step.argv, input=step.input, timeout=60)
            if not result.ok:
                return result
        assert result is not None
        return result

    def unknown(self, why: str, probe_line: str = "", attempts: int = 0) -> EnforcementResult:
        return self.result(
            Enforcement.UNKNOWN,
            f"cannot tell whether this cluster enforces NetworkPolicy: {why}",
            probe_line,
            attempts,
        )

    def result(self, verdict: Enforcement, message: str, probe_line: str, attempts: int) -> EnforcementResult:
        return EnforcementResult(verdict, message, self.namespace, probe_line, attempts, tuple(self.steps))

    def probe(self, ip: str) -> tuple[Classified, str]:
        inside = connect_argv(ip, CANARY_PORT, PROBE_TIMEOUT)
        argv = list(self.kubectl("exec", "-n", self.namespace, "client", "-c", "agnhost", "--", *inside))
        result = self.runner.run(argv, timeout=PROBE_TIMEOUT + 20)
        return classify_connect(_outcome(result), PROBE_TIMEOUT), " ".join(argv)

    def run(
        self, image: str, attempts: int, interval: float, sleep: Callable[[float], None]
    ) -> EnforcementResult:
        created = self.apply(canary_manifests(self.namespace, image))
        if not created.ok:
            return self.unknown(f"could not create the canary namespace: {created.error_line()}")
        if created.dry_run:
            self.apply([deny_policy(self.namespace)])
            return self.unknown("dry run: nothing was probed")
        ready = self.kube(
            "wait",
            "-n",
            self.namespace,
            "--for=condition=Ready",
            "pod/canary",
            "pod/client",
            f"--timeout={READY_TIMEOUT}s",
            timeout=READY_TIMEOUT + 30,
        )
        if not ready.ok:
            return self.unknown(f"the canary pods did not become ready: {ready.error_line()}")
        got_ip = self.kube("get", "pod", "canary", "-n", self.namespace, "-o", "jsonpath={.status.podIP}")
        ip = got_ip.stdout.strip()
        if not got_ip.ok or not ip:
            return self.unknown(f"the canary has no IP address: {got_ip.error_line()}")

        before, line = self.probe(ip)
        if before.verdict != Verdict.ALLOW:
            return self.unknown(
                f"the client could not reach the canary even before any policy ({before.reason}); "
                "something else already blocks pod traffic (a cluster-wide default deny, such as "
                "stage 6's guardrails?)",
                line,
                1,
            )
        applied = self.apply([deny_policy(self.namespace)])
        if not applied.ok:
            return self.unknown(f"could not apply the deny policy: {applied.error_line()}", line, 1)

        for attempt in range(1, attempts + 1):
            after, line = self.probe(ip)
            if after.verdict == Verdict.DENY:
                return self.result(
                    Enforcement.ENFORCES,
                    f"this cluster enforces NetworkPolicy: a deny-all-ingress policy blocked the canary "
                    f"({after.reason}; attempt {attempt})",
                    line,
                    attempt,
                )
            if after.verdict == Verdict.REFUSED:
                return self.result(
                    Enforcement.ENFORCES,
                    "this cluster enforces NetworkPolicy: the canary answered before the deny-all-ingress "
                    f"policy and was rejected after it (attempt {attempt})",
                    line,
                    attempt,
                )
            if after.verdict != Verdict.ALLOW:
                return self.unknown(
                    f"the probe after the policy gave no verdict ({after.reason})", line, attempt
                )
            if attempt < attempts:
                sleep(interval)
        waited = f"{(attempts - 1) * interval:g}s"
        return self.result(
            Enforcement.DOES_NOT_ENFORCE,
            f"this cluster does NOT enforce NetworkPolicy: the canary still answered {attempts} times "
            f"over {waited} after a deny-all-ingress policy was applied. Policy objects are stored but "
            "do nothing here: rebuild the lab with a CNI that enforces them "
            "(make lab-down && make lab-up CNI=calico)",
            line,
            attempts,
        )

    def cluster_policy(
        self, attempts: int, interval: float, sleep: Callable[[float], None]
    ) -> tuple[Enforcement, str]:
        """After the NetworkPolicy verdict: does an Admin-tier ClusterNetworkPolicy Deny block too?"""
        unknown = "cannot tell whether this cluster enforces ClusterNetworkPolicy: "
        removed = self.kube(
            "delete", "networkpolicies.networking.k8s.io", POLICY_NAME, "-n", self.namespace, "--wait=true"
        )
        if not removed.ok:
            return Enforcement.UNKNOWN, unknown + f"the NetworkPolicy did not go ({removed.error_line()})"
        ip = self.kube("get", "pod", "canary", "-n", self.namespace, "-o", "jsonpath={.status.podIP}")
        address = ip.stdout.strip()
        if not self._until(address, Verdict.ALLOW, attempts, interval, sleep):
            return (
                Enforcement.UNKNOWN,
                unknown + "the canary did not answer again once the NetworkPolicy went",
            )
        self.cluster_policy_applied = True
        applied = self.apply([cluster_deny_policy(self.namespace)])
        if not applied.ok:
            said = f"{applied.stdout}\n{applied.stderr}"
            if any(words in said for words in NOT_REGISTERED):
                self.cluster_policy_applied = False  # the kind is not served: nothing to delete
                return Enforcement.DOES_NOT_ENFORCE, (
                    f"this cluster does not serve ClusterNetworkPolicy (no CRD {CLUSTER_POLICY_RESOURCE}): "
                    "stage 7 cannot be applied here"
                )
            return Enforcement.UNKNOWN, unknown + f"could not apply the canary's ({applied.error_line()})"
        for attempt in range(1, attempts + 1):
            after, _line = self.probe(address)
            if after.verdict in (Verdict.DENY, Verdict.REFUSED):
                return Enforcement.ENFORCES, (
                    "this cluster enforces ClusterNetworkPolicy: an Admin-tier Deny blocked the canary "
                    f"(attempt {attempt})"
                )
            if after.verdict != Verdict.ALLOW:
                return Enforcement.UNKNOWN, unknown + f"the probe gave no verdict ({after.reason})"
            if attempt < attempts:
                sleep(interval)
        return Enforcement.DOES_NOT_ENFORCE, (
            f"this cluster does NOT enforce ClusterNetworkPolicy: the canary still answered {attempts} "
            "times behind an Admin-tier Deny; the objects are stored and do nothing here (stage 7 "
            "needs Calico: make lab-down && make lab-up CNI=calico)"
        )

    def delete_cluster_policy(self) -> str:
        """Delete the canary's ClusterNetworkPolicy; a sentence naming the command when it stays."""
        if not self.cluster_policy_applied:
            return ""
        argv = list(
            self.kubectl(
                "delete", CLUSTER_POLICY_RESOURCE, self.namespace, "--ignore-not-found", "--wait=false"
            )
        )
        self.steps.append(" ".join(argv))
        deleted = self.runner.run(argv, timeout=60)
        if deleted.ok:
            self.cluster_policy_applied = False
            return ""
        return (
            f"the canary's ClusterNetworkPolicy {self.namespace} could not be deleted "
            f"({deleted.error_line()}): delete it with `{' '.join(argv)}`"
        )

    def _until(
        self, address: str, wanted: Verdict, attempts: int, interval: float, sleep: Callable[[float], None]
    ) -> bool:
        for attempt in range(1, attempts + 1):
            if address and self.probe(address)[0].verdict == wanted:
                return True
            if attempt < attempts:
                sleep(interval)
        return False


def _outcome(result: Result) -> ExecOutcome:
    """A kubectl exec result as the probe classifier reads it (a failed exec is never a verdict)."""
    if result.not_found:
        return ExecOutcome(None, error="kubectl: command not found")
    if result.timed_out:
        return ExecOutcome(None, result.stdout, result.stderr, error="the exec did not finish in time")
    return ExecOutcome(result.exit_code, result.stdout, result.stderr)
