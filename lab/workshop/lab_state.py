"""The lab's own scenario as the evaluator sees it, modelled from the manifests and stages.

Pods are modelled from the Deployments (one per workload, named NAMESPACE/WORKLOAD), plus CoreDNS
as kind runs it and the probes' outside targets. Modelled pods get stable synthetic IPs from the
pod subnet so ipBlocks can be judged. This is ``expect --stage N`` and what the stage tables are
cross-checked against.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml

from lab import pins, scenario
from lab.errors import ExitStatus, LabError
from lab.policy.model import (
    PROTOCOLS,
    ClusterState,
    ContainerPort,
    ExternalTarget,
    InputError,
    Pod,
    Service,
    parse_container_ports,
)
from lab.policy.state import finish, parse_objects
from lab.workshop.stages import cumulative_documents, load_stages, stage_by_name

DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}
# CoreDNS as kind deploys it: Deployment coredns in kube-system, ports dns/53 UDP, dns-tcp/53 TCP.
DNS_PORTS = (
    ContainerPort(53, "UDP", "dns"),
    ContainerPort(53, "TCP", "dns-tcp"),
    ContainerPort(9153, "TCP", "metrics"),
)
SYNTHETIC_NOTE = (
    "note: pod IPs are synthetic (from the pod subnet {subnet}), assigned to the modelled pods "
    "so that ipBlock rules can be judged"
)


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None


def parse_target(text: str, option: str = "--to") -> ExternalTarget:
    """``IP:PORT[/PROTO]`` (IPv6 in brackets: ``[fd00::1]:80``); errors name ``option``."""
    spec, _, protocol = text.partition("/")
    protocol = (protocol or "TCP").upper()
    host, _, port = spec.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise LabError(
            f"{option} {text}: write IP:PORT[/PROTO], for example 10.0.0.5:443/TCP", ExitStatus.USAGE
        ) from None
    if protocol not in PROTOCOLS or not 1 <= number <= 65535:
        raise LabError(f"{option} {text}: port 1-65535 and protocol TCP, UDP or SCTP", ExitStatus.USAGE)
    return ExternalTarget(host, number, protocol)


def outside_targets(outside: str = pins.OUTSIDE_TARGET) -> list[ExternalTarget]:
    """The probes' outside targets: a public address and the cloud metadata address, and their IPv6
    counterparts (what a dual-stack lab probes beside them)."""
    public = parse_target(outside, "--outside")
    public_v6 = parse_target(scenario.OUTSIDE_TARGET_V6, "--outside")
    return [
        ExternalTarget(public.ip, public.port, public.protocol, scenario.OUTSIDE_COLUMN),
        ExternalTarget(pins.METADATA_IP, 80, "TCP", scenario.METADATA_COLUMN),
        ExternalTarget(public_v6.ip, public_v6.port, "TCP", scenario.ipv6_column(scenario.OUTSIDE_COLUMN)),
        ExternalTarget(scenario.METADATA_IP_V6, 80, "TCP", scenario.ipv6_column(scenario.METADATA_COLUMN)),
    ]


def _pods_from_deployments(docs: list[dict[str, Any]], source: str) -> list[Pod]:
    pods = []
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        meta = doc.get("metadata") or {}
        template = (doc.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        namespace = str(meta.get("namespace") or "default")
        where = f"{source}: Deployment {namespace}/{meta.get('name')}"
        ports = parse_container_ports((template.get("spec") or {}).get("containers"), where)
        pods.append(
            Pod(namespace, str(meta.get("name")), {str(k): str(v) for k, v in labels.items()}, None, ports)
        )
    return pods


def synthetic_ips(pods: list[Pod], subnet: str = pins.POD_SUBNET) -> list[Pod]:
    """Give each pod a stable address in ``subnet`` (by sorted name, so stages agree)."""
    network = ipaddress.ip_network(subnet)
    out = []
    for position, pod in enumerate(sorted(pods, key=lambda p: p.key)):
        # Skip .0 of the subnet: 192.168.0.10, .11, ... one address per pod.
        address = network.network_address + 10 + position
        out.append(Pod(pod.namespace, pod.name, pod.labels, str(address), pod.ports))
    return out


def load_stage_state(root: Path, name: str, *, outside: str = pins.OUTSIDE_TARGET) -> ClusterState:
    """The lab at stage ``name``: workloads, CoreDNS, outside targets and the cumulative policies."""
    stages = load_stages(root)
    stage = stage_by_name(stages, name)
    workloads = root / "manifests" / "workloads"
    if not workloads.is_dir():
        raise InputError(f"{workloads}: missing; run from the lab's folder")
    docs: list[dict[str, Any]] = []
    for path in sorted(workloads.glob("*.yaml")):
        docs.extend(_yaml_documents(path))
    source = f"stage {stage.name}"
    objects: list[Any] = [d for d in docs if d.get("kind") in ("Namespace", "Service")]
    objects.append({"kind": "Namespace", "metadata": {"name": DNS_NAMESPACE}})
    objects.extend(cumulative_documents(stages, stage.number))
    state = parse_objects(objects, source, modelled=True)
    pods = _pods_from_deployments(docs, str(workloads))
    pods.append(Pod(DNS_NAMESPACE, "coredns", dict(DNS_LABELS), None, DNS_PORTS))
    state.pods = synthetic_ips(pods)
    state.services.append(
        Service(DNS_NAMESPACE, "kube-dns", dict(DNS_LABELS), (), pins.KUBE_DNS_IP),
    )
    state.targets = outside_targets(outside)
    state.notes.append(SYNTHETIC_NOTE.format(subnet=pins.POD_SUBNET))
    return finish(state)
