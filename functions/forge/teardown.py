"""The teardown gate's controller: runs in a new EKS cluster, acts only when the gate goes.

An EKS Cluster composes, in the new cluster, a ConfigMap (the gate) carrying the
finalizer ``FINALIZER``, and this controller (``python3.11 -m forge.teardown``, from
the function's own image). Deleting the Cluster deletes the gate; the controller then,
in order, each step only once the one before is done:

1. deletes every composite resource of our API group (``forge.projectcatalyst.io``:
   the infrastructure XRs Argo CD applied) and waits until they are gone: the
   cluster's own Crossplane deletes what they composed (Helm releases, AWS resources
   through its providers) while its providers and the nodes still run;
2. deletes every Service of type LoadBalancer and every Ingress and waits until they
   are gone (the AWS Load Balancer Controller removes its finalizer from each once it
   has deleted its load balancer, target groups and security groups);
3. removes the gate's finalizer.

Usages on the platform keep the nodes, the add-ons and the controller's identity until
the gate is gone (docs/decisions/0024-teardown-gate.md).

It acts on the gate's deletion, never on its own termination, so node rotation and
drains tear nothing down. Standard library only: the API server is reached with the
pod's service-account token and CA, with bounded timeouts; lists are read a page at a
time and only each object's path and deletion state are kept, not the objects; nothing
secret is logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from forge.versions import GROUP

FINALIZER = "forge.projectcatalyst.io/teardown"
GATE_NAME = "forge-teardown"
GATE_NAMESPACE = "kube-system"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
INTERVAL_S = 5.0
TIMEOUT_S = 10.0
# Items per list request (the API server's ``limit``).
PAGE_SIZE = 250
# Names a "waiting for" line of the log lists at most.
MAX_LOGGED_NAMES = 20

log = logging.getLogger("forge.teardown")


class NotFoundError(Exception):
    """The object does not exist (HTTP 404)."""


class ConflictError(Exception):
    """The object changed since it was read (HTTP 409)."""


class Api(Protocol):
    """The few API calls the controller makes; paths are API server paths."""

    def get(self, path: str) -> dict[str, Any]: ...
    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def delete(self, path: str) -> None: ...


@dataclass
class HttpApi:
    """The API server over HTTPS with a bearer token read from ``token_file`` per call
    (projected tokens rotate) and the cluster's CA (read again when its file changes)."""

    server: str
    token_file: str
    ca_file: str
    timeout: float = TIMEOUT_S
    _context: tuple[float, ssl.SSLContext] | None = field(default=None, init=False, repr=False)

    @classmethod
    def in_cluster(cls) -> HttpApi:
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if ":" in host:
            host = f"[{host}]"
        return cls(f"https://{host}:{port}", f"{SA_DIR}/token", f"{SA_DIR}/ca.crt")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with open(self.token_file, encoding="utf-8") as f:
            token = f.read().strip()
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self._tls(), timeout=self.timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise NotFoundError(path) from None
            if err.code == 409:
                raise ConflictError(path) from None
            raise RuntimeError(f"{method} {path}: HTTP {err.code} {err.reason}") from None

    def _tls(self) -> ssl.SSLContext:
        """The TLS context for the CA file as it is now (made again only when it changed)."""
        changed = os.stat(self.ca_file).st_mtime
        if self._context is None or self._context[0] != changed:
            self._context = (changed, ssl.create_default_context(cafile=self.ca_file))
        return self._context[1]

    def get(self, path: str) -> dict[str, Any]:
        return self._call("GET", path)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", path, body)

    def delete(self, path: str) -> None:
        self._call("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1"})


def gate_path(namespace: str = GATE_NAMESPACE, name: str = GATE_NAME) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def _path(collection: str, item: dict[str, Any]) -> str:
    meta = item["metadata"]
    namespace = urllib.parse.quote(meta["namespace"], safe="")
    return collection.replace("{ns}", namespace) + "/" + urllib.parse.quote(meta["name"], safe="")


# What holds cloud load balancers: (list path, item path with {ns}, which items count).
_KINDS: tuple[tuple[str, str, Callable[[dict[str, Any]], bool]], ...] = (
    (
        "/api/v1/services",
        "/api/v1/namespaces/{ns}/services",
        lambda s: s.get("spec", {}).get("type") == "LoadBalancer",
    ),
    (
        "/apis/networking.k8s.io/v1/ingresses",
        "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
        lambda _i: True,
    ),
)


def pages(api: Api, listing: str) -> Iterator[dict[str, Any]]:
    """Every item of a list, read ``PAGE_SIZE`` items a request (the API server's
    ``limit`` and ``continue``). An expired continue token (HTTP 410) fails the pass,
    which starts again from the first page; nothing is deleted from a partial list."""
    token = ""
    while True:
        query = f"?limit={PAGE_SIZE}"
        if token:
            query += "&continue=" + urllib.parse.quote(token, safe="")
        page = api.get(listing + query)
        yield from page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return


def _deleting(item: dict[str, Any]) -> bool:
    return bool(item["metadata"].get("deletionTimestamp"))


def load_balanced(api: Api) -> list[tuple[str, bool]]:
    """Every LoadBalancer Service and every Ingress: (its path, whether it is deleting)."""
    found = []
    for listing, collection, counts in _KINDS:
        for item in pages(api, listing):
            if counts(item):
                found.append((_path(collection, item), _deleting(item)))
    return found


def composites(api: Api) -> list[tuple[str, bool]]:
    """Every object of our API group, in every namespace: (its path, whether it is
    deleting).

    The group's resources come from the API server's discovery at its preferred
    version (whatever APIs this cluster's Crossplane installed); none when the group
    is not served (its CRDs are not installed, or are going).
    """
    try:
        version = api.get(f"/apis/{GROUP}")["preferredVersion"]["groupVersion"]
        resources = api.get(f"/apis/{version}").get("resources", [])
    except NotFoundError:
        return []
    found = []
    for res in resources:
        if "/" in res["name"] or not {"list", "delete"} <= set(res.get("verbs", [])):
            continue  # a subresource (status)
        plural = res["name"]
        try:
            for item in pages(api, f"/apis/{version}/{plural}"):
                meta = item["metadata"]
                name = urllib.parse.quote(meta["name"], safe="")
                if res.get("namespaced"):
                    namespace = urllib.parse.quote(meta["namespace"], safe="")
                    path = f"/apis/{version}/namespaces/{namespace}/{plural}/{name}"
                else:
                    path = f"/apis/{version}/{plural}/{name}"
                found.append((path, _deleting(item)))
        except NotFoundError:
            continue  # its CRD went meanwhile
    return found


def _name(path: str) -> str:
    """``resource namespace/name`` of an item path, for logs (``services default/web``)."""
    parts = path.split("/")
    if parts[-4] == "namespaces":
        return f"{parts[-2]} {parts[-3]}/{parts[-1]}"
    return f"{parts[-2]} {parts[-1]}"  # cluster-scoped


def step(api: Api, gate: str = gate_path()) -> bool:
    """One pass; True once this pass released the gate.

    While the gate does not exist yet, or is not being deleted, nothing happens. Once it
    is, every composite of our group not yet deleting is deleted; once none is left,
    every load-balanced object not yet deleting is (again on each pass: Argo CD or a
    controller may recreate them); the gate's finalizer goes only when none is left.
    """
    try:
        current = api.get(gate)
    except NotFoundError:
        return False
    if not current["metadata"].get("deletionTimestamp"):
        return False
    if _delete_and_wait(api, composites(api), "composite resource"):
        return False
    if _delete_and_wait(api, load_balanced(api), "load-balanced object"):
        return False
    finalizers = current["metadata"].get("finalizers", [])
    current["metadata"]["finalizers"] = [f for f in finalizers if f != FINALIZER]
    try:
        api.put(gate, current)
    except ConflictError:
        return False  # changed meanwhile: read it again on the next pass
    except NotFoundError:
        return False
    log.info("no composite or load balancer left: released gate %s", _name(gate))
    return True


def _delete_and_wait(api: Api, remaining: list[tuple[str, bool]], what: str) -> bool:
    """Delete what is not deleting yet; True while any of ``remaining`` is left."""
    for path, deleting in remaining:
        if not deleting:
            log.info("deleting %s", _name(path))
            with contextlib.suppress(NotFoundError):  # gone meanwhile
                api.delete(path)
    if remaining:
        names = sorted(_name(path) for path, _ in remaining)
        more = f" and {len(names) - MAX_LOGGED_NAMES} more" if len(names) > MAX_LOGGED_NAMES else ""
        log.info(
            "waiting for %d %s(s) to be gone: %s%s",
            len(remaining),
            what,
            ", ".join(names[:MAX_LOGGED_NAMES]),
            more,
        )
    return bool(remaining)


def run(
    api: Api,
    gate: str = gate_path(),
    *,
    interval: float = INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Pass after pass until the gate is released; errors are logged and retried."""
    while True:
        try:
            if step(api, gate):
                return
        except (OSError, RuntimeError, ValueError, KeyError) as err:
            log.warning("pass failed, retrying: %s", err)
        sleep(interval)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    namespace = os.environ.get("FORGE_TEARDOWN_NAMESPACE", GATE_NAMESPACE)
    name = os.environ.get("FORGE_TEARDOWN_GATE", GATE_NAME)
    log.info("watching gate %s/%s", namespace, name)
    api = HttpApi.in_cluster()
    while True:  # released: the cluster is going away; keep watching, never exit
        run(api, gate_path(namespace, name))


if __name__ == "__main__":
    sys.exit(main())
