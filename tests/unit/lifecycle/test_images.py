"""`netpol-lab images`: the list is complete and pinned, and pull/save/load run in the right order."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from lab import pins
from lab.boundary.runner import Result
from lab.cli import run as cli_run
from lab.commands import images as images_command
from lab.errors import ExitStatus, LabError
from lab.lifecycle import imagelock, images
from lab.pins import Pins
from tests.fakes import RecordingRunner, captured_env, errors, output
from tests.unit.lifecycle.locks import config_of, index_of, inspect_rows, write_lock

PINS = Pins()
LAB_IMAGES = images.lab_images(PINS)
AGNHOST = images.Image(pins.AGNHOST_IMAGE)
LS = "docker image ls --digests --format '{{json .}}'"


def ls_rows(*rows: tuple[str, str, str]) -> str:
    return "\n".join(json.dumps({"Repository": r, "Tag": t, "Digest": d, "ID": "x"}) for r, t, d in rows)


def everything_pulled_by_digest_untagged() -> str:
    """What Docker shows right after `docker pull repo:tag@sha256:...`: the digest, no tag."""
    rows = []
    for image in LAB_IMAGES:
        if image.digest:
            rows.append((image.repository, "<none>", image.digest))
        else:
            rows.append((image.repository, image.name.rsplit(":", 1)[1], "sha256:" + "ab" * 32))
    return ls_rows(*rows)


def test_every_image_the_lab_runs_is_listed_once() -> None:
    refs = [image.ref for image in LAB_IMAGES]
    assert len(refs) == len(set(refs))
    assert pins.NODE_IMAGE in refs
    assert pins.AGNHOST_IMAGE in refs
    assert pins.TIGERA_OPERATOR_IMAGE in refs
    for name in pins.CALICO_IMAGE_NAMES:
        assert f"quay.io/calico/{name}:{pins.CALICO_VERSION}" in refs
    # every image a lab manifest runs is in the list (workloads, control, stand-in)
    manifests = Path(__file__).resolve().parents[3] / "manifests"
    for path in manifests.rglob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("image:"):
                assert line.split("image:", 1)[1].strip() in refs, path


def test_node_image_and_agnhost_are_pinned_by_digest() -> None:
    for ref in (pins.NODE_IMAGE, pins.AGNHOST_IMAGE):
        image = images.Image(ref)
        assert image.digest is not None and len(image.digest) == len("sha256:") + 64


def test_image_reference_parts() -> None:
    assert AGNHOST.name == "registry.k8s.io/e2e-test-images/agnhost:2.66.0"
    assert AGNHOST.repository == "registry.k8s.io/e2e-test-images/agnhost"
    assert AGNHOST.by_digest == f"registry.k8s.io/e2e-test-images/agnhost@{AGNHOST.digest}"
    tagged = images.Image("localhost:5000/calico/node:v3.32.1")
    assert (tagged.repository, tagged.digest, tagged.by_digest) == ("localhost:5000/calico/node", None, None)


def test_list_shows_digests_and_what_docker_holds() -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout=ls_rows(("quay.io/calico/node", "v3.32.1", "sha256:" + "cd" * 32)))
    env = captured_env()
    images_command.execute(argparse.Namespace(action="list"), env, runner, PINS)
    lines = output(env).splitlines()
    assert len(lines) == len(LAB_IMAGES)
    node = next(line for line in lines if line.startswith("quay.io/calico/node:"))
    assert images.TAG_ONLY in node and f"(local: sha256:{'cd' * 32})" in node
    agnhost = next(line for line in lines if line.startswith(AGNHOST.name))
    assert str(AGNHOST.digest) in agnhost and "(local: not pulled)" in agnhost


def test_list_without_docker_still_prints_the_pins() -> None:
    runner = RecordingRunner()
    runner.script[LS] = Result(("docker",), 127, not_found=True)
    env = captured_env()
    images_command.execute(argparse.Namespace(action="list"), env, runner, PINS)
    assert "local state unknown: docker: command not found" in output(env)
    assert str(AGNHOST.digest) in output(env)


def test_pull_by_digest_then_tag() -> None:
    runner = RecordingRunner()
    images.pull(runner, LAB_IMAGES)
    assert runner.lines[:2] == [
        f"docker pull {pins.NODE_IMAGE}",
        f"docker tag {images.Image(pins.NODE_IMAGE).by_digest} kindest/node:v1.36.1",
    ]
    assert f"docker pull {pins.TIGERA_OPERATOR_IMAGE}" in runner.lines
    assert not any(line.startswith("docker tag quay.io/tigera/operator") for line in runner.lines)
    assert len([line for line in runner.lines if line.startswith("docker pull ")]) == len(LAB_IMAGES)


def test_pull_for_another_platform() -> None:
    runner = RecordingRunner()
    images.pull(runner, [AGNHOST], platform="linux/arm64")
    assert runner.lines[0] == f"docker pull --platform linux/arm64 {pins.AGNHOST_IMAGE}"


def test_failed_pull_is_one_line_with_the_fix() -> None:
    runner = RecordingRunner()
    runner.answer(
        f"docker pull {pins.AGNHOST_IMAGE}",
        1,
        stderr="Error response from daemon: Get https://registry.k8s.io: timeout",
    )
    with pytest.raises(
        LabError,
        match=r"docker pull .*agnhost:2.66.0 failed: .*timeout; .*images load FILE",
    ):
        images.pull(runner, [AGNHOST])


def test_save_tags_untagged_images_then_saves_them_by_name(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout=everything_pulled_by_digest_untagged())
    archive = tmp_path / "lab.tar"
    images.save(runner, LAB_IMAGES, archive)
    tags = [line for line in runner.lines if line.startswith("docker tag ")]
    assert tags == [f"docker tag {i.by_digest} {i.name}" for i in LAB_IMAGES if i.digest]
    assert runner.lines[-1] == f"docker image save -o {archive} " + " ".join(i.name for i in LAB_IMAGES)


def test_save_refuses_when_something_is_not_pulled(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout=ls_rows(("quay.io/calico/node", "v3.32.1", "sha256:" + "cd" * 32)))
    with pytest.raises(LabError, match=r"not pulled yet: kindest/node:v1.36.1, .*images pull"):
        images.save(runner, LAB_IMAGES, tmp_path / "lab.tar")
    assert not any("image save" in line for line in runner.lines)


def test_load_puts_images_into_docker_then_into_the_nodes(tmp_path: Path) -> None:
    archive = tmp_path / "lab.tar"
    archive.write_bytes(b"not really a tar")
    runner = RecordingRunner()
    runner.answer("kind get clusters", stdout="netpol-lab\n")
    rows = [(i.repository, i.name.rsplit(":", 1)[1], i.digest or "sha256:" + "ab" * 32) for i in LAB_IMAGES]
    runner.answer(LS, stdout=ls_rows(*rows))
    env = captured_env()
    images_command.execute(
        argparse.Namespace(action="load", file=archive, name="netpol-lab"), env, runner, PINS
    )
    assert runner.lines[0] == f"docker load -i {archive}"
    [kind_load] = [line for line in runner.lines if line.startswith("kind load")]
    assert runner.lines.index(kind_load) > 0
    loaded = kind_load.split()[3:-2]
    assert loaded == [i.name for i in LAB_IMAGES if i.ref != pins.NODE_IMAGE]  # the nodes run the node image
    assert kind_load.endswith("--name netpol-lab")
    assert f"loaded {len(loaded)} images into the nodes of netpol-lab" in output(env)


def test_load_without_a_cluster_stops_after_docker(tmp_path: Path) -> None:
    archive = tmp_path / "lab.tar"
    archive.write_bytes(b"x")
    runner = RecordingRunner()
    runner.answer("kind get clusters", stderr="No kind clusters found.")
    env = captured_env()
    images_command.execute(
        argparse.Namespace(action="load", file=archive, name="netpol-lab"), env, runner, PINS
    )
    assert not any(line.startswith("kind load") for line in runner.lines)
    assert "`make lab-up` loads them into its nodes" in output(env)


def test_load_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    env = captured_env()
    status = cli_run(["images", "load", str(tmp_path / "nope.tar")], env)
    assert status == 2
    assert "nope.tar: no such file; save one with `netpol-lab images save FILE`" in errors(env)


def test_preload_only_loads_what_docker_has_and_tags_digest_pulls() -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout=ls_rows((AGNHOST.repository, "<none>", str(AGNHOST.digest))))
    loaded = images.preload_local_images(runner, "netpol-lab", PINS)
    assert loaded == [AGNHOST.name]
    assert runner.lines[1:] == [
        f"docker tag {AGNHOST.by_digest} {AGNHOST.name}",
        f"kind load docker-image {AGNHOST.name} --name netpol-lab",
    ]


def test_preload_with_nothing_local_does_nothing() -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout="")
    assert images.preload_local_images(runner, "netpol-lab", PINS) == []
    assert runner.lines == [LS]


def test_preload_falls_back_to_a_single_platform_archive() -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout=ls_rows((AGNHOST.repository, "2.66.0", str(AGNHOST.digest))))
    runner.answer(
        "kind load docker-image",
        1,
        stderr="ERROR: failed to load image: ... ctr: content digest sha256:44b2: not found",
    )
    runner.answer("docker version --format '{{.Server.Os}}/{{.Server.Arch}}'", stdout="linux/amd64\n")
    assert images.preload_local_images(runner, "netpol-lab", PINS) == [AGNHOST.name]
    save = next(line for line in runner.lines if line.startswith("docker image save"))
    assert save.startswith("docker image save --platform linux/amd64 -o ")
    archive = save.split(" -o ", 1)[1].split()[0]
    assert runner.lines[-1] == f"kind load image-archive {archive} --name netpol-lab"


def test_preload_reports_other_kind_failures() -> None:
    runner = RecordingRunner()
    runner.answer(LS, stdout=ls_rows((AGNHOST.repository, "2.66.0", str(AGNHOST.digest))))
    runner.answer("kind load docker-image", 1, stderr='ERROR: no nodes found for cluster "netpol-lab"')
    with pytest.raises(LabError, match="kind load docker-image failed: ERROR: no nodes found"):
        images.preload_local_images(runner, "netpol-lab", PINS)


def load_command(tmp_path: Path, runner: RecordingRunner, *, root: Path | None = None) -> str:
    archive = tmp_path / "lab.tar"
    archive.write_bytes(b"x")
    env = captured_env(root=root or tmp_path)
    images_command.execute(
        argparse.Namespace(action="load", file=archive, name="netpol-lab"), env, runner, PINS
    )
    return output(env) + errors(env)


def classic_store(runner: RecordingRunner, ids: dict[str, str] | None = None) -> None:
    """Docker's classic store after `docker load`: tags only, each image ID its config digest."""
    runner.answer("kind get clusters", stdout="netpol-lab\n")
    runner.answer(
        LS, stdout=ls_rows(*[(i.repository, i.name.rsplit(":", 1)[1], "<none>") for i in LAB_IMAGES])
    )
    wanted = {i.name: config_of(i.name) for i in LAB_IMAGES}
    runner.answer(INSPECT, stdout=inspect_rows({**wanted, **(ids or {})}))


INSPECT = "docker image inspect --format '{{json .}}'"


def test_load_that_lost_the_digests_never_advises_a_tag(tmp_path: Path) -> None:
    """Docker's classic store drops registry digests on save/load: say so, never swap a digest for a tag."""
    runner = RecordingRunner()
    classic_store(runner)
    said = load_command(tmp_path, runner)
    assert "NETPOL_LAB_NODE_IMAGE" not in said and "NETPOL_LAB_AGNHOST_IMAGE" not in said
    assert "kept no registry digest for 2 digest-pinned image(s)" in said
    assert "containerd image store" in said
    assert not hasattr(images, "lost_digest_overrides")


def test_load_checks_each_images_content_digest_against_the_lock(tmp_path: Path) -> None:
    write_lock(tmp_path)
    runner = RecordingRunner()
    classic_store(runner)
    said = load_command(tmp_path, runner)
    assert "14 image(s) match the content digests of images.lock.json" in said
    inspect = runner.lines.index(f"{INSPECT} " + " ".join(i.name for i in images.lab_images(PINS)))
    [kind_load] = [line for line in runner.lines if line.startswith("kind load")]
    assert runner.lines.index(kind_load) > inspect  # checked before anything reaches the nodes
    # verified by content, so loaded by tag although Docker kept no registry digest
    assert kind_load.split()[3:-2] == [i.name for i in LAB_IMAGES if i.ref != pins.NODE_IMAGE]


def test_load_accepts_the_index_digest_docker_containerd_store_keeps(tmp_path: Path) -> None:
    write_lock(tmp_path)
    runner = RecordingRunner()
    runner.answer(INSPECT, stdout=inspect_rows({i.name: index_of(i.name) for i in LAB_IMAGES}))
    said = load_command(tmp_path, runner)
    assert "14 image(s) match" in said


def test_load_refuses_an_image_whose_content_is_not_the_locked_one(tmp_path: Path) -> None:
    write_lock(tmp_path)
    runner = RecordingRunner()
    forged = "sha256:" + "6" * 64
    classic_store(runner, {"quay.io/calico/typha:v3.32.1": forged})
    with pytest.raises(LabError) as caught:
        load_command(tmp_path, runner)
    message = caught.value.message
    assert caught.value.status == ExitStatus.MISMATCH and "\n" not in message
    assert f"quay.io/calico/typha:v3.32.1 (linux/amd64) has content digest {forged}" in message
    assert f"images.lock.json pins {config_of('quay.io/calico/typha:v3.32.1')}" in message
    assert "docker image rm quay.io/calico/typha:v3.32.1" in runner.lines  # untagged: never loaded later
    assert not any(line.startswith("kind load") for line in runner.lines)


def test_load_refuses_an_image_of_a_platform_the_lock_does_not_know(tmp_path: Path) -> None:
    write_lock(tmp_path)
    runner = RecordingRunner()
    runner.answer(INSPECT, stdout=inspect_rows({AGNHOST.name: "sha256:" + "7" * 64}, platform="linux/s390x"))
    with pytest.raises(
        LabError, match=r"agnhost:2.66.0 is linux/s390x in Docker; images.lock.json has digests for"
    ):
        load_command(tmp_path, runner)


def test_save_with_a_lock_refuses_what_is_not_the_platform_asked_for(tmp_path: Path) -> None:
    lock = imagelock.read(write_lock(tmp_path))
    assert lock is not None
    locked = images.lab_images(images.with_lock(PINS, lock))
    runner = RecordingRunner()
    runner.answer(
        LS, stdout=ls_rows(*[(i.repository, i.name.rsplit(":", 1)[1], str(i.digest)) for i in locked])
    )
    runner.answer(INSPECT, stdout=inspect_rows({i.name: config_of(i.name, "linux/amd64") for i in locked}))
    with pytest.raises(
        LabError, match=r"not saved: .* is linux/amd64 in Docker, not the linux/arm64 asked for"
    ):
        images.save(runner, locked, tmp_path / "arm.tar", "linux/arm64", lock)
    assert not any(" image save " in f" {line} " for line in runner.lines)
    runner.answer(
        INSPECT,
        stdout=inspect_rows({i.name: config_of(i.name, "linux/arm64") for i in locked}, "linux/arm64"),
    )
    images.save(runner, locked, tmp_path / "arm.tar", "linux/arm64", lock)
    assert runner.lines[-1].startswith(f"docker image save --platform linux/arm64 -o {tmp_path / 'arm.tar'} ")
