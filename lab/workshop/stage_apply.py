"""Apply a workshop stage declaratively: afterwards exactly the policies in force at stage N exist.

The plan is a list of kubectl steps, built without a cluster (so tests and ``--dry-run`` see
it whole):
1. server-side apply of every policy in force at N (``stages.in_force``: stages 0..N minus those
   a later one replaced): Kubernetes NetworkPolicies, then ClusterNetworkPolicies, then Calico's;
2. delete every policy labelled with a stage not in force (a later one, or one replaced): the
   NetworkPolicies in all namespaces, the ClusterNetworkPolicies and the GlobalNetworkPolicies;
3. record N (ConfigMap ``default/netpol-lab-stage``), so ``stage next`` knows where it is.

Resources are named with their API group (``networkpolicies.networking.k8s.io``): with the
Calico API server installed, a bare ``networkpolicy`` could also mean Calico's own kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.boundary.apply import plan_apply_documents
from lab.boundary.records import read_record, record_document
from lab.boundary.runner import Runner
from lab.errors import ExitStatus, LabError
from lab.workshop.stages import STAGE_LABEL, Stage, cumulative_documents, in_force

STATE_RECORD = "netpol-lab-stage"  # the record (lab.boundary.records) of the stage last applied
CALICO_API = "projectcalico.org/"
K8S_POLICIES = "networkpolicies.networking.k8s.io"
CALICO_GLOBAL_POLICIES = "globalnetworkpolicies.projectcalico.org"
CLUSTER_POLICIES = "clusternetworkpolicies.policy.networking.k8s.io"
CNP_API = "policy.networking.k8s.io/"
NOT_SERVED = "doesn't have a resource type"  # kubectl, when a kind is not served (no Calico API server)
# kubectl prints the same NOT_SERVED error when Calico's API server is registered but not
# answering, after a discovery error naming its group ("couldn't get resource list for
# projectcalico.org/v3: the server is currently unable to handle the request", client-go's
# memcached discovery; calico issues #7555, #8041). Then the Calico policies may well exist.
CALICO_API_DOWN = "projectcalico.org/v3"

KubectlArgv = Callable[..., Sequence[str]]


@dataclass(frozen=True)
class Step:
    """One kubectl command of the plan; ``fine_if`` lists error texts that mean "nothing to do",
    unless one of ``unless`` appears too."""

    argv: tuple[str, ...]
    input: str | None = None
    fine_if: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    explain_failure: str = ""


@dataclass
class Plan:
    stage: int
    steps: list[Step] = field(default_factory=list)


def is_calico(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(CALICO_API)


def is_cluster_policy(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(CNP_API)


def out_of_force_selector(stages: Sequence[Stage], number: int) -> str:
    """Objects that carry the label of a stage not in force at ``number`` (``notin`` alone would
    also match objects without the label, hence the existence test first)."""
    kept = ",".join(str(stage.number) for stage in in_force(list(stages), number))
    return f"{STAGE_LABEL},{STAGE_LABEL} notin ({kept})"


CALICO_MISSING = (
    "Calico's policy kinds (projectcalico.org/v3) need the Calico API server: build the lab "
    "with Calico (`make lab-down && make lab-up CNI=calico`) and check "
    "`kubectl get tigerastatus apiserver`"
)
CNP_MISSING = (
    "ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) is not served: `make lab-up` installs "
    "its CRD (from Calico's pinned bundle) on every lab; rerun it, and check that it could fetch the bundle"
)


def not_enforced_warnings(stages: Sequence[Stage], number: int, cni: str | None) -> list[str]:
    """What a lab without Calico cannot do at stage ``number``, said before anything is applied.

    Calico's own kinds are not served there at all: the stage is refused (nothing changed). A
    ClusterNetworkPolicy is stored (``up`` installs its CRD on every lab) and enforced by nothing:
    kind v0.32.0's kindnetd enforces NetworkPolicy only, and the plain network nothing (lab-facts;
    kindnetd's policy agent watches networking.k8s.io/v1 NetworkPolicies alone)."""
    if cni in (None, "calico"):
        return []
    docs = cumulative_documents(list(stages), number)
    calico_kinds = sorted({d["kind"] for d in docs if is_calico(d)})
    if calico_kinds:
        raise LabError(
            f"stage {number} uses Calico's own policy kinds ({', '.join(calico_kinds)}), which a {cni} lab "
            "does not serve: nothing was changed; build the lab with Calico (`make lab-down && make lab-up`) "
            "or take stage 7, the same guardrails in ClusterNetworkPolicy",
            ExitStatus.MISSING_PREREQUISITE,
        )
    cluster = [d["metadata"]["name"] for d in docs if is_cluster_policy(d)]
    if not cluster:
        return []
    enforcer = (
        "kindnet enforces NetworkPolicy only" if cni == "kindnet" else "the plain network enforces nothing"
    )
    return [
        f"warning: {enforcer}: the ClusterNetworkPolicies {', '.join(cluster)} are stored and NOT "
        f"enforced on this lab, so the cells they decide will not match stage {number}'s table (the "
        "probe shows which; `make lab-down && make lab-up` builds the lab with Calico, which enforces them)"
    ]


def plan_apply(stages: Sequence[Stage], number: int, kubectl: KubectlArgv) -> Plan:
    """The kubectl steps that leave exactly the policies in force at stage ``number``."""
    docs = cumulative_documents(list(stages), number)
    kubernetes = [d for d in docs if not is_calico(d) and not is_cluster_policy(d)]
    cluster = [d for d in docs if is_cluster_policy(d)]
    calico = [d for d in docs if is_calico(d)]
    plan = Plan(number)
    for step in plan_apply_documents(kubectl, kubernetes):
        plan.steps.append(Step(step.argv, step.input))
    for step in plan_apply_documents(kubectl, cluster):
        plan.steps.append(Step(step.argv, step.input, explain_failure=CNP_MISSING))
    for step in plan_apply_documents(kubectl, calico):
        plan.steps.append(Step(step.argv, step.input, explain_failure=CALICO_MISSING))
    selector = out_of_force_selector(stages, number)
    plan.steps.append(
        Step(tuple(kubectl("delete", K8S_POLICIES, "--all-namespaces", "-l", selector, "--ignore-not-found")))
    )
    plan.steps.append(
        Step(
            tuple(kubectl("delete", CLUSTER_POLICIES, "-l", selector, "--ignore-not-found")),
            fine_if=(NOT_SERVED,),  # no ClusterNetworkPolicy CRD (kindnet): none to delete
        )
    )
    plan.steps.append(
        Step(
            tuple(kubectl("delete", CALICO_GLOBAL_POLICIES, "-l", selector, "--ignore-not-found")),
            fine_if=(NOT_SERVED,),  # no Calico API server (kindnet): no Calico policies to delete
            unless=(CALICO_API_DOWN,),  # registered but down: the guardrails could stay in place
            explain_failure=(
                "Calico's API server does not answer, so Calico's policies (stage 6) cannot be removed: "
                "check `kubectl get tigerastatus apiserver` and try again"
            ),
        )
    )
    record = record_document(STATE_RECORD, {"stage": str(number)})
    plan.steps.extend(Step(step.argv, step.input) for step in plan_apply_documents(kubectl, [record]))
    return plan


def execute(runner: Runner, plan: Plan) -> None:
    """Run the steps in order; the first real failure stops with one line and its fix."""
    for step in plan.steps:
        result = runner.run(step.argv, input=step.input, timeout=120)
        if result.ok:
            continue
        said = f"{result.stdout}\n{result.stderr}"
        if any(text in said for text in step.fine_if) and not any(text in said for text in step.unless):
            continue
        if '" is invalid: ' in said:  # the server read the object and refused it: the YAML is at fault
            fix = "the server refused the object as written: correct it in its YAML and apply again"
        else:
            fix = step.explain_failure or "is the lab up? (`make lab-up`, then `netpol-lab status`)"
        raise result.failure(f"`{result.command_line}`", fix)


def read_current_stage(runner: Runner, kubectl: KubectlArgv) -> int | None:
    """The stage last applied (from its record), or None when none was recorded or unreadable."""
    text = read_record(runner, kubectl, STATE_RECORD, "stage")
    return int(text) if text is not None and text.isdecimal() and text.isascii() else None
