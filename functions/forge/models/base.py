"""Conventions shared by every spec model.

Fields are snake_case in Python and camelCase on the wire; unknown fields are
rejected so that a typo is an error naming the field, not a silent no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from forge.core.errors import FieldError

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL, min_length=1, max_length=63)]
Values = Annotated[
    dict[str, Any],
    Field(
        default_factory=dict,
        description="Helm values merged last, over everything this API derives.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    ),
]

# The environment's tier (forge.core.tier): production raises the defaults to highly
# available ones. An XR may raise it, never lower it; left out, the environment's applies.
TierField = Annotated[
    Literal["production", "development"] | None,
    Field(
        default=None,
        description=(
            "production: at least two replicas with a PodDisruptionBudget for every controller "
            "and webhook (docs/environmentconfig.md#tier). Default: the EnvironmentConfig's "
            "tier, else development; may raise it, never lower it."
        ),
    ),
]


def cel_rules(*pairs: tuple[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules (rule, message) into the generated XRD."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in pairs]}


def immutable(why: str) -> dict[str, Any]:
    """``json_schema_extra`` of a field a composed name comes from: the API server keeps
    it as first set, as Crossplane keeps a composed resource's first name and namespace."""
    return cel_rules(("self == oldSelf", f"is immutable: {why}"))


def reject_duplicates(values: Iterable[str], path: str, what: str) -> None:
    """Blame the first repeated value: ``path`` is a template such as ``"nodeGroups[{}].name"``.

    The message points at the first occurrence, never quotes the value (it may be secret).
    """
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            first = path.format(seen[value])
            raise FieldError(path.format(index), f"duplicate {what} (the same as {first})")
        seen[value] = index


def from_wire(value: Any) -> Any:
    """Spec data as the models take it: integral numbers as ints.

    A protobuf Struct carries every number as a double, so ``minSize: 3`` arrives as
    3.0. Models are strict (``"1"`` and ``true`` are not integers), so whole numbers
    become ints here; any other float stays one and is refused where an int is due.
    """
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is dict:
        return {key: from_wire(item) for key, item in value.items()}
    if type(value) is list:
        return [from_wire(item) for item in value]
    return value


class Model(BaseModel):
    """Base of every spec model: strict types (no "1" for 1, no true for 1)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


class LocalSecretKeyRef(Model):
    """A key of a Secret in a known namespace (never the secret value itself)."""

    name: DnsLabel
    namespace: DnsLabel | None = Field(
        default=None, description="Defaults to the namespace the consumer runs in."
    )
    key: str = Field(min_length=1, description="Key within the Secret.")


class EnvironmentConfigRef(Model):
    """Which EnvironmentConfig supplies this XR's defaults (wins over the Composition's)."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)


class ProviderConfigRef(Model):
    """A provider-helm/provider-kubernetes ProviderConfig to use."""

    kind: str = Field(default="ClusterProviderConfig", pattern=r"^(Cluster)?ProviderConfig$")
    name: DnsLabel = "default"
