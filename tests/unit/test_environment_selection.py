"""The function says which EnvironmentConfigs it read, and which selector matched none.

An EnvironmentConfig passed with ``-e`` but without the label the Composition selects
used to be dropped without a word, and an error then blamed "the EnvironmentConfig".
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev import tools
from forge_dev.render import FatalResultError, Result
from forge_dev.render import render as engine_render
from forge_dev.render.examples import composition_for, xrd_for
from forge_dev.render.load import load_one
from forge_dev.simulate.requests import (
    build,
    environment_config,
    platform_environment,
    render,
    step_input,
)

ROOT = Path(__file__).resolve().parents[2]
LABEL = (
    "label forge.projectcatalyst.io/defaults=true (the Composition's environmentConfig.matchLabels)"
)
REASON = "EnvironmentConfigSelection"
ESO = load_one(ROOT / "examples/infrastructure/externalsecretsoperator/xr.yaml", "XR")
FROM_ENV = "is required: set it in the XR, or region in the EnvironmentConfig"
needs_engine = pytest.mark.skipif(
    not tools.available() and not os.environ.get("CI"), reason="run `make tools`"
)


def unlabelled(config: dict[str, Any]) -> dict[str, Any]:
    """The same EnvironmentConfig without the label the Composition selects by."""
    config = copy.deepcopy(config)
    del config["metadata"]["labels"]
    return config


def eso(
    configs: list[dict[str, Any]] | None,
    spec: dict[str, Any] | None = None,
    platform: dict[str, list[dict[str, Any]]] | None = None,
):
    """One in-process call for the ESO example; ``configs`` None: not fetched yet;
    ``platform``: the Composition's own selection, when the XR names another one."""
    xr = copy.deepcopy(ESO)
    if spec is not None:
        xr["spec"] = spec
    required = None if configs is None else {"environment-configs": configs, **(platform or {})}
    req = build(xr, required=required, step_input=step_input("ExternalSecretsOperator"))
    return render(req)


def selection(out) -> list[tuple[int, str]]:
    return [(r.severity, r.message) for r in out.results if r.reason == REASON]


# -- unit: the results and the fatal message ----------------------------------------------


def test_the_configs_read_are_named_with_their_selector():
    out = eso([environment_config("prod", region="eu-west-1"), environment_config("dev")])
    assert not out.fatal
    assert selection(out) == [
        (fnv1.SEVERITY_NORMAL, f"read EnvironmentConfigs dev, prod, selected by {LABEL}")
    ]


def test_an_empty_selection_names_the_selector_and_how_to_fix_it():
    out = eso([], spec={"clusterSecretStore": None})
    assert selection(out) == [
        (
            fnv1.SEVERITY_NORMAL,
            f"no EnvironmentConfig matched {LABEL}, so none was read; one without that label "
            "is not selected: label it, or name it in spec.environmentConfigRef.name",
        )
    ]


def test_a_named_config_that_does_not_exist_is_a_warning():
    out = eso([], spec={"environmentConfigRef": {"name": "staging"}, "clusterSecretStore": None})
    assert selection(out) == [
        (
            fnv1.SEVERITY_WARNING,
            "no EnvironmentConfig matched name 'staging' (spec.environmentConfigRef.name), "
            "so none was read",
        )
    ]


def test_nothing_is_said_before_crossplane_has_answered():
    out = eso(None)
    assert selection(out) == []
    assert out.requirements["environment-configs"].match_labels.labels == {
        "forge.projectcatalyst.io/defaults": "true"
    }


def test_an_error_blaming_the_environment_says_none_was_read():
    spec = {**ESO["spec"], "environmentConfigRef": {"name": "staging"}}
    out = eso([], spec=spec, platform=platform_environment())
    assert out.fatal == [
        "invalid ExternalSecretsOperator 'external-secrets': spec.clusterSecretStore.aws.region: "
        f"{FROM_ENV}; no EnvironmentConfig was read: none matched name 'staging' "
        "(spec.environmentConfigRef.name)"
    ]


def test_without_an_environment_the_platform_has_named_no_namespace():
    """The platform's namespaces are in its EnvironmentConfig: with none read, the XR is
    a tenant's, and the message says no EnvironmentConfig was read."""
    (fatal,) = eso([]).fatal
    assert "spec.providerConfigRef: ClusterProviderConfig default is the platform's" in fatal
    assert fatal.endswith(f"; no EnvironmentConfig was read: none matched {LABEL}")


def test_an_error_about_something_else_is_left_as_it_is():
    out = eso([], spec={"replicas": "many", "clusterSecretStore": None})
    (fatal,) = out.fatal
    assert "EnvironmentConfig" not in fatal


# -- through the real engine: the EnvironmentConfig a user passes with -e -------------------


def engine(required: list[dict[str, Any]], function_servers):
    composition = load_one(composition_for(ESO), "composition")
    xrd = load_one(xrd_for(ESO), "XRD")
    return engine_render(ESO, composition, required=required, xrd=xrd, servers=function_servers)


@needs_engine
def test_engine_an_unlabelled_config_is_not_blamed(function_servers):
    mine = unlabelled(environment_config("dev", region="eu-central-1"))
    with pytest.raises(FatalResultError) as info:
        engine([mine], function_servers)
    message = str(info.value)
    # Without the platform's EnvironmentConfig the platform has named no namespace yet.
    assert "spec.providerConfigRef: ClusterProviderConfig default is the platform's" in message
    assert message.endswith(f"; no EnvironmentConfig was read: none matched {LABEL}")


@needs_engine
def test_engine_reports_the_selection_as_an_event(function_servers):
    result = engine([environment_config("dev", region="eu-central-1")], function_servers)
    said = f'Pipeline step "compose": read EnvironmentConfig dev, selected by {LABEL}'
    assert Result("Normal", REASON, said) in result.results
