"""Play provider-kubernetes and provider-helm for the infrastructure bundle.

The status cert-manager and External Secrets write on the objects our Objects apply (and
a load balancer controller on the Services they observe): an
Object with ``readiness.policy: DeriveFromObject`` is Ready because its object is, and
provider-kubernetes copies that object, status included, to ``status.atProvider.manifest``.
And what provider-helm reports on a deployed Release, and the Gateway API CRDs a
deployed release of our gateway-api-crds chart installs (a required resource of Istio).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from forge import versions
from forge_dev.simulate.hooks import Hooks
from forge_dev.simulate.vcluster import deployed

_TIME = "2026-01-01T00:00:00Z"


def _ready(reason: str, message: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": _TIME,
        "observedGeneration": 1,
    }


def _issuer(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if "acme" in spec:
        return {
            "acme": {
                "uri": "https://acme-v02.api.letsencrypt.org/acme/acct/123456789",
                "lastRegisteredEmail": spec["acme"].get("email", ""),
                "lastPrivateKeyHash": "kPzkPpHbJ3uuK5GmzYTyp4HP4C2yDWaI1sk6nAs2kj0=",
            },
            "conditions": [_ready("ACMEAccountRegistered", "The ACME account was registered")],
        }
    if "ca" in spec:
        return {"conditions": [_ready("KeyPairVerified", "Signing CA verified")]}
    return {"conditions": [_ready("IsReady", "")]}


def _certificate(_obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "conditions": [_ready("Ready", "Certificate is up to date and has not expired")],
        "notBefore": _TIME,
        "notAfter": "2036-01-01T00:00:00Z",
        "renewalTime": "2032-08-31T00:00:00Z",
        "revision": 1,
    }


def _store(_obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "capabilities": "ReadWrite",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Valid",
                "message": "store validated",
                "lastTransitionTime": _TIME,
            }
        ],
    }


def load_balancer(obj: dict[str, Any]) -> dict[str, Any]:
    """A LoadBalancer Service once its load balancer is provisioned (the NLB's DNS name)."""
    meta = obj["metadata"]
    name = f"{meta['namespace']}-{meta['name']}"[:32]
    return {"loadBalancer": {"ingress": [{"hostname": f"{name}-0a1b2c3d4e.elb.amazonaws.com"}]}}


_INNER = {
    ("v1", "Service"): load_balancer,
    ("cert-manager.io/v1", "ClusterIssuer"): _issuer,
    ("cert-manager.io/v1", "Certificate"): _certificate,
    ("external-secrets.io/v1", "ClusterSecretStore"): _store,
}


def _object(_key: str, manifest: dict[str, Any]) -> dict[str, Any]:
    status = manifest.get("status", {})
    inner = copy.deepcopy(status.get("atProvider", {}).get("manifest", {}))
    hook = _INNER.get((inner.get("apiVersion"), inner.get("kind")))
    if hook is None:
        return {}
    inner["status"] = hook(inner)
    return {"atProvider": {**status.get("atProvider", {}), "manifest": inner}}


def _release(_key: str, manifest: dict[str, Any]) -> dict[str, Any]:
    chart = manifest["spec"]["forProvider"]["chart"]
    return {
        "atProvider": {
            "releaseDescription": "Install complete",
            "revision": 1,
            "state": "deployed",
            "version": chart["version"],
        }
    }


STATUS: Hooks = {
    ("kubernetes.m.crossplane.io/v1alpha1", "Object"): _object,
    ("helm.m.crossplane.io/v1beta1", "Release"): _release,
}


def written(observed: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``gateways`` CRD of each deployed Release of our gateway-api-crds charts, with
    the metadata the function reads: release, channel and Helm's ownership annotations."""
    channels = {(c.name, c.repository): ch for ch, c in versions.GATEWAY_API_CRDS.items()}
    crds = []
    for key in sorted(observed):
        release = observed[key]
        spec = release.get("spec", {}).get("forProvider", {})
        chart = spec.get("chart", {})
        channel = channels.get((chart.get("name"), chart.get("repository")))
        if release.get("kind") != "Release" or channel is None or not deployed(release):
            continue
        annotations = {
            "gateway.networking.k8s.io/bundle-version": versions.GATEWAY_API_VERSION,
            "gateway.networking.k8s.io/channel": channel,
            "meta.helm.sh/release-name": release["metadata"]["name"],
            "meta.helm.sh/release-namespace": spec.get("namespace", "default"),
        }
        crds.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": "gateways.gateway.networking.k8s.io",
                    "annotations": annotations,
                },
            }
        )
    return crds
