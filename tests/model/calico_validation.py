"""What Calico's API server checks beyond the schema when a projectcalico.org/v3 policy is written.

libcalico-go's validator (lib/validator/v3, validateRule via the clientv3 Create and Update of
every policy kind) refuses a rule whose nets mix the families: "rule contains both IPv4 and IPv6
CIDRs". The schema allows it, so only this check catches it. Only that rule is modelled here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

POLICY_KINDS = ("GlobalNetworkPolicy", "NetworkPolicy", "StagedGlobalNetworkPolicy", "StagedNetworkPolicy")


def rule_errors(obj: dict[str, Any]) -> list[str]:
    """The validator's complaints about ``obj``'s rules, in its own words."""
    if obj.get("kind") not in POLICY_KINDS:
        return []
    spec = obj.get("spec") or {}
    errors = []
    for direction in ("ingress", "egress"):
        for index, rule in enumerate(spec.get(direction) or []):
            families = set()
            for side in ("source", "destination"):
                entity = (rule or {}).get(side) or {}
                for key in ("nets", "notNets"):
                    for net in entity.get(key) or []:
                        try:
                            families.add(ipaddress.ip_network(str(net), strict=False).version)
                        except ValueError:
                            continue  # the schema's or another check's business
            if len(families) > 1:
                errors.append(f"spec.{direction}[{index}]: rule contains both IPv4 and IPv6 CIDRs")
    return errors
