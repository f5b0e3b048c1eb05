"""`status`: nodes with their slot, the CNI, Calico's components, and each pod's node and IP."""

from __future__ import annotations

from pathlib import Path

from lab import cli
from lab.errors import ExitStatus
from lab.lifecycle import status
from lab.lifecycle.cluster import Cluster
from tests.fakes import captured_env, errors, output
from tests.unit.fakebin.tools import install
from tests.unit.lab_world import World


def rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}


def test_shows_placement_and_ips() -> None:
    runner = World(cluster_exists=True).runner()
    env = captured_env()
    assert status.show(env, runner, Cluster(runner)) is ExitStatus.SUCCESS
    text = output(env)
    assert "Cluster netpol-lab (context kind-netpol-lab), CNI calico" in text
    table = rows(text)
    assert table["netpol-lab-worker"][1:4] == ["worker", "a", "yes"]
    assert table["netpol-lab-control-plane"][1:3] == ["control-plane", "-"]
    assert table["frontend"] == [
        "frontend",
        "frontend-7d9f",
        "frontend",
        "yes",
        "netpol-lab-worker",
        "a",
        "192.168.0.5",
    ]
    assert table["untrusted"] == [
        "untrusted",
        "untrusted-7d9f",
        "frontend",
        "yes",
        "netpol-lab-worker2",
        "b",
        "192.168.3.5",
    ]
    assert table["calico"][:4] == ["calico", "yes", "no", "no"]


def test_pods_not_ready_say_why() -> None:
    runner = World(cluster_exists=True, pods_ready=False).runner()
    env = captured_env()
    status.show(env, runner, Cluster(runner))
    assert "no (agnhost: ImagePullBackOff (pull failed))" in output(env)


def test_no_cluster_is_one_line_with_the_fix() -> None:
    runner = World(cluster_exists=False).runner()
    env = captured_env()
    assert (
        status.show(env, runner, Cluster(runner)) is ExitStatus.MISSING_PREREQUISITE
    )  # no lab: 4, as in every verb
    assert errors(env) == "error: there is no lab cluster netpol-lab: create it with `make lab-up`\n"


def test_kindnet_lab_has_no_calico_table() -> None:
    runner = World(cluster_exists=True, cni="kindnet").runner()
    env = captured_env()
    status.show(env, runner, Cluster(runner))
    assert "CNI kindnet" in output(env)
    assert not any("tigerastatus" in line for line in runner.lines)


def test_through_fake_kubectl(tmp_path: Path) -> None:
    fakes = install(tmp_path)
    fakes.script(World(cluster_exists=True).fake_script())
    env = captured_env(fakes.env())
    assert cli.run(["status"], env) is ExitStatus.SUCCESS, errors(env)
    assert "$ kubectl --context kind-netpol-lab get nodes -o json" in output(env)
    assert "192.168.1.5" in output(env)


def test_shows_the_control_pod_and_the_metadata_standin() -> None:
    runner = World(cluster_exists=True).runner()
    env = captured_env()
    status.show(env, runner, Cluster(runner))
    text = output(env)
    assert "PROBE HELPER" in text
    table = rows(text)
    assert table["control"] == [
        "control",
        "netpol-lab-control/control-5c6b",
        "yes",
        "netpol-lab-worker",
        "a",
        "192.168.1.9",
    ]
    standins = [line.split() for line in text.splitlines() if "netpol-lab-metadata/" in line]
    assert [row[3:6] for row in standins] == [
        ["yes", "netpol-lab-worker", "a"],
        ["yes", "netpol-lab-worker2", "b"],
    ]
    assert "inconclusive" not in text
    # the lab's own table keeps to the four workloads
    assert "netpol-lab-control/control" not in table["frontend"]


def test_a_standin_not_ready_says_what_it_costs() -> None:
    runner = World(cluster_exists=True, standin_ready=False).runner()
    env = captured_env()
    status.show(env, runner, Cluster(runner))
    assert "metadata stand-in not Ready: the metadata cells are inconclusive until it is" in output(env)
    assert "control not Ready" not in output(env)


def test_missing_helpers_point_at_lab_up() -> None:
    runner = World(cluster_exists=True).runner()
    runner.answer(
        "kubectl --context kind-netpol-lab get pods -A -l app.kubernetes.io/part-of=netpol-lab",
        stdout='{"items": []}',
    )
    env = captured_env()
    status.show(env, runner, Cluster(runner))
    assert "Control pod and metadata stand-in: none yet (`make lab-up` deploys them)" in output(env)
