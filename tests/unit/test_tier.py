"""The environment's tier: production gets at least two replicas with a PodDisruptionBudget
for every controller and webhook, a highly available vCluster and a NAT gateway per zone;
development (the default) stays small. An XR may raise the tier, never lower it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import build, environment_config, render, step_input
from tests.support import eks, istio, vcluster_cluster
from tests.support.helm_keys import assert_known_keys

PRODUCTION = environment_config(tier="production", region="eu-west-1", clusterName="prod")
DEVELOPMENT = environment_config(region="eu-west-1", clusterName="dev")
ZONE = "topology.kubernetes.io/zone"
BUDGET = {"enabled": True, "minAvailable": 1}


def bundle_xr(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "forge.projectcatalyst.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def run(
    xr: dict[str, Any],
    env: dict[str, Any],
    platform: dict[str, Any] | None = None,
    observed: dict[str, Any] | None = None,
):
    """Render as Crossplane does once it sent ``env`` (and, when the XR names its own
    EnvironmentConfig, the platform's selection ``platform``)."""
    required = {"environment-configs": [env]}
    if platform is not None:
        required["platform-environment-configs"] = [platform]
    return render(build(xr, observed, required=required, step_input=step_input(xr["kind"])))


def values(out, key: str) -> dict[str, Any]:
    assert not out.fatal, out.fatal
    return out.resources[key]["spec"]["forProvider"]["values"]


def spread(**labels: str) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
        }
    ]


# The infrastructure bundle --------------------------------------------------------------


def test_cert_manager_runs_two_of_each_component_with_budgets(assert_schema_valid, schema_store):
    out = run(bundle_xr("CertManager", "cert-manager"), PRODUCTION)
    got = values(out, "release")
    for section, component in ((got, "controller"), (got["webhook"], "webhook")):
        assert section["replicaCount"] == 2
        assert section["podDisruptionBudget"] == BUDGET
        assert section["topologySpreadConstraints"] == spread(
            **{
                "app.kubernetes.io/instance": "cert-manager",
                "app.kubernetes.io/component": component,
            }
        )
    assert got["cainjector"]["replicaCount"] == 2
    assert got["cainjector"]["podDisruptionBudget"] == BUDGET
    assert_schema_valid(out.resources["release"])
    assert schema_store.validate_helm_values("cert-manager", "v1.21.1", got) == []


def test_development_keeps_the_charts_defaults():
    cert_manager = values(run(bundle_xr("CertManager", "cert-manager"), DEVELOPMENT), "release")
    assert not {"replicaCount", "podDisruptionBudget", "webhook", "cainjector"} & set(cert_manager)
    eso = values(run(bundle_xr("ExternalSecretsOperator", "eso"), DEVELOPMENT), "release")
    assert not {"replicaCount", "leaderElect", "webhook", "certController"} & set(eso)
    keda = values(run(bundle_xr("KEDA", "keda"), DEVELOPMENT), "keda")
    assert keda["operator"] == {"replicaCount": 1}
    assert "podDisruptionBudget" not in keda


def test_external_secrets_elects_a_leader_among_two_of_each(assert_schema_valid, schema_store):
    out = run(bundle_xr("ExternalSecretsOperator", "eso"), PRODUCTION)
    got = values(out, "release")
    assert got["leaderElect"] is True
    for section in (got, got["webhook"], got["certController"]):
        assert section["replicaCount"] == 2
        assert section["podDisruptionBudget"] == BUDGET
    # The chart adds each component's own selector to a constraint without one.
    assert got["global"]["topologySpreadConstraints"] == [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"}
    ]
    assert_schema_valid(out.resources["release"])
    assert schema_store.validate_helm_values("external-secrets", "2.9.0", got) == []


def test_istiod_runs_two_so_the_chart_renders_its_budget(schema_store):
    final = istio.converged(istio.xr_with(), env=PRODUCTION)[-1]
    got = values(final, "istiod")
    assert got["autoscaleMin"] == 2 and got["replicaCount"] == 2
    assert got["topologySpreadConstraints"] == spread(app="istiod", **{"istio.io/rev": "default"})
    assert_known_keys(schema_store, "istiod", "1.30.3", got, extra=("profile",))


def test_keda_runs_two_of_each_component_with_budgets(schema_store):
    got = values(run(bundle_xr("KEDA", "keda"), PRODUCTION), "keda")
    assert got["operator"]["replicaCount"] == 2
    assert got["metricsServer"]["replicaCount"] == 2
    assert got["webhooks"]["replicaCount"] == 2
    assert got["podDisruptionBudget"] == {
        "operator": {"minAvailable": 1},
        "metricServer": {"minAvailable": 1},
        "webhooks": {"minAvailable": 1},
    }
    assert got["topologySpreadConstraints"]["operator"] == spread(app="keda-operator")
    assert_known_keys(schema_store, "keda", "2.20.2", got)


def test_a_replica_count_the_spec_sets_wins_over_the_tier():
    xr = bundle_xr("KEDA", "keda", operator={"replicas": 3}, metricsServer={"replicas": 1})
    got = values(run(xr, PRODUCTION), "keda")
    assert got["operator"]["replicaCount"] == 3
    assert got["metricsServer"]["replicaCount"] == 1
    assert "metricServer" not in got["podDisruptionBudget"]


def test_prometheus_and_alertmanager_run_two_with_budgets_across_zones(schema_store):
    xr, crds = bundle_xr("Monitoring", "monitoring"), "prometheus-operator-crds"
    installed = {crds: observe(crds, run(xr, PRODUCTION).resources[crds])}  # the stack waits
    got = values(run(xr, PRODUCTION, observed=installed), "kube-prometheus-stack")
    prometheus, alertmanager = got["prometheus"], got["alertmanager"]
    assert prometheus["prometheusSpec"]["replicas"] == 2
    assert prometheus["prometheusSpec"]["podAntiAffinityTopologyKey"] == ZONE
    assert prometheus["podDisruptionBudget"] == BUDGET
    assert alertmanager["alertmanagerSpec"] == {"replicas": 2, "podAntiAffinityTopologyKey": ZONE}
    assert alertmanager["podDisruptionBudget"] == BUDGET
    assert_known_keys(schema_store, "kube-prometheus-stack", "88.5.3", got)


# Who chooses the tier --------------------------------------------------------------------


def test_an_xr_may_raise_the_tier():
    xr = bundle_xr("ExternalSecretsOperator", "eso", tier="production")
    assert values(run(xr, DEVELOPMENT), "release")["replicaCount"] == 2


def test_an_xr_may_not_lower_the_tier():
    out = run(bundle_xr("ExternalSecretsOperator", "eso", tier="development"), PRODUCTION)
    assert len(out.fatal) == 1
    assert (
        "spec.tier: cannot be development: the EnvironmentConfig's tier is production"
        in (out.fatal[0])
    )
    assert out.resources == {}


def test_an_xr_naming_a_development_environment_stays_production():
    """The platform's EnvironmentConfigs (the Composition's selection) say production; the
    tenant's XR names its own, which does not: production still applies."""
    xr = bundle_xr("ExternalSecretsOperator", "eso", environmentConfigRef={"name": "dev"})
    platform = environment_config("platform", tier="production")
    assert values(run(xr, DEVELOPMENT, platform), "release")["replicaCount"] == 2


def test_an_unknown_tier_in_the_environment_is_refused():
    out = run(bundle_xr("KEDA", "keda"), environment_config(tier="prod"))
    assert len(out.fatal) == 1
    assert (
        "spec.tier: the EnvironmentConfig's tier must be production or development"
        in (out.fatal[0])
    )


# Clusters ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def production_eks():
    return converge(eks.xr_with(tier="production"), max_rounds=12)[-1]


def test_production_eks_has_one_nat_gateway_per_zone(production_eks):
    nats = eks.of_kind(production_eks, "NATGateway")
    assert sorted(nats) == [f"aws-nat-us-west-2{z}" for z in "abc"]
    for zone in "abc":
        route = eks.params(production_eks.resources[f"aws-route-private-us-west-2{zone}"])
        assert route["natGatewayIdRef"] == {"name": f"dev-nat-us-west-2{zone}"}


def test_development_eks_keeps_one_nat_gateway_and_one_crossplane():
    out = converge(eks.XR, max_rounds=12)[-1]
    assert sorted(eks.of_kind(out, "NATGateway")) == ["aws-nat-us-west-2a"]
    assert "replicas" not in out.resources["crossplane"]["spec"]["forProvider"]["values"]
    assert not [key for key in out.resources if key.startswith("stack-budget-")]


def test_an_explicit_nat_gateway_mode_wins_in_production():
    xr = eks.xr_with(tier="production", aws={"network": {"natGateways": "Single"}})
    final = converge(xr, max_rounds=12)[-1]
    assert sorted(eks.of_kind(final, "NATGateway")) == ["aws-nat-us-west-2a"]


def test_production_crossplane_runs_two_of_each_with_budgets(production_eks, schema_store):
    got = production_eks.resources["crossplane"]["spec"]["forProvider"]["values"]
    assert got["replicas"] == 2
    assert got["rbacManager"]["replicas"] == 2
    assert got["topologySpreadConstraints"] == spread(app="crossplane")
    assert_known_keys(schema_store, "crossplane", "2.3.4", got)
    budgets = {
        key: resource["spec"]["forProvider"]["manifest"]
        for key, resource in production_eks.resources.items()
        if key.startswith("stack-budget-")
    }
    assert {b["metadata"]["name"]: b["spec"] for b in budgets.values()} == {
        app: {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}
        for app in ("crossplane", "crossplane-rbac-manager")
    }
    assert {b["metadata"]["namespace"] for b in budgets.values()} == {"crossplane-system"}


def vcluster_render(xr: dict[str, Any], observed: dict | None = None):
    """A vCluster Cluster's render once its namespace exists (and ``observed``)."""
    first = render(build(xr))
    namespace = {"namespace": observe("namespace", first.resources["namespace"])}
    out = render(build(xr, observed={**namespace, **(observed or {})}))
    assert not out.fatal, out.fatal
    return out


def vcluster_release(xr: dict[str, Any], observed: dict | None = None) -> dict[str, Any]:
    return vcluster_render(xr, observed).resources["vcluster"]


def test_a_new_production_vcluster_is_highly_available_on_etcd(assert_schema_valid, schema_store):
    release = vcluster_release(vcluster_cluster.xr_with(tier="production"))
    control_plane = release["spec"]["forProvider"]["values"]["controlPlane"]
    assert control_plane["statefulSet"]["highAvailability"] == {"replicas": 3}
    etcd = control_plane["backingStore"]["etcd"]["deploy"]
    assert etcd["enabled"] is True
    assert etcd["statefulSet"]["highAvailability"] == {"replicas": 3}
    assert control_plane["advanced"]["podDisruptionBudget"]["enabled"] is True
    assert_schema_valid(release)
    got = release["spec"]["forProvider"]["values"]
    assert schema_store.validate_helm_values("vcluster", "0.36.1", got) == []


def test_a_running_vcluster_keeps_its_backing_store():
    """Moving a running vCluster from SQLite to etcd would lose its state: it stays, with
    a warning; one created on etcd stays highly available whatever the tier says."""
    small = vcluster_release(vcluster_cluster.xr_with())
    xr = vcluster_cluster.xr_with(tier="production")
    out = vcluster_render(xr, observed={"vcluster": observe("vcluster", small)})
    assert "backingStore" not in out.resources["vcluster"]["spec"]["forProvider"]["values"].get(
        "controlPlane", {}
    )
    assert any("embedded SQLite" in r.message for r in out.results)
    ha = vcluster_release(vcluster_cluster.xr_with(tier="production"))
    kept = vcluster_release(
        copy.deepcopy(vcluster_cluster.xr_with()), observed={"vcluster": observe("vcluster", ha)}
    )
    assert (
        kept["spec"]["forProvider"]["values"]["controlPlane"]["backingStore"]
        == (ha["spec"]["forProvider"]["values"]["controlPlane"]["backingStore"])
    )
