"""Kubernetes upgrades in order: the control plane, then the add-ons, then the node groups.

Each step waits for what the one before reports. The control plane gets the new
version first (``control_plane.target_version``); the add-ons move to the pins of a
version once the observed control plane is Ready and runs it (``addons.version``);
node groups move once every composed add-on runs the version it was given and is
Ready, unless ``aws.upgrade.holdNodeGroups`` keeps them at the version they run (a
maintenance window). Nothing moves back: a node group that runs a newer version than
the control plane keeps it, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forge.composers.eks.addons import Addons, settings_of, version
from forge.composers.eks.base import Eks
from forge.composers.eks.control_plane import ControlPlane, known, minor
from forge.core.readiness import is_ready
from forge.models.cluster import NodeGroup


@dataclass
class NodeVersions:
    """Why node groups keep their version this round (for ``NodeGroupsReady``)."""

    addons_behind: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def addons_behind(e: Eks, plane: ControlPlane, addons: Addons) -> list[str]:
    """Composed add-ons that do not run the version they are given yet, or are not Ready.

    Add-ons not composed yet do not hold node groups back: at creation, some of them
    wait for the nodes.
    """
    behind = []
    for name in addons.expected:
        key = f"aws-addon-{name}"
        observed = e.ctx.observed.resource(key)
        if observed is None:
            continue
        wanted = version(e, plane, name, settings_of(e, name))
        running = e.ctx.observed.get(key, "status", "atProvider", "addonVersion")
        if not is_ready("eks.aws.m.upbound.io/v1beta1", "Addon", observed) or (
            wanted and running != wanted
        ):
            behind.append(name)
    return behind


def node_version(
    e: Eks, key: str, group: NodeGroup, plane: ControlPlane, report: NodeVersions
) -> str | None:
    """The version to give node group ``group`` (composition key ``key``) this round.

    A new group joins at the version the control plane runs. An existing one keeps the
    version it was last given until the control plane runs a newer one, every add-on
    runs its new version, and it is not held.
    """
    observed = e.ctx.observed
    current = known(observed.get(key, "spec", "forProvider", "version")) or known(
        observed.get(key, "status", "atProvider", "version")
    )
    target = plane.version
    if current is None or target is None or current == target:
        return current or target
    if minor(current) > minor(target):
        index = e.spec.node_groups.index(group)
        report.problems.append(
            f"nodeGroups[{index}] ({group.name}) runs Kubernetes {current}, newer than the "
            f"control plane's {target}: it keeps {current} (a node group never moves back); "
            f"set kubernetesVersion to {current}"
        )
        return current
    if e.spec.aws.upgrade.hold_node_groups:
        report.held.append(f"{group.name} ({current})")
        return current
    if report.addons_behind:
        report.waiting.append(group.name)
        return current
    return target
