"""The gateway-api-crds charts, judged by the real helm (``make tools`` builds it).

``helm lint``, ``helm template`` and ``helm show chart`` read the archives
``python -m forge_dev.packaging chart`` writes; the install test runs ``helm`` against the
real API server of e2e-local (``make kube-tools``), which stores each release in a
Secret it caps at 1 MiB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from forge import versions
from forge_dev import tools
from forge_dev.packaging import charts

CHANNELS = charts.CHANNELS
MAX_SECRET = 1024 * 1024  # the API server's limit on a Secret's data


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def helm(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    if not tools.available(tools.HELM):
        _missing(f"helm is not built in {tools.tools_dir()}: run `make tools`")
    out = subprocess.run(
        [str(tools.tool(tools.HELM)), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **env},
    )
    if check:
        assert out.returncode == 0, f"helm {' '.join(args)}: {out.stdout}{out.stderr}"
    return out


@pytest.fixture(scope="module")
def module() -> Path:
    if shutil.which("go") is None:
        _missing("go is not installed: the chart is generated from the Go module cache")
    return charts.module_dir()


@pytest.fixture(scope="module")
def built(module, tmp_path_factory) -> dict[str, Path]:
    return charts.build(tmp_path_factory.mktemp("charts"), module)


def upstream(module: Path, channel: str) -> dict[str, dict]:
    docs = [yaml.safe_load(p.read_text()) for p in charts.upstream_crds(module, channel)]
    return {d["metadata"]["name"]: d for d in docs}


@pytest.mark.parametrize("channel", CHANNELS)
def test_helm_lints_the_chart_clean(built, channel):
    out = helm("lint", "--strict", str(built[channel]))
    assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout


@pytest.mark.parametrize("channel", CHANNELS)
def test_helm_renders_exactly_the_channels_upstream_crds_kept_on_uninstall(built, module, channel):
    out = helm("template", "gateway-api", str(built[channel]), "--namespace", "istio-system")
    ours = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out.stdout) if d}
    theirs = upstream(module, channel)
    assert sorted(ours) == sorted(theirs)
    assert "httproutes.gateway.networking.k8s.io" in ours
    assert ("tcproutes.gateway.networking.k8s.io" in ours) == (channel == "experimental")
    for name, crd in ours.items():
        annotations = crd["metadata"]["annotations"]
        assert annotations.pop("helm.sh/resource-policy") == "keep", name
        assert annotations["gateway.networking.k8s.io/channel"] == channel
        assert annotations["gateway.networking.k8s.io/bundle-version"] == (
            versions.GATEWAY_API_VERSION
        )
        assert crd == theirs[name], f"{name} differs from upstream beyond the annotation"


@pytest.mark.parametrize("channel", CHANNELS)
def test_helm_reads_the_chart_versions_pins(built, channel):
    meta = yaml.safe_load(helm("show", "chart", str(built[channel])).stdout)
    pinned = versions.GATEWAY_API_CRDS[channel]
    assert (meta["name"], meta["version"], meta["appVersion"]) == (
        pinned.name,
        pinned.version,
        versions.GATEWAY_API_VERSION,
    )
    assert built[channel].name == f"{pinned.name}-{pinned.version}.tgz"  # as helm package names it


def test_the_chart_takes_no_values(built):
    out = helm(
        "template", "gw", str(built["standard"]), "--set", "channel=experimental", check=False
    )
    assert out.returncode != 0
    assert "additional properties 'channel' not allowed" in out.stderr


# --- installed by helm into the real API server (e2e-local's control plane) ----------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from forge_dev.e2e_local.controlplane import TOOLS, ControlPlane, Tools  # noqa: PLC0415
    from forge_dev.e2e_local.procs import HarnessError  # noqa: PLC0415

    try:
        found = Tools.find()
        if not (TOOLS / "kubectl").exists():
            raise HarnessError(f"missing {TOOLS / 'kubectl'}: run `make kube-tools`")
    except HarnessError as exc:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise
        pytest.skip(str(exc))
    cp = ControlPlane(tmp_path_factory.mktemp("helm-cluster"), found)
    cp.start()
    yield cp
    cp.stop()


def kubectl(cp, *args: str) -> str:
    from forge_dev.e2e_local.controlplane import TOOLS  # noqa: PLC0415

    exe = [str(TOOLS / "kubectl"), "--kubeconfig", str(cp.kubeconfig)]
    return subprocess.run([*exe, *args], capture_output=True, text=True, check=True).stdout


def channels_found(cp) -> dict[str, str]:
    crds = yaml.safe_load(kubectl(cp, "get", "crd", "-o", "yaml"))["items"]
    return {
        c["metadata"]["name"]: c["metadata"]["annotations"]["gateway.networking.k8s.io/channel"]
        for c in crds
    }


@pytest.mark.e2e_local
def test_helm_installs_switches_channel_and_uninstalls_keeping_the_crds(built, module, cluster):
    def release(chart: Path) -> None:
        helm(
            "upgrade", "--install", "gateway-api", str(chart), "--namespace", "istio-system",
            "--create-namespace", "--wait", "--timeout", "2m", "--kubeconfig",
            str(cluster.kubeconfig),
        )  # fmt: skip

    standard, experimental = upstream(module, "standard"), upstream(module, "experimental")
    release(built["standard"])
    assert channels_found(cluster) == dict.fromkeys(standard, "standard")
    release(built["experimental"])  # gatewayApi.experimental turned on: the same release
    assert channels_found(cluster) == dict.fromkeys(experimental, "experimental")
    secrets = yaml.safe_load(kubectl(cluster, "get", "secret", "-n", "istio-system", "-o", "yaml"))[
        "items"
    ]
    sizes = [len(s["data"]["release"]) * 3 // 4 for s in secrets if s["type"].startswith("helm")]
    assert len(sizes) == 2 and max(sizes) < 0.8 * MAX_SECRET  # room for the CRDs to grow
    helm("uninstall", "gateway-api", "--namespace", "istio-system", "--wait", "--kubeconfig",
         str(cluster.kubeconfig))  # fmt: skip
    assert channels_found(cluster) == dict.fromkeys(experimental, "experimental")


@pytest.mark.e2e_local
def test_helm_pushes_the_charts_where_a_release_pulls_them(built, tmp_path):
    """The push make push runs, to e2e-local's registry; helm then reads each chart back
    from the repository a Release names (the registry path, ``/charts``, the chart)."""
    from forge_dev.e2e_local.packages import Registry  # noqa: PLC0415
    from forge_dev.e2e_local.procs import HarnessError  # noqa: PLC0415

    registry = Registry(tmp_path)
    try:
        registry.start()
    except HarnessError as exc:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise
        pytest.skip(str(exc))
    try:
        prefix = f"{registry.host}/input-output-hk/catalyst-forge"
        out = built["standard"].parent.parent
        for command in charts.push_commands("helm", out, prefix, plain_http=True):
            helm(*command[1:])
        for chart in versions.GATEWAY_API_CRDS.values():
            repository = chart.repository.replace("ghcr.io", registry.host)
            ref = f"{repository}/{chart.name}"
            shown = helm("show", "chart", ref, "--version", chart.version, "--plain-http")
            assert yaml.safe_load(shown.stdout)["name"] == chart.name
    finally:
        registry.stop()
