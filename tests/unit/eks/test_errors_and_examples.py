"""Bad specs name their field; the XRD agrees with the model; the examples render."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import yaml

from forge.models.cluster import ClusterSpec
from forge_dev.paths import stages_dir
from forge_dev.simulate import aws, kubernetes
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    build,
    render,
)
from tests.support.eks import (
    ADMIN_ROLE,
    ARGOCD_ROLE,
    ROOT,
    decoded,
    without_role,
    xr_with,
)
from tests.support.example_environment import with_environment
from tests.support.releases import assert_refused

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
    assert_refused(render(build(xr)), message)


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
        "aws.network.vpcCidr is immutable: the VPC and everything in it would be replaced; "
        "create a new Cluster instead",
        "aws.network.availabilityZones is immutable (subnets derive from it, and the control "
        "plane's cannot move); create a new Cluster instead",
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
