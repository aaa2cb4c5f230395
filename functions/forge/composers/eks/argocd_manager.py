"""Argo CD without an IAM role: a ServiceAccount token, as ``argocd cluster add`` makes it.

With ``argocd.roleArn`` (spec or EnvironmentConfig) Argo CD assumes that role
(``awsAuthConfig``) and gets an access entry (``access``); nothing here is composed.
Without one, the new cluster gets what ``argocd cluster add`` creates in a cluster
(argoproj/argo-cd v3.5.1, util/clusterauth/clusterauth.go:21-40 for the names and the
rules, :255-268 for the token Secret; its namespace, kube-system, is
common/common.go:69): the ServiceAccount ``argocd-manager``, the ClusterRole
``argocd-manager-role`` (every verb on everything), the ClusterRoleBinding
``argocd-manager-role-binding`` and the Secret ``argocd-manager-long-lived-token`` of
type ``kubernetes.io/service-account-token``, whose ``token`` the new cluster's token
controller writes. Names are fixed: each lives in its own cluster's API server.

They go in through the cluster's kubernetes ProviderConfig (bootstrap's in-cluster
Objects: orphaned, held by a Usage on the EKS cluster). The token Secret waits for its
ServiceAccount: the token controller deletes a token Secret whose ServiceAccount does
not exist (kubernetes v1.34 pkg/controller/serviceaccount/tokens_controller.go:305-309).
Its Object copies ``data.token`` into the connection Secret ``<cluster>-argocd-manager``
in the Cluster's platform namespace; the function reads that Secret as a required
resource, its ``token`` key only, and writes it into the Argo CD cluster Secret alone
(``bearerToken``). It reads it only if it is that Object's own connection Secret: the
name and namespace asked for, type ``connection.crossplane.io/v1alpha1``, and the
controller reference provider-kubernetes writes (crossplane-runtime v2
``resource.LocalConnectionSecretFor``: the Object's apiVersion, kind, name and uid).
Any other Secret under that name (planted, Opaque) is never read and is reported by
name (``TokenSecretNotOwned``): provider-kubernetes adopts a connection-type Secret
without a controller, but never an Opaque one or one another controller holds
(crossplane-runtime ``ConnectionSecretMustBeControllableBy``): that one must be deleted.
A token that cannot be one (``TokenInvalid``), or a Secret not owned, after Argo CD
was registered: Argo CD keeps the token it has, and the Cluster reports it.
provider-kubernetes also copies the applied Secret into the Object's
``status.atProvider.manifest`` unless it runs with ``--sanitize-secrets``, which the
stack's runtime config and ``bootstrap/`` set (docs/apis/cluster.md, "Argo CD on EKS").
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from crossplane.function import response
from google.protobuf.struct_pb2 import ListValue, Struct

from forge.composers.access import BearerToken, ObjectConnection, Pending
from forge.composers.eks.base import Eks
from forge.core.observed import field as observed_field
from forge.core.readiness import is_ready

SYSTEM_NAMESPACE = "kube-system"
ACCOUNT = "argocd-manager"
CLUSTER_ROLE = "argocd-manager-role"
CLUSTER_ROLE_BINDING = "argocd-manager-role-binding"
TOKEN_SECRET = f"{ACCOUNT}-long-lived-token"
SA_ANNOTATION = "kubernetes.io/service-account.name"
TOKEN_TYPE = "kubernetes.io/service-account-token"

ACCOUNT_KEY = "argocd-manager-sa"
ROLE_KEY = "argocd-manager-role"
BINDING_KEY = "argocd-manager-binding"
TOKEN_KEY = "argocd-manager-token"
REQUIREMENT = "argocd-manager-token"
CONNECTION_KEY = "token"
OBJECT_API_VERSION = "kubernetes.m.crossplane.io/v1alpha1"
OBJECT_KIND = "Object"
# crossplane-runtime v2 pkg/resource/resource.go: SecretTypeConnection.
CONNECTION_SECRET_TYPE = "connection.crossplane.io/v1alpha1"
# A ServiceAccount JWT is about 1 KiB; RFC 6750's b64token characters only.
MAX_TOKEN_BYTES = 16 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass
class Manager:
    """The in-cluster objects (by composition key), their connection, and the token."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: dict[str, ObjectConnection] = field(default_factory=dict)
    token: BearerToken | None = None
    pending: Pending | None = None


def _account() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": ACCOUNT, "namespace": SYSTEM_NAMESPACE},
    }


def _cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }


def _binding() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": CLUSTER_ROLE_BINDING},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": CLUSTER_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": SYSTEM_NAMESPACE}],
    }


def _token_secret() -> dict[str, Any]:
    """No data: the token controller fills ``token``, ``ca.crt`` and ``namespace``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": SYSTEM_NAMESPACE,
            "annotations": {SA_ANNOTATION: ACCOUNT},
        },
        "type": TOKEN_TYPE,
    }


def connection_secret(e: Eks) -> str:
    """The connection Secret the token Object writes, in the Cluster's platform namespace."""
    return e.name(ACCOUNT)


def compose(e: Eks) -> Manager:
    """Nothing with a role; else the objects, and the token once it came back."""
    if e.spec.argocd.role_arn:
        return Manager()
    manager = Manager(
        objects={ACCOUNT_KEY: _account(), ROLE_KEY: _cluster_role(), BINDING_KEY: _binding()}
    )
    ctx = e.ctx
    secret = connection_secret(e)
    where = f"{e.namespace}/{secret}"
    account_exists = is_ready(OBJECT_API_VERSION, OBJECT_KIND, ctx.observed.resource(ACCOUNT_KEY))
    if not (account_exists or ctx.is_composed(TOKEN_KEY)):
        if ctx.is_composed(ACCOUNT_KEY):  # before that, Argo CD waits for the cluster itself
            manager.pending = Pending(
                "WaitingForToken",
                f"waiting for the argocd-manager ServiceAccount in {SYSTEM_NAMESPACE}, then "
                f"its token in Secret {where}",
            )
        return manager
    manager.objects[TOKEN_KEY] = _token_secret()
    manager.connections[TOKEN_KEY] = ObjectConnection(
        secret=secret, fields={CONNECTION_KEY: f"data.{CONNECTION_KEY}"}
    )
    waiting = Pending(
        "WaitingForToken",
        f"waiting for provider-kubernetes to write the argocd-manager token to Secret {where}",
    )
    if not ctx.is_composed(TOKEN_KEY):
        manager.pending = waiting
        return manager
    response.require_resources(
        ctx.rsp, REQUIREMENT, "v1", "Secret", match_name=secret, namespace=e.namespace
    )
    found = _secret(e, secret)
    if found is None:
        # Not written yet, or written before the token controller filled the token.
        manager.pending = waiting
        return manager
    if not _owned(e, found):
        manager.pending = Pending(
            "TokenSecretNotOwned",
            f"Secret {where} is not the connection Secret of Object {e.namespace}/"
            f"{e.name(TOKEN_KEY)} (type {CONNECTION_SECRET_TYPE}, controlled by that Object), "
            "so it is not read; provider-kubernetes never takes over an Opaque Secret or one "
            "another controller holds: delete such a Secret",
            problem=True,
        )
        return manager
    encoded = observed_field(found, "data", CONNECTION_KEY)
    if not isinstance(encoded, str):
        manager.pending = waiting
        return manager
    manager.token = _token(encoded)
    if manager.token is None:
        manager.pending = Pending(
            "TokenInvalid",
            f"Secret {where} key {CONNECTION_KEY!r} holds no bearer token (empty, too large, "
            "or characters a token has not)",
            problem=True,
        )
    return manager


def _secret(e: Eks, name: str) -> Struct | None:
    """The Secret Crossplane answered with, if it is the one asked for (name, namespace)."""
    required = e.ctx.req.required_resources
    if REQUIREMENT not in required:
        return None
    for item in required[REQUIREMENT].items:
        found = item.resource
        if (
            observed_field(found, "apiVersion") == "v1"
            and observed_field(found, "kind") == "Secret"
            and observed_field(found, "metadata", "name") == name
            and observed_field(found, "metadata", "namespace") == e.namespace
        ):
            return found
    return None


def _owned(e: Eks, secret: Struct) -> bool:
    """Whether the token Object wrote the Secret: its type, and its only controller
    reference naming the observed Object (apiVersion, kind, name and uid)."""
    if observed_field(secret, "type") != CONNECTION_SECRET_TYPE:
        return False
    owner = e.ctx.observed.resource(TOKEN_KEY)
    uid = observed_field(owner, "metadata", "uid") if owner is not None else None
    name = observed_field(owner, "metadata", "name") if owner is not None else None
    if not (isinstance(uid, str) and uid and isinstance(name, str) and name):
        return False
    refs = observed_field(secret, "metadata", "ownerReferences")
    if not isinstance(refs, ListValue):
        return False
    controllers = [
        ref.struct_value
        for ref in refs.values
        if ref.HasField("struct_value") and observed_field(ref.struct_value, "controller") is True
    ]
    if len(controllers) != 1:
        return False
    ref = controllers[0]
    return (
        observed_field(ref, "apiVersion") == OBJECT_API_VERSION
        and observed_field(ref, "kind") == OBJECT_KIND
        and observed_field(ref, "name") == name
        and observed_field(ref, "uid") == uid
    )


def _token(encoded: str) -> BearerToken | None:
    """The token in a Secret's base64 value; None when it cannot be one (never raises)."""
    if len(encoded) * 3 // 4 > MAX_TOKEN_BYTES:
        return None
    try:
        text = base64.b64decode(encoded, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return BearerToken(text) if _TOKEN.fullmatch(text) else None
