"""Order-safe apply: namespaces and CRDs reach the API server before what lives in them.

The plans are checked as command lines (the subject of the first tests), then run through real
kubectl against the model API server, which refuses a namespaced object in a missing namespace
exactly as kube-apiserver's NamespaceLifecycle admission does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lab.boundary.apply import plan_apply, plan_apply_documents
from lab.boundary.runner import ShRunner
from lab.env import project_root
from lab.errors import LabError
from lab.lifecycle import workloads
from lab.lifecycle.cluster import Cluster
from tests.model.world import LabWorld

KUBECTL = ["kubectl", "--context", "kind-netpol-lab"]
APPLY = "kubectl --context kind-netpol-lab apply --server-side --force-conflicts --field-manager=netpol-lab"


def kubectl(*args: str) -> list[str]:
    return [*KUBECTL, *args]


def lines(steps: list) -> list[str]:
    return [" ".join(step.argv) for step in steps]


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}


def write(folder: Path, name: str, *docs: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump_all(list(docs)))
    return path


def test_the_workloads_folder_applies_its_namespaces_file_first() -> None:
    root = project_root()
    assert lines(plan_apply(kubectl, [workloads.WORKLOADS_DIR], root=root)) == [
        f"{APPLY} -f manifests/workloads/namespaces.yaml",
        f"{APPLY} -f manifests/workloads/",
    ]


def test_a_file_that_mixes_kinds_sends_its_namespace_ahead_on_stdin(tmp_path: Path) -> None:
    write(tmp_path / "m", "app.yaml", CONFIGMAP, NAMESPACE)  # the namespace comes last in the file
    steps = plan_apply(kubectl, [Path("m")], root=tmp_path)
    assert lines(steps) == [f"{APPLY} -f -", f"{APPLY} -f m/"]
    assert [d["kind"] for d in yaml.safe_load_all(steps[0].input or "")] == ["Namespace"]


def test_crds_are_waited_for_before_their_objects(tmp_path: Path) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"}}  # fmt: skip
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    write(tmp_path / "m", "a.yaml", widget)
    write(tmp_path / "m", "b-crd.yaml", crd)
    assert lines(plan_apply(kubectl, [Path("m")], root=tmp_path)) == [
        f"{APPLY} -f m/b-crd.yaml",
        "kubectl --context kind-netpol-lab wait --for=condition=Established --timeout=120s -f m/b-crd.yaml",
        f"{APPLY} -f m/",
    ]


def test_documents_without_namespaces_are_one_apply() -> None:
    assert lines(plan_apply_documents(kubectl, [CONFIGMAP])) == [f"{APPLY} -f -"]
    assert lines(plan_apply_documents(kubectl, [CONFIGMAP, NAMESPACE])) == [f"{APPLY} -f -", f"{APPLY} -f -"]


def test_a_manifest_that_is_not_an_object_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.yaml").write_text("- just\n- a list\n")
    with pytest.raises(LabError) as caught:
        plan_apply(kubectl, [Path("m")], root=tmp_path)
    assert caught.value.message == f"{tmp_path}/m/x.yaml: document 1 is not a Kubernetes object (no kind)"


# -- through real kubectl, against the model ------------------------------------------------------


def deploy(world: LabWorld, root: Path, *folders: Path) -> None:
    env = world.environment()
    runner = ShRunner(env.stdout, env=env.env, cwd=root)
    workloads.deploy(runner, Cluster(runner), *folders, root=root, timeout=60)


def test_the_first_deploy_on_a_fresh_cluster_succeeds(model_world: LabWorld) -> None:
    # `kubectl apply -f manifests/workloads/` alone reads backend.yaml before namespaces.yaml and stops
    # at `namespaces "backend" not found`: the very first `make lab-up` did.
    model_world.kind_create()
    deploy(model_world, model_world.root, workloads.WORKLOADS_DIR)
    assert {"frontend", "backend", "database", "untrusted"} <= set(model_world.names("", "namespaces"))
    assert sorted(model_world.names("apps", "deployments", "backend")) == ["backend"]


def test_manifests_listed_in_any_order_deploy_the_first_time(model_world: LabWorld, tmp_path: Path) -> None:
    model_world.kind_create()
    root = tmp_path / "lab"
    folder = root / "m"
    deployment = next(yaml.safe_load_all((project_root() / "manifests/workloads/backend.yaml").read_text()))
    namespaces = list(
        yaml.safe_load_all((project_root() / "manifests/workloads/namespaces.yaml").read_text())
    )
    write(folder, "0-backend.yaml", deployment)
    write(folder, "1-mixed.yaml", CONFIGMAP, NAMESPACE)
    write(folder, "zz-namespaces.yaml", *namespaces)
    deploy(model_world, root, Path("m"))
    assert model_world.names("apps", "deployments", "backend") == ["backend"]
    assert model_world.names("", "configmaps", "shop") == ["c"]


def test_a_refused_apply_is_one_line_with_the_servers_words(model_world: LabWorld, tmp_path: Path) -> None:
    model_world.kind_create()
    root = tmp_path / "lab"
    write(root / "m", "a.yaml", {**CONFIGMAP, "metadata": {"name": "c", "namespace": "nowhere"}})
    with pytest.raises(LabError) as caught:
        deploy(model_world, root, Path("m"))
    assert caught.value.message == (
        'deploying the workloads failed: Error from server (NotFound): namespaces "nowhere" not found; '
        "rerun `make lab-up` to carry on"
    )
    shutil.rmtree(root)
