"""The network plugins the lab can be built with (`up --cni`), and what each means for policies.

Calico is the default: it enforces NetworkPolicy and Calico's own policy kinds.
kindnet is kind's built-in CNI; since kind v0.24.0 it enforces NetworkPolicy too
(kube-network-policies), so it shows the same verdicts for Kubernetes policies but
knows no Calico kinds.

There is no choice of a CNI that ignores policies: flannel is the usual one, but its
manifest delegates pod networking to the `bridge` CNI plugin, which kind's node image
does not ship (kind v0.32.0 images/base/Dockerfile installs only host-local, loopback,
ptp and portmap; see flannel-io/flannel#1847 and kubernetes-sigs/kind#3015). Adding
it needs the containernetworking plugins tarball, whose checksum is not pinned here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab import pins


@dataclass(frozen=True)
class Cni:
    """One way to network the lab's cluster."""

    name: str
    disable_default_cni: bool  # kind's networking.disableDefaultCNI
    pod_subnet: str
    installs_calico: bool
    enforces_network_policy: bool
    summary: str


CALICO = Cni(
    name="calico",
    disable_default_cni=True,
    pod_subnet=pins.POD_SUBNET,
    installs_calico=True,
    enforces_network_policy=True,
    summary=f"Calico {pins.CALICO_VERSION} via the Tigera operator (NetworkPolicy and Calico policy kinds)",
)
KINDNET = Cni(
    name="kindnet",
    disable_default_cni=False,
    pod_subnet=pins.POD_SUBNET,  # kindnet takes the pod CIDR from kubeadm, so any subnet works
    installs_calico=False,
    enforces_network_policy=True,
    summary="kind's built-in kindnet (enforces NetworkPolicy since kind v0.24; no Calico policy kinds)",
)

CNIS: dict[str, Cni] = {cni.name: cni for cni in (CALICO, KINDNET)}
DEFAULT_CNI = CALICO.name


def cni_by_name(name: str) -> Cni:
    """The CNI called ``name`` (argparse restricts the choice to ``CNIS``)."""
    return CNIS[name]
