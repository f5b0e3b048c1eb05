"""Calico's manifests: downloaded (from a local HTTP server here), verified before use, applied
server-side; a checksum mismatch applies nothing."""

from __future__ import annotations

import hashlib
import http.server
import io
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import jsonschema
import pytest
import yaml

from lab import pins as lab_pins
from lab.boundary.runner import Result
from lab.errors import ExitStatus, LabError
from lab.lifecycle import calico
from lab.lifecycle.cluster import Cluster
from lab.pins import CALICO_MANIFESTS, PinnedFile, Pins
from tests import calico_schemas
from tests.fakes import RecordingRunner
from tests.unit.lifecycle.locks import index_of, lock_data, write_lock

FILES = {pinned.name: f"# stand-in for {pinned.name}\nkind: List\n".encode() for pinned in CALICO_MANIFESTS}
FILES["tigera-operator.yaml"] = (
    b"# stand-in for tigera-operator.yaml\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n"
    b"    spec:\n      containers:\n        - name: tigera-operator\n"
    b"          image: quay.io/tigera/operator:v1.42.3\n          imagePullPolicy: IfNotPresent\n"
)


class Server:
    """A static file server on 127.0.0.1 that counts requests."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/manifests/"
        (folder / "manifests").mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, name: str, content: bytes) -> None:
        (self.folder / "manifests" / name).write_bytes(content)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "www")
    for name, content in FILES.items():
        srv.serve(name, content)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def pins_for(base_url: str) -> Pins:
    manifests = tuple(
        PinnedFile(p.name, hashlib.sha256(FILES[p.name]).hexdigest(), len(FILES[p.name]))
        for p in CALICO_MANIFESTS
    )
    return replace(Pins(), calico_base_url=base_url, calico_manifests=manifests)


def source(tmp_path: Path, pins: Pins, calico_dir: str | None = None) -> calico.Source:
    return calico.source_for(tmp_path / "root", pins, calico_dir)


def test_downloads_into_the_cache_and_verifies(server: Server, tmp_path: Path) -> None:
    pins = pins_for(server.url)
    said: list[str] = []
    paths = calico.fetch_verified(pins, source(tmp_path, pins), said.append, root=tmp_path / "root")
    assert [p.name for p in paths] == [p.name for p in CALICO_MANIFESTS]
    assert all(p.read_bytes() == FILES[p.name] for p in paths)
    cache = tmp_path / "root" / ".cache" / "calico" / pins.calico_version
    assert all((cache / name).read_bytes() == content for name, content in FILES.items())
    assert sorted(server.requests) == sorted(f"/manifests/{name}" for name in FILES)
    assert any(line.startswith("ok size ") and " sha256 " in line for line in said)


def test_the_applied_bytes_are_the_checked_bytes(server: Server, tmp_path: Path) -> None:
    """kubectl reads a private copy written after the check: the cache may change, the copy does not."""
    pins = pins_for(server.url)
    paths = calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    cache = source(tmp_path, pins).cache_dir
    assert paths[0].parent != cache
    (cache / "tigera-operator.yaml").write_bytes(b"swapped after the check\n")
    assert paths[1].read_bytes() == FILES["tigera-operator.yaml"]
    assert stat.S_IMODE(paths[0].parent.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    lines = install_lines(RecordingRunner(), tmp_path, flow_ui=True, files=paths)
    assert lines[0].endswith(f"-f {paths[0]}") and lines[2].endswith(f"-f {paths[1]}")


def test_a_download_is_never_read_past_its_pinned_size(tmp_path: Path) -> None:
    pins = pins_for("http://mirror.invalid/manifests/")
    reads: list[int] = []

    class Endless(io.RawIOBase):
        """A server that never stops sending."""

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            buffer[:] = b"x" * len(buffer)
            reads.append(len(buffer))
            return len(buffer)

    def opener(url: str, timeout: float) -> IO[bytes]:
        return Endless()  # type: ignore[return-value]

    with pytest.raises(LabError) as caught:
        calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path, opener=opener)
    largest = max(p.size for p in pins.calico_manifests)
    assert "larger than the pinned" in caught.value.message
    assert sum(reads) <= 2 * (largest + 1)  # each download stopped one byte past its pin
    assert not list(source(tmp_path, pins).cache_dir.glob("*"))  # nothing refused is kept


def test_a_refused_download_is_deleted_with_the_cached_file_it_replaced(
    server: Server, tmp_path: Path
) -> None:
    pins = pins_for(server.url)
    cache = source(tmp_path, pins).cache_dir
    cache.mkdir(parents=True)
    (cache / "tigera-operator.yaml").write_bytes(b"half a file")
    same_size = bytes(reversed(FILES["tigera-operator.yaml"]))
    server.serve("tigera-operator.yaml", same_size)
    with pytest.raises(LabError) as caught:
        calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    assert "tigera-operator.yaml: sha256 " + hashlib.sha256(same_size).hexdigest() in caught.value.message
    assert not (cache / "tigera-operator.yaml").exists()
    assert not list(cache.glob("*.part"))
    assert (cache / "v1_crd_projectcalico_org.yaml").read_bytes() == FILES["v1_crd_projectcalico_org.yaml"]


def test_a_missing_calico_dir_is_reported_missing(tmp_path: Path) -> None:
    pins = pins_for("http://127.0.0.1:9/unreachable/")
    with pytest.raises(LabError) as caught:
        calico.fetch_verified(
            pins, source(tmp_path, pins, str(tmp_path / "usb")), lambda _: None, root=tmp_path
        )
    assert caught.value.status == ExitStatus.USAGE
    assert f"--calico-dir {tmp_path / 'usb'}: no such folder" in caught.value.message
    assert "checksum" not in caught.value.message


def test_a_calico_dir_without_the_files_says_which_are_missing(tmp_path: Path) -> None:
    pins = pins_for("http://127.0.0.1:9/unreachable/")
    local = tmp_path / "usb"
    local.mkdir()
    (local / "v1_crd_projectcalico_org.yaml").write_bytes(FILES["v1_crd_projectcalico_org.yaml"])
    with pytest.raises(LabError) as caught:
        calico.fetch_verified(pins, source(tmp_path, pins, str(local)), lambda _: None, root=tmp_path)
    assert "are missing (tigera-operator.yaml)" in caught.value.message
    assert "checksum" not in caught.value.message


def test_a_dry_run_says_whether_the_cache_holds_the_verified_files(server: Server, tmp_path: Path) -> None:
    pins = pins_for(server.url)
    said: list[str] = []
    calico.fetch_verified(pins, source(tmp_path, pins), said.append, root=tmp_path, dry_run=True)
    assert sum("(not cached; then check its size and sha256)" in line for line in said) == 2
    assert server.requests == [] and not source(tmp_path, pins).cache_dir.exists()
    calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    (source(tmp_path, pins).cache_dir / "tigera-operator.yaml").write_bytes(b"corrupted")
    said.clear()
    calico.fetch_verified(pins, source(tmp_path, pins), said.append, root=tmp_path, dry_run=True)
    assert any(
        line.startswith("ok size ") and line.endswith("v1_crd_projectcalico_org.yaml (cached)")
        for line in said
    )
    assert any("tigera-operator.yaml (the cached file fails its check" in line for line in said)


def test_a_second_run_uses_the_cache(server: Server, tmp_path: Path) -> None:
    pins = pins_for(server.url)
    calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    before = len(server.requests)
    calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    assert len(server.requests) == before


def test_a_corrupted_cache_file_is_downloaded_again(server: Server, tmp_path: Path) -> None:
    pins = pins_for(server.url)
    paths = calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    paths[1].write_bytes(b"half a file")
    again = calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    assert again[1].read_bytes() == FILES[again[1].name]


def test_a_changed_upstream_file_stops_with_one_line_naming_it(server: Server, tmp_path: Path) -> None:
    pins = pins_for(server.url)
    server.serve("tigera-operator.yaml", b"something else\n")
    with pytest.raises(LabError) as caught:
        calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    message = caught.value.message
    assert "\n" not in message
    pinned = len(FILES["tigera-operator.yaml"])
    assert f"do not match their pinned checksums (tigera-operator.yaml: 15 bytes, pinned {pinned})" in message
    assert "nothing was applied" in message
    assert "v1_crd_projectcalico_org.yaml" not in message  # the good file is not blamed


def test_a_download_error_says_how_to_work_offline(server: Server, tmp_path: Path) -> None:
    pins = replace(pins_for(server.url), calico_base_url=server.url + "missing/")
    with pytest.raises(LabError) as caught:
        calico.fetch_verified(pins, source(tmp_path, pins), lambda _: None, root=tmp_path)
    assert "could not download" in caught.value.message
    assert "--calico-dir" in caught.value.message
    assert not list((tmp_path / ".cache").rglob("*.part"))


def test_a_local_folder_needs_no_network_and_is_never_written(tmp_path: Path) -> None:
    pins = pins_for("http://127.0.0.1:9/unreachable/")
    local = tmp_path / "offline"
    local.mkdir()
    for name, content in FILES.items():
        (local / name).write_bytes(content)
    paths = calico.fetch_verified(pins, source(tmp_path, pins, str(local)), lambda _: None, root=tmp_path)
    assert [p.read_bytes() for p in paths] == [FILES[p.name] for p in paths]
    assert not (tmp_path / ".cache").exists()
    (local / "tigera-operator.yaml").write_bytes(b"tampered")
    with pytest.raises(LabError) as caught:
        calico.fetch_verified(pins, source(tmp_path, pins, str(local)), lambda _: None, root=tmp_path)
    assert f"local folder {local}" in caught.value.message
    assert (local / "tigera-operator.yaml").read_bytes() == b"tampered"


def test_the_local_folder_comes_from_the_environment_too(tmp_path: Path) -> None:
    pins = Pins.from_env({"NETPOL_LAB_CALICO_DIR": str(tmp_path)})
    assert calico.source_for(tmp_path, pins, None).local_dir == tmp_path.resolve()
    assert calico.source_for(tmp_path, pins, "/elsewhere").local_dir == Path("/elsewhere")


def test_a_checksum_override_uses_the_documented_variable_name() -> None:
    pinned = Pins().calico_manifests[1]
    assert pinned.checksum_variable == "NETPOL_LAB_CALICO_SHA256_TIGERA_OPERATOR_YAML"  # docs/lab.md
    pins = Pins.from_env({"NETPOL_LAB_CALICO_SHA256_TIGERA_OPERATOR_YAML": "AB" * 32})
    assert pins.calico_manifests[1].sha256 == "ab" * 32
    assert pins.calico_manifests[0] == Pins().calico_manifests[0]
    assert pins.overrides == ("NETPOL_LAB_CALICO_SHA256_TIGERA_OPERATOR_YAML",)


def test_the_real_pins_name_every_file_with_a_full_sha256() -> None:
    assert [p.name for p in CALICO_MANIFESTS] == ["v1_crd_projectcalico_org.yaml", "tigera-operator.yaml"]
    for pinned in CALICO_MANIFESTS:
        assert len(pinned.sha256) == 64 and int(pinned.sha256, 16) >= 0


def install_lines(
    runner: RecordingRunner, tmp_path: Path, *, flow_ui: bool, files: list[Path] | None = None
) -> list[str]:
    files = files or [tmp_path / ".cache" / "calico" / name for name in FILES]
    calico.install(runner, Cluster(runner).kubectl, files, root=tmp_path, flow_ui=flow_ui, timeout=60)
    return runner.lines


def test_install_applies_server_side_in_order(tmp_path: Path) -> None:
    lines = install_lines(RecordingRunner(), tmp_path, flow_ui=True)
    apply = (
        "kubectl --context kind-netpol-lab apply --server-side --force-conflicts --field-manager=netpol-lab"
    )
    assert lines[0] == f"{apply} -f .cache/calico/v1_crd_projectcalico_org.yaml"
    # the CRDs are served before anything that needs them is applied
    assert lines[1] == (
        "kubectl --context kind-netpol-lab wait --for=condition=Established --timeout=120s "
        "-f .cache/calico/v1_crd_projectcalico_org.yaml"
    )
    assert lines[2] == f"{apply} -f .cache/calico/tigera-operator.yaml"
    assert lines[3] == (
        f"{apply} -f manifests/calico/installation.yaml -f manifests/calico/apiserver.yaml "
        "-f manifests/calico/goldmane.yaml -f manifests/calico/whisker.yaml"
    )
    assert len(lines) == 4


def test_no_flow_ui_leaves_out_and_removes_whisker_and_goldmane(tmp_path: Path) -> None:
    lines = install_lines(RecordingRunner(), tmp_path, flow_ui=False)
    assert "whisker" not in lines[3] and "goldmane" not in lines[3]
    assert lines[4] == (
        "kubectl --context kind-netpol-lab delete --ignore-not-found "
        "-f manifests/calico/goldmane.yaml -f manifests/calico/whisker.yaml"
    )


def test_a_rerun_issues_the_same_idempotent_commands(tmp_path: Path) -> None:
    first = install_lines(RecordingRunner(), tmp_path, flow_ui=True)
    second = install_lines(RecordingRunner(), tmp_path, flow_ui=True)
    assert first == second
    assert all("--force-conflicts" in line for line in first if " apply " in line)
    assert not any(" create " in line for line in first)  # `create` fails with AlreadyExists on a re-run


def test_a_failed_apply_stops_with_the_server_error(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.script["kubectl --context kind-netpol-lab apply"] = Result(
        ("kubectl",), 1, "", 'error: Apply failed with 1 conflict: conflict with "operator"\n'
    )
    with pytest.raises(LabError) as caught:
        install_lines(runner, tmp_path, flow_ui=True)
    assert "conflict" in caught.value.message
    assert len(runner.calls) == 1  # nothing after the failed step


APPLY = "kubectl --context kind-netpol-lab apply --server-side --force-conflicts --field-manager=netpol-lab"


def test_without_a_lock_up_says_loudly_that_calico_is_pinned_by_tag(server: Server, tmp_path: Path) -> None:
    pins = pins_for(server.url)
    said: list[str] = []
    calico.fetch_verified(pins, source(tmp_path, pins), said.append, root=tmp_path)
    [warning] = [line for line in said if line.startswith("warning:")]
    assert "12 of 14 images are pinned by tag only" in warning and "`netpol-lab images lock`" in warning
    assert install_lines(RecordingRunner(), tmp_path, flow_ui=True)[3].startswith(
        f"{APPLY} -f manifests/calico/"
    )


def test_with_a_lock_the_operator_is_pinned_by_digest_after_the_check(server: Server, tmp_path: Path) -> None:
    write_lock(tmp_path)
    pins = pins_for(server.url)
    said: list[str] = []
    paths = calico.fetch_verified(pins, source(tmp_path, pins), said.append, root=tmp_path)
    assert not any(line.startswith("warning:") for line in said)
    digest = index_of(lab_pins.TIGERA_OPERATOR_IMAGE)
    applied = paths[1].read_text()
    assert f"          image: {lab_pins.TIGERA_OPERATOR_IMAGE}@{digest}\n" in applied
    assert applied.replace(f"@{digest}", "") == FILES["tigera-operator.yaml"].decode()  # that line only
    cached = source(tmp_path, pins).cache_dir / "tigera-operator.yaml"
    assert cached.read_bytes() == FILES["tigera-operator.yaml"]  # the checked file itself is untouched


def test_an_operator_manifest_without_its_image_line_cannot_be_pinned(tmp_path: Path) -> None:
    lock = calico.images.read_lock(write_lock(tmp_path).parent, Pins())
    assert lock is not None
    with pytest.raises(
        LabError, match=r"tigera-operator.yaml: 0 lines `image: quay.io/tigera/operator:v1.42.3`"
    ):
        calico.pin_operator(b"kind: Deployment\n", Pins(), lock)


def test_with_a_lock_the_imageset_goes_in_before_the_installation(tmp_path: Path) -> None:
    write_lock(tmp_path)
    runner = RecordingRunner()
    lines = install_lines(runner, tmp_path, flow_ui=True)
    assert lines[3] == f"{APPLY} -f -"
    assert lines[4].startswith(f"{APPLY} -f manifests/calico/installation.yaml")
    [document] = yaml.safe_load_all(runner.calls[3].input or "")
    assert document == calico.imageset(Pins(), calico.images.read_lock(tmp_path, Pins()))  # type: ignore[arg-type]


def test_the_imageset_is_what_the_operator_reads() -> None:
    """tigera/operator v1.42.3: named calico-<release>; images by default path, sha256 digests; every image
    the operator resolves for the lab (key-cert-provisioner too), and nothing it does not deploy."""
    lock = calico.imagelock.parse(Path("images.lock.json"), lock_data())
    document = calico.imageset(Pins(), lock)
    assert document["apiVersion"] == "operator.tigera.io/v1" and document["kind"] == "ImageSet"
    assert document["metadata"]["name"] == "calico-v3.32.1"
    entries = document["spec"]["images"]
    assert all(set(entry) == {"image", "digest"} for entry in entries)
    assert sorted(entry["image"] for entry in entries) == sorted(
        f"calico/{name}" for name in (*lab_pins.CALICO_IMAGE_NAMES, "key-cert-provisioner")
    )
    assert {entry["digest"] for entry in entries} == {
        index_of(f"quay.io/{entry['image']}:v3.32.1") for entry in entries
    }
    assert all(calico.imagelock.DIGEST.fullmatch(entry["digest"]) for entry in entries)


def test_the_imageset_validates_against_the_operators_crd() -> None:
    schema = calico_schemas.schema("operator.tigera.io/v1", "ImageSet")
    if schema is None:
        pytest.skip(calico_schemas.MISSING)
    lock = calico.imagelock.parse(Path("images.lock.json"), lock_data())
    jsonschema.validate(calico.imageset(Pins(), lock), schema)


# -- a lab without Calico: the ClusterNetworkPolicy CRD alone ---------------------------------------


def test_the_cluster_policy_crd_is_taken_alone_from_the_bundle(tmp_path: Path) -> None:
    from tests.unit.lab_world import CLUSTER_POLICY_CRD_STANDIN

    bundle = tmp_path / calico.CRD_BUNDLE
    bundle.write_text("# many CRDs\n" + CLUSTER_POLICY_CRD_STANDIN)
    path = calico.extract_cluster_policy_crd(bundle)
    [crd] = list(yaml.safe_load_all(path.read_text()))
    assert (crd["kind"], crd["metadata"]["name"]) == ("CustomResourceDefinition", calico.CLUSTER_POLICY_CRD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("copies", [0, 2])
def test_a_bundle_without_exactly_one_cluster_policy_crd_is_one_line(tmp_path: Path, copies: int) -> None:
    from tests.unit.lab_world import CLUSTER_POLICY_CRD_STANDIN

    crd_only = CLUSTER_POLICY_CRD_STANDIN.split("---\n")[1]
    bundle = tmp_path / calico.CRD_BUNDLE
    bundle.write_text("".join(f"---\n{crd_only}" for _ in range(copies)) or "---\nkind: Namespace\n")
    with pytest.raises(LabError, match=rf"holds {copies} CustomResourceDefinition clusternetworkpolicies"):
        calico.extract_cluster_policy_crd(bundle)


def test_without_calico_only_the_crd_bundle_is_pinned() -> None:
    only = calico.only_the_crd_bundle(Pins())
    assert [p.name for p in only.calico_manifests] == [calico.CRD_BUNDLE]
    assert only.calico_images == () and only.calico_imageset_only == ()
