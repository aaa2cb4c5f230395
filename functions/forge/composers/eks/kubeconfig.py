"""The kubeconfig Secret: a ClusterAuth writes it, and keeps its token fresh.

EKS issues no long-lived credentials: the ClusterAuth mints a short-lived token
for the platform's AWS identity (the cluster's creator, an admin) and rewrites
the Secret before it expires. The Helm and Kubernetes ProviderConfigs read the
Secret; nothing copies the token anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge.composers.access import SecretKey
from forge.composers.eks.base import EKS, Eks
from forge.composers.eks.control_plane import ControlPlane

AUTH = "aws-clusterauth"
KUBECONFIG_KEY = "kubeconfig"


@dataclass
class Kubeconfig:
    """The kubeconfig Secret: where it is, and whether the ClusterAuth has written it."""

    secret: SecretKey
    composed: bool = False
    written: bool = False


def compose(e: Eks, plane: ControlPlane) -> Kubeconfig:
    """Compose the ClusterAuth once the cluster is up.

    It turns Ready in the reconcile that writes the Secret, so Ready means written.
    """
    kubeconfig = Kubeconfig(
        secret=SecretKey(name=e.name(KUBECONFIG_KEY), namespace=e.namespace, key=KUBECONFIG_KEY)
    )
    if not e.due(AUTH, plane.ready):
        return kubeconfig
    manifest = e.manifest(
        EKS,
        "ClusterAuth",
        e.name("auth"),
        {"clusterNameRef": plane.ref},
        writeConnectionSecretToRef={"name": kubeconfig.secret.name},
    )
    kubeconfig.composed = True
    kubeconfig.written = e.compose(AUTH, manifest)
    return kubeconfig
