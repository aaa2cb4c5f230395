"""Each Cluster reads its own environment's EnvironmentConfig, never another's (issue 19).

The Composition selects every EnvironmentConfig labelled
``forge.projectcatalyst.io/defaults: "true"``. With ``dev``, ``staging`` and
``production`` all labelled, they used to merge in name order, so Cluster ``dev`` took
``staging``'s Argo CD role and workload identity. Now a Cluster reads the shared ones (no
``forge.projectcatalyst.io/environment`` label) and its own environment's; the bundle
reads the shared ones alone, whatever a tenant labels or names.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge.core import environment
from forge.core.context import Context
from forge.models.cluster import ClusterSpec
from forge_dev.render.load import load_one
from forge_dev.simulate.requests import build, environment_config, render, step_input

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = load_one(ROOT / "examples/cluster-aws/xr.yaml", "XR")  # Cluster dev
ESO = load_one(ROOT / "examples/infrastructure/externalsecretsoperator/xr.yaml", "XR")
LABEL = "forge.projectcatalyst.io/environment"
SELECTOR = (
    "label forge.projectcatalyst.io/defaults=true (the Composition's environmentConfig.matchLabels)"
)
DEV_ROLE = "arn:aws:iam::123456789012:role/argocd-dev"
STAGING_ROLE = "arn:aws:iam::123456789012:role/argocd-staging"
KEYS = frozenset({"argocd.roleArn", "aws.workloadIdentity"})


def config(name: str, env: str | None = None, **data: Any) -> dict[str, Any]:
    """An EnvironmentConfig the Composition selects, labelled for ``env`` if given; the
    platform's tenancy only where ``data`` gives it."""
    made = environment_config(name, **data)
    if "tenancy" not in data:
        del made["data"]["tenancy"]
    if env is not None:
        made["metadata"]["labels"][LABEL] = env
    return made


def per_environment(labelled: bool = True) -> list[dict[str, Any]]:
    """dev, staging and production, each with its own role, prefix and region."""
    return [
        config(
            name,
            name if labelled else None,
            region=region,
            argocd={"roleArn": role},
            aws={"workloadIdentity": {"externalSecrets": {"secretPrefix": f"{name}/"}}},
        )
        for name, region, role in (
            ("dev", "us-west-2", DEV_ROLE),
            ("production", "eu-west-1", "arn:aws:iam::123456789012:role/argocd-production"),
            ("staging", "us-east-1", STAGING_ROLE),
        )
    ]


def read(configs: list[dict[str, Any]], scope: environment.Scope | None):
    req = build(CLUSTER, required={environment.REQUIREMENT: configs})
    found = environment.selected(req, scope=scope)
    assert found is not None
    return found


def cluster(configs: list[dict[str, Any]], name: str = "dev", spec: dict | None = None):
    xr = copy.deepcopy(CLUSTER)
    xr["metadata"]["name"] = name
    if spec is not None:
        xr["spec"] = spec
    req = build(xr, required={environment.REQUIREMENT: configs}, step_input=step_input("Cluster"))
    return render(req)


def selection(out) -> list[tuple[int, str]]:
    return [(r.severity, r.message) for r in out.results if r.reason == environment.REASON]


# -- the selection ----------------------------------------------------------------------


def test_a_cluster_reads_its_own_environment_and_no_other():
    found = read(per_environment(), environment.Scope("dev", KEYS))
    assert found.names == ("dev",)
    assert found.data["argocd"]["roleArn"] == DEV_ROLE
    assert found.data["region"] == "us-west-2"
    assert found.data["aws"]["workloadIdentity"]["externalSecrets"]["secretPrefix"] == "dev/"
    assert found.left_out == ("production", "staging")
    assert found.ambiguous == ()


def test_shared_configs_lie_under_the_environment_and_merge_in_name_order():
    shared = [
        config("a-platform", argocd={"namespace": "gitops"}, region="eu-central-1"),
        config("b-platform", tenancy={"platformNamespaces": ["platform"]}),
    ]
    found = read([*shared, *per_environment()], environment.Scope("staging", KEYS))
    assert found.names == ("a-platform", "b-platform", "staging")
    assert found.data["argocd"] == {"namespace": "gitops", "roleArn": STAGING_ROLE}
    assert found.data["region"] == "us-east-1"  # the environment's wins over the shared
    assert found.data["tenancy"] == {"platformNamespaces": ["platform"]}


def test_unlabelled_configs_named_after_environments_are_not_merged_into_another():
    """The contract before the label: every environment's config only labelled defaults.
    The one named after the Cluster is its environment's; the others' keys of one
    environment are not read, and a Warning names each."""
    found = read(per_environment(labelled=False), environment.Scope("dev", KEYS))
    assert found.data["argocd"] == {"roleArn": DEV_ROLE}
    assert found.data["aws"]["workloadIdentity"]["externalSecrets"]["secretPrefix"] == "dev/"
    assert found.names == ("production", "staging", "dev")
    assert found.ambiguous == tuple(
        f"EnvironmentConfig {name} is labelled for no environment, so its argocd.roleArn, "
        "aws.workloadIdentity (the keys of one environment) are not read for environment "
        f"dev: label it {LABEL}=<its environment>, or move them to environment dev's "
        "EnvironmentConfig"
        for name in ("production", "staging")
    )


def test_a_shared_config_never_gives_a_cluster_the_keys_of_one_environment():
    only = [config("platform", region="us-west-2", argocd={"roleArn": STAGING_ROLE})]
    found = read(only, environment.Scope("dev", KEYS))
    assert found.data == {"region": "us-west-2", "argocd": {}}
    (warning,) = found.ambiguous
    assert warning.startswith("EnvironmentConfig platform is labelled for no environment")


def test_two_configs_of_one_environment_are_ambiguous():
    configs = [
        config("dev", "dev", argocd={"roleArn": DEV_ROLE}),
        config("dev-copy", "dev", argocd={"roleArn": STAGING_ROLE}),
    ]
    found = read(configs, environment.Scope("dev", KEYS))
    assert found.ambiguous == (
        f"EnvironmentConfigs dev, dev-copy are all labelled {LABEL}=dev: their data merge in "
        "name order (dev-copy wins); keep one EnvironmentConfig per environment",
    )


def test_without_a_scope_only_shared_configs_are_read():
    shared = config("platform", tenancy={"platformNamespaces": ["default"]})
    found = read([shared, *per_environment()], None)
    assert found.names == ("platform",)
    assert "argocd" not in found.data
    assert found.left_out == ("dev", "production", "staging")


def test_each_scope_has_its_own_selection():
    configs = per_environment()
    dev = read(configs, environment.Scope("dev", KEYS))
    staging = read(configs, environment.Scope("staging", KEYS))
    assert dev.key != staging.key
    assert staging.data["argocd"]["roleArn"] == STAGING_ROLE


# -- what a Cluster says --------------------------------------------------------------------


def test_a_cluster_names_its_environment_and_what_it_left_out():
    out = cluster(per_environment())
    assert not out.fatal
    assert selection(out) == [
        (
            fnv1.SEVERITY_NORMAL,
            f"read EnvironmentConfig dev for environment dev, selected by {SELECTOR}; "
            "left out as other environments': production, staging",
        )
    ]


def test_an_ambiguous_selection_is_a_warning_on_the_cluster():
    out = cluster(per_environment(labelled=False))
    warnings = [m for s, m in selection(out) if s == fnv1.SEVERITY_WARNING]
    assert [w.split(" is ")[0] for w in warnings] == [
        "EnvironmentConfig production",
        "EnvironmentConfig staging",
    ]


def test_a_cluster_of_an_environment_without_config_reads_none_of_the_others():
    out = cluster(per_environment(), name="qa")
    assert selection(out) == [
        (
            fnv1.SEVERITY_NORMAL,
            f"read no EnvironmentConfig for environment qa: those selected by {SELECTOR} "
            f"(dev, production, staging) are labelled {LABEL} for environments other than qa",
        )
    ]


def test_a_cluster_may_name_another_environments_config():
    """The way to change it: spec.environmentConfigRef.name reads that one whole."""
    spec = {**CLUSTER["spec"], "environmentConfigRef": {"name": "staging"}}
    configs = [c for c in per_environment() if c["metadata"]["name"] == "staging"]
    xr = copy.deepcopy(CLUSTER)
    xr["spec"] = spec
    req = build(
        xr,
        required={
            environment.REQUIREMENT: configs,
            environment.PLATFORM_REQUIREMENT: per_environment(),
        },
        step_input=step_input("Cluster"),
    )
    out = render(req)
    assert not out.fatal
    assert selection(out) == [
        (
            fnv1.SEVERITY_NORMAL,
            "read EnvironmentConfig staging, selected by name 'staging' "
            "(spec.environmentConfigRef.name)",
        )
    ]


# -- the bundle: no tenant chooses an environment ----------------------------------------


def eso(configs: list[dict[str, Any]], labels: dict[str, str] | None = None):
    xr = copy.deepcopy(ESO)
    xr["metadata"]["namespace"] = "team-a"
    if labels:
        xr["metadata"]["labels"] = labels
    req = build(
        xr,
        required={environment.REQUIREMENT: configs},
        step_input=step_input("ExternalSecretsOperator"),
    )
    return render(req)


def test_a_tenant_cannot_read_an_environments_tenancy():
    """An environment's EnvironmentConfig that names team-a a platform namespace is not
    read by team-a's XR, whatever environment label the tenant gives it."""
    sandbox = config("sandbox", "sandbox", tenancy={"platformNamespaces": ["team-a"]})
    shared = config("platform", tenancy={"platformNamespaces": ["default"]})
    (fatal,) = eso([shared, sandbox], labels={LABEL: "sandbox"}).fatal
    assert "spec.providerConfigRef: ClusterProviderConfig default is the platform's" in fatal


def test_a_vcluster_is_not_warned_of_keys_it_never_reads():
    spec = {"provider": "vcluster"}
    out = cluster([config("platform", argocd={"roleArn": STAGING_ROLE})], spec=spec)
    assert [s for s, _ in selection(out)] == [fnv1.SEVERITY_NORMAL]


def test_what_only_the_platform_chooses_comes_from_the_clusters_environment():
    """A Cluster that names staging's config still gets Argo CD's namespace from the
    Composition's selection as its own environment reads it, never from staging's."""
    platform = [
        config("dev", "dev", argocd={"namespace": "argocd-dev"}),
        config("staging", "staging", argocd={"namespace": "argocd-staging"}),
    ]
    xr = copy.deepcopy(CLUSTER)
    xr["spec"] = {**CLUSTER["spec"], "environmentConfigRef": {"name": "staging"}}
    req = build(
        xr,
        required={
            environment.REQUIREMENT: platform[1:],
            environment.PLATFORM_REQUIREMENT: platform,
        },
        step_input=step_input("Cluster"),
    )
    ctx = Context(req, fnv1.RunFunctionResponse())
    ctx.scope = environment.Scope("dev", KEYS)
    ctx.spec(ClusterSpec)
    assert ctx.env["argocd"] == {"namespace": "argocd-staging"}  # the defaults it named
    assert ctx.platform_environment()["argocd"] == {"namespace": "argocd-dev"}
