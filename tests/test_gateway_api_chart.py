"""The gateway-api-crds chart: generated from the Go module, deterministic, CRDs kept."""

from __future__ import annotations

import io
import re
import shutil
import tarfile

import pytest
import yaml

from forge import versions
from forge.packaging import charts
from forge.packaging.__main__ import main as packaging_main

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs go (module cache)")
GUARD = re.compile(r'^\{\{- if eq \.Values\.channel "(\w+)" \}\}\n(.*)\{\{- end \}\}\n$', re.S)


@pytest.fixture(scope="module")
def module():
    return charts.module_dir()


@pytest.fixture(scope="module")
def members(module) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(charts.archive(charts.chart_files(module)))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def rendered(members: dict[str, bytes], channel: str) -> dict[str, dict]:
    """What Helm renders for ``channel``: each template's guarded body when it matches."""
    out = {}
    for name, data in members.items():
        if "/templates/" not in name:
            continue
        match = GUARD.match(data.decode())
        assert match, f"{name} is not one guarded document"
        if match[1] == channel:
            crd = yaml.safe_load(match[2])
            out[crd["metadata"]["name"]] = crd
    return out


def upstream(module, channel: str) -> dict[str, dict]:
    files = (module / "config/crd" / channel).glob("*.yaml")
    docs = [d for p in files for d in yaml.safe_load_all(p.read_text())]
    return {
        d["metadata"]["name"]: d for d in docs if d and d.get("kind") == "CustomResourceDefinition"
    }


def test_the_archive_is_deterministic(module):
    first = charts.archive(charts.chart_files(module))
    assert charts.archive(charts.chart_files(module)) == first


def test_chart_metadata_pins_the_gateway_api_release(members):
    chart = yaml.safe_load(members["gateway-api-crds/Chart.yaml"])
    assert (chart["name"], chart["version"], chart["appVersion"]) == (
        "gateway-api-crds",
        versions.GATEWAY_API_VERSION.removeprefix("v"),
        versions.GATEWAY_API_VERSION,
    )
    assert yaml.safe_load(members["gateway-api-crds/values.yaml"]) == {"channel": "standard"}


@pytest.mark.parametrize("channel", charts.CHANNELS)
def test_each_channel_renders_exactly_its_upstream_crds_kept_on_uninstall(members, module, channel):
    ours, theirs = rendered(members, channel), upstream(module, channel)
    assert sorted(ours) == sorted(theirs)
    assert "httproutes.gateway.networking.k8s.io" in ours
    for name, crd in ours.items():
        annotations = crd["metadata"]["annotations"]
        assert annotations.pop("helm.sh/resource-policy") == "keep", name
        assert annotations["gateway.networking.k8s.io/bundle-version"] == "v1.5.1"
        assert crd == theirs[name], f"{name} differs from upstream beyond the annotation"


def test_make_target_writes_the_chart(tmp_path, capsys):
    assert packaging_main(["chart", "--out", str(tmp_path), "--version", "v0.1.0"]) == 0
    path = tmp_path / "charts" / "gateway-api-crds-1.5.1.tgz"
    assert f"gateway-api-crds: {path}" in capsys.readouterr().out
    assert path.stat().st_size < 512 * 1024  # Helm stores the chart in its release Secret
