"""A thin layer over the official ``kubernetes`` client: server-side apply of YAML
documents, get/list/delete by apiVersion and kind, status patches, waits."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml
from kubernetes import config
from kubernetes.client import ApiClient
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from forge_dev.e2e_local.procs import wait_for

FIELD_MANAGER = "forge-e2e"


# libyaml's safe loader when PyYAML has it: the AWS families' CRDs are megabytes.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_documents(*paths: Path) -> list[dict]:
    """Every non-empty YAML document in the files (directories: their *.yaml, sorted)."""
    docs: list[dict] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for f in files:
            docs += [d for d in yaml.load_all(f.read_text(), Loader=_LOADER) if d]
    return docs


def condition(obj: dict | None, ctype: str) -> dict:
    """The condition of that type in ``status.conditions`` ({} when absent)."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return {}


def is_true(obj: dict | None, ctype: str) -> bool:
    return condition(obj, ctype).get("status") == "True"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_condition(ctype: str, status: str, reason: str, generation: int, message: str = "") -> dict:
    """A status condition as a controller writes it, stamped now."""
    c = {
        "type": ctype,
        "status": status,
        "reason": reason,
        "lastTransitionTime": now(),
        "observedGeneration": generation,
    }
    if message:
        c["message"] = message
    return c


class Kube:
    """The API server, as the admin of the local control plane."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.api: ApiClient = config.new_client_from_config(str(kubeconfig))
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.dyn = DynamicClient(self.api, cache_file=str(cache_dir / "discovery.json"))
        self._lock = threading.RLock()

    def close(self) -> None:
        self.api.close()

    # --- resources ----------------------------------------------------------------
    def resource(self, api_version: str, kind: str):
        """The API resource for apiVersion/kind, refreshing discovery once if unknown
        (CRDs come and go during a run)."""
        with self._lock:  # the discovery cache is not thread-safe
            try:
                return self.dyn.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                self.dyn.resources.invalidate_cache()
                return self.dyn.resources.get(api_version=api_version, kind=kind)

    def served(self, api_version: str, kind: str) -> bool:
        try:
            self.resource(api_version, kind)
        except ResourceNotFoundError:
            return False
        return True

    # --- reads --------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None):
        try:
            return self.resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict]:
        res = self.resource(api_version, kind)
        kwargs = {"label_selector": label_selector} if label_selector else {}
        if namespace is not None and res.namespaced:
            kwargs["namespace"] = namespace
        return [i.to_dict() for i in res.get(**kwargs).items]

    # --- writes -------------------------------------------------------------------
    def apply(self, obj: dict, *, manager: str = FIELD_MANAGER) -> dict:
        """Server-side apply, as ``kubectl apply --server-side --force-conflicts``."""
        md = obj["metadata"]
        res = self.resource(obj["apiVersion"], obj["kind"])
        return res.server_side_apply(
            body=obj,
            name=md["name"],
            namespace=md.get("namespace") if res.namespaced else None,
            field_manager=manager,
            force_conflicts=True,
        ).to_dict()

    def apply_all(self, objs: Iterable[dict], *, manager: str = FIELD_MANAGER) -> list[dict]:
        return [self.apply(o, manager=manager) for o in objs]

    def create(self, obj: dict) -> dict:
        md = obj["metadata"]
        res = self.resource(obj["apiVersion"], obj["kind"])
        ns = md.get("namespace") if res.namespaced else None
        return res.create(body=obj, namespace=ns).to_dict()

    def patch(
        self,
        obj: dict,
        body: dict,
        *,
        subresource: str | None = None,
        content_type: str = "application/merge-patch+json",
    ) -> dict:
        """A merge patch of ``obj`` (or of its status subresource)."""
        md = obj["metadata"]
        res = self.resource(obj["apiVersion"], obj["kind"])
        if subresource:
            res = res.subresources[subresource]
        return self.dyn.patch(
            res,
            body=body,
            name=md["name"],
            namespace=md.get("namespace") or None,
            content_type=content_type,
        ).to_dict()

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False if it was already gone."""
        res = self.resource(api_version, kind)
        try:
            res.delete(
                name=name,
                namespace=namespace if res.namespaced else None,
                body={"propagationPolicy": propagation},
            )
        except NotFoundError:
            return False
        return True

    # --- waits --------------------------------------------------------------------
    def wait(self, what: str, check, *, timeout: float, interval: float = 0.5, alive=None):
        """Poll ``check()`` until truthy; HarnessError naming ``what`` on timeout."""
        return wait_for(what, check, timeout=timeout, interval=interval, alive=alive)


def walk_refs(obj: dict) -> Iterator[dict]:
    """The composed resources an XR references (``spec.crossplane.resourceRefs``)."""
    spec = obj.get("spec") or {}
    refs = (spec.get("crossplane") or {}).get("resourceRefs") or spec.get("resourceRefs") or []
    yield from refs
