"""The small object every composer works through.

It owns the request/response pair and records what the composer composed, so
that readiness, stage conditions and XR readiness are decided in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pydantic
from crossplane.function import resource, response
from google.protobuf import struct_pb2

from forge import input as step_input
from forge.core import environment, policy, structs, xr_names
from forge.core.errors import SpecError, from_validation_error
from forge.core.observed import Observed, field
from forge.core.readiness import is_ready
from forge.models.base import from_wire

Spec = TypeVar("Spec", bound=pydantic.BaseModel)
# Spec path -> environment key; or a function of (environment, spec) that chooses them.
EnvDefaults = (
    Mapping[str, str] | Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, str]]
)

NAME_ANNOTATION = "crossplane.io/composition-resource-name"
# Crossplane writes its own fields here on every XR (composition selection, resourceRefs).
CROSSPLANE_SPEC = "crossplane"


@dataclass(frozen=True)
class Stage:
    """One step of the XR's lifecycle, reported as a status condition."""

    type: str
    ready: bool
    reason: str
    message: str = ""


class Context:
    """Access to one RunFunction call: the XR, observed state, and what we compose.

    The step input is checked here, before any composer runs: a bad one raises
    ``forge.input.InputError``.
    """

    def __init__(self, req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse) -> None:
        self.req = req
        self.rsp = rsp
        self.input: step_input.Input | None = step_input.read(req)
        self.xr: struct_pb2.Struct = req.observed.composite.resource
        self.observed = Observed(req.observed)
        self.name: str = field(self.xr, "metadata", "name", default="")
        self.namespace: str | None = field(self.xr, "metadata", "namespace") or None
        self.env: Mapping[str, Any] = {}  # shared between calls: read only
        # Why no EnvironmentConfig was read, if none was: errors that blame one say so.
        self.unmatched_environment: str | None = None
        # The environment this XR belongs to (a Cluster's); None: it reads shared ones.
        self.scope: environment.Scope | None = None
        # Whether the XR named its own EnvironmentConfig; what Crossplane sent for it.
        self._xr_names_environment = False
        self._env: environment.Selection | None = None
        # The platform's tenancy policy, once a bundle XR's spec was checked against it.
        self.policy: policy.Policy | None = None
        self.stages: list[Stage] = []
        self._ready: dict[str, bool] = {}

    # Input -----------------------------------------------------------------

    def load_environment(self, ref_name: str | None) -> None:
        """Ask for the environment's EnvironmentConfigs and load what arrived.

        The XR's ``spec.environmentConfigRef.name`` wins over the step input's
        ``environmentConfig`` selector (a name or matchLabels), and is read whole; the
        step input's is read as ``scope`` reads it (``environment.selected``).
        """
        self._xr_names_environment = bool(ref_name)
        selector = self._environment_selector(ref_name)
        if selector is None:
            return
        environment.request(self.rsp, selector)
        scope = environment.EVERYTHING if ref_name else self.scope
        found = environment.selected(self.req, scope=scope)
        if found is None:  # Crossplane answers the requirement on its next call
            return
        environment.report(self.rsp, selector, found)
        self.env = found.data
        self.unmatched_environment = (
            None if found.names else environment.why_none_read(selector, found)
        )
        self._env = found

    def platform_selection(self) -> environment.Selection | None:
        """The EnvironmentConfigs the Composition selects, as ``scope`` reads them: the
        platform's, whatever the XR's ``spec.environmentConfigRef`` names, for what only
        the platform chooses (tenancy, Argo CD's namespace). Without a reference it is the
        selection ``env`` came from; with one, it is asked for under its own requirement.
        None until Crossplane has answered."""
        selector = self._composition_selector()
        if selector is None:
            return environment.NONE_SELECTED
        if not self._xr_names_environment:
            return self._env
        environment.request(self.rsp, selector, environment.PLATFORM_REQUIREMENT)
        return environment.selected(self.req, environment.PLATFORM_REQUIREMENT, self.scope)

    def platform_environment(self) -> Mapping[str, Any]:
        """The data of ``platform_selection``; empty until Crossplane answers, as ``env``."""
        found = self.platform_selection()
        return found.data if found is not None else {}

    def _environment_selector(self, ref_name: str | None) -> environment.Selector | None:
        if ref_name:
            return environment.Selector(ref_name, None, "spec.environmentConfigRef.name")
        return self._composition_selector()

    def _composition_selector(self) -> environment.Selector | None:
        """The step input's ``environmentConfig`` (a name or matchLabels): the platform's."""
        if self.input is None:
            return None
        return self.input.environment_config.selector()

    def environment_note(self, error: str) -> str:
        """What to add to an error that speaks of the EnvironmentConfig when none was read.

        Otherwise it would blame an EnvironmentConfig the user supplied but the
        selector never picked.
        """
        if self.unmatched_environment is None or "EnvironmentConfig" not in error:
            return ""
        return f"; no EnvironmentConfig was read: {self.unmatched_environment}"

    def spec(self, model: type[Spec], env_defaults: EnvDefaults | None = None) -> Spec:
        """Validate the XR's spec, environment defaults merged underneath it.

        ``env_defaults`` maps spec paths to environment keys; the XR wins. A callable
        chooses that mapping from the environment and the spec (defaults that depend
        on what the spec already says).
        ``spec.crossplane`` is Crossplane's, whatever it holds: it is left out unread.
        No spec is an empty one: the XRD->CRD conversion drops ``default: {}`` on spec.
        """
        raw = field(self.xr, "spec")
        if raw is not None and not isinstance(raw, struct_pb2.Struct):
            raise SpecError("spec", "must be an object")
        spec = resource.struct_to_dict(raw) if raw is not None else {}
        spec.pop(CROSSPLANE_SPEC, None)
        ref = spec.get("environmentConfigRef")
        ref_name = ref.get("name") if isinstance(ref, dict) else None
        # Only a valid name selects (and is quoted in results); the model reports any other.
        self.load_environment(xr_names.subdomain(ref_name))
        mapping = env_defaults(self.env, spec) if callable(env_defaults) else env_defaults
        if mapping:
            spec = environment.deep_merge(environment.defaults_from(self.env, mapping), spec)
        try:
            return model.model_validate(from_wire(spec))
        except pydantic.ValidationError as exc:
            raise from_validation_error(exc) from None

    # Output ----------------------------------------------------------------

    def compose(self, key: str, manifest: dict[str, Any]) -> bool:
        """Add a composed resource to desired state; return whether it is ready."""
        target = self.rsp.desired.resources[key]
        target.resource.Clear()
        structs.fill(target.resource, manifest)
        ready = is_ready(manifest["apiVersion"], manifest["kind"], self.observed.resource(key))
        target.ready = fnv1.READY_TRUE if ready else fnv1.READY_FALSE
        self._ready[key] = ready
        return ready

    def is_composed(self, key: str) -> bool:
        """Whether the resource exists already, so it must stay composed."""
        return key in self.observed

    def ready(self, *keys: str) -> bool:
        """Whether every named resource was composed in this call and is ready."""
        return all(self._ready.get(key, False) for key in keys)

    def unready(self) -> list[str]:
        """The composed resources that are not ready yet, sorted."""
        return sorted(key for key, ready in self._ready.items() if not ready)

    def set_status(self, fragment: Mapping[str, Any]) -> None:
        """Merge fields into the XR's desired status."""
        status = self.rsp.desired.composite.resource.get_or_create_struct("status")
        status.update(dict(fragment))

    def stage(self, type_: str, ready: bool, reason: str, message: str = "") -> bool:
        """Record a lifecycle stage; it becomes an XR status condition."""
        self.stages.append(Stage(type_, ready, reason, message))
        return ready

    def condition(self, type_: str, ok: bool, reason: str, message: str = "") -> None:
        """An informational XR status condition: written on every call, never gating
        the XR's readiness (what a stage does)."""
        response.set_conditions(
            self.rsp,
            resource.Condition(
                typ=type_,
                status="True" if ok else "False",
                reason=reason,
                message=message or None,
            ),
        )

    def not_required(self, type_: str, message: str) -> None:
        """Record a stage that does not apply to this spec, as done.

        Crossplane never removes a condition, only sets it: a stage left out
        would keep whatever it last said, so it is written on every call.
        """
        self.stage(type_, True, "NotRequired", message)

    def finish(self) -> None:
        """Write stage conditions and decide the XR's readiness.

        The XR is ready only when every stage is done and every composed
        resource is ready: a stage that has not composed its resources yet
        must not let the XR look ready early.
        """
        for stage in self.stages:
            response.set_conditions(
                self.rsp,
                resource.Condition(
                    typ=stage.type,
                    status="True" if stage.ready else "False",
                    reason=stage.reason,
                    message=stage.message or None,
                ),
            )
        done = all(s.ready for s in self.stages) and not self.unready()
        self.rsp.desired.composite.ready = fnv1.READY_TRUE if done else fnv1.READY_FALSE
