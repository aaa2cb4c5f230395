"""Register the cluster with the platform's Argo CD (step 6).

One v1 Secret, ``<name>-cluster`` in Argo CD's namespace, in the format of Argo
CD's declarative setup ("Clusters"): label ``argocd.argoproj.io/secret-type:
cluster``, data ``name``, ``server``, ``config`` (and ``project``). ``config``
carries ``tlsClientConfig`` with the CA and client certificate (vCluster), or for
EKS the CA plus ``awsAuthConfig`` (cluster name, IAM role) when Argo CD has a role,
else ``bearerToken`` (the argocd-manager ServiceAccount's token). It is the only
object the cluster's credentials are ever written to.

It is composed only once the server, the CA and the credentials are all known.
Once composed it stays, with the data it last had, if an input is briefly
missing (e.g. before Crossplane has fetched the kubeconfig Secret again). If an
input is there but cannot be used (a rotated token that is invalid, a token Secret
its Object did not write), it stays too, but the Cluster says so: ArgoCDRegistered
False with the reason, and a warning. Messages name Secrets, never their values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from crossplane.function import response

from forge.composers.access import ClusterAccess
from forge.core import environment, naming, xr_names
from forge.core.context import Context
from forge.core.observed import field
from forge.models.cluster import ARGOCD_NAMESPACE_DEFAULT, ClusterSpec
from forge.versions import GROUP

KEY = "argocd-cluster"
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
ENVIRONMENT_LABEL = environment.ENVIRONMENT_LABEL
PROVIDER_LABEL = f"{GROUP}/provider"
_DATA_KEYS = ("name", "server", "config", "project")
# Namespaces whose Secrets are not Argo CD's: the system's, Crossplane's, and every
# Cluster's platform namespace (access.namespace_for: cluster-<name>, its kubeconfig).
SYSTEM_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "crossplane-system"}
)
PLATFORM_NAMESPACE_PREFIX = xr_names.CLUSTER_NAMESPACE_PREFIX


def compose(ctx: Context, spec: ClusterSpec, access: ClusterAccess) -> str | None:
    """The Argo CD cluster Secret; return the cluster's Argo CD name once it exists."""
    namespace = _namespace(ctx)
    refused = namespace_problem(namespace)
    if refused:
        ctx.stage(
            "ArgoCDRegistered",
            False,
            "NamespaceNotAllowed",
            f"the EnvironmentConfig's argocd.namespace: {refused}",
        )
        return None
    data = _data(ctx, spec, access)
    kept = data is None and ctx.is_composed(KEY)
    if kept:
        data = _observed_data(ctx)
    if data is None:
        pending = access.argocd_pending
        if pending is not None:
            ctx.stage("ArgoCDRegistered", False, pending.reason, pending.message)
        else:
            ctx.stage(
                "ArgoCDRegistered",
                False,
                "WaitingForCredentials",
                "waiting for the cluster's server, CA and credentials",
            )
        return None
    labels = {
        **spec.argocd.labels,
        SECRET_TYPE_LABEL: "cluster",
        ENVIRONMENT_LABEL: naming.name(ctx.name),
        PROVIDER_LABEL: spec.provider,
    }
    metadata: dict[str, Any] = {
        "name": naming.name(ctx.name, "cluster"),
        "namespace": namespace,
        "labels": labels,
    }
    if spec.argocd.annotations:
        metadata["annotations"] = dict(spec.argocd.annotations)
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": data,
    }
    registered = ctx.compose(KEY, manifest)
    where = f"{metadata['namespace']}/{metadata['name']}"
    problem = access.argocd_pending
    if kept and problem is not None and problem.problem:
        message = f"{problem.message}; Secret {where} keeps the token it last had"
        response.warning(ctx.rsp, message)
        ctx.stage("ArgoCDRegistered", False, problem.reason, message)
        return ctx.name if registered else None
    ctx.stage(
        "ArgoCDRegistered",
        registered,
        "Registered" if registered else "Registering",
        "" if registered else f"waiting for Secret {where}",
    )
    return ctx.name if registered else None


def _namespace(ctx: Context) -> object:
    """Argo CD's namespace: the platform's EnvironmentConfig's ``argocd.namespace`` (the
    one the Composition selects, never one the XR names), default argocd.

    Once the Secret exists its namespace is kept: Crossplane never moves a composed
    resource, so a later EnvironmentConfig change must not make us claim another.
    """
    observed = ctx.observed.get(KEY, "metadata", "namespace")
    if isinstance(observed, str) and observed:
        return observed
    argocd = ctx.platform_environment().get("argocd")
    chosen = argocd.get("namespace") if isinstance(argocd, dict) else None
    return ARGOCD_NAMESPACE_DEFAULT if chosen is None else chosen


def namespace_problem(namespace: object) -> str:
    """Why the cluster Secret must not go into ``namespace``; empty when it may."""
    valid = xr_names.label(namespace)
    if valid is None:
        return "must be a DNS-1123 label (the namespace Argo CD runs in)"
    if valid in SYSTEM_NAMESPACES:
        return f"{valid} is a system namespace; Argo CD's cluster Secrets need one of their own"
    if valid.startswith(PLATFORM_NAMESPACE_PREFIX):
        return (
            f"{valid} is a Cluster's platform namespace (cluster-*), where its kubeconfig "
            "Secret lives; Argo CD's cluster Secrets need one of their own"
        )
    return ""


def _config(access: ClusterAccess) -> dict[str, Any] | None:
    """Argo CD's ``config``: TLS client certificate, or for EKS IAM role auth or a token."""
    if not access.ca_data:
        return None
    tls: dict[str, Any] = {"insecure": False, "caData": access.ca_data}
    if access.server_name:
        tls["serverName"] = access.server_name
    if access.aws_auth is not None:
        aws = {"clusterName": access.aws_auth.cluster_name, "roleARN": access.aws_auth.role_arn}
        return {"awsAuthConfig": aws, "tlsClientConfig": tls}
    if access.bearer_token is not None:
        return {"bearerToken": access.bearer_token.token, "tlsClientConfig": tls}
    if access.client_certificate is not None:
        tls["certData"] = access.client_certificate.cert_data
        tls["keyData"] = access.client_certificate.key_data
        return {"tlsClientConfig": tls}
    return None


def _data(ctx: Context, spec: ClusterSpec, access: ClusterAccess) -> dict[str, str] | None:
    """The Secret's data (base64), or None while an input is missing."""
    config = _config(access)
    if config is None or not access.server:
        return None
    plain = {
        "name": ctx.name,
        "server": access.server,
        "config": json.dumps(config, sort_keys=True, separators=(",", ":")),
    }
    if spec.argocd.project:
        plain["project"] = spec.argocd.project
    return {key: base64.b64encode(value.encode()).decode() for key, value in plain.items()}


def _observed_data(ctx: Context) -> dict[str, str] | None:
    """The data the existing Secret holds (copied as is, never decoded or logged)."""
    observed = ctx.observed.get(KEY, "data")
    data = {key: field(observed, key) for key in _DATA_KEYS}
    data = {key: value for key, value in data.items() if isinstance(value, str)}
    return data if {"name", "server", "config"} <= data.keys() else None
