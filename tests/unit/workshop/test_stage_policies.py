"""Stages 5 and 6: the carve-outs match the pins, and the Calico objects fit Calico's schema."""

from __future__ import annotations

import ipaddress
from typing import Any

import jsonschema
import pytest

from lab import pins, scenario
from lab.env import project_root
from lab.workshop.stages import load_stages, stage_by_name
from tests import calico_schemas

STAGES = load_stages(project_root())
# Calico's CRD schemas: the verified bundle in the cache, or ../shared/schemas (never in the repo).
GNP_SCHEMA = calico_schemas.schema("projectcalico.org/v3", "GlobalNetworkPolicy")
K8S_POLICY_ORDER = 1000  # Calico places Kubernetes NetworkPolicies at this order


def guardrails() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in stage_by_name(STAGES, "6").documents()}


def unknown_keys(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys the schema does not name (CRD schemas prune them silently instead of failing)."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found.extend(unknown_keys(item, schema["properties"][key], f"{path}.{key}"))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found.extend(unknown_keys(item, schema["items"], f"{path}[{index}]"))
    return found


def test_backend_outside_carves_out_metadata_and_the_cluster_ranges() -> None:
    [policy] = stage_by_name(STAGES, "5").documents()
    assert policy["metadata"]["namespace"] == "backend"
    [rule] = policy["spec"]["egress"]
    peer, peer_v6 = rule["to"]
    block = peer["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    excepted = [ipaddress.ip_network(cidr) for cidr in block["except"]]
    for needed in (f"{pins.METADATA_IP}/32", pins.POD_SUBNET, pins.SERVICE_SUBNET):
        assert ipaddress.ip_network(needed) in excepted, needed
    everything = ipaddress.ip_network(block["cidr"])
    assert isinstance(everything, ipaddress.IPv4Network)  # 0.0.0.0/0, asserted above
    assert all(isinstance(net, ipaddress.IPv4Network) and net.subnet_of(everything) for net in excepted)
    outside_ip = ipaddress.ip_address(pins.OUTSIDE_TARGET.rsplit(":", 1)[0])
    assert not any(outside_ip in net for net in excepted)  # the probe's outside target stays open
    # the IPv6 counterpart, for a dual-stack lab: ::/0 except AWS's IPv6 metadata address and the
    # lab's IPv6 ranges, each inside ::/0 and none holding the probe's IPv6 outside target
    block_v6 = peer_v6["ipBlock"]
    assert block_v6["cidr"] == "::/0"
    excepted_v6 = [ipaddress.ip_network(cidr) for cidr in block_v6["except"]]
    for needed in (
        f"{scenario.METADATA_IP_V6}/128",
        scenario.POD_SUBNET_V6,
        scenario.SERVICE_SUBNET_V6,
        scenario.NODE_SUBNET_V6,
    ):
        assert ipaddress.ip_network(needed) in excepted_v6, needed
    assert all(isinstance(net, ipaddress.IPv6Network) for net in excepted_v6)
    outside_v6 = ipaddress.ip_address(scenario.OUTSIDE_TARGET_V6.rsplit(":", 1)[0].strip("[]"))
    assert not any(outside_v6 in net for net in excepted_v6)


def test_guardrails_are_ordered_around_the_kubernetes_policies() -> None:
    policies = guardrails()
    assert set(policies) == {"netpol-lab-deny-metadata", "netpol-lab-default-deny"}
    deny_metadata = policies["netpol-lab-deny-metadata"]
    default_deny = policies["netpol-lab-default-deny"]
    assert deny_metadata["spec"]["order"] < K8S_POLICY_ORDER < default_deny["spec"]["order"]
    # both metadata addresses: the IPv4 one every cloud serves, AWS's IPv6 one for dual-stack labs,
    # one rule each (Calico refuses a rule whose nets mix the families)
    assert deny_metadata["spec"]["egress"] == [
        {"action": "Deny", "destination": {"nets": [f"{pins.METADATA_IP}/32"]}},
        {"action": "Deny", "destination": {"nets": [f"{scenario.METADATA_IP_V6}/128"]}},
    ]
    # The pair selects the same pods: the metadata Deny alone would cut all their egress.
    assert deny_metadata["spec"]["namespaceSelector"] == default_deny["spec"]["namespaceSelector"]
    for name in ("kube-system", "calico-system", "tigera-operator"):
        assert f'"{name}"' in default_deny["spec"]["namespaceSelector"]


def test_default_deny_keeps_dns_and_ends_in_deny() -> None:
    spec = guardrails()["netpol-lab-default-deny"]["spec"]
    assert spec["types"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"action": "Deny"}]
    *allows, last = spec["egress"]
    assert last == {"action": "Deny"}
    assert sorted(rule["protocol"] for rule in allows) == ["TCP", "UDP"]
    for rule in allows:
        assert rule["action"] == "Allow"
        assert rule["destination"]["ports"] == [53]
        assert rule["destination"]["selector"] == 'k8s-app == "kube-dns"'


@pytest.mark.skipif(GNP_SCHEMA is None, reason=calico_schemas.MISSING)
@pytest.mark.parametrize("name", sorted(guardrails()))
def test_guardrail_fits_calicos_schema(name: str) -> None:
    schema = GNP_SCHEMA
    assert schema is not None
    policy = guardrails()[name]
    assert policy["apiVersion"] == "projectcalico.org/v3"  # served by the Calico API server
    assert policy["kind"] == "GlobalNetworkPolicy"
    jsonschema.validate(policy, schema)
    assert unknown_keys(policy["spec"], schema["properties"]["spec"]) == []


@pytest.mark.skipif(GNP_SCHEMA is None, reason=calico_schemas.MISSING)
def test_schema_check_catches_a_misspelt_field() -> None:
    schema = GNP_SCHEMA
    assert schema is not None
    spec = dict(guardrails()["netpol-lab-deny-metadata"]["spec"])
    spec["egress"] = [{"action": "Deny", "destination": {"net": ["169.254.169.254/32"]}}]
    assert unknown_keys(spec, schema["properties"]["spec"]) == [".egress[0].destination.net"]
    spec["egress"] = [{"action": "Block"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spec": spec}, schema)
