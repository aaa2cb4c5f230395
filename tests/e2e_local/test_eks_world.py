"""The played inside of an EKS cluster: load balancers block the network until the real
forge.teardown controller has had them deleted while the nodes ran."""

from __future__ import annotations

import pytest

from forge.composers.eks import teardown as gate_objects
from forge_dev.e2e_local.eks_world import (
    LB_RELEASE,
    OBJECT_API,
    RELEASE_API,
    EksWorld,
    service_path,
)
from forge_dev.simulate import aws as preview

NS = "cluster-dev"
READY = {"conditions": [{"type": "Ready", "status": "True"}]}


class _Kube:
    """The platform's MRs, by (apiVersion, kind, namespace, name)."""

    def __init__(self) -> None:
        self.mrs: dict[tuple[str, str, str, str], dict] = {}

    def add(self, api: str, kind: str, name: str, **extra) -> None:
        self.mrs[(api, kind, NS, name)] = {"metadata": {"name": name, "namespace": NS}, **extra}

    def get(self, api, kind, name, namespace=None):
        return self.mrs.get((api, kind, namespace, name))

    def list(self, api, kind, namespace=None):
        return [m for (a, k, n, _), m in self.mrs.items() if (a, k) == (api, kind)]


@pytest.fixture
def running():
    kube, world = _Kube(), EksWorld()
    kube.add(preview.EKS, "Cluster", "dev")
    kube.add(preview.EKS, "NodeGroup", "dev-general-1", status=READY)
    kube.add(RELEASE_API, "Release", LB_RELEASE)
    manifest = gate_objects.gate()
    kube.add(
        OBJECT_API, "Object", "dev-teardown-gate", spec={"forProvider": {"manifest": manifest}}
    )
    kube.add(OBJECT_API, "Object", "dev-teardown-deployment")
    world.step(kube)
    gateway = service_path("istio-ingress", "gateway")
    service = {"metadata": {"name": "gateway", "namespace": "istio-ingress"}}
    world.cluster(NS, "dev").create(gateway, service | {"spec": {"type": "LoadBalancer"}})
    world.step(kube)
    assert len(world.leftovers()) == 1
    assert world.dependency("Subnet", NS).startswith("DependencyViolation")
    return kube, world


def test_the_old_order_leaves_the_load_balancer_and_the_network_stuck(running):
    kube, world = running
    # Everything deleted at once, no gate: the nodes go and the controller with them.
    del kube.mrs[(preview.EKS, "NodeGroup", NS, "dev-general-1")]
    del kube.mrs[(RELEASE_API, "Release", NS, LB_RELEASE)]
    for _ in range(5):
        world.step(kube)
    assert world.leftovers()
    assert "DependencyViolation" in world.dependency("VPC", NS)


def test_the_gate_has_the_load_balancer_deleted_before_it_lets_go(running):
    kube, world = running
    gate = kube.get(OBJECT_API, "Object", "dev-teardown-gate", NS)
    gate["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    # The orphaned Release goes at once; the node group is held by the gate's Usage.
    del kube.mrs[(RELEASE_API, "Release", NS, LB_RELEASE)]
    world.step(kube)
    assert not world.object_gone(gate), "the gate goes only after the load balancers"
    for _ in range(3):
        world.step(kube)
    assert world.object_gone(gate)
    assert world.leftovers() == []
    assert world.dependency("Subnet", NS) == ""
    assert world.cluster(NS, "dev").get("/api/v1/services")["items"] == []
