"""The new cluster's default StorageClass: gp3 volumes from the EBS CSI driver.

EKS marks no StorageClass default since Kubernetes 1.30 (gp2 lost its annotation),
so a PersistentVolumeClaim without a class (Prometheus, Alertmanager...) would stay
Pending. The class is applied inside the new cluster, through its kubernetes
ProviderConfig (see ``bootstrap``), once the driver that provisions it runs.
"""

from __future__ import annotations

from typing import Any

from forge.composers.eks.addons import EBS_CSI, Addons
from forge.composers.eks.base import Eks

STORAGE_CLASS = "storageclass-gp3"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def default_storage_class() -> dict[str, Any]:
    """gp3, encrypted, bound where the pod lands (EBS volumes live in one zone), growable."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "gp3", "annotations": {DEFAULT_CLASS: "true"}},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def compose(e: Eks, addons: Addons) -> dict[str, dict[str, Any]]:
    """The in-cluster objects for ``ClusterAccess.cluster_objects``, by composition key."""
    if not e.spec.aws.addons.ebs_csi_driver.enabled:
        return {}
    if not e.due(STORAGE_CLASS, addons.ready.get(EBS_CSI, False)):
        return {}
    return {STORAGE_CLASS: default_storage_class()}
