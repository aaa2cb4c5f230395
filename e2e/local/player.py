"""The provider player: what provider-helm and provider-kubernetes would write, for the
namespaced v2 managed resources our compositions compose (``helm.m.crossplane.io``
Releases, ``kubernetes.m.crossplane.io`` Objects), without a cloud, a cluster or a pod.

It does what crossplane-runtime's managed reconciler does to the API objects:

- adds the ``finalizer.managedresource.crossplane.io`` finalizer and sets the
  ``crossplane.io/external-name`` annotation (the object's name) on first sight;
- resolves ``spec.providerConfigRef`` (``ProviderConfig`` in the MR's namespace or
  ``ClusterProviderConfig``): when it does not exist the MR is ``Synced=False``
  (``ReconcileError``) and nothing else happens, as with a real provider;
- otherwise writes ``Synced=True`` (``ReconcileSuccess``), ``Ready=True`` (``Available``),
  ``status.observedGeneration`` and ``status.atProvider``: a Release is ``deployed`` at
  revision 1 (the revision goes up when its spec changes), an Object's
  ``atProvider.manifest`` is its desired manifest;
- on deletion: ``Ready=False`` (``Deleting``), then the finalizer is removed, whether the
  ``managementPolicies`` include ``Delete`` or not (nothing external exists to delete).

Two things of the clusters those providers reach are played too:

- the vCluster chart: once a Release of the ``vcluster`` chart is ready, the Secret
  ``vc-<release>`` in its namespace, as vCluster writes it (``config``: a kubeconfig for
  ``exportKubeConfig.server``; ``certificate-authority``, ``client-certificate``,
  ``client-key``), with real throwaway certificates;
- Crossplane in a target cluster: an Object whose manifest is a package
  (``pkg.crossplane.io`` Provider, Function, Configuration) observes it ``Installed`` and
  ``Healthy`` (no package is pulled or run).

What it does not model: chart installs (no chart is fetched or rendered, no workload
runs), the Object's manifest applied to a cluster, ProviderConfigUsages and their
finalizer on ProviderConfigs, connection Secrets, drift, rate limits, errors of the
external system.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from e2e.local import pki
from e2e.local.kube import Kube, condition
from kubernetes.dynamic.exceptions import ConflictError, ForbiddenError, NotFoundError

from forge.preview.vcluster import Credentials, kubeconfig, vcluster_secret

FINALIZER = "finalizer.managedresource.crossplane.io"
EXTERNAL_NAME = "crossplane.io/external-name"


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


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cond(ctype: str, status: str, reason: str, generation: int, message: str = "") -> dict:
    c = {
        "type": ctype,
        "status": status,
        "reason": reason,
        "lastTransitionTime": _now(),
        "observedGeneration": generation,
    }
    if message:
        c["message"] = message
    return c


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
class ProviderPlayer:
    """Plays provider-helm and provider-kubernetes in a background thread."""

    kube: Kube
    log: Path
    interval: float = 0.5
    errors: list[str] = field(default_factory=list)
    # (monotonic time, kind, namespace, name) of each managed resource let go.
    deleted: list[tuple[float, str, str, str]] = field(default_factory=list)
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
            f.write(f"{_now()} {msg}\n")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                err = traceback.format_exc()
                self.errors.append(err)
                self._say(err)
            self._stop.wait(self.interval)

    def step(self) -> None:
        for played in PLAYED:
            if not self.kube.served(played.api_version, played.kind):
                continue
            for mr in self.kube.list(played.api_version, played.kind):
                # Changed or gone since listed: the next pass sees it anew.
                with contextlib.suppress(ConflictError, NotFoundError):
                    try:
                        self.reconcile(played, mr)
                    except ForbiddenError as exc:
                        # Its namespace is being deleted: a provider's write fails the same
                        # way, and the resource is about to go with the namespace.
                        if "NamespaceTerminating" not in str(exc.body):
                            raise

    # --- one managed resource ------------------------------------------------------
    def reconcile(self, played: Played, mr: dict) -> None:
        md = mr["metadata"]
        ref = f"{played.kind} {md.get('namespace')}/{md['name']}"
        finalizers = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if FINALIZER in finalizers:
                self._set_conditions(mr, [_cond("Ready", "False", "Deleting", _gen(mr))])
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
                        "annotations": {EXTERNAL_NAME: md["name"]},
                    }
                },
            )
        missing = self._missing_provider_config(played, mr)
        if missing:
            self._set_conditions(
                mr,
                [
                    _cond(
                        "Synced",
                        "False",
                        "ReconcileError",
                        _gen(mr),
                        f"connect failed: cannot get referenced ProviderConfig: {missing}",
                    )
                ],
            )
            return
        at_provider = self._at_provider(played, mr)
        if played is RELEASE and _chart(mr) == "vcluster":
            self._vcluster_secret(mr)
        self._set_conditions(
            mr,
            [
                _cond("Synced", "True", "ReconcileSuccess", _gen(mr)),
                _cond("Ready", "True", "Available", _gen(mr)),
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
                        _cond("Installed", "True", "ActivePackageRevision", gen),
                        _cond("Healthy", "True", "HealthyPackageRevision", gen),
                    ]
                }
            }
            old_manifest = old.get("manifest") or {}
            if _without_times(old_manifest) == _without_times(manifest):
                manifest = old_manifest  # unchanged: keep the transition times
        return {"manifest": manifest}

    def _vcluster_secret(self, mr: dict) -> None:
        """The kubeconfig Secret the vCluster writes once it runs."""
        name = mr["metadata"]["name"]
        namespace = mr["spec"]["forProvider"].get("namespace") or mr["metadata"]["namespace"]
        if self.kube.get("v1", "Secret", f"vc-{name}", namespace) is not None:
            return
        values = mr["spec"]["forProvider"].get("values") or {}
        export = values.get("exportKubeConfig") or {}
        server = export.get("server") or "https://localhost:8443"
        context = export.get("context") or name
        ca = pki.CA.create(f"vcluster-{name}-ca")
        crt, key = ca.issue("admin", organization="system:masters", client=True)
        creds = Credentials(ca=ca.cert_pem.decode(), cert=crt.decode(), key=key.decode())
        config = kubeconfig(server, context, creds)
        self.kube.create(vcluster_secret(name, namespace, config, creds))
        self._say(f"vCluster {namespace}/{name}: wrote Secret vc-{name}")

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


def _gen(obj: dict) -> int:
    return obj["metadata"].get("generation") or 1


__all__ = ["FINALIZER", "OBJECT", "PLAYED", "RELEASE", "ProviderPlayer", "condition"]
