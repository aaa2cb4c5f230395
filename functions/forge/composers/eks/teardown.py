"""The teardown gate: load balancers go before the nodes that run their controller.

The AWS Load Balancer Controller (in the new cluster) made each Service's NLB and
each Ingress's ALB, with their target groups and security groups, in the cluster's
subnets; AWS refuses to delete those subnets and the VPC while they exist. So the
Cluster composes, in the new cluster through its kubernetes ProviderConfig:

- the gate, a ConfigMap ``kube-system/forge-teardown`` with the finalizer
  ``forge.projectcatalyst.io/teardown``, whose Object deletes it (the only in-cluster
  Object that is not orphaned);
- ``forge.teardown``, a controller from the function's own image
  (``aws.teardown.image``), with a ServiceAccount and RBAC to delete our composite
  resources, Services and Ingresses and release the gate: once the gate is being
  deleted it deletes the composites (the infrastructure XRs; the cluster's Crossplane
  deletes what they composed) and waits until they are gone, then the LoadBalancer
  Services and Ingresses likewise, and removes the finalizer.

Usages keep what the controllers need until the gate's Object is gone: the node
groups, the add-ons (networking, DNS, the Pod Identity agent), every zone's NAT gateway,
the load balancer controller's and the cluster's Crossplane's roles and associations
(with their policy attachments), and the ClusterAuth that writes
the kubeconfig the Object deletes the gate with. When one of them leaves the spec while
the cluster stays (a node group removed or replaced, ``natGateways`` from ``PerZone`` to
``Single``), its Usage lets go first: one reconcile composes the resource as it is and
its Usage without ``by`` (a Usage being deleted would wait for ``by``, crossplane v2.3.4
internal/controller/protection/usage/reconciler.go:316-353), the next drops both.
"""

from __future__ import annotations

from typing import Any

from crossplane.function import resource

from forge import teardown
from forge.composers import usage
from forge.composers.eks.base import Eks
from forge.composers.eks.loadbalancer import PURPOSE as LB_PURPOSE
from forge.composers.eks.nodegroups import kept
from forge.composers.eks.pod_identity import CROSSPLANE_PURPOSE
from forge.composers.objects import OBJECT_API_VERSION
from forge.core import naming
from forge.versions import GROUP

GATE_KEY = "teardown-gate"
HOLD_PREFIX = "aws-teardown-hold-"
NAME = "forge-teardown"
APP = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "forge"}
RELEASED = "released: no longer in the spec"
# What the gate keeps, by composition key prefix.
HELD = (
    "aws-nodegroup-",
    "aws-addon-",
    "aws-clusterauth",
    "aws-nat-",  # every zone's egress: the controllers reach AWS and the EKS API by it
    f"aws-role-{LB_PURPOSE}",
    f"aws-pod-identity-{LB_PURPOSE}",
    # The cluster's Crossplane deletes what the infrastructure XRs composed in AWS.
    f"aws-role-{CROSSPLANE_PURPOSE}",
    f"aws-pod-identity-{CROSSPLANE_PURPOSE}",
)


def gate() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": teardown.GATE_NAME,
            "namespace": teardown.GATE_NAMESPACE,
            "labels": dict(APP),
            "finalizers": [teardown.FINALIZER],
        },
        "data": {
            "purpose": "Deleting this ConfigMap deletes every forge composite resource, "
            "then every LoadBalancer Service and Ingress; forge-teardown removes its "
            "finalizer once they are gone."
        },
    }


def _rbac() -> dict[str, dict[str, Any]]:
    meta = {"name": NAME, "labels": dict(APP)}
    namespaced = {**meta, "namespace": teardown.GATE_NAMESPACE}
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": teardown.GATE_NAMESPACE}]
    rbac = "rbac.authorization.k8s.io/v1"
    return {
        "teardown-serviceaccount": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": namespaced,
        },
        "teardown-clusterrole": {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": meta,
            "rules": [
                # Every API of our group this cluster serves (found by discovery).
                {"apiGroups": [GROUP], "resources": ["*"], "verbs": ["list", "delete"]},
                {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "delete"]},
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["ingresses"],
                    "verbs": ["list", "delete"],
                },
            ],
        },
        "teardown-clusterrolebinding": {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": rbac.split("/", 1)[0], "kind": "ClusterRole", "name": NAME},
            "subjects": subject,
        },
        "teardown-role": {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": namespaced,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [teardown.GATE_NAME],
                    "verbs": ["get", "update"],
                }
            ],
        },
        "teardown-rolebinding": {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": namespaced,
            "roleRef": {"apiGroup": rbac.split("/", 1)[0], "kind": "Role", "name": NAME},
            "subjects": subject,
        },
    }


def deployment(image: str) -> dict[str, Any]:
    """One replica of ``forge.teardown`` from ``image``, unprivileged."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": teardown.GATE_NAMESPACE, "labels": dict(APP)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": dict(APP)},
                "spec": {
                    "serviceAccountName": NAME,
                    "priorityClassName": "system-cluster-critical",
                    # Whatever taints the node groups carry: it must run to let go.
                    "tolerations": [{"operator": "Exists"}],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "teardown",
                            "image": image,
                            # The function image's only interpreter (packaging/image.py).
                            "command": ["/usr/bin/python3.11", "-m", "forge.teardown"],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"memory": "64Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def objects(image: str) -> dict[str, dict[str, Any]]:
    """What bootstrap applies into the new cluster, by composition key."""
    return {
        **_rbac(),
        "teardown-deployment": deployment(image),
        GATE_KEY: gate(),
    }


def _gate_object(e: Eks) -> dict[str, Any]:
    """The gate's Object as a Usage names it (bootstrap composes it as ``GATE_KEY``)."""
    return {
        "apiVersion": OBJECT_API_VERSION,
        "kind": "Object",
        "metadata": {"name": naming.name(e.ctx.name, GATE_KEY)},
    }


def hold(e: Eks) -> None:
    """Usages of what the gate needs by its Object; let go of what left the spec.

    Called last: every key composed so far that ``HELD`` names is held once the gate
    exists. A held key no longer composed is released over two reconciles.
    """
    if not e.ctx.is_composed(GATE_KEY):
        return
    desired = e.ctx.rsp.desired.resources
    for key in list(desired):
        if key.startswith(HELD):
            name = e.name(key.removeprefix("aws-"), "by", GATE_KEY)
            of = usage.named(desired[key].resource)
            held = usage.usage(of=of, by=_gate_object(e), name=name)
            e.ctx.compose(f"{HOLD_PREFIX}{key}", held)
    for hold_key in e.ctx.req.observed.resources:
        of_key = hold_key.removeprefix(HOLD_PREFIX)
        if hold_key == of_key or of_key in desired:
            continue
        if e.ctx.observed.get(hold_key, "spec", "by") is None:
            continue  # released last time: both go now
        if e.ctx.is_composed(of_key):
            e.ctx.compose(of_key, kept(e, of_key))
        manifest = resource.struct_to_dict(e.ctx.req.observed.resources[hold_key].resource)
        spec = manifest["spec"]
        e.ctx.compose(
            hold_key,
            {
                "apiVersion": manifest["apiVersion"],
                "kind": manifest["kind"],
                "metadata": {
                    "name": manifest["metadata"]["name"],
                    "namespace": manifest["metadata"]["namespace"],
                },
                "spec": {"of": spec["of"], "reason": RELEASED, "replayDeletion": True},
            },
        )
