"""images.lock.json: `images lock` resolves every image's index and per-platform digests (docker
buildx imagetools, answered here by a recording runner), a broken lock is refused with one line,
and with a lock every image is listed and pulled by digest."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab import pins
from lab.boundary.runner import Result
from lab.cli import run as cli_run
from lab.commands import images as images_command
from lab.errors import ExitStatus, LabError
from lab.lifecycle import imagelock, images
from lab.pins import Pins
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.unit.lifecycle.locks import lock_data, write_lock

PINS = Pins()
INSPECT = "docker buildx imagetools inspect"


def registry(data: dict[str, Any] | None = None) -> Callable[[tuple[str, ...], str | None], Result]:
    """`docker buildx imagetools inspect` as a registry holding the images of ``data`` answers it."""
    entries = (data or lock_data())["images"]
    by_manifest = {
        pair["manifest"]: pair["config"] for entry in entries.values() for pair in entry["platforms"].values()
    }

    def answer(argv: tuple[str, ...], _input: str | None) -> Result:
        ref = argv[-1]
        if "--raw" in argv:
            config = by_manifest[ref.split("@", 1)[1]]
            return Result(argv, 0, json.dumps({"schemaVersion": 2, "config": {"digest": config}}))
        image = images.Image(ref)
        name = next(
            n for n, e in entries.items() if n == image.name or images.Image(n).repository == image.repository
        )
        entry = entries[name]
        manifests = [
            {
                "digest": pair["manifest"],
                "platform": dict(zip(("os", "architecture"), platform.split("/"), strict=True)),
            }
            for platform, pair in entry["platforms"].items()
        ]
        manifests.append(
            {"digest": "sha256:" + "0" * 64, "platform": {"os": "unknown", "architecture": "unknown"}}
        )
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": entry["index"],
            "manifests": manifests,
        }
        return Result(argv, 0, json.dumps(index, indent=2))

    return answer


def lock_command(tmp_path: Path, runner: RecordingRunner) -> tuple[ExitStatus, str]:
    env = captured_env(root=tmp_path)
    status = images_command.execute(argparse.Namespace(action="lock", platforms=None), env, runner, PINS)
    return status, output(env)


def test_lock_writes_every_images_index_and_platform_digests(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.script[INSPECT] = registry()
    status, said = lock_command(tmp_path, runner)
    assert status == ExitStatus.SUCCESS
    written = json.loads((tmp_path / "images.lock.json").read_text())
    assert written == lock_data()
    assert len(written["images"]) == 15  # the 14 lab images and the ImageSet's key-cert-provisioner
    node = images.Image(pins.NODE_IMAGE)
    assert f"{INSPECT} --format '{{{{json .Manifest}}}}' {node.by_digest}" in runner.lines  # by its pin
    operator = lock_data()["images"][pins.TIGERA_OPERATOR_IMAGE]
    arm = operator["platforms"]["linux/arm64"]["manifest"]
    assert f"{INSPECT} --raw quay.io/tigera/operator@{arm}" in runner.lines
    assert "commit it" in said


def test_lock_refuses_a_single_platform_image(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.script[INSPECT] = registry()
    runner.answer(
        f"{INSPECT} --format '{{{{json .Manifest}}}}' {pins.TIGERA_OPERATOR_IMAGE}",
        stdout=json.dumps(
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "1" * 64}
        ),
    )
    with pytest.raises(LabError, match=r"quay.io/tigera/operator:v1.42.3 is not a multi-architecture index"):
        lock_command(tmp_path, runner)
    assert not (tmp_path / "images.lock.json").exists()


def test_lock_refuses_a_registry_that_disagrees_with_a_digest_pin(tmp_path: Path) -> None:
    data = lock_data()
    data["images"][images.Image(pins.AGNHOST_IMAGE).name]["index"] = "sha256:" + "2" * 64
    runner = RecordingRunner()
    runner.script[INSPECT] = registry(data)
    with pytest.raises(
        LabError, match=r"agnhost:2.66.0: the registry serves index sha256:2+, lab/pins.py pins"
    ):
        lock_command(tmp_path, runner)


def test_lock_without_buildx_says_where_to_run_it(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(INSPECT, 1, stderr="docker: 'buildx' is not a docker command.")
    with pytest.raises(
        LabError, match=r"failed: docker: 'buildx' is not a docker command\.; .*buildx plugin"
    ):
        lock_command(tmp_path, runner)


def test_a_lock_round_trips_and_checks_what_it_writes(tmp_path: Path) -> None:
    lock = imagelock.parse(tmp_path / "x.json", lock_data())
    again = imagelock.write(tmp_path / "images.lock.json", lock.images)
    assert again.images == lock.images
    assert imagelock.read(tmp_path / "images.lock.json") == again
    assert imagelock.read(tmp_path / "nothing.json") is None


def broken(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = lock_data()
    change(data)
    return data


NODE = images.Image(pins.NODE_IMAGE).name
CALICO_NODE = "quay.io/calico/node:v3.32.1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", r"not JSON \(Expecting property name"),
        (json.dumps([]), r"not a JSON object"),
        (json.dumps(broken(lambda d: d.update(schema=2))), r"schema 2: this lab reads schema 1"),
        (json.dumps(broken(lambda d: d.update(extra=1))), r"unknown key 'extra'"),
        (
            json.dumps(broken(lambda d: d["images"][CALICO_NODE].update(index="sha256:abc"))),
            rf"entry '{CALICO_NODE}': index 'sha256:abc' is not sha256: followed by 64 hex digits",
        ),
        (
            json.dumps(broken(lambda d: d["images"][CALICO_NODE]["platforms"].pop("linux/arm64"))),
            rf"entry '{CALICO_NODE}': no linux/arm64 digests",
        ),
        (
            json.dumps(
                broken(
                    lambda d: d["images"][CALICO_NODE]["platforms"]["linux/amd64"].update(
                        config="SHA256:" + "A" * 64
                    )
                )
            ),
            rf"entry '{CALICO_NODE}': platforms.linux/amd64.config 'SHA256:A+' is not sha256:",
        ),
        (
            json.dumps(broken(lambda d: d["images"].update({"quay.io/calico/cni@sha256:x": {}}))),
            r"entry 'quay.io/calico/cni@sha256:x': the key must be the image's repo:tag",
        ),
        (json.dumps(broken(lambda d: d["images"].pop(CALICO_NODE))), rf"no entry for {CALICO_NODE}"),
        (
            json.dumps(broken(lambda d: d["images"][NODE].update(index="sha256:" + "3" * 64))),
            rf"entry '{NODE}': index sha256:3+, the pinned reference names sha256:3489c767",
        ),
    ],
    ids=["json", "object", "schema", "key", "digest", "platform", "case", "name", "missing", "pin"],
)
def test_a_broken_lock_is_refused_with_one_line_naming_the_file_and_the_entry(
    tmp_path: Path, data: str, message: str
) -> None:
    (tmp_path / "images.lock.json").write_text(data)
    env = captured_env(root=tmp_path)
    assert cli_run(["images", "list"], env) == ExitStatus.USAGE
    [line] = errors(env).splitlines()
    assert line.startswith(f"error: {tmp_path / 'images.lock.json'}: ")
    assert re.search(message, line), line
    assert "images lock` on a machine with registry access" in line


def test_without_a_lock_list_says_loudly_how_many_are_tag_only(tmp_path: Path) -> None:
    env = captured_env(root=tmp_path)
    runner = RecordingRunner()
    images_command.execute(argparse.Namespace(action="list"), env, runner, PINS)
    [warning] = errors(env).splitlines()
    assert warning.startswith("warning: 12 of 14 images are pinned by tag only")
    assert "`netpol-lab images lock`" in warning
    assert output(env).count(images.TAG_ONLY) == 12


def test_with_a_lock_list_shows_all_14_by_digest_and_pull_pulls_by_digest(tmp_path: Path) -> None:
    write_lock(tmp_path)
    env = captured_env(root=tmp_path)
    runner = RecordingRunner()
    images_command.execute(argparse.Namespace(action="list"), env, runner, PINS)
    assert errors(env) == ""
    lines = output(env).splitlines()
    assert len(lines) == 14
    assert all(imagelock.DIGEST.search(line) for line in lines) and images.TAG_ONLY not in output(env)
    images_command.execute(argparse.Namespace(action="pull", platform=None), env, runner, PINS)
    pulls = [line.split()[-1] for line in runner.lines if line.startswith("docker pull ")]
    assert len(pulls) == 14 and all("@sha256:" in ref for ref in pulls)
    assert f"{CALICO_NODE}@{lock_data()['images'][CALICO_NODE]['index']}" in pulls


def test_the_lock_names_every_tag_only_image_and_what_only_the_imageset_needs() -> None:
    refs = PINS.lock_images()
    assert [r for r in refs if "@" not in r] == [
        pins.TIGERA_OPERATOR_IMAGE,
        *pins.CALICO_IMAGES,
        *pins.CALICO_IMAGESET_ONLY,
    ]
    assert len(images.lab_images(PINS)) == 14
