"""Play provider-kubernetes' connection details, and the token controller behind them.

An Object may name fields of objects in its cluster (``spec.connectionDetails``) that
the provider copies into its connection Secret. The only such object the function
composes is a ``kubernetes.io/service-account-token`` Secret, whose ``data`` the new
cluster's token controller fills (``token``, ``ca.crt``, ``namespace``): the player
fills it with an obviously fake token. ``status.atProvider.manifest`` shows the Secret
as provider-kubernetes run with ``--sanitize-secrets`` reports it: ``data`` redacted.

The observed stages of ``examples/cluster-aws-token`` come from this player (its
connection Secret lands in the later stages' ``required.yaml``):

    python -m forge_dev.simulate.stages examples/cluster-aws-token created namespace-up \
        network-up cluster-up kubeconfig-ready nodes-up crossplane-up token-written ready
"""

from __future__ import annotations

import base64
import json
from typing import Any

from forge_dev.simulate.hooks import Manifest

OBJECT = ("kubernetes.m.crossplane.io/v1alpha1", "Object")
TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_ANNOTATION = "kubernetes.io/service-account.name"
# What provider-kubernetes --sanitize-secrets writes in place of a Secret's data.
REDACTED = {"redacted": None}
CA_PEM = "-----BEGIN CERTIFICATE-----\nZmFrZSBjbHVzdGVyIENB\n-----END CERTIFICATE-----\n"


def _segment(claims: dict[str, Any]) -> str:
    text = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def service_account_token(namespace: str, account: str) -> str:
    """A JWT-shaped, obviously fake token for ``namespace/account`` (signature "fake")."""
    header = _segment({"alg": "none", "kid": "fake"})
    claims = _segment({"sub": f"system:serviceaccount:{namespace}:{account}"})
    return f"{header}.{claims}.ZmFrZQ"


def token_data(secret: Manifest) -> dict[str, bytes]:
    """What the token controller writes into a service-account-token Secret, if it is one."""
    if secret.get("apiVersion") != "v1" or secret.get("kind") != "Secret":
        return {}
    if secret.get("type") != TOKEN_TYPE:
        return {}
    meta = secret.get("metadata") or {}
    account = (meta.get("annotations") or {}).get(SA_ANNOTATION)
    namespace = meta.get("namespace", "default")
    if not account:
        return {}
    return {
        "token": service_account_token(namespace, account).encode(),
        "ca.crt": CA_PEM.encode(),
        "namespace": namespace.encode(),
    }


def observed_manifest(inner: Manifest) -> Manifest:
    """The applied object as a sanitizing provider-kubernetes reports it."""
    if token_data(inner):
        return {**inner, "data": dict(REDACTED)}
    return inner


def connection(_: str, manifest: Manifest) -> dict[str, bytes]:
    """The Object's connection details: ``data.<key>`` of the Secret it applied."""
    spec = manifest.get("spec") or {}
    inner = (spec.get("forProvider") or {}).get("manifest") or {}
    data = token_data(inner)
    inner_meta = inner.get("metadata") or {}
    details: dict[str, bytes] = {}
    for wanted in spec.get("connectionDetails") or []:
        same = (wanted.get("name"), wanted.get("namespace")) == (
            inner_meta.get("name"),
            inner_meta.get("namespace"),
        )
        path = str(wanted.get("fieldPath", ""))
        if same and path.startswith("data.") and path[5:] in data:
            details[wanted["toConnectionSecretKey"]] = data[path[5:]]
    return details


CONNECTION = {OBJECT: connection}
