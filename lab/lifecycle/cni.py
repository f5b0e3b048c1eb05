"""The network plugins the lab can be built with (`up --cni`), and what each means for policies.

- calico (default): enforces NetworkPolicy and Calico's own policy kinds.
- kindnet: kind's built-in CNI. Since kind v0.24.0 it enforces NetworkPolicy too
  (kube-network-policies), so it shows the same verdicts for Kubernetes policies but knows no
  Calico kinds. Its policy controller cannot be switched off: kindnetd's main.go (kind v0.32.0,
  images/kindnetd/cmd/kindnetd/main.go) always starts it.
- plain: pod networking that enforces nothing, so an instructor can show that a policy object
  alone does nothing. flannel, the usual choice, delegates to the `bridge` CNI plugin, which
  kind's node images do not ship (kind v0.32.0 images/base/Dockerfile builds only host-local,
  loopback, ptp and portmap into /opt/cni/bin), so the lab wires the nodes itself from those
  plugins: lab/plain_network.py.
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
    wired_by_lab: bool = False  # the lab writes each node's CNI config, routes and masquerade rule


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
PLAIN = Cni(
    name="plain",
    disable_default_cni=True,
    # The same subnet as the other CNIs, so stage 5's carve-out of the pod subnet holds here too.
    pod_subnet=pins.POD_SUBNET,
    installs_calico=False,
    enforces_network_policy=False,
    summary="plain routing with kind's ptp and host-local plugins: enforces NO NetworkPolicy (for the trap)",
    wired_by_lab=True,
)

CNIS: dict[str, Cni] = {cni.name: cni for cni in (CALICO, KINDNET, PLAIN)}
DEFAULT_CNI = CALICO.name


def cni_by_name(name: str) -> Cni:
    """The CNI called ``name`` (argparse restricts the choice to ``CNIS``)."""
    return CNIS[name]
