"""The new EKS clusters' side of scenario ``cluster-aws``: what runs in them and what it
makes in AWS, played.

Each played EKS cluster (an ``eks`` ``Cluster`` MR) gets an in-memory API
(``PlayedCluster``: ConfigMaps, Services, Ingresses, with finalizers and
``deletionTimestamp`` as the API server keeps them) that the real ``forge.teardown``
controller runs against. Each pass (``EksWorld.step``):

- the teardown gate: once its Object (``<cluster>-teardown-gate``) exists, its ConfigMap
  exists in the cluster; once that Object is being deleted, the ConfigMap is deleted
  (it stays, with ``deletionTimestamp``, until its finalizer goes), and the Object lets
  go only once it is gone (``object_gone``, the provider-kubernetes player's hook);
- nodes run while a ready ``NodeGroup`` of the cluster exists; on them, the AWS Load
  Balancer Controller (once its Release was installed: orphaned, it keeps running)
  gives each LoadBalancer Service an NLB and a security group in the cluster's VPC
  (finalizer ``service.k8s.aws/resources``), and deletes them, then the finalizer, when
  the Service is being deleted; and the teardown controller (once its Deployment's
  Object was applied) makes one pass of ``forge.teardown.step``;
- while an NLB exists, AWS refuses to delete the cluster's VPC, subnets and security
  groups (``dependency``: ``DependencyViolation``, as EC2 answers).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from forge import teardown
from forge.composers.eks.teardown import GATE_KEY
from forge.core import naming
from forge_dev.simulate import aws as preview

OBJECT_API = "kubernetes.m.crossplane.io/v1alpha1"
RELEASE_API = "helm.m.crossplane.io/v1beta1"
SERVICE_FINALIZER = "service.k8s.aws/resources"
LB_RELEASE = "aws-load-balancer-controller"
# What a load balancer's network interfaces and security group keep from deleting.
BLOCKED_KINDS = frozenset({"VPC", "Subnet", "SecurityGroup"})
_LISTS = {
    "/api/v1/services": "/api/v1/namespaces/{ns}/services/",
    "/apis/networking.k8s.io/v1/ingresses": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/",
}


class Reader(Protocol):
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None): ...
    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict]: ...


@dataclass
class PlayedCluster:
    """A new cluster's API, in memory: ``forge.teardown.Api`` over item paths."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, path: str) -> dict[str, Any]:
        listing = path.partition("?")[0]  # one page holds every item: no continue
        if listing in _LISTS:
            prefix = _LISTS[listing].split("{ns}")
            items = [
                copy.deepcopy(o)
                for p, o in self.objects.items()
                if p.startswith(prefix[0]) and prefix[1] in p
            ]
            return {"metadata": {}, "items": items}
        if path not in self.objects:
            raise teardown.NotFoundError(path)
        return copy.deepcopy(self.objects[path])

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path not in self.objects:
            raise teardown.NotFoundError(path)
        self.objects[path] = copy.deepcopy(body)
        self._finish(path)
        return body

    def delete(self, path: str) -> None:
        if path not in self.objects:
            raise teardown.NotFoundError(path)
        meta = self.objects[path]["metadata"]
        meta.setdefault("deletionTimestamp", dt.datetime.now(dt.UTC).isoformat())
        self._finish(path)

    def create(self, path: str, obj: dict[str, Any]) -> None:
        self.objects.setdefault(path, copy.deepcopy(obj))

    def _finish(self, path: str) -> None:
        meta = self.objects[path]["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[path]


def service_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/services/{name}"


@dataclass
class EksWorld:
    """Every played EKS cluster's inside, and the load balancers it made in AWS."""

    clusters: dict[tuple[str, str], PlayedCluster] = field(default_factory=dict)
    # (namespace, cluster) -> service path -> the NLB's and its security group's ids
    load_balancers: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    # What was installed in each cluster (orphaned: it keeps running while nodes do).
    _gates: set[tuple[str, str]] = field(default_factory=set)
    _installed: set[tuple[str, str, str]] = field(default_factory=set)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def cluster(self, namespace: str, name: str) -> PlayedCluster:
        with self._lock:
            return self.clusters.setdefault((namespace, name), PlayedCluster())

    def step(self, kube: Reader) -> None:
        with self._lock:
            for mr in kube.list(preview.EKS, "Cluster"):
                self._play(kube, mr["metadata"]["namespace"], mr["metadata"]["name"])

    def _play(self, kube: Reader, ns: str, name: str) -> None:
        inside = self.cluster(ns, name)
        gate = kube.get(OBJECT_API, "Object", naming.name(name, GATE_KEY), ns)
        path = teardown.gate_path()
        if gate is not None and (ns, name) not in self._gates:
            inside.create(path, gate["spec"]["forProvider"]["manifest"])
            self._gates.add((ns, name))
        if (
            gate is not None
            and gate["metadata"].get("deletionTimestamp")
            and path in inside.objects
        ):
            inside.delete(path)
        if kube.get(RELEASE_API, "Release", LB_RELEASE, ns) is not None:
            self._installed.add((ns, name, LB_RELEASE))
        deployment = naming.name(name, "teardown-deployment")
        if kube.get(OBJECT_API, "Object", deployment, ns) is not None:
            self._installed.add((ns, name, deployment))
        nodes = any(
            _ready(g) and not g["metadata"].get("deletionTimestamp")
            for g in kube.list(preview.EKS, "NodeGroup", ns)
        )
        if not nodes:
            return
        if (ns, name, LB_RELEASE) in self._installed:
            self._load_balancer_controller(ns, name, inside)
        if (ns, name, deployment) in self._installed:
            teardown.step(inside)

    def _load_balancer_controller(self, ns: str, name: str, inside: PlayedCluster) -> None:
        made = self.load_balancers.setdefault((ns, name), {})
        for path, svc in list(inside.objects.items()):
            if "/services/" not in path or svc.get("spec", {}).get("type") != "LoadBalancer":
                continue
            meta = svc["metadata"]
            finalizers = meta.setdefault("finalizers", [])
            if not meta.get("deletionTimestamp"):
                if path not in made:
                    made[path] = [preview.resource_id("nlb", path), preview.resource_id("sg", path)]
                    finalizers.append(SERVICE_FINALIZER)
                    self.log.append(f"{ns}/{name}: NLB {made[path][0]} for {path}")
                continue
            if path in made:
                self.log.append(f"{ns}/{name}: deleted NLB {made.pop(path)[0]} of {path}")
            meta["finalizers"] = [f for f in finalizers if f != SERVICE_FINALIZER]
            inside._finish(path)

    def object_gone(self, mr: dict) -> bool:
        """Whether what a played (other cluster's) Object applied is gone: only the gate
        is ever deleted, and it goes when its finalizer does."""
        md = mr["metadata"]
        with self._lock:  # the AWS player's thread changes the clusters meanwhile
            for (ns, name), inside in self.clusters.items():
                if ns == md["namespace"] and md["name"] == naming.name(name, GATE_KEY):
                    return teardown.gate_path() not in inside.objects
        return True

    def dependency(self, kind: str, namespace: str) -> str:
        """EC2's refusal to delete a VPC, subnet or security group of a cluster that still
        has a load balancer in it ("" when nothing is in the way)."""
        if kind not in BLOCKED_KINDS:
            return ""
        with self._lock:
            left = [
                ids[0]
                for (ns, _), made in self.load_balancers.items()
                if ns == namespace
                for ids in made.values()
            ]
        if not left:
            return ""
        return (
            f"DependencyViolation: the {kind} has dependencies and cannot be deleted "
            f"(network interfaces of load balancer {', '.join(sorted(left))})"
        )

    def leftovers(self) -> list[str]:
        with self._lock:
            return sorted(ids[0] for made in self.load_balancers.values() for ids in made.values())


def _ready(mr: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (mr.get("status") or {}).get("conditions") or []
    )
