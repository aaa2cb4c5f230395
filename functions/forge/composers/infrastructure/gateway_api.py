"""The Gateway API CRDs: Istio uses them but does not install them.

By default the Istio XR installs them itself, as the first Helm release of its chain
(our gateway-api-crds chart, versions.GATEWAY_API_CRDS). With ``install: false`` the
cluster brings its own (the upstream release manifest, or a newer release installed by
someone else) and this only checks them. Either way the verdict comes from the CRD
actually there: the function asks Crossplane for the ``gateways`` CRD (a required
resource) and reads its release, channel and, when installing, its Helm owner.
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
# Helm's ownership metadata on every object of a release (helm pkg/action/validate.go):
# Helm adopts an existing object only when these name the release installing it.
HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
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


@dataclass(frozen=True)
class Owner:
    """The Helm release that installs the CRDs (``install: true``)."""

    namespace: str
    release: str


def channel(spec: GatewayApi) -> str:
    """The Gateway API channel the spec asks for."""
    return "experimental" if spec.experimental else "standard"


def _install_hint(channel: str) -> str:
    url = INSTALL_URL.format(channel=channel)
    return f"install them with `kubectl apply --server-side -f {url}`"


def check(ctx: Context, spec: GatewayApi, owner: Owner | None) -> Check:
    """Ask for the CRD (every call, so the requirement is stable) and judge what came back.

    ``owner`` is our release when the XR installs the CRDs, None when it brings its own.
    """
    response.require_resources(
        ctx.rsp,
        REQUIREMENT,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        match_name=CRD_NAME,
    )
    if REQUIREMENT not in ctx.req.required_resources:
        return Check(False, "Checking", "looking up the Gateway API CRDs", None)
    items = ctx.req.required_resources[REQUIREMENT].items
    crd = items[0].resource if items else None
    if owner is not None:
        return _ours(spec, owner, crd)
    if crd is None:
        found = GatewayApiStatus(installed=False)
        message = f"the Gateway API CRDs are not installed: {_install_hint(channel(spec))}"
        return _judge(spec, "CRDsMissing", message, found)
    return _theirs(spec, crd)


def _found(crd) -> GatewayApiStatus:
    bundle = field(crd, "metadata", "annotations", BUNDLE_ANNOTATION)
    installed = field(crd, "metadata", "annotations", CHANNEL_ANNOTATION)
    return GatewayApiStatus(installed=True, bundle_version=bundle, channel=installed)


def _ours(spec: GatewayApi, owner: Owner, crd) -> Check:
    """The CRDs our release installs: ready once they are there, ours, as pinned."""
    chart = versions.GATEWAY_API_CRDS[channel(spec)]
    if crd is None:
        message = (
            f"waiting for Helm release {owner.release} to install the Gateway API CRDs "
            f"({chart.name} {chart.version})"
        )
        return Check(False, "Installing", message, GatewayApiStatus(installed=False))
    found = _found(crd)
    name = field(crd, "metadata", "annotations", HELM_RELEASE_NAME)
    namespace = field(crd, "metadata", "annotations", HELM_RELEASE_NAMESPACE)
    if (namespace, name) != (owner.namespace, owner.release):
        by = f"by Helm release {namespace}/{name}" if name else "without Helm"
        message = (
            f"the Gateway API CRDs ({found.bundle_version or 'unknown release'} "
            f"{found.channel or 'unknown channel'}) were installed {by}, not by this XR's "
            f"Helm release {owner.namespace}/{owner.release}, which cannot take them over: "
            "set spec.gatewayApi.install: false to use them as they are"
        )
        return Check(False, "CRDsManagedElsewhere", message, found)
    wanted = (versions.GATEWAY_API_VERSION, channel(spec))
    if (found.bundle_version, found.channel) != wanted:
        message = (
            f"waiting for Helm release {owner.release} to move the Gateway API CRDs from "
            f"{found.bundle_version} {found.channel} to {' '.join(wanted)}"
        )
        return Check(False, "Installing", message, found)
    return Check(True, "Available", "", found)


def _theirs(spec: GatewayApi, crd) -> Check:
    """CRDs the cluster brought: recent enough, and of the channel the spec needs."""
    found = _found(crd)
    bundle = found.bundle_version
    match = _VERSION.match(str(bundle or ""))
    if match is None or (int(match[1]), int(match[2])) < versions.GATEWAY_API_MINIMUM:
        minimum = ".".join(str(p) for p in versions.GATEWAY_API_MINIMUM)
        message = (
            f"Gateway API CRDs {bundle or '(unknown release)'} are older than v{minimum}, "
            f"which this Istio needs: {_install_hint(channel(spec))}"
        )
        return _judge(spec, "CRDsOutdated", message, found)
    if spec.experimental and found.channel != "experimental":
        message = (
            "gatewayApi.experimental needs the experimental-channel CRDs, found "
            f"{found.channel or 'an unknown channel'}: {_install_hint(channel(spec))}"
        )
        return _judge(spec, "ExperimentalChannelRequired", message, found)
    return Check(True, "Available", "", found)


def _judge(spec: GatewayApi, reason: str, message: str, found: GatewayApiStatus) -> Check:
    """A problem blocks readiness only when the spec requires the CRDs."""
    if spec.require_crds:
        return Check(False, reason, message, found)
    return Check(True, "NotRequired", message, found)
