"""forge.teardown against a real kube-apiserver, with the RBAC the Cluster composes.

A stand-in for the new cluster's Crossplane removes ``composite.apiextensions.crossplane.io``
from composite resources being deleted (after deleting what they composed, in real life),
and a stand-in for the AWS Load Balancer Controller removes ``service.k8s.aws/resources``
and ``ingress.k8s.aws/resources`` from objects being deleted (after deleting their load
balancers); both record, in one list and in order, whether the gate was still held then.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from forge import teardown
from forge.composers.eks import teardown as gate_objects
from forge.versions import API_VERSION
from forge_dev.e2e_local.controlplane import ControlPlane, Tools
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.schemas import crd_for_xrd

SERVICE_FINALIZER = "service.k8s.aws/resources"
INGRESS_FINALIZER = "ingress.k8s.aws/resources"
COMPOSITE_FINALIZER = "composite.apiextensions.crossplane.io"
XRDS = Path(__file__).resolve().parents[2] / "xrds"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        tools = Tools.find()
    except HarnessError as exc:
        if os.environ.get("FORGE_E2E_LOCAL_REQUIRED") == "1":
            raise
        pytest.skip(str(exc))
    cp = ControlPlane(tmp_path_factory.mktemp("teardown"), tools).start()
    from forge_dev.e2e_local.kube import Kube  # noqa: PLC0415 (the optional e2e extra)

    kube = Kube(cp.kubeconfig, cp.workdir / "cache")
    yield cp, kube
    kube.close()
    cp.stop()


def _service(name: str, kind: str, finalizers: list[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "finalizers": finalizers},
        "spec": {"type": kind, "ports": [{"port": 80}], "selector": {"app": name}},
    }


def _ingress(name: str) -> dict:
    backend = {"service": {"name": "gateway", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", "finalizers": [INGRESS_FINALIZER]},
        "spec": {"defaultBackend": backend},
    }


def _crd(xrd: Path) -> dict:
    """The CRD Crossplane creates for ``xrd``, as the API server is given it."""
    crd = crd_for_xrd(yaml.safe_load(xrd.read_text()))
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd["metadata"]["name"]},
        "spec": crd["spec"],
    }


def _composite(kind: str, name: str, namespace: str | None = None) -> dict:
    """An XR as Argo CD applies it, held by Crossplane's finalizer."""
    meta = {"name": name, "finalizers": [COMPOSITE_FINALIZER]}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": {}}


def _api(cp: ControlPlane, kube, tmp_path) -> teardown.HttpApi:
    """The controller's client, as in the pod: a token of its ServiceAccount and the CA."""
    from kubernetes.client import CoreV1Api  # noqa: PLC0415

    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    token = CoreV1Api(kube.api).create_namespaced_service_account_token(
        gate_objects.NAME, teardown.GATE_NAMESPACE, request
    )
    token_file = tmp_path / "token"
    token_file.write_text(token.status.token)
    return teardown.HttpApi(cp.url, str(token_file), str(cp.pki_dir / "ca.crt"), timeout=5)


def _lb_controller(kube, stop: threading.Event, seen: list[tuple[str, bool]]) -> None:
    """Release what is being deleted; note whether the gate still existed then."""
    while not stop.is_set():
        for api_version, kind, finalizer in (
            ("v1", "Service", SERVICE_FINALIZER),
            ("networking.k8s.io/v1", "Ingress", INGRESS_FINALIZER),
        ):
            for item in kube.list(api_version, kind, "default"):
                meta = item["metadata"]
                if meta.get("deletionTimestamp") and finalizer in (meta.get("finalizers") or []):
                    held = kube.get("v1", "ConfigMap", teardown.GATE_NAME, "kube-system")
                    seen.append((f"{kind}/{meta['name']}", held is not None))
                    rest = [f for f in meta["finalizers"] if f != finalizer]
                    kube.patch(item, {"metadata": {"finalizers": rest or None}})
        stop.wait(0.2)


def _crossplane(kube, stop: threading.Event, seen: list[tuple[str, bool]]) -> None:
    """Release composites being deleted; note whether the gate still existed and no
    load-balanced object was being deleted yet."""
    while not stop.is_set():
        for item in kube.list(API_VERSION, "Istio") + kube.list(API_VERSION, "PlatformCluster"):
            meta = item["metadata"]
            if meta.get("deletionTimestamp") and COMPOSITE_FINALIZER in (
                meta.get("finalizers") or []
            ):
                held = kube.get("v1", "ConfigMap", teardown.GATE_NAME, "kube-system")
                gateway = kube.get("v1", "Service", "gateway", "default")
                untouched = gateway is not None and "deletionTimestamp" not in gateway["metadata"]
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                seen.append((f"{item['kind']}/{where}{meta['name']}", held is not None))
                seen.append(("gateway untouched", untouched))
                kube.patch(item, {"metadata": {"finalizers": None}})
        stop.wait(0.2)


def test_composites_then_load_balancers_then_the_gate(cluster, tmp_path, monkeypatch):
    cp, kube = cluster
    monkeypatch.setattr(teardown, "PAGE_SIZE", 1)  # every list over pages, the server's tokens
    for key, manifest in gate_objects.objects("unused").items():
        if key != "teardown-deployment":
            kube.apply(manifest)
    for xrd, kind in (("istios", "Istio"), ("platformclusters", "PlatformCluster")):
        kube.apply(_crd(XRDS / f"{xrd}.yaml"))
        kube.wait(f"{kind} served", lambda k=kind: kube.served(API_VERSION, k), timeout=30)
    kube.create(_composite("Istio", "mesh", "default"))
    kube.create(_composite("Istio", "other", "kube-public"))
    kube.create(_composite("PlatformCluster", "platform"))  # cluster-scoped
    kube.create(_service("gateway", "LoadBalancer", [SERVICE_FINALIZER]))
    kube.create(_service("internal", "ClusterIP", []))
    kube.create(_ingress("web"))
    api = _api(cp, kube, tmp_path)

    # Nothing happens while the gate stands (a restart of the controller changes nothing).
    for _ in range(3):
        assert teardown.step(api) is False
    gateway = kube.get("v1", "Service", "gateway", "default")
    assert "deletionTimestamp" not in gateway["metadata"]
    assert "deletionTimestamp" not in kube.get(API_VERSION, "Istio", "mesh", "default")["metadata"]

    stop, seen = threading.Event(), []
    standins = [
        threading.Thread(target=target, args=(kube, stop, seen), daemon=True)
        for target in (_crossplane, _lb_controller)
    ]
    for standin in standins:
        standin.start()
    controller = threading.Thread(target=teardown.run, args=(api,), kwargs={"interval": 0.2})
    controller.start()
    try:
        assert kube.delete("v1", "ConfigMap", teardown.GATE_NAME, "kube-system")
        controller.join(timeout=60)
        assert not controller.is_alive(), "the gate was never released"
    finally:
        stop.set()
        for standin in standins:
            standin.join(timeout=10)
    deadline = time.monotonic() + 10
    while kube.get("v1", "ConfigMap", teardown.GATE_NAME, "kube-system") is not None:
        assert time.monotonic() < deadline, "the gate is still there"
        time.sleep(0.2)
    # Every composite first, while no load balancer was being deleted; the gate last.
    assert sorted(seen[:6]) == [
        ("Istio/default/mesh", True),
        ("Istio/kube-public/other", True),
        ("PlatformCluster/platform", True),
        ("gateway untouched", True),
        ("gateway untouched", True),
        ("gateway untouched", True),
    ]
    assert sorted(seen[6:]) == [("Ingress/web", True), ("Service/gateway", True)]
    assert kube.list(API_VERSION, "Istio") == kube.list(API_VERSION, "PlatformCluster") == []
    assert kube.get("v1", "Service", "gateway", "default") is None
    assert kube.get("networking.k8s.io/v1", "Ingress", "web", "default") is None
    assert kube.get("v1", "Service", "internal", "default") is not None  # not load-balanced


def test_a_pass_logs_names_only(caplog):
    """What the controller logs: the objects it deletes and waits for, nothing else."""
    from forge_dev.e2e_local.eks_world import PlayedCluster, service_path  # noqa: PLC0415

    inside = PlayedCluster()
    inside.create(teardown.gate_path(), gate_objects.gate())
    path = service_path("istio-ingress", "gateway")
    inside.create(
        path,
        {
            "metadata": {
                "name": "gateway",
                "namespace": "istio-ingress",
                "finalizers": [SERVICE_FINALIZER],
            },
            "spec": {"type": "LoadBalancer"},
        },
    )
    inside.delete(teardown.gate_path())
    with caplog.at_level("INFO", logger="forge.teardown"):
        assert teardown.step(inside) is False
    assert "deleting services istio-ingress/gateway" in caplog.text
    assert "waiting for 1 load-balanced object(s) to be gone" in caplog.text
    inside.objects[path]["metadata"]["finalizers"] = []
    inside._finish(path)
    assert teardown.step(inside) is True
    assert teardown.gate_path() not in inside.objects
