"""Every Helm Release in every example's golden gives its chart values that ``helm
install`` accepts: the chart's values.yaml deep-merged with ours, checked against its
values.schema.json (and each enabled subchart's), as Helm does. Charts not collected in
the schema root (our Gateway API CRDs chart, the AWS Load Balancer Controller's) are
left out."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from forge_dev.render.examples import stages
from forge_dev.schemas.sources import SchemaSourceError

STAGES = [stage for stage in stages() if stage.expected.exists()]
RELEASE = ("helm.m.crossplane.io/v1beta1", "Release")


def releases(stage) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(stage.expected.read_text()) if d]
    return [d for d in docs[1:] if (d.get("apiVersion"), d.get("kind")) == RELEASE]


def collected(schema_store, chart: str, version: str) -> bool:
    try:
        schema_store.helm.load(chart, version)
    except SchemaSourceError:
        return False
    return True


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_release_values_validate_against_the_chart(stage, schema_store):
    problems = []
    for release in releases(stage):
        provider = release["spec"]["forProvider"]
        chart, version = provider["chart"]["name"], provider["chart"]["version"]
        if not collected(schema_store, chart, version):
            continue
        errors = schema_store.validate_helm_values(chart, version, provider.get("values") or {})
        problems += [f"{release['metadata']['name']} ({chart} {version}): {e}" for e in errors]
    assert not problems, "\n".join(problems)
