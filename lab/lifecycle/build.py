"""Building the lab, one small action per step (kind's create actions are the model): check this
machine, fetch and verify Calico's manifests, create the kind cluster, preload images, install and
wait for the network, deploy the workloads, the control pod and the metadata stand-in, wait for
them, check that NetworkPolicy is enforced (and record the verdict), and sum up.

Each step takes the ``UpContext`` and may raise a ``LabError``; ``build`` runs them in order and
diagnoses a failure once the cluster exists. ``netpol-lab up`` is its command line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lab import scenario
from lab.boundary.records import read_record, write_record
from lab.boundary.runner import Runner
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.lifecycle import calico, doctor, enforcement, images, plain_network, status, waits, workloads
from lab.lifecycle import cluster as cluster_module
from lab.lifecycle.cluster import Cluster, RenderedConfig
from lab.lifecycle.cni import DEFAULT_CNI, Cni, cni_by_name
from lab.lifecycle.diagnose import diagnose
from lab.pins import PART_OF_LABEL, Pins
from lab.scenario import LAB_NAMESPACES

DEFAULT_TIMEOUT = 900.0  # image pulls for three nodes and Calico on a workshop's wifi
COMMAND_TIMEOUT = 300.0
STANDIN_TIMEOUT = 120.0  # the metadata stand-in is optional: a short wait, then a warning
ENFORCEMENT_ATTEMPTS = 10  # probes after the deny policy, to give the CNI time to program it
ENFORCEMENT_INTERVAL = 1.0  # seconds between those probes


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
    enforcement_check: bool = True
    ip_family: str = scenario.IPV4  # dual: kind's ipFamily dual, Calico's IPv6 pool (may fall back)
    calico_files: list[Path] = field(default_factory=list)
    enforcement_result: enforcement.EnforcementResult | None = None

    @property
    def root(self) -> Path:
        return self.env.root

    def timeout(self, cap: float = COMMAND_TIMEOUT) -> float:
        return self.deadline.command_timeout(cap)

    def wait(self, *phases: waits.Phase) -> None:
        waits.wait_all(phases, self.deadline, self.progress, sleep=self.sleep)


def check_enforcement(ctx: UpContext) -> None:
    """Ask a canary pod whether NetworkPolicy is enforced, and say it plainly.

    calico and kindnet must enforce: "does not enforce" fails `up` (the lab would prove
    nothing). plain must not: its "does not enforce" is the point of that mode and is said
    loudly, and `up` succeeds. When the check cannot tell (a cluster-wide default deny from
    stage 6 blocks the canary too, say), that is a warning, never a verdict.
    """
    if not ctx.enforcement_check:
        ctx.env.out("enforcement check skipped (--skip-enforcement-check): `netpol-lab doctor --enforcement`")
        return
    recorded = None if ctx.runner.dry_run else recorded_enforcement(ctx)
    if recorded is not None:
        # A lab that was checked when it was built is not checked again on every re-run: the
        # canary costs a namespace, two pods and several seconds, and a re-run changes nothing.
        ctx.enforcement_result = enforcement.EnforcementResult(
            verdict=recorded, message=f"recorded when the lab was built: {recorded.value}", namespace=""
        )
        ctx.env.out(
            f"NetworkPolicy enforcement, recorded when the lab was built: {recorded.value} "
            "(`netpol-lab doctor --enforcement` checks again)"
        )
        if recorded == enforcement.Enforcement.DOES_NOT_ENFORCE and not ctx.cni.enforces_network_policy:
            for line in not_enforced_banner(ctx.cni, ctx.enforcement_result):
                ctx.env.out(line)
        return
    if ctx.runner.dry_run:
        ctx.env.out(
            "enforcement check: create a canary and a client, wait for them, probe the canary, apply a "
            f"deny-all-ingress policy, probe again (up to {ENFORCEMENT_ATTEMPTS} times, "
            f"{ENFORCEMENT_INTERVAL:g}s apart), delete the namespace"
        )
    result = enforcement.check_enforcement(
        ctx.runner,
        kubectl=ctx.cluster.kubectl,
        image=ctx.pins.agnhost_image,
        attempts=ENFORCEMENT_ATTEMPTS,
        interval=ENFORCEMENT_INTERVAL,
        sleep=ctx.sleep,
    )
    if ctx.runner.dry_run:
        record_enforcement(ctx, "VERDICT")
        return
    ctx.enforcement_result = result
    cni = ctx.cni
    if result.verdict != enforcement.Enforcement.UNKNOWN:
        record_enforcement(ctx, result.verdict.value)
    if result.verdict == enforcement.Enforcement.UNKNOWN:
        ctx.env.err(f"warning: {result.message}; check again later with `netpol-lab doctor --enforcement`")
    elif result.verdict == enforcement.Enforcement.ENFORCES:
        ctx.env.out(result.message)
        if not cni.enforces_network_policy:
            ctx.env.err(
                f"warning: CNI {cni.name} was not expected to enforce NetworkPolicy, yet it did: "
                "the trap will not show; is another policy engine running?"
            )
    elif cni.enforces_network_policy:
        raise LabError(
            f"this cluster (CNI {cni.name}) does NOT enforce NetworkPolicy: the canary still answered "
            f"after a deny-all-ingress policy ({result.attempts} tries; last: `{result.probe_line}`). "
            f"The lab would prove nothing: rebuild it with `{cluster_module.RECREATE}"
            + (f" CNI={cni.name}" if cni.name != DEFAULT_CNI else "")
            + "`",
            ExitStatus.MISMATCH,
        )
    else:
        for line in not_enforced_banner(cni, result):
            ctx.env.out(line)


# Where `up` keeps the enforcement verdict of the lab it built (only a definite one).
ENFORCEMENT_RECORD = "netpol-lab-enforcement"


def recorded_enforcement(ctx: UpContext) -> enforcement.Enforcement | None:
    """The verdict recorded when this lab was built, if a check gave a definite one."""
    value = read_record(ctx.runner, ctx.cluster.kubectl, ENFORCEMENT_RECORD, "verdict", timeout=ctx.timeout())
    if value in (enforcement.Enforcement.ENFORCES.value, enforcement.Enforcement.DOES_NOT_ENFORCE.value):
        return enforcement.Enforcement(value)
    return None


def record_enforcement(ctx: UpContext, verdict: str) -> None:
    """Keep a definite verdict, so a re-run of `up` need not check again."""
    result = write_record(
        ctx.runner, ctx.cluster.kubectl, ENFORCEMENT_RECORD, {"verdict": verdict}, timeout=ctx.timeout()
    )
    if not result.ok:
        ctx.env.err(f"warning: could not record the enforcement verdict: {result.error_line()}")


def not_enforced_banner(cni: Cni, result: enforcement.EnforcementResult) -> list[str]:
    """The loud lines for a lab built not to enforce NetworkPolicy."""
    rule = "!" * 78
    return [
        rule,
        f"!!! NetworkPolicy is NOT enforced in this lab (CNI {cni.name}), as intended for this mode.",
        f"!!! The check: a deny-all-ingress policy was applied and the canary still answered "
        f"{result.attempts} times.",
        "!!! Policies you apply are stored by the API server and change nothing: denied flows stay ALLOW.",
        f"!!! For a lab that enforces them: {cluster_module.RECREATE}",
        rule,
    ]


# Steps that need the workloads Ready run here, in order, before the summary; each may raise
# LabError.
AFTER_WORKLOADS_READY: list[Callable[[UpContext], None]] = [check_enforcement]


def check_prerequisites(ctx: UpContext) -> None:
    findings = doctor.run_checks(
        ctx.runner,
        system=ctx.system,
        proc=ctx.proc,
        cluster=False,
        kubectl_minimum=ctx.pins.kubectl_min_version,
    )
    failed = doctor.failures(findings)
    if failed:  # one line: the first thing to fix; `netpol-lab doctor` lists every check
        more = f"; `make doctor` shows {len(failed) - 1} more problem(s)" if len(failed) > 1 else ""
        raise LabError(failed[0].message + more, ExitStatus.MISSING_PREREQUISITE)
    for finding in findings:
        if finding.level is doctor.Level.WARN:
            ctx.env.err(f"warning: {finding.check}: {finding.message}")
    if ctx.ip_family == scenario.DUAL:
        ipv6 = doctor.check_ipv6(ctx.runner, wanted=True)
        if ipv6.level is doctor.Level.WARN:  # Docker cannot give the nodes IPv6: build IPv4, say so
            ctx.env.err(f"warning: {ipv6.check}: {ipv6.message}")
            ctx.ip_family = scenario.IPV4
        else:
            ctx.env.out(f"{ipv6.check}: {ipv6.message}")


def fetch_calico(ctx: UpContext) -> None:
    if ctx.cni.installs_calico:
        source = calico.source_for(ctx.root, ctx.pins, ctx.calico_dir)
        ctx.calico_files = calico.fetch_verified(
            ctx.pins, source, ctx.env.out, root=ctx.root, dry_run=ctx.runner.dry_run
        )
        return
    # Without Calico, only the ClusterNetworkPolicy CRD, from Calico's bundle: optional, so a
    # lab that cannot fetch it still builds (stage 7 then says the kind is not served).
    ctx.env.out(
        f"CNI {ctx.cni.name}: {ctx.cni.summary}; from Calico only its CRD bundle, for the "
        "ClusterNetworkPolicy CRD (stored, not enforced here)"
    )
    pins = calico.only_the_crd_bundle(ctx.pins)
    try:
        source = calico.source_for(ctx.root, pins, ctx.calico_dir)
        ctx.calico_files = calico.fetch_verified(
            pins, source, ctx.env.out, root=ctx.root, dry_run=ctx.runner.dry_run
        )
    except LabError as error:
        ctx.env.err(
            f"warning: no ClusterNetworkPolicy CRD for this lab ({error.message}); the lab builds "
            "without it and stage 7 will say the kind is not served"
        )


def ensure_cluster(ctx: UpContext) -> None:
    base = (ctx.root / cluster_module.KIND_CONFIG).read_text()
    rendered = cluster_module.render_kind_config(base, ctx.cni, ctx.pins.node_image, ctx.ip_family)
    if ctx.ip_family == scenario.DUAL:
        for line in dual_stack_plan(ctx, rendered):
            ctx.env.out(line)
    if ctx.cluster.exists():
        if not ctx.cluster.has_context():
            ctx.cluster.export_kubeconfig()
        ctx.cluster.check_built_as(rendered)
        ctx.env.out(f"cluster {ctx.cluster.name} exists and matches: not recreated")
        return
    config = _write_rendered(ctx, rendered)
    try:
        ctx.cluster.create(config, timeout=ctx.deadline.remaining() or None)
    except cluster_module.NoIPv6 as error:
        if ctx.ip_family != scenario.DUAL:
            raise
        # The first lab on a machine: doctor could not look at a kind network that did not exist
        # yet, and kind made it without IPv6. Fall back to IPv4, as when the network says so.
        ctx.env.err(
            f"warning: ipv6: {error.message}: building an IPv4 lab instead (for dual-stack see "
            "`netpol-lab doctor`, then `make lab-down && make lab-up IPFAMILY=dual`)"
        )
        ctx.ip_family = scenario.IPV4
        rendered = cluster_module.render_kind_config(base, ctx.cni, ctx.pins.node_image, ctx.ip_family)
        config = _write_rendered(ctx, rendered)
        ctx.cluster.create(config, timeout=ctx.deadline.remaining() or None)


def dual_stack_plan(ctx: UpContext, rendered: RenderedConfig) -> list[str]:
    """What a dual-stack lab is built with, and the check that kind's pod subnets and Calico's IP
    pools agree (the operator refuses a pool outside the cluster's pod CIDRs)."""
    networking = yaml.safe_load(rendered.text)["networking"]
    lines = [
        f"dual-stack: kind networking.ipFamily {networking['ipFamily']}, "
        f"podSubnet {networking['podSubnet']}, serviceSubnet {networking['serviceSubnet']}"
    ]
    if ctx.cni.installs_calico:
        pools = calico.installation_pools(ctx.root, scenario.DUAL)
        wanted = [str(ipaddress.ip_network(s)) for s in rendered.pod_subnets]
        if sorted(str(ipaddress.ip_network(p)) for p in pools) != sorted(wanted):
            where = calico.LAB_MANIFESTS / calico.DUAL_STACK_INSTALLATION
            raise LabError(
                f"Calico's IP pools ({', '.join(pools)}, {where}) differ from kind's pod subnets "
                f"({', '.join(wanted)}): make them equal"
            )
        lines.append(
            f"dual-stack: Calico IP pools {', '.join(pools)} ({calico.DUAL_STACK_INSTALLATION}), "
            "one per kind pod subnet: they agree"
        )
    return lines


def _write_rendered(ctx: UpContext, rendered: RenderedConfig) -> str:
    path = ctx.root / cluster_module.RENDERED_CONFIG
    if not ctx.runner.dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered.text)
    return str(cluster_module.RENDERED_CONFIG)


def preload_images(ctx: UpContext) -> None:
    """Load into the nodes the lab images Docker already has (`netpol-lab images load`), so the
    nodes need not pull them; anything that goes wrong here is a warning: the nodes pull instead."""
    pins = ctx.pins
    if not ctx.cni.installs_calico:
        # No Calico images without Calico. The operator slot takes the node image, which
        # preload_local_images always skips (the nodes already run it).
        pins = dataclasses.replace(pins, calico_images=(), operator_image=pins.node_image)
    try:
        loaded = images.preload_local_images(ctx.runner, ctx.cluster.name, pins)
    except LabError as error:
        ctx.env.err(f"warning: could not preload images from Docker ({error.message}); the nodes pull them")
        return
    if ctx.runner.dry_run:
        return
    if loaded:
        ctx.env.out(f"{len(loaded)} image(s) from Docker are in the nodes: " + ", ".join(loaded))
    else:
        ctx.env.out(
            "Docker holds none of the lab's images: the nodes pull them (`netpol-lab images` helps offline)"
        )


def install_network(ctx: UpContext) -> None:
    if ctx.cni.installs_calico:
        calico.install(
            ctx.runner,
            ctx.cluster.kubectl,
            ctx.calico_files,
            root=ctx.root,
            flow_ui=ctx.flow_ui,
            timeout=ctx.timeout(),
            ip_family=ctx.ip_family,
        )
    elif ctx.cni.wired_by_lab:
        nodes: list[plain_network.NodeNet] = []  # filled by the wait's last poll
        ctx.wait(
            plain_network.pod_cidrs_phase(
                ctx.runner, ctx.cluster.kubectl, cluster_module.EXPECTED_NODES, found=nodes
            )
        )
        if ctx.runner.dry_run:
            ctx.env.out("plain network: the <...> values are read from `kubectl get nodes -o json`")
            nodes = plain_network.planned_nodes(ctx.cluster.name)
        plain_network.wire(ctx.runner, nodes, ctx.cni.pod_subnet, ctx.env.out)
    else:
        ctx.env.out(f"CNI {ctx.cni.name}: kind installed it with the cluster")
    if not ctx.cni.installs_calico and ctx.calico_files:
        calico.install_cluster_policy_crd(
            ctx.runner, ctx.cluster.kubectl, ctx.calico_files, root=ctx.root, timeout=ctx.timeout()
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
    settled = (*LAB_NAMESPACES, workloads.CONTROL_NAMESPACE, workloads.STANDIN_NAMESPACE)
    ctx.wait(waits.namespaces_settled_phase(ctx.runner, ctx.cluster.kubectl, settled))
    workloads.deploy(ctx.runner, ctx.cluster, folder, root=ctx.root, timeout=ctx.timeout())


# The four workloads carry a role label; the control pod, the stand-in and the canary do not.
WORKLOAD_SELECTOR = "=".join(PART_OF_LABEL) + ",role"


def wait_for_workloads(ctx: UpContext) -> None:
    ctx.wait(
        waits.pods_phase(
            ctx.runner, ctx.cluster.kubectl, "lab pods Ready", WORKLOAD_SELECTOR, namespaces=LAB_NAMESPACES
        )
    )


def deploy_control_and_standin(ctx: UpContext) -> None:
    folders = [
        workloads.manifests_folder(ctx.root, ctx.pins, f)
        for f in (workloads.CONTROL_DIR, workloads.STANDIN_DIR)
    ]
    workloads.deploy(
        ctx.runner,
        ctx.cluster,
        *folders,
        root=ctx.root,
        timeout=ctx.timeout(),
        what="the control pod and the metadata stand-in",
    )


def wait_for_control_and_standin(ctx: UpContext) -> None:
    """The control must be Ready (it decides the outside and metadata cells); the stand-in may
    lag: without it the metadata cells are inconclusive, which the probes say, so only warn."""
    control = ctx.runner.run(
        workloads.rollout_status_argv(
            ctx.cluster,
            workloads.CONTROL_NAMESPACE,
            f"deployment/{workloads.CONTROL_DEPLOYMENT}",
            ctx.timeout(),
        ),
        timeout=ctx.timeout() + 30,
        stream=True,
    )
    if not (control.ok or control.dry_run):
        raise LabError(
            f"the control pod is not Ready ({control.error_line()}): "
            f"`kubectl --context {ctx.cluster.context} -n {workloads.CONTROL_NAMESPACE} describe pods`; "
            "rerun `make lab-up` to carry on",
            ExitStatus.TIMEOUT
            if control.timed_out or "timed out" in control.error_line()
            else ExitStatus.ERROR,
        )
    seconds = ctx.timeout(STANDIN_TIMEOUT)
    standin = ctx.runner.run(
        workloads.rollout_status_argv(
            ctx.cluster, workloads.STANDIN_NAMESPACE, f"daemonset/{workloads.STANDIN_DAEMONSET}", seconds
        ),
        timeout=seconds + 30,
        stream=True,
    )
    if not (standin.ok or standin.dry_run):
        ctx.env.err(
            f"warning: the metadata stand-in is not Ready ({standin.error_line()}): the metadata cells "
            "will be inconclusive until it is; see "
            f"`kubectl --context {ctx.cluster.context} -n {workloads.STANDIN_NAMESPACE} describe pods`"
        )


def after_workloads_ready(ctx: UpContext) -> None:
    for hook in AFTER_WORKLOADS_READY:
        hook(ctx)


def summary(ctx: UpContext) -> None:
    if ctx.runner.dry_run:
        ctx.env.out("dry run: nothing was run")
        return
    status.show(ctx.env, ctx.runner, ctx.cluster, check_exists=False)
    enforced = ""
    if (
        ctx.enforcement_result is not None
        and ctx.enforcement_result.verdict == enforcement.Enforcement.DOES_NOT_ENFORCE
    ):
        enforced = ", NetworkPolicy NOT enforced"
    ctx.env.out(
        f"The lab is ready (CNI {ctx.cni.name}{enforced}). Next: `make probe`, `netpol-lab stage list`."
    )


# (title, function, whether a failure leaves a cluster worth diagnosing)
STEPS: tuple[tuple[str, Callable[[UpContext], None], bool], ...] = (
    ("check this machine", check_prerequisites, False),
    ("fetch and verify Calico's pinned manifests", fetch_calico, False),
    ("kind cluster", ensure_cluster, False),
    ("preload images Docker already has", preload_images, True),
    ("install the network", install_network, True),
    ("wait for the network", wait_for_network, True),
    ("deploy the workloads", deploy_workloads, True),
    ("wait for the workloads", wait_for_workloads, True),
    ("deploy the control pod and the metadata stand-in", deploy_control_and_standin, True),
    ("wait for the control pod and the metadata stand-in", wait_for_control_and_standin, True),
    ("after the workloads are Ready: does the cluster enforce NetworkPolicy?", after_workloads_ready, True),
    ("summary", summary, False),
)


@dataclass(frozen=True)
class UpOptions:
    """What `up` was asked for."""

    cni: str = DEFAULT_CNI
    timeout: float = DEFAULT_TIMEOUT
    flow_ui: bool = True
    calico_dir: str | None = None
    kubeconfig: str | None = None
    enforcement_check: bool = True
    ip_family: str = scenario.IPV4


def build(
    options: UpOptions,
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
        cluster=Cluster(runner, kubeconfig=options.kubeconfig),
        cni=cni_by_name(options.cni),
        pins=Pins.from_env(env.env),
        flow_ui=options.flow_ui,
        calico_dir=options.calico_dir,
        deadline=waits.Deadline(options.timeout, clock),
        progress=waits.Progress(
            env.console(), live=bool(env.stdout_isatty), dry_run=runner.dry_run, clock=clock
        ),
        system=system or platform.system(),
        proc=proc,
        sleep=sleep,
        enforcement_check=options.enforcement_check,
        ip_family=options.ip_family,
    )
    if ctx.ip_family == scenario.DUAL and ctx.cni.wired_by_lab:
        raise LabError(
            f"--ip-family dual needs Calico or kindnet: the {ctx.cni.name} network wires IPv4 routes only",
            ExitStatus.USAGE,
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
