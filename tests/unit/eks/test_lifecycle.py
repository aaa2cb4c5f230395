"""An EKS Cluster from nothing to Ready: order, validity, secrets, namespaces."""

from __future__ import annotations

import json

from forge_dev.simulate import aws
from forge_dev.simulate.player import observe
from tests.support import leaks
from tests.support.eks import (
    ARGOCD_ROLE,
    FALSE,
    NAMESPACE,
    PROVIDER_CONFIG,
    SUBNETS,
    TAGGED,
    TRUE,
    aws_resources,
    check_gating,
    condition,
    decoded,
    observed_of,
    of_kind,
    params,
)

# Lifecycle --------------------------------------------------------------------------------


def test_seed_converges_to_ready_in_bounded_rounds(history, final):
    assert final.composite_ready
    assert len(history) <= 10
    conditions = {t: c.status for t, c in final.conditions.items()}
    # Informational, never gating readiness: no policy is named for the cluster's Crossplane.
    assert conditions.pop("CrossplaneAwsPermissions") == FALSE
    assert conditions == dict.fromkeys(
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
        "Group",  # the control-plane log group, which EKS adopts
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
