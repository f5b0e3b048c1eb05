"""kind-config.yaml: strict v1alpha4 keys, the lab's shape, and the rendered variants."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from lab import pins
from lab.env import project_root
from lab.lifecycle.cluster import CNI_LABEL, FINGERPRINT_LABEL, KIND_CONFIG, render_kind_config
from lab.lifecycle.cni import CALICO, CNIS, KINDNET
from lab.scenario import SLOT_LABEL, WORKLOADS

ROOT = project_root()
TEXT = (ROOT / KIND_CONFIG).read_text()
CONFIG: dict[str, Any] = yaml.safe_load(TEXT)

# The json tags of kind v0.32.0's pkg/apis/config/v1alpha4/types.go. kind decodes the
# file strictly, so any other key (a typo) makes `kind create cluster` fail.
CLUSTER_KEYS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
NODE_KEYS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
NETWORKING_KEYS = {
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
}


def unknown_keys(config: dict[str, Any]) -> list[str]:
    found = [f"{key}" for key in config if key not in CLUSTER_KEYS]
    found += [f"networking.{key}" for key in config.get("networking", {}) if key not in NETWORKING_KEYS]
    for index, node in enumerate(config.get("nodes", [])):
        found += [f"nodes[{index}].{key}" for key in node if key not in NODE_KEYS]
    return found


def test_every_key_is_a_v1alpha4_key() -> None:
    assert CONFIG["kind"] == "Cluster"
    assert CONFIG["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert unknown_keys(CONFIG) == []


def test_the_key_check_catches_a_typo() -> None:
    broken = yaml.safe_load(TEXT)
    broken["networking"]["disableDefaultCni"] = True
    broken["nodes"][0]["label"] = {}
    assert unknown_keys(broken) == ["networking.disableDefaultCni", "nodes[0].label"]


def test_three_nodes_cni_disabled_api_on_localhost() -> None:
    assert CONFIG["name"] == pins.CLUSTER_NAME
    assert [node["role"] for node in CONFIG["nodes"]] == ["control-plane", "worker", "worker"]
    networking = CONFIG["networking"]
    assert networking["disableDefaultCNI"] is True
    assert networking["apiServerAddress"] == "127.0.0.1"
    assert networking["podSubnet"] == pins.POD_SUBNET
    assert networking["serviceSubnet"] == pins.SERVICE_SUBNET


def test_every_node_uses_the_pinned_image_by_digest() -> None:
    for node in CONFIG["nodes"]:
        assert node["image"] == pins.NODE_IMAGE
        assert "@sha256:" in node["image"]


def test_the_workers_carry_the_slots_the_workloads_ask_for() -> None:
    slots = [node.get("labels", {}).get(SLOT_LABEL) for node in CONFIG["nodes"]]
    assert slots == [None, "a", "b"]
    assert {w.slot for w in WORKLOADS} == {"a", "b"}


def test_pod_subnet_equals_the_calico_pool() -> None:
    installation = yaml.safe_load((ROOT / "manifests" / "calico" / "installation.yaml").read_text())
    [pool] = installation["spec"]["calicoNetwork"]["ipPools"]
    assert ipaddress.ip_network(pool["cidr"]) == ipaddress.ip_network(CONFIG["networking"]["podSubnet"])
    assert pool["blockSize"] >= ipaddress.ip_network(pool["cidr"]).prefixlen


def test_pod_and_service_subnets_do_not_overlap() -> None:
    pods = ipaddress.ip_network(CONFIG["networking"]["podSubnet"])
    services = ipaddress.ip_network(CONFIG["networking"]["serviceSubnet"])
    assert not pods.overlaps(services)
    assert ipaddress.ip_address(pins.KUBE_DNS_IP) in services


@pytest.mark.parametrize("cni", sorted(CNIS))
def test_rendered_variants_stay_valid_and_labelled(cni: str) -> None:
    rendered = render_kind_config(TEXT, CNIS[cni], pins.NODE_IMAGE)
    config = yaml.safe_load(rendered.text)
    assert unknown_keys(config) == []
    assert config["networking"]["disableDefaultCNI"] is CNIS[cni].disable_default_cni
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    for node in config["nodes"]:
        assert node["labels"][FINGERPRINT_LABEL] == rendered.fingerprint
        assert node["labels"][CNI_LABEL] == cni
    # label values must be valid Kubernetes label values (<= 63 chars, alphanumerics)
    assert len(rendered.fingerprint) <= 63 and rendered.fingerprint.isalnum()


def test_the_fingerprint_follows_what_would_build_a_different_cluster() -> None:
    calico = render_kind_config(TEXT, CALICO, pins.NODE_IMAGE)
    assert render_kind_config(TEXT, CALICO, pins.NODE_IMAGE).fingerprint == calico.fingerprint
    assert render_kind_config(TEXT, KINDNET, pins.NODE_IMAGE).fingerprint != calico.fingerprint
    assert render_kind_config(TEXT, CALICO, "kindest/node:v1.35.0").fingerprint != calico.fingerprint
    edited = TEXT.replace("netpol-lab/slot: b", "netpol-lab/slot: c")
    assert render_kind_config(edited, CALICO, pins.NODE_IMAGE).fingerprint != calico.fingerprint


def test_the_default_render_only_adds_labels_to_the_committed_file() -> None:
    rendered = yaml.safe_load(render_kind_config(TEXT, CALICO, pins.NODE_IMAGE).text)
    for node in rendered["nodes"]:
        del node["labels"][FINGERPRINT_LABEL]
        del node["labels"][CNI_LABEL]
        if not node["labels"]:
            del node["labels"]
    assert rendered == CONFIG
