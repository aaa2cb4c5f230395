"""Every example stage through Crossplane's own engine: golden, stable, and admitted.

The goldens (``expected.yaml``) are the real engine's output (``crossplane internal
render``, the engine ``crossplane composition render --crossplane-binary`` runs), and
every object in them is checked with the API server's validation library.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from forge_dev.render.examples import render_stage, stages
from forge_dev.render.load import load_one, load_stream
from forge_dev.schemas.apiserver import admit
from tests.conformance.conftest import ROOT

STAGES = list(stages())
# Kinds the API server validates with compiled-in Go types, or whose CRDs ship inside a
# chart we install (cert-manager, External Secrets, Gateway API): no CRD file to judge by.
WITHOUT_CRD = {
    "",
    "rbac.authorization.k8s.io",
    "apps",
    "cert-manager.io",
    "external-secrets.io",
    "gateway.networking.k8s.io",
    "apiextensions.k8s.io",
    "storage.k8s.io",
    "policy",
}


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def with_manifests(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects and what provider-kubernetes Objects will apply in the target cluster."""
    out = list(objs)
    for obj in objs:
        if obj.get("kind") == "Object":
            out.append(obj["spec"]["forProvider"]["manifest"])
    return out


def assert_admitted(objs: list[dict[str, Any]], schema_dirs) -> None:
    problems = []
    for verdict in admit(objs, schema_dirs):
        group = verdict.api_version.rpartition("/")[0]
        if verdict.status == "missing-schema" and group in WITHOUT_CRD:
            continue
        if verdict.status != "valid":
            what = f"{verdict.api_version} {verdict.kind} {verdict.namespace}/{verdict.name}"
            problems.append(f"{what}: {verdict.status} {list(verdict.errors)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_engine_render_matches_golden(stage, function_servers):
    assert stage.expected.exists(), (
        "no golden: run `.venv/bin/python -m forge_dev.render.examples --update`"
    )
    assert render_stage(stage, function_servers) == stage.expected.read_text()


@pytest.mark.parametrize("stage", STAGES[:3], ids=lambda s: s.name)
def test_engine_render_is_byte_identical_twice(stage, function_servers):
    assert render_stage(stage, function_servers) == render_stage(stage, function_servers)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_composed_resources_are_admitted(stage, schema_dirs):
    docs = documents(stage.expected.read_text())
    composed = [d for d in docs[1:] if d.get("kind") != "Result"]
    assert composed, "a stage composes at least one resource"
    assert_admitted(with_manifests(composed), schema_dirs)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_stage_inputs_are_admitted(stage, schema_dirs):
    """The XR as a user writes it, and the observed and required objects of the stage."""
    objs = [load_one(stage.example / "xr.yaml", "XR")]
    for name in ("observed.yaml", "required.yaml"):
        if (stage.directory / name).exists():
            objs += load_stream(stage.directory / name)
    assert_admitted(objs, schema_dirs)


def test_engine_reports_no_warnings_on_examples():
    warnings = [
        f"{stage.name}: {doc['reason']}: {doc['message']}"
        for stage in STAGES
        for doc in documents(stage.expected.read_text())
        if doc.get("kind") == "Result" and doc.get("severity") == "Warning"
    ]
    assert not warnings, "\n".join(warnings)


def test_bootstrap_is_admitted(schema_dirs):
    """Every object of ``bootstrap/`` as the API server admits it (Crossplane's and the
    providers' CRDs; RBAC is compiled in)."""
    objs = load_stream(ROOT / "bootstrap")
    assert len(objs) == 10  # with the activation policy
    assert_admitted(objs, schema_dirs)
