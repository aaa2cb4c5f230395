"""Cluster with provider aws: network, IAM, EKS, node groups, add-ons, access, kubeconfig.

The providers are played by ``tests.support.aws`` (status IDs, ARNs, endpoint, CA,
OIDC issuer, node group sizes; ClusterAuth's kubeconfig connection details).
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
import re
from pathlib import Path
from typing import Any, get_args

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
import yaml

from forge import versions
from forge.composers.eks import nodegroups
from forge.composers.eks.cluster import target_version
from forge.composers.eks.network import cidrs
from forge.models.cluster import ClusterSpec, KubernetesVersion
from forge_dev.paths import stages_dir
from forge_dev.simulate import aws, kubernetes
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import controller_reference, observe, written
from forge_dev.simulate.requests import (
    Observed,
    Rendered,
    build,
    environment_config,
    render,
    step_input,
)
from tests.support import deletion, leaks
from tests.support.environment import with_environment

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "cluster-dev"
ARGOCD_ROLE = "arn:aws:iam::123456789012:role/argocd"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-admins"
PROVIDER_CONFIG = {"kind": "ClusterProviderConfig", "name": "default"}
XR: dict[str, Any] = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "dev"},
    "spec": {
        "provider": "aws",
        "region": "us-west-2",
        "nodeGroups": [
            {"name": "general", "instanceType": "t3.large", "minSize": 3, "maxSize": 10}
        ],
        "argocd": {"roleArn": ARGOCD_ROLE},
    },
}
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
TRUE, FALSE = fnv1.STATUS_CONDITION_TRUE, fnv1.STATUS_CONDITION_FALSE
TAGGED = {
    "VPC",
    "Subnet",
    "InternetGateway",
    "RouteTable",
    "EIP",
    "NATGateway",
    "Role",
    "Cluster",
    "NodeGroup",
    "Addon",
    "AccessEntry",
    "PodIdentityAssociation",
}


def xr_with(**spec: Any) -> dict[str, Any]:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def large_xr() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples/cluster-aws-large/xr.yaml").read_text())


def observed_of(out: Rendered) -> dict[str, Observed]:
    return {key: observe(key, manifest) for key, manifest in out.resources.items()}


def aws_resources(out: Rendered) -> dict[str, dict[str, Any]]:
    return {k: m for k, m in out.resources.items() if k.startswith("aws-")}


def of_kind(out: Rendered, kind: str) -> dict[str, dict[str, Any]]:
    return {k: m for k, m in aws_resources(out).items() if m["kind"] == kind}


def params(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["forProvider"]


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def condition(out: Rendered, kind: str) -> tuple[int, str, str]:
    c = out.conditions[kind]
    return c.status, c.reason, c.message


def nodegroup_key(out: Rendered, group: str) -> str:
    (key,) = [k for k in of_kind(out, "NodeGroup") if k.startswith(f"aws-nodegroup-{group}-")]
    return key


@pytest.fixture(scope="module")
def history() -> list[Rendered]:
    return converge(XR, max_rounds=12)


@pytest.fixture(scope="module")
def final(history) -> Rendered:
    return history[-1]


@pytest.fixture(scope="module")
def large() -> list[Rendered]:
    return converge(large_xr(), max_rounds=12)


# Lifecycle --------------------------------------------------------------------------------


def _ready(observed: dict[str, Observed], key: str) -> bool:
    conditions = observed[key].manifest.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def check_gating(history: list[Rendered]) -> None:
    """Nothing is composed before the inputs it needs exist (or it existed already)."""
    observed: dict[str, Observed] = {}
    for out in history:
        _check_round(set(out.resources), observed)
        observed = observed_of(out)


def _check_round(keys: set[str], observed: dict[str, Observed]) -> None:
    def new(key: str) -> bool:
        return key in keys and key not in observed

    def ready(*names: str) -> bool:
        return all(name in observed and _ready(observed, name) for name in names)

    if "namespace" not in observed:
        assert not any(k.startswith("aws-") for k in keys), "AWS resources before the namespace"
    if any(new(k) for k in keys if k.startswith("aws-nat-")):
        assert ready("aws-igw"), "a NAT gateway before its internet gateway"
    subnets = [k for k in keys if k.startswith("aws-subnet-private-")]
    if new("aws-eks-cluster"):
        assert ready("aws-role-cluster", "aws-role-cluster-amazoneksclusterpolicy", *subnets)
    groups = [k for k in keys if k.startswith("aws-nodegroup-")]
    network = [k for k in keys if k.startswith(("aws-route", "aws-nat", "aws-rta"))]
    for key in groups:
        if new(key):
            assert ready("aws-eks-cluster", "aws-addon-vpc-cni", "aws-role-node", *network)
    for key in ("aws-addon-coredns", "aws-addon-aws-ebs-csi-driver"):
        if new(key):
            assert groups and ready(*groups), f"{key} before the node groups are ready"
    if new("aws-addon-aws-ebs-csi-driver"):
        assert ready("aws-pod-identity-ebs-csi")
    for key in keys:
        if new(key) and key.startswith(("aws-access-", "aws-pod-identity-", "aws-addon-")):
            assert ready("aws-eks-cluster"), f"{key} before the cluster is ready"
    if new("aws-clusterauth"):
        assert ready("aws-eks-cluster")
    if new("crossplane"):
        assert groups and ready(*groups), "Crossplane before nodes can run it"
    if new("storageclass-gp3"):  # a ProviderConfig is ready once it exists
        assert ready("aws-addon-aws-ebs-csi-driver") and "provider-config-kubernetes" in observed
    if new("provider-config-helm") or new("provider-config-kubernetes"):
        assert ready("aws-clusterauth")
        if "aws-role-crossplane" in keys:
            assert ready("aws-pod-identity-crossplane"), "stack could start without identity"
    if new("load-balancer-controller"):
        assert groups and ready(*groups, "aws-addon-coredns", "aws-pod-identity-lb-controller")
        assert "provider-config-helm" in observed
    if new("argocd-cluster"):
        assert ready("aws-eks-cluster", *[k for k in keys if k.startswith("aws-access-")])


def test_seed_converges_to_ready_in_bounded_rounds(history, final):
    assert final.composite_ready
    assert len(history) <= 10
    assert {t: c.status for t, c in final.conditions.items()} == dict.fromkeys(
        [
            "NetworkReady",
            "ClusterReady",
            "KubeconfigReady",
            "NodeGroupsReady",
            "AddonsReady",
            "AccessReady",
            "CrossplaneReady",
            "StackReady",
            "ArgoCDRegistered",
        ],
        TRUE,
    )


def test_every_round_is_schema_valid_desired_and_observed(history, large, assert_schema_valid):
    for out in [*history, *large]:
        assert_schema_valid(list(out.resources.values()))
        objects = [m for m in out.resources.values() if m["kind"] == "Object"]
        assert_schema_valid([m["spec"]["forProvider"]["manifest"] for m in objects])
        # What the simulated providers report must fit the CRDs too (it feeds the examples).
        assert_schema_valid([o.manifest for o in observed_of(out).values()])


def test_nothing_is_composed_before_its_inputs(history):
    check_gating(history)


def test_first_renders_compose_namespace_then_network_and_iam_then_nat(history):
    assert set(history[0].resources) == {"namespace"}
    kinds = {m["kind"] for m in aws_resources(history[1]).values()}
    assert kinds == {
        "VPC",
        "InternetGateway",
        "Subnet",
        "RouteTable",
        "Route",
        "RouteTableAssociation",
        "EIP",
        "Role",
        "RolePolicyAttachment",
    }
    assert condition(history[1], "ClusterReady")[1] == "WaitingForInputs"
    assert {"NATGateway", "Usage"} <= {m["kind"] for m in aws_resources(history[2]).values()}


def test_no_token_or_kubeconfig_outside_secrets(history):
    cluster_auth = observe("aws-clusterauth", history[-1].resources["aws-clusterauth"])
    kubeconfig = cluster_auth.connection["kubeconfig"].decode()
    for out in history:
        leaks.assert_only_in_secrets(out, [aws.token("dev"), kubeconfig])


def test_argocd_secret_uses_the_iam_role_and_the_ca_only(final):
    secret = final.resources["argocd-cluster"]
    data = decoded(secret)
    assert data["name"] == "dev"
    assert data["server"] == aws.endpoint("dev", "us-west-2")
    config = json.loads(data["config"])
    assert config == {
        "awsAuthConfig": {"clusterName": "dev", "roleARN": ARGOCD_ROLE},
        "tlsClientConfig": {"insecure": False, "caData": aws.CA_DATA},
    }
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"


def test_provider_configs_read_the_clusterauth_secret(final):
    auth = final.resources["aws-clusterauth"]
    assert auth["spec"]["writeConnectionSecretToRef"] == {"name": "dev-kubeconfig"}
    assert params(auth) == {"region": "us-west-2", "clusterNameRef": {"name": "dev"}}
    for key in ("provider-config-helm", "provider-config-kubernetes"):
        assert final.resources[key]["spec"]["credentials"] == {
            "source": "Secret",
            "secretRef": {"name": "dev-kubeconfig", "namespace": NAMESPACE, "key": "kubeconfig"},
        }
    assert final.status["outputs"]["server"] == aws.endpoint("dev", "us-west-2")
    assert final.status["outputs"]["versions"]["kubernetes"] == "1.34"


def test_every_managed_resource_lands_in_the_cluster_namespace_with_its_provider_config(final):
    for key, manifest in aws_resources(final).items():
        assert manifest["metadata"]["namespace"] == NAMESPACE, key
        if manifest["kind"] == "Usage":
            continue
        assert manifest["spec"]["providerConfigRef"] == PROVIDER_CONFIG, key
        if manifest["kind"] not in {"Role", "RolePolicyAttachment"}:
            assert params(manifest)["region"] == "us-west-2", key
        if manifest["kind"] in TAGGED:
            assert params(manifest)["tags"]["forge.projectcatalyst.io/cluster"] == "dev", key
        else:
            assert "tags" not in params(manifest), key


def test_larger_cluster_with_its_own_network_converges(large):
    final = large[-1]
    assert final.composite_ready
    assert len(large) <= 10
    check_gating(large)
    kinds = {m["kind"] for m in aws_resources(final).values()}
    assert not kinds & {"VPC", "Subnet", "NATGateway", "InternetGateway", "RouteTable", "EIP"}
    cluster = params(final.resources["aws-eks-cluster"])
    assert sorted(cluster["vpcConfig"]["subnetIds"]) == SUBNETS
    groups = of_kind(final, "NodeGroup")
    assert len(groups) == 3
    for manifest in groups.values():
        assert sorted(params(manifest)["subnetIds"]) == SUBNETS
    assert condition(final, "NetworkReady") == (
        TRUE,
        "ExistingSubnets",
        "using the subnets from the spec",
    )
    # The large example asks for the cluster's own AWS providers, authenticated by Pod Identity.
    config = final.resources["stack-config-aws"]["spec"]["forProvider"]["manifest"]
    assert config["spec"]["credentials"] == {"source": "PodIdentity"}


# Network ------------------------------------------------------------------------------------


def test_subnets_span_the_zones_with_load_balancer_tags(final):
    subnets = of_kind(final, "Subnet")
    zones = {params(m)["availabilityZone"] for m in subnets.values()}
    assert zones == {"us-west-2a", "us-west-2b", "us-west-2c"}
    for key, manifest in subnets.items():
        tags = params(manifest)["tags"]
        if "private" in key:
            assert tags["kubernetes.io/role/internal-elb"] == "1"
            assert "kubernetes.io/role/elb" not in tags
        else:
            assert tags["kubernetes.io/role/elb"] == "1"
        assert params(manifest)["vpcIdRef"] == {"name": "dev-vpc"}
    assert params(subnets["aws-subnet-private-us-west-2b"])["cidrBlock"] == "10.0.32.0/19"
    assert params(subnets["aws-subnet-public-us-west-2b"])["cidrBlock"] == "10.0.228.0/22"


def test_subnet_cidrs_follow_the_zone_letter_not_the_list_order():
    assert cidrs("10.0.0.0/16", "us-west-2a") == ("10.0.0.0/19", "10.0.224.0/22")
    assert cidrs("10.0.0.0/16", "us-east-1f") == ("10.0.160.0/19", "10.0.244.0/22")
    assert cidrs("10.8.0.0/20", "eu-west-1c") == ("10.8.4.0/23", "10.8.14.128/26")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    observed = {"namespace": observe("namespace", namespace)}

    def zones(*names: str) -> Rendered:
        return render(build(xr_with(aws={"network": {"availabilityZones": list(names)}}), observed))

    one, two = zones("us-west-2c", "us-west-2a"), zones("us-west-2a", "us-west-2c")
    assert one.resources == two.resources
    assert "aws-subnet-private-us-west-2b" not in one.resources


def test_private_subnets_route_through_nat_and_public_ones_through_the_gateway(final):
    routes = of_kind(final, "Route")
    assert params(routes["aws-route-public"])["gatewayIdRef"] == {"name": "dev-igw"}
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        route = params(routes[f"aws-route-private-{zone}"])
        assert route["destinationCidrBlock"] == "0.0.0.0/0"
        assert route["natGatewayIdRef"] == {"name": "dev-nat-us-west-2a"}  # Single
        association = params(final.resources[f"aws-rta-private-{zone}"])
        assert association["subnetIdRef"] == {"name": f"dev-private-{zone}"}
        assert association["routeTableIdRef"] == {"name": f"dev-private-{zone}"}
    nat = params(final.resources["aws-nat-us-west-2a"])
    assert nat["subnetIdRef"] == {"name": "dev-public-us-west-2a"}
    assert nat["allocationIdRef"] == {"name": "dev-nat-us-west-2a"}
    assert params(final.resources["aws-eip-nat-us-west-2a"])["domain"] == "vpc"


def test_nat_gateways_wait_for_the_internet_gateway():
    """AWS fails a public NAT gateway in a VPC without an attached internet gateway."""
    history = converge(xr_with(aws={"network": {"natGateways": "PerZone"}}))
    first = next(i for i, out in enumerate(history) if "aws-igw" in out.resources)
    assert not of_kind(history[first], "NATGateway")
    assert not any("-by-nat-" in key for key in history[first].resources)  # nor their Usages
    observed = observed_of(history[first])
    observed["aws-igw"] = creating(observed["aws-igw"])
    held = render(build(xr_with(aws={"network": {"natGateways": "PerZone"}}), observed=observed))
    assert not of_kind(held, "NATGateway")
    status, reason, message = condition(held, "NetworkReady")
    assert (status, reason) == (FALSE, "Creating")
    assert "aws-nat-us-west-2a" in message
    assert len(of_kind(history[first + 1], "NATGateway")) == 3
    check_gating(history)


def test_one_nat_gateway_per_zone_when_asked():
    final = converge(xr_with(aws={"network": {"natGateways": "PerZone"}}))[-1]
    assert final.composite_ready
    assert len(of_kind(final, "NATGateway")) == len(of_kind(final, "EIP")) == 3
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        route = params(final.resources[f"aws-route-private-{zone}"])
        assert route["natGatewayIdRef"] == {"name": f"dev-nat-{zone}"}
        assert params(final.resources[f"aws-nat-{zone}"])["subnetIdRef"] == {
            "name": f"dev-public-{zone}"
        }


# IAM, cluster, add-ons, access ------------------------------------------------------------


def trust(out: Rendered, key: str) -> dict[str, Any]:
    return json.loads(params(out.resources[key])["assumeRolePolicy"])["Statement"][0]


def test_roles_trust_their_services_and_carry_the_managed_policies(final):
    assert trust(final, "aws-role-cluster")["Principal"] == {"Service": "eks.amazonaws.com"}
    assert trust(final, "aws-role-node")["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert trust(final, "aws-role-ebs-csi")["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert params(final.resources["aws-role-node"])["description"] == (
        "EKS managed nodes of cluster dev"
    )
    attachments = {
        params(m)["policyArn"]: params(m)["roleRef"]["name"]
        for m in of_kind(final, "RolePolicyAttachment").values()
    }
    assert attachments == {
        "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy": "dev-cluster",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy": "dev-node",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy": "dev-node",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly": "dev-node",
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy": "dev-ebs-csi",
        "arn:aws:iam::aws:policy/AdministratorAccess": "dev-crossplane",
    }


def test_an_eks_cluster_manages_its_own_aws_resources_unless_told_not_to():
    """stack.aws.enabled defaults by provider; an explicit false is honoured."""
    spec = ClusterSpec.model_validate(XR["spec"])
    assert spec.stack.aws.enabled is None
    assert spec.resolved().stack.aws.enabled is True
    default = render(build(xr_with()))
    assert not default.fatal
    off = ClusterSpec.model_validate({**XR["spec"], "stack": {"aws": {"enabled": False}}})
    assert off.resolved().stack.aws.enabled is False


def test_the_seed_as_written_is_valid_and_the_role_may_come_from_the_environment():
    """Issue 12 item 4: provider, region and nodeGroups alone, no Argo CD role anywhere."""
    xr = without_role()
    assert render(build(xr)).fatal == []
    xr["spec"]["environmentConfigRef"] = {"name": "dev"}
    env = {
        "apiVersion": "apiextensions.crossplane.io/v1beta1",
        "kind": "EnvironmentConfig",
        "metadata": {"name": "dev"},
        "data": {"region": "us-west-2"},
    }
    assert render(build(xr)).fatal == []  # first call: the environment is still to come
    assert render(build(xr, required={"environment-configs": [env]})).fatal == []
    # The examples' environment names the role (examples/cluster-aws): awsAuthConfig.


def test_cluster_settings(final):
    cluster = final.resources["aws-eks-cluster"]
    assert cluster["metadata"]["name"] == "dev"
    assert params(cluster) == {
        "region": "us-west-2",
        "version": "1.34",
        "roleArnRef": {"name": "dev-cluster"},
        "vpcConfig": {
            "subnetIdRefs": [{"name": f"dev-private-us-west-2{z}"} for z in "abc"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "accessConfig": {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": True,
        },
        "bootstrapSelfManagedAddons": False,
        "enabledClusterLogTypes": ["api", "audit", "authenticator"],
        # AWS's default is EXTENDED: paid support once standard support ends.
        "upgradePolicy": {"supportType": "STANDARD"},
        "tags": {"forge.projectcatalyst.io/cluster": "dev"},
    }


def test_addons_and_their_identity(final):
    addons = {params(m)["addonName"]: params(m) for m in of_kind(final, "Addon").values()}
    assert set(addons) == {
        "vpc-cni",
        "kube-proxy",
        "eks-pod-identity-agent",
        "coredns",
        "aws-ebs-csi-driver",
    }
    for name, addon in addons.items():
        assert addon["clusterNameRef"] == {"name": "dev"}
        assert addon["addonVersion"] == versions.EKS_ADDONS["1.34"][name]
        assert addon["resolveConflictsOnUpdate"] == "OVERWRITE"
    association = params(final.resources["aws-pod-identity-ebs-csi"])
    assert association["namespace"] == "kube-system"
    assert association["serviceAccount"] == "ebs-csi-controller-sa"
    assert association["roleArnRef"] == {"name": "dev-ebs-csi"}


def test_addon_versions_and_configuration_from_the_spec(large):
    final = large[-1]
    cni = params(final.resources["aws-addon-vpc-cni"])
    assert cni["addonVersion"] == "v1.20.1-eksbuild.1"
    assert json.loads(cni["configurationValues"]) == {"env": {"ENABLE_PREFIX_DELEGATION": "true"}}


def test_ebs_csi_driver_can_be_left_out():
    final = converge(xr_with(aws={"addons": {"ebsCsiDriver": {"enabled": False}}}))[-1]
    assert final.composite_ready
    assert "aws-addon-aws-ebs-csi-driver" not in final.resources
    assert "aws-role-ebs-csi" not in final.resources
    assert "storageclass-gp3" not in final.resources  # nothing would provision it


def test_a_default_gp3_storage_class_in_the_new_cluster(final, assert_schema_valid):
    """EKS marks no class default since 1.30: claims without one would stay Pending."""
    obj = final.resources["storageclass-gp3"]
    assert obj["kind"] == "Object"
    assert obj["metadata"]["namespace"] == NAMESPACE
    assert obj["spec"]["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}
    assert "Delete" not in obj["spec"]["managementPolicies"]  # dies with the cluster
    manifest = obj["spec"]["forProvider"]["manifest"]
    assert manifest == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "gp3",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    assert_schema_valid(manifest)
    usage = final.resources["usage-storageclass-gp3"]["spec"]
    assert usage["of"]["resourceRef"] == {"name": "dev"}
    assert usage["by"]["resourceRef"] == {"name": obj["metadata"]["name"]}


def test_access_entries_for_admins_and_argocd(large):
    final = large[-1]
    entries = {params(m)["principalArn"]: m for m in of_kind(final, "AccessEntry").values()}
    assert set(entries) == {ADMIN_ROLE, ARGOCD_ROLE}
    policies = of_kind(final, "AccessPolicyAssociation")
    assert len(policies) == 2
    for manifest in policies.values():
        p = params(manifest)
        entry = next(
            m for m in entries.values() if m["metadata"]["name"] == p["principalArnRef"]["name"]
        )
        assert (
            p["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        )
        assert p["accessScope"] == {"type": "cluster"}
        assert params(entry)["type"] == "STANDARD"


def test_argocd_role_listed_as_admin_gets_one_entry():
    spec = {"aws": {"admins": [ARGOCD_ROLE]}}
    final = converge(xr_with(**spec))[-1]
    assert final.composite_ready
    assert len(of_kind(final, "AccessEntry")) == 1


def test_crossplane_identity_by_pod_identity(large):
    final = large[-1]
    association = params(final.resources["aws-pod-identity-crossplane"])
    assert association == {
        "region": "eu-west-1",
        "clusterNameRef": {"name": "prod"},
        "namespace": "crossplane-system",
        "serviceAccount": "provider-aws",
        "roleArnRef": {"name": "prod-crossplane"},
        "tags": {
            "team": "platform",
            "cost-center": "4711",
            "forge.projectcatalyst.io/cluster": "prod",
        },
    }
    statement = trust(final, "aws-role-crossplane")
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    (attachment,) = [
        params(m) for k, m in final.resources.items() if k.startswith("aws-role-crossplane-")
    ]
    assert attachment["policyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    # The runtime config of the stack's AWS providers runs them as that service account.
    runtime = final.resources["stack-runtime-provider-aws"]["spec"]["forProvider"]["manifest"]
    assert runtime["spec"]["serviceAccountTemplate"]["metadata"]["name"] == "provider-aws"


def test_crossplane_identity_policies_and_boundary_from_the_spec():
    policy = "arn:aws:iam::123456789012:policy/forge/crossplane"
    boundary = "arn:aws:iam::123456789012:policy/boundary"
    spec = {
        "aws": {"crossplaneIdentity": {"policyArns": [policy], "permissionsBoundary": boundary}},
        "stack": {"aws": {"enabled": True}},
    }
    final = converge(xr_with(**spec))[-1]
    role = params(final.resources["aws-role-crossplane"])
    assert role["permissionsBoundary"] == boundary
    attached = [
        params(m)["policyArn"]
        for k, m in of_kind(final, "RolePolicyAttachment").items()
        if k.startswith("aws-role-crossplane-")
    ]
    assert attached == [policy]


def test_no_pod_identity_when_the_stack_uses_other_credentials():
    role = "arn:aws:iam::123456789012:role/crossplane"
    stack = {"aws": {"enabled": True, "credentials": {"source": "IRSA", "roleArn": role}}}
    final = converge(xr_with(stack=stack))[-1]
    assert final.composite_ready
    assert "aws-role-crossplane" not in final.resources
    assert "aws-pod-identity-crossplane" not in final.resources


# The infrastructure bundle's AWS identities ----------------------------------------------

BUNDLE = ROOT / "examples/infrastructure/bundle.yaml"
BUNDLE_ENV = environment_config(
    region="us-west-2", clusterName="dev", domain="dev.projectcatalyst.io", profile="aws"
)
WORKLOADS = ("external-dns", "cert-manager", "external-secrets", "keda")


def uses_pod_identity(xr: dict[str, Any]) -> bool:
    spec = xr.get("spec", {})
    identity = spec.get("awsIdentity") or spec.get("credentials") or {}
    return identity.get("source") == "PodIdentity"


def associations(out: Rendered) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, service account) -> the association's parameters."""
    found = {}
    for manifest in of_kind(out, "PodIdentityAssociation").values():
        p = params(manifest)
        found[(p["namespace"], p["serviceAccount"])] = p
    return found


def inline_policy(out: Rendered, purpose: str) -> dict[str, Any]:
    (policy,) = params(out.resources[f"aws-role-{purpose}"])["inlinePolicy"]
    assert policy["name"] == purpose
    return json.loads(policy["policy"])


def actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in s["Action"]}


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in policy["Statement"] if s["Sid"] == sid]
    return found


@pytest.mark.parametrize(
    "xr",
    [d for d in yaml.safe_load_all(BUNDLE.read_text()) if d and uses_pod_identity(d)],
    ids=lambda x: x["kind"],
)
def test_every_bundle_xr_told_to_use_pod_identity_has_its_association(final, xr):
    """The service account and namespace the bundle XR's chart really runs as (its
    status and its Release, as the function renders them) are the ones associated."""
    required = {"environment-configs": [BUNDLE_ENV]}
    out = render(build(xr, required=required, step_input=step_input(xr["kind"])))
    assert not out.fatal
    account = out.status["serviceAccount"]
    (release,) = [m for m in out.resources.values() if m["kind"] == "Release"]
    assert params(release)["namespace"] == account["namespace"]
    association = associations(final)[(account["namespace"], account["name"])]
    roles = {m["metadata"]["name"]: k for k, m in of_kind(final, "Role").items()}
    key = roles[association["roleArnRef"]["name"]]
    assert trust(final, key)["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert params(final.resources[key])["inlinePolicy"], "a policy of the API's own"


def test_each_workload_role_is_named_after_the_cluster_and_trusted_by_pod_identity(final):
    for purpose in WORKLOADS:
        role = final.resources[f"aws-role-{purpose}"]
        assert role["metadata"]["name"] == f"dev-{purpose}"
        statement_ = trust(final, f"aws-role-{purpose}")
        assert statement_["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert set(statement_["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
        association = params(final.resources[f"aws-pod-identity-{purpose}"])
        assert association["roleArnRef"] == {"name": f"dev-{purpose}"}
        assert association["clusterNameRef"] == {"name": "dev"}
    assert set(associations(final)) >= {
        ("external-dns", "external-dns"),
        ("cert-manager", "cert-manager"),
        ("external-secrets", "external-secrets"),
        ("keda", "keda-operator"),
    }


def test_policies_are_narrow_and_fit_iam_limits(final):
    for purpose in WORKLOADS:
        policy = params(final.resources[f"aws-role-{purpose}"])["inlinePolicy"][0]["policy"]
        # IAM counts a role's inline policies without whitespace, 10,240 characters at most.
        assert len(re.sub(r"\s", "", policy)) <= 10240, purpose
        for s in json.loads(policy)["Statement"]:
            assert s["Effect"] == "Allow" and "*" not in s["Action"], purpose
            assert all(not a.endswith(":*") for a in s["Action"]), purpose
    dns = inline_policy(final, "external-dns")
    assert statement(dns, "ChangeRecords")["Resource"] == ["arn:aws:route53:::hostedzone/*"]
    writes = [s for s in dns["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"]]
    assert [s["Sid"] for s in writes] == ["ChangeRecords"]
    acme = statement(inline_policy(final, "cert-manager"), "ChallengeRecords")
    assert acme["Action"] == ["route53:ChangeResourceRecordSets"]
    assert acme["Condition"] == {
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
        "ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
        },
    }
    read_only = re.compile(r":(Get|Describe|List|Decrypt)")
    for purpose in ("external-secrets", "keda"):
        policy = inline_policy(final, purpose)
        assert all(read_only.search(a) for a in actions(policy)), purpose
    eso = inline_policy(final, "external-secrets")
    assert statement(eso, "ReadSecrets")["Resource"] == (
        "arn:aws:secretsmanager:us-west-2:*:secret:*"
    )
    assert statement(eso, "DecryptThroughSecretsManagerAndSsm")["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [
                "secretsmanager.us-west-2.amazonaws.com",
                "ssm.us-west-2.amazonaws.com",
            ]
        }
    }
    assert {"sqs:GetQueueAttributes", "cloudwatch:GetMetricData"} <= actions(
        inline_policy(final, "keda")
    )


def test_workload_identities_from_the_spec_and_the_environment():
    zone, other = "Z0123456789ABCDEFGHIJ", "Z0987654321ABCDEFGHIJ"
    extra = "arn:aws:iam::123456789012:policy/keda-dynamodb"
    spec = {
        "aws": {
            "workloadIdentity": {
                "certManager": {"hostedZoneIds": [zone]},
                "externalSecrets": {"enabled": False},
                "keda": {"namespace": "autoscaling", "policyArns": [extra]},
            }
        }
    }
    env = environment_config(
        region="us-west-2",
        argocd={"roleArn": ARGOCD_ROLE},
        aws={"workloadIdentity": {"externalDns": {"hostedZoneIds": [other]}}},
    )
    xr = xr_with(**spec)
    del xr["spec"]["region"], xr["spec"]["argocd"]
    required = {"environment-configs": [env]}
    final = converge(xr, required=lambda _: required, step_input=step_input("Cluster"))[-1]
    assert final.composite_ready
    zones = statement(inline_policy(final, "cert-manager"), "ChallengeRecords")["Resource"]
    assert zones == [f"arn:aws:route53:::hostedzone/{zone}"]
    dns = statement(inline_policy(final, "external-dns"), "ChangeRecords")["Resource"]
    assert dns == [f"arn:aws:route53:::hostedzone/{other}"]
    assert "aws-role-external-secrets" not in final.resources
    assert "aws-pod-identity-external-secrets" not in final.resources
    assert ("autoscaling", "keda-operator") in associations(final)
    attached = [
        params(m)["policyArn"]
        for k, m in of_kind(final, "RolePolicyAttachment").items()
        if k.startswith("aws-role-keda-")
    ]
    assert attached == [extra]


def test_access_waits_for_the_workload_identities(final):
    observed = observed_of(final)
    observed["aws-pod-identity-keda"] = creating(observed["aws-pod-identity-keda"])
    out = render(build(XR, observed=observed))
    status, reason, message = condition(out, "AccessReady")
    assert (status, reason) == (FALSE, "Configuring")
    assert "keda" in message
    assert not out.composite_ready


# The AWS Load Balancer Controller ----------------------------------------------------------

LBC = "load-balancer-controller"


def test_the_load_balancer_controller_is_installed_with_its_own_identity(final):
    release = final.resources[LBC]
    spec = release["spec"]
    assert release["apiVersion"] == "helm.m.crossplane.io/v1beta1"
    assert release["metadata"] == {"name": "aws-load-balancer-controller", "namespace": NAMESPACE}
    assert spec["forProvider"]["chart"] == {
        "name": "aws-load-balancer-controller",
        "repository": "https://aws.github.io/eks-charts",
        "version": versions.AWS_LOAD_BALANCER_CONTROLLER.version,
    }
    assert spec["forProvider"]["namespace"] == "kube-system"
    assert spec["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}
    assert spec["rollbackLimit"] == 5
    assert "Delete" not in spec["managementPolicies"]  # it dies with the nodes
    vpc_id = aws.resource_id("vpc", "dev-vpc")  # what EKS reports for the composed VPC
    values = spec["forProvider"]["values"]
    assert {k: values[k] for k in ("clusterName", "region", "vpcId", "serviceAccount")} == {
        "clusterName": "dev",
        "region": "us-west-2",
        "vpcId": vpc_id,
        "serviceAccount": {"create": True, "name": "aws-load-balancer-controller"},
    }
    assert values["defaultTags"] == {"forge.projectcatalyst.io/cluster": "dev"}
    association = associations(final)[("kube-system", "aws-load-balancer-controller")]
    assert association["roleArnRef"] == {"name": "dev-lb-controller"}
    assert trust(final, "aws-role-lb-controller")["Principal"] == {
        "Service": "pods.eks.amazonaws.com"
    }
    # Like Crossplane's Release, it holds the EKS cluster until it is gone.
    held = [
        m["spec"]["of"]["resourceRef"]["name"]
        for m in final.resources.values()
        if m["kind"] == "Usage"
        and m["spec"]["by"]["resourceRef"]["name"] == release["metadata"]["name"]
    ]
    assert held == ["dev"]


def test_the_controller_waits_for_nodes_dns_and_its_identity(history):
    out = next(o for o in history if "crossplane" in o.resources)
    observed = observed_of(out)
    assert LBC in render(build(XR, observed=observed)).resources
    for waited in (
        [k for k in observed if k.startswith("aws-nodegroup-")],
        ["aws-addon-coredns"],
        ["aws-pod-identity-lb-controller"],
    ):
        held = dict(observed)
        for key in waited:
            held[key] = creating(held[key])
        held.pop(LBC, None)
        out_held = render(build(XR, observed=held))
        assert LBC not in out_held.resources, waited
        assert condition(out_held, "AddonsReady")[:2] == (FALSE, "Installing")
        assert "aws-load-balancer-controller" in condition(out_held, "AddonsReady")[2]


def test_the_controller_policy_is_scoped_to_this_clusters_load_balancers(final):
    policy = inline_policy(final, "lb-controller")
    text = json.dumps(policy)
    assert (
        len(
            re.sub(
                r"\s",
                "",
                params(final.resources["aws-role-lb-controller"])["inlinePolicy"][0]["policy"],
            )
        )
        <= 10240
    )
    assert not re.search(r"(waf|shield|cognito)", text)
    create = statement(policy, "CreateOwnLoadBalancers")
    assert create["Condition"] == {"StringEquals": {"aws:RequestTag/elbv2.k8s.aws/cluster": "dev"}}
    for sid in ("ManageOwnLoadBalancers", "ManageOwnSecurityGroups"):
        assert statement(policy, sid)["Condition"]["StringEquals"] == {
            "aws:ResourceTag/elbv2.k8s.aws/cluster": "dev"
        }
    deletes = {a for s in policy["Statement"] for a in s["Action"] if ":Delete" in a}
    for s in policy["Statement"]:
        if set(s["Action"]) & {
            "elasticloadbalancing:DeleteLoadBalancer",
            "ec2:DeleteSecurityGroup",
        }:
            assert "Condition" in s, s["Sid"]
    assert "ec2:DeleteSecurityGroup" in deletes
    nodes = statement(policy, "OpenNodeSecurityGroups")
    assert nodes["Condition"] == {
        "StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/dev": ["owned", "shared"]}
    }
    assert all(
        r == "*" or ":us-west-2:" in r or r.startswith("arn:aws:route53")
        for s in policy["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    )
    values = params(final.resources[LBC])["values"]
    assert (values["enableShield"], values["enableWaf"], values["enableWafv2"]) == (
        False,
        False,
        False,
    )


def test_the_controller_from_the_spec_or_left_out():
    extra = "arn:aws:iam::123456789012:policy/waf"
    spec = {
        "aws": {
            "loadBalancerController": {
                "chartVersion": "3.4.3",
                "values": {"enableWafv2": True, "replicaCount": 3},
                "policyArns": [extra],
            }
        }
    }
    final = converge(xr_with(**spec))[-1]
    assert final.composite_ready
    release = params(final.resources[LBC])
    assert release["chart"]["version"] == "3.4.3"
    assert release["values"]["enableWafv2"] is True
    assert release["values"]["replicaCount"] == 3
    assert release["values"]["clusterName"] == "dev"
    attached = [
        params(m)["policyArn"]
        for k, m in of_kind(final, "RolePolicyAttachment").items()
        if k.startswith("aws-role-lb-controller-")
    ]
    assert attached == [extra]
    off = converge(xr_with(aws={"loadBalancerController": {"enabled": False}}))[-1]
    assert off.composite_ready
    assert LBC not in off.resources
    assert "aws-role-lb-controller" not in off.resources
    assert "aws-pod-identity-lb-controller" not in off.resources


def creating(observed: Observed) -> Observed:
    """The observed resource as its provider reports it while AWS is still creating it."""
    pending = copy.deepcopy(observed.manifest)
    pending["status"]["conditions"] = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "lastTransitionTime": aws.CREATED,
        }
    ]
    return Observed(pending, observed.connection)


def test_kubeconfig_waits_for_the_crossplane_identity(large):
    observed = observed_of(large[-1])
    observed["aws-pod-identity-crossplane"] = creating(observed["aws-pod-identity-crossplane"])
    fresh = {
        k: v
        for k, v in observed.items()
        if not k.startswith(("provider-config", "crossplane", "stack-", "usage-", "argocd"))
    }
    out = render(build(large_xr(), observed=fresh))
    assert "provider-config-helm" not in out.resources
    assert condition(out, "KubeconfigReady")[:2] == (FALSE, "WaitingForIdentity")


def test_crossplane_waits_for_the_node_groups(history):
    """Its pods need nodes: a Release installed before them fails, and waits for nothing."""
    configs = ("provider-config-helm", "provider-config-kubernetes")
    out = next(o for o in history if set(configs) <= set(o.resources))
    observed = observed_of(out)
    groups = [key for key in observed if key.startswith("aws-nodegroup-")]
    assert groups
    for key in groups:
        observed[key] = creating(observed[key])
    held = render(build(XR, observed=observed))
    assert "crossplane" not in held.resources
    assert condition(held, "CrossplaneReady")[:2] == (FALSE, "WaitingForNodes")
    observed = {k: o for k, o in observed_of(out).items() if k not in groups}
    assert "crossplane" not in render(build(XR, observed=observed)).resources


def test_tags_from_the_spec_never_replace_the_apis_own(large):
    final = large[-1]
    for key, manifest in aws_resources(final).items():
        if manifest["kind"] in TAGGED:
            tags = params(manifest)["tags"]
            assert tags["team"] == "platform", key
            assert tags["forge.projectcatalyst.io/cluster"] == "prod", key


# Node groups --------------------------------------------------------------------------------


def test_desired_size_is_set_at_creation_only(final):
    group = final.resources[nodegroup_key(final, "general")]
    assert group["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 3}}
    assert params(group)["scalingConfig"] == {"minSize": 3, "maxSize": 10}
    assert "managementPolicies" not in group["spec"]
    assert params(group)["instanceTypes"] == ["t3.large"]
    assert params(group)["subnetIdRefs"] == [{"name": f"dev-private-us-west-2{z}"} for z in "abc"]
    assert params(group)["version"] == "1.34"
    assert (
        group["metadata"]["name"]
        == f"dev-{nodegroup_key(final, 'general').removeprefix('aws-nodegroup-')}"
    )


def test_scaling_bounds_update_in_place(final):
    key = nodegroup_key(final, "general")
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(minSize=2, maxSize=20)
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert set(out.resources) == set(final.resources)
    group = out.resources[key]
    assert group["metadata"] == final.resources[key]["metadata"]
    assert params(group)["scalingConfig"] == {"minSize": 2, "maxSize": 20}
    assert group["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 3}}


def test_an_autoscaled_size_is_left_alone_and_clamped_only_into_new_bounds(final):
    key = nodegroup_key(final, "general")
    observed = observed_of(final)
    observed[key].manifest["status"]["atProvider"]["scalingConfig"]["desiredSize"] = 7
    out = render(build(XR, observed=observed))
    assert "desiredSize" not in params(out.resources[key])["scalingConfig"]
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(minSize=2, maxSize=5)
    out = render(build(xr_with(**spec), observed=observed))
    assert params(out.resources[key])["scalingConfig"] == {
        "minSize": 2,
        "maxSize": 5,
        "desiredSize": 5,
    }


def test_instance_type_change_replaces_the_group_before_removing_it(final):
    old_key = nodegroup_key(final, "general")
    observed = observed_of(final)
    observed[old_key].manifest["status"]["atProvider"]["scalingConfig"]["desiredSize"] = 6
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0]["instanceType"] = "m7i.large"
    xr = xr_with(**spec)
    out = render(build(xr, observed=observed))
    new_key = next(k for k in of_kind(out, "NodeGroup") if k != old_key)
    assert old_key in out.resources, "the old group must stay until its replacement is ready"
    assert out.resources[old_key]["spec"] == observed[old_key].manifest["spec"]
    new = out.resources[new_key]
    assert params(new)["instanceTypes"] == ["m7i.large"]
    assert new["spec"]["initProvider"] == {"scalingConfig": {"desiredSize": 6}}
    status, reason, message = condition(out, "NodeGroupsReady")
    assert (status, reason) == (FALSE, "Replacing")
    assert "instanceTypes changed" in message
    assert new["metadata"]["name"] in message
    assert not out.composite_ready
    usage = f"aws-usage-eks-cluster-by-{old_key.removeprefix('aws-')}"
    assert usage in out.resources
    # Once the replacement is ready, the old group (and its Usage) go.
    observed = observed_of(out)
    done = render(build(xr, observed=observed))
    assert old_key not in done.resources and usage not in done.resources
    assert new_key in done.resources
    assert condition(done, "NodeGroupsReady")[:2] == (TRUE, "Available")
    assert done.composite_ready


@pytest.mark.parametrize(
    "change",
    [{"capacityType": "SPOT"}, {"diskSize": 100}, {"amiType": "BOTTLEROCKET_x86_64"}],
)
def test_every_immutable_property_gets_a_new_generation(final, change):
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(change)
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert len(of_kind(out, "NodeGroup")) == 2
    assert condition(out, "NodeGroupsReady")[1] == "Replacing"


def test_mutable_changes_keep_the_generation(final):
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"][0].update(
        labels={"tier": "web"}, taints=[{"key": "dedicated", "effect": "NO_SCHEDULE"}]
    )
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    (key,) = of_kind(out, "NodeGroup")
    assert key == nodegroup_key(final, "general")
    assert params(out.resources[key])["taint"] == [{"key": "dedicated", "effect": "NO_SCHEDULE"}]
    assert params(out.resources[key])["labels"] == {"tier": "web"}


def test_adding_a_second_group_renames_nothing(final):
    spec = copy.deepcopy(XR["spec"])
    spec["nodeGroups"].append(
        {"name": "batch", "instanceType": "c7i.xlarge", "minSize": 0, "maxSize": 5}
    )
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    for key, manifest in final.resources.items():
        assert key in out.resources, key
        assert out.resources[key]["metadata"]["name"] == manifest["metadata"]["name"], key
    added = set(out.resources) - set(final.resources)
    assert {k.rsplit("-", 1)[0] for k in added} == {
        "aws-nodegroup-batch",
        "aws-usage-eks-cluster-by-nodegroup-batch",
    }


def test_nodes_follow_the_running_control_plane_version(final):
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.35"
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.35"
    assert params(out.resources[nodegroup_key(final, "general")])["version"] == "1.34"
    upgraded = render(build(xr_with(**spec), observed=observed_of(out)))
    assert params(upgraded.resources[nodegroup_key(final, "general")])["version"] == "1.35"


def addon_versions(out: Rendered) -> dict[str, str]:
    return {
        params(m)["addonName"]: params(m)["addonVersion"] for m in of_kind(out, "Addon").values()
    }


def test_addons_move_with_the_running_kubernetes_version(final):
    """EKS late-initialises addonVersion and never moves it: the table moves it, after the
    control plane (an add-on version must support the version the cluster runs)."""
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.35"
    upgrading = render(build(xr_with(**spec), observed=observed_of(final)))
    assert addon_versions(upgrading) == versions.EKS_ADDONS["1.34"]
    observed = observed_of(final)
    observed["aws-eks-cluster"] = creating(observed["aws-eks-cluster"])  # mid-upgrade
    held = render(build(xr_with(**spec), observed=observed))
    assert addon_versions(held) == versions.EKS_ADDONS["1.34"]
    upgraded = render(build(xr_with(**spec), observed=observed_of(upgrading)))
    assert addon_versions(upgraded) == versions.EKS_ADDONS["1.35"]
    spec["aws"] = {"addons": {"coredns": {"version": "v1.13.1-eksbuild.1"}}}
    pinned = render(build(xr_with(**spec), observed=observed_of(upgrading)))
    assert addon_versions(pinned) == versions.EKS_ADDONS["1.35"] | {"coredns": "v1.13.1-eksbuild.1"}


def test_every_kubernetes_version_pins_every_addon():
    addons = {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    assert set(versions.EKS_ADDONS) == set(get_args(KubernetesVersion))
    for minor, pins in versions.EKS_ADDONS.items():
        assert set(pins) == addons, minor
        for version in pins.values():
            assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", version), version
        assert pins["kube-proxy"].startswith(f"v{minor}."), "kube-proxy follows Kubernetes"


def test_impossible_version_changes_are_held_and_reported(final):
    spec = copy.deepcopy(XR["spec"])
    spec["kubernetesVersion"] = "1.32"
    out = render(build(xr_with(**spec), observed=observed_of(final)))
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.34"
    status, reason, message = condition(out, "ClusterReady")
    assert (status, reason) == (FALSE, "UnsupportedVersionChange")
    assert "cannot downgrade" in message
    assert target_version("1.34", "1.32")[1].startswith("kubernetesVersion 1.34 skips")
    assert target_version(None, "1.31") == ("1.31", "")
    assert target_version(None, None) == ("1.34", "")


def reporting_version(final: Rendered, running: Any) -> dict[str, Observed]:
    observed = observed_of(final)
    cluster = copy.deepcopy(observed["aws-eks-cluster"].manifest)
    cluster["status"]["atProvider"]["version"] = running
    observed["aws-eks-cluster"] = Observed(cluster, observed["aws-eks-cluster"].connection)
    return observed


ODD_VERSIONS = ["1", "134", "1.x", "v1.34", "", "1.34.2-eks", ".34", "1." + "9" * 400, 1.34]


@pytest.mark.parametrize("running", ODD_VERSIONS, ids=lambda v: repr(v)[:12])
@pytest.mark.parametrize("requested", [None, "1.35"], ids=["unpinned", "pinned"])
def test_an_odd_version_from_the_provider_is_reported_not_raised(final, running, requested):
    """Issue 21 item 6: an EKS version that is not <major>.<minor> raised IndexError (an
    internal error) instead of a condition. The cluster stays at the version last asked
    for, node groups and add-ons are not moved by it, and the value is not quoted."""
    spec = copy.deepcopy(XR["spec"])
    if requested:
        spec["kubernetesVersion"] = requested
    out = render(build(xr_with(**spec), observed=reporting_version(final, running)))
    assert out.fatal == []
    status, reason, message = condition(out, "ClusterReady")
    assert (status, reason) == (FALSE, "UnknownVersion")
    assert "status.atProvider.version" in message
    if isinstance(running, str) and len(running) > 3:
        assert running not in message
    assert params(out.resources["aws-eks-cluster"])["version"] == "1.34"
    group = params(out.resources[nodegroup_key(final, "general")])
    assert group.get("version") in (None, "1.34")
    assert addon_versions(out) == versions.EKS_ADDONS["1.34"]


def test_generation_hash_covers_immutable_properties_only():
    group = ClusterSpec.model_validate(XR["spec"]).node_groups[0]
    network = nodegroups.Network(subnet_ids=SUBNETS)
    base = nodegroups.generation(group, network)
    assert nodegroups.generation(group.model_copy(update={"max_size": 99}), network) == base
    assert (
        nodegroups.generation(group.model_copy(update={"instance_type": "m7i.large"}), network)
        != base
    )
    assert nodegroups.generation(group, nodegroups.Network(subnet_ids=SUBNETS[:2])) != base


# Names ----------------------------------------------------------------------------------------


def test_names_fit_aws_limits_for_a_long_cluster_name():
    xr = xr_with()
    xr["metadata"]["name"] = "a" * 40 + "-environment-with-a-long-name"
    xr["spec"]["nodeGroups"][0]["name"] = "g" * 60
    final = converge(xr)[-1]
    assert final.composite_ready
    for manifest in aws_resources(final).values():
        name = manifest["metadata"]["name"]
        limit = {"Role": 64, "NodeGroup": 63, "Cluster": 100}.get(manifest["kind"], 63)
        assert len(name) <= limit, name


# Deletion -----------------------------------------------------------------------------------


def test_deletion_finishes_in_aws_order(final):
    rounds = deletion.simulate(final.resources, cluster="aws-eks-cluster", max_rounds=15)
    order = {key: index for index, keys in enumerate(rounds) for key in keys}
    cluster = order["aws-eks-cluster"]
    assert order[nodegroup_key(final, "general")] < cluster
    for key in (
        "aws-vpc",
        "aws-role-cluster",
        "aws-role-node",
        "aws-subnet-private-us-west-2a",
        "aws-role-cluster-amazoneksclusterpolicy",
    ):
        assert order[key] > cluster, key
    assert order["aws-igw"] > order["aws-nat-us-west-2a"]
    assert order["aws-eip-nat-us-west-2a"] > order["aws-nat-us-west-2a"]
    assert order["namespace"] == len(rounds) - 1


def test_the_network_outlives_the_nodes_and_the_cluster(final):
    """What the nodes need to reach AWS (and load balancers their subnets) goes last."""
    rounds = deletion.simulate(final.resources, cluster="aws-eks-cluster", max_rounds=15)
    order = {key: index for index, keys in enumerate(rounds) for key in keys}
    group = order[nodegroup_key(final, "general")]
    network = [
        k
        for k, m in aws_resources(final).items()
        if m["apiVersion"].startswith("ec2.") and k.startswith("aws-")
    ]
    assert {"aws-nat-us-west-2a", "aws-route-public", "aws-rta-private-us-west-2b"} <= set(network)
    for key in network:
        assert order[key] > order["aws-eks-cluster"] > group, key
    # The load balancer controller's Release is let go before the cluster (and the network).
    assert order["load-balancer-controller"] < order["aws-eks-cluster"]
    names = [m["metadata"]["name"] for m in final.resources.values() if m["kind"] == "Usage"]
    assert len(names) == len(set(names)), "two Usages of one name"


def test_nothing_a_spec_change_removes_is_held_while_the_xr_lives():
    """A Usage that is no longer desired holds its resource until its user is gone: only
    what goes with the XR may be held by something that stays (node groups and extra NAT
    gateways come and go with the spec)."""
    spec = {"aws": {"network": {"natGateways": "PerZone"}}}
    final = converge(xr_with(**spec))[-1]
    held = {
        (m["spec"]["of"]["kind"], m["spec"]["of"]["resourceRef"]["name"])
        for m in final.resources.values()
        if m["kind"] == "Usage"
    }
    assert ("NATGateway", "dev-nat-us-west-2a") in held
    assert not {name for kind, name in held if kind == "NATGateway"} - {"dev-nat-us-west-2a"}
    assert not [name for kind, name in held if kind == "NodeGroup"]
    single = render(build(xr_with(), observed=observed_of(final)))
    assert "aws-nat-us-west-2b" not in single.resources  # Crossplane deletes it, unblocked


def test_without_usages_aws_ordering_is_lost(final):
    naive = {k: m for k, m in final.resources.items() if m["kind"] != "Usage"}
    rounds = deletion.simulate(naive, cluster="aws-eks-cluster")
    assert "aws-eks-cluster" in rounds[0] and "aws-vpc" in rounds[0]


# Errors and the XRD -------------------------------------------------------------------------


def _group(**extra: Any) -> dict[str, Any]:
    return {"name": "g", "instanceType": "m7i.large", "minSize": 1, "maxSize": 3, **extra}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"nodeGroups": [_group(amiType="AL2023_ARM_64_STANDARD")]},
            "spec.nodeGroups[0].amiType: AL2023_ARM_64_STANDARD does not run on m7i.large",
        ),
        (
            {"nodeGroups": [_group(instanceType="m7g.large")]},
            "spec.nodeGroups[0].amiType: AL2023_x86_64_STANDARD does not run on m7g.large",
        ),
        ({"nodeGroups": [_group(instanceType="large")]}, "spec.nodeGroups[0].instanceType"),
        (
            {"aws": {"network": {"vpcCidr": "10.0.1.0/16"}}},
            "spec.aws.network.vpcCidr: has host bits set (did you mean 10.0.0.0/16?)",
        ),
        (
            {"aws": {"network": {"vpcCidr": "8.8.0.0/16"}}},
            "spec.aws.network.vpcCidr: must be a private range",
        ),
        (
            {"aws": {"network": {"vpcCidr": "10.0.0.0/24"}}},
            "spec.aws.network.vpcCidr: String should match",
        ),
        (
            {"aws": {"network": {"availabilityZones": ["us-east-1a", "us-east-1b"]}}},
            "spec.aws.network.availabilityZones[0]: is not a zone of us-west-2",
        ),
        (
            {"aws": {"network": {"availabilityZones": ["us-west-2a"]}}},
            "spec.aws.network.availabilityZones: needs two zones or more",
        ),
        (
            {"aws": {"network": {"availabilityZones": ["us-west-2a", "us-west-2g"]}}},
            "spec.aws.network.availabilityZones[1]: String should match",
        ),
        (
            {"aws": {"network": {"subnetIds": {"private": ["subnet-0a1b2c3d4e5f60001"]}}}},
            "spec.aws.network.subnetIds.private: List should have at least 2 items",
        ),
        (
            {"aws": {"network": {"subnetIds": {"private": ["sn-1", "sn-2"]}}}},
            "spec.aws.network.subnetIds.private[0]: String should match",
        ),
        (
            {"aws": {"endpointPublicAccess": False, "endpointPrivateAccess": False}},
            "spec.aws.endpointPublicAccess: the API endpoint needs public or private access",
        ),
        (
            {"aws": {"publicAccessCidrs": ["10.0.0.1/8"]}},
            "spec.aws.publicAccessCidrs[0]: must be an IPv4 CIDR",
        ),
        ({"aws": {"admins": [ADMIN_ROLE, ADMIN_ROLE]}}, "spec.aws.admins[1]: duplicate principal"),
        ({"aws": {"admins": ["platform-admins"]}}, "spec.aws.admins[0]: String should match"),
        (
            {"aws": {"tags": {"aws:created-by": "me"}}},
            'spec.aws.tags["aws:created-by"]: the aws: prefix is reserved',
        ),
        ({"aws": {"addons": {"coredns": {"version": "1.11"}}}}, "spec.aws.addons.coredns.version"),
        ({"kubernetesVersion": "1.29"}, "spec.kubernetesVersion: Input should be"),
    ],
)
def test_malformed_aws_spec_is_fatal_and_names_the_field(spec, message):
    xr = xr_with(**spec)
    out = render(build(xr))
    assert len(out.fatal) == 1, out.fatal
    assert message in out.fatal[0]
    assert out.resources == {}


def test_xrd_rules_agree_with_the_model():
    """The API server rejects what the model rejects (the rules' logic is checked by hand)."""
    xrdgen = importlib.import_module("forge_dev.generate")
    definition = next(d for d in xrdgen.DEFINITIONS if d.kind == "Cluster")
    schema = xrdgen.xrd(definition)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    messages = {v["message"] for v in spec["x-kubernetes-validations"]}
    assert {
        "aws.network.availabilityZones must be zones of the region",
        "aws: the API endpoint needs public or private access (or both)",
        "aws.tags must not use the reserved aws: prefix",
        "aws.network.availabilityZones needs two zones or more (EKS requires two)",
        "aws.network.vpcCidr is immutable",
        "aws.network.availabilityZones is immutable (subnets derive from it)",
        "aws.authenticationMode cannot go back from API (EKS only moves towards API)",
    } <= messages
    groups = spec["properties"]["nodeGroups"]
    rules = {v["message"] for v in groups["items"]["x-kubernetes-validations"]}
    assert any(m.startswith("amiType must match") for m in rules)
    assert groups["maxItems"] == 30
    # Objects without rules of their own get `default: {}`, so their defaults apply.
    aws_schema = spec["properties"]["aws"]
    assert aws_schema["default"] == {} and aws_schema["properties"]["network"]["default"] == {}
    network = aws_schema["properties"]["network"]["properties"]
    assert network["availabilityZones"]["items"]["pattern"].endswith("[a-f]$")
    assert network["subnetIds"]["properties"]["private"]["items"]["pattern"].startswith("^subnet-")


def test_example_xrs_are_valid_specs():
    paths = ["examples/cluster-aws/xr.yaml", "examples/cluster-aws-large/xr.yaml"]
    paths.append("examples/cluster-aws-token/xr.yaml")
    specs = {}
    for path in paths:
        xr = yaml.safe_load((ROOT / path).read_text())
        specs[path] = ClusterSpec.model_validate(with_environment(path, xr))
    for path in ("examples/cluster-aws/xr.yaml", "examples/cluster-aws-token/xr.yaml"):
        xr = yaml.safe_load((ROOT / path).read_text())
        assert xr == without_role()  # one XR; a role only from the environment
    assert specs["examples/cluster-aws/xr.yaml"].argocd.role_arn == ARGOCD_ROLE
    assert specs["examples/cluster-aws-token/xr.yaml"].argocd.role_arn is None


# Examples -------------------------------------------------------------------------------------


def _example_stages(example: str) -> list[str]:
    return sorted(p.name for p in stages_dir(ROOT / "examples" / example).iterdir() if p.is_dir())


@pytest.mark.parametrize("example", ["cluster-aws", "cluster-aws-large", "cluster-aws-token"])
def test_example_stages_render_schema_valid_and_end_ready(
    example, function_servers, assert_schema_valid
):
    examples = importlib.import_module("forge_dev.render.examples")
    names = _example_stages(example)
    assert len(names) >= 4
    for name in names:
        stage = next(s for s in examples.stages() if s.name.endswith(f"{example}/stages/{name}"))
        docs = list(yaml.safe_load_all(examples.render_stage(stage, function_servers)))
        xr, composed = docs[0], [d for d in docs[1:] if d["kind"] != "Result"]
        assert_schema_valid(composed)
        conditions = {c["type"]: c["status"] for c in xr["status"]["conditions"]}
        assert conditions["Ready"] == ("True" if name == names[-1] else "False"), name
    secret = next(d for d in composed if d["kind"] == "Secret")
    config = json.loads(decoded(secret)["config"])
    assert config["tlsClientConfig"]["caData"] == aws.CA_DATA
    if example == "cluster-aws-token":  # the environment names no role
        assert set(config) == {"bearerToken", "tlsClientConfig"}
        assert config["bearerToken"] == kubernetes.service_account_token(
            "kube-system", "argocd-manager"
        )
        return
    assert set(config) == {"awsAuthConfig", "tlsClientConfig"}
    assert config["awsAuthConfig"]["roleARN"] == ARGOCD_ROLE


def test_the_xr_name_must_be_a_valid_eks_cluster_name():
    xr = xr_with()
    xr["metadata"]["name"] = "dev.eu"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cluster-dev-eu"}}
    out = render(build(xr, observed={"namespace": observe("namespace", namespace)}))
    assert out.fatal == [
        "invalid Cluster 'dev.eu': metadata.name: names the EKS cluster for provider aws: "
        "letters, digits and '-', 100 at most"
    ]


def test_an_invalid_vpc_cidr_names_the_field_without_quoting_it():
    xr = xr_with(aws={"network": {"vpcCidr": "999.0.0.0/16"}})
    out = render(build(xr))
    assert out.fatal == [
        "invalid Cluster 'dev': spec.aws.network.vpcCidr: is not a valid IPv4 CIDR"
    ]


# Argo CD without an IAM role: the argocd-manager ServiceAccount's token -----------------------

MANAGER_KEYS = ("argocd-manager-sa", "argocd-manager-role", "argocd-manager-binding")
TOKEN_KEY = "argocd-manager-token"
TOKEN_SECRET = "dev-argocd-manager"


def without_role() -> dict[str, Any]:
    xr = xr_with()
    del xr["spec"]["argocd"]
    return xr


def written_required(xr: dict[str, Any]):
    """Crossplane's answers to the function's requirements from what the providers wrote."""
    from forge_dev.simulate.scenarios import required_from  # noqa: PLC0415 - the bench's requirement loop

    def required(observed: dict[str, Observed]) -> dict[str, list[dict[str, Any]]]:
        return required_from(xr, written(observed), None)(observed)

    return required


@pytest.fixture(scope="module")
def token_history() -> list[Rendered]:
    xr = without_role()
    return converge(xr, required=written_required(xr), max_rounds=14)


def test_the_seed_without_a_role_registers_with_a_service_account_token(token_history):
    final = token_history[-1]
    assert final.composite_ready
    assert final.fatal == []
    config = json.loads(decoded(final.resources["argocd-cluster"])["config"])
    assert config == {
        "bearerToken": kubernetes.service_account_token("kube-system", "argocd-manager"),
        "tlsClientConfig": {"insecure": False, "caData": aws.CA_DATA},
    }
    # No IAM role: no access entry for Argo CD (only what the spec's admins would get).
    assert of_kind(final, "AccessEntry") == {}


def test_argocd_manager_objects_are_those_argocd_cluster_add_makes(token_history):
    final = token_history[-1]
    inner = {
        k: final.resources[k]["spec"]["forProvider"]["manifest"] for k in (*MANAGER_KEYS, TOKEN_KEY)
    }
    assert inner["argocd-manager-sa"] == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "argocd-manager", "namespace": "kube-system"},
    }
    assert inner["argocd-manager-role"] == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "argocd-manager-role"},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }
    assert inner["argocd-manager-binding"] == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "argocd-manager-role-binding"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "argocd-manager-role",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}
        ],
    }
    assert inner[TOKEN_KEY] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "argocd-manager-long-lived-token",
            "namespace": "kube-system",
            "annotations": {"kubernetes.io/service-account.name": "argocd-manager"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    for key in (*MANAGER_KEYS, TOKEN_KEY):
        obj = final.resources[key]
        assert obj["metadata"] == {"name": f"dev-{key}", "namespace": NAMESPACE}
        assert obj["spec"]["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}
        assert "Delete" not in obj["spec"]["managementPolicies"]  # dies with the cluster
        usage = final.resources[f"usage-{key}"]["spec"]
        assert usage["of"]["resourceRef"] == {"name": "dev"}
        assert usage["by"]["resourceRef"] == {"name": f"dev-{key}"}


def test_the_token_comes_back_only_through_the_objects_connection_secret(token_history):
    final = token_history[-1]
    spec = final.resources[TOKEN_KEY]["spec"]
    assert spec["connectionDetails"] == [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "name": "argocd-manager-long-lived-token",
            "namespace": "kube-system",
            "fieldPath": "data.token",
            "toConnectionSecretKey": "token",
        }
    ]
    assert spec["writeConnectionSecretToRef"] == {"name": TOKEN_SECRET}
    selector = final.requirements["argocd-manager-token"]
    assert (selector.api_version, selector.kind) == ("v1", "Secret")
    assert (selector.namespace, selector.match_name) == (NAMESPACE, TOKEN_SECRET)
    token = kubernetes.service_account_token("kube-system", "argocd-manager")
    for out in token_history:
        leaks.assert_only_in_secrets(out, [token], allowed={"argocd-cluster"})


def test_argocd_manager_objects_wait_for_their_inputs(token_history):
    observed: dict[str, Observed] = {}
    for out in token_history:
        keys = set(out.resources)
        for key in MANAGER_KEYS:
            if key in keys and key not in observed:
                assert "provider-config-kubernetes" in observed, f"{key} before its ProviderConfig"
        if TOKEN_KEY in keys and TOKEN_KEY not in observed:
            assert "argocd-manager-sa" in observed, "a token Secret before its ServiceAccount"
        if "argocd-manager-token" in out.requirements:
            assert TOKEN_KEY in observed, "asked for the connection Secret before its Object"
        if "argocd-cluster" not in keys:
            status, reason, message = condition(out, "ArgoCDRegistered")
            if TOKEN_KEY in keys:
                assert (status, reason) == (FALSE, "WaitingForToken")
                assert f"{NAMESPACE}/{TOKEN_SECRET}" in message
        observed = observed_of(out)
    assert any(
        TOKEN_KEY in o.resources and "argocd-cluster" not in o.resources for o in token_history
    )


def test_with_a_role_no_token_objects_and_no_requirement(final):
    assert not {*MANAGER_KEYS, TOKEN_KEY} & set(final.resources)
    assert "argocd-manager-token" not in final.requirements


def token_secret(observed: dict[str, Observed], value: bytes, **changes: Any) -> dict[str, Any]:
    """The token Object's connection Secret as provider-kubernetes writes it (``changes``
    replace metadata fields, or ``type``)."""
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": NAMESPACE,
            "ownerReferences": [controller_reference(observed[TOKEN_KEY].manifest)],
        },
        "type": "connection.crossplane.io/v1alpha1",
        "data": {"token": base64.b64encode(value).decode()},
    }
    for name, change in changes.items():
        if name == "type":
            secret["type"] = change
        elif change is None:
            secret["metadata"].pop(name)
        else:
            secret["metadata"][name] = change
    return secret


def before_registration(token_history: list[Rendered]) -> dict[str, Observed]:
    """The round that first sees the token Object: the Argo CD Secret is not composed yet."""
    return observed_of(next(o for o in token_history if TOKEN_KEY in o.resources))


def with_token(observed: dict[str, Observed], secret: dict[str, Any]) -> Rendered:
    return render(build(without_role(), observed=observed, required={TOKEN_KEY: [secret]}))


NEW_TOKEN = b"eyJhbGciOiJSUzI1NiJ9.rotated.signature"


def test_the_token_secret_as_provider_kubernetes_writes_it_is_used(token_history):
    out = with_token(
        before_registration(token_history),
        token_secret(before_registration(token_history), NEW_TOKEN),
    )
    config = json.loads(decoded(out.resources["argocd-cluster"])["config"])
    assert config["bearerToken"] == NEW_TOKEN.decode()


@pytest.mark.parametrize(
    "value",
    [b"", b"two words", b"line\nbreak", b"x" * (17 * 1024)],
    ids=["empty", "space", "newline", "too-large"],
)
def test_an_unusable_token_is_reported_without_quoting_it(token_history, value):
    observed = before_registration(token_history)
    out = with_token(observed, token_secret(observed, value))
    assert out.fatal == []
    assert "argocd-cluster" not in out.resources
    status, reason, message = condition(out, "ArgoCDRegistered")
    assert (status, reason) == (FALSE, "TokenInvalid")
    assert f"{NAMESPACE}/{TOKEN_SECRET}" in message and "'token'" in message
    if value:
        assert value.decode()[:5] not in message


def other_owner(observed: dict[str, Observed], **changes: Any) -> list[dict[str, Any]]:
    ref = {**controller_reference(observed[TOKEN_KEY].manifest), **changes}
    return [{k: v for k, v in ref.items() if v is not None}]


# Issue 21, item 6: a Secret the token Object did not write is never read.
NOT_OWNED: dict[str, Any] = {
    "opaque": {"type": "Opaque"},
    "no-type": {"type": None},
    "no-owner": {"ownerReferences": None},
    "owner-not-controller": {"ownerReferences": lambda o: other_owner(o, controller=False)},
    "owner-controller-absent": {"ownerReferences": lambda o: other_owner(o, controller=None)},
    "another-uid": {"ownerReferences": lambda o: other_owner(o, uid="1234")},
    "another-object": {"ownerReferences": lambda o: other_owner(o, name="dev-argocd-manager-sa")},
    "another-kind": {"ownerReferences": lambda o: other_owner(o, kind="Release")},
    "another-api": {
        "ownerReferences": lambda o: other_owner(o, apiVersion="kubernetes.crossplane.io/v1alpha2")
    },
    "two-controllers": {
        "ownerReferences": lambda o: [
            *other_owner(o, uid="1234"),
            *other_owner(o),
        ]
    },
}


def not_owned(observed: dict[str, Observed], case: str, value: bytes) -> dict[str, Any]:
    changes = {k: (v(observed) if callable(v) else v) for k, v in NOT_OWNED[case].items()}
    secret = token_secret(observed, value, **{k: v for k, v in changes.items() if k != "type"})
    if "type" in changes:
        if changes["type"] is None:
            del secret["type"]
        else:
            secret["type"] = changes["type"]
    return secret


@pytest.mark.parametrize("case", sorted(NOT_OWNED))
def test_a_token_secret_the_object_did_not_write_is_refused(token_history, case):
    """Opaque, or not controlled by the token Object (uid included): a Secret planted under
    the expected name. It is named so that someone can delete it (provider-kubernetes
    will not take over a Secret another controller holds, nor an Opaque one)."""
    observed = before_registration(token_history)
    out = with_token(observed, not_owned(observed, case, NEW_TOKEN))
    assert out.fatal == []
    assert "argocd-cluster" not in out.resources
    status, reason, message = condition(out, "ArgoCDRegistered")
    assert (status, reason) == (FALSE, "TokenSecretNotOwned")
    assert f"{NAMESPACE}/{TOKEN_SECRET}" in message
    leaks.assert_only_in_secrets(out, [NEW_TOKEN.decode()], allowed=set())


@pytest.mark.parametrize(
    "metadata",
    [{"namespace": "team-a"}, {"name": "dev-argocd-manager-x"}, {"namespace": None}],
    ids=["another-namespace", "another-name", "no-namespace"],
)
def test_a_secret_crossplane_should_not_have_answered_is_ignored(token_history, metadata):
    """Only ``cluster-dev/dev-argocd-manager`` was asked for: anything else in the answer
    is not read (an Opaque Secret from another namespace was used as the token)."""
    observed = before_registration(token_history)
    out = with_token(observed, token_secret(observed, NEW_TOKEN, **metadata))
    assert "argocd-cluster" not in out.resources
    status, reason, _ = condition(out, "ArgoCDRegistered")
    assert (status, reason) == (FALSE, "WaitingForToken")
    leaks.assert_only_in_secrets(out, [NEW_TOKEN.decode()], allowed=set())


def registered(token_history: list[Rendered]) -> tuple[dict[str, Observed], dict[str, Any]]:
    final = token_history[-1]
    return observed_of(final), final.resources["argocd-cluster"]


def test_a_rotated_token_is_used(token_history):
    observed, _ = registered(token_history)
    out = with_token(observed, token_secret(observed, NEW_TOKEN))
    config = json.loads(decoded(out.resources["argocd-cluster"])["config"])
    assert config["bearerToken"] == NEW_TOKEN.decode()
    assert condition(out, "ArgoCDRegistered")[:2] == (TRUE, "Registered")


@pytest.mark.parametrize("case", ["invalid", "opaque", "another-uid"])
def test_a_bad_rotated_token_is_reported_and_the_last_one_kept(token_history, case):
    """Argo CD keeps the token it has (breaking it helps nobody), but the Cluster says the
    new one cannot be used: not Registered, and a warning; the value is never quoted."""
    observed, before = registered(token_history)
    value = b"not a token!" if case == "invalid" else NEW_TOKEN
    secret = (
        token_secret(observed, value) if case == "invalid" else not_owned(observed, case, value)
    )
    out = with_token(observed, secret)
    assert out.fatal == []
    assert out.resources["argocd-cluster"] == before
    status, reason, message = condition(out, "ArgoCDRegistered")
    reason_wanted = "TokenInvalid" if case == "invalid" else "TokenSecretNotOwned"
    assert (status, reason) == (FALSE, reason_wanted)
    assert "keeps the token it last had" in message
    assert not out.composite_ready
    warnings = [r.message for r in out.results if r.severity == fnv1.SEVERITY_WARNING]
    assert any(f"{NAMESPACE}/{TOKEN_SECRET}" in w for w in warnings), warnings
    leaks.assert_only_in_secrets(out, [value.decode()], allowed=set())


def test_a_call_without_the_token_secret_keeps_the_registration(token_history):
    """Crossplane's first call of a reconcile carries no required resources: not a problem."""
    observed, before = registered(token_history)
    out = render(build(without_role(), observed=observed))
    assert out.resources["argocd-cluster"] == before
    assert condition(out, "ArgoCDRegistered")[:2] == (TRUE, "Registered")


def test_two_clusters_without_a_role_share_no_token_objects():
    """The in-cluster names are fixed (each cluster has its own API server); what lives on
    the platform (Objects, the connection Secret and its requirement) is per Cluster,
    also for a name that ends like another's pieces."""
    owned: list[set[tuple[str, ...]]] = []
    for name in ("dev", "dev-argocd"):
        xr = without_role()
        xr["metadata"]["name"] = name
        history = converge(xr, required=written_required(xr), max_rounds=14)
        final = history[-1]
        assert final.composite_ready
        mine: set[tuple[str, ...]] = set()
        for key in (*MANAGER_KEYS, TOKEN_KEY):
            obj = final.resources[key]
            mine.add(("Object", obj["metadata"]["namespace"], obj["metadata"]["name"]))
            config = obj["spec"]["providerConfigRef"]["name"]
            mine.add(("ProviderConfig", obj["metadata"]["namespace"], config))
        secret = final.resources[TOKEN_KEY]["spec"]["writeConnectionSecretToRef"]["name"]
        mine.add(("Secret", f"cluster-{name}", secret))
        selector = final.requirements["argocd-manager-token"]
        assert ("Secret", selector.namespace, selector.match_name) in mine
        owned.append(mine)
    assert not owned[0] & owned[1]
