"""The Kubernetes control plane as local processes: etcd, kube-apiserver (secure port
only, a throwaway CA, service-account keys, an admin kubeconfig, the Node authorizer for
the e2e node's kubelet) and kube-controller-manager (garbage collector, namespace
controller, service accounts, Deployments, EndpointSlices, node lifecycle). Everything
listens on 127.0.0.1, except the API server when given another ``address`` (e2e-local
gives it the node's bridge address, so that pods reach it through the ``kubernetes``
Service).

The node that runs pods is node.py's. The binaries are the ones ``make kube-tools`` builds
into ``.cache/tools`` (etcd may also be Debian's).
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from forge_dev.e2e_local import pki
from forge_dev.e2e_local.procs import HarnessError, Proc, Procs, free_port, wait_for
from forge_dev.paths import ROOT

TOOLS = ROOT / ".cache" / "tools"

# What kube-controller-manager runs: what deletion needs (garbage collection, namespace
# deletion) and what those need (service accounts and their tokens, for
# --use-service-account-credentials; the root CA ConfigMap every namespace gets); what
# Crossplane's package runtime needs (its Deployments' ReplicaSets and pods, the
# EndpointSlices of its headless Services, which cluster DNS answers from); the node
# lifecycle controller (it lifts the not-ready taint the API server's TaintNodesByCondition
# admission puts on a new node).
# The Service ClusterIP range; the ``kubernetes`` Service gets its first address.
SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"

CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "node-lifecycle-controller",
)


@dataclass(frozen=True)
class Tools:
    etcd: Path
    apiserver: Path
    controller_manager: Path

    @classmethod
    def find(cls, tools: Path = TOOLS) -> Tools:
        """The binaries, or an error naming each missing one and how to build it."""
        etcd = tools / "etcd"
        if not etcd.exists() and shutil.which("etcd"):
            etcd = Path(shutil.which("etcd"))
        found = cls(etcd, tools / "kube-apiserver", tools / "kube-controller-manager")
        missing = [str(p) for p in (found.etcd, found.apiserver, found.controller_manager)]
        missing = [p for p in missing if not Path(p).exists()]
        if missing:
            raise HarnessError(f"missing {', '.join(missing)}: run `make kube-tools`")
        return found


def write_apiserver_certs(
    certs: Path, ca: pki.CA, *, dns: tuple[str, ...], ips: tuple[str, ...]
) -> None:
    """The files ``apiserver_argv`` names in ``certs``: the CA, a serving certificate for
    ``dns`` and ``ips``, and a service-account key pair."""
    pki.write(certs / "ca.crt", ca.cert_pem)
    crt, key = ca.issue("kube-apiserver", dns=dns, ips=tuple(dict.fromkeys(ips)), server=True)
    pki.write(certs / "apiserver.crt", crt)
    pki.write(certs / "apiserver.key", key, private=True)
    sa_key, sa_pub = pki.service_account_keys()
    pki.write(certs / "sa.key", sa_key, private=True)
    pki.write(certs / "sa.pub", sa_pub)


def apiserver_argv(
    binary: Path,
    *,
    etcd_url: str,
    address: str,
    port: int,
    certs: Path,
    service_cidr: str,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """A kube-apiserver serving on ``address:port`` from ``etcd_url``, with the files of
    ``certs``: ``apiserver.crt``/``.key`` (serving), ``ca.crt`` (client CA), ``sa.key``/
    ``.pub`` (service-account tokens); ``extra`` flags (authorization, admission, prefix)."""
    return [
        str(binary),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={port}",
        f"--cert-dir={certs}",
        f"--tls-cert-file={certs / 'apiserver.crt'}",
        f"--tls-private-key-file={certs / 'apiserver.key'}",
        f"--client-ca-file={certs / 'ca.crt'}",
        f"--service-account-key-file={certs / 'sa.pub'}",
        f"--service-account-signing-key-file={certs / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-cluster-ip-range={service_cidr}",
        "--profiling=false",
        "--v=1",
        *extra,
    ]


def kubeconfig(server: str, ca: bytes, cert: bytes, key: bytes, user: str) -> str:
    """A kubeconfig with everything embedded (JSON is YAML)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": server, "certificate-authority-data": b64(ca)},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
                }
            ],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
            "current-context": "local",
        },
        indent=2,
    )


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager in ``workdir``."""

    def __init__(
        self, workdir: Path, tools: Tools | None = None, *, address: str = "127.0.0.1"
    ) -> None:
        self.workdir = workdir
        self.address = address  # where the API server listens and what it advertises
        self.tools = tools or Tools.find()
        self.procs = Procs()
        self.pki_dir = workdir / "pki"
        self.ca: pki.CA | None = None
        self.port = 0
        self.kubeconfig = workdir / "admin.kubeconfig"
        self._admin: tuple[Path, Path] | None = None
        self.etcd_url = ""

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    # --- certificates -----------------------------------------------------------------
    def _write_pki(self) -> None:
        d = self.pki_dir
        self.ca = ca = pki.CA.create("forge-e2e-kubernetes-ca")
        write_apiserver_certs(
            d,
            ca,
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ips=("127.0.0.1", self.address, KUBERNETES_SERVICE_IP),
        )
        crt, key = ca.issue("forge-e2e-admin", organization="system:masters", client=True)
        self._admin = (
            pki.write(d / "admin.crt", crt),
            pki.write(d / "admin.key", key, private=True),
        )
        self.kubeconfig.write_text(kubeconfig(self.url, ca.cert_pem, crt, key, "admin"))
        crt, key = ca.issue("system:kube-controller-manager", client=True)
        (self.workdir / "controller-manager.kubeconfig").write_text(
            kubeconfig(self.url, ca.cert_pem, crt, key, "kube-controller-manager")
        )

    # --- processes --------------------------------------------------------------------
    def start(self, timeout: float = 120) -> ControlPlane:
        """Start all three and wait until the API server is ready and the controller
        manager healthy. On failure everything started is stopped again."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        logs = self.workdir / "logs"
        self.port = free_port()
        self._write_pki()
        d = self.pki_dir

        etcd_client, etcd_peer = free_port(), free_port()
        self.etcd_url = etcd_url = f"http://127.0.0.1:{etcd_client}"
        self.procs.start(
            Proc(
                "etcd",
                [
                    str(self.tools.etcd),
                    "--name=forge-e2e",
                    f"--data-dir={self.workdir / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                    f"--initial-cluster=forge-e2e=http://127.0.0.1:{etcd_peer}",
                    "--initial-cluster-state=new",
                    "--logger=zap",
                    "--log-level=warn",
                    # A test cluster: nothing here must survive a power cut.
                    "--unsafe-no-fsync",
                ],
                logs / "etcd.log",
            )
        )
        wait_for(
            "etcd /health",
            lambda: _get(f"{etcd_url}/health").get("health") == "true",
            timeout=30,
            alive=self.procs.check_alive,
        )

        self.procs.start(
            Proc(
                "kube-apiserver",
                apiserver_argv(
                    self.tools.apiserver,
                    etcd_url=etcd_url,
                    address=self.address,
                    port=self.port,
                    certs=d,
                    service_cidr=SERVICE_CIDR,
                    extra=(
                        "--authorization-mode=Node,RBAC",
                        "--enable-admission-plugins=NodeRestriction",
                        "--allow-privileged=true",
                    ),
                ),
                logs / "kube-apiserver.log",
            )
        )
        wait_for(
            f"kube-apiserver /readyz on {self.url}",
            lambda: self.get_raw("/readyz") == "ok",
            timeout=timeout,
            alive=self.procs.check_alive,
        )

        kcm_port = free_port()
        self.procs.start(
            Proc(
                "kube-controller-manager",
                [
                    str(self.tools.controller_manager),
                    f"--kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                    f"--authentication-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                    f"--authorization-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={kcm_port}",
                    f"--cert-dir={self.workdir / 'controller-manager-certs'}",
                    f"--controllers={','.join(CONTROLLERS)}",
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={d / 'sa.key'}",
                    f"--root-ca-file={d / 'ca.crt'}",
                    "--leader-elect=false",
                    "--v=1",
                ],
                logs / "kube-controller-manager.log",
            )
        )
        wait_for(
            "kube-controller-manager /healthz",
            lambda: _get_text(f"https://127.0.0.1:{kcm_port}/healthz", insecure=True) == "ok",
            timeout=60,
            alive=self.procs.check_alive,
        )

    def stop(self) -> None:
        self.procs.stop_all()

    def check_alive(self) -> None:
        self.procs.check_alive()

    # --- raw HTTPS (readiness) ----------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        assert self._admin is not None
        return pki.client_context(self.pki_dir / "ca.crt", *self._admin)

    def get_raw(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.url}{path}", context=self._context(), timeout=5) as r:
            return r.read().decode()


def _get_text(url: str, *, insecure: bool = False) -> str:
    ctx = None
    if insecure:  # kube-controller-manager's self-signed health endpoint, on 127.0.0.1
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
        return r.read().decode()


def _get(url: str) -> dict:
    return json.loads(_get_text(url))


__all__ = [
    "CONTROLLERS",
    "KUBERNETES_SERVICE_IP",
    "SERVICE_CIDR",
    "ControlPlane",
    "HarnessError",
    "Tools",
    "apiserver_argv",
    "kubeconfig",
    "write_apiserver_certs",
]
