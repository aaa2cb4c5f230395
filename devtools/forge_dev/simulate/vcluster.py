"""Play vCluster: once its Helm release is deployed, the ``vc-<name>`` kubeconfig Secret.

A vCluster writes a kubeconfig Secret into its namespace (``config``, plus the CA and
client certificate as separate keys) whose certificates are signed by the cluster's own
CA. The player writes it with obviously fake placeholder PEM blocks; the tests make
real ones with ``Credentials.generate`` to follow those exact bytes.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from forge_dev.simulate.hooks import Manifest


@dataclass(frozen=True)
class Credentials:
    """PEM text of a cluster CA and of a client certificate and key it signed."""

    ca: str
    cert: str
    key: str

    @classmethod
    def generate(cls, cluster: str) -> Credentials:
        """A new CA and an admin client certificate, like vCluster's own (needs cryptography)."""
        from cryptography import x509  # noqa: PLC0415 - a dev dependency, for the tests only
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import NameOID  # noqa: PLC0415

        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{cluster}-ca")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "vcluster"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(ca_key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(
            ca=ca.public_bytes(serialization.Encoding.PEM).decode(),
            cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key=key_pem.decode(),
        )

    @classmethod
    def placeholder(cls) -> Credentials:
        """Obviously fake PEM blocks, for checked-in examples."""

        def block(kind: str, text: str) -> str:
            body = base64.b64encode(text.encode()).decode()
            return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"

        return cls(
            ca=block("CERTIFICATE", "example cluster CA (placeholder)"),
            cert=block("CERTIFICATE", "example client certificate (placeholder)"),
            key=block("EXAMPLE KEY", "example client key (placeholder)"),
        )

    def needles(self) -> list[str]:
        """Strings that betray the credentials: each PEM, and one line of each body."""
        lines = [pem.splitlines()[1] for pem in (self.ca, self.cert, self.key)]
        return [self.ca, self.cert, self.key, *lines]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubeconfig(server: str, context: str, creds: Credentials) -> str:
    """The kubeconfig vCluster exports (embedded CA, client certificate and key)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": b64(creds.ca)},
            }
        ],
        "users": [
            {
                "name": context,
                "user": {
                    "client-certificate-data": b64(creds.cert),
                    "client-key-data": b64(creds.key),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def kubeconfig_secret(
    release: Manifest, creds: Credentials, *, config: str | None = None
) -> Manifest:
    """The ``vc-<release>`` Secret as vCluster writes it next to its release."""
    export = release["spec"]["forProvider"]["values"]["exportKubeConfig"]
    text = config if config is not None else kubeconfig(export["server"], export["context"], creds)
    return vcluster_secret(
        release["metadata"]["name"], release["metadata"]["namespace"], text, creds
    )


def vcluster_secret(name: str, namespace: str, config: str, creds: Credentials) -> Manifest:
    """The Secret vCluster ``name`` writes in ``namespace``: its kubeconfig and the PEMs."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"vc-{name}",
            "namespace": namespace,
            "labels": {"app": "vcluster", "vcluster-name": name},
        },
        "type": "Opaque",
        "data": {
            "config": b64(config),
            "certificate-authority": b64(creds.ca),
            "client-certificate": b64(creds.cert),
            "client-key": b64(creds.key),
            "token": "",
        },
    }


def deployed(release: Manifest) -> bool:
    """Whether an observed Release is Ready and deployed."""
    status = release.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
    )
    return ready and status.get("atProvider", {}).get("state") == "deployed"


def is_vcluster(release: Manifest) -> bool:
    """Whether a composed resource is a vCluster's Helm Release (it exports a kubeconfig)."""
    spec = release.get("spec", {}).get("forProvider", {})
    return (
        release.get("kind") == "Release"
        and release.get("apiVersion", "").startswith("helm.")
        and spec.get("chart", {}).get("name") == "vcluster"
        and "exportKubeConfig" in (spec.get("values") or {})
    )


def written(observed: Mapping[str, Manifest]) -> list[Manifest]:
    """The kubeconfig Secret of every deployed vCluster, with placeholder credentials."""
    creds = Credentials.placeholder()
    return [
        kubeconfig_secret(observed[key], creds)
        for key in sorted(observed)
        if is_vcluster(observed[key]) and deployed(observed[key])
    ]
