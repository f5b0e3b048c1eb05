"""Calico's manifests: downloaded (from a local HTTP server here), verified before use, applied
server-side; a checksum mismatch applies nothing."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lab.boundary.runner import Result
from lab.errors import LabError
from lab.lifecycle import calico
from lab.lifecycle.cluster import Cluster
from lab.pins import CALICO_MANIFESTS, PinnedFile, Pins
from tests.fakes import RecordingRunner

FILES = {pinned.name: f"# stand-in for {pinned.name}\nkind: List\n".encode() for pinned in CALICO_MANIFESTS}


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
    assert paths[0].parent == tmp_path / "root" / ".cache" / "calico" / pins.calico_version
    assert sorted(server.requests) == sorted(f"/manifests/{name}" for name in FILES)
    assert any(line.startswith("ok sha256 ") for line in said)


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
    assert "tigera-operator.yaml: sha256 " + hashlib.sha256(b"something else\n").hexdigest() in message
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
    assert [p.parent for p in paths] == [local, local]
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


def install_lines(runner: RecordingRunner, tmp_path: Path, *, flow_ui: bool) -> list[str]:
    files = [tmp_path / ".cache" / "calico" / name for name in FILES]
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
