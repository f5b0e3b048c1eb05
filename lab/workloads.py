"""Deploy the four workloads: `kubectl apply --server-side -f manifests/workloads/`.

The manifests name the pinned agnhost image. When NETPOL_LAB_AGNHOST_IMAGE picks
another one, the folder is rendered once into .cache/workloads/ with the image
substituted and that folder is applied instead: one apply, no rollout churn from a
later `kubectl set image`, and the echoed command stays one a participant can type.
"""

from __future__ import annotations

from pathlib import Path

from lab import pins as pins_module
from lab.calico import apply_argv
from lab.cluster import Cluster
from lab.env import ExitStatus
from lab.errors import LabError
from lab.pins import Pins
from lab.runner import Runner

WORKLOADS_DIR = Path("manifests") / "workloads"  # relative to the project root
RENDERED_DIR = Path(".cache") / "workloads"


def manifests_folder(root: Path, pins: Pins) -> Path:
    """The folder to apply (relative to ``root``): the committed one, or a copy with another image."""
    source = root / WORKLOADS_DIR
    files = sorted(source.glob("*.yaml"))
    if not files:
        raise LabError(
            f"no workload manifests in {source}: restore them with `git checkout -- {WORKLOADS_DIR}`"
        )
    if pins.agnhost_image == pins_module.AGNHOST_IMAGE:
        return WORKLOADS_DIR
    target = root / RENDERED_DIR
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
            f"NETPOL_LAB_AGNHOST_IMAGE is set but no manifest in {WORKLOADS_DIR} names the pinned image "
            f"{pins_module.AGNHOST_IMAGE}: restore them with `git checkout -- {WORKLOADS_DIR}`"
        )
    return RENDERED_DIR


def deploy(runner: Runner, cluster: Cluster, folder: Path, *, timeout: float) -> None:
    """Apply every workload manifest in ``folder`` (server-side, so a re-run changes nothing)."""
    result = runner.run(apply_argv(cluster.kubectl, [f"{folder}/"]), timeout=timeout)
    if result.ok or result.dry_run:
        return
    if result.timed_out:
        raise LabError(
            f"`{result.command_line}` did not finish in time: rerun `make lab-up`", ExitStatus.TIMEOUT
        )
    raise LabError(f"could not deploy the workloads: {result.error_line()}: rerun `make lab-up` to carry on")
