"""The local end-to-end harness (e2e/local): its pieces that can fail.

Unit tests run everywhere. The tests marked ``e2e_local`` start the real control plane
(``make kube-tools`` builds it) and Crossplane (``make tools``): they skip, naming the
missing binary, when those are not built, unless ``FORGE_E2E_LOCAL_REQUIRED=1``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from forge_dev.e2e_local import pki
from forge_dev.e2e_local.__main__ import table
from forge_dev.e2e_local.controlplane import TOOLS, ControlPlane, Tools, kubeconfig
from forge_dev.e2e_local.live_player import _merge_conditions
from forge_dev.e2e_local.procs import HarnessError, Proc, wait_for
from forge_dev.e2e_local.upgrade import next_version
from forge_dev.packaging import release

ROOT = Path(__file__).resolve().parents[2]


# --- units ---------------------------------------------------------------------------
def test_issued_certificate_chains_to_its_ca(tmp_path):
    ca = pki.CA.create("test-ca")
    crt, key = ca.issue("server", dns=("localhost",), ips=("127.0.0.1",), server=True)
    leaf = x509.load_pem_x509_certificate(crt)
    assert leaf.issuer == ca.cert.subject
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert leaf.not_valid_after_utc > dt.datetime.now(dt.UTC)
    # Python's TLS stack accepts the pair and the CA as a trust root.
    ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    (tmp_path / "c.pem").write_bytes(crt)
    (tmp_path / "k.pem").write_bytes(key)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")


def test_ca_round_trips_through_pem():
    ca = pki.CA.create("test-ca")
    again = pki.CA.load(ca.cert_pem, pki.key_pem(ca.key))
    crt, _ = again.issue("client", organization="system:masters", client=True)
    leaf = x509.load_pem_x509_certificate(crt)
    assert leaf.issuer == ca.cert.subject
    assert "O=system:masters" in leaf.subject.rfc4514_string()


def test_kubeconfig_embeds_everything():
    cfg = yaml.safe_load(kubeconfig("https://127.0.0.1:1", b"CA", b"CRT", b"KEY", "admin"))
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert cfg["users"][0]["user"]["client-key-data"] == "S0VZ"
    assert cfg["current-context"] == "local"


def test_missing_binaries_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no etcd on PATH either
    with pytest.raises(HarnessError, match=r"kube-apiserver.*make kube-tools"):
        Tools.find(tmp_path)


def test_wait_for_reports_a_dead_process(tmp_path):
    proc = Proc("false", ["sh", "-c", "echo boom; exit 3"], tmp_path / "false.log").start()
    with pytest.raises(HarnessError, match=r"false exited with code 3(.|\n)*boom"):
        wait_for("never", lambda: False, timeout=30, alive=proc.check_alive)


def test_wait_for_times_out_naming_what():
    with pytest.raises(HarnessError, match="waiting for the thing"):
        wait_for("the thing", lambda: False, timeout=0.3, interval=0.1)


def test_conditions_keep_their_transition_time():
    old = [{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "t0"}]
    new = [{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "t1"}]
    new[0]["observedGeneration"] = 2
    merged, changed = _merge_conditions(old, new)
    assert changed
    assert merged[0]["lastTransitionTime"] == "t0"
    assert merged[0]["observedGeneration"] == 2
    _, changed = _merge_conditions(merged, new)
    assert not changed


def test_summary_table_lines_up():
    out = table([("keda", 12.04, "ok", "Ready"), ("infrastructure-bundle", 3.0, "FAIL", "x")])
    lines = out.splitlines()
    assert lines[0].split() == ["scenario", "seconds", "result", "detail"]
    assert "12.0" in lines[2]
    assert lines[3].startswith("infrastructure-bundle")
    assert len({line.index("  ") for line in lines[2:]}) >= 1


# --- against the real control plane ----------------------------------------------------
def _tools_or_skip() -> Tools:
    try:
        tools = Tools.find()
        missing = [p for p in (TOOLS / "crossplane",) if not p.exists()]
        if missing:
            raise HarnessError(f"missing {missing[0]}: run `make tools`")
    except HarnessError as exc:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise
        pytest.skip(str(exc))
    return tools


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory):
    tools = _tools_or_skip()
    cp = ControlPlane(tmp_path_factory.mktemp("e2e-local"), tools)
    t = time.monotonic()
    cp.start()
    assert time.monotonic() - t < 120
    yield cp
    cp.stop()
    assert not any(p.running() for p in cp.procs.items)


@pytest.fixture(scope="module")
def kube(control_plane):
    from forge_dev.e2e_local.kube import Kube  # noqa: PLC0415 (the optional e2e extra)

    k = Kube(control_plane.kubeconfig, control_plane.workdir / "cache")
    yield k
    k.close()


@pytest.fixture(scope="module")
def crossplane(control_plane, kube):
    from forge_dev.e2e_local.crossplane import Crossplane  # noqa: PLC0415

    xp = Crossplane(control_plane, kube, control_plane.workdir).start()
    yield xp
    xp.stop()


def _wait(kube, what, check, timeout=60):
    return kube.wait(what, check, timeout=timeout)


@pytest.mark.e2e_local
def test_api_server_accepts_a_crd_and_serves_it(kube):
    from forge_dev.e2e_local.kube import is_true  # noqa: PLC0415

    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.e2e.forge.test"},
        "spec": {
            "group": "e2e.forge.test",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer", "maximum": 3}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kube.apply(crd)
    _wait(
        kube,
        "Widget CRD established",
        lambda: is_true(
            kube.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
            ),
            "Established",
        ),
    )
    w = {
        "apiVersion": "e2e.forge.test/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"size": 2, "unknown": 1},
    }
    _wait(kube, "Widget served", lambda: kube.served("e2e.forge.test/v1", "Widget"))
    got = kube.create(w)
    assert got["spec"] == {"size": 2}  # pruned by the server (an apply would refuse it)
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError  # noqa: PLC0415

    with pytest.raises(UnprocessibleEntityError, match=r"spec\.size"):
        kube.apply(w | {"spec": {"size": 4}})
    kube.delete("e2e.forge.test/v1", "Widget", "w", "default")


@pytest.mark.e2e_local
def test_controller_manager_collects_garbage_and_deletes_namespaces(kube):
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gc-test"}})
    owner = kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": "gc-test"},
        }
    )
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "child",
                "namespace": "gc-test",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        }
    )
    kube.delete("v1", "ConfigMap", "owner", "gc-test")
    _wait(
        kube,
        "the garbage collector to delete the child",
        lambda: kube.get("v1", "ConfigMap", "child", "gc-test") is None,
    )
    kube.delete("v1", "Namespace", "gc-test")
    _wait(
        kube,
        "the namespace controller to finish deleting gc-test",
        lambda: kube.get("v1", "Namespace", "gc-test") is None,
    )


@pytest.mark.e2e_local
def test_xrd_cel_rules_are_enforced_by_the_api_server(kube, crossplane):
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError  # noqa: PLC0415

    from forge_dev.e2e_local.kube import is_true, load_documents  # noqa: PLC0415

    (xrd,) = load_documents(ROOT / "xrds" / "kedas.yaml")
    kube.apply(xrd)
    _wait(
        kube,
        "the KEDA XRD established",
        lambda: is_true(
            kube.get(xrd["apiVersion"], xrd["kind"], xrd["metadata"]["name"]), "Established"
        ),
    )
    _wait(kube, "KEDA served", lambda: kube.served("forge.projectcatalyst.io/v1alpha1", "KEDA"))
    xr = {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": "KEDA",
        "metadata": {"name": "cel", "namespace": "default"},
        "spec": {"clusterName": "dev", "awsIdentity": {"source": "IRSA"}},
    }
    with pytest.raises(UnprocessibleEntityError, match="roleArn is required when source is IRSA"):
        kube.create(xr)
    xr["spec"]["awsIdentity"] = {"source": "PodIdentity"}
    created = kube.create(xr)
    assert created["spec"]["namespace"] == "keda"  # the XRD's default, applied by the server
    # A transition rule: only a real API server has the old object to compare with.
    with pytest.raises(UnprocessibleEntityError, match="is immutable"):
        kube.patch(created, {"spec": {"namespace": "elsewhere"}})


@pytest.mark.e2e_local
def test_usage_webhook_is_reached_and_blocks_deletion(kube, crossplane):
    from kubernetes.dynamic.exceptions import ApiException  # noqa: PLC0415

    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "used", "namespace": "default"},
        }
    )
    kube.apply(
        {
            "apiVersion": "protection.crossplane.io/v1beta1",
            "kind": "Usage",
            "metadata": {"name": "hold", "namespace": "default"},
            "spec": {
                "of": {"apiVersion": "v1", "kind": "ConfigMap", "resourceRef": {"name": "used"}},
                "reason": "held by the e2e-local test",
            },
        }
    )
    _wait(
        kube,
        "Crossplane to mark the ConfigMap in use",
        lambda: (
            (kube.get("v1", "ConfigMap", "used", "default")["metadata"].get("labels") or {}).get(
                "crossplane.io/in-use"
            )
            == "true"
        ),
    )
    with pytest.raises(ApiException, match="held by the e2e-local test"):
        kube.delete("v1", "ConfigMap", "used", "default")
    kube.delete("protection.crossplane.io/v1beta1", "Usage", "hold", "default")
    _wait(
        kube,
        "the Usage gone",
        lambda: kube.get("protection.crossplane.io/v1beta1", "Usage", "hold", "default") is None,
    )
    _wait(
        kube, "the ConfigMap deletable", lambda: kube.delete("v1", "ConfigMap", "used", "default")
    )


# --- packages: the real crossplane CLI and the local registry ----------------------------
def _cli_and_registry_or_skip() -> None:
    missing = [p for p in (TOOLS / "crossplane-cli", TOOLS / "forge-e2e-oci") if not p.exists()]
    if missing:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise HarnessError(f"missing {missing[0]}: run `make tools kube-tools`")
        pytest.skip(f"missing {missing[0]}: run `make tools kube-tools`")


def test_packages_are_built_and_pushed_by_the_real_crossplane_cli(tmp_path):
    _cli_and_registry_or_skip()
    from forge_dev.e2e_local.packages import Registry, build  # noqa: PLC0415 (the optional e2e extra)

    built = build(tmp_path, "v0.1.0")
    assert {(b.name, b.kind) for b in built.values()} == {
        ("function", "Function"),
        ("configuration-clusters", "Configuration"),
        ("configuration-infrastructure", "Configuration"),
    }
    assert all(b.file.stat().st_size > 0 for b in built.values())
    (tmp_path / "logs").mkdir()
    registry = Registry(tmp_path).start()
    try:
        ref = registry.push(built["configuration-clusters"], "v0.1.0")
        assert ref == (
            f"{registry.host}/input-output-hk/catalyst-forge/configuration-clusters:v0.1.0"
        )
        # The registry serves what the CLI pushed: the tag's manifest, an xpkg layer.
        req = urllib.request.Request(
            f"http://{registry.host}/v2/input-output-hk/catalyst-forge/"
            "configuration-clusters/manifests/v0.1.0",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            manifest = json.load(resp)
        annotations = [(layer.get("annotations") or {}) for layer in manifest["layers"]]
        assert {"io.crossplane.xpkg": "base"} in annotations
    finally:
        registry.stop()


def test_stand_ins_are_every_provider_our_configurations_depend_on():
    """Crossplane resolves the Configurations' dependencies from the local mirror: a
    stand-in for each provider they name but provider-kubernetes (its real package runs),
    at a version their constraint accepts, holding the CRD of every managed kind our
    compositions compose but provider-kubernetes's Object."""
    from forge.versions import PROVIDER_KUBERNETES  # noqa: PLC0415
    from forge_dev.e2e_local import standins  # noqa: PLC0415 (the optional e2e extra)
    from forge_dev.e2e_local.env import schema_root  # noqa: PLC0415
    from forge_dev.e2e_local.live_player import OBJECT, PLAYED  # noqa: PLC0415
    from forge_dev.packaging.semver import Version  # noqa: PLC0415

    built = {s.repository: s for s in standins.standins(schema_root() / "crds")}
    assert PROVIDER_KUBERNETES[0] not in built
    for package in ("configuration-clusters", "configuration-infrastructure"):
        meta = yaml.safe_load((ROOT / "package" / package / "crossplane.yaml").read_text())
        for dep in meta["spec"]["dependsOn"]:
            if dep["kind"] != "Provider" or dep["package"] == PROVIDER_KUBERNETES[0]:
                continue
            standin = built[dep["package"]]
            lowest = dep["version"].split(",")[0].removeprefix(">=").strip()
            assert Version.parse(standin.version) >= Version.parse(lowest), dep
    kinds = set()
    for standin in built.values():
        for rel in standin.crds:
            crd = yaml.safe_load((schema_root() / "crds" / rel).read_text())
            kinds.add((crd["spec"]["group"], crd["spec"]["names"]["kind"]))
    from forge_dev.simulate import aws  # noqa: PLC0415

    composed = {(p.api_version.split("/")[0], p.kind) for p in PLAYED if p is not OBJECT}
    composed |= {(api.split("/")[0], kind) for api, kind in aws.STATUS}
    assert composed <= kinds, composed - kinds


def test_upgrade_version_is_next_on_the_same_channel():
    for old, new in (
        ("v0.1.0-dev.61.g7ee0623.dirty", "v0.1.1-dev.61.g7ee0623.dirty"),
        ("v0.2.0", "v0.2.1"),
    ):
        assert next_version(old) == new
        assert release.channel(new) == release.channel(old)
        assert not release.check(new)


def _argocd_config(ca: pki.CA, client_ca: pki.CA, server_name: str) -> dict:
    import base64  # noqa: PLC0415

    crt, key = client_ca.issue("admin", organization="system:masters", client=True)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "tlsClientConfig": {
            "insecure": False,
            "caData": b64(ca.cert_pem),
            "certData": b64(crt),
            "keyData": b64(key),
            "serverName": server_name,
        }
    }


@pytest.fixture
def node_address():
    """The node's bridge and address, as e2e-local makes them (an endpoint may not be a
    loopback address, and tests reach nothing outside loopback and the node's ranges)."""
    from forge_dev.e2e_local.node import NODE_IP, Bridge, NodeTools  # noqa: PLC0415

    bridge = Bridge(NodeTools.find().ip).up()
    yield NODE_IP
    bridge.down()


@pytest.fixture
def vclusters(control_plane, kube, node_address, tmp_path):
    """The vCluster API servers of a test, all stopped and removed after it."""
    from forge_dev.e2e_local.vcluster_api import VClusterApis  # noqa: PLC0415

    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cluster-dev"}})
    apis = VClusterApis(
        control_plane.tools.apiserver, control_plane.etcd_url, node_address, tmp_path
    )
    yield apis
    apis.remove(kube, "cluster-dev", "dev")
    apis.stop()


def _serving(apis, kube, values: dict):
    return wait_for(
        "the vCluster's API server",
        lambda: apis.ensure(kube, "cluster-dev", "dev", values),
        timeout=90,
    )


@pytest.mark.e2e_local
def test_a_vclusters_api_is_a_real_api_server_its_secret_alone_reaches(
    control_plane, kube, vclusters
):
    """The API server a played vCluster gets: the Service and EndpointSlice that lead to
    it, mTLS both ways (the Secret's server name, a client certificate of the vCluster's
    CA), a store apart from the control plane's, and nothing left once its release is
    uninstalled. (No kube-proxy runs here: the test dials the endpoint.)"""
    from forge_dev.e2e_local import reach  # noqa: PLC0415
    from forge_dev.e2e_local.vcluster_api import count_prefix, etcd_prefix  # noqa: PLC0415

    etcd, prefix = control_plane.etcd_url, etcd_prefix("cluster-dev", "dev") + "/"
    values = {"controlPlane": {"proxy": {"extraSANs": ["dev.cluster-dev.svc"]}}}
    server = "https://dev.cluster-dev.svc"
    api = _serving(vclusters, kube, values)
    service = kube.get("v1", "Service", "dev", "cluster-dev")
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("https", 443)]
    endpoints = kube.get("discovery.k8s.io/v1", "EndpointSlice", "dev-e2e", "cluster-dev")
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "dev"
    assert endpoints["endpoints"][0]["addresses"] == [api.address]
    assert endpoints["ports"][0]["port"] == api.port
    dial = (api.address, api.port)

    config = _argocd_config(api.ca, api.ca, "dev.cluster-dev.svc")
    assert reach.get(server, config, "/version", dial)["gitVersion"].startswith("v1.")
    spaces = reach.get(server, config, "/api/v1/namespaces", dial)
    assert {"default", "kube-system"} <= {n["metadata"]["name"] for n in spaces["items"]}
    for name in ("kubernetes.default.svc", "dev.cluster-dev"):  # vCluster's names too
        reach.get(server, _argocd_config(api.ca, api.ca, name), "/version", dial)
    foreign = _argocd_config(api.ca, pki.CA.create("other"), "dev.cluster-dev.svc")
    with pytest.raises(HarnessError, match="HTTP 401"):
        reach.get(server, foreign, "/version", dial)
    with pytest.raises((ssl.SSLError, OSError)):  # a name the server is not
        reach.get(server, _argocd_config(api.ca, api.ca, "prod.cluster-prod.svc"), "/", dial)
    insecure = {"tlsClientConfig": config["tlsClientConfig"] | {"insecure": True}}
    with pytest.raises(HarnessError, match="insecure"):
        reach.get(server, insecure, "/version", dial)

    # Its own store: what is made in it is not in the control plane.
    only = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "only-in-dev"}}
    api.kube.apply(only)
    assert kube.get("v1", "Namespace", "only-in-dev") is None
    assert count_prefix(etcd, prefix) > 0

    assert vclusters.remove(kube, "cluster-dev", "dev")
    assert vclusters.get("cluster-dev", "dev") is None
    assert not api.proc
    assert not vclusters.remove(kube, "cluster-dev", "dev")
    assert count_prefix(etcd, prefix) == 0
    assert kube.get("v1", "Service", "dev", "cluster-dev") is None
    assert kube.get("discovery.k8s.io/v1", "EndpointSlice", "dev-e2e", "cluster-dev") is None


@pytest.mark.e2e_local
def test_a_vclusters_played_crossplane_installs_its_crds_and_packages(
    control_plane, kube, crossplane, vclusters
):
    """A Release of Crossplane into a vCluster leaves this control plane's Crossplane CRDs
    there; its played package manager makes a Function there Installed and Healthy, and
    leaves a Provider this control plane does not run (it cannot know its CRDs) alone."""
    from forge_dev.e2e_local.kube import is_true  # noqa: PLC0415

    api = _serving(vclusters, kube, {})
    assert vclusters.play_packages(kube) == []  # no Crossplane in it yet
    crds = vclusters.crossplane_crds(kube)
    groups = {c["spec"]["group"] for c in crds}
    assert {"pkg.crossplane.io", "apiextensions.crossplane.io"} <= groups
    assert not api.kube.served("pkg.crossplane.io/v1", "Provider")
    wait_for("Crossplane's CRDs", lambda: api.install_crossplane(crds), timeout=60)
    assert api.kube.get("v1", "Namespace", "crossplane-system") is not None
    packages = {
        "Provider": ("crossplane-contrib-provider-nop", "provider-nop:v0.4.0"),
        "Function": ("crossplane-contrib-function-auto-ready", "function-auto-ready:v0.5.0"),
    }
    for kind, (name, ref) in packages.items():
        api.kube.apply(
            {
                "apiVersion": "pkg.crossplane.io/v1",
                "kind": kind,
                "metadata": {"name": name},
                "spec": {"package": f"xpkg.crossplane.io/crossplane-contrib/{ref}"},
            }
        )
    played = wait_for(
        "the played package manager", lambda: vclusters.play_packages(kube), timeout=30
    )
    function, provider = packages["Function"][0], packages["Provider"][0]
    assert played == [f"vCluster cluster-dev/dev: Function {function} Installed and Healthy"]
    got = api.kube.get("pkg.crossplane.io/v1", "Function", function)
    assert is_true(got, "Installed") and is_true(got, "Healthy")
    assert not is_true(api.kube.get("pkg.crossplane.io/v1", "Provider", provider), "Healthy")
    assert kube.get("pkg.crossplane.io/v1", "Function", function) is None  # not here
