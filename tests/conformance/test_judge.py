"""Cases the examples do not have, judged by Crossplane's engine and the API server's checks."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from forge import versions
from forge_dev.render import FatalResultError, render
from forge_dev.render.examples import composition_for, stages, xrd_for
from forge_dev.render.load import load_one, load_stream
from forge_dev.schemas.apiserver import admit
from tests.conformance import crossplane_cli

ROOT = Path(__file__).resolve().parents[2]
FIRST_STAGES = {stage.example: stage for stage in reversed(list(stages()))}


def engine_render(xr: dict[str, Any], stage, servers, **kw: Any):
    observed = stage.directory / "observed.yaml"
    required = stage.directory / "required.yaml"
    return render(
        xr,
        load_one(composition_for(xr), "Composition"),
        observed=load_stream(observed) if observed.exists() else (),
        required=load_stream(required) if required.exists() else (),
        xrd=load_one(xrd_for(xr), "XRD"),
        servers=servers,
        **kw,
    )


def names(result) -> list[str]:
    return [
        r["metadata"]["annotations"]["crossplane.io/composition-resource-name"]
        for r in result.resources
    ]


# spec.crossplane belongs to Crossplane ------------------------------------------------------


@pytest.mark.parametrize("stage", FIRST_STAGES.values(), ids=lambda s: s.name)
def test_what_crossplane_writes_under_spec_crossplane_is_not_ours(stage, function_servers):
    """Every API composes the same with Crossplane's fields set as a pinned, manual XR has them."""
    xr = load_one(stage.example / "xr.yaml", "XR")
    plain = engine_render(xr, stage, function_servers)
    pinned = copy.deepcopy(xr)
    pinned["spec"]["crossplane"] = {
        "compositionRef": {"name": composition_for(xr).stem},
        "compositionRevisionRef": {"name": f"{composition_for(xr).stem}-4f0a1b2"},
        "compositionRevisionSelector": {
            "matchLabels": {"forge.projectcatalyst.io/release": "v0.1.0"}
        },
        "compositionUpdatePolicy": "Manual",
    }
    assert names(engine_render(pinned, stage, function_servers)) == names(plain)


# No spec -----------------------------------------------------------------------------------

# The XRs that cannot do without a spec, and the field they need.
NEEDS_SPEC = {"Cluster": "spec.provider", "ExternalDNS": "spec.provider"}
KINDS = sorted(
    {load_one(s.example / "xr.yaml", "XR")["kind"]: s for s in FIRST_STAGES.values()}.items()
)


@pytest.mark.parametrize(("kind", "stage"), KINDS, ids=[k for k, _ in KINDS])
def test_xr_without_spec(kind, stage, function_servers, schema_dirs):
    xr = load_one(stage.example / "xr.yaml", "XR")
    xr.pop("spec")
    (verdict,) = admit([xr], schema_dirs)
    # Crossplane's CRD requires spec (xcrd drops the XRD's default on it): kubectl apply refuses.
    assert (verdict.status, verdict.errors) == ("invalid", ("spec: Required value",))
    if kind in NEEDS_SPEC:
        with pytest.raises(FatalResultError, match=re.escape(NEEDS_SPEC[kind])):
            engine_render(xr, stage, function_servers)
    else:
        result = engine_render(xr, stage, function_servers)
        assert result.resources, f"{kind} without spec composes from its defaults"


# Conditions are never removed ----------------------------------------------------------------


def test_a_condition_whose_stage_went_away_is_resolved(function_servers):
    """Gateway enabled, then disabled: Crossplane keeps the old condition unless we set it."""
    stage = next(s for s in stages() if s.name.endswith("infrastructure/istio/stages/06-ready"))
    xr = load_one(stage.example / "xr.yaml", "XR")
    enabled = engine_render(xr, stage, function_servers)
    before = enabled.condition("IngressGatewayReady")
    assert before is not None
    xr["spec"]["ingressGateway"]["enabled"] = False
    xr["status"] = {"conditions": [dict(before, status="False", reason="Installing")]}
    after = engine_render(xr, stage, function_servers).condition("IngressGatewayReady")
    assert after is not None and after["status"] == "True" and after["reason"] == "NotRequired"


# CEL rules of our XRDs, evaluated by the API server's CEL library -------------------------------

CEL_CASES = [
    (
        "examples/cluster-vcluster/xr.yaml",
        {"nodeGroups": [{"name": "x", "instanceTypes": ["m7i.large"]}]},
        "nodeGroups applies to provider aws only",
    ),
    (
        "examples/infrastructure/istio/xr.yaml",
        {"ingressGateway": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
        "ingressGateway.minReplicas must be <= ingressGateway.maxReplicas",
    ),
    (
        "examples/infrastructure/istio/xr.yaml",
        {"gatewayApi": {"requireCrds": False}},
        "gatewayApi.requireCrds: false needs gatewayApi.install: false",
    ),
]


@pytest.mark.parametrize(
    ("path", "patch", "message"), CEL_CASES, ids=["cluster", "istio", "istio-gateway-api"]
)
def test_xrd_cel_rules_reject_what_the_model_rejects(
    path, patch, message, schema_dirs, function_servers
):
    xr = load_one(ROOT / path, "XR")
    xr["spec"].update(patch)
    (verdict,) = admit([xr], schema_dirs)
    assert verdict.status == "invalid"
    assert any(message in e for e in verdict.errors), verdict.errors
    stage = FIRST_STAGES[(ROOT / path).parent]
    with pytest.raises(
        FatalResultError, match=re.escape(message.split(" must ")[0].split(" applies")[0])
    ):
        engine_render(xr, stage, function_servers)


EXTERNALDNS_SPECS = [
    ({}, ()),
    ({"provider": "cloudflare"}, ()),  # credentials from the environment
    ({"credentials": {"source": "PodIdentity"}}, ()),  # provider from the environment
    (
        {"provider": "cloudflare", "credentials": {"source": "PodIdentity"}},
        ("credentials.source PodIdentity and IRSA are for route53",),
    ),
    (
        {"provider": "cloudflare", "rfc2136": {"host": "ns1", "insecure": True}},
        ("rfc2136 is only used when provider is rfc2136",),
    ),
]


@pytest.mark.parametrize(("spec", "refused"), EXTERNALDNS_SPECS)
def test_externaldns_xrd_leaves_environment_fields_to_the_function(spec, refused, schema_dirs):
    """The API server never sees the EnvironmentConfig: it refuses only what is wrong
    whatever the environment adds (the from-environment XRs are `spec: {}`)."""
    xr = load_one(ROOT / "examples/infrastructure/externaldns/xr.yaml", "XR")
    xr["spec"] = spec
    (verdict,) = admit([xr], schema_dirs)
    assert verdict.status == ("invalid" if refused else "valid"), verdict.errors
    for message in refused:
        assert any(message in e for e in verdict.errors), verdict.errors


def test_own_gateway_api_crds_may_be_optional(schema_dirs):
    xr = load_one(ROOT / "examples/infrastructure/istio/xr.yaml", "XR")
    xr["spec"]["gatewayApi"] = {"install": False, "requireCrds": False}
    (verdict,) = admit([xr], schema_dirs)
    assert verdict.status == "valid", verdict.errors


def test_xrd_cel_rules_admit_every_example(schema_dirs):
    xrs = [load_one(s.example / "xr.yaml", "XR") for s in FIRST_STAGES.values()]
    assert [v.status for v in admit(xrs, schema_dirs)] == ["valid"] * len(xrs)


# Our own checker agrees with the API server's ---------------------------------------------------


def _rendered_objects() -> list[dict[str, Any]]:
    out = []
    for stage in stages():
        for doc in yaml.safe_load_all(stage.expected.read_text()):
            if (
                doc
                and doc.get("kind") not in ("Result",)
                and "crossplane.io/composition-resource-name"
                in (doc.get("metadata", {}).get("annotations") or {})
            ):
                out.append(doc)
                if doc["kind"] == "Object":
                    out.append(doc["spec"]["forProvider"]["manifest"])
    return out


def _broken(obj: dict[str, Any]) -> list[dict[str, Any]]:
    unknown = copy.deepcopy(obj)
    unknown.setdefault("spec", {})["notAField"] = True
    bad_name = copy.deepcopy(obj)
    bad_name["metadata"]["name"] = "Not_A_Name"
    return [unknown, bad_name]


def test_our_schema_checker_agrees_with_the_api_server(schema_store, schema_dirs):
    """forge_dev.schemas (ours, used where no Go tool runs) gives the API server's verdict."""
    objs = _rendered_objects()
    objs += [b for obj in objs[:: max(1, len(objs) // 40)] for b in _broken(obj)]
    for xrd in sorted((ROOT / "xrds").glob("*.yaml")):
        schema_store.add_xrd(load_one(xrd, "XRD"))
    disagreements = []
    for obj, verdict in zip(objs, admit(objs, schema_dirs), strict=True):
        if verdict.status == "missing-schema":
            continue
        ours = schema_store.validate(obj)
        if (verdict.status == "valid") != (not ours):
            disagreements.append(
                f"{verdict.kind} {verdict.name}: api server {list(verdict.errors)}, ours {ours}"
            )
    assert len(objs) > 500
    assert not disagreements, "\n".join(disagreements[:20])


# Pins --------------------------------------------------------------------------------------------


def test_the_engine_is_the_crossplane_we_install():
    go_mod = (ROOT / "tools" / "go.mod").read_text()
    pinned = re.search(r"github.com/crossplane/crossplane/v2 v(\S+)", go_mod)
    assert pinned and pinned.group(1) == versions.CROSSPLANE.version


# The API server's defaults must not hide the environment's ---------------------------------------


def test_the_environment_fills_what_the_xr_leaves_out_once_the_api_server_defaulted_it(
    function_servers,
):
    """kubectl apply writes the XRD's defaults into the spec, and the spec wins over the
    EnvironmentConfig: a field the environment supplies must have no XRD default."""
    xr = {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": "PlatformCluster",
        "metadata": {"name": "platform"},
        "spec": {},
    }
    env = {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "platform", "labels": {"forge.projectcatalyst.io/defaults": "true"}},
        "data": {
            "aws": {
                "enabled": True,
                "credentialsSource": "IRSA",
                "crossplaneRoleArn": "arn:aws:iam::123456789012:role/platform-crossplane",
            }
        },
    }
    result = render(
        xr,
        load_one(composition_for(xr), "Composition"),
        required=[env],
        xrd=load_one(xrd_for(xr), "XRD"),
        servers=function_servers,
    )
    assert any(n.startswith("package-provider-aws") for n in names(result)), names(result)


# forge-xp validate agrees with the crossplane CLI's own validation --------------------------------


def test_forge_xp_validate_agrees_with_crossplane_beta_validate(schema_dirs, tmp_path):
    """The verdicts the conformance tests rely on are the crossplane CLI's verdicts."""
    objs: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in [
        *_rendered_objects(),
        *(load_one(s.example / "xr.yaml", "XR") for s in FIRST_STAGES.values()),
    ]:
        objs.setdefault(crossplane_cli.key(obj), obj)
    for obj in list(objs.values())[:: max(1, len(objs) // 30)]:
        for broken in _broken(obj):
            broken["metadata"]["name"] += (
                "-broken" if broken["metadata"]["name"] != "Not_A_Name" else ""
            )
            objs.setdefault(crossplane_cli.key(broken), broken)
    cli = crossplane_cli.validate(
        list(objs.values()), schema_dirs[0].parent, ROOT / "xrds", tmp_path
    )
    ours = admit(list(objs.values()), schema_dirs)
    # The API server also checks the object's name (its generic registry); the CLI does not.
    names_only = [v for v in ours if v.errors and all("metadata.name" in e for e in v.errors)]
    assert names_only, "broken names are refused as the API server refuses them"
    disagreements = [
        f"{k}: crossplane {cli.get(k, 'missing-schema')}, forge-xp {v.status} {list(v.errors)}"
        for k, v in zip(objs, ours, strict=True)
        if v not in names_only and cli.get(k, cli.get((k[0], ""), "?")) != v.status
    ]
    assert len(objs) > 100
    assert any(v.status == "invalid" for v in ours) and any(v.status == "valid" for v in ours)
    assert not disagreements, "\n".join(disagreements[:20])


@pytest.mark.parametrize("stage", FIRST_STAGES.values(), ids=lambda s: s.name)
def test_the_shortened_name_form_is_refused_by_the_api_server(stage, schema_dirs):
    """`<prefix>-<8 hex>` is how long names are shortened: no XR may take it literally."""
    xr = load_one(stage.example / "xr.yaml", "XR")
    fine = copy.deepcopy(xr)
    xr["metadata"]["name"] = "team-alpha-9cbd8a6f"
    fine["metadata"]["name"] = "team-alpha-9cbd8a6g"
    refused, admitted = admit([xr, fine], schema_dirs)
    assert refused.status == "invalid"
    assert any("the form of shortened names" in e for e in refused.errors)
    assert admitted.status == "valid", admitted.errors
