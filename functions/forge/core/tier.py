"""The environment's tier: ``production`` gets highly available defaults, ``development``
(the default) stays small.

The ``tier`` key of the EnvironmentConfig says which. It is read from the EnvironmentConfigs
the Composition selects (the platform's) and from the one an XR names, and ``production``
in either wins. An XR's ``spec.tier`` may raise the tier (production in a development
environment), never lower it: a tenant cannot undo what the platform chose
(docs/environmentconfig.md, decision 0027).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from forge.core.context import Context
from forge.core.errors import PendingRequirementError, SpecError

KEY = "tier"
PATH = "spec.tier"
PRODUCTION = "production"
DEVELOPMENT = "development"
Tier = Literal["production", "development"]
# A highly available component runs this many replicas (one is down, one serves).
REPLICAS = 2
ZONE = "topology.kubernetes.io/zone"


def resolve(ctx: Context, requested: str | None) -> Tier:
    """The tier an XR runs at: its environment's, or ``requested`` when that is higher.

    PendingRequirementError until the platform's EnvironmentConfigs arrive (the tier is
    never judged without them); fatal on ``spec.tier`` when the XR would lower it.
    """
    platform = ctx.platform_selection()
    if platform is None:
        raise PendingRequirementError
    environment = PRODUCTION if PRODUCTION in (_of(ctx.env), _of(platform.data)) else DEVELOPMENT
    if requested == DEVELOPMENT and environment == PRODUCTION:
        raise SpecError(
            PATH,
            "cannot be development: the EnvironmentConfig's tier is production, and an XR "
            "may raise the tier, never lower it",
        )
    return PRODUCTION if PRODUCTION in (requested, environment) else DEVELOPMENT


def _of(data: Mapping[str, Any]) -> Tier:
    value = data.get(KEY, DEVELOPMENT)
    if value not in (PRODUCTION, DEVELOPMENT):
        raise SpecError(
            PATH, f"the EnvironmentConfig's {KEY} must be {PRODUCTION} or {DEVELOPMENT}"
        )
    return value


def replicas(tier: str | None, chosen: int | None = None) -> int:
    """``chosen`` when set, else two in production and one in development."""
    if chosen is not None:
        return chosen
    return REPLICAS if tier == PRODUCTION else 1


def zone_spread(match_labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """A topology spread constraint that prefers one replica per zone.

    ``ScheduleAnyway``: a cluster with one zone (a vCluster's host, a test cluster) still
    schedules every replica. Without ``match_labels`` the chart fills the selector in.
    """
    constraint: dict[str, Any] = {"maxSkew": 1, "topologyKey": ZONE}
    constraint["whenUnsatisfiable"] = "ScheduleAnyway"
    if match_labels:
        constraint["labelSelector"] = {"matchLabels": dict(match_labels)}
    return [constraint]
