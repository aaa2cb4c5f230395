"""The gateway-api-crds charts: generated from the Go module, deterministic, bad input refused.

What helm makes of them (lint, the rendered CRDs, the metadata, an install) is judged by
the real helm in tests/conformance/test_gateway_api_chart.py.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from forge import versions
from forge_dev.packaging import PackagingError, charts
from forge_dev.packaging.__main__ import main as packaging_main

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="needs go (module cache)")


@pytest.fixture(scope="module")
def module():
    return charts.module_dir()


@needs_go
def test_the_archives_are_deterministic(module):
    for channel in charts.CHANNELS:
        first = charts.archive(charts.chart_files(module, channel))
        assert charts.archive(charts.chart_files(module, channel)) == first


@needs_go
def test_the_chart_command_writes_a_chart_per_channel(tmp_path, capsys):
    assert packaging_main(["chart", "--out", str(tmp_path), "--version", "v0.1.0"]) == 0
    out = capsys.readouterr().out
    for channel, chart in versions.GATEWAY_API_CRDS.items():
        path = tmp_path / "charts" / f"{chart.name}-{chart.version}.tgz"
        assert f"{chart.name}: {path}" in out, channel


def _module_with(tmp_path, channel: str, crd: dict):
    folder = tmp_path / "config" / "crd" / channel
    folder.mkdir(parents=True)
    (folder / "gateway.networking.k8s.io_gateways.yaml").write_text(yaml.safe_dump(crd))
    return tmp_path


def _crd(channel: str, description: str = "Gateway") -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "gateways.gateway.networking.k8s.io",
            "annotations": {"gateway.networking.k8s.io/channel": channel},
        },
        "spec": {"names": {"kind": description}},
    }


def test_a_crd_of_the_other_channel_is_refused(tmp_path):
    root = _module_with(tmp_path, "standard", _crd("experimental"))
    with pytest.raises(PackagingError, match="not a standard-channel CRD"):
        charts.chart_files(root, "standard")


def test_a_crd_helm_would_read_as_a_template_is_refused(tmp_path):
    root = _module_with(tmp_path, "standard", _crd("standard", "uses {{ .Values }}"))
    with pytest.raises(PackagingError, match="Helm would read as a template"):
        charts.chart_files(root, "standard")


def test_a_module_without_the_channel_is_refused(tmp_path):
    root = _module_with(tmp_path, "standard", _crd("standard"))
    with pytest.raises(PackagingError, match="no experimental CRDs"):
        charts.chart_files(root, "experimental")


def test_without_go_the_chart_command_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert packaging_main(["chart", "--out", str(tmp_path), "--version", "v0.1.0"]) == 1
    assert "go is not installed: the gateway-api-crds charts are generated" in (
        capsys.readouterr().err
    )
