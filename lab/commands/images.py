"""Every image the lab needs, for workshops on bad wifi.

  list        each image with its pinned digest (or "tag only, digest resolved at pull") and
              what the local Docker holds
  pull        docker pull each one (by digest where pinned)
  save FILE   docker image save all of them into one archive (run `pull` first)
  load FILE   docker load the archive, check each image's content digest against images.lock.json,
              then load the images into the lab's kind nodes (kind load docker-image), so
              `make lab-up` needs no network for them
  lock        on a machine with registry access: write images.lock.json, each image's
              multi-architecture index digest and its linux/amd64 and linux/arm64 digests

The node image and agnhost are pinned by digest in lab/pins.py; Calico's images and the operator
by release tag until images.lock.json exists (`list` and `up` say so). Commit the lock: from then
on every image is pulled by digest, and Calico's install pins them too.

Instructor, the day before: `netpol-lab images pull && netpol-lab images save lab-images.tar`
on a machine of the participants' architecture (or pass --platform linux/arm64 to both), or
`netpol-lab bundle save DIR` for everything an offline lab needs.
Participant: `netpol-lab images load lab-images.tar`, then `make lab-up`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lab.boundary.runner import Runner, ShRunner
from lab.env import Environment
from lab.errors import ExitStatus, LabError
from lab.lifecycle import imagelock, images
from lab.pins import CLUSTER_NAME, IMAGES_LOCK_FILE, Pins


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every image with its digest and whether Docker has it")
    pull = actions.add_parser("pull", help="docker pull every image")
    save = actions.add_parser("save", help="docker image save every image into FILE")
    save.add_argument("file", type=Path, metavar="FILE")
    load = actions.add_parser(
        "load", help="docker load FILE, check it, then kind load the images into the nodes"
    )
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--name", default=CLUSTER_NAME, help=f"kind cluster name (default {CLUSTER_NAME})")
    lock = actions.add_parser(
        "lock",
        help=f"write {IMAGES_LOCK_FILE}: every image's index and per-platform digests (registry access)",
    )
    lock.add_argument(
        "--platform",
        action="append",
        dest="platforms",
        metavar="OS/ARCH",
        help=f"a platform to lock (repeat it; default and required: {', '.join(imagelock.PLATFORMS)})",
    )
    for sub in (pull, save):
        sub.add_argument(
            "--platform", help="e.g. linux/arm64 when preparing for other laptops (default: this host)"
        )


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    runner = ShRunner(env.stdout, env=env.env, cwd=env.root)
    return execute(args, env, runner, Pins.from_env(env.env))


def execute(args: argparse.Namespace, env: Environment, runner: Runner, pins: Pins) -> ExitStatus:
    if args.action == "lock":
        return write_lock(env, runner, pins, args.platforms)
    pins, lock = images.locked(env.root, pins)
    wanted = images.lab_images(pins)
    warning = images.tag_only_warning(wanted)
    if warning:
        env.err(warning)
    if args.action == "list":
        show(env, runner, wanted)
    elif args.action == "pull":
        images.pull(runner, wanted, args.platform)
        show(env, runner, wanted)
    elif args.action == "save":
        images.save(runner, wanted, args.file, args.platform, lock)
        env.out(
            f"saved {len(wanted)} images to {args.file}; "
            f"participants run `netpol-lab images load {args.file}`"
        )
    else:
        images.load_checked(runner, pins, lock, args.file, args.name, env.out)
    return ExitStatus.SUCCESS


def write_lock(env: Environment, runner: Runner, pins: Pins, platforms: list[str] | None) -> ExitStatus:
    wanted = tuple(platforms or imagelock.PLATFORMS)
    lacking = [p for p in imagelock.PLATFORMS if p not in wanted]
    if lacking:
        raise LabError(f"the lock needs {lacking[0]} too: add `--platform {lacking[0]}`", ExitStatus.USAGE)
    resolved = images.resolve_lock(runner, pins, wanted)
    path = images.lock_path(env.root)
    if runner.dry_run:
        env.out(f"dry run: would write {path}")
        return ExitStatus.SUCCESS
    lock = imagelock.write(path, resolved)
    for entry in lock.images.values():
        env.out(f"locked {entry.ref} ({', '.join(entry.platforms)})")
    env.out(
        f"wrote {path} ({len(lock.images)} images): commit it; from now on the lab pulls, saves, "
        "loads and installs every image by digest"
    )
    return ExitStatus.SUCCESS


def show(env: Environment, runner: Runner, wanted: list[images.Image]) -> None:
    local = images.local_images(runner)
    for line in images.describe(wanted, local):
        env.out(line)
    if local.docker_error:
        env.out(f"(local state unknown: {local.docker_error})")
