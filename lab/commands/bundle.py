"""An offline bundle: everything `make lab-up` needs on a machine without network.

  save DIR    on a machine with network access: Calico's pinned manifests (DIR/calico), kind and
              kubectl (DIR/tools/<os>-<arch>), the project's wheels and its dependencies'
              (DIR/wheels), and every lab image (DIR/images/linux-<arch>.tar), each checked
              against its pin (lab/pins.py, images.lock.json) before it goes in
  load DIR    on a participant's machine: take the bundle's images.lock.json when the checkout has
              none, then load the images for this Docker's platform, checked against the lock

`make offline-bundle` runs `save` (BUNDLE=DIR, PLATFORMS="linux/amd64 darwin/arm64"); participants
run `make lab-up BUNDLE=DIR`, which installs the wheels and the tools from DIR, runs `load` and
`up --calico-dir DIR/calico`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle import bundle
from lab.pins import CLUSTER_NAME, Pins


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    save = actions.add_parser("save", help="gather everything an offline lab needs into DIR")
    save.add_argument("dir", type=Path, metavar="DIR")
    save.add_argument(
        "--platform",
        action="append",
        dest="platforms",
        metavar="OS/ARCH",
        help=f"a participants' platform, e.g. darwin/arm64 (repeat it; default {bundle.host_platform()})",
    )
    save.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    load = actions.add_parser("load", help="load DIR's images (checked) into Docker and the lab's nodes")
    load.add_argument("dir", type=Path, metavar="DIR")
    load.add_argument("--name", default=CLUSTER_NAME, help=f"kind cluster name (default {CLUSTER_NAME})")


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root, dry_run=getattr(args, "dry_run", False))
    return execute(args, env, runner, Pins.from_env(env.env))


def execute(args: argparse.Namespace, env: Environment, runner: Runner, pins: Pins) -> ExitStatus:
    folder = args.dir if args.dir.is_absolute() else Path.cwd() / args.dir
    if args.action == "save":
        bundle.save(
            runner,
            pins,
            root=env.root,
            out=folder,
            platforms=args.platforms or [bundle.host_platform()],
            python=sys.executable,
            say=env.out,
            warn=env.err,
        )
    else:
        bundle.load(runner, pins, root=env.root, bundle=folder, cluster=args.name, say=env.out)
    return ExitStatus.SUCCESS
