"""PlatformCluster: install the self-management stack into the platform cluster."""

from __future__ import annotations

from forge.composers import objects, stack
from forge.core.context import Context
from forge.models.platformcluster import ENV_DEFAULTS, PlatformClusterSpec

# Applying these through provider-kubernetes would ask it to remove itself.
_SELF = frozenset(
    {
        "package-provider-kubernetes",
        "runtime-provider-kubernetes",
        "rbac-provider-kubernetes",
        "config-kubernetes",
    }
)


def compose(ctx: Context) -> None:
    """Stack manifests -> Objects in crossplane-system -> status."""
    spec = ctx.spec(PlatformClusterSpec, ENV_DEFAULTS)
    target = objects.Target(
        provider_config=spec.bootstrap_provider_config_ref,
        namespace=stack.CROSSPLANE_NAMESPACE,
        orphan=spec.stack.deletion_policy == "Orphan",
    )
    installed = objects.install(ctx, stack.build(spec.stack), target, prefix="", never_delete=_SELF)
    pending = installed.pending
    ctx.stage(
        "PackagesHealthy",
        not pending,
        "Healthy" if not pending else "Installing",
        f"waiting for {', '.join(pending)}" if pending else "",
    )
    configs_ready = bool(installed.config_keys) and ctx.ready(*installed.config_keys)
    ctx.stage(
        "ProviderConfigsReady",
        configs_ready,
        "Available" if configs_ready else "WaitingForPackages",
    )
    ctx.set_status(
        {
            "packages": {p.name: p.as_status() for p in installed.packages},
            "providerConfigs": stack.provider_configs(spec.stack),
        }
    )
