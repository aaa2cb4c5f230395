"""IAM roles, the cluster, its add-ons and access entries, the Crossplane identity."""

from __future__ import annotations

import json

from forge import versions
from forge.models.cluster import ClusterSpec
from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import (
    build,
    render,
)
from tests.support.eks import (
    ADMIN_ROLE,
    ARGOCD_ROLE,
    NAMESPACE,
    XR,
    of_kind,
    params,
    trust,
    without_role,
    xr_with,
)

# IAM, cluster, add-ons, access ------------------------------------------------------------


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
            # Private unless the environment names who may reach it (test_endpoint_access).
            "endpointPublicAccess": False,
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
    # The example names the policy its Crossplane gets (no AdministratorAccess default).
    assert attachment["policyArn"] == "arn:aws:iam::123456789012:policy/forge/crossplane-prod"
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
