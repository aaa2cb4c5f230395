"""The Gateway API CRDs: a prerequisite Istio uses but does not install.

They come from the upstream release manifest (not from any chart), so this API
does not compose them. It asks Crossplane for the ``gateways`` CRD (a required
resource) and reports whether it is installed, from which release and channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crossplane.function import response

from forge import versions
from forge.core.context import Context
from forge.core.observed import field
from forge.models.istio import GatewayApi, GatewayApiStatus

REQUIREMENT = "gateway-api-crd"
CRD_NAME = "gateways.gateway.networking.k8s.io"
BUNDLE_ANNOTATION = "gateway.networking.k8s.io/bundle-version"
CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"
INSTALL_URL = (
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
    f"{versions.GATEWAY_API_VERSION}/{{channel}}-install.yaml"
)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


@dataclass(frozen=True)
class Check:
    """The outcome: a stage (ready, reason, message) and what to report in status."""

    ready: bool
    reason: str
    message: str
    status: GatewayApiStatus | None


def _install_hint(channel: str) -> str:
    url = INSTALL_URL.format(channel=channel)
    return f"install them with `kubectl apply --server-side -f {url}`"


def check(ctx: Context, spec: GatewayApi) -> Check:
    """Ask for the CRD (every call, so the requirement is stable) and judge what came back."""
    response.require_resources(
        ctx.rsp,
        REQUIREMENT,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        match_name=CRD_NAME,
    )
    if REQUIREMENT not in ctx.req.required_resources:
        return Check(False, "Checking", "looking up the Gateway API CRDs", None)
    channel = "experimental" if spec.experimental else "standard"
    items = ctx.req.required_resources[REQUIREMENT].items
    if not items:
        found = GatewayApiStatus(installed=False)
        message = f"the Gateway API CRDs are not installed: {_install_hint(channel)}"
        return _judge(spec, "CRDsMissing", message, found)
    crd = items[0].resource
    bundle = field(crd, "metadata", "annotations", BUNDLE_ANNOTATION)
    installed_channel = field(crd, "metadata", "annotations", CHANNEL_ANNOTATION)
    found = GatewayApiStatus(installed=True, bundle_version=bundle, channel=installed_channel)
    match = _VERSION.match(str(bundle or ""))
    if match is None or (int(match[1]), int(match[2])) < versions.GATEWAY_API_MINIMUM:
        minimum = ".".join(str(p) for p in versions.GATEWAY_API_MINIMUM)
        message = (
            f"Gateway API CRDs {bundle or '(unknown release)'} are older than v{minimum}, "
            f"which this Istio needs: {_install_hint(channel)}"
        )
        return _judge(spec, "CRDsOutdated", message, found)
    if spec.experimental and installed_channel != "experimental":
        message = (
            "gatewayApi.experimental needs the experimental-channel CRDs, found "
            f"{installed_channel or 'an unknown channel'}: {_install_hint(channel)}"
        )
        return _judge(spec, "ExperimentalChannelRequired", message, found)
    return Check(True, "Available", "", found)


def _judge(spec: GatewayApi, reason: str, message: str, found: GatewayApiStatus) -> Check:
    """A problem blocks readiness only when the spec requires the CRDs."""
    if spec.require_crds:
        return Check(False, reason, message, found)
    return Check(True, "NotRequired", message, found)
