"""Install a chart, then the objects that need its CRDs, for a namespaced bundle XR.

Namespaced XRs may only compose namespaced resources, so cluster-scoped
configuration (ClusterIssuer, ClusterSecretStore) goes through provider-kubernetes
Objects; they wait for the chart's Release and a Usage keeps the Release (and
its CRDs) until they are gone.
"""

from __future__ import annotations

from typing import Any, TypeVar

from forge.composers import helm, objects, usage
from forge.composers.infrastructure import boundary
from forge.core import naming, tier
from forge.core.context import Context, EnvDefaults
from forge.models.base import ProviderConfigRef
from forge.models.infrastructure import ChartStatus, InfraSpec
from forge.versions import Chart

Spec = TypeVar("Spec", bound=InfraSpec)


def checked_spec(ctx: Context, model: type[Spec], env_defaults: EnvDefaults | None = None) -> Spec:
    """The XR's validated spec (``Context.spec``), checked against the platform's tenancy
    policy before anything is composed (``boundary``), its tier resolved (``tier``)."""
    parsed = ctx.spec(model, env_defaults)
    boundary.check(ctx, parsed)
    return parsed.model_copy(update={"tier": tier.resolve(ctx, parsed.tier)})


def install_chart(
    ctx: Context,
    spec: InfraSpec,
    *,
    key: str,
    chart: Chart,
    values: dict[str, Any],
    release_name: str | None = None,
    overrides: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> tuple[dict[str, Any], ChartStatus]:
    """Compose one chart's Release; return the manifest and its status entry.

    ``chart.version`` should already carry the spec's override. The user's free-form
    ``values`` merge last unless ``overrides`` says otherwise (multi-chart APIs).
    ``namespace`` installs into another namespace than ``spec.namespace``.
    """
    name = release_name or naming.helm_release(ctx.name)
    target = namespace or spec.namespace
    manifest = helm.release(
        name=name,
        namespace=str(ctx.namespace),
        chart=chart,
        target_namespace=target,
        values=values,
        overrides=spec.values if overrides is None else overrides,
        provider_config=spec.provider_config_ref,
    )
    ready = ctx.compose(key, manifest)
    return manifest, ChartStatus.of(chart, name, target, ready)


def compose_after(
    ctx: Context,
    spec: InfraSpec,
    release: dict[str, Any],
    release_ready: bool,
    manifests: dict[str, dict[str, Any]],
    *,
    derive_readiness: bool = False,
) -> list[str]:
    """Compose Objects for manifests that need the chart's CRDs; return their keys.

    They appear only once the Release is ready (or when they exist already),
    each with a Usage that holds the Release until the Object is deleted.
    ``derive_readiness`` makes an Object ready only when its object reports
    Ready (an issuer that registered, a secret store that authenticated), not
    merely when it was applied.
    """
    target = objects.Target(
        provider_config=ProviderConfigRef(
            kind=spec.provider_config_ref.kind, name=spec.provider_config_ref.name
        ),
        namespace=str(ctx.namespace),
        orphan=False,
    )
    keys: list[str] = []
    for key, manifest in manifests.items():
        if not (release_ready or ctx.is_composed(key)):
            continue
        wrapped = objects.wrap(ctx, key, manifest, target, orphan=False)
        if derive_readiness:
            wrapped["spec"]["readiness"] = {"policy": "DeriveFromObject"}
        ctx.compose(key, wrapped)
        ctx.compose(f"{key}-usage", usage.usage(of=release, by=wrapped))
        keys.append(key)
    return keys


def report(ctx: Context, charts: list[ChartStatus]) -> None:
    """The stage condition and status every bundle XR shares."""
    pending = [c.release for c in charts if not c.ready]
    ctx.stage(
        "ChartInstalled",
        not pending,
        "Deployed" if not pending else "Installing",
        f"waiting for Helm release {', '.join(pending)}" if pending else "",
    )
    status: dict[str, Any] = {"charts": [c.model_dump(by_alias=True) for c in charts]}
    if len(charts) == 1:
        status["chart"] = charts[0].model_dump(by_alias=True)
    ctx.set_status(status)


def report_configuration(
    ctx: Context, config_keys: list[str], expected: int, unneeded: str
) -> None:
    """ConfigurationReady of an API that composes objects after its chart, on every call.

    ``unneeded`` says why the stage does not apply when the spec asks for no objects.
    """
    if not expected:
        ctx.not_required("ConfigurationReady", unneeded)
        return
    configured = len(config_keys) == expected and ctx.ready(*config_keys)
    ctx.stage(
        "ConfigurationReady",
        configured,
        "Available" if configured else "WaitingForChart",
        "" if configured else "objects that need the chart's CRDs wait for its release",
    )
