"""A vCluster Cluster: deletion, bad specs and the XRD, and what it shares with EKS."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import sys
import types

import pytest
import yaml

import forge.composers
from forge.composers.access import AwsAuth, ClusterAccess, SecretKey
from forge.models.cluster import ClusterSpec
from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, render
from tests.support import deletion
from tests.support.vcluster_cluster import NAMESPACE, ROOT, SERVER, XR, decoded, xr_with

# Deletion -------------------------------------------------------------------------------


def test_everything_in_the_new_cluster_is_orphaned_and_holds_the_cluster(final):
    remote = {
        k: m
        for k, m in final.resources.items()
        if m.get("spec", {}).get("providerConfigRef", {}).get("kind") == "ProviderConfig"
    }
    assert set(remote) == {"crossplane"} | {k for k in final.resources if k.startswith("stack-")}
    usages = {k: m for k, m in final.resources.items() if m["kind"] == "Usage"}
    assert set(usages) == {f"usage-{k}" for k in remote}
    for key, manifest in remote.items():
        assert manifest["spec"]["managementPolicies"] == [
            "Observe",
            "Create",
            "Update",
            "LateInitialize",
        ]
        spec = usages[f"usage-{key}"]["spec"]
        assert spec["of"] == {
            "apiVersion": "helm.m.crossplane.io/v1beta1",
            "kind": "Release",
            "resourceRef": {"name": "dev"},
        }
        assert spec["by"]["resourceRef"]["name"] == manifest["metadata"]["name"]
        assert spec["replayDeletion"] is True
    crossplane = final.resources["crossplane"]["spec"]
    assert crossplane["forProvider"]["namespace"] == "crossplane-system"
    assert crossplane["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}


def test_deleting_the_xr_finishes_and_the_cluster_goes_last(final):
    rounds = deletion.simulate(final.resources, cluster="vcluster")
    order = {key: index for index, keys in enumerate(rounds) for key in keys}
    remote = [k for k in final.resources if k == "crossplane" or k.startswith("stack-")]
    assert all(order[k] < order["vcluster"] for k in remote)
    assert order["namespace"] == len(rounds) - 1


def test_deletion_would_hang_without_orphaning_and_usages(final):
    naive = {}
    for key, manifest in final.resources.items():
        if manifest["kind"] == "Usage":
            continue
        naive[key] = copy.deepcopy(manifest)
        naive[key].get("spec", {}).pop("managementPolicies", None)
    with pytest.raises(deletion.StuckError):
        deletion.simulate(naive, cluster="vcluster")


# Errors and the XRD ---------------------------------------------------------------------


def _group(name: str, **extra) -> dict:
    return {"name": name, "instanceType": "m7i.large", "minSize": 1, "maxSize": 3, **extra}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"provider": "gcp"}, "spec.provider: Input should be 'aws' or 'vcluster'"),
        ({}, "spec.provider: Field required"),
        (
            {"provider": "aws", "region": "us-west-2", "nodeGroups": [_group("a", minSize=5)]},
            "spec.nodeGroups[0].minSize: must be <= maxSize (3)",
        ),
        (
            {
                "provider": "aws",
                "region": "us-west-2",
                "nodeGroups": [_group("a"), _group("b"), _group("a")],
            },
            "spec.nodeGroups[2].name: duplicate node group name (the same as nodeGroups[0].name)",
        ),
        ({"provider": "aws", "nodeGroups": [_group("a")]}, "spec.region: is required"),
        (
            {"provider": "vcluster", "kubernetesVersion": "1.34"},
            "spec.kubernetesVersion: applies to provider aws only",
        ),
        (
            {"provider": "vcluster", "nodeGroups": [_group("a")]},
            "spec.nodeGroups: applies to provider aws only",
        ),
        (
            {
                "provider": "vcluster",
                "argocd": {"roleArn": "arn:aws:iam::123456789012:role/argocd"},
            },
            "spec.argocd.roleArn: applies to provider aws only",
        ),
        (
            {"provider": "vcluster", "vcluster": {"values": {"exportKubeConfig": {}}}},
            "spec.vcluster.values.exportKubeConfig: is set by the Cluster API",
        ),
        (
            {"provider": "vcluster", "argocd": {"namespace": "argocd"}},
            "spec.argocd.namespace: unknown field",
        ),
        ({"provider": "vcluster", "vclustr": {}}, "spec.vclustr: unknown field"),
    ],
)
def test_malformed_cluster_is_fatal_and_names_the_field(spec, message):
    xr = copy.deepcopy(XR)
    xr["spec"] = spec
    out = render(build(xr))
    assert len(out.fatal) == 1
    assert out.fatal[0].startswith("invalid Cluster 'dev': ")
    assert message in out.fatal[0]
    assert out.resources == {}


def test_vcluster_name_must_start_with_a_letter():
    xr = copy.deepcopy(XR)
    xr["metadata"]["name"] = "1st"
    out = render(build(xr))
    assert out.resources == {}
    assert out.fatal == [
        "invalid Cluster '1st': metadata.name: must start with a letter for provider vcluster"
    ]


def xrdgen():
    """Imported on use: the generator imports every API's models."""
    return importlib.import_module("forge_dev.generate")


def test_xrd_enforces_the_same_cross_field_rules():
    definition = next(d for d in xrdgen().DEFINITIONS if d.kind == "Cluster")
    xrd = xrdgen().xrd(definition)
    assert xrd["spec"]["scope"] == "Cluster"
    version = xrd["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = {v["message"] for v in spec["x-kubernetes-validations"]}
    assert {
        "region is required when provider is aws",
        "kubernetesVersion applies to provider aws only",
        "nodeGroups applies to provider aws only",
        "argocd.roleArn applies to provider aws only",
    } <= messages
    assert spec["properties"]["provider"]["enum"] == ["aws", "vcluster"]
    groups = spec["properties"]["nodeGroups"]
    # Unique names: the API server enforces list-map keys.
    assert (groups["x-kubernetes-list-type"], groups["x-kubernetes-list-map-keys"]) == (
        "map",
        ["name"],
    )
    rules = {v["rule"] for v in groups["items"]["x-kubernetes-validations"]}
    assert "self.minSize <= self.maxSize" in rules
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {"PROVIDER": ".spec.provider", "SERVER": ".status.outputs.server"}


def test_generated_xrd_and_composition_are_checked_in():
    for rel, text in xrdgen().render_all().items():
        if rel.endswith("/clusters.yaml"):
            assert (ROOT / rel).read_text() == text, f"{rel} is stale: run make xrds"


STACK = [
    "stack-activation-policy",
    "stack-package-function-forge",
    "stack-package-provider-helm",
    "stack-package-provider-kubernetes",
    "stack-rbac-provider-helm",
    "stack-rbac-provider-kubernetes",
    "stack-runtime-provider-helm",
    "stack-runtime-provider-kubernetes",
]
STACK_CONFIGS = ["stack-config-helm", "stack-config-kubernetes"]
CREDENTIALS = ["argocd-cluster", "provider-config-helm", "provider-config-kubernetes"]
EXAMPLE_STAGES = {
    "01-created": (["namespace"], False),
    "02-vcluster-up": (["namespace", "vcluster", *CREDENTIALS], False),
    "03-crossplane-up": (
        ["namespace", "vcluster", *CREDENTIALS, "crossplane", *STACK],
        False,
    ),
    "04-ready": (
        ["namespace", "vcluster", *CREDENTIALS, "crossplane", *STACK, *STACK_CONFIGS],
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_STAGES))
def test_example_stage_renders_exactly_its_resources(name, function_servers):
    examples = importlib.import_module("forge_dev.render.examples")
    stage = next(s for s in examples.stages() if s.name.endswith(f"cluster-vcluster/stages/{name}"))
    docs = list(yaml.safe_load_all(examples.render_stage(stage, function_servers)))
    xr, composed = docs[0], [d for d in docs[1:] if d["kind"] != "Result"]
    keys = {
        d["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for d in composed
    }
    expected, ready = EXAMPLE_STAGES[name]
    usages = {f"usage-{k}" for k in expected if k == "crossplane" or k.startswith("stack-")}
    assert keys == set(expected) | usages
    conditions = {c["type"]: c["status"] for c in xr["status"]["conditions"]}
    assert conditions["Ready"] == ("True" if ready else "False")
    if ready:
        secret = next(d for d in composed if d["kind"] == "Secret")
        assert decoded(secret)["server"] == SERVER
        assert set(json.loads(decoded(secret)["config"])["tlsClientConfig"]) == {
            "insecure",
            "caData",
            "certData",
            "keyData",
        }


def test_example_xr_is_a_valid_spec():
    xr = yaml.safe_load((ROOT / "examples/cluster-vcluster/xr.yaml").read_text())
    assert xr == XR
    ClusterSpec.model_validate(xr["spec"])


# The shared part with another provider -------------------------------------------------


def test_aws_access_registers_with_an_iam_role_and_the_ca(monkeypatch, assert_schema_valid):
    """Bootstrap and Argo CD are provider-neutral: they take whatever ClusterAccess says."""
    ca = base64.b64encode(b"eks-ca").decode()
    fake = types.ModuleType("forge.composers.eks")

    def compose(ctx, spec):
        ctx.stage("ClusterReady", True, "Available")
        ctx.stage("KubeconfigReady", True, "Available")
        return ClusterAccess(
            namespace=NAMESPACE,
            server="https://ABC.gr7.us-west-2.eks.amazonaws.com",
            ca_data=ca,
            kubeconfig=SecretKey("dev-kubeconfig", NAMESPACE, "kubeconfig"),
            aws_auth=AwsAuth("dev", "arn:aws:iam::123456789012:role/argocd"),
            kubernetes_version="1.34",
        )

    fake.compose = compose
    monkeypatch.setitem(sys.modules, "forge.composers.eks", fake)
    monkeypatch.setattr(forge.composers, "eks", fake, raising=False)
    spec = {
        "provider": "aws",
        "region": "us-west-2",
        "nodeGroups": [_group("general")],
        "argocd": {"roleArn": "arn:aws:iam::123456789012:role/argocd"},
    }
    history = converge(xr_with(**spec))
    final = history[-1]
    assert final.composite_ready
    assert "vcluster" not in final.resources
    assert not any(k.startswith("usage-") for k in final.resources)  # no cluster resource given
    assert_schema_valid(list(final.resources.values()))
    data = decoded(final.resources["argocd-cluster"])
    assert data["server"] == "https://ABC.gr7.us-west-2.eks.amazonaws.com"
    assert json.loads(data["config"]) == {
        "awsAuthConfig": {
            "clusterName": "dev",
            "roleARN": "arn:aws:iam::123456789012:role/argocd",
        },
        "tlsClientConfig": {"insecure": False, "caData": ca},
    }
    assert final.resources["argocd-cluster"]["metadata"]["labels"][
        "forge.projectcatalyst.io/provider"
    ] == ("aws")
    secret_ref = final.resources["provider-config-helm"]["spec"]["credentials"]["secretRef"]
    assert secret_ref == {"name": "dev-kubeconfig", "namespace": NAMESPACE, "key": "kubeconfig"}
    assert "vcluster" not in final.status["outputs"]["versions"]
