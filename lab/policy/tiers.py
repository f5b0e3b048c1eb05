"""Calico's tiers: the order in which groups of policies are evaluated, and what ends each one.

Calico v3.32 evaluates, for each endpoint and direction, the tiers in ``order`` (lowest first;
no order means last; equal orders by name), skipping a tier none of whose policies select the
endpoint. Inside a tier the selecting policies go by their own ``order``; the first rule that
matches decides: Allow and Deny are final, Pass jumps to the next tier. When a tier's policies
select the endpoint and none decides, the tier's ``defaultAction`` applies: Deny, or Pass to the
next tier. After the last tier the namespace's profile allows (felix rules/endpoints.go).

The static tiers exist in every Calico cluster (api/pkg/apis/projectcalico/v3/tier.go, created at
start by libcalico-go's EnsureInitialized): ``kube-admin`` (order 1,000, Pass) holds Admin
ClusterNetworkPolicies at their priority, ``default`` (1,000,000, Deny) holds Kubernetes
NetworkPolicies at order 1,000 and Calico policies without a tier, ``kube-baseline`` (10,000,000,
Pass) holds Baseline ClusterNetworkPolicies. The Tigera operator adds ``calico-system`` at 100.
This order also gives ClusterNetworkPolicy's own: Admin, then NetworkPolicy, then Baseline, then
allow (network-policy-api v1alpha2, the Tier field's documentation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.policy.model import InputError, order_number, shown

DEFAULT_TIER = "default"
ADMIN_TIER = "kube-admin"
BASELINE_TIER = "kube-baseline"
KUBERNETES_ORDER = 1000.0  # Kubernetes NetworkPolicies sit at order 1000 in the default tier
DEFAULT_ACTIONS = ("Deny", "Pass")
# Calico puts ClusterNetworkPolicy's tiers in its static tiers
# (libcalico-go lib/backend/k8s/conversion/clusternetworkpolicy.go)
CLUSTER_POLICY_TIERS = {ADMIN_TIER: "Admin", BASELINE_TIER: "Baseline"}


@dataclass(frozen=True)
class Tier:
    name: str
    order: float | None  # None: after every ordered tier
    default_action: str = "Deny"  # what ends the tier for an endpoint its policies select
    source: str = ""

    @property
    def sort_key(self) -> tuple[float, str]:
        return (float("inf") if self.order is None else self.order, self.name)

    def describe(self) -> str:
        order = "no order" if self.order is None else f"order {self.order:,.0f}"
        api = CLUSTER_POLICY_TIERS.get(self.name)
        where = f"ClusterNetworkPolicy's {api} tier, " if api else ""
        return f"tier {self.name} ({where}{order}, then {self.default_action})"


STATIC_TIERS: tuple[Tier, ...] = (
    Tier(ADMIN_TIER, 1_000.0, "Pass", "Calico's static tier"),
    Tier(DEFAULT_TIER, 1_000_000.0, "Deny", "Calico's static tier"),
    Tier(BASELINE_TIER, 10_000_000.0, "Pass", "Calico's static tier"),
)
STATIC_ACTIONS = {tier.name: tier.default_action for tier in STATIC_TIERS}


def parse_tier(obj: Mapping[str, Any], source: str) -> Tier:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InputError(f"{source}: a Tier without metadata.name")
    spec = obj.get("spec") if obj.get("spec") is not None else {}
    if not isinstance(spec, Mapping):
        raise InputError(f"{source}: Tier {name}: spec must be a mapping")
    order = order_number(spec.get("order"), f"{source}: Tier {name}", "spec.order")
    action = spec.get("defaultAction", "Deny")
    if not isinstance(action, str) or action not in DEFAULT_ACTIONS:
        raise InputError(f"{source}: Tier {name}: spec.defaultAction {shown(action)} must be Deny or Pass")
    # The CRD's rules: the static tiers keep their default actions whatever is written.
    if name in STATIC_ACTIONS and action != STATIC_ACTIONS[name]:
        raise InputError(
            f"{source}: Tier {name}: spec.defaultAction must be {STATIC_ACTIONS[name]} for this tier"
        )
    if order is None and name == DEFAULT_TIER:
        order = 1_000_000.0  # libcalico-go's default for the default tier
    return Tier(name, order, action, source)


def tiers_of(found: Mapping[str, Tier]) -> dict[str, Tier]:
    """The tiers in force: the static ones, overridden by Tier objects of the same name, and the rest."""
    tiers = {tier.name: tier for tier in STATIC_TIERS}
    tiers.update(found)
    return tiers
