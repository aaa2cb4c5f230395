"""Issue 19 item 4: least privilege by default.

Every Pod Identity role trusts only its own association (the cluster, namespace and
service account EKS Pod Identity tags the session with, and the account); the cluster's
Crossplane gets no AdministratorAccess unless the platform bounds it; External Secrets and
external-dns are scoped to the environment's secret prefix and hosted zones when it
names them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from forge.models.eks_workloads import ExternalSecretsWorkload
from forge_dev.simulate.aws import ACCOUNT
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import Observed
from forge_dev.simulate.requests import Rendered, build, environment_config, render, step_input
from tests.support.eks import (
    ARGOCD_ROLE,
    FALSE,
    ROOT,
    TRUE,
    XR,
    associations,
    inline_policy,
    observed_of,
    of_kind,
    params,
    statement,
    xr_with,
)

PODS = {"Service": "pods.eks.amazonaws.com"}
EKS_EXAMPLES = ("cluster-aws", "cluster-aws-large", "cluster-aws-token")
GOLDENS = sorted(
    p
    for example in EKS_EXAMPLES
    for p in (ROOT / "testdata/examples" / example / "stages").glob("*/expected.yaml")
)
ADMIN = "AdministratorAccess"
WITH_STACK = {"stack": {"aws": {"enabled": True}}}


def _golden(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _check_pod_roles(manifests: list[dict[str, Any]]) -> int:
    """Every role trusted by Pod Identity names exactly its association; return how many."""
    roles = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Role"}
    bound = {
        m["spec"]["forProvider"]["roleArnRef"]["name"]: m["spec"]["forProvider"]
        for m in manifests
        if m["kind"] == "PodIdentityAssociation"
    }
    checked = 0
    for name, role in roles.items():
        policy = json.loads(role["spec"]["forProvider"]["assumeRolePolicy"])
        for s in policy["Statement"]:
            if s["Principal"] != PODS:
                continue
            condition = s.get("Condition", {}).get("StringEquals", {})
            assert set(condition) == {
                "aws:SourceAccount",
                "aws:RequestTag/eks-cluster-name",
                "aws:RequestTag/kubernetes-namespace",
                "aws:RequestTag/kubernetes-service-account",
            }, name
            assert condition["aws:SourceAccount"] == ACCOUNT, name
            if name in bound:
                association = bound[name]
                assert (
                    condition["aws:RequestTag/eks-cluster-name"]
                    == (association["clusterNameRef"]["name"])
                ), name
                assert (
                    condition["aws:RequestTag/kubernetes-namespace"] == (association["namespace"])
                ), name
                assert (
                    condition["aws:RequestTag/kubernetes-service-account"]
                    == (association["serviceAccount"])
                ), name
            else:  # its association waits for the cluster: the role is named after it
                assert name.startswith(condition["aws:RequestTag/eks-cluster-name"] + "-"), name
            checked += 1
    return checked


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: f"{p.parts[-4]}/{p.parts[-2]}")
def test_every_pod_identity_trust_policy_in_the_goldens_is_conditioned(path):
    _check_pod_roles(_golden(path))


def test_the_final_goldens_have_pod_identity_roles_to_check():
    finals = [p for p in GOLDENS if p.parent.name.endswith("-ready")]
    assert finals
    for path in finals:
        assert _check_pod_roles(_golden(path)) >= 6, path


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: f"{p.parts[-4]}/{p.parts[-2]}")
def test_no_administrator_access_in_the_goldens(path):
    assert ADMIN not in path.read_text()


def test_every_converged_trust_policy_is_conditioned(final, large):
    for out in (final, large[-1]):
        manifests = list(out.resources.values())
        assert _check_pod_roles(manifests) >= 6
        for purpose, (namespace, account) in {
            "crossplane": ("crossplane-system", "provider-aws"),
            "lb-controller": ("kube-system", "aws-load-balancer-controller"),
            "autoscaler": ("kube-system", "cluster-autoscaler"),
            "ebs-csi": ("kube-system", "ebs-csi-controller-sa"),
            "external-dns": ("external-dns", "external-dns"),
            "cert-manager": ("cert-manager", "cert-manager"),
            "external-secrets": ("external-secrets", "external-secrets"),
            "keda": ("keda", "keda-operator"),
        }.items():
            role = params(out.resources[f"aws-role-{purpose}"])
            (s,) = json.loads(role["assumeRolePolicy"])["Statement"]
            cluster = out.resources["aws-eks-cluster"]["metadata"]["name"]
            assert s["Condition"] == {
                "StringEquals": {
                    "aws:SourceAccount": ACCOUNT,
                    "aws:RequestTag/eks-cluster-name": cluster,
                    "aws:RequestTag/kubernetes-namespace": namespace,
                    "aws:RequestTag/kubernetes-service-account": account,
                }
            }, purpose
            assert (namespace, account) in associations(out), purpose


def test_pod_identity_roles_wait_for_the_account(history):
    """The account comes from the cluster role's ARN: no Pod Identity role is composed
    without it (a role with an unconditioned trust policy never exists)."""
    first = next(out for out in history if "aws-role-cluster" in out.resources)
    assert "aws-role-crossplane" not in first.resources
    assert "aws-role-ebs-csi" not in first.resources


def _crossplane_attachments(out: Rendered) -> list[str]:
    return [
        params(m)["policyArn"]
        for k, m in of_kind(out, "RolePolicyAttachment").items()
        if k.startswith("aws-role-crossplane-")
    ]


def test_crossplane_gets_no_permissions_unless_the_platform_names_them(final):
    assert "aws-role-crossplane" in final.resources
    assert "aws-pod-identity-crossplane" in final.resources
    assert _crossplane_attachments(final) == []
    assert "permissionsBoundary" not in params(final.resources["aws-role-crossplane"])
    c = final.conditions["CrossplaneAwsPermissions"]
    assert (c.status, c.reason) == (FALSE, "NoPolicyNamed")
    assert "crossplaneIdentity.policyArns" in c.message
    assert final.composite_ready, "a cluster without Crossplane permissions is still usable"
    assert not any(ADMIN in json.dumps(m) for m in final.resources.values())


def test_a_boundary_alone_bounds_administrator_access():
    boundary = "arn:aws:iam::123456789012:policy/crossplane-boundary"
    spec = {"aws": {"crossplaneIdentity": {"permissionsBoundary": boundary}}, **WITH_STACK}
    final = converge(xr_with(**spec))[-1]
    role = params(final.resources["aws-role-crossplane"])
    assert role["permissionsBoundary"] == boundary
    assert _crossplane_attachments(final) == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    c = final.conditions["CrossplaneAwsPermissions"]
    assert (c.status, c.reason) == (TRUE, "PermissionsBoundary")


def test_the_environment_names_the_crossplane_policies():
    policy = "arn:aws:iam::123456789012:policy/forge/crossplane"
    env = environment_config(
        region="us-west-2",
        argocd={"roleArn": ARGOCD_ROLE},
        aws={"crossplaneIdentity": {"policyArns": [policy]}},
    )
    xr = xr_with()
    required = {"environment-configs": [env]}
    final = converge(xr, required=lambda _: required, step_input=step_input("Cluster"))[-1]
    assert _crossplane_attachments(final) == [policy]
    c = final.conditions["CrossplaneAwsPermissions"]
    assert (c.status, c.reason) == (TRUE, "PolicyArns")


def test_external_secrets_and_external_dns_are_scoped_by_the_environment():
    zone = "Z0123456789ABCDEFGHIJ"
    env = environment_config(
        region="us-west-2",
        argocd={"roleArn": ARGOCD_ROLE},
        aws={
            "workloadIdentity": {
                "externalDns": {"hostedZoneIds": [zone]},
                "externalSecrets": {"secretPrefix": "dev/"},
            }
        },
    )
    required = {"environment-configs": [env]}
    final = converge(xr_with(), required=lambda _: required, step_input=step_input("Cluster"))[-1]
    eso = inline_policy(final, "external-secrets")
    assert statement(eso, "ReadSecrets")["Resource"] == (
        "arn:aws:secretsmanager:us-west-2:*:secret:dev/*"
    )
    assert statement(eso, "ReadParameters")["Resource"] == (
        "arn:aws:ssm:us-west-2:*:parameter/dev/*"
    )
    dns = inline_policy(final, "external-dns")
    assert statement(dns, "ChangeRecords")["Resource"] == [f"arn:aws:route53:::hostedzone/{zone}"]


def test_a_secret_prefix_is_a_prefix_not_a_pattern():
    assert ExternalSecretsWorkload(secret_prefix="dev/").secret_prefix == "dev/"
    for bad in ("/dev/", "dev/*", "", "dev?"):
        with pytest.raises(ValueError):
            ExternalSecretsWorkload(secret_prefix=bad)


def test_an_existing_role_stays_composed_and_conditioned_when_no_arn_can_be_read(final):
    """A provider reporting no ARN must not make a Pod Identity role disappear (Crossplane
    would delete it): the account its trust policy already names is kept."""
    observed = observed_of(final)
    for key in ("aws-role-cluster", "aws-role-keda"):
        manifest = copy.deepcopy(observed[key].manifest)
        manifest["status"] = {}
        observed[key] = Observed(manifest, observed[key].connection)
    out = render(build(XR, observed=observed))
    assert not out.fatal
    assert set(observed) <= set(out.resources)
    (s,) = json.loads(params(out.resources["aws-role-keda"])["assumeRolePolicy"])["Statement"]
    assert s["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
