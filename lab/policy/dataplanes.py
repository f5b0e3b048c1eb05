"""What a dataplane enforces of a state: the same objects, judged as calico, kindnet or plain would.

The API server stores every policy it serves; what happens to a packet is up to the CNI:

- ``calico`` (Calico 3.32): everything the evaluator knows: NetworkPolicy, Calico's tiers and
  policies, ClusterNetworkPolicy (its Admin and Baseline tiers map to Calico's static tiers).
- ``kindnet`` (kind v0.32.0's kindnetd): NetworkPolicy only. Calico's kinds are not even served
  without Calico, and a ClusterNetworkPolicy is stored and ignored (lab-facts; kindnetd's policy
  agent watches networking.k8s.io/v1 NetworkPolicies alone). It is also fail-open while its policy
  agent is down, which no object says: the prediction assumes the agent runs.
- ``plain`` (the lab's trap network): nothing at all.

``enforced_by`` returns the state with what the dataplane ignores taken out, and a note naming
it, so a prediction never silently differs from what is stored.
"""

from __future__ import annotations

import dataclasses

from lab.policy.model import ClusterState

CNIS = ("calico", "kindnet", "plain")
DEFAULT_CNI = "calico"


def enforced_by(state: ClusterState, cni: str) -> ClusterState:
    """The part of ``state`` that ``cni`` enforces (a new state; ``state`` is not changed)."""
    if cni not in CNIS:
        raise ValueError(f"unknown CNI {cni!r}: one of {', '.join(CNIS)}")
    if cni == "calico":
        return state
    ignored: list[str] = []
    if state.calico:
        ignored.append(f"{len(state.calico)} Calico policies")
    if state.cluster_policies:
        ignored.append(f"{len(state.cluster_policies)} ClusterNetworkPolicies")
    if cni == "plain" and state.policies:
        ignored.insert(0, f"{len(state.policies)} NetworkPolicies")
    notes = list(state.notes)
    if ignored:
        what = "NetworkPolicy only" if cni == "kindnet" else "nothing"
        notes.append(
            f"note: predicted for {cni}, which enforces {what}: {', '.join(ignored)} in the state are "
            "stored and not enforced there, so these verdicts leave them out"
        )
    if cni == "kindnet":
        notes.append(
            "note: kindnet lets everything through while its policy agent is down; this prediction "
            "assumes it runs"
        )
    return dataclasses.replace(
        state,
        policies=[] if cni == "plain" else list(state.policies),
        calico=[],
        cluster_policies=[],
        tiers={},
        notes=notes,
    )
