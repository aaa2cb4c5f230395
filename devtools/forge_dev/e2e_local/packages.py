"""Packages as users install them, and the External package runtime played.

- ``build``: the package roots assembled as ``python -m forge_dev.packaging assemble`` writes
  them, each built into an xpkg by the real ``crossplane xpkg build`` (the crossplane CLI
  v2.2.0, ``.cache/tools/crossplane-cli``). The Function package embeds no runtime image:
  the image is built by Docker (``make image``), which no machine of ours has, and with
  ``--package-runtime=External`` Crossplane runs none (the harness runs the function).
- ``Registry``: go-containerregistry's registry on 127.0.0.1 (``forge-e2e-oci registry``);
  ``push`` pushes an xpkg there with the real ``crossplane xpkg push``.
- ``FunctionRuntime``: our function as a local process, serving mTLS with a certificate
  signed by Crossplane's own CA (``crossplane-root-ca``), so Crossplane's function client
  trusts it and it trusts Crossplane's client certificate. It plays what
  ``--package-runtime=External`` leaves to an external controller: the active
  FunctionRevision's ``status.endpoint`` and its ``RuntimeHealthy`` condition.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from forge_dev.e2e_local import pki
from forge_dev.e2e_local.controlplane import ROOT, TOOLS
from forge_dev.e2e_local.crossplane import NAMESPACE
from forge_dev.e2e_local.kube import Kube, condition
from forge_dev.e2e_local.procs import HarnessError, Proc, Procs, free_port, wait_for

FUNCTION_NAME = "input-output-hk-catalyst-forge-function-forge"
PKG = "pkg.crossplane.io/v1"


def cli() -> Path:
    """The real crossplane CLI (v2.2.0), built by ``make tools``."""
    from forge_dev import tools  # noqa: PLC0415 (the function's)

    try:
        return tools.tool(tools.CLI)
    except Exception as exc:
        raise HarnessError(f"{exc}") from None


def _run(argv: list[str], what: str, timeout: float = 120) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise HarnessError(f"{what} failed ({' '.join(argv)}): {out.stdout}{out.stderr}")
    return out.stdout


@dataclass(frozen=True)
class Built:
    """One package built into an xpkg file."""

    name: str  # the package's name: function, configuration-clusters, ...
    kind: str  # Function or Configuration
    repository: str  # its repository path, ours without the registry host
    file: Path


def build(workdir: Path, version: str) -> dict[str, Built]:
    """Every package of this checkout, assembled as ``python -m forge_dev.packaging assemble``
    does and built by ``crossplane xpkg build`` (the Function without a runtime image)."""
    from forge_dev.packaging.assemble import EXAMPLES, assemble  # noqa: PLC0415 (the function's)
    from forge_dev.packaging.layout import PACKAGES, REGISTRY  # noqa: PLC0415

    out = workdir / "packages"
    roots = assemble(ROOT, out / "build", version)
    built = {}
    for spec in PACKAGES:
        root = roots[spec.name]
        file = out / f"{spec.name}-{version}.xpkg"
        _run(
            [
                str(cli()),
                "xpkg",
                "build",
                f"--package-root={root}",
                f"--examples-root={root.parent / EXAMPLES / spec.name}",
                f"--package-file={file}",
            ],
            f"crossplane xpkg build of {spec.name}",
        )
        # ghcr.io/input-output-hk/catalyst-forge/<repository> -> <host>/input-output-hk/...
        repository = f"{REGISTRY.split('/', 1)[1]}/{spec.repository}"
        built[spec.name] = Built(spec.name, spec.kind, repository, file)
    return built


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Registry:
    """An OCI registry on 127.0.0.1 (Crossplane pulls from it over plain HTTP, as
    go-containerregistry does for loopback registries)."""

    def __init__(self, workdir: Path, binary: Path | None = None) -> None:
        self.workdir = workdir
        self.binary = binary or TOOLS / "forge-e2e-oci"
        self.procs = Procs()
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Registry:
        if not self.binary.exists():
            raise HarnessError(f"missing {self.binary}: run `make kube-tools`")
        self.port = free_port()
        self.procs.start(
            Proc(
                "registry",
                [str(self.binary), "registry", self.host],
                self.workdir / "logs" / "registry.log",
            )
        )
        wait_for(
            f"registry on {self.host}",
            lambda: _port_open(self.port),
            timeout=20,
            alive=self.procs.check_alive,
        )
        return self

    def push(self, package: Built, tag: str) -> str:
        """Push a built xpkg with ``crossplane xpkg push``; the reference pushed (plain
        HTTP: go-containerregistry speaks it to a loopback registry)."""
        ref = f"{self.host}/{package.repository}:{tag}"
        _run(
            [str(cli()), "xpkg", "push", f"--package-files={package.file}", ref],
            f"crossplane xpkg push of {package.name}",
        )
        return ref

    def stop(self) -> None:
        self.procs.stop_all()


class FunctionRuntime:
    """function-forge on 127.0.0.1 with mTLS, and the External runtime of its revisions."""

    def __init__(self, kube: Kube, workdir: Path, ca: tuple[bytes, bytes]) -> None:
        self.kube = kube
        self.workdir = workdir
        self.ca = pki.CA.load(*ca)
        self.procs = Procs()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"dns:///127.0.0.1:{self.port}"

    def start(self) -> FunctionRuntime:
        certs = self.workdir / "function-tls"
        # The Deployment runtime issues the same kind of certificate for its Service name.
        crt, key = self.ca.issue(
            FUNCTION_NAME, dns=("localhost",), ips=("127.0.0.1",), server=True, client=True
        )
        pki.write(certs / "tls.crt", crt)
        pki.write(certs / "tls.key", key, private=True)
        pki.write(certs / "ca.crt", self.ca.cert_pem)
        self.port = free_port()
        exe = Path(sys.executable).parent / "function-forge"
        self.procs.start(
            Proc(
                "function-forge",
                [
                    str(exe),
                    f"--tls-server-certs-dir={certs}",
                    f"--address=127.0.0.1:{self.port}",
                    "--debug",
                ],
                self.workdir / "logs" / "function-forge.log",
            )
        )
        wait_for(
            f"function-forge on 127.0.0.1:{self.port}",
            lambda: _port_open(self.port),
            timeout=30,
            alive=self.procs.check_alive,
        )
        return self

    def stop(self) -> None:
        self.procs.stop_all()

    def check_alive(self) -> None:
        self.procs.check_alive()

    def play(self) -> int:
        """One pass of the External runtime, as Crossplane's Deployment runtime does it
        (``FunctionHooks.Pre``/``ProviderHooks``) minus the Deployments and Services: every
        active revision of our function gets its TLS server Secret (our serving
        certificate, owned by the revision), its observed TLS Secret name, our endpoint and
        ``RuntimeHealthy``; every active ProviderRevision (a stand-in: no controller runs,
        the player plays it) gets the same but an endpoint. Returns how many it changed."""
        changed = 0
        revisions = [
            *self.kube.list(
                PKG, "FunctionRevision", label_selector=f"pkg.crossplane.io/package={FUNCTION_NAME}"
            ),
            *self.kube.list(PKG, "ProviderRevision"),
        ]
        for rev in revisions:
            if rev["spec"].get("desiredState") != "Active":
                continue
            # Crossplane may write it meanwhile: the next pass sees it anew.
            with contextlib.suppress(ConflictError, NotFoundError):
                changed += self._play(rev)
        return changed

    def _play(self, rev: dict) -> int:
        spec, status = rev["spec"], rev.get("status") or {}
        # With the External runtime no package sets TLS Secret names on its revision;
        # the establisher still needs an observed one (it reads the CA bundle for
        # webhooks from it). Use the name the package's runtime would have set; the
        # certificate is our function's (from Crossplane's CA; no provider webhook runs).
        package = rev["metadata"]["labels"]["pkg.crossplane.io/package"]
        server_secret = spec.get("tlsServerSecretName") or f"{package}-tls-server"
        self._ensure_server_secret(rev, server_secret)
        wanted = {"tlsServerSecretName": server_secret}
        if rev["kind"] == "FunctionRevision":
            wanted["endpoint"] = self.endpoint
        healthy = condition(rev, "RuntimeHealthy").get("status") == "True"
        if healthy and all(status.get(k) == v for k, v in wanted.items()):
            return 0
        conditions = [
            c for c in status.get("conditions") or [] if c.get("type") != "RuntimeHealthy"
        ]
        conditions.append(
            {
                "type": "RuntimeHealthy",
                "status": "True",
                "reason": "HealthyPackageRevision",
                "lastTransitionTime": _now(),
                "observedGeneration": rev["metadata"].get("generation", 1),
            }
        )
        self.kube.patch(
            rev,
            {
                # Optimistic concurrency: Crossplane writes this status too.
                "metadata": {"resourceVersion": rev["metadata"]["resourceVersion"]},
                "status": wanted | {"conditions": conditions},
            },
            subresource="status",
        )
        return 1

    def _ensure_server_secret(self, rev: dict, name: str) -> None:
        if self.kube.get("v1", "Secret", name, NAMESPACE) is not None:
            return
        certs = self.workdir / "function-tls"
        data = {k: certs.joinpath(k).read_bytes() for k in ("tls.crt", "tls.key", "ca.crt")}
        md = rev["metadata"]
        self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "ownerReferences": [
                        {
                            "apiVersion": rev["apiVersion"],
                            "kind": rev["kind"],
                            "name": md["name"],
                            "uid": md["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "type": "kubernetes.io/tls",
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            }
        )


def configuration_object(name: str, package: str) -> dict:
    """A Configuration as a user installs it: Crossplane resolves its dependencies."""
    return {
        "apiVersion": PKG,
        "kind": "Configuration",
        "metadata": {"name": name},
        "spec": {"package": package},
    }


def function_object(package: str) -> dict:
    """Our Function under its dependency name, as ``bootstrap/`` ships it."""
    return {
        "apiVersion": PKG,
        "kind": "Function",
        "metadata": {"name": FUNCTION_NAME},
        "spec": {"package": package},
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
