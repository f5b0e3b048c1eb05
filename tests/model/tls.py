"""The model's API on HTTPS as well, for what only happens over TLS: kubectl (client-go's clientcmd) sends a
kubeconfig's credentials only when the transport is TLS (``IsConfigTransportTLS``), so bearer tokens,
and with them RBAC, are only exercised on an HTTPS endpoint with a CA the kubeconfig names.

``serve_tls(cluster)`` starts a second listener on 127.0.0.1 for the same model (same store, same
authentication), with a throwaway CA and a server certificate for 127.0.0.1 made by the openssl CLI.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.model.server import ModelServer

if TYPE_CHECKING:
    from tests.model.cluster import ModelCluster

OPENSSL = shutil.which("openssl")
NO_OPENSSL = "openssl not found on PATH: the HTTPS model (tokens and RBAC) needs it to make a test CA"


class TlsModelServer(ModelServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-stream (a watch kubectl ended) is no error of the model's."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (ssl.SSLError, OSError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class TlsEndpoint:
    server: ModelServer
    url: str
    ca_pem: bytes

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def _openssl(folder: Path, *args: str) -> None:
    assert OPENSSL, NO_OPENSSL
    subprocess.run([OPENSSL, *args], cwd=folder, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key): a CA and a certificate for IP 127.0.0.1 it signed."""
    _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=model-ca")  # fmt: skip
    _openssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(folder, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def serve_tls(cluster: ModelCluster) -> TlsEndpoint:
    folder = Path(tempfile.mkdtemp(prefix="model-tls-"))
    ca, certificate, key = make_certificates(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server = TlsModelServer(cluster)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="model-apiserver-tls", daemon=True).start()
    endpoint = TlsEndpoint(server, f"https://127.0.0.1:{server.server_address[1]}", ca.read_bytes())
    shutil.rmtree(folder, ignore_errors=True)
    return endpoint
