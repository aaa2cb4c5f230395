"""The step input: typed, checked before any composer runs, and its CRD generated from it.

A Composition's pipeline step gives the function ``input`` (apiVersion
``input.forge.projectcatalyst.io/v1alpha1``, kind ``Input``). The function reads it
through ``forge.input.Input``; ``forge_dev.generate`` writes the CRD of that model
into the Function package, as the Go functions ship their ``input/v1beta1`` CRD.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
import yaml

from forge import input as step_input
from forge.input import EnvironmentConfigSelector, Input, InputError
from forge_dev import generate, tools
from forge_dev.schemas.apiserver import admit
from forge_dev.schemas.structural import validate_resource
from forge_dev.simulate.requests import build, environment_config, render
from forge_dev.simulate.requests import step_input as composition_input

ROOT = Path(__file__).resolve().parents[2]
COMPOSITIONS = sorted((ROOT / "compositions").glob("*.yaml"))
ESO = yaml.safe_load((ROOT / "examples/infrastructure/externalsecretsoperator/xr.yaml").read_text())
LABEL = "forge.projectcatalyst.io/defaults"
GOOD = {
    "apiVersion": "input.forge.projectcatalyst.io/v1alpha1",
    "kind": "Input",
    "environmentConfig": {"matchLabels": {LABEL: "true"}},
}


def with_(change: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The good input, some top-level fields replaced or dropped."""
    given = {**copy.deepcopy(GOOD), **(change or {})}
    for key in drop:
        given.pop(key)
    return given


def pipeline_inputs() -> list[tuple[str, dict[str, Any]]]:
    """(Composition file, input) of every function-forge step of the generated Compositions."""
    found = []
    for path in COMPOSITIONS:
        for step in yaml.safe_load(path.read_text())["spec"]["pipeline"]:
            found.append((path.name, step["input"]))
    return found


# -- the model -------------------------------------------------------------------------------


def test_the_identity_of_the_input_is_kept():
    """The generated Compositions (and the golden renders) use this apiVersion and kind."""
    assert step_input.API_VERSION == "input.forge.projectcatalyst.io/v1alpha1"
    assert (step_input.GROUP, step_input.VERSION) == ("input.forge.projectcatalyst.io", "v1alpha1")
    assert step_input.KIND == "Input"


@pytest.mark.parametrize(("name", "given"), pipeline_inputs())
def test_every_generated_composition_input_parses(name, given):
    parsed = step_input.parse(given)
    assert parsed.environment_config.match_labels == {LABEL: "true"}, name
    assert parsed.environment_config.name is None


def test_a_selector_by_name_parses():
    parsed = step_input.parse(with_({"environmentConfig": {"name": "platform-defaults"}}))
    assert parsed.environment_config == EnvironmentConfigSelector(name="platform-defaults")


@pytest.mark.parametrize(
    "given",
    [with_(drop=("environmentConfig",)), with_({"environmentConfig": {}})],
    ids=["no-environmentConfig", "empty-environmentConfig"],
)
def test_no_selector_selects_nothing(given):
    parsed = step_input.parse(given)
    assert parsed.environment_config == EnvironmentConfigSelector()
    assert parsed.environment_config.selector() is None


def test_metadata_is_accepted_as_on_any_kubernetes_object():
    assert step_input.parse(with_({"metadata": {"name": "compose"}})).metadata == {
        "name": "compose"
    }


def test_the_selector_says_where_it_came_from():
    by_label = step_input.parse(GOOD).environment_config.selector()
    assert (by_label.name, dict(by_label.labels), by_label.source) == (
        None,
        {LABEL: "true"},
        "the Composition's environmentConfig.matchLabels",
    )
    named = EnvironmentConfigSelector(name="defaults", match_labels={LABEL: "true"}).selector()
    # A name wins over labels, as it always has.
    assert (named.name, named.labels, named.source) == (
        "defaults",
        None,
        "the Composition's environmentConfig.name",
    )


BAD = [
    (with_(drop=("apiVersion",)), "input.apiVersion: Field required"),
    (
        with_({"apiVersion": "input.forge.projectcatalyst.io/v1beta1"}),
        "input.apiVersion: must be input.forge.projectcatalyst.io/v1alpha1",
    ),
    (with_({"apiVersion": 1.0}), "input.apiVersion: Input should be a valid string"),
    (with_(drop=("kind",)), "input.kind: Field required"),
    (with_({"kind": "GoTemplate"}), "input.kind: must be Input"),
    (with_({"environmentConfigs": {}}), "input.environmentConfigs: unknown field"),
    (
        with_({"environmentConfig": {"matchLabel": {LABEL: "true"}}}),
        "input.environmentConfig.matchLabel: unknown field",
    ),
    (
        with_({"environmentConfig": {"matchLabels": {LABEL: True}}}),
        f'input.environmentConfig.matchLabels["{LABEL}"]: Input should be a valid string',
    ),
    (
        with_({"environmentConfig": {"matchLabels": ["a=b"]}}),
        "input.environmentConfig.matchLabels: Input should be a valid dictionary",
    ),
    (
        with_({"environmentConfig": {"name": 3.0}}),
        "input.environmentConfig.name: Input should be a valid string",
    ),
    (
        with_({"environmentConfig": {"name": "Not A Name"}}),
        "input.environmentConfig.name: must be a Kubernetes object name "
        "(lowercase letters, digits, '-' and '.')",
    ),
    (
        with_({"environmentConfig": "defaults"}),
        "input.environmentConfig: must be an object",
    ),
    (with_({"metadata": "x"}), "input.metadata: Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("given", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_input_is_an_error_naming_the_field(given, message):
    with pytest.raises(InputError) as info:
        step_input.parse(given)
    assert str(info.value) == message
    assert info.value.path == message.split(": ")[0]


def test_every_problem_is_reported_unknown_fields_first():
    given = with_({"kind": "Other", "extra": 1, "environmentConfig": {"name": 1}})
    with pytest.raises(InputError) as info:
        step_input.parse(given)
    assert str(info.value).split("; ") == [
        "input.extra: unknown field",
        "input.kind: must be Input",
        "input.environmentConfig.name: Input should be a valid string",
    ]


def test_an_input_that_is_not_an_object_is_an_error():
    with pytest.raises(InputError) as info:
        step_input.parse(["not", "an", "object"])
    assert str(info.value) == "input: must be an object"


def test_bad_input_never_quotes_the_value():
    secret = "s3cr3t-value-that-must-not-leak"
    for given in (
        with_({"apiVersion": secret}),
        with_({"kind": secret}),
        with_({"environmentConfig": {"name": secret.upper()}}),
    ):
        with pytest.raises(InputError) as info:
            step_input.parse(given)
        assert secret not in str(info.value).lower()


# -- through RunFunction ------------------------------------------------------------------------


def run_with(given: dict[str, Any] | None, required: dict | None = None):
    return render(build(copy.deepcopy(ESO), required=required, step_input=given))


def test_bad_input_is_one_fatal_result_and_nothing_composed():
    out = run_with(with_({"environmentConfig": {"matchLabels": {LABEL: True}}}))
    assert out.fatal == [
        "invalid step input from the Composition: "
        f'input.environmentConfig.matchLabels["{LABEL}"]: Input should be a valid string'
    ]
    assert out.resources == {}
    assert out.requirements == {}


@pytest.mark.parametrize(("given", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_run_function_never_raises_on_bad_input(given, message):
    assert run_with(given).fatal == [f"invalid step input from the Composition: {message}"]


def test_the_good_input_selects_by_its_labels():
    out = run_with(composition_input("ExternalSecretsOperator"))
    assert not out.fatal
    (selector,) = out.requirements.values()
    assert dict(selector.match_labels.labels) == {LABEL: "true"}


def test_a_name_in_the_input_selects_that_config():
    out = run_with(with_({"environmentConfig": {"name": "platform-defaults"}}))
    assert not out.fatal
    (selector,) = out.requirements.values()
    assert selector.match_name == "platform-defaults"


@pytest.mark.parametrize(
    "given",
    [None, with_(drop=("environmentConfig",))],
    ids=["no-input", "no-environmentConfig"],
)
def test_without_a_selector_no_environment_is_asked_for_or_read(given):
    """As before the input was typed: the XR's spec stands alone. With no environment read,
    the platform has named no namespace, so the XR's in-cluster ProviderConfig is refused."""
    region = environment_config(region="eu-west-1")
    out = run_with(given, required={"environment-configs": [region]})
    assert out.requirements == {}
    assert not [r for r in out.results if r.reason == "EnvironmentConfigSelection"]
    assert [r.severity for r in out.results] == [fnv1.SEVERITY_FATAL]
    assert "spec.providerConfigRef: ClusterProviderConfig default" in out.fatal[0]
    with_selector = run_with(GOOD, required={"environment-configs": [region]})
    assert not with_selector.fatal


# -- the CRD -----------------------------------------------------------------------------------

CRD_PATH = ROOT / generate.INPUT_CRD


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def test_the_crd_is_generated_into_the_function_package():
    assert generate.INPUT_CRD == "package/function/input/input.forge.projectcatalyst.io_inputs.yaml"
    assert generate.render_all()[generate.INPUT_CRD] == CRD_PATH.read_text()


def test_the_crd_defines_the_input_kind():
    crd = yaml.safe_load(CRD_PATH.read_text())
    assert (crd["apiVersion"], crd["kind"]) == (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
    )
    assert crd["metadata"]["name"] == "inputs.input.forge.projectcatalyst.io"
    spec = crd["spec"]
    assert spec["group"] == step_input.GROUP
    assert spec["names"]["kind"] == step_input.KIND
    assert spec["names"]["plural"] == "inputs"
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [
        (step_input.VERSION, True, True)
    ]


def test_the_crd_schema_is_the_models():
    schema = crd_schema()
    body = generate.model_schema(Input)
    assert schema["properties"]["environmentConfig"] == body["properties"]["environmentConfig"]
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "environmentConfig"}
    assert schema["required"] == ["apiVersion", "kind"]
    selector = schema["properties"]["environmentConfig"]["properties"]
    assert selector["matchLabels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": selector["matchLabels"]["description"],
    }
    assert selector["name"]["type"] == "string"
    # The API server wants plain types for the fields every object has (controller-gen's form).
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert schema["properties"]["kind"]["type"] == "string"


def test_check_mode_covers_the_crd(tmp_path, capsys):
    assert generate.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / generate.INPUT_CRD).read_text() == CRD_PATH.read_text()
    capsys.readouterr()
    (tmp_path / generate.INPUT_CRD).write_text("stale\n")
    assert generate.main(["--root", str(tmp_path), "--check"]) == 1
    assert generate.INPUT_CRD in capsys.readouterr().err


@pytest.mark.parametrize(("name", "given"), pipeline_inputs())
def test_every_composition_input_is_valid_against_the_crd(name, given):
    assert validate_resource(crd_schema(), given) == [], name


@pytest.mark.parametrize(
    "given",
    [
        with_({"environmentConfigs": {}}),
        with_({"environmentConfig": {"matchLabel": {}}}),
        with_({"environmentConfig": {"matchLabels": {LABEL: True}}}),
        with_({"environmentConfig": {"name": 3}}),
        with_({"environmentConfig": {"name": "Not A Name"}}),
    ],
    ids=["unknown", "unknown-nested", "label-value", "name-type", "name-pattern"],
)
def test_the_crd_and_the_model_reject_the_same_input(given):
    assert validate_resource(crd_schema(), given) != []
    with pytest.raises(InputError):
        step_input.parse(given)


@pytest.mark.skipif(
    not tools.available(tools.DRIVER) and not os.environ.get("CI"),
    reason="forge-xp is not built: run `make tools`",
)
def test_the_api_server_reads_the_crd_as_the_model_does():
    """The API server's own validation library (forge-xp), given only the generated CRD.

    The input is never stored, so it has no name or namespace: they are given here for
    the object checks, and every other verdict is the schema's.
    """
    stored = {"metadata": {"name": "compose", "namespace": "default"}}
    good = [{**given, **stored} for _, given in pipeline_inputs()]
    named = {**with_({"environmentConfig": {"name": "platform-defaults"}}), **stored}
    bad = {
        **with_({"environmentConfig": {"matchLabels": {LABEL: True}, "nam": "x"}}),
        **stored,
    }
    verdicts = admit([*good, named, bad], [CRD_PATH])
    assert [(v.status, v.errors) for v in verdicts[:-1]] == [("valid", ())] * (len(good) + 1)
    assert verdicts[-1].status == "invalid"
    assert sorted(e.split(":")[0] for e in verdicts[-1].errors) == [
        "environmentConfig.matchLabels.forge.projectcatalyst.io/defaults",
        "environmentConfig.nam",
    ]
