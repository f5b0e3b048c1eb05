"""A dual-stack lab: kind's config (v1alpha4 keys), Calico's pools that match it, `up`'s plan and its
fallback when Docker has no IPv6, and the probes' IPv6 cells."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import cli, pins, scenario
from lab.boundary.runner import Result
from lab.env import Environment, project_root
from lab.errors import ExitStatus, LabError
from lab.lifecycle import calico
from lab.lifecycle.cluster import KIND_CONFIG, RENDERED_CONFIG, render_kind_config
from lab.lifecycle.cni import CALICO, KINDNET, PLAIN
from lab.probe.controls import controlled_columns
from lab.probe.targets import plan_probes
from tests.fakes import captured_env, errors, output
from tests.unit.commands.test_up import run_up
from tests.unit.lab_world import World, calico_folder
from tests.unit.lifecycle.test_kind_config import unknown_keys
from tests.unit.probe.fakes import lab_pods

ROOT = project_root()
TEXT = (ROOT / KIND_CONFIG).read_text()
# kind v0.32.0 pkg/apis/config/v1alpha4/types.go: ClusterIPFamily is ipv4, ipv6 or dual
KIND_IP_FAMILIES = {"ipv4", "ipv6", "dual"}


def dual_config(cni: Any = CALICO) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        render_kind_config(TEXT, cni, pins.NODE_IMAGE, scenario.DUAL).text
    )
    return loaded


def test_the_dual_stack_kind_config_uses_only_kinds_keys_and_a_pair_of_subnets() -> None:
    config = dual_config()
    assert unknown_keys(config) == []
    networking = config["networking"]
    assert networking["ipFamily"] == scenario.DUAL and networking["ipFamily"] in KIND_IP_FAMILIES
    pods = [ipaddress.ip_network(s) for s in networking["podSubnet"].split(",")]
    services = [ipaddress.ip_network(s) for s in networking["serviceSubnet"].split(",")]
    assert [n.version for n in pods] == [4, 6] and [n.version for n in services] == [4, 6]  # IPv4 first
    assert str(pods[0]) == pins.POD_SUBNET and str(pods[1]) == scenario.POD_SUBNET_V6
    assert str(services[0]) == pins.SERVICE_SUBNET and str(services[1]) == scenario.SERVICE_SUBNET_V6
    assert not any(p.overlaps(s) for p in pods for s in services if p.version == s.version)
    assert networking["apiServerAddress"] == "127.0.0.1"


def test_an_ipv4_lab_renders_as_before_and_dual_is_another_cluster() -> None:
    ipv4 = render_kind_config(TEXT, CALICO, pins.NODE_IMAGE)
    dual = render_kind_config(TEXT, CALICO, pins.NODE_IMAGE, scenario.DUAL)
    assert "ipFamily" not in yaml.safe_load(ipv4.text)["networking"]
    assert ipv4.fingerprint != dual.fingerprint  # `up` will not take one for the other
    assert dual.pod_subnets == [pins.POD_SUBNET, scenario.POD_SUBNET_V6]
    with pytest.raises(LabError, match="ipv4 or dual"):
        render_kind_config(TEXT, CALICO, pins.NODE_IMAGE, "ipv6")


def test_the_dual_stack_installation_has_one_pool_per_kind_pod_subnet() -> None:
    document = yaml.safe_load((ROOT / calico.LAB_MANIFESTS / calico.DUAL_STACK_INSTALLATION).read_text())
    pools = document["spec"]["calicoNetwork"]["ipPools"]
    kind_subnets = dual_config()["networking"]["podSubnet"].split(",")
    assert [ipaddress.ip_network(p["cidr"]) for p in pools] == [ipaddress.ip_network(s) for s in kind_subnets]
    v4, v6 = pools
    assert v6["encapsulation"] not in ("IPIP", "IPIPCrossSubnet")  # the operator refuses IPIP for IPv6
    assert ipaddress.ip_network(v6["cidr"]).prefixlen <= v6["blockSize"] <= 128
    assert (
        v4
        == yaml.safe_load((ROOT / calico.LAB_MANIFESTS / "installation.yaml").read_text())["spec"][
            "calicoNetwork"
        ]["ipPools"][0]
    )  # the IPv4 pool is the IPv4 lab's
    assert calico.installation_pools(ROOT, scenario.DUAL) == kind_subnets
    assert calico.core_objects(scenario.DUAL)[0] == calico.DUAL_STACK_INSTALLATION
    assert calico.core_objects(scenario.IPV4) == calico.CORE_OBJECTS


@pytest.fixture
def lab_env(tmp_path: Path) -> Environment:
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "kind-config.yaml", root)
    shutil.copytree(ROOT / "manifests", root / "manifests")
    _, sha_env = calico_folder(tmp_path / "calico")
    return captured_env(
        {"PATH": "/nonexistent", "NETPOL_LAB_CALICO_DIR": str(tmp_path / "calico"), **sha_env}, root=root
    )


def test_the_dry_run_prints_a_dual_stack_plan_whose_kind_config_and_pools_agree(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "kind-config.yaml", root)
    shutil.copytree(ROOT / "manifests", root / "manifests")
    env = captured_env({"PATH": str(root / "empty")}, root=root)
    assert cli.run(["up", "--dry-run", "--ip-family", "dual"], env) is ExitStatus.SUCCESS
    text = output(env)
    assert (
        "dual-stack: kind networking.ipFamily dual, podSubnet 192.168.0.0/16,fd00:10:244::/56, "
        "serviceSubnet 10.96.0.0/16,fd00:10:96::/112" in text
    )
    assert "dual-stack: Calico IP pools 192.168.0.0/16, fd00:10:244::/56" in text and "they agree" in text
    assert "-f manifests/calico/installation-dual-stack.yaml -f manifests/calico/apiserver.yaml" in text
    assert "-f manifests/calico/installation.yaml" not in text


def test_pools_that_disagree_with_kind_stop_the_plan(lab_env: Environment) -> None:
    path = lab_env.root / calico.LAB_MANIFESTS / calico.DUAL_STACK_INSTALLATION
    path.write_text(path.read_text().replace("fd00:10:244::/56", "fd00:99::/56"))
    assert run_up(lab_env, World().runner(), "--ip-family", "dual") is ExitStatus.ERROR
    assert "differ from kind's pod subnets" in errors(lab_env)


def test_a_fresh_dual_stack_build_creates_kind_with_ip_family_dual(lab_env: Environment) -> None:
    runner = World(kind_network_ipv6="true").runner()
    assert run_up(lab_env, runner, "--ip-family", "dual") is ExitStatus.SUCCESS, errors(lab_env)
    rendered = yaml.safe_load((lab_env.root / RENDERED_CONFIG).read_text())
    assert rendered["networking"]["ipFamily"] == "dual"
    assert any("installation-dual-stack.yaml" in line for line in runner.lines)
    assert "has IPv6: a dual-stack lab can be built" in output(lab_env)


def test_without_ipv6_in_docker_the_lab_falls_back_to_ipv4_and_says_so(lab_env: Environment) -> None:
    runner = World(kind_network_ipv6="false").runner()
    assert run_up(lab_env, runner, "--ip-family", "dual") is ExitStatus.SUCCESS, errors(lab_env)
    assert "the lab falls back to IPv4" in errors(lab_env)
    rendered = yaml.safe_load((lab_env.root / RENDERED_CONFIG).read_text())
    assert "ipFamily" not in rendered["networking"]
    assert not any("installation-dual-stack.yaml" in line for line in runner.lines)
    assert any("-f manifests/calico/installation.yaml" in line for line in runner.lines)


def test_the_plain_network_is_ipv4_only() -> None:
    env = captured_env()
    assert cli.run(["up", "--dry-run", "--cni", PLAIN.name, "--ip-family", "dual"], env) is ExitStatus.USAGE
    assert "wires IPv4 routes only" in errors(env)
    assert KINDNET.name != PLAIN.name  # kindnet is dual-stack capable: not refused
    assert render_kind_config(TEXT, KINDNET, pins.NODE_IMAGE, scenario.DUAL).pod_subnets[1] == (
        scenario.POD_SUBNET_V6
    )


def test_a_dual_stack_lab_probes_each_ipv6_twin_from_the_pods_ipv6_addresses() -> None:
    pods = {
        name: type(pod)(
            pod.app, pod.name, pod.namespace, pod.ip, pod.node, pod.ready, f"fd00:10:244::{n + 10:x}"
        )
        for n, (name, pod) in enumerate(lab_pods().items())
    }
    columns = scenario.columns_for(scenario.DUAL)
    probes = {(p.row, p.column): p for p in plan_probes(pods, timeout=2, columns=columns)}
    twin = probes[("frontend", "backend:80@v6")]
    assert twin.argv[2] == f"[{pods['backend'].ipv6}]:80"
    assert probes[("frontend", "backend:80")].argv[2] == f"{pods['backend'].ip}:80"
    assert probes[("backend", "database:3306/udp@v6")].argv[-1] == "--protocol=udp"
    assert probes[("backend", "outside@v6")].argv[2] == scenario.OUTSIDE_TARGET_V6
    assert probes[("backend", "metadata@v6")].argv[2] == f"[{scenario.METADATA_IP_V6}]:80"
    assert ("frontend", "svc/backend:80@v6") not in probes  # Services keep one family
    assert controlled_columns(columns) == ("outside", "outside@v6", "metadata", "metadata@v6")
    with pytest.raises(ValueError, match="no IPv6 address"):
        plan_probes(lab_pods(), timeout=2, columns=columns)


def test_the_first_lab_without_ipv6_falls_back_to_ipv4_when_kind_says_so(lab_env: Environment) -> None:
    # no kind network yet, so doctor cannot tell; kind then makes it without IPv6 and its dual-stack
    # create fails as kind v0.32.0 words it: up warns and creates an IPv4 lab instead
    runner = World(kind_network_ipv6="missing").runner()
    creates: list[str] = []

    def create(argv: tuple[str, ...], _input: str | None) -> Result:
        config = yaml.safe_load((lab_env.root / argv[argv.index("--config") + 1]).read_text())
        creates.append(config["networking"].get("ipFamily", "ipv4"))
        if config["networking"].get("ipFamily") == "dual":
            said = (
                "ERROR: failed to create cluster: failed to get IPv6 address for node "
                "netpol-lab-control-plane; is docker configured to use IPv6 correctly?\n"
            )
            return Result(argv, 1, "", said)
        return Result(argv, 0, "", 'Creating cluster "netpol-lab" ...\n')

    runner.script["kind create cluster"] = create
    assert run_up(lab_env, runner, "--ip-family", "dual") is ExitStatus.SUCCESS, errors(lab_env)
    assert creates == ["dual", "ipv4"]
    assert "building an IPv4 lab instead" in errors(lab_env)
    assert any("-f manifests/calico/installation.yaml" in line for line in runner.lines)
    assert not any("installation-dual-stack.yaml" in line for line in runner.lines if "apply" in line)
