"""Turn an Argo CD cluster Secret into a kubeconfig, the way Argo CD itself connects.

    kubectl get secret -n argocd NAME -o json | python3 e2e/argocd_kubeconfig.py server
    kubectl get secret -n argocd NAME -o json | python3 e2e/argocd_kubeconfig.py \\
        kubeconfig --server https://127.0.0.1:PORT > kubeconfig.json

``server`` prints the Secret's ``server``. ``kubeconfig`` writes a kubeconfig (JSON,
which kubectl reads) from ``config.tlsClientConfig``: CA, client certificate and key,
and the TLS server name (the Secret's ``serverName``, else the host of its ``server``),
so that reaching the API through a port-forward still verifies the certificate
against the name Argo CD uses. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from urllib.parse import urlsplit


def _data(secret: dict) -> dict[str, str]:
    data = secret.get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def kubeconfig(secret: dict, server: str | None) -> dict:
    """The kubeconfig for the cluster the Secret registers."""
    data = _data(secret)
    for key in ("name", "server", "config"):
        if key not in data:
            raise SystemExit(f"the Argo CD cluster Secret has no {key!r} key")
    config = json.loads(data["config"])
    tls = config.get("tlsClientConfig") or {}
    missing = [k for k in ("caData", "certData", "keyData") if not tls.get(k)]
    if missing or tls.get("insecure"):
        raise SystemExit(f"tlsClientConfig is not a verified client-certificate config: {missing}")
    cluster = {
        "server": server or data["server"],
        "certificate-authority-data": tls["caData"],
        "tls-server-name": tls.get("serverName") or urlsplit(data["server"]).hostname,
    }
    user = {"client-certificate-data": tls["certData"], "client-key-data": tls["keyData"]}
    name = data["name"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["server", "kubeconfig"])
    parser.add_argument("--server", help="reach the API here instead (a port-forward)")
    args = parser.parse_args()
    secret = json.load(sys.stdin)
    if args.what == "server":
        print(_data(secret).get("server", ""))
    else:
        json.dump(kubeconfig(secret, args.server), sys.stdout, indent=2)


if __name__ == "__main__":
    main()
