"""The infrastructure APIs' AWS identities (Pod Identity roles, policies, associations)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import (
    build,
    environment_config,
    render,
    step_input,
)
from tests.support import eks

# The infrastructure bundle's AWS identities ----------------------------------------------

BUNDLE = eks.ROOT / "examples/infrastructure/bundle.yaml"
BUNDLE_ENV = environment_config(
    region="us-west-2", clusterName="dev", domain="dev.projectcatalyst.io", profile="aws"
)
WORKLOADS = ("external-dns", "cert-manager", "external-secrets", "keda")


def uses_pod_identity(xr: dict[str, Any]) -> bool:
    spec = xr.get("spec", {})
    identity = spec.get("awsIdentity") or spec.get("credentials") or {}
    return identity.get("source") == "PodIdentity"


def actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in s["Action"]}


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
    assert eks.params(release)["namespace"] == account["namespace"]
    association = eks.associations(final)[(account["namespace"], account["name"])]
    roles = {m["metadata"]["name"]: k for k, m in eks.of_kind(final, "Role").items()}
    key = roles[association["roleArnRef"]["name"]]
    assert eks.trust(final, key)["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert eks.params(final.resources[key])["inlinePolicy"], "a policy of the API's own"


def test_each_workload_role_is_named_after_the_cluster_and_trusted_by_pod_identity(final):
    for purpose in WORKLOADS:
        role = final.resources[f"aws-role-{purpose}"]
        assert role["metadata"]["name"] == f"dev-{purpose}"
        statement_ = eks.trust(final, f"aws-role-{purpose}")
        assert statement_["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert set(statement_["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
        association = eks.params(final.resources[f"aws-pod-identity-{purpose}"])
        assert association["roleArnRef"] == {"name": f"dev-{purpose}"}
        assert association["clusterNameRef"] == {"name": "dev"}
    assert set(eks.associations(final)) >= {
        ("external-dns", "external-dns"),
        ("cert-manager", "cert-manager"),
        ("external-secrets", "external-secrets"),
        ("keda", "keda-operator"),
    }


def test_policies_are_narrow_and_fit_iam_limits(final):
    for purpose in WORKLOADS:
        policy = eks.params(final.resources[f"aws-role-{purpose}"])["inlinePolicy"][0]["policy"]
        # IAM counts a role's inline policies without whitespace, 10,240 characters at most.
        assert len(re.sub(r"\s", "", policy)) <= 10240, purpose
        for s in json.loads(policy)["Statement"]:
            assert s["Effect"] == "Allow" and "*" not in s["Action"], purpose
            assert all(not a.endswith(":*") for a in s["Action"]), purpose
    dns = eks.inline_policy(final, "external-dns")
    assert eks.statement(dns, "ChangeRecords")["Resource"] == ["arn:aws:route53:::hostedzone/*"]
    writes = [s for s in dns["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"]]
    assert [s["Sid"] for s in writes] == ["ChangeRecords"]
    acme = eks.statement(eks.inline_policy(final, "cert-manager"), "ChallengeRecords")
    assert acme["Action"] == ["route53:ChangeResourceRecordSets"]
    assert acme["Condition"] == {
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
        "ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
        },
    }
    read_only = re.compile(r":(Get|Describe|List|Decrypt)")
    for purpose in ("external-secrets", "keda"):
        policy = eks.inline_policy(final, purpose)
        assert all(read_only.search(a) for a in actions(policy)), purpose
    eso = eks.inline_policy(final, "external-secrets")
    assert eks.statement(eso, "ReadSecrets")["Resource"] == (
        "arn:aws:secretsmanager:us-west-2:*:secret:*"
    )
    assert eks.statement(eso, "DecryptThroughSecretsManagerAndSsm")["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [
                "secretsmanager.us-west-2.amazonaws.com",
                "ssm.us-west-2.amazonaws.com",
            ]
        }
    }
    assert {"sqs:GetQueueAttributes", "cloudwatch:GetMetricData"} <= actions(
        eks.inline_policy(final, "keda")
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
        argocd={"roleArn": eks.ARGOCD_ROLE},
        aws={"workloadIdentity": {"externalDns": {"hostedZoneIds": [other]}}},
    )
    xr = eks.xr_with(**spec)
    del xr["spec"]["region"], xr["spec"]["argocd"]
    required = {"environment-configs": [env]}
    final = converge(xr, required=lambda _: required, step_input=step_input("Cluster"))[-1]
    assert final.composite_ready
    zones = eks.statement(eks.inline_policy(final, "cert-manager"), "ChallengeRecords")["Resource"]
    assert zones == [f"arn:aws:route53:::hostedzone/{zone}"]
    dns = eks.statement(eks.inline_policy(final, "external-dns"), "ChangeRecords")["Resource"]
    assert dns == [f"arn:aws:route53:::hostedzone/{other}"]
    assert "aws-role-external-secrets" not in final.resources
    assert "aws-pod-identity-external-secrets" not in final.resources
    assert ("autoscaling", "keda-operator") in eks.associations(final)
    attached = [
        eks.params(m)["policyArn"]
        for k, m in eks.of_kind(final, "RolePolicyAttachment").items()
        if k.startswith("aws-role-keda-")
    ]
    assert attached == [extra]


def test_access_waits_for_the_workload_identities(final):
    observed = eks.observed_of(final)
    observed["aws-pod-identity-keda"] = eks.creating(observed["aws-pod-identity-keda"])
    out = render(build(eks.XR, observed=observed))
    status, reason, message = eks.condition(out, "AccessReady")
    assert (status, reason) == (eks.FALSE, "Configuring")
    assert "keda" in message
    assert not out.composite_ready
