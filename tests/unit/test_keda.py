"""KEDA: the operator chart with the settings that matter in production."""

from __future__ import annotations

import copy
import importlib

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.requests import build, environment_config, render, step_input
from tests.support.helm_keys import assert_known_keys
from tests.support.releases import assert_chart, assert_refused, only_release

XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "KEDA",
    "metadata": {"name": "keda", "namespace": "default"},
    "spec": {},
}
ROLE = "arn:aws:iam::123456789012:role/keda-operator"
HA = {"operator": {"replicas": 2}, "metricsServer": {"replicas": 2}, "webhooks": {"replicas": 2}}
TRUE = fnv1.STATUS_CONDITION_TRUE


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def run(xr: dict, env: dict | None = None):
    # No env: the platform's EnvironmentConfig, which says nothing about KEDA.
    required = {"environment-configs": [env or environment_config()]}
    return render(build(xr, required=required, step_input=step_input("KEDA")))


def values(out) -> dict:
    return out.resources["keda"]["spec"]["forProvider"]["values"]


def test_default_install(assert_schema_valid, schema_store):
    out = run(XR)
    release = only_release(out, "keda")
    assert release["metadata"] == {"name": "keda", "namespace": "default"}
    assert_chart(release, "keda", "https://kedacore.github.io/charts", "2.20.2", "keda")
    assert values(out) == {
        "operator": {"replicaCount": 1},
        "metricsServer": {"enabled": True, "replicaCount": 1},
        "webhooks": {"enabled": True, "failurePolicy": "Ignore", "replicaCount": 1},
        "logging": {
            "operator": {"level": "info"},
            "metricServer": {"zapLevel": "info"},
            "webhooks": {"level": "info"},
        },
        "serviceAccount": {"operator": {"name": "keda-operator"}},
        "prometheus": {
            name: {"enabled": False, "serviceMonitor": {"enabled": False}}
            for name in ("operator", "metricServer", "webhooks")
        },
    }
    assert_schema_valid(release)
    assert_known_keys(schema_store, "keda", "2.20.2", values(out))
    assert out.status["serviceAccount"] == {"namespace": "keda", "name": "keda-operator"}
    assert out.status["externalMetricsApi"] == "v1beta1.external.metrics.k8s.io"


def test_lifecycle_reaches_ready(assert_schema_valid):
    history = converge(
        XR,
        required=lambda _: {"environment-configs": [environment_config()]},
        step_input=step_input("KEDA"),
        check=lambda out, _: assert_schema_valid(list(out.resources.values())),
    )
    final = history[-1]
    assert len(history) == 2
    assert final.composite_ready
    assert final.conditions["ChartInstalled"].status == TRUE
    assert final.status["chart"]["ready"] is True
    assert final.status["charts"] == [final.status["chart"]]


def test_high_availability_adds_a_budget_per_replicated_component(schema_store):
    out = run(xr_with(**HA))
    v = values(out)
    assert v["operator"]["replicaCount"] == 2
    assert v["metricsServer"]["replicaCount"] == 2
    assert v["webhooks"]["replicaCount"] == 2
    assert v["podDisruptionBudget"] == {
        "operator": {"minAvailable": 1},
        "metricServer": {"minAvailable": 1},
        "webhooks": {"minAvailable": 1},
    }
    assert_known_keys(schema_store, "keda", "2.20.2", v)


def test_disabled_components_get_no_budget_metrics_or_api_service():
    spec = {**HA, "metricsServer": {"enabled": False, "replicas": 2}}
    spec["webhooks"] = {"enabled": False, "replicas": 2}
    spec["prometheus"] = {"enabled": True, "serviceMonitor": True}
    out = run(xr_with(**spec))
    v = values(out)
    assert v["podDisruptionBudget"] == {"operator": {"minAvailable": 1}}
    assert v["metricsServer"]["enabled"] is False
    assert v["webhooks"]["enabled"] is False
    assert v["prometheus"]["operator"] == {"enabled": True, "serviceMonitor": {"enabled": True}}
    assert v["prometheus"]["metricServer"] == {
        "enabled": False,
        "serviceMonitor": {"enabled": False},
    }
    assert v["prometheus"]["webhooks"] == {"enabled": False, "serviceMonitor": {"enabled": False}}
    assert "externalMetricsApi" not in out.status


def test_operational_settings(schema_store):
    spec = {
        "logLevel": "debug",
        "watchNamespaces": ["apps", "jobs"],
        "webhooks": {"failurePolicy": "Fail", "replicas": 2},
        "operator": {"resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}},
        "metricsServer": {"resources": {"limits": {"memory": "2Gi"}}},
        "prometheus": {"enabled": True},
    }
    out = run(xr_with(**spec), env=environment_config(clusterName="dev-eu"))
    v = values(out)
    assert v["logging"] == {
        "operator": {"level": "debug"},
        "metricServer": {"zapLevel": "debug"},
        "webhooks": {"level": "debug"},
    }
    assert v["watchNamespace"] == "apps,jobs"
    assert v["clusterName"] == "dev-eu"
    assert v["webhooks"]["failurePolicy"] == "Fail"
    assert v["resources"] == {
        "operator": {"requests": {"cpu": "200m", "memory": "256Mi"}},
        "metricServer": {"limits": {"memory": "2Gi"}},
    }
    assert {name: p["enabled"] for name, p in v["prometheus"].items()} == {
        "operator": True,
        "metricServer": True,
        "webhooks": True,
    }
    assert_known_keys(schema_store, "keda", "2.20.2", v)


def test_the_xr_cluster_name_wins_over_the_environment_config():
    out = run(xr_with(clusterName="mine"), env=environment_config(clusterName="dev-eu"))
    assert values(out)["clusterName"] == "mine"


def test_irsa_annotates_the_operator_service_account(schema_store):
    out = run(xr_with(awsIdentity={"source": "IRSA", "roleArn": ROLE}))
    assert values(out)["podIdentity"] == {"aws": {"irsa": {"enabled": True, "roleArn": ROLE}}}
    assert_known_keys(schema_store, "keda", "2.20.2", values(out))


def test_pod_identity_needs_no_values_only_the_reported_service_account():
    out = run(xr_with(awsIdentity={"source": "PodIdentity"}))
    assert "podIdentity" not in values(out)
    assert values(out)["serviceAccount"] == {"operator": {"name": "keda-operator"}}
    assert out.status["serviceAccount"] == {"namespace": "keda", "name": "keda-operator"}


def test_values_merge_last_and_null_deletes_a_chart_default(schema_store):
    spec = {
        "chartVersion": "2.20.2",
        "operator": {"replicas": 2},
        "values": {
            "operator": {"replicaCount": 3},
            "resources": {"operator": {"limits": None}},
            "podDisruptionBudget": None,
        },
    }
    v = values(run(xr_with(**spec)))
    assert v["operator"] == {"replicaCount": 3}
    assert v["podDisruptionBudget"] is None
    coalesced = schema_store.helm.coalesced("keda", "2.20.2", v)
    assert "limits" not in coalesced["resources"]["operator"]
    assert coalesced["resources"]["operator"]["requests"] == {"cpu": "100m", "memory": "100Mi"}
    assert "podDisruptionBudget" not in coalesced  # our budget, and the chart's default, gone


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"webhooks": {"enabled": False, "failurePolicy": "Fail"}},
            "spec.webhooks.failurePolicy: Fail needs webhooks.enabled",
        ),
        (
            {"prometheus": {"serviceMonitor": True}},
            "spec.prometheus.serviceMonitor: needs prometheus.enabled",
        ),
        (
            {"awsIdentity": {"source": "IRSA"}},
            "spec.awsIdentity.roleArn: is required when source is IRSA",
        ),
        (
            {"awsIdentity": {"source": "PodIdentity", "roleArn": ROLE}},
            "spec.awsIdentity.roleArn: is only used with IRSA",
        ),
        ({"operator": {"replicas": 5}}, "spec.operator.replicas: Input should be less than"),
        (
            {"operator": {"resources": {"requests": {"cpu": "lots"}}}},
            "spec.operator.resources.requests.cpu: String should match pattern",
        ),
        ({"watchNamespaces": ["Apps"]}, "spec.watchNamespaces[0]: String should match pattern"),
        ({"logLevel": "trace"}, "spec.logLevel: Input should be"),
        ({"metricServer": {}}, "spec.metricServer: unknown field"),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(spec, message):
    assert_refused(run(xr_with(**spec)), message)


def test_xrd_enforces_the_same_cross_field_rules():
    xrdgen = importlib.import_module("forge_dev.generate")
    definition = next(d for d in xrdgen.DEFINITIONS if d.kind == "KEDA")
    spec = xrdgen.xrd(definition)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    messages = {v["message"] for v in spec["x-kubernetes-validations"]}
    assert messages == {
        "webhooks.failurePolicy Fail needs webhooks.enabled",
        "prometheus.serviceMonitor needs prometheus.enabled",
    }
    identity = spec["properties"]["awsIdentity"]
    assert {v["message"] for v in identity["x-kubernetes-validations"]} == {
        "roleArn is required when source is IRSA",
        "roleArn is only used with IRSA",
    }
    assert spec["properties"]["watchNamespaces"]["x-kubernetes-list-type"] == "set"
