"""Reach a cluster as Argo CD does, with nothing but its cluster Secret.

``get`` is Argo CD's side: a TLS client from the Secret's ``config`` (``tlsClientConfig``:
``caData``, ``certData``, ``keyData``, ``serverName``, never ``insecure``) against
``server``. The harness does not resolve names through cluster DNS, so it dials the address
the name resolves to in the cluster (a Service's ClusterIP, through kube-proxy); the name
is still what TLS verifies.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import ssl
import tempfile
import urllib.parse
from pathlib import Path

from forge_dev.e2e_local.procs import HarnessError


def get(server: str, config: dict, path: str, dial: tuple[str, int]) -> dict:
    """``GET <server><path>`` with the cluster Secret's TLS client configuration,
    connected to ``dial``; the JSON answer."""
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
    conn = http.client.HTTPSConnection(dial[0], dial[1], context=context, timeout=10)
    # TLS verifies the Secret's server name, not the address dialled.
    conn.sock = context.wrap_socket(
        socket.create_connection(dial, timeout=10), server_hostname=name
    )
    with contextlib.closing(conn):
        conn.request("GET", path, headers={"Host": url.netloc})
        resp = conn.getresponse()
        if resp.status != 200:
            raise HarnessError(f"GET {server}{path}: HTTP {resp.status}")
        return json.loads(resp.read())
