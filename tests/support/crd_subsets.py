"""Hand-written schemas for the third-party kinds we apply through Objects.

No CRD is pinned for cert-manager's ``ClusterIssuer``/``Certificate`` (``cert-manager.io/v1``)
or External Secrets' ``ClusterSecretStore`` (``external-secrets.io/v1``), so these
structural schemas cover just the fields our composers emit, with the upstream field
names, types, enums and required fields (checked against the CRDs of cert-manager
v1.21.1 and external-secrets helm-chart-2.9.0). Any other field is unknown, so a typo
fails schema validation like it would against the real CRD.

Use as a pytest plugin (``pytest_plugins = [..., "tests.support.crd_subsets"]``): every
test that uses ``schema_store`` or ``assert_schema_valid`` then knows these kinds.
"""

from __future__ import annotations

from typing import Any

import pytest

from forge_dev.schemas.store import SchemaStore

SOURCE = "tests/support/crd_subsets.py (hand-written subset)"


def _obj(required: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


def _str(*enum: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(enum)} if enum else {"type": "string"}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_LOCAL_SECRET_KEY = _obj(("name",), name=_str(), key=_str())
_SECRET_KEY = _obj(name=_str(), namespace=_str(), key=_str())

_ACME = _obj(
    ("privateKeySecretRef", "server"),
    server=_str(),
    email=_str(),
    privateKeySecretRef=_LOCAL_SECRET_KEY,
    solvers=_list(
        _obj(
            selector=_obj(dnsZones=_list(_str())),
            http01=_obj(
                gatewayHTTPRoute=_obj(
                    parentRefs=_list(
                        _obj(
                            ("name",),
                            group=_str(),
                            kind=_str(),
                            name=_str(),
                            namespace=_str(),
                            port=_INT,
                            sectionName=_str(),
                        )
                    )
                )
            ),
            dns01=_obj(
                route53=_obj(region=_str(), hostedZoneID=_str(), role=_str()),
                cloudflare=_obj(apiTokenSecretRef=_LOCAL_SECRET_KEY),
            ),
        )
    ),
)

CLUSTER_ISSUER = _obj(
    ("spec",),
    spec=_obj(
        acme=_ACME,
        ca=_obj(("secretName",), secretName=_str()),
        selfSigned=_obj(crlDistributionPoints=_list(_str())),
    ),
)

CERTIFICATE = _obj(
    spec=_obj(
        ("issuerRef", "secretName"),
        isCA=_BOOL,
        commonName=_str(),
        secretName=_str(),
        duration=_str(),
        privateKey=_obj(
            algorithm=_str("RSA", "ECDSA", "Ed25519"),
            size=_INT,
            rotationPolicy=_str("Never", "Always"),
        ),
        issuerRef=_obj(("name",), group=_str(), kind=_str(), name=_str()),
    )
)

_VAULT = _obj(
    ("server",),
    server=_str(),
    path=_str(),
    version=_str("v1", "v2"),
    namespace=_str(),
    caProvider=_obj(
        ("name", "type"),
        type=_str("Secret", "ConfigMap"),
        name=_str(),
        namespace=_str(),
        key=_str(),
    ),
    auth=_obj(
        kubernetes=_obj(("mountPath", "role"), mountPath=_str(), role=_str()),
        tokenSecretRef=_SECRET_KEY,
        appRole=_obj(("path", "secretRef"), path=_str(), roleId=_str(), secretRef=_SECRET_KEY),
    ),
)

_AWS = _obj(
    ("region", "service"),
    service=_str("SecretsManager", "ParameterStore", "CertificateManager"),
    region=_str(),
    role=_str(),
    auth=_obj(
        jwt=_obj(
            serviceAccountRef=_obj(
                ("name",), name=_str(), namespace=_str(), audiences=_list(_str())
            )
        )
    ),
)

CLUSTER_SECRET_STORE = _obj(
    spec=_obj(("provider",), provider=_obj(aws=_AWS, vault=_VAULT)),
)


def _crd(group: str, kind: str, plural: str, scope: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "scope": scope,
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


CRDS = [
    _crd("cert-manager.io", "ClusterIssuer", "clusterissuers", "Cluster", CLUSTER_ISSUER),
    _crd("cert-manager.io", "Certificate", "certificates", "Namespaced", CERTIFICATE),
    _crd(
        "external-secrets.io",
        "ClusterSecretStore",
        "clustersecretstores",
        "Cluster",
        CLUSTER_SECRET_STORE,
    ),
]


def register(store: SchemaStore) -> None:
    """Teach ``store`` these kinds (idempotent)."""
    for crd in CRDS:
        store.add_crd(crd, source=SOURCE)


@pytest.fixture(autouse=True)
def _crd_subsets(request: pytest.FixtureRequest) -> None:
    """Register the subsets for every test that validates schemas."""
    if {"schema_store", "assert_schema_valid"} & set(request.fixturenames):
        register(request.getfixturevalue("schema_store"))
