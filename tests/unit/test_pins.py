"""NETPOL_LAB_* overrides: a value that cannot be a pin is refused, naming the variable and the form."""

from __future__ import annotations

import pytest

from lab.errors import ExitStatus
from lab.pins import PinError, Pins

DIGEST = "@sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NETPOL_LAB_NODE_IMAGE", "garbage!!"),
        ("NETPOL_LAB_NODE_IMAGE", "kindest/node:v1.36.1 --privileged"),
        ("NETPOL_LAB_AGNHOST_IMAGE", "Registry.k8s.io/UPPER/agnhost"),
        ("NETPOL_LAB_AGNHOST_IMAGE", "agnhost@sha256:short"),
        ("NETPOL_LAB_CALICO_BASE_URL", "http://mirror.example/calico/"),
        ("NETPOL_LAB_CALICO_BASE_URL", "ftp://mirror.example/"),
        ("NETPOL_LAB_CALICO_SHA256_TIGERA_OPERATOR_YAML", "not-a-digest"),
        ("NETPOL_LAB_KUBECTL_MIN_VERSION", "latest"),
    ],
)
def test_a_value_that_cannot_be_a_pin_is_refused(variable: str, value: str) -> None:
    with pytest.raises(PinError) as raised:
        Pins.from_env({variable: value})
    assert raised.value.status == ExitStatus.USAGE
    assert raised.value.message.startswith(f"{variable}={value!r} is not ")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NETPOL_LAB_NODE_IMAGE", "kindest/node:v1.36.1" + DIGEST),
        ("NETPOL_LAB_AGNHOST_IMAGE", "localhost:5000/e2e-test-images/agnhost:2.66"),
        ("NETPOL_LAB_AGNHOST_IMAGE", "registry.k8s.io/e2e-test-images/agnhost" + DIGEST),
        ("NETPOL_LAB_CALICO_BASE_URL", "https://mirror.example/calico/v3.32.1/"),
    ],
)
def test_a_well_formed_override_is_taken_and_named(variable: str, value: str) -> None:
    pins = Pins.from_env({variable: value})
    assert variable in pins.overrides
    assert value in (pins.node_image, pins.agnhost_image, pins.calico_base_url)


def test_a_calico_checksum_override_is_taken_in_lowercase() -> None:
    digest = "AB" * 32
    pins = Pins.from_env({"NETPOL_LAB_CALICO_SHA256_TIGERA_OPERATOR_YAML": digest})
    operator = next(m for m in pins.calico_manifests if m.name == "tigera-operator.yaml")
    assert operator.sha256 == digest.lower()
