"""EKS managed node groups: one per ``nodeGroups`` entry, in the private subnets.

Scaling: ``minSize``/``maxSize`` are enforced; the desired size is set only at
creation (``initProvider``), so the provider never fights an autoscaler. When new
bounds exclude the current desired size, it is clamped into them once (EKS
rejects bounds that exclude it), then left alone again.

Immutable properties (instance type, capacity type, AMI type, disk size, subnets)
are part of the group's name through a short hash: changing one composes a
replacement group beside the old one, and the old one is deleted (EKS drains
its nodes) only once the replacement is ready. Adding a property to the hash
later must leave the hash unchanged for its default, or every group is replaced.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from crossplane.function import resource

from forge.composers.eks.base import EKS, NODE_GROUP_MAX, Eks
from forge.composers.eks.control_plane import CLUSTER, ControlPlane
from forge.composers.eks.iam import Roles
from forge.composers.eks.network import Network
from forge.composers.eks.upgrade import NodeVersions, node_version
from forge.models.cluster import NodeGroup

_GENERATION = re.compile(r"^[0-9a-f]{8}$")
# What EKS cannot change on a node group, by its forProvider field.
IMMUTABLE = ("instanceTypes", "capacityType", "amiType", "diskSize")


@dataclass
class NodeGroups:
    """What the node groups report for the XR's conditions."""

    ready: bool = True
    waiting: bool = False
    creating: list[str] = field(default_factory=list)
    replacing: list[str] = field(default_factory=list)
    versions: NodeVersions = field(default_factory=NodeVersions)


def prefix(group: NodeGroup) -> str:
    return f"aws-nodegroup-{group.name}-"


def generation(group: NodeGroup, network: Network) -> str:
    """A hash of the properties EKS cannot change in place."""
    immutable = {**_immutable(group), "subnets": network.subnets()}
    return hashlib.sha256(json.dumps(immutable, sort_keys=True).encode()).hexdigest()[:8]


def _immutable(group: NodeGroup) -> dict[str, Any]:
    return {
        "instanceTypes": [group.instance_type],
        "capacityType": group.capacity_type,
        "amiType": group.ami_type,
        "diskSize": group.disk_size,
    }


def _clamp(size: int, group: NodeGroup) -> int:
    return max(group.min_size, min(group.max_size, size))


def _older(existing: list[str], group: NodeGroup, current: str) -> list[str]:
    """Keys of earlier generations of a group that still exist (``existing``: observed
    node-group keys, listed once per call so that many groups stay linear)."""
    start = prefix(group)
    return [
        key
        for key in existing
        if key.startswith(start) and key != current and _GENERATION.match(key[len(start) :])
    ]


def kept(e: Eks, key: str) -> dict[str, Any]:
    """A resource exactly as it exists: an earlier generation until it is replaced, or
    what the teardown gate lets go of (``teardown.hold``).

    (The one place a whole observed spec is copied: rare, and only while replacing.)
    """
    observed = e.ctx.observed
    return {
        "apiVersion": observed.get(key, "apiVersion"),
        "kind": observed.get(key, "kind"),
        "metadata": {
            "name": observed.get(key, "metadata", "name"),
            "namespace": observed.get(key, "metadata", "namespace"),
        },
        "spec": resource.struct_to_dict(observed.get(key, "spec")),
    }


def _changes(e: Eks, key: str, group: NodeGroup) -> list[str]:
    """Which immutable properties an earlier generation has different."""
    wanted = _immutable(group)
    changed = []
    for name in IMMUTABLE:
        value = e.ctx.observed.get(key, "spec", "forProvider", name)
        if name == "instanceTypes" and value is not None:
            value = [v.string_value for v in value.values]
        if value != wanted[name]:
            changed.append(name)
    return changed or ["subnets"]


def _manifest(
    e: Eks, group: NodeGroup, name: str, *, network: Network, roles: Roles, plane: ControlPlane
) -> dict[str, Any]:
    scaling: dict[str, int] = {"minSize": group.min_size, "maxSize": group.max_size}
    params: dict[str, Any] = {
        "clusterNameRef": plane.ref,
        "nodeRoleArnRef": roles.node.ref,
        **network.subnets(),
        **_immutable(group),
        "labels": dict(group.labels),
        "taint": [
            {"key": t.key, "effect": t.effect, **({"value": t.value} if t.value else {})}
            for t in group.taints
        ],
        "scalingConfig": scaling,
        "updateConfig": {"maxUnavailablePercentage": 33},
    }
    if e.spec.aws.upgrade.force:
        params["forceUpdateVersion"] = True
    return e.manifest(EKS, "NodeGroup", name, params)


def compose(
    e: Eks,
    network: Network,
    roles: Roles,
    plane: ControlPlane,
    networking_ready: bool,
    *,
    versions: NodeVersions,
) -> NodeGroups:
    """Compose every group (and keep earlier generations until their replacement is ready)."""
    report = NodeGroups(versions=versions)
    inputs = plane.ready and network.ready and roles.node.ready and networking_ready
    existing = sorted(k for k in e.ctx.req.observed.resources if k.startswith("aws-nodegroup-"))
    for group in e.spec.node_groups:
        gen = generation(group, network)
        key = f"{prefix(group)}{gen}"
        name = e.name(group.name, gen, max_len=NODE_GROUP_MAX)
        older = _older(existing, group, key)
        manifest = _manifest(e, group, name, network=network, roles=roles, plane=plane)
        version = node_version(e, key, group, plane, versions)
        if version:  # after the control plane and the add-ons (forge.composers.eks.upgrade)
            manifest["spec"]["forProvider"]["version"] = version
        ready = False
        if e.due(key, inputs):
            _size(e, group, key, older, manifest)
            ready = e.compose(key, manifest)
            e.protect(CLUSTER, plane.manifest, key, manifest)
            if not ready:
                report.creating.append(name)
        else:
            report.waiting = True
        report.ready = report.ready and ready
        if ready:
            continue
        for old in older:
            copy = kept(e, old)
            e.compose(old, copy)
            e.protect(CLUSTER, plane.manifest, old, copy)
            report.replacing.append(
                f"{group.name}: {copy['metadata']['name']} is replaced by {name} "
                f"({', '.join(_changes(e, old, group))} changed) and removed once {name} is ready"
            )
    return report


def _size(e: Eks, group: NodeGroup, key: str, older: list[str], manifest: dict[str, Any]) -> None:
    """The desired size: at creation only, unless new bounds exclude the current one."""
    current = e.ctx.observed.get(key, "status", "atProvider", "scalingConfig", "desiredSize")
    if current is not None and _clamp(current, group) != current:
        manifest["spec"]["forProvider"]["scalingConfig"]["desiredSize"] = _clamp(current, group)
    initial = _initial_size(e, group, key, older)
    manifest["spec"]["initProvider"] = {"scalingConfig": {"desiredSize": initial}}


def _initial_size(e: Eks, group: NodeGroup, key: str, older: list[str]) -> int:
    """The desired size at creation: the spec's, or the replaced group's current size.

    Once the group exists it keeps the value it was created with: the provider
    ignores later changes, so a new value would only be noise.
    """
    created = e.ctx.observed.get(key, "spec", "initProvider", "scalingConfig", "desiredSize")
    if created is not None:
        return created
    for old in older:
        size = e.ctx.observed.get(old, "status", "atProvider", "scalingConfig", "desiredSize")
        if size is not None:
            return _clamp(size, group)
    return group.desired_size if group.desired_size is not None else group.min_size
