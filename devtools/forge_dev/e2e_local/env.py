"""One local environment: the control plane, a registry, the e2e node, Crossplane (whose
default package runtime runs our function, the real provider-kubernetes and the stand-in
providers as pods on the node), the provider player with the API servers of the vClusters
it plays, and what the platform's bootstrap installs before any XR exists."""

from __future__ import annotations

import contextlib
import platform
import shutil
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from forge_dev.e2e_local import standins
from forge_dev.e2e_local.controlplane import ROOT, TOOLS, ControlPlane
from forge_dev.e2e_local.crossplane import NAMESPACE, Crossplane
from forge_dev.e2e_local.kube import Kube, is_true, load_documents
from forge_dev.e2e_local.live_player import PLAYED, HelmRunner, ProviderPlayer
from forge_dev.e2e_local.node import NODE_IP, Bridge, Node, NodeTools
from forge_dev.e2e_local.packages import (
    FUNCTION_NAME,
    Built,
    FunctionPod,
    Registry,
    build,
    cli,
    config_diff_ids,
    function_pod,
    manifest_digest,
    package_pod,
    tarball_diff_ids,
)
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.e2e_local.vcluster_api import VClusterApis

# The Configuration packages the bootstrap installs (python -m forge_dev.packaging names).
CONFIGURATIONS = ("configuration-clusters", "configuration-infrastructure")

# What exists before the platform's bootstrap/: Argo CD's namespace (Argo CD is installed
# first, by hand, as the design says), where a Cluster registers itself.
ARGOCD_NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}

# The public registries our packages and their dependencies come from; the harness's
# ImageConfigs send each to the local registry (a mirror, as a disconnected platform has).
MIRRORED = (
    "ghcr.io/input-output-hk/",
    "xpkg.crossplane.io/crossplane-contrib/",
    "xpkg.upbound.io/upbound/",
)


def mirror(prefix: str, registry: str) -> dict:
    """An ImageConfig rewriting ``prefix`` to the same path on the local registry."""
    name = "e2e-mirror-" + prefix.split("/", 1)[0].replace(".", "-")
    return {
        "apiVersion": "pkg.crossplane.io/v1beta1",
        "kind": "ImageConfig",
        "metadata": {"name": name},
        "spec": {
            "matchImages": [{"type": "Prefix", "prefix": prefix}],
            "rewriteImage": {"prefix": f"{registry}/{prefix.split('/', 1)[1]}"},
        },
    }


def schema_root() -> Path:
    from forge_dev.schemas.sources import resolve_schema_root  # noqa: PLC0415 (the function's)

    return resolve_schema_root()


@dataclass
class Loop:
    """Calls each function every ``interval`` seconds in one background thread."""

    steps: list[Callable[[], object]]
    log: Path
    interval: float = 0.5
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Loop:
        self._thread = threading.Thread(target=self._run, name="e2e-loop", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for step in self.steps:
                try:
                    step()
                except Exception:
                    err = traceback.format_exc()
                    self.errors.append(err)
                    with self.log.open("a") as f:
                        f.write(err)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(15)


class Environment:
    """Everything a scenario runs against; ``with Environment(dir) as env: ...``."""

    def __init__(self, workdir: Path, *, keep: bool = False) -> None:
        self.workdir = workdir
        self.keep = keep
        # The API server listens on the node's bridge address: pods reach it through the
        # kubernetes Service (kube-proxy), host processes at that address.
        self.cp = ControlPlane(workdir, address=NODE_IP)
        self.bridge: Bridge | None = None
        self.kube: Kube | None = None
        self.loop_kube: Kube | None = None
        self.crossplane: Crossplane | None = None
        self.registry: Registry | None = None
        self.node: Node | None = None
        self.runtime_image: Path | None = None
        self.function: FunctionPod | None = None
        self.function_detail = ""
        self.player: ProviderPlayer | None = None
        self.vclusters: VClusterApis | None = None
        self.loop: Loop | None = None
        self.timings: dict[str, float] = {}
        self.version = ""
        self.packages: dict[str, Built] = {}
        self.standins: list[tuple[standins.StandIn, Built]] = []
        self.provider_kubernetes: Built | None = None
        self.provider_kubernetes_pod: FunctionPod | None = None
        self.provider_kubernetes_detail = ""

    def __enter__(self) -> Environment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _timed(self, name: str, fn: Callable[[], object]):
        t = time.monotonic()
        result = fn()
        self.timings[name] = time.monotonic() - t
        return result

    def start(self) -> None:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        self.bridge = Bridge(NodeTools.find().ip).up()
        self._timed("control plane", self.cp.start)
        self.kube = Kube(self.cp.kubeconfig, self.workdir / "cache")
        self.registry = Registry(self.workdir)
        self.registry.start()
        self.node = Node(self.workdir, self.cp, self.kube, self.registry.host, self.bridge)
        self._timed("node", self.node.start)
        self.crossplane = Crossplane(
            self.cp, self.kube, self.workdir, resolv_conf=self.node.resolv_conf
        )
        self._timed("crossplane", self.crossplane.start)
        self._timed("runtime image", self.build_runtime_image)
        self._timed("xpkg build", self.build_packages)
        self._timed("stand-in providers", self.build_standins)
        self._timed("provider-kubernetes", self.build_provider_kubernetes)
        # The background loop has its own client: the discovery cache is per client.
        self.loop_kube = Kube(self.cp.kubeconfig, self.workdir / "cache-loop")
        self.vclusters = VClusterApis(
            self.cp.tools.apiserver, self.cp.etcd_url, NODE_IP, self.workdir / "vclusters"
        )
        self.player = ProviderPlayer(
            self.loop_kube,
            self.workdir / "logs" / "player.log",
            helm=HelmRunner(TOOLS / "helm", self.cp.kubeconfig, self.registry.host),
            vclusters=self.vclusters,
        )
        self.loop = Loop([self.player.step], self.workdir / "logs" / "loop.log").start()
        self._timed("platform bootstrap", self.bootstrap)
        self._timed("function pod", self.wait_function_pod)
        self._timed("provider-kubernetes pod", self.wait_provider_kubernetes_pod)

    def stop(self) -> None:
        for part in (self.loop, self.vclusters, self.crossplane, self.node, self.registry):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        self.cp.stop()
        if self.bridge is not None:
            self.bridge.down()
        for kube in (self.kube, self.loop_kube):
            if kube is not None:
                kube.close()

    def check_alive(self) -> None:
        """Raise if any process died or the background loop keeps failing."""
        self.cp.check_alive()
        for part in (self.crossplane, self.node, self.registry):
            if part is not None:
                part.procs.check_alive()
        if self.vclusters is not None:
            self.vclusters.check_alive()

    # --- bootstrap ----------------------------------------------------------------
    def bootstrap(self) -> None:
        """The platform's ``bootstrap/`` applied with the real kubectl, as the README says;
        before it, what the harness stands in for: the packages in a local mirror (ours
        at this checkout's version and at the release ``bootstrap/`` pins, the real
        provider-kubernetes at its pin, the stand-in providers at their pinned versions and
        a newer one each) with Crossplane's ImageConfigs pointing there, and Argo CD's
        namespace."""
        from forge import versions  # noqa: PLC0415 (the function's)

        kube = self.kube
        for standin, built in self.standins:
            for tag in standin.tags:
                self.registry.push(built, tag)
        # The real provider-kubernetes at the pin only: the resolver installs exactly it.
        self.registry.push(self.provider_kubernetes, versions.PROVIDER_KUBERNETES[1])
        for built in self.packages.values():
            for tag in dict.fromkeys((self.version, versions.FUNCTION_VERSION)):
                self.registry.push(built, tag)
        kube.apply_all([mirror(prefix, self.registry.host) for prefix in MIRRORED])
        kube.apply(ARGOCD_NAMESPACE)
        self.push_charts()
        self.kubectl_bootstrap()
        for xrd in load_documents(ROOT / "xrds"):
            name = xrd["metadata"]["name"]
            kube.wait(
                f"XRD {name} Established and Offered",
                lambda n=name: is_true(
                    kube.get("apiextensions.crossplane.io/v2", "CompositeResourceDefinition", n),
                    "Established",
                ),
                timeout=60,
                alive=self.check_alive,
            )
        for comp in load_documents(ROOT / "compositions"):
            name = comp["metadata"]["name"]
            kube.wait(
                f"Composition {name}",
                lambda n=name: kube.get("apiextensions.crossplane.io/v1", "Composition", n),
                timeout=60,
                alive=self.check_alive,
            )

    def kubectl(self, *args: str, timeout: float = 660) -> str:
        """The real kubectl (``make kube-tools``) against this control plane, from the
        checkout's root (``bootstrap/`` paths are relative to it)."""
        exe = TOOLS / "kubectl"
        if not exe.exists():
            raise HarnessError(f"missing {exe}: run `make kube-tools`")
        argv = [str(exe), f"--kubeconfig={self.cp.kubeconfig}", *args]
        out = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        with (self.workdir / "logs" / "kubectl.log").open("a") as log:
            log.write(f"$ kubectl {' '.join(args)}\n{out.stdout}{out.stderr}\n")
        if out.returncode != 0:
            raise HarnessError(f"kubectl {' '.join(args)} failed: {out.stdout}{out.stderr}")
        return out.stdout

    def kubectl_bootstrap(self) -> None:
        """Each step of the README's bootstrap, timed."""
        from forge_dev.packaging.bootstrap_manifests import kubectl_steps  # noqa: PLC0415 (the function's)

        steps = kubectl_steps()
        for i, step in enumerate(steps, start=1):
            self._timed(f"kubectl {i}/{len(steps)} {step[0]}", lambda s=step: self.kubectl(*s))

    def build_packages(self) -> None:
        """Every package built by ``crossplane xpkg build``, versioned as ``make packages``
        versions this checkout."""
        from forge_dev.packaging import release  # noqa: PLC0415 (the function's)

        self.version = release.from_git(ROOT)
        self.packages = build(self.workdir, self.version, self.runtime_image)

    def build_runtime_image(self) -> None:
        """The runtime image ``make image`` builds, for the node's architecture."""
        from forge_dev.packaging import image, release  # noqa: PLC0415 (the function's)

        arch = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
        built = image.build(
            ROOT, self.workdir / "packages" / "image", release.from_git(ROOT), [arch]
        )
        self.runtime_image = built[0].tarball

    def wait_function_pod(self, timeout: float = 180) -> None:
        """Our Function's pod Running and Ready on the node, running the image we pushed:
        the digest the node's containerd resolved is the pushed Function package's, and
        that package's first layer is the runtime image's."""
        from forge_dev.packaging import image  # noqa: PLC0415 (the function's)

        self.wait_healthy("Function", FUNCTION_NAME, timeout)
        pod = self.kube.wait(
            f"the pod of Function {FUNCTION_NAME} Running and Ready",
            lambda: function_pod(self.kube),
            timeout=timeout,
            alive=self.check_alive,
        )
        built = self.packages["function"]
        pushed = manifest_digest(self.registry.host, built.repository, self.version)
        if not pod.image_id.endswith("@" + pushed):
            raise HarnessError(
                f"the function's pod runs {pod.image_id}, not the pushed package {pushed}"
            )
        runtime = image.read(self.runtime_image)
        layers = config_diff_ids(self.registry.host, built.repository, pushed)
        if not set(tarball_diff_ids(self.runtime_image)) <= set(layers):
            raise HarnessError(
                f"the pushed Function package {pushed} does not embed the runtime image "
                f"{runtime.digest} (its layers: {layers})"
            )
        self.function = pod
        self.function_detail = (
            f"pod {NAMESPACE}/{pod.name} Running on {pod.node}: {pod.image_id.split('@')[1]} "
            f"(the pushed Function package, embedding runtime image {runtime.digest})"
        )

    def wait_provider_kubernetes_pod(self, timeout: float = 180) -> None:
        """The real provider-kubernetes Installed and Healthy, its pod Running and Ready on
        the node, running the package we pushed (the digest containerd resolved)."""
        from forge import versions  # noqa: PLC0415 (the function's)
        from forge.xpkg import dependency_name  # noqa: PLC0415

        repository, pin = versions.PROVIDER_KUBERNETES
        name = dependency_name(repository)
        self.wait_healthy("Provider", name, timeout)
        pod = self.kube.wait(
            f"the pod of Provider {name} Running and Ready",
            lambda: package_pod(self.kube, "provider", name),
            timeout=timeout,
            alive=self.check_alive,
        )
        built = self.provider_kubernetes
        pushed = manifest_digest(self.registry.host, built.repository, pin)
        if not pod.image_id.endswith("@" + pushed):
            raise HarnessError(
                f"provider-kubernetes's pod runs {pod.image_id}, not the pushed package {pushed}"
            )
        self.provider_kubernetes_pod = pod
        self.provider_kubernetes_detail = (
            f"pod {NAMESPACE}/{pod.name} Running on {pod.node}: {pushed} "
            f"(provider-kubernetes {pin} built from its module, the pushed package)"
        )

    def push_charts(self) -> None:
        """Our charts (the Gateway API CRDs), built as ``make packages`` builds them and
        pushed by the real ``helm push`` to the mirror, where the player's helm pulls them."""
        from forge_dev.packaging import charts  # noqa: PLC0415 (the function's)
        from forge_dev.packaging import commands as xpkg  # noqa: PLC0415
        from forge_dev.packaging.layout import REGISTRY  # noqa: PLC0415

        out = self.workdir / "packages" / "build"
        charts.build(out)
        mirror = f"{self.registry.host}/{REGISTRY.split('/', 1)[1]}"
        xpkg.run(charts.push_commands(str(TOOLS / "helm"), out, mirror, plain_http=True))

    def build_standins(self) -> None:
        """The providers our Configurations depend on, as stand-in packages."""
        pause = self.workdir / "packages" / "pause.tar"
        subprocess.run(
            [str(TOOLS / "forge-e2e-oci"), "pause-tarball", str(pause)],
            check=True,
            capture_output=True,
        )
        self.standins = standins.build(self.workdir / "packages", schema_root() / "crds", pause)

    def build_provider_kubernetes(self) -> None:
        """The real provider-kubernetes package (``forge_dev.packaging.provider_kubernetes``,
        decision 0031) for the node's architecture, at the version the stack pins."""
        from forge import versions  # noqa: PLC0415 (the function's)
        from forge_dev.packaging import PackagingError, provider_kubernetes  # noqa: PLC0415

        binary = TOOLS / provider_kubernetes.BINARY
        if not binary.exists():
            raise HarnessError(f"missing {binary}: run `make kube-tools`")
        arch = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
        try:
            built = provider_kubernetes.build(
                binary, cli(), self.workdir / "packages" / "provider-kubernetes", arch
            )
        except PackagingError as exc:
            raise HarnessError(f"provider-kubernetes package: {exc}") from None
        repository, pin = versions.PROVIDER_KUBERNETES
        if built.version != pin:
            raise HarnessError(
                f"tools/provider-kubernetes builds {built.version}, the stack pins {pin}"
            )
        self.provider_kubernetes = Built(
            "provider-kubernetes", "Provider", repository.split("/", 1)[1], built.xpkg
        )

    def wait_established(self, names: list[str], timeout: float = 60) -> None:
        for name in names:
            self.kube.wait(
                f"CRD {name} Established",
                lambda n=name: is_true(
                    self.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", n),
                    "Established",
                ),
                timeout=timeout,
                alive=self.check_alive,
            )

    def wait_healthy(self, kind: str, name: str, timeout: float) -> dict:
        def healthy():
            pkg = self.kube.get("pkg.crossplane.io/v1", kind, name)
            return pkg if is_true(pkg, "Installed") and is_true(pkg, "Healthy") else None

        try:
            return self.kube.wait(
                f"{kind} {name} Installed and Healthy",
                healthy,
                timeout=timeout,
                alive=self.check_alive,
            )
        except HarnessError as exc:
            pkg = self.kube.get("pkg.crossplane.io/v1", kind, name) or {}
            raise HarnessError(f"{exc}; its conditions: {pkg.get('status')}") from None

    def played_kinds(self) -> tuple:
        return PLAYED
