"""The ManagedResourceActivationPolicy: only the managed resource kinds we compose are active.

Crossplane v2 installs a provider's managed resource kinds as ManagedResourceDefinitions;
those of a provider with the safe-start capability stay inactive (no CRD served, no
controller) until a policy (``apiextensions.crossplane.io/v1alpha1``, ``spec.activate``:
MRD names, i.e. ``<plural>.<group>``, or ``*.<group>`` prefixes) activates them. The AWS
families define hundreds of kinds; the API server pays for every one that is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

POLICY_NAME = "forge"
# Every managed resource kind our compositions compose, or apply through a
# provider-kubernetes Object, as its MRD name. tests/tooling/test_activation.py holds this
# equal to what the goldens compose.
COMPOSED = (
    "groups.cloudwatchlogs.aws.m.upbound.io",
    "eips.ec2.aws.m.upbound.io",
    "internetgateways.ec2.aws.m.upbound.io",
    "natgateways.ec2.aws.m.upbound.io",
    "routes.ec2.aws.m.upbound.io",
    "routetableassociations.ec2.aws.m.upbound.io",
    "routetables.ec2.aws.m.upbound.io",
    "subnets.ec2.aws.m.upbound.io",
    "vpcs.ec2.aws.m.upbound.io",
    "accessentries.eks.aws.m.upbound.io",
    "accesspolicyassociations.eks.aws.m.upbound.io",
    "addons.eks.aws.m.upbound.io",
    "clusterauths.eks.aws.m.upbound.io",
    "clusters.eks.aws.m.upbound.io",
    "nodegroups.eks.aws.m.upbound.io",
    "podidentityassociations.eks.aws.m.upbound.io",
    "rolepolicyattachments.iam.aws.m.upbound.io",
    "roles.iam.aws.m.upbound.io",
    "releases.helm.m.crossplane.io",
    "objects.kubernetes.m.crossplane.io",
)


def policy(more: Sequence[str] = ()) -> dict[str, Any]:
    """The policy activating the kinds we compose and ``more`` (the stack's ``activate``)."""
    return {
        "apiVersion": "apiextensions.crossplane.io/v1alpha1",
        "kind": "ManagedResourceActivationPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {"activate": [*COMPOSED, *(a for a in more if a not in COMPOSED)]},
    }
