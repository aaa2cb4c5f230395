"""The vCluster Cluster tests' shared XR, environment and readers of a render."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

from forge_dev.simulate.converge import converge
from forge_dev.simulate.vcluster_stages import Credentials, required_fn

ROOT = Path(__file__).resolve().parents[2]


XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "dev"},
    "spec": {"provider": "vcluster"},
}


NAMESPACE = "cluster-dev"


SERVER = "https://dev.cluster-dev.svc"


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def converged(xr: dict, creds: Credentials, check=None):
    return converge(xr, required=required_fn(creds), check=check)
