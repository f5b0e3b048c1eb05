"""The model API server keeps the API's invariants, as real kubectl and the Python client see them.

These tests are what the rest of the suite leans on: if the model answered what the lab expects
instead of what an API server says, every test built on it would confirm beliefs. Each case
states an upstream behaviour and checks it through the real client path.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from lab.boundary.kube import KubeClients, WebsocketTransport, find_pod
from tests.model.world import LabWorld

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "team"},
    "data": {"a": "1"},
}


def ssa(
    world: LabWorld,
    *docs: dict[str, Any],
    manager: str = "netpol-lab",
    force: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = ["apply", "--server-side", f"--field-manager={manager}", "-f", "-"]
    if force:
        args.insert(2, "--force-conflicts")
    return world.kubectl(*args, input=yaml.safe_dump_all(list(docs)), check=check)


@pytest.fixture
def cluster(model_world: LabWorld) -> LabWorld:
    """Three nodes with kind's own CNI disabled, as the lab asks for."""
    model_world.kind_create(
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "networking": {"disableDefaultCNI": True},
            "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}],
        }
    )
    return model_world


def test_a_namespaced_object_before_its_namespace_is_refused_as_the_server_words_it(
    cluster: LabWorld,
) -> None:
    # NamespaceLifecycle admission; kubectl applies in the order read (CONFIGMAP comes first here)
    done = ssa(cluster, CONFIGMAP, NAMESPACE, check=False)
    assert done.returncode == 1
    assert 'Error from server (NotFound): namespaces "team" not found' in done.stderr
    assert "namespace/team serverside-applied" in done.stdout
    assert ssa(cluster, CONFIGMAP).returncode == 0  # the namespace exists now


def test_a_terminating_namespace_refuses_new_objects(cluster: LabWorld) -> None:
    cluster.world.namespace_delay = 30.0
    ssa(cluster, NAMESPACE)
    cluster.kubectl("delete", "namespace", "team", "--wait=false")
    done = ssa(cluster, CONFIGMAP, check=False)
    assert "unable to create new content in namespace team because it is being terminated" in done.stderr
    phase = cluster.kubectl("get", "namespace", "team", "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Terminating"


def test_a_deleted_namespace_takes_its_objects_with_it(cluster: LabWorld) -> None:
    cluster.world.namespace_delay = 0.0
    ssa(cluster, NAMESPACE)
    ssa(cluster, CONFIGMAP)
    cluster.kubectl("delete", "namespace", "team")  # waits until it is gone, as kubectl does
    assert cluster.names("", "configmaps", "team") == []
    assert "team" not in cluster.names("", "namespaces")


def test_custom_resources_need_an_established_crd_and_discovery_follows(cluster: LabWorld) -> None:
    install = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "Installation",
        "metadata": {"name": "default"},
        "spec": {},
    }
    done = ssa(cluster, install, check=False)
    assert 'no matches for kind "Installation" in version "operator.tigera.io/v1"' in done.stderr
    assert "ensure CRDs are installed first" in done.stderr
    assert "operator.tigera.io" not in cluster.kubectl("api-resources", "-o", "name").stdout
    bundle = cluster.calico_env["NETPOL_LAB_CALICO_DIR"] + "/v1_crd_projectcalico_org.yaml"
    cluster.kubectl("apply", "--server-side", "-f", bundle)
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=10s", "crd/installations.operator.tigera.io"
    )
    assert "installations.operator.tigera.io" in cluster.kubectl("api-resources", "-o", "name").stdout
    assert ssa(cluster, install).returncode == 0


def test_a_plural_two_groups_serve_means_the_built_in_group_as_discovery_orders_them(
    cluster: LabWorld,
) -> None:
    # Calico's CRDs serve crd.projectcalico.org/v1 networkpolicies too; the aggregator lists the
    # built-in networking.k8s.io first (priority 17200 against a CRD group's 1000), so kubectl's
    # `networkpolicy` is Kubernetes' NetworkPolicy
    bundle = cluster.calico_env["NETPOL_LAB_CALICO_DIR"] + "/v1_crd_projectcalico_org.yaml"
    cluster.kubectl("apply", "--server-side", "-f", bundle)
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=10s", "crd/networkpolicies.crd.projectcalico.org"
    )
    cluster.kubectl("api-resources", "-o", "name")  # discovery read afresh, as a new shell would
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "team"},
        "spec": {"podSelector": {}},
    }
    ssa(cluster, NAMESPACE, policy)
    listed = cluster.kubectl("get", "networkpolicy", "-n", "team", "-o", "name").stdout
    assert listed.split() == ["networkpolicy.networking.k8s.io/deny"]


def test_server_side_apply_reports_a_conflict_unless_forced(cluster: LabWorld) -> None:
    ssa(cluster, NAMESPACE)
    ssa(cluster, CONFIGMAP, manager="first")
    changed = {**CONFIGMAP, "data": {"a": "2"}}
    done = ssa(cluster, changed, manager="second", check=False)
    assert done.returncode == 1
    assert 'conflict with "first"' in done.stderr and ".data.a" in done.stderr
    assert ssa(cluster, changed, manager="second", force=True).returncode == 0
    live = json.loads(
        cluster.kubectl("get", "configmap", "c", "-n", "team", "-o", "json", "--show-managed-fields").stdout
    )
    assert live["data"] == {"a": "2"}
    assert {m["manager"] for m in live["metadata"]["managedFields"]} == {"second"}


def test_applying_the_same_object_again_changes_nothing(cluster: LabWorld) -> None:
    ssa(cluster, NAMESPACE)
    ssa(cluster, CONFIGMAP)
    before = cluster.kubectl(
        "get", "configmap", "c", "-n", "team", "-o", "jsonpath={.metadata.resourceVersion}"
    ).stdout
    ssa(cluster, CONFIGMAP)
    after = cluster.kubectl(
        "get", "configmap", "c", "-n", "team", "-o", "jsonpath={.metadata.resourceVersion}"
    ).stdout
    assert before == after


def test_strict_field_validation_refuses_unknown_fields(cluster: LabWorld) -> None:
    ssa(cluster, NAMESPACE)
    bad = {**CONFIGMAP, "spec": {"oops": True}}
    done = ssa(cluster, bad, check=False)
    assert done.returncode == 1 and "spec" in done.stderr


def test_label_selectors_follow_the_api_grammar(cluster: LabWorld) -> None:
    ssa(cluster, NAMESPACE)
    docs = [
        {**CONFIGMAP, "metadata": {"name": f"c{n}", "namespace": "team", "labels": labels}}
        for n, labels in enumerate([{"stage": "1"}, {"stage": "5"}, {}])
    ]
    ssa(cluster, *docs)
    listed = cluster.kubectl(
        "get", "configmaps", "-n", "team", "-l", "stage,stage notin (0,1)", "-o", "name"
    ).stdout
    assert listed.split() == ["configmap/c1"]
    cluster.kubectl("delete", "configmaps", "-n", "team", "-l", "stage notin (5)")
    assert cluster.names("", "configmaps", "team") == ["c1"]  # notin also picks objects without the key
    done = cluster.kubectl("get", "configmaps", "-n", "team", "-l", "stage in (", check=False)
    assert done.returncode == 1 and "BadRequest" in done.stderr


def test_deployments_get_pods_once_the_network_is_up(cluster: LabWorld) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    ssa(cluster, NAMESPACE, deployment)
    cluster.cluster.wait_until(lambda: [p for p in cluster.objects("", "pods", "team") if p.get("status")])
    pod = cluster.objects("", "pods", "team")[0]
    # no CNI yet (kind was told to disable its own): the nodes are NotReady, tainted, and the pod waits
    assert pod["status"]["phase"] == "Pending" and not pod["status"].get("podIP")
    assert "untolerated taints" in pod["status"]["conditions"][0]["message"]
    cluster.cluster.kind.cni_configured.update(cluster.cluster.kind.nodes)  # type: ignore[union-attr]
    done = cluster.kubectl("rollout", "status", "deployment/web", "-n", "team", "--timeout=10s")
    assert "successfully rolled out" in done.stdout
    pod = cluster.objects("", "pods", "team")[0]
    assert pod["status"]["podIP"]
    assert pod["spec"]["nodeName"] in (
        "netpol-lab-worker",
        "netpol-lab-worker2",
    )  # the control plane is tainted


def test_restricted_pod_security_refuses_a_root_pod(cluster: LabWorld) -> None:
    namespace = {
        **NAMESPACE,
        "metadata": {"name": "team", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    ssa(cluster, namespace)
    done = ssa(cluster, pod, check=False)
    assert 'violates PodSecurity "restricted:latest"' in done.stderr
    assert "allowPrivilegeEscalation != false" in done.stderr


def test_exec_works_through_kubectl_and_the_python_client(cluster: LabWorld) -> None:
    cluster.cluster.kind.cni_configured.update(cluster.cluster.kind.nodes)  # type: ignore[union-attr]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team", "labels": {"app": "p"}},
        "spec": {"containers": [{"name": "agnhost", "image": "agnhost"}]},
    }
    ssa(cluster, NAMESPACE, pod)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/p", "-n", "team", "--timeout=10s")
    done = cluster.kubectl(
        "exec", "-n", "team", "p", "--", "/agnhost", "connect", "1.1.1.1:443", "--timeout=1s", check=False
    )
    assert done.returncode == 0
    cluster.world.internet = False
    done = cluster.kubectl(
        "exec", "-n", "team", "p", "--", "/agnhost", "connect", "1.1.1.1:443", "--timeout=1s", check=False
    )
    assert done.returncode == 1 and "TIMEOUT" in done.stderr
    clients = KubeClients(str(cluster.kubeconfig))
    try:
        found = find_pod(clients, "team", "p")
        assert found is not None and found.ready
        outcome = WebsocketTransport(clients).exec(
            "team", "p", "agnhost", ["/agnhost", "connect", "1.1.1.1:443"], 5
        )
        assert (outcome.exit_code, outcome.stderr.strip()) == (1, "TIMEOUT")
    finally:
        clients.close()


def test_a_connection_reset_before_accept_does_not_stall_the_server(cluster: LabWorld) -> None:
    # what serve_forever does when select() said "readable" but the client reset its connection
    # before accept(): with a blocking accept, the loop (and so shutdown) would wait forever
    import threading

    server = cluster.cluster.server
    assert server is not None
    run_once = server._handle_request_noblock  # type: ignore[attr-defined]  # socketserver internal
    handled = threading.Thread(target=run_once, daemon=True)
    handled.start()
    handled.join(timeout=5)
    assert not handled.is_alive()
