"""Every image the lab needs, for workshops on bad wifi.

  list        each image with its pinned digest (or "tag only, digest resolved at pull") and
              what the local Docker holds
  pull        docker pull each one (by digest where pinned)
  save FILE   docker image save all of them into one archive (run `pull` first)
  load FILE   docker load the archive, then load the images into the lab's kind nodes
              (kind load docker-image), so `make lab-up` needs no network for them

Instructor, the day before: `netpol-lab images pull && netpol-lab images save lab-images.tar`
on a machine of the participants' architecture (or pass --platform linux/arm64 to both).
Participant: `netpol-lab images load lab-images.tar`, then `make lab-up`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus
from lab.lifecycle import images
from lab.pins import CLUSTER_NAME, Pins


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every image with its digest and whether Docker has it")
    pull = actions.add_parser("pull", help="docker pull every image")
    save = actions.add_parser("save", help="docker image save every image into FILE")
    save.add_argument("file", type=Path, metavar="FILE")
    load = actions.add_parser("load", help="docker load FILE, then kind load the images into the lab's nodes")
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--name", default=CLUSTER_NAME, help=f"kind cluster name (default {CLUSTER_NAME})")
    for sub in (pull, save):
        sub.add_argument(
            "--platform", help="e.g. linux/arm64 when preparing for other laptops (default: this host)"
        )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root)
    return execute(args, env, runner, Pins.from_env(env.env))


def execute(args: argparse.Namespace, env: Environment, runner: Runner, pins: Pins) -> ExitStatus:
    wanted = images.lab_images(pins)
    if args.action == "list":
        show(env, runner, wanted)
    elif args.action == "pull":
        images.pull(runner, wanted, args.platform)
        show(env, runner, wanted)
    elif args.action == "save":
        images.save(runner, wanted, args.file, args.platform)
        env.out(
            f"saved {len(wanted)} images to {args.file}; "
            f"participants run `netpol-lab images load {args.file}`"
        )
    else:
        images.load_archive(runner, args.file)
        overrides = {} if runner.dry_run else images.lost_digest_overrides(images.local_images(runner), pins)
        if overrides:
            pins = Pins.from_env({**env.env, **overrides})
            settings = " ".join(f"{var}={value}" for var, value in overrides.items())
            env.out(
                "note: Docker did not keep the registry digest of the digest-pinned images, so the "
                f"pinned references would be pulled again; offline, build with `{settings} make lab-up`"
            )
        if runner.dry_run or images.cluster_exists(runner, args.name):
            loaded = images.preload_local_images(runner, args.name, pins)
            env.out(f"loaded {len(loaded)} images into the nodes of {args.name}")
        else:
            env.out(
                f"loaded into Docker; there is no cluster {args.name} yet: "
                "`make lab-up` loads them into its nodes"
            )
    return ExitStatus.SUCCESS


def show(env: Environment, runner: Runner, wanted: list[images.Image]) -> None:
    local = images.local_images(runner)
    for line in images.describe(wanted, local):
        env.out(line)
    if local.docker_error:
        env.out(f"(local state unknown: {local.docker_error})")
