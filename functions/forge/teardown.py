"""The teardown gate's controller: runs in a new EKS cluster, acts only when the gate goes.

An EKS Cluster composes, in the new cluster, a ConfigMap (the gate) carrying the
finalizer ``FINALIZER``, and this controller (``python3.11 -m forge.teardown``, from
the function's own image). Deleting the Cluster deletes the gate; the controller then
deletes every Service of type LoadBalancer and every Ingress, waits until they are
gone (the AWS Load Balancer Controller removes its finalizer from each once it has
deleted its load balancer, target groups and security groups) and removes the gate's
finalizer. Usages on the platform keep the nodes, the add-ons and the controller's
identity until the gate is gone (docs/decisions/0024-teardown-gate.md).

It acts on the gate's deletion, never on its own termination, so node rotation and
drains tear nothing down. Standard library only: the API server is reached with the
pod's service-account token and CA, with bounded timeouts; nothing secret is logged.
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

FINALIZER = "forge.projectcatalyst.io/teardown"
GATE_NAME = "forge-teardown"
GATE_NAMESPACE = "kube-system"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
INTERVAL_S = 5.0
TIMEOUT_S = 10.0

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
    (projected tokens rotate) and the cluster's CA."""

    server: str
    token_file: str
    ca_file: str
    timeout: float = TIMEOUT_S

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
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(request, context=context, timeout=self.timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise NotFoundError(path) from None
            if err.code == 409:
                raise ConflictError(path) from None
            raise RuntimeError(f"{method} {path}: HTTP {err.code} {err.reason}") from None

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


def load_balanced(api: Api) -> list[tuple[str, dict[str, Any]]]:
    """Every LoadBalancer Service and every Ingress: (its path, the object)."""
    found = []
    for listing, collection, counts in _KINDS:
        for item in api.get(listing).get("items", []):
            if counts(item):
                found.append((_path(collection, item), item))
    return found


def _name(path: str) -> str:
    """``resource namespace/name`` of an item path, for logs (``services default/web``)."""
    parts = path.split("/")
    return f"{parts[-2]} {parts[-3]}/{parts[-1]}"


def step(api: Api, gate: str = gate_path()) -> bool:
    """One pass; True once this pass released the gate.

    While the gate does not exist yet, or is not being deleted, nothing happens. Once it
    is, every load-balanced object not yet deleting is deleted (again on each pass:
    something may recreate it), and the gate's finalizer goes only when none is left.
    """
    try:
        current = api.get(gate)
    except NotFoundError:
        return False
    if not current["metadata"].get("deletionTimestamp"):
        return False
    remaining = load_balanced(api)
    for path, item in remaining:
        if not item["metadata"].get("deletionTimestamp"):
            log.info("deleting %s", _name(path))
            with contextlib.suppress(NotFoundError):  # gone meanwhile
                api.delete(path)
    if remaining:
        names = ", ".join(sorted(_name(path) for path, _ in remaining))
        log.info("waiting for %d load-balanced object(s) to be gone: %s", len(remaining), names)
        return False
    finalizers = current["metadata"].get("finalizers", [])
    current["metadata"]["finalizers"] = [f for f in finalizers if f != FINALIZER]
    try:
        api.put(gate, current)
    except ConflictError:
        return False  # changed meanwhile: read it again on the next pass
    except NotFoundError:
        return False
    log.info("no load balancer left: released gate %s", _name(gate))
    return True


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
