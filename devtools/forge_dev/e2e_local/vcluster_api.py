"""A vCluster's API served by a real kube-apiserver; the rest of vCluster is played.

Once the player sees a Release of the ``vcluster`` chart, it starts what the chart's
control plane serves, an API server, for real (``VClusterApis.ensure``):

- the pinned kube-apiserver (``make kube-tools``), storing in the control plane's etcd
  under a prefix of its own (``/vcluster/<namespace>/<release>``), which is removed when the
  release is uninstalled, as a vCluster's store goes with it;
- a CA of its own (the vCluster's), whose client certificates it accepts
  (``--client-ca-file``; vCluster exports an ``O=system:masters`` one) and RBAC;
- a serving certificate for the names vCluster gives its API (loft-sh/vcluster
  ``pkg/server/cert/cert.go``, ``GenAPIServerServingCerts`` and ``getExtraSANs``): the
  ``kubernetes.default.svc`` names, ``localhost`` and 127.0.0.1, the Service, the Service
  and namespace, ``*.nodes.vcluster.com``, its ClusterIP, the address it serves on (the
  pod's, there) and ``controlPlane.proxy.extraSANs``;
- the Service the chart creates (``<release>`` in the release's namespace, port 443
  ``https``), with an EndpointSlice to where this API server listens on the node's
  address: pods (provider-kubernetes) reach ``https://<release>.<namespace>.svc`` through
  cluster DNS and kube-proxy, as in a cluster.

Played: vCluster's syncer (nothing in a vCluster gets a pod), its controller manager and
scheduler, and what Helm releases install into it. Crossplane is one of those: a Release
of its chart into a vCluster gets Crossplane's CRDs and namespace there
(``install_crossplane``), and that Crossplane's package manager is played by
``play_packages``: a Function there is Installed and Healthy, and so is a Provider once
the CRDs its package installed on this control plane are Established there.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes.dynamic.exceptions import NotFoundError

from forge_dev.e2e_local import pki
from forge_dev.e2e_local.controlplane import apiserver_argv, kubeconfig, write_apiserver_certs
from forge_dev.e2e_local.kube import Kube, is_true, new_condition
from forge_dev.e2e_local.procs import Proc, free_port

# The vCluster's own Service range (virtual: nothing routes it).
SERVICE_CIDR = "10.96.0.0/24"
PORT_NAME = "https"
MANAGED_BY = "e2e.forge.projectcatalyst.io"
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
PKG = "pkg.crossplane.io/v1"
# The API groups of Crossplane's own CRDs (crossplane/crossplane cluster/crds).
CROSSPLANE_GROUPS = (
    "apiextensions.crossplane.io",
    "pkg.crossplane.io",
    "protection.crossplane.io",
    "ops.crossplane.io",
)
CROSSPLANE_NAMESPACE = "crossplane-system"
CLUSTER_DOMAIN = "cluster.local"
NODE_SUFFIX = "nodes.vcluster.com"  # vCluster's constants.NodeSuffix


def etcd_prefix(namespace: str, name: str) -> str:
    return f"/vcluster/{namespace}/{name}"


def serving_names(name: str, namespace: str, values: dict) -> tuple[str, ...]:
    """The DNS names vCluster puts in its API's serving certificate."""
    extra = ((values.get("controlPlane") or {}).get("proxy") or {}).get("extraSANs") or []
    defaults = (
        f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
        "kubernetes.default.svc",
        "kubernetes.default",
        "kubernetes",
        "localhost",
    )
    service = (name, f"{name}.{namespace}", f"*.{NODE_SUFFIX}")
    return tuple(dict.fromkeys((*defaults, *extra, *service)))


@dataclass
class VClusterApi:
    """One vCluster's kube-apiserver, its certificates and the Service reaching it."""

    name: str
    namespace: str
    workdir: Path
    address: str
    etcd_url: str
    ca: pki.CA = field(default_factory=lambda: pki.CA.create("vcluster-ca"))
    port: int = 0
    proc: Proc | None = None
    service_ip: str = ""
    admin: tuple[bytes, bytes] = (b"", b"")
    crossplane_installed: bool = False  # Crossplane's CRDs in it, Established
    _kube: Kube | None = None
    _ready: bool = False

    @property
    def url(self) -> str:
        """Where the harness reaches it: the node's address, as the EndpointSlice says."""
        return f"https://{self.address}:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def start(self, apiserver: Path, names: tuple[str, ...], service_ip: str) -> None:
        """Write its certificates and start it (``ready`` says when it serves)."""
        d = self.workdir / "pki"
        self.service_ip = service_ip
        self.port = free_port()
        write_apiserver_certs(d, self.ca, dns=names, ips=("127.0.0.1", service_ip, self.address))
        self.admin = self.ca.issue("vcluster-admin", organization="system:masters", client=True)
        pki.write(d / "admin.crt", self.admin[0])
        pki.write(d / "admin.key", self.admin[1], private=True)
        self.kubeconfig.write_text(
            kubeconfig(self.url, self.ca.cert_pem, *self.admin, f"vcluster-{self.name}")
        )
        argv = apiserver_argv(
            apiserver,
            etcd_url=self.etcd_url,
            address=self.address,
            port=self.port,
            certs=d,
            service_cidr=SERVICE_CIDR,
            extra=(
                f"--etcd-prefix={etcd_prefix(self.namespace, self.name)}",
                "--authorization-mode=RBAC",
                # Its own kubernetes Service's endpoints are vCluster's business (played).
                "--endpoint-reconciler-type=none",
            ),
        )
        self.proc = Proc(f"vcluster {self.namespace}/{self.name}", argv, self.workdir / "log")
        self.proc.start()

    def ready(self) -> bool:
        """Whether it answers ``/readyz`` (raises with its log if it died)."""
        if self._ready:
            return True
        if self.proc is None:
            return False  # stopped
        self.proc.check_alive()
        d = self.workdir / "pki"
        ctx = pki.client_context(d / "ca.crt", d / "admin.crt", d / "admin.key")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=5) as r:
                self._ready = r.read() == b"ok"
        except OSError:
            return False
        return self._ready

    @property
    def kube(self) -> Kube:
        """A client of this API as its admin."""
        if self._kube is None:
            self._kube = Kube(self.kubeconfig, self.workdir / "cache")
        return self._kube

    def stop(self) -> None:
        """Stop it and remove its store."""
        if self._kube is not None:
            self._kube.close()
            self._kube = None
        if self.proc is not None:
            self.proc.stop()
        self.proc = None
        delete_prefix(self.etcd_url, etcd_prefix(self.namespace, self.name) + "/")

    # --- the played Crossplane inside it ---------------------------------------------
    def install_crossplane(self, crds: list[dict]) -> bool:
        """What a Release of Crossplane's chart into this vCluster leaves there: its
        namespace and Crossplane's CRDs (``crds``), Established. False: not yet."""
        if not self.crossplane_installed:
            namespace = {"apiVersion": "v1", "kind": "Namespace"}
            self.kube.apply(namespace | {"metadata": {"name": CROSSPLANE_NAMESPACE}})
            self.crossplane_installed = self.install_crds(crds)
        return self.crossplane_installed

    def install_crds(self, crds: list[dict]) -> bool:
        """Apply ``crds`` here; whether every one is Established."""
        kube = self.kube
        for crd in crds:
            kube.apply(crd)
        return all(is_true(kube.get(*CRD, c["metadata"]["name"]), "Established") for c in crds)


def copy_of(crd: dict) -> dict:
    """A CRD as applied in another cluster: its name, labels and spec, without a
    conversion webhook (it would name a Service of this cluster)."""
    md = crd["metadata"]
    meta = {"name": md["name"]}
    if md.get("labels"):
        meta["labels"] = md["labels"]
    spec = {k: v for k, v in crd["spec"].items() if k != "conversion"}
    return {"apiVersion": CRD[0], "kind": CRD[1], "metadata": meta, "spec": spec}


def _etcd(etcd_url: str, call: str, prefix: str, **extra) -> dict:
    """A call of etcd's v3 JSON gateway on every key under ``prefix``."""

    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps({"key": b64(prefix), "range_end": b64(end), **extra}).encode()
    req = urllib.request.Request(f"{etcd_url}/v3/kv/{call}", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def delete_prefix(etcd_url: str, prefix: str) -> int:
    """Delete every etcd key under ``prefix``: how many there were."""
    return int(_etcd(etcd_url, "deleterange", prefix).get("deleted", 0))


def count_prefix(etcd_url: str, prefix: str) -> int:
    """How many etcd keys are under ``prefix``."""
    return int(_etcd(etcd_url, "range", prefix, count_only=True).get("count", 0))


@dataclass
class VClusterApis:
    """The API server of every played vCluster of one run, by (namespace, release).

    The player's thread starts and removes them; the scenario's thread reads them and
    the environment stops them all: every access holds ``_lock``, and once stopped none
    starts again."""

    apiserver: Path
    etcd_url: str
    address: str
    workdir: Path
    apis: dict[tuple[str, str], VClusterApi] = field(default_factory=dict)
    # This control plane's CRDs of Crossplane, and of each (Provider, revision), read once.
    _crossplane_crds: list[dict] | None = None
    _provider_crds: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stopped: bool = False

    def get(self, namespace: str, name: str) -> VClusterApi | None:
        with self._lock:
            return self.apis.get((namespace, name))

    def ensure(self, host: Kube, namespace: str, name: str, values: dict) -> VClusterApi | None:
        """The vCluster's API, started (with its Service) on first call; None until it
        serves, or once the run is stopping."""
        with self._lock:
            if self._stopped:
                return None
            api = self.apis.get((namespace, name))
            if api is None:
                service = _service(host, namespace, name)
                api = VClusterApi(
                    name,
                    namespace,
                    self.workdir / f"vcluster-{namespace}-{name}",
                    self.address,
                    self.etcd_url,
                    ca=pki.CA.create(f"vcluster-{name}-ca"),
                )
                api.start(self.apiserver, serving_names(name, namespace, values), service)
                try:
                    _endpoints(host, namespace, name, self.address, api.port)
                except BaseException:
                    api.stop()
                    raise
                self.apis[(namespace, name)] = api
        return api if api.ready() else None

    def remove(self, host: Kube, namespace: str, name: str) -> bool:
        """The release uninstalled: its API server stopped, its store, Service and
        kubeconfig Secret gone (a later install is a new vCluster). False: none ran."""
        with self._lock:
            api = self.apis.pop((namespace, name), None)
            if api is not None:
                api.stop()
        for kind, api_version, obj in (
            ("EndpointSlice", "discovery.k8s.io/v1", f"{name}-e2e"),
            ("Service", "v1", name),
            ("Secret", "v1", f"vc-{name}"),
        ):
            with contextlib.suppress(NotFoundError):
                host.delete(api_version, kind, obj, namespace)
        return api is not None

    def reached_through(self, config: dict | None) -> VClusterApi | None:
        """The served vCluster whose kubeconfig Secret (``vc-<release>``) a
        ProviderConfig reads, if any."""
        creds = ((config or {}).get("spec") or {}).get("credentials") or {}
        ref = creds.get("secretRef") or {}
        if creds.get("source") != "Secret" or not str(ref.get("name", "")).startswith("vc-"):
            return None
        namespace = ref.get("namespace") or config["metadata"].get("namespace")
        api = self.get(namespace, ref["name"].removeprefix("vc-"))
        return api if api is not None and api.ready() else None

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            apis, self.apis = list(self.apis.values()), {}
        for api in apis:
            with contextlib.suppress(Exception):
                api.stop()

    def check_alive(self) -> None:
        with self._lock:
            procs = [api.proc for api in self.apis.values() if api.proc is not None]
        for proc in procs:
            proc.check_alive()

    # --- what the played Crossplane installs, read from this control plane ------------
    def crossplane_crds(self, host: Kube) -> list[dict]:
        """Crossplane's own CRDs, as this control plane's Crossplane installed them."""
        if self._crossplane_crds is None:
            self._crossplane_crds = [
                copy_of(c)
                for c in host.list(*CRD)
                if c["spec"]["group"] in CROSSPLANE_GROUPS
                and not c["metadata"].get("ownerReferences")
            ]
        return self._crossplane_crds

    def provider_crds(self, host: Kube, provider: str) -> list[dict]:
        """The CRDs Provider ``provider``'s package installed on this control plane (owned
        by its current revision); none when it is not installed here."""
        installed = host.get(PKG, "Provider", provider) or {}
        revision = (installed.get("status") or {}).get("currentRevision")
        if not revision:
            return []
        if (provider, revision) not in self._provider_crds:
            self._provider_crds[(provider, revision)] = [
                copy_of(c)
                for c in host.list(*CRD)
                if any(
                    o.get("kind") == "ProviderRevision" and o.get("name") == revision
                    for o in c["metadata"].get("ownerReferences") or []
                )
            ]
        return self._provider_crds[(provider, revision)]

    def play_packages(self, host: Kube) -> list[str]:
        """The played Crossplane of each vCluster it was installed into: every Function
        there Installed and Healthy, and every Provider this control plane also runs,
        once its CRDs (those its package installed here) are Established there. What it
        did, for the log."""
        done = []
        with self._lock:
            apis = list(self.apis.values())
        for api in apis:
            if not api.crossplane_installed:
                continue
            for kind in ("Provider", "Function"):
                for pkg in api.kube.list(PKG, kind):
                    if is_true(pkg, "Installed") and is_true(pkg, "Healthy"):
                        continue
                    if kind == "Provider":
                        crds = self.provider_crds(host, pkg["metadata"]["name"])
                        if not (crds and api.install_crds(crds)):
                            continue  # unknown here, or not Established yet: next pass
                    _healthy(api.kube, pkg)
                    done.append(
                        f"vCluster {api.namespace}/{api.name}: {kind} "
                        f"{pkg['metadata']['name']} Installed and Healthy"
                    )
        return done


def _healthy(kube: Kube, pkg: dict) -> None:
    """A package's status as Crossplane's package manager writes it once it runs."""
    gen = pkg["metadata"].get("generation") or 1
    kube.patch(
        pkg,
        {
            "status": {
                "conditions": [
                    new_condition("Installed", "True", "ActivePackageRevision", gen),
                    new_condition("Healthy", "True", "HealthyPackageRevision", gen),
                ],
                "currentIdentifier": pkg["spec"]["package"],
            }
        },
        subresource="status",
    )


def _service(host: Kube, namespace: str, name: str) -> str:
    """The Service the vcluster chart creates for its API; its ClusterIP."""
    service = host.get("v1", "Service", name, namespace) or host.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": "vcluster", "release": name},
            },
            "spec": {
                "type": "ClusterIP",
                "ports": [{"name": PORT_NAME, "port": 443, "targetPort": 8443, "protocol": "TCP"}],
            },
        }
    )
    return service["spec"]["clusterIP"]


def _endpoints(host: Kube, namespace: str, name: str, address: str, port: int) -> None:
    """Where the Service leads: this vCluster's API server on the node's address."""
    host.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-e2e",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
        }
    )


__all__ = ["VClusterApi", "VClusterApis", "count_prefix", "delete_prefix", "serving_names"]
