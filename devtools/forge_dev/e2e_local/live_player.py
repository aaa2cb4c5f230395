"""The provider player: what provider-helm would write for the ``helm.m.crossplane.io``
Releases our compositions compose, and what provider-kubernetes would write for the
``kubernetes.m.crossplane.io`` Objects the real provider-kubernetes cannot reach, without
a cloud or a pod.

provider-kubernetes runs for real in e2e-local (Crossplane installs its package, decision
0031): an Object whose ProviderConfig reaches this cluster (``InjectedIdentity``, as the
platform's in-cluster ClusterProviderConfigs) and whose kind is served here, or reaches a
vCluster's API (real: ``vcluster_api``), is its job alone, and the player leaves it
untouched. The player plays only the other Objects: those whose ProviderConfig is an EKS
cluster's kubeconfig (its API is played) and those whose kind comes from a chart that is
played, not installed (cert-manager's
``ClusterIssuer``, external-secrets' ``ClusterSecretStore``). It claims each such Object
first: the annotations ``crossplane.io/paused: "true"`` (crossplane-runtime's managed
reconciler then leaves it alone, deletion included) and ``PLAYED_ANNOTATION`` saying why.

It does what crossplane-runtime's managed reconciler does to the API objects:

- adds the ``finalizer.managedresource.crossplane.io`` finalizer and sets the
  ``crossplane.io/external-name`` annotation (the object's name) on first sight, when
  the MR names none;
- resolves ``spec.providerConfigRef`` (``ProviderConfig`` in the MR's namespace or
  ``ClusterProviderConfig``): when it does not exist the MR is ``Synced=False``
  (``ReconcileError``) and nothing else happens, as with a real provider;
- otherwise writes ``Synced=True`` (``ReconcileSuccess``), ``Ready=True`` (``Available``),
  ``status.observedGeneration`` and ``status.atProvider``: a Release is ``deployed`` at
  revision 1 (the revision goes up when its spec changes); a played Object observes its
  desired manifest;
- an Object's ``connectionDetails`` are written to its ``writeConnectionSecretToRef``
  Secret (owned by the Object), read from its own manifest as provider-kubernetes reads
  them;
- on deletion: ``Ready=False`` (``Deleting``), then the finalizer is removed.

Two things of the clusters those providers reach are played too:

- the vCluster chart: once a Release of the ``vcluster`` chart is ready, the Secret
  ``vc-<release>`` in its namespace, as vCluster writes it (``config``: a kubeconfig for
  ``exportKubeConfig.server``; ``certificate-authority``, ``client-certificate``,
  ``client-key``). With ``vclusters`` (e2e-local) the vCluster's API is a real
  kube-apiserver (``vcluster_api``), the Secret holds its CA and admin certificate, and
  the real provider-kubernetes applies the Objects that reach it; a Release of Crossplane
  into it leaves Crossplane's CRDs there, and that Crossplane's packages are played
  (``VClusterApis.play_packages``);
- in a played cluster (EKS): an Object whose manifest is a package (``pkg.crossplane.io``
  Provider, Function, Configuration) observes it ``Installed`` and ``Healthy`` (no package
  is pulled or run), and a ``kubernetes.io/service-account-token`` Secret gets a
  throwaway token and CA, as the token controller fills it.

A Release of one of OUR charts (``versions.CHARTS_REPOSITORY``: the Gateway API CRDs)
through an in-cluster ClusterProviderConfig is installed for real, by the real helm from
the local mirror (``HelmRunner``), and uninstalled on deletion.

What it does not model: other charts (nothing else is fetched or rendered, no workload
runs), Objects' manifests in other clusters, ProviderConfigUsages and their finalizer on
ProviderConfigs, drift, rate limits, errors of the external system.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from kubernetes.dynamic.exceptions import ConflictError, ForbiddenError, NotFoundError

from forge import versions
from forge_dev.e2e_local.kube import Kube, condition, is_true, new_condition, now
from forge_dev.e2e_local.vcluster_api import VClusterApis
from forge_dev.simulate import infrastructure as preview_infra
from forge_dev.simulate import kubernetes as preview_kubernetes
from forge_dev.simulate.vcluster import Credentials, kubeconfig, vcluster_secret

FINALIZER = "finalizer.managedresource.crossplane.io"
EXTERNAL_NAME = "crossplane.io/external-name"
# crossplane-runtime's pause annotation: the real provider-kubernetes leaves the Object to
# the player (its managed reconciler returns before connecting or deleting).
PAUSED = "crossplane.io/paused"
# Why the player plays an Object (the real provider-kubernetes cannot reach it).
PLAYED_ANNOTATION = "e2e.forge.projectcatalyst.io/played"


@dataclass(frozen=True)
class Played:
    api_version: str
    kind: str

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0]


RELEASE = Played("helm.m.crossplane.io/v1beta1", "Release")
OBJECT = Played("kubernetes.m.crossplane.io/v1alpha1", "Object")
PLAYED = (RELEASE, OBJECT)


def _merge_conditions(current: list[dict], wanted: list[dict]) -> tuple[list[dict], bool]:
    """Conditions with ``wanted`` set (a transition time changes only with the status)."""
    out = {c["type"]: dict(c) for c in current}
    changed = False
    for w in wanted:
        old = out.get(w["type"])
        same = old and all(old.get(k) == w.get(k) for k in ("status", "reason", "message"))
        if same and old.get("observedGeneration") == w["observedGeneration"]:
            continue
        out[w["type"]] = old | {"observedGeneration": w["observedGeneration"]} if same else w
        changed = True
    return list(out.values()), changed


@dataclass
class HelmRunner:
    """The real helm, installing OUR charts (``versions.CHARTS_REPOSITORY``, mirrored on
    the local registry) into this cluster as provider-helm would; other charts are played."""

    helm: Path
    kubeconfig: Path
    registry: str
    # release -> (generation, chart reference) last installed
    installed: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def ours(self, mr: dict) -> bool:
        chart = mr["spec"]["forProvider"].get("chart") or {}
        return chart.get("repository") == versions.CHARTS_REPOSITORY

    def _ref(self, mr: dict) -> tuple[str, str]:
        chart = mr["spec"]["forProvider"]["chart"]
        mirror = versions.CHARTS_REPOSITORY.replace(
            "oci://" + versions.CHARTS_REPOSITORY.removeprefix("oci://").split("/", 1)[0],
            "oci://" + self.registry,
        )
        return f"{mirror}/{chart['name']}", str(chart["version"])

    def _run(self, *args: str) -> str:
        out = subprocess.run(
            [str(self.helm), *args, f"--kubeconfig={self.kubeconfig}"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"helm {args[0]}: {(out.stderr or out.stdout).strip()}")
        return out.stdout

    def install(self, mr: dict) -> str | None:
        """``helm upgrade --install`` when the Release is new or changed: None when there
        was nothing to do, else '' or the problem."""
        name = mr["metadata"]["name"]
        namespace = _release_namespace(mr)
        ref, version = self._ref(mr)
        key = (mr["metadata"]["namespace"], name)
        if self.installed.get(key) == (_gen(mr), f"{ref}:{version}"):
            return None
        try:
            self._run(
                "upgrade",
                "--install",
                name,
                ref,
                f"--version={version}",
                f"--namespace={namespace}",
                "--create-namespace",
                "--wait",
                "--plain-http",
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return f"cannot install release: {exc}"
        self.installed[key] = (_gen(mr), f"{ref}:{version}")
        return ""

    def uninstall(self, mr: dict) -> None:
        name = mr["metadata"]["name"]
        namespace = _release_namespace(mr)
        with contextlib.suppress(RuntimeError):
            self._run("uninstall", name, f"--namespace={namespace}", "--wait")
        self.installed.pop((mr["metadata"]["namespace"], name), None)


@dataclass
class ProviderPlayer:
    """Plays provider-helm and provider-kubernetes in a background thread."""

    kube: Kube
    log: Path
    helm: HelmRunner | None = None
    interval: float = 0.5
    errors: list[str] = field(default_factory=list)
    # (monotonic time, kind, namespace, name) of each managed resource let go.
    deleted: list[tuple[float, str, str, str]] = field(default_factory=list)
    # The real API server of each played vCluster (None: none serves, no vc-<name> Secret).
    vclusters: VClusterApis | None = None
    # Objects the real provider-kubernetes reconciled (Synced and Ready), by (namespace,
    # name): "<kind> <namespace/name>" of the manifest it applied or observed.
    provider_applied: dict[tuple[str, str], str] = field(default_factory=dict)
    # Objects the player claimed (paused for the real provider), by (namespace, name):
    # the kind of their manifest.
    claimed: dict[tuple[str, str], str] = field(default_factory=dict)
    # Whether what a played Object (another cluster's) applied is gone, once deleted;
    # None: at once. Scenario cluster-aws sets it (eks_world.EksWorld.object_gone).
    remote_gone: Callable[[dict], bool] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProviderPlayer:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="provider-player", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _say(self, msg: str) -> None:
        with self.log.open("a") as f:
            f.write(f"{now()} {msg}\n")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                err = traceback.format_exc()
                self.errors.append(err)
                self._say(err)
            self._stop.wait(self.interval)

    kinds: ClassVar[tuple[Played, ...]] = PLAYED

    def step(self) -> None:
        for played in self.kinds:
            if not self.kube.served(played.api_version, played.kind):
                continue
            for listed in self.kube.list(played.api_version, played.kind):
                # Changed or gone since listed: the next pass sees it anew.
                with contextlib.suppress(ConflictError, NotFoundError):
                    try:
                        mr = self._claim(listed) if played is OBJECT else listed
                        if mr is None:  # the real provider-kubernetes's
                            self._note_provider_applied(listed)
                            continue
                        self.reconcile(played, mr)
                    except ForbiddenError as exc:
                        # Its namespace is being deleted: a provider's write fails the same
                        # way, and the resource is about to go with the namespace.
                        if "NamespaceTerminating" not in str(exc.body):
                            raise
        if self.vclusters is not None:
            for done in self.vclusters.play_packages(self.kube):
                self._say(done)

    # --- one managed resource ------------------------------------------------------
    def reconcile(self, played: Played, mr: dict) -> None:
        md = mr["metadata"]
        ref = f"{played.kind} {md.get('namespace')}/{md['name']}"
        finalizers = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if FINALIZER in finalizers:
                self._set_conditions(mr, [new_condition("Ready", "False", "Deleting", _gen(mr))])
                if played is OBJECT and not self._remote_deleted(mr):
                    return  # what it applied there is still going: the next pass looks again
                refused = self._refused(played, mr)
                if refused:  # the external system refuses: the provider retries
                    self._set_conditions(
                        mr, [new_condition("Synced", "False", "ReconcileError", _gen(mr), refused)]
                    )
                    return
                if played is RELEASE and _chart(mr) == "gateway":
                    self._gateway_service(mr, uninstall=True)
                if played is RELEASE and self.helm and self.helm.ours(mr):
                    self.helm.uninstall(mr)
                if played is RELEASE and _chart(mr) == "vcluster" and self.vclusters:
                    where = f"{_release_namespace(mr)}/{md['name']}"
                    if self.vclusters.remove(self.kube, _release_namespace(mr), md["name"]):
                        self._say(f"vCluster {where}: API server stopped, its store deleted")
                self.kube.patch(
                    mr,
                    {
                        "metadata": {
                            "resourceVersion": md["resourceVersion"],
                            "finalizers": [f for f in finalizers if f != FINALIZER],
                        }
                    },
                )
                self.deleted.append(
                    (time.monotonic(), played.kind, md.get("namespace"), md["name"])
                )
                self._say(f"deleted {ref}")
            return
        if FINALIZER not in finalizers or EXTERNAL_NAME not in (md.get("annotations") or {}):
            mr = self.kube.patch(
                mr,
                {
                    "metadata": {
                        "resourceVersion": md["resourceVersion"],
                        "finalizers": [*finalizers, FINALIZER]
                        if FINALIZER not in finalizers
                        else finalizers,
                        # crossplane-runtime sets it only when the MR names none.
                        "annotations": {
                            EXTERNAL_NAME: (md.get("annotations") or {}).get(
                                EXTERNAL_NAME, md["name"]
                            )
                        },
                    }
                },
            )
        missing = self._missing_provider_config(played, mr)
        if missing:
            self._set_conditions(
                mr,
                [
                    new_condition(
                        "Synced",
                        "False",
                        "ReconcileError",
                        _gen(mr),
                        f"connect failed: cannot get referenced ProviderConfig: {missing}",
                    )
                ],
            )
            return
        if played is RELEASE and self.helm and self.helm.ours(mr) and self._in_cluster(mr):
            problem = self.helm.install(mr)
            if problem:
                self._set_conditions(
                    mr, [new_condition("Synced", "False", "ReconcileError", _gen(mr), problem)]
                )
                return
            if problem is not None:
                self._say(f"helm installed our chart for {ref}")
        if (
            played is RELEASE
            and _chart(mr) == "crossplane"
            and not self._crossplane_installed_in_vcluster(mr)
        ):
            return  # its CRDs are not Established in the vCluster yet: the next pass looks
        at_provider = self._at_provider(played, mr)
        if played is OBJECT:
            self._connection_secret(mr, at_provider.get("manifest") or {})
        if played is RELEASE and _chart(mr) == "vcluster":
            self._vcluster_secret(mr)
        if played is RELEASE and _chart(mr) == "gateway":
            self._gateway_service(mr)
        self._set_conditions(
            mr,
            [
                new_condition("Synced", "True", "ReconcileSuccess", _gen(mr)),
                new_condition("Ready", "True", "Available", _gen(mr)),
            ],
            at_provider=at_provider,
        )

    def _missing_provider_config(self, played: Played, mr: dict) -> str:
        ref = mr["spec"].get("providerConfigRef") or {"kind": "ClusterProviderConfig"}
        kind = ref.get("kind") or "ClusterProviderConfig"
        name = ref.get("name") or "default"
        version = played.api_version.split("/")[1]
        ns = mr["metadata"].get("namespace") if kind == "ProviderConfig" else None
        if not self.kube.served(f"{played.group}/{version}", kind):
            return f'{kind}.{played.group} "{name}": the kind is not served'
        if self.kube.get(f"{played.group}/{version}", kind, name, ns) is None:
            return f'{kind}.{played.group} "{name}" not found'
        return ""

    def _at_provider(self, played: Played, mr: dict) -> dict:
        old = (mr.get("status") or {}).get("atProvider") or {}
        if played is RELEASE:
            chart = mr["spec"]["forProvider"].get("chart") or {}
            revision = old.get("revision") or 0
            observed = (mr.get("status") or {}).get("observedGeneration")
            if observed != _gen(mr):  # an install, or an upgrade when the spec changed
                revision += 1
            return {
                "state": "deployed",
                "revision": revision,
                "releaseDescription": "Install complete" if revision == 1 else "Upgrade complete",
                "version": chart.get("version", ""),
            }
        manifest = mr["spec"]["forProvider"].get("manifest")
        if _is_package(manifest):
            gen = (manifest.get("metadata") or {}).get("generation", 1)
            manifest = manifest | {
                "status": {
                    "conditions": [
                        new_condition("Installed", "True", "ActivePackageRevision", gen),
                        new_condition("Healthy", "True", "HealthyPackageRevision", gen),
                    ]
                }
            }
            old_manifest = old.get("manifest") or {}
            if _without_times(old_manifest) == _without_times(manifest):
                manifest = old_manifest  # unchanged: keep the transition times
        return {"manifest": manifest}

    # --- which Objects are played ---------------------------------------------------
    def _claim(self, mr: dict) -> dict | None:
        """The Object to play, claimed (paused for the real provider, the reason noted),
        or None when it is the real provider-kubernetes's to reconcile."""
        annotations = mr["metadata"].get("annotations") or {}
        if PLAYED_ANNOTATION in annotations:
            return mr
        if mr["metadata"].get("deletionTimestamp"):
            return None  # never claimed: the real provider's to delete
        why = self._why_played(mr)
        if not why:
            return None
        md = mr["metadata"]
        self._say(f"Object {md.get('namespace')}/{md['name']}: {why}")
        manifest = mr["spec"]["forProvider"].get("manifest") or {}
        self.claimed[(md.get("namespace", ""), md["name"])] = str(manifest.get("kind"))
        return self.kube.patch(
            mr,
            {
                "metadata": {
                    "resourceVersion": mr["metadata"]["resourceVersion"],
                    "annotations": {PAUSED: "true", PLAYED_ANNOTATION: why},
                }
            },
        )

    def _note_provider_applied(self, mr: dict) -> None:
        """Remember an Object the real provider-kubernetes has reconciled."""
        if not (is_true(mr, "Synced") and is_true(mr, "Ready")):
            return
        manifest = mr["spec"]["forProvider"].get("manifest") or {}
        md = manifest.get("metadata") or {}
        where = f"{md['namespace']}/" if md.get("namespace") else ""
        key = (mr["metadata"].get("namespace", ""), mr["metadata"]["name"])
        if key not in self.provider_applied:
            self._say(f"provider-kubernetes reconciled Object {key[0]}/{key[1]}")
        self.provider_applied[key] = f"{manifest.get('kind')} {where}{md.get('name')}"

    def _why_played(self, mr: dict) -> str:
        """Why the real provider-kubernetes cannot reconcile this Object ("": it can, or
        its ProviderConfig is missing, which the real provider reports itself)."""
        config = self._provider_config(mr)
        if config is None:
            return ""
        source = ((config.get("spec") or {}).get("credentials") or {}).get("source")
        if self.vclusters is not None and self.vclusters.reached_through(config):
            return ""  # a vCluster's API is real: the real provider reaches it
        if source != "InjectedIdentity":
            return (
                f"its {config['kind']} {config['metadata']['name']} reaches another cluster, "
                "which is played"
            )
        manifest = mr["spec"]["forProvider"].get("manifest") or {}
        if not self.kube.served(manifest.get("apiVersion", ""), manifest.get("kind", "")):
            return (
                f"{manifest.get('kind')} ({manifest.get('apiVersion')}) is not served here: "
                "the chart that serves it is played"
            )
        return ""

    def _provider_config(self, mr: dict) -> dict | None:
        """The ProviderConfig or ClusterProviderConfig the managed resource names."""
        ref = mr["spec"].get("providerConfigRef") or {}
        kind = ref.get("kind") or "ClusterProviderConfig"
        ns = mr["metadata"].get("namespace") if kind == "ProviderConfig" else None
        return self.kube.get(mr["apiVersion"], kind, ref.get("name") or "default", ns)

    def _in_cluster(self, mr: dict) -> bool:
        """The managed resource's ProviderConfig reaches this API server
        (``InjectedIdentity``, as the platform's in-cluster ClusterProviderConfigs do)."""
        config = self._provider_config(mr) or {}
        return ((config.get("spec") or {}).get("credentials") or {}).get(
            "source"
        ) == "InjectedIdentity"

    def _remote_deleted(self, mr: dict) -> bool:
        """Whether a played Object may let go: what it applied in its (played) cluster is
        gone, or its policies orphan it."""
        policies = mr["spec"].get("managementPolicies") or ["*"]
        if not ("*" in policies or "Delete" in policies):
            return True
        return self.remote_gone is None or self.remote_gone(mr)

    def _refused(self, played: Played, mr: dict) -> str:
        """Why the external system refuses to delete this resource now ("": it does not)."""
        return ""

    def _connection_secret(self, mr: dict, observed: dict) -> None:
        """``spec.connectionDetails`` into the Secret ``spec.writeConnectionSecretToRef``
        names (the Object's namespace, owned by the Object, as crossplane-runtime's
        publisher writes it), each detail read as provider-kubernetes reads it: the
        referenced object's field, a Secret's ``data`` decoded once. Played, only the
        Object's own manifest can be referenced, and a
        ``kubernetes.io/service-account-token`` Secret gets the token
        ``forge_dev.simulate.kubernetes`` plays (what ``make preview`` shows)."""
        ref = mr["spec"].get("writeConnectionSecretToRef")
        details = mr["spec"].get("connectionDetails") or []
        namespace = mr["metadata"]["namespace"]
        if not ref or not details or self.kube.get("v1", "Secret", ref["name"], namespace):
            return
        if filled := preview_kubernetes.token_data(observed):
            # the token controller of the played cluster (forge_dev.simulate.kubernetes's)
            observed = observed | {
                "data": {k: base64.b64encode(v).decode() for k, v in filled.items()}
            }
        data = {}
        for detail in details:
            source = _referenced(detail, observed)
            path = detail.get("fieldPath", "")
            value = _field(source, path) if source else None
            if value is None:
                return  # not there yet: the next pass looks again
            secret_data = detail.get("kind") == "Secret" and path.startswith("data")
            data[detail["toConnectionSecretKey"]] = (
                str(value) if secret_data else base64.b64encode(str(value).encode()).decode()
            )
        md = mr["metadata"]
        owner = {
            "apiVersion": mr["apiVersion"],
            "kind": mr["kind"],
            "name": md["name"],
            "uid": md["uid"],
            "controller": True,
        }
        self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": ref["name"],
                    "namespace": namespace,
                    "ownerReferences": [owner],
                },
                "type": "connection.crossplane.io/v1alpha1",
                "data": data,
            }
        )
        self._say(f"Object {namespace}/{md['name']}: wrote connection Secret {ref['name']}")

    def _gateway_service(self, mr: dict, *, uninstall: bool = False) -> None:
        """The Istio ``gateway`` chart's LoadBalancer Service (its ``values.name`` in the
        release's namespace), and the address a load balancer controller gives it
        (``forge_dev.simulate.infrastructure``'s, what ``make preview`` plays); deleted on
        uninstall."""
        values = mr["spec"]["forProvider"].get("values") or {}
        name = values.get("name") or mr["metadata"]["name"]
        namespace = _release_namespace(mr)
        if uninstall:
            with contextlib.suppress(NotFoundError):
                self.kube.delete("v1", "Service", name, namespace)
            return
        service = self.kube.get("v1", "Service", name, namespace)
        if service is None:
            if self.kube.get("v1", "Namespace", namespace) is None:
                self.kube.apply(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                )
            service = self.kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {
                        "type": "LoadBalancer",
                        "selector": {"istio": name},
                        "ports": [{"name": "http2", "port": 80, "targetPort": 80}],
                    },
                }
            )
            self._say(f"gateway chart {namespace}/{name}: created its LoadBalancer Service")
        if not (service.get("status") or {}).get("loadBalancer", {}).get("ingress"):
            self.kube.patch(
                service, {"status": preview_infra.load_balancer(service)}, subresource="status"
            )

    def _vcluster_secret(self, mr: dict) -> None:
        """The kubeconfig Secret the vCluster writes once its API (``vclusters``) serves;
        none without ``vclusters``, where nothing serves it."""
        name = mr["metadata"]["name"]
        namespace = _release_namespace(mr)
        if self.vclusters is None or self.kube.get("v1", "Secret", f"vc-{name}", namespace):
            return
        values = mr["spec"]["forProvider"].get("values") or {}
        export = values.get("exportKubeConfig") or {}
        server = export.get("server") or "https://localhost:8443"
        context = export.get("context") or name
        api = self.vclusters.ensure(self.kube, namespace, name, values)
        if api is None:
            return  # not serving yet: the next pass looks again
        crt, key = api.admin
        creds = Credentials(ca=api.ca.cert_pem.decode(), cert=crt.decode(), key=key.decode())
        config = kubeconfig(server, context, creds)
        self.kube.create(vcluster_secret(name, namespace, config, creds))
        self._say(f"vCluster {namespace}/{name}: wrote Secret vc-{name}")

    def _crossplane_installed_in_vcluster(self, mr: dict) -> bool:
        """What a Release of Crossplane's chart leaves in a vCluster whose API is real:
        Crossplane's namespace and CRDs, Established (False: not yet). True when the
        Release targets no such vCluster (an EKS cluster's Crossplane is played whole)."""
        if self.vclusters is None:
            return True
        api = self.vclusters.reached_through(self._provider_config(mr))
        if api is None:
            return True
        if api.crossplane_installed:
            return True
        if not api.install_crossplane(self.vclusters.crossplane_crds(self.kube)):
            return False
        self._say(f"vCluster {api.namespace}/{api.name}: Crossplane's CRDs installed")
        return True

    def _set_conditions(self, mr: dict, wanted: list[dict], at_provider: dict | None = None):
        status = mr.get("status") or {}
        conditions, changed = _merge_conditions(status.get("conditions") or [], wanted)
        body: dict = {"conditions": conditions}
        if at_provider is not None:
            changed = changed or status.get("atProvider") != at_provider
            changed = changed or status.get("observedGeneration") != _gen(mr)
            body |= {"atProvider": at_provider, "observedGeneration": _gen(mr)}
        if not changed:
            return mr
        return self.kube.patch(
            mr,
            {"metadata": {"resourceVersion": mr["metadata"]["resourceVersion"]}, "status": body},
            subresource="status",
        )


def _referenced(detail: dict, observed: dict) -> dict | None:
    """The object a connection detail names, when it is the played Object's own."""
    md = observed.get("metadata") or {}
    same = (detail.get("kind"), detail.get("name"), detail.get("namespace")) == (
        observed.get("kind"),
        md.get("name"),
        md.get("namespace"),
    )
    return observed if same else None


def _release_namespace(mr: dict) -> str:
    return mr["spec"]["forProvider"].get("namespace") or mr["metadata"]["namespace"]


def _chart(mr: dict) -> str:
    return ((mr["spec"].get("forProvider") or {}).get("chart") or {}).get("name", "")


def _is_package(manifest: dict | None) -> bool:
    return bool(manifest) and (
        str(manifest.get("apiVersion", "")).startswith("pkg.crossplane.io/")
        and manifest.get("kind") in ("Provider", "Function", "Configuration")
    )


def _without_times(manifest: dict) -> dict:
    out = dict(manifest)
    status = dict(out.get("status") or {})
    status["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in status.get("conditions") or []
    ]
    out["status"] = status
    return out


def _field(obj: dict, path: str):
    """``data.token``-style field paths (dots; a Secret's data is base64 already)."""
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _gen(obj: dict) -> int:
    return obj["metadata"].get("generation") or 1


__all__ = [
    "FINALIZER",
    "OBJECT",
    "PAUSED",
    "PLAYED",
    "PLAYED_ANNOTATION",
    "RELEASE",
    "ProviderPlayer",
    "condition",
]
