"""Where the evaluator's cluster state comes from: a saved file, the lab's own stages, or a live cluster.

* ``--state FILE``: a ``List`` as ``kubectl get namespaces,pods,networkpolicies -A -o yaml``
  prints it (YAML or JSON; Services are used when present, other kinds are ignored).
* ``--stage N|seed``: the lab's manifests. Pods are modelled from the Deployments (one per
  workload, named NAMESPACE/WORKLOAD), plus CoreDNS as kind runs it and the probes' outside
  targets. Modelled pods get stable synthetic IPs from the pod subnet so ipBlocks can be judged.
* ``--from-cluster``: the same objects read live with kubectl, through the Runner.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lab import pins
from lab.env import Environment, ExitStatus
from lab.errors import LabError
from lab.policy import calico, cnp
from lab.policy.model import (
    NAMESPACE_NAME_LABEL,
    PROTOCOLS,
    ClusterState,
    ContainerPort,
    ExternalTarget,
    InputError,
    Namespace,
    Pod,
    Service,
    object_name,
    parse_container_ports,
    parse_namespace,
    parse_pod,
    parse_policy,
    parse_service,
)
from lab.policy.tiers import parse_tier, tiers_of
from lab.workshop.stages import cumulative_documents, load_stages, stage_by_name

if TYPE_CHECKING:  # the runner (and sh) is only needed for --from-cluster: keep it off start-up
    from lab.boundary.runner import Runner

DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}
# CoreDNS as kind deploys it: Deployment coredns in kube-system, ports dns/53 UDP, dns-tcp/53 TCP.
DNS_PORTS = (
    ContainerPort(53, "UDP", "dns"),
    ContainerPort(53, "TCP", "dns-tcp"),
    ContainerPort(9153, "TCP", "metrics"),
)
SYNTHETIC_NOTE = (
    "note: pod IPs are synthetic (from the pod subnet {subnet}), assigned to the modelled pods "
    "so that ipBlock rules can be judged"
)
CLUSTER_KINDS = "namespaces,pods,networkpolicies.networking.k8s.io,services"
NOT_SERVED = "the server doesn't have a resource type"  # kubectl, for a kind that is not registered


# -- parsing a list of objects -------------------------------------------------------------


def _flatten(items: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for item in items:
        if isinstance(item, Mapping):
            if item.get("kind") == "List" or (item.get("kind", "").endswith("List") and "items" in item):
                yield from _flatten(item.get("items") or [])
            else:
                yield item


def parse_objects(items: Iterable[Any], source: str, *, modelled: bool = False) -> ClusterState:
    """Namespaces, Pods, NetworkPolicies and Services from API objects; other kinds are ignored.

    ``modelled``: the pods come later (the stage model), so neither require them nor finish.
    """
    state = ClusterState(source=source)
    skipped: list[str] = []
    staged: list[str] = []
    for obj in _flatten(items):
        kind = obj.get("kind")
        api = str(obj.get("apiVersion", ""))
        if kind == "Namespace":
            namespace = parse_namespace(obj, source)
            state.namespaces[namespace.name] = namespace
        elif kind == "Pod":
            pod, governed = parse_pod(obj, source)
            if governed:
                state.pods.append(pod)
            else:
                skipped.append(pod.key)
        elif kind == "NetworkPolicy" and api.startswith("networking.k8s.io/"):
            state.policies.append(parse_policy(obj, source))
        elif kind == "Service":
            state.services.append(parse_service(obj, source))
        elif api.startswith("projectcalico.org/") and kind in calico.KINDS:
            state.calico.append(calico.parse_calico_policy(obj, source))
        elif api.startswith("projectcalico.org/") and kind == "Tier":
            tier = parse_tier(obj, source)
            state.tiers[tier.name] = tier
        elif api.startswith("projectcalico.org/") and kind in calico.STAGED_KINDS:
            staged.append(object_name(obj))
        elif kind == cnp.KIND and api == cnp.API_VERSION:
            policy = cnp.parse_cluster_policy(obj, source)
            state.cluster_policies.append(policy)
            state.notes.extend(cnp.unsupported_notes(policy))
        elif api.startswith("projectcalico.org/") and str(kind).endswith("Policy"):
            raise InputError(f"{source}: {object_name(obj)}: kind {kind} not understood by this evaluator")
    known = tiers_of(state.tiers)
    for calico_policy in state.calico:
        if calico_policy.tier not in known:
            raise InputError(
                f"{source}: {calico_policy.key} is in tier {calico_policy.tier!r}, which is not in the "
                "state: save the tiers with it (`kubectl get tiers.projectcalico.org -o yaml`) so their "
                "order is known"
            )
    if staged:
        state.notes.append(
            f"note: {len(staged)} staged polic{'y' if len(staged) == 1 else 'ies'} left out: Calico does not "
            f"enforce staged policies ({', '.join(staged[:3])}{', ...' if len(staged) > 3 else ''})"
        )
    if skipped:  # kube-system on kind has several: one line, not one each
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        state.notes.append(
            f"note: {len(skipped)} pod(s) use the host network or have finished; NetworkPolicy does not "
            f"apply to them, left out ({shown})"
        )
    if modelled:
        return state
    if not state.pods:
        raise InputError(
            f"{source}: holds no pods; save the state with "
            "`kubectl get namespaces,pods,networkpolicies -A -o yaml > FILE`"
        )
    return finish(state)


def finish(state: ClusterState) -> ClusterState:
    """Fill implicit namespaces, set aside pods without an IP, and warn about dead named ports."""
    for pod in state.pods:
        if pod.namespace not in state.namespaces:
            state.namespaces[pod.namespace] = Namespace(pod.namespace, {NAMESPACE_NAME_LABEL: pod.namespace})
    unaddressed = [p for p in state.pods if not p.ip]
    if unaddressed:
        state.unaddressed = unaddressed
        state.pods = [p for p in state.pods if p.ip]
        names = ", ".join(p.key for p in unaddressed)
        state.warnings.append(
            f"{state.source}: {len(unaddressed)} pod(s) have no IP yet and are left out "
            f"(not guessed): {names}"
        )
    state.warnings.extend(_named_port_warnings(state))
    return state


def _named_port_warnings(state: ClusterState) -> list[str]:
    warnings = []
    everyone = state.pods + state.unaddressed
    for policy in state.policies:
        selected = [
            p for p in everyone if p.namespace == policy.namespace and policy.pod_selector.matches(p.labels)
        ]
        for direction, rules, scope in (
            ("ingress", policy.ingress, selected),
            ("egress", policy.egress, everyone),
        ):
            for number, rule in enumerate(rules):
                for position, entry in enumerate(rule.ports):
                    if not isinstance(entry.port, str):
                        continue
                    declared = any(
                        c.name == entry.port and c.protocol == entry.protocol for p in scope for c in p.ports
                    )
                    if not declared:
                        warnings.append(
                            f"{policy.source}: NetworkPolicy {policy.key}: spec.{direction}[{number}]"
                            f".ports[{position}]: no container declares a {entry.protocol} port named "
                            f"{entry.port!r}, so this entry allows nothing (as in Kubernetes)"
                        )
    return warnings


# -- source 1: a saved file ------------------------------------------------------------------


def load_state_file(path: Path) -> ClusterState:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        if path.suffix == ".json":
            documents: list[Any] = [json.loads(text)]
        else:
            # libyaml's loader when present: a 2,000-pod dump parses in a fraction of the time.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: not valid YAML/JSON{where}: {first}") from None
    return parse_objects(documents, str(path))


# -- source 2: the lab's own manifests -------------------------------------------------------


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None


def parse_target(text: str) -> ExternalTarget:
    """``IP:PORT[/PROTO]`` (IPv6 in brackets: ``[fd00::1]:80``)."""
    spec, _, protocol = text.partition("/")
    protocol = (protocol or "TCP").upper()
    host, _, port = spec.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise LabError(
            f"--to {text}: write IP:PORT[/PROTO], for example 10.0.0.5:443/TCP", ExitStatus.USAGE
        ) from None
    if protocol not in PROTOCOLS or not 1 <= number <= 65535:
        raise LabError(f"--to {text}: port 1-65535 and protocol TCP, UDP or SCTP", ExitStatus.USAGE)
    return ExternalTarget(host, number, protocol)


def outside_targets(outside: str = pins.OUTSIDE_TARGET) -> list[ExternalTarget]:
    """The probes' outside targets: a public address and the cloud metadata address."""
    public = parse_target(outside)
    return [
        ExternalTarget(public.ip, public.port, public.protocol, "outside"),
        ExternalTarget(pins.METADATA_IP, 80, "TCP", "metadata"),
    ]


def _pods_from_deployments(docs: list[dict[str, Any]], source: str) -> list[Pod]:
    pods = []
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        meta = doc.get("metadata") or {}
        template = (doc.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        namespace = str(meta.get("namespace") or "default")
        where = f"{source}: Deployment {namespace}/{meta.get('name')}"
        ports = parse_container_ports((template.get("spec") or {}).get("containers"), where)
        pods.append(
            Pod(namespace, str(meta.get("name")), {str(k): str(v) for k, v in labels.items()}, None, ports)
        )
    return pods


def synthetic_ips(pods: list[Pod], subnet: str = pins.POD_SUBNET) -> list[Pod]:
    """Give each pod a stable address in ``subnet`` (by sorted name, so stages agree)."""
    network = ipaddress.ip_network(subnet)
    out = []
    for position, pod in enumerate(sorted(pods, key=lambda p: p.key)):
        # Skip .0 of the subnet: 192.168.0.10, .11, ... one address per pod.
        address = network.network_address + 10 + position
        out.append(Pod(pod.namespace, pod.name, pod.labels, str(address), pod.ports))
    return out


def load_stage_state(root: Path, name: str, *, outside: str = pins.OUTSIDE_TARGET) -> ClusterState:
    """The lab at stage ``name``: workloads, CoreDNS, outside targets and the cumulative policies."""
    stages = load_stages(root)
    stage = stage_by_name(stages, name)
    workloads = root / "manifests" / "workloads"
    if not workloads.is_dir():
        raise InputError(f"{workloads}: missing; run from the lab's folder")
    docs: list[dict[str, Any]] = []
    for path in sorted(workloads.glob("*.yaml")):
        docs.extend(_yaml_documents(path))
    source = f"stage {stage.name}"
    objects: list[Any] = [d for d in docs if d.get("kind") in ("Namespace", "Service")]
    objects.append({"kind": "Namespace", "metadata": {"name": DNS_NAMESPACE}})
    objects.extend(cumulative_documents(stages, stage.number))
    state = parse_objects(objects, source, modelled=True)
    pods = _pods_from_deployments(docs, str(workloads))
    pods.append(Pod(DNS_NAMESPACE, "coredns", dict(DNS_LABELS), None, DNS_PORTS))
    state.pods = synthetic_ips(pods)
    state.services.append(
        Service(DNS_NAMESPACE, "kube-dns", dict(DNS_LABELS), (), pins.KUBE_DNS_IP),
    )
    state.targets = outside_targets(outside)
    state.notes.append(SYNTHETIC_NOTE.format(subnet=pins.POD_SUBNET))
    return finish(state)


# -- source 3: a live cluster -----------------------------------------------------------------


def kubectl_base(kubeconfig: str | None, context: str | None) -> list[str]:
    argv = ["kubectl"]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if context:
        argv += ["--context", context]
    return argv


def load_cluster_state(
    runner: Runner, *, kubeconfig: str | None = None, context: str | None = None
) -> ClusterState:
    """Read namespaces, pods, NetworkPolicies and Services live (and Calico policies when served)."""
    base = kubectl_base(kubeconfig, context)
    result = runner.run([*base, "get", CLUSTER_KINDS, "-A", "-o", "json"], timeout=60)
    if not result.ok:
        raise LabError(f"could not read the cluster: {result.error_line()}")
    try:
        listing = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise LabError(
            f"kubectl printed something that is not JSON ({error}); check the kubeconfig/context"
        ) from None
    items: list[Any] = [listing]
    notes = []
    for kinds, what in (
        (calico.CLUSTER_KINDS, "Calico's tiers and policies"),
        (cnp.CLUSTER_KINDS, "ClusterNetworkPolicies"),
    ):
        extra = runner.run([*base, "get", kinds, "-A", "-o", "json"], timeout=60)
        said = f"{extra.stdout}\n{extra.stderr}"
        if extra.ok:
            try:
                items.append(json.loads(extra.stdout))
            except json.JSONDecodeError:
                raise LabError(
                    f"kubectl printed {what} that are not JSON; check the kubeconfig/context"
                ) from None
        elif NOT_SERVED in said:  # the kinds are not registered at all: none of them can exist
            notes.append(f"note: no {what} read: the cluster does not serve them ({extra.error_line()})")
        else:  # registered but not answering: they may well exist, and ignoring them could be wrong
            raise LabError(
                f"could not read {what} ({extra.error_line()}): the verdicts would leave them out; "
                "check `kubectl get tigerastatus apiserver` and try again"
            )
    where = f"cluster {context}" if context else "the cluster"
    state = parse_objects(items, where)
    state.notes.extend(notes)
    return state


# -- command-line glue shared by `expect` and `explain` ---------------------------------------


def add_state_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the state comes from (default: --stage seed)")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "--state",
        metavar="FILE",
        help="a List saved by `kubectl get namespaces,pods,networkpolicies -A -o yaml`",
    )
    choice.add_argument(
        "--stage", metavar="N", help="the lab's stage N (0-6) or `seed`, modelled from the manifests"
    )
    choice.add_argument("--from-cluster", action="store_true", help="read the objects live with kubectl")
    group.add_argument("--kubeconfig", metavar="FILE", help="with --from-cluster: the kubeconfig to use")
    group.add_argument("--context", metavar="NAME", help="with --from-cluster: the kubeconfig context")
    group.add_argument(
        "--outside",
        metavar="IP:PORT",
        default=pins.OUTSIDE_TARGET,
        help=f"the outside target (default {pins.OUTSIDE_TARGET})",
    )


def print_notes(state: ClusterState, env: Environment) -> None:
    """What loading the state noticed, on stderr: the notes, then the warnings."""
    for line in [*state.notes, *(f"warning: {w}" for w in state.warnings)]:
        env.err(line)


def state_from_args(args: argparse.Namespace, env: Environment, runner: Runner | None = None) -> ClusterState:
    """Load the state the options name; ``--stage seed`` when none is given."""
    if args.state:
        path = Path(args.state)
        state = load_state_file(path if path.is_absolute() else Path.cwd() / path)
        state.source = args.state
        return state
    if args.from_cluster:
        from lab.boundary.runner import ShRunner

        runner = runner or ShRunner(env.stderr, env=env.env)
        state = load_cluster_state(runner, kubeconfig=args.kubeconfig, context=args.context)
        state.targets = outside_targets(args.outside)
        return state
    if args.kubeconfig or args.context:
        raise LabError("--kubeconfig and --context go with --from-cluster", ExitStatus.USAGE)
    return load_stage_state(env.root, args.stage or "seed", outside=args.outside)


def find_pod(state: ClusterState, text: str) -> Pod:
    """A pod by ``NAMESPACE/NAME``; a Deployment's name works too when it has exactly one pod."""
    namespace, slash, name = text.partition("/")
    if not slash or not namespace or not name:
        raise LabError(
            f"{text!r}: name a pod as NAMESPACE/NAME, for example backend/backend", ExitStatus.USAGE
        )
    exact = [p for p in state.pods if p.namespace == namespace and p.name == name]
    if exact:
        return exact[0]
    prefixed = [p for p in state.pods if p.namespace == namespace and p.name.startswith(name + "-")]
    if len(prefixed) == 1:
        return prefixed[0]
    waiting = [
        p
        for p in state.unaddressed
        if p.key == text or (p.namespace == namespace and p.name.startswith(name + "-"))
    ]
    if waiting:
        raise LabError(
            f"pod {waiting[0].key} has no IP yet, so its flows cannot be judged; try again when it runs"
        )
    if len(prefixed) > 1:
        names = ", ".join(p.key for p in prefixed[:5])
        raise LabError(f"{text!r} matches several pods ({names}); name one of them", ExitStatus.USAGE)
    known = ", ".join(p.key for p in sorted(state.pods, key=lambda p: p.key)[:8])
    raise LabError(
        f"no pod {text} in {state.source or 'the state'} "
        f"(pods: {known}{', ...' if len(state.pods) > 8 else ''})",
        ExitStatus.USAGE,
    )
