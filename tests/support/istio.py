"""The Istio tests' shared XR, environment and readers."""

from __future__ import annotations

import copy

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge_dev.simulate import infrastructure as infra
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    build,
    environment_config,
    render,
    step_input,
)

TRUE, FALSE = fnv1.STATUS_CONDITION_TRUE, fnv1.STATUS_CONDITION_FALSE
XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Istio",
    "metadata": {"name": "istio", "namespace": "default"},
    "spec": {},
}


CHAIN = ["base", "istiod", "cni", "ztunnel"]


CRDS = "gateway-api-crds"  # the Release of our gateway-api-crds chart


CRDS_RELEASE = "istio-gateway-api-crds"


def gateway_crd(
    version: str = "v1.5.1",
    channel: str = "standard",
    release: str | None = CRDS_RELEASE,
    namespace: str = "istio-system",
) -> dict:
    """The gateways CRD as found: ``release`` is the Helm release that owns it (Helm's
    ownership annotations), none when it was applied some other way."""
    annotations = {
        "gateway.networking.k8s.io/bundle-version": version,
        "gateway.networking.k8s.io/channel": channel,
    }
    if release:
        annotations["meta.helm.sh/release-name"] = release
        annotations["meta.helm.sh/release-namespace"] = namespace
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.gateway.networking.k8s.io", "annotations": annotations},
    }


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def run(xr: dict, observed: dict | None = None, **kwargs):
    return render(
        build(xr, observed=observed, required=required(**kwargs), step_input=step_input("Istio"))
    )


def values(out, key: str) -> dict:
    return out.resources[key]["spec"]["forProvider"]["values"]


def ready_observed(out) -> dict:
    return {key: observe(key, manifest) for key, manifest in out.resources.items()}


def converged(xr: dict, crds: list[dict] | None = None, env: dict | None = None):
    """Rounds to Ready; the CRDs are what our Release installed unless ``crds`` says."""

    def found(observed: dict) -> dict:
        return required(installed(observed) if crds is None else crds, env)

    return converge(xr, required=found, step_input=step_input("Istio"), max_rounds=8)


def installed(observed: dict) -> list[dict]:
    """The gateways CRD once the gateway-api-crds Release is deployed, as Helm installs it."""
    return infra.written({key: obs.manifest for key, obs in observed.items()})


def required(crds: list[dict] | None = None, env: dict | None = None) -> dict:
    found = {"gateway-api-crd": [gateway_crd()] if crds is None else crds}
    # No env: the platform's EnvironmentConfig, which says nothing about Istio.
    found["environment-configs"] = [env or environment_config()]
    return found
