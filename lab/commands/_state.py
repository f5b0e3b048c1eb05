"""Where `expect` and `explain` take their state from: a file, a stage, or a live cluster.

* ``--state FILE``: a ``List`` as ``kubectl get namespaces,pods,networkpolicies -A -o yaml``
  prints it (YAML or JSON; Services are used when present).
* ``--stage N|seed``: the lab's manifests, modelled (``lab.workshop.lab_state``).
* ``--from-cluster``: the same objects read live with kubectl, through the runner, plus Calico's
  tiers and policies and ClusterNetworkPolicies where the cluster serves them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import pins
from lab.boundary.kubectl import Kubectl
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.lifecycle import room_access
from lab.policy.dataplanes import CNIS, DEFAULT_CNI, enforced_by
from lab.policy.model import ClusterState, InputError, Pod, printable
from lab.policy.state import CLUSTER_KINDS, OPTIONAL_KINDS, load_state_file, parse_json, parse_objects
from lab.workshop.lab_state import load_stage_state, outside_targets

if TYPE_CHECKING:  # the runner (and sh) is only needed for --from-cluster: keep it off start-up
    from lab.boundary.runner import Runner

NOT_SERVED = "the server doesn't have a resource type"  # kubectl, for a kind that is not registered


def load_cluster_state(runner: Runner, kubectl: Kubectl) -> ClusterState:
    """Read namespaces, pods, NetworkPolicies and Services live, and the optional kinds when served."""
    result = runner.run(kubectl("get", CLUSTER_KINDS, "-A", "-o", "json"), timeout=60)
    if not result.ok:
        raise LabError(f"could not read the cluster: {result.error_line()}")
    try:
        listing = parse_json(result.stdout, "kubectl")
    except InputError as error:
        raise LabError(
            f"kubectl printed something that is not JSON ({error.message}); check the kubeconfig/context"
        ) from None
    items: list[Any] = [listing]
    notes = []
    for kinds, what in OPTIONAL_KINDS:
        extra = runner.run(kubectl("get", kinds, "-A", "-o", "json"), timeout=60)
        said = f"{extra.stdout}\n{extra.stderr}"
        if extra.ok:
            try:
                items.append(parse_json(extra.stdout, "kubectl"))
            except InputError:
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
    state = parse_objects(items, f"cluster {kubectl.context}")
    state.notes.extend(notes)
    return state


def add_state_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the state comes from (default: --stage seed)")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "--state",
        metavar="FILE",
        help="a List saved by `kubectl get namespaces,pods,networkpolicies -A -o yaml`",
    )
    choice.add_argument(
        "--stage", metavar="N", help="the lab's stage N (0-7) or `seed`, modelled from the manifests"
    )
    choice.add_argument("--from-cluster", action="store_true", help="read the objects live with kubectl")
    group.add_argument("--kubeconfig", metavar="FILE", help="with --from-cluster: the kubeconfig to use")
    group.add_argument("--context", metavar="NAME", help="with --from-cluster: the kubeconfig context")
    group.add_argument(
        "--cni",
        choices=CNIS,
        help="predict what this network enforces: calico (everything), kindnet (NetworkPolicy only), "
        "plain (nothing); default: the lab's own CNI with --from-cluster, else calico",
    )
    group.add_argument(
        "--outside",
        metavar="IP:PORT",
        default=pins.OUTSIDE_TARGET,
        help=f"the outside target (default {pins.OUTSIDE_TARGET})",
    )


def print_notes(state: ClusterState, env: Environment) -> None:
    """What loading the state noticed, on stderr: the notes, then the warnings."""
    for line in [*state.notes, *(f"warning: {w}" for w in state.warnings)]:
        env.err(printable(line))  # names from input: control characters escaped


def state_from_args(args: argparse.Namespace, env: Environment, runner: Runner | None = None) -> ClusterState:
    """Load the state the options name (``--stage seed`` when none is given), as ``--cni`` enforces it."""
    state, detected = _load_state(args, env, runner)
    cni = getattr(args, "cni", None) or detected or DEFAULT_CNI
    return enforced_by(state, cni)


def _load_state(
    args: argparse.Namespace, env: Environment, runner: Runner | None
) -> tuple[ClusterState, str | None]:
    if args.state:
        path = Path(args.state)
        state = load_state_file(path if path.is_absolute() else Path.cwd() / path)
        state.source = printable(args.state)
        return state, None
    if args.from_cluster:
        from lab.boundary.runner import ShRunner

        runner = runner or ShRunner(env.stderr, env=env.env)
        kubectl = Kubectl(args.context or pins.KUBE_CONTEXT, args.kubeconfig)
        env.err(reading_line(kubectl, args.kubeconfig, env))
        state = load_cluster_state(runner, kubectl)
        state.targets = outside_targets(args.outside)
        return state, (None if getattr(args, "cni", None) else cluster_cni(runner, kubectl, state))
    if args.kubeconfig or args.context:
        raise LabError("--kubeconfig and --context go with --from-cluster", ExitStatus.USAGE)
    return load_stage_state(env.root, args.stage or "seed", outside=args.outside), None


def reading_line(kubectl: Kubectl, kubeconfig: str | None, env: Environment) -> str:
    """The first line of a --from-cluster run: which cluster is read (the lab's unless --context)."""
    files = room_access.kubeconfig_files(kubeconfig, env.env)
    server = room_access.server_of(files, kubectl.context) or "not in the kubeconfig"
    other = "" if kubectl.context != pins.KUBE_CONTEXT else "; --context NAME reads another cluster"
    return printable(f"reading the cluster of context {kubectl.context} (server {server}){other}")


def find_pod(state: ClusterState, text: str) -> Pod:
    """A pod by ``NAMESPACE/NAME``; a Deployment's name works too when it has exactly one pod."""
    namespace, slash, name = text.partition("/")
    if not slash or not namespace or not name:
        raise LabError(
            f"{printable(repr(text))}: name a pod as NAMESPACE/NAME, for example backend/backend",
            ExitStatus.USAGE,
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
            printable(
                f"pod {waiting[0].key} has no IP yet, so its flows cannot be judged; try again when it runs"
            )
        )
    if len(prefixed) > 1:
        names = ", ".join(p.key for p in prefixed[:5])
        raise LabError(
            printable(f"{text!r} matches several pods ({names}); name one of them"), ExitStatus.USAGE
        )
    known = ", ".join(p.key for p in sorted(state.pods, key=lambda p: p.key)[:8])
    raise LabError(
        printable(
            f"no pod {text} in {state.source or 'the state'} "
            f"(pods: {known}{', ...' if len(state.pods) > 8 else ''})"
        ),
        ExitStatus.USAGE,
    )


def cluster_cni(runner: Runner, kubectl: Kubectl, state: ClusterState) -> str | None:
    """The CNI a lab was built with (its nodes' netpol-lab/cni label); for another cluster, None,
    and a note that Calico's semantics are assumed."""
    from lab.lifecycle.cluster import lab_identity

    cni = lab_identity(runner, kubectl).cni
    if cni in CNIS:
        if cni != DEFAULT_CNI:
            state.notes.append(
                f"note: this lab runs {cni} (its nodes say so): predicting what {cni} enforces"
            )
        return cni
    state.notes.append(
        "note: this cluster's CNI is not known (not a netpol-lab lab): predicting Calico's semantics; "
        "--cni kindnet or --cni plain to choose"
    )
    return None
