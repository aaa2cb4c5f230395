"""Crossplane core, the binary ``make tools`` builds, run out of cluster against the local
API server: ``crossplane core init`` then ``crossplane core start``, as the Helm chart's
init container and main container run them, with three differences a process on
127.0.0.1 needs:

- the webhook "Service" is ``localhost``: init issues the webhook serving certificate for
  ``localhost`` (``DNSNamesForService``) from its own CA, and the harness rewrites the
  ``crossplane-no-usages`` ValidatingWebhookConfiguration from that Service reference to
  the URL ``https://localhost:<port>/validate-no-usages`` (same path, same CA bundle);
- the TLS Secrets init writes (``crossplane-tls-server``, ``crossplane-tls-client``) are
  copied to directories, where the chart mounts them as volumes;
- its resolver reads the e2e node's ``resolv.conf`` (cluster DNS): Crossplane runs in a
  mount namespace of its own where that file is bind-mounted on ``/etc/resolv.conf`` (Go's
  resolver reads only that path), so the endpoint its default package runtime gives a
  Function, ``dns:///<service>.<namespace>:9443`` for a headless Service, resolves to the
  function's pod IPs as it does in a cluster.

Crossplane authenticates as the control plane's admin (no service account token outside
a pod), so its RBAC is not what the chart grants.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from forge_dev.e2e_local.controlplane import ROOT, TOOLS, ControlPlane
from forge_dev.e2e_local.kube import Kube
from forge_dev.e2e_local.procs import HarnessError, Proc, Procs, free_port

NAMESPACE = "crossplane-system"
SERVICE_ACCOUNT = "crossplane"
CA_SECRET = "crossplane-root-ca"
SERVER_SECRET = "crossplane-tls-server"
CLIENT_SECRET = "crossplane-tls-client"
USAGE_WEBHOOK_CONFIG = "crossplane-no-usages"
CORE_MODULE = "github.com/crossplane/crossplane/v2"

# The one flag that differs from the chart's defaults. With its default burst (100 watch
# events), creating a Cluster or PlatformCluster opens the XR's watch circuit breaker
# within a second (each write to a composed resource is counted many times over), and
# with realtime compositions there is no polling: the XR then waits for a later watch
# event, or the hour-long sync, before it sees its resources ready. Measured with
# v2.3.4: a vCluster Cluster Ready after 69 s in one run, never within 300 s in another.
# A burst of 2000 was still exhausted over the EKS Cluster's 94 resources (the breaker
# opened seconds after Ready, and a node group added then was never composed), so the
# bucket is made large enough, and refilled fast enough, that the breaker never opens
# here: the scenarios test composition, not the breaker
# (docs/decisions/0002-circuit-breaker-burst.md).
CIRCUIT_BREAKER = ("--circuit-breaker-burst=100000", "--circuit-breaker-refill-rate=1000")


def core_module_dir() -> Path:
    """Crossplane core's module directory (its ``cluster/crds`` and
    ``cluster/webhookconfigurations`` are what the chart ships to ``/crds`` and
    ``/webhookconfigurations``), at the version ``tools/go.mod`` pins."""
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", CORE_MODULE],
        cwd=ROOT / "tools",
        capture_output=True,
        text=True,
        check=False,
    )
    path = Path(out.stdout.strip())
    if out.returncode != 0 or not (path / "cluster" / "crds").is_dir():
        raise HarnessError(
            f"cannot find {CORE_MODULE}'s module directory (go list -m: {out.stderr.strip()}): "
            "run `make tools`"
        )
    return path


class Crossplane:
    """``crossplane core init`` + ``crossplane core start`` against ``cp``."""

    def __init__(
        self,
        cp: ControlPlane,
        kube: Kube,
        workdir: Path,
        resolv_conf: Path | None = None,
        binary: Path | None = None,
    ):
        self.cp = cp
        self.resolv_conf = resolv_conf
        self.kube = kube
        self.workdir = workdir
        self.binary = binary or TOOLS / "crossplane"
        self.procs = Procs()
        self.webhook_port = 0
        self.health_port = 0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env["KUBECONFIG"] = str(self.cp.kubeconfig)
        return env

    def start(self, timeout: float = 120) -> Crossplane:
        if not self.binary.exists():
            raise HarnessError(f"missing {self.binary}: run `make tools`")
        try:
            self._init(timeout)
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _init(self, timeout: float) -> None:
        module = core_module_dir()
        self.webhook_port = free_port()
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        # The chart's ServiceAccount: the package runtime copies its image pull secrets
        # into every package's Deployment, and fails when it does not exist.
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE},
            }
        )
        env = self._env() | {
            "POD_NAMESPACE": NAMESPACE,
            "POD_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
            "CRDS_PATH": str(module / "cluster" / "crds"),
            "WEBHOOK_CONFIGS_PATH": str(module / "cluster" / "webhookconfigurations"),
            "ENABLE_WEBHOOKS": "true",
            "WEBHOOK_SERVICE_NAME": "localhost",
            "WEBHOOK_SERVICE_NAMESPACE": NAMESPACE,
            "WEBHOOK_SERVICE_PORT": str(self.webhook_port),
            "TLS_CA_SECRET_NAME": CA_SECRET,
            "TLS_SERVER_SECRET_NAME": SERVER_SECRET,
            "TLS_CLIENT_SECRET_NAME": CLIENT_SECRET,
        }
        log = self.workdir / "logs" / "crossplane-init.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # In a cluster the kubelet restarts a failed init container: the first attempt
        # fails when the CRDs it has just created are not established yet.
        for attempt in range(1, 6):
            with log.open("ab") as out:
                rc = subprocess.run(
                    [str(self.binary), "core", "init"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                ).returncode
            if rc == 0:
                break
            time.sleep(attempt)
        else:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise HarnessError(f"crossplane core init exited {rc} five times; {log}:\n{tail}")
        self._webhooks_to_url()
        self._write_certs()

    def _webhooks_to_url(self) -> None:
        """The Service reference init wrote, as the URL a process on 127.0.0.1 serves."""
        vwc = self.kube.get(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            USAGE_WEBHOOK_CONFIG,
        )
        if vwc is None:
            raise HarnessError(f"crossplane core init wrote no {USAGE_WEBHOOK_CONFIG} webhook")
        for hook in vwc["webhooks"]:
            cc = hook["clientConfig"]
            svc = cc.pop("service")
            cc["url"] = f"https://{svc['name']}:{svc['port']}{svc.get('path') or '/'}"
        vwc.pop("status", None)
        # A replace, so that the Service reference is gone (an apply would merge it).
        self.kube.resource(vwc["apiVersion"], vwc["kind"]).replace(body=vwc)

    def _secret(self, name: str) -> dict[str, bytes]:
        s = self.kube.get("v1", "Secret", name, NAMESPACE)
        if s is None:
            raise HarnessError(f"crossplane core init wrote no Secret {NAMESPACE}/{name}")
        return {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}

    def _write_certs(self) -> None:
        for secret, sub in ((SERVER_SECRET, "server"), (CLIENT_SECRET, "client")):
            d = self.workdir / "tls" / sub
            d.mkdir(parents=True, exist_ok=True)
            for key, value in self._secret(secret).items():
                (d / key).write_bytes(value)
                (d / key).chmod(0o600)

    def root_ca(self) -> tuple[bytes, bytes]:
        """Crossplane's own CA (certificate, key): it signs what Crossplane trusts."""
        data = self._secret(CA_SECRET)
        return data["tls.crt"], data["tls.key"]

    def _start(self, timeout: float) -> None:
        self.health_port = free_port()
        tls = self.workdir / "tls"
        for cache in ("xpkg-cache", "xfn-cache"):  # the chart's emptyDir volumes
            (self.workdir / cache).mkdir(parents=True, exist_ok=True)
        self.procs.start(
            Proc(
                "crossplane",
                [
                    *(in_resolver_namespace(self.resolv_conf) if self.resolv_conf else ()),
                    str(self.binary),
                    "core",
                    "start",
                    f"--namespace={NAMESPACE}",
                    f"--xpkg-cache-dir={self.workdir / 'xpkg-cache'}",
                    f"--xfn-cache-dir={self.workdir / 'xfn-cache'}",
                    "--enable-webhooks",
                    f"--webhook-port={self.webhook_port}",
                    f"--metrics-port={free_port()}",
                    f"--health-probe-port={self.health_port}",
                    f"--tls-server-secret-name={SERVER_SECRET}",
                    f"--tls-server-certs-dir={tls / 'server'}",
                    f"--tls-client-secret-name={CLIENT_SECRET}",
                    f"--tls-client-certs-dir={tls / 'client'}",
                    "--debug",
                    *CIRCUIT_BREAKER,
                ],
                self.workdir / "logs" / "crossplane.log",
                env=self._env(),
            )
        )
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        self.kube.wait(
            f"crossplane {url}", lambda: _ok(url), timeout=timeout, alive=self.procs.check_alive
        )

    def stop(self) -> None:
        self.procs.stop_all()

    def check_alive(self) -> None:
        self.procs.check_alive()


def in_resolver_namespace(resolv_conf: Path) -> list[str]:
    """The argv prefix that runs a command in a new mount namespace where ``resolv_conf`` is
    ``/etc/resolv.conf`` (the host's file is untouched)."""
    return [
        "unshare",
        "--mount",
        "--propagation=private",
        "--",
        "/bin/sh",
        "-c",
        'mount --bind "$0" /etc/resolv.conf && exec "$@"',
        str(resolv_conf),
    ]


def _ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status == 200
