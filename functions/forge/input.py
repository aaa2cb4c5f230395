"""The step input: what a Composition's pipeline step gives the function.

    input:
      apiVersion: input.forge.projectcatalyst.io/v1alpha1
      kind: Input
      environmentConfig:           # which EnvironmentConfigs supply the spec's defaults
        matchLabels:               # every one carrying these labels, merged in name order
          forge.projectcatalyst.io/defaults: "true"
        # name: platform-defaults  # or exactly one, by name (wins over matchLabels)

The model is the single source of truth: ``forge_dev.generate`` writes its CRD into
the Function package (``package/function/input/``), as the Go functions ship their
``input/v1beta1`` CRDs. The function checks the input before any composer runs; a
bad one is a fatal result naming the field (``input.environmentConfig.name: ...``).
A step without input selects no EnvironmentConfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pydantic
from crossplane.function import resource
from pydantic import AfterValidator, Field, field_validator

from forge import versions
from forge.core import xr_names
from forge.core.environment import Selector
from forge.core.errors import from_validation_error
from forge.models.base import DNS_SUBDOMAIN, Model

GROUP = f"input.{versions.GROUP}"
# The input's own version: it changes only when the input does, not with the XRDs'.
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Input"
PLURAL = "inputs"
# Where a message says a field is: the step's ``input`` in the Composition.
PREFIX = "input"
NAME_RULE = "must be a Kubernetes object name (lowercase letters, digits, '-' and '.')"


class InputError(ValueError):
    """A bad step input: every problem with its field path (``input.kind: must be Input``).

    ``path`` and ``reason`` are the first problem's. Like a spec error, it never quotes a value.
    """

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        super().__init__("; ".join(f"{p}: {r}" for p, r in problems))
        self.problems = problems
        self.path, self.reason = problems[0]


def _object_name(value: str) -> str:
    if xr_names.subdomain(value) is None:
        raise ValueError(NAME_RULE)
    return value


ObjectName = Annotated[
    str,
    AfterValidator(_object_name),
    Field(json_schema_extra={"pattern": DNS_SUBDOMAIN, "minLength": 1, "maxLength": 253}),
]


class EnvironmentConfigSelector(Model):
    """Which EnvironmentConfigs supply defaults for the XR's spec.

    The XR's own spec.environmentConfigRef.name wins over this selector. Neither name
    nor matchLabels: no EnvironmentConfig is read.
    """

    name: ObjectName | None = Field(
        default=None,
        description="Select exactly one EnvironmentConfig by name (wins over matchLabels).",
    )
    match_labels: dict[str, str] | None = Field(
        default=None,
        description="Select every EnvironmentConfig carrying all of these labels; their data "
        "merge in name order, the later winning.",
    )

    def selector(self) -> Selector | None:
        """The selection this asks for, named after the field that chose it; None: none."""
        if self.name:
            return Selector(self.name, None, "the Composition's environmentConfig.name")
        if self.match_labels:
            return Selector(
                None, dict(self.match_labels), "the Composition's environmentConfig.matchLabels"
            )
        return None


class Input(Model):
    """The input of the function-forge step of a Composition's pipeline."""

    api_version: str = Field(
        description="APIVersion defines the versioned schema of this representation of an "
        f"object. It must be {API_VERSION}.",
    )
    kind: str = Field(
        description=f"Kind is a string value representing the REST resource this object "
        f"represents. It must be {KIND}.",
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Standard object metadata; the function does not read it."
    )
    environment_config: EnvironmentConfigSelector = Field(
        default_factory=EnvironmentConfigSelector,
        description="Which EnvironmentConfigs supply defaults for the XR's spec.",
    )

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if value != API_VERSION:
            raise ValueError(f"must be {API_VERSION}")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value != KIND:
            raise ValueError(f"must be {KIND}")
        return value

    @field_validator("environment_config", mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        if not isinstance(value, Mapping | EnvironmentConfigSelector):
            raise ValueError("must be an object")
        return value


def parse(given: Any) -> Input:
    """The step input, checked; InputError names every bad field."""
    if not isinstance(given, Mapping):
        raise InputError(((PREFIX, "must be an object"),))
    try:
        return Input.model_validate(dict(given))
    except pydantic.ValidationError as exc:
        error = from_validation_error(exc, prefix=PREFIX)
        raise InputError(error.problems) from None


def read(req: fnv1.RunFunctionRequest) -> Input | None:
    """The request's step input, checked; None when the step gives none."""
    if not req.HasField("input"):
        return None
    return parse(resource.struct_to_dict(req.input))
