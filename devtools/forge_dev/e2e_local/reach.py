"""Reach a played cluster as Argo CD does, with nothing but its cluster Secret.

``PlayedApi`` stands in for a vCluster's API server: HTTPS on 127.0.0.1 with a serving
certificate for the cluster's server name, issued by the CA the played chart wrote into
``vc-<name>``, demanding a client certificate of that CA (as kube-apiserver does with
``--client-ca-file``), answering ``GET /version``. ``get_version`` is Argo CD's side:
a TLS client from the Secret's ``config`` (``tlsClientConfig``: ``caData``, ``certData``,
``keyData``, ``serverName``, never ``insecure``) against ``server``, connected to the
played API's port (the server's name does not resolve here; the name is still what TLS
verifies).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import socket
import ssl
import tempfile
import threading
import urllib.parse
from pathlib import Path

from forge_dev.e2e_local import pki
from forge_dev.e2e_local.procs import HarnessError, free_port


class PlayedApi:
    """An HTTPS endpoint that only a client certificate of ``ca`` may call."""

    def __init__(self, ca: pki.CA, host: str, version: str, workdir: Path) -> None:
        self.port = free_port()
        crt, key = ca.issue(host, dns=(host,), ips=("127.0.0.1",), server=True)
        certs = workdir / f"played-api-{host}"
        pki.write(certs / "tls.crt", crt)
        pki.write(certs / "tls.key", key, private=True)
        pki.write(certs / "ca.crt", ca.cert_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "tls.crt", certs / "tls.key")
        context.load_verify_locations(certs / "ca.crt")
        context.verify_mode = ssl.CERT_REQUIRED
        body = json.dumps({"gitVersion": version}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                found = self.path == "/version"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body if found else b"{}")

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PlayedApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def get_version(server: str, config: dict, port: int) -> dict:
    """``GET <server>/version`` with the cluster Secret's TLS client configuration."""
    tls = config.get("tlsClientConfig") or {}
    if tls.get("insecure") is not False:
        raise HarnessError(f"tlsClientConfig.insecure is {tls.get('insecure')!r}")
    url = urllib.parse.urlsplit(server)
    name = tls.get("serverName") or url.hostname
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=base64.b64decode(tls["caData"]).decode())
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert.write_bytes(base64.b64decode(tls["certData"]))
        key.write_bytes(base64.b64decode(tls["keyData"]))
        key.chmod(0o600)
        context.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    # TLS verifies the Secret's server name, not the address dialled.
    conn.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10),
        server_hostname=name,
    )
    with contextlib.closing(conn):
        conn.request("GET", "/version", headers={"Host": url.netloc})
        resp = conn.getresponse()
        if resp.status != 200:
            raise HarnessError(f"GET {server}/version: HTTP {resp.status}")
        return json.loads(resp.read())
