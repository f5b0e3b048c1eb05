"""Build the lab, step by step: check this machine, fetch and verify Calico's pinned
manifests, create the kind cluster (1 control plane, 2 workers), install Calico, wait
for it, deploy the four workloads and wait until they are Ready.

Safe to rerun: a healthy lab is left as it is, a half-built one is carried on, and a
cluster of the same name built differently is reported with the command to rebuild
it. Every kind and kubectl command is printed as you could type it; --dry-run prints
the whole plan and runs nothing."""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lab import calico, doctor, waits, workloads
from lab import cluster as cluster_module
from lab.cluster import Cluster, RenderedConfig
from lab.cni import CNIS, DEFAULT_CNI, Cni, cni_by_name
from lab.commands import status
from lab.diagnose import diagnose
from lab.env import Environment, ExitStatus
from lab.errors import LabError
from lab.pins import PART_OF_LABEL, Pins
from lab.runner import Runner, ShRunner
from lab.scenario import LAB_NAMESPACES

DEFAULT_TIMEOUT = 900.0  # image pulls for three nodes and Calico on a workshop's wifi
COMMAND_TIMEOUT = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print the whole plan in order and run nothing"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"overall time limit for building the lab (default {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--cni",
        choices=sorted(CNIS),
        default=DEFAULT_CNI,
        help="network plugin: calico (default; NetworkPolicy and Calico policies) or kindnet (kind's own)",
    )
    parser.add_argument(
        "--no-flow-ui",
        dest="flow_ui",
        action="store_false",
        help="leave out Whisker and Goldmane (Calico's flow UI), for laptops short of memory",
    )
    parser.add_argument(
        "--calico-dir",
        metavar="DIR",
        help="take Calico's manifests from this folder instead of downloading them (offline workshops; "
        "checksums still apply; also NETPOL_LAB_CALICO_DIR)",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file for kind and kubectl (default: kind's)")


@dataclass
class UpContext:
    """What every step of `up` works with."""

    env: Environment
    runner: Runner
    cluster: Cluster
    cni: Cni
    pins: Pins
    flow_ui: bool
    calico_dir: str | None
    deadline: waits.Deadline
    progress: waits.Progress
    system: str
    proc: Path
    sleep: Callable[[float], None]
    calico_files: list[Path] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.env.root

    def timeout(self, cap: float = COMMAND_TIMEOUT) -> float:
        return self.deadline.command_timeout(cap)

    def wait(self, *phases: waits.Phase) -> None:
        waits.wait_all(phases, self.deadline, self.progress, sleep=self.sleep)


# Steps that need the workloads Ready run here, in order, before the summary; each may raise
# LabError. The enforcement check (lab/enforcement.py) belongs in this list.
AFTER_WORKLOADS_READY: list[Callable[[UpContext], None]] = []


def check_prerequisites(ctx: UpContext) -> None:
    findings = doctor.run_checks(ctx.runner, system=ctx.system, proc=ctx.proc, cluster=False)
    failed = doctor.failures(findings)
    if failed:  # only what stops the build; `netpol-lab doctor` shows the warnings too
        for finding in failed[:-1]:
            ctx.env.err(f"error: {finding.message}")
        raise LabError(failed[-1].message, ExitStatus.MISSING_PREREQUISITE)
    for finding in findings:
        if finding.level is doctor.Level.WARN:
            ctx.env.err(f"warning: {finding.check}: {finding.message}")


def fetch_calico(ctx: UpContext) -> None:
    if not ctx.cni.installs_calico:
        ctx.env.out(f"CNI {ctx.cni.name}: {ctx.cni.summary}; no Calico to fetch")
        return
    source = calico.source_for(ctx.root, ctx.pins, ctx.calico_dir)
    ctx.calico_files = calico.fetch_verified(
        ctx.pins, source, ctx.env.out, root=ctx.root, dry_run=ctx.runner.dry_run
    )


def ensure_cluster(ctx: UpContext) -> None:
    base = (ctx.root / cluster_module.KIND_CONFIG).read_text()
    rendered = cluster_module.render_kind_config(base, ctx.cni, ctx.pins.node_image)
    if ctx.cluster.exists():
        if not ctx.cluster.has_context():
            ctx.cluster.export_kubeconfig()
        ctx.cluster.check_built_as(rendered)
        ctx.env.out(f"cluster {ctx.cluster.name} exists and matches: not recreated")
        return
    config = _write_rendered(ctx, rendered)
    ctx.cluster.create(config, timeout=ctx.deadline.remaining() or None)


def _write_rendered(ctx: UpContext, rendered: RenderedConfig) -> str:
    path = ctx.root / cluster_module.RENDERED_CONFIG
    if not ctx.runner.dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered.text)
    return str(cluster_module.RENDERED_CONFIG)


def install_calico(ctx: UpContext) -> None:
    if not ctx.cni.installs_calico:
        return
    calico.install(
        ctx.runner,
        ctx.cluster.kubectl,
        ctx.calico_files,
        root=ctx.root,
        flow_ui=ctx.flow_ui,
        timeout=ctx.timeout(),
    )


def wait_for_network(ctx: UpContext) -> None:
    phases = []
    if ctx.cni.installs_calico:
        phases += [
            waits.tigerastatus_phase(ctx.runner, ctx.cluster.kubectl, "calico"),
            waits.tigerastatus_phase(ctx.runner, ctx.cluster.kubectl, "apiserver"),
        ]
    phases += [
        waits.nodes_phase(ctx.runner, ctx.cluster.kubectl, cluster_module.EXPECTED_NODES),
        waits.pods_phase(
            ctx.runner, ctx.cluster.kubectl, "CoreDNS Ready", "k8s-app=kube-dns", namespace="kube-system"
        ),
    ]
    ctx.wait(*phases)


def deploy_workloads(ctx: UpContext) -> None:
    folder = workloads.manifests_folder(ctx.root, ctx.pins)
    workloads.deploy(ctx.runner, ctx.cluster, folder, timeout=ctx.timeout())


def wait_for_workloads(ctx: UpContext) -> None:
    selector = "=".join(PART_OF_LABEL)
    ctx.wait(
        waits.pods_phase(
            ctx.runner, ctx.cluster.kubectl, "lab pods Ready", selector, namespaces=LAB_NAMESPACES
        )
    )


def after_workloads_ready(ctx: UpContext) -> None:
    for hook in AFTER_WORKLOADS_READY:
        hook(ctx)


def summary(ctx: UpContext) -> None:
    if ctx.runner.dry_run:
        ctx.env.out("dry run: nothing was run")
        return
    status.show(ctx.env, ctx.runner, ctx.cluster, check_exists=False)
    ctx.env.out(f"The lab is ready (CNI {ctx.cni.name}). Next: `make probe`, `netpol-lab stage list`.")


# (title, function, whether a failure leaves a cluster worth diagnosing)
STEPS: tuple[tuple[str, Callable[[UpContext], None], bool], ...] = (
    ("check this machine", check_prerequisites, False),
    ("fetch and verify Calico's pinned manifests", fetch_calico, False),
    ("kind cluster", ensure_cluster, False),
    ("install Calico", install_calico, True),
    ("wait for the network", wait_for_network, True),
    ("deploy the workloads", deploy_workloads, True),
    ("wait for the workloads", wait_for_workloads, True),
    ("after the workloads are Ready", after_workloads_ready, True),
    ("summary", summary, False),
)


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root, dry_run=args.dry_run)
    return execute(args, env, runner)


def execute(
    args: argparse.Namespace,
    env: Environment,
    runner: Runner,
    *,
    system: str | None = None,
    proc: Path = Path("/proc"),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExitStatus:
    """Run the steps in order; on a failure after the cluster exists, diagnose and export logs."""
    ctx = UpContext(
        env=env,
        runner=runner,
        cluster=Cluster(runner, kubeconfig=args.kubeconfig),
        cni=cni_by_name(args.cni),
        pins=Pins.from_env(env.env),
        flow_ui=args.flow_ui,
        calico_dir=args.calico_dir,
        deadline=waits.Deadline(args.timeout, clock),
        progress=waits.Progress(
            env.console(), live=bool(env.stdout_isatty), dry_run=runner.dry_run, clock=clock
        ),
        system=system or platform.system(),
        proc=proc,
        sleep=sleep,
    )
    if ctx.pins.overrides:
        env.out("pins overridden by: " + ", ".join(ctx.pins.overrides))
    for number, (title, step, diagnosable) in enumerate(STEPS, start=1):
        env.out(f"==> [{number}/{len(STEPS)}] {title}")
        try:
            step(ctx)
        except waits.WaitTimeout as timeout:
            _diagnose(ctx)
            raise LabError(
                f"timed out after {timeout.elapsed:.0f}s waiting for {timeout.phase} ({timeout.detail}): "
                "see above; rerun `make lab-up` to carry on (or raise --timeout), "
                f"or rebuild with `{cluster_module.RECREATE}`",
                ExitStatus.TIMEOUT,
            ) from None
        except LabError:
            if diagnosable and not runner.dry_run:
                _diagnose(ctx)
            raise
    return ExitStatus.SUCCESS


def _diagnose(ctx: UpContext) -> None:
    ctx.env.out("What is not ready:")
    diagnose(ctx.runner, ctx.cluster, ctx.root, ctx.env.out, calico=ctx.cni.installs_calico)
