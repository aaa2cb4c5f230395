"""Play vCluster for the Cluster tests: real certificates and the ``vc-<name>`` Secret.

Once its Helm release is deployed, a vCluster writes a kubeconfig Secret into
its namespace (``config``, plus the CA and client certificate as separate keys)
whose certificates are signed by the cluster's own CA. ``Credentials`` makes a
fresh CA and client certificate (with ``cryptography``) so a test can follow
those exact bytes and check that they land only in the Argo CD cluster Secret.

    python -m tests.support.vcluster examples/cluster-vcluster

rewrites the example's observed stages from the provider simulator, with
placeholder credentials (no real private key is checked in).
"""

from __future__ import annotations

import argparse
import base64
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.providers import observe
from tests.support.request import Observed, build, render

REQUIREMENT = "vcluster-kubeconfig"


@dataclass(frozen=True)
class Credentials:
    """PEM text of a cluster CA and of a client certificate and key it signed."""

    ca: str
    cert: str
    key: str

    @classmethod
    def generate(cls, cluster: str) -> Credentials:
        """A new CA and an admin client certificate, like vCluster's own."""
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
    release: dict[str, Any], creds: Credentials, *, config: str | None = None
) -> dict[str, Any]:
    """The ``vc-<release>`` Secret as vCluster writes it next to its release."""
    name = release["metadata"]["name"]
    namespace = release["metadata"]["namespace"]
    export = release["spec"]["forProvider"]["values"]["exportKubeConfig"]
    text = config if config is not None else kubeconfig(export["server"], export["context"], creds)
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
            "config": b64(text),
            "certificate-authority": b64(creds.ca),
            "client-certificate": b64(creds.cert),
            "client-key": b64(creds.key),
            "token": "",
        },
    }


def deployed(observed: dict[str, Observed], key: str) -> bool:
    """Whether an observed Release is Ready and deployed."""
    if key not in observed:
        return False
    status = observed[key].manifest.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
    )
    return ready and status.get("atProvider", {}).get("state") == "deployed"


def required_fn(creds: Credentials, release_key: str = "vcluster"):
    """``lifecycle.converge``'s ``required``: the Secret exists once the vCluster runs."""

    def required(observed: dict[str, Observed]) -> dict[str, list[dict[str, Any]]]:
        if not deployed(observed, release_key):
            return {}
        return {REQUIREMENT: [kubeconfig_secret(observed[release_key].manifest, creds)]}

    return required


def _dump(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def write_example_stages(example: Path, names: list[str]) -> None:
    """Render round by round from nothing; keep the rounds that start the named stages.

    Stage ``n`` starts at the first round whose input has the resources of that
    moment: 01 nothing, 02 the vCluster deployed, 03 Crossplane deployed, 04 all.
    """
    xr = yaml.safe_load((example / "xr.yaml").read_text())
    creds = Credentials.placeholder()
    required = required_fn(creds)
    moments = [
        lambda obs: not obs,
        lambda obs: deployed(obs, "vcluster") and "crossplane" not in obs,
        lambda obs: deployed(obs, "crossplane") and not any(k.startswith("stack-") for k in obs),
        lambda obs: False,
    ]
    observed: dict[str, Observed] = {}
    rounds: list[tuple[dict[str, Observed], bool]] = []
    for _ in range(12):
        out = render(build(xr, observed=observed, required=required(observed)))
        rounds.append((observed, out.composite_ready))
        if out.composite_ready:
            break
        observed = {key: observe(key, manifest) for key, manifest in out.resources.items()}
    for index, name in enumerate(names):
        if index == len(names) - 1:
            chosen = next(obs for obs, ready in rounds if ready)
        else:
            chosen = next(obs for obs, _ in rounds if moments[index](obs))
        stage = example / "stages" / f"{index + 1:02d}-{name}"
        stage.mkdir(parents=True, exist_ok=True)
        if chosen:
            _dump(stage / "observed.yaml", [chosen[k].manifest for k in sorted(chosen)])
        needed = required(chosen).get(REQUIREMENT, [])
        if needed:
            _dump(stage / "required.yaml", needed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("example", type=Path)
    parser.add_argument(
        "names", nargs="*", default=["created", "vcluster-up", "crossplane-up", "ready"]
    )
    args = parser.parse_args()
    write_example_stages(args.example, args.names)


if __name__ == "__main__":
    main()
