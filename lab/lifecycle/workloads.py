"""Deploy the four workloads (`kubectl apply --server-side -f manifests/workloads/`), then the
control pod and the metadata stand-in (`-f manifests/control/ -f manifests/metadata-standin/`).

The manifests name the pinned agnhost image. When NETPOL_LAB_AGNHOST_IMAGE picks
another one, each folder is rendered once into .cache/<folder>/ with the image
substituted and that folder is applied instead: one apply, no rollout churn from a
later `kubectl set image`, and the echoed command stays one a participant can type.
"""

from __future__ import annotations

from pathlib import Path

from lab import pins as pins_module
from lab.boundary.apply import plan_apply, run_steps
from lab.boundary.runner import Runner
from lab.errors import LabError
from lab.lifecycle.cluster import Cluster
from lab.pins import Pins

WORKLOADS_DIR = Path("manifests") / "workloads"  # relative to the project root
# The probes' control pod (outside and metadata cells) and the metadata stand-in (a hostNetwork
# DaemonSet answering on 169.254.169.254:80 on the workers); see the comments in each manifest.
CONTROL_DIR = Path("manifests") / "control"
STANDIN_DIR = Path("manifests") / "metadata-standin"
CONTROL_NAMESPACE = "netpol-lab-control"
CONTROL_DEPLOYMENT = "control"
STANDIN_NAMESPACE = "netpol-lab-metadata"
STANDIN_DAEMONSET = "metadata-standin"


def manifests_folder(root: Path, pins: Pins, folder: Path = WORKLOADS_DIR) -> Path:
    """The folder to apply (relative to ``root``): the committed one, or a copy with another image."""
    source = root / folder
    files = sorted(source.glob("*.yaml"))
    if not files:
        raise LabError(f"no manifests in {source}: restore them with `git checkout -- {folder}`")
    if pins.agnhost_image == pins_module.AGNHOST_IMAGE:
        return folder
    rendered = Path(".cache") / folder.name
    target = root / rendered
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.yaml"):
        stale.unlink()
    found = 0
    for path in files:
        text = path.read_text()
        found += text.count(pins_module.AGNHOST_IMAGE)
        (target / path.name).write_text(text.replace(pins_module.AGNHOST_IMAGE, pins.agnhost_image))
    if not found:
        raise LabError(
            f"NETPOL_LAB_AGNHOST_IMAGE is set but no manifest in {folder} names the pinned image "
            f"{pins_module.AGNHOST_IMAGE}: restore them with `git checkout -- {folder}`"
        )
    return rendered


def deploy(
    runner: Runner,
    cluster: Cluster,
    *folders: Path,
    root: Path,
    timeout: float,
    what: str = "the workloads",
) -> None:
    """Apply every manifest in ``folders``, namespaces first (server-side: a re-run changes nothing)."""
    steps = plan_apply(cluster.kubectl, list(folders), root=root)
    run_steps(runner, steps, what=f"deploying {what}", fix="rerun `make lab-up` to carry on", timeout=timeout)


def rollout_status_argv(cluster: Cluster, namespace: str, workload: str, seconds: float) -> list[str]:
    """`kubectl rollout status` of ``workload`` (kind/name), bounded by ``seconds``."""
    return cluster.kubectl(
        "rollout", "status", workload, "-n", namespace, f"--timeout={max(1, int(seconds))}s"
    )
