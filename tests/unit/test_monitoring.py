"""Monitoring: kube-prometheus-stack in the cluster, or k8s-monitoring to remote endpoints."""

from __future__ import annotations

import copy
import importlib

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import build, environment_config, render, step_input
from tests.support.helm_keys import assert_known_keys
from tests.support.releases import assert_refused

XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Monitoring",
    "metadata": {"name": "monitoring", "namespace": "default"},
    "spec": {},
}
KPS = ("kube-prometheus-stack", "88.5.3")
K8S = ("k8s-monitoring", "4.4.0")
TRUE = fnv1.STATUS_CONDITION_TRUE
CRDS = "prometheus-operator-crds"
PROMETHEUS = {
    "name": "mimir",
    "type": "prometheus",
    "url": "https://mimir.example.com/api/v1/push",
    "secretRef": {"name": "mimir-credentials"},
}
LOKI = {
    "name": "loki",
    "type": "loki",
    "url": "https://loki.example.com/loki/api/v1/push",
    "auth": "bearerToken",
    "secretRef": {"name": "loki-token", "namespace": "default", "tokenKey": "token"},
}
OTLP = {
    "name": "otel",
    "type": "otlp",
    "url": "https://otlp.example.com/otlp",
    "protocol": "http",
    "auth": "none",
}


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def remote(*destinations: dict, spec: dict | None = None, **k8s) -> dict:
    """A k8s-monitoring XR; ``k8s`` goes into k8sMonitoring, ``spec`` beside it."""
    k8s_monitoring = {"destinations": list(destinations), **k8s}
    return xr_with(stack="k8s-monitoring", k8sMonitoring=k8s_monitoring, **(spec or {}))


ENV = environment_config(clusterName="dev-eu", profile="aws")


def run(xr: dict, env: dict | None = ENV):
    """The render that composes the stack's Release: kube-prometheus-stack's comes once its
    CRDs' release (test_monitoring_crds) is there."""
    # No env: the platform's EnvironmentConfig, which says nothing about Monitoring.
    required = {"environment-configs": [env or environment_config()]}
    out = render(build(xr, required=required, step_input=step_input("Monitoring")))
    if list(out.resources) != [CRDS]:
        return out
    observed = {CRDS: observe(CRDS, out.resources[CRDS])}
    return render(build(xr, observed, required, step_input("Monitoring")))


def release(out) -> dict:
    (manifest,) = [
        m
        for m in out.resources.values()
        if m["kind"] == "Release" and m is not out.resources.get(CRDS)
    ]
    return manifest


def values(out) -> dict:
    return release(out)["spec"]["forProvider"]["values"]


# kube-prometheus-stack ------------------------------------------------------------------


def test_default_stack_is_kube_prometheus_stack_in_cluster(assert_schema_valid, schema_store):
    out = run(XR)
    assert not out.fatal
    assert sorted(out.resources) == [
        "kube-prometheus-stack",
        "kube-prometheus-stack-uses-prometheus-operator-crds",
        CRDS,
    ]
    manifest = release(out)
    assert manifest["metadata"] == {"name": "monitoring", "namespace": "default"}
    assert manifest["spec"]["forProvider"]["chart"] == {
        "name": "kube-prometheus-stack",
        "repository": "https://prometheus-community.github.io/helm-charts",
        "version": "88.5.3",
    }
    assert manifest["spec"]["forProvider"]["namespace"] == "monitoring"
    spec = values(out)["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "10d"
    assert spec["externalLabels"] == {"cluster": "dev-eu"}
    assert "storageSpec" not in spec
    # Monitors and rules of every release are picked up, not only the chart's own.
    for selector in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert spec[f"{selector}SelectorNilUsesHelmValues"] is False
    assert values(out)["grafana"] == {"enabled": True}
    assert values(out)["alertmanager"] == {"enabled": True}
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd"):
        assert values(out)[component] == {"enabled": False}
    assert_schema_valid(manifest)
    assert_known_keys(schema_store, *KPS, values(out))
    assert out.status["stack"] == "kube-prometheus-stack"
    assert out.status["grafanaAdminSecret"] == "monitoring-grafana"


def test_kube_prometheus_stack_settings(schema_store):
    kps = {
        "retention": "30d",
        "retentionSize": "45GiB",
        "replicas": 2,
        "storage": {"size": "50Gi", "storageClass": "gp3"},
        "grafana": {"adminSecretRef": {"name": "grafana-admin", "passwordKey": "password"}},
        "alertmanager": {"enabled": False},
        "controlPlaneMetrics": True,
    }
    out = run(xr_with(kubePrometheusStack=kps, clusterName="edge"))
    v = values(out)
    spec = v["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["retentionSize"], spec["replicas"]) == ("30d", "45GiB", 2)
    assert spec["storageSpec"] == {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": "gp3",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "50Gi"}},
            }
        }
    }
    assert spec["externalLabels"] == {"cluster": "edge"}
    assert v["grafana"] == {
        "enabled": True,
        "admin": {
            "existingSecret": "grafana-admin",
            "userKey": "admin-user",
            "passwordKey": "password",
        },
    }
    assert v["alertmanager"] == {"enabled": False}
    assert v["kubeEtcd"] == {"enabled": True}
    assert_known_keys(schema_store, *KPS, v)
    assert out.status["grafanaAdminSecret"] == "grafana-admin"


def test_storage_without_a_class_uses_the_clusters_default():
    out = run(xr_with(kubePrometheusStack={"storage": {"size": "20Gi"}}))
    claim = values(out)["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]
    assert "storageClassName" not in claim["spec"]


def test_grafana_off_reports_no_admin_secret():
    out = run(xr_with(kubePrometheusStack={"grafana": {"enabled": False}}))
    assert values(out)["grafana"] == {"enabled": False}
    assert "grafanaAdminSecret" not in out.status


def test_no_cluster_label_without_a_cluster_name():
    out = run(XR, env=None)
    assert "externalLabels" not in values(out)["prometheus"]["prometheusSpec"]


def test_values_merge_last_and_null_deletes_a_chart_default(schema_store):
    spec = {
        "kubePrometheusStack": {"retention": "15d"},
        "values": {
            "prometheus": {"prometheusSpec": {"retention": "7d", "walCompression": None}},
            "grafana": {"defaultDashboardsTimezone": "browser"},
        },
    }
    v = values(run(xr_with(**spec)))
    assert v["prometheus"]["prometheusSpec"]["retention"] == "7d"
    assert v["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False
    assert v["grafana"] == {"enabled": True, "defaultDashboardsTimezone": "browser"}
    coalesced = schema_store.helm.coalesced(*KPS, v)
    assert "walCompression" not in coalesced["prometheus"]["prometheusSpec"]
    assert coalesced["prometheus"]["prometheusSpec"]["tsdb"] == {"outOfOrderTimeWindow": "0s"}


def test_chart_version_override_applies_to_the_chosen_chart():
    out = run(xr_with(chartVersion="88.6.0"))
    assert release(out)["spec"]["forProvider"]["chart"]["version"] == "88.6.0"
    out = run(remote(PROMETHEUS, LOKI, spec={"chartVersion": "4.5.0"}))
    assert release(out)["spec"]["forProvider"]["chart"] == {
        "name": "k8s-monitoring",
        "repository": "https://grafana.github.io/helm-charts",
        "version": "4.5.0",
    }


# k8s-monitoring -------------------------------------------------------------------------


def test_remote_stack_ships_to_destinations_with_secret_references(
    assert_schema_valid, schema_store
):
    out = run(remote(PROMETHEUS, LOKI))
    assert not out.fatal
    assert list(out.resources) == ["k8s-monitoring"]
    v = values(out)
    assert v["cluster"] == {"name": "dev-eu"}
    assert v["destinations"] == {
        "mimir": {
            "type": "prometheus",
            "url": "https://mimir.example.com/api/v1/push",
            "auth": {"type": "basic", "usernameKey": "username", "passwordKey": "password"},
            "secret": {"create": False, "name": "mimir-credentials", "namespace": "monitoring"},
        },
        "loki": {
            "type": "loki",
            "url": "https://loki.example.com/loki/api/v1/push",
            "auth": {"type": "bearerToken", "bearerTokenKey": "token"},
            "secret": {"create": False, "name": "loki-token", "namespace": "default"},
        },
    }
    assert v["collectors"] == {
        "alloy-metrics": {"presets": ["clustered", "statefulset"]},
        "alloy-singleton": {"presets": ["singleton"]},
        "alloy-logs": {"presets": ["filesystem-log-reader", "daemonset"]},
    }
    assert v["clusterMetrics"] == {"enabled": True, "collector": "alloy-metrics"}
    assert v["hostMetrics"] == {
        "enabled": True,
        "collector": "alloy-metrics",
        "linuxHosts": {"enabled": True},
    }
    assert v["clusterEvents"] == {"enabled": True, "collector": "alloy-singleton"}
    assert v["podLogsViaLoki"] == {"enabled": True, "collector": "alloy-logs"}
    assert "applicationObservability" not in v
    assert v["telemetryServices"] == {
        "kube-state-metrics": {"deploy": True},
        "node-exporter": {"deploy": True},
    }
    assert_schema_valid(release(out))
    assert schema_store.validate_helm_values(*K8S, v) == []
    assert out.status["stack"] == "k8s-monitoring"
    assert out.status["features"] == ["clusterMetrics", "hostMetrics", "clusterEvents", "podLogs"]
    assert "grafanaAdminSecret" not in out.status


@pytest.mark.parametrize(
    ("destinations", "features", "expected"),
    [
        ([LOKI], {}, ["clusterEvents", "podLogs"]),
        ([PROMETHEUS], {}, ["clusterMetrics", "hostMetrics"]),
        (
            [OTLP],
            {},
            [
                "clusterMetrics",
                "hostMetrics",
                "clusterEvents",
                "podLogs",
                "applicationObservability",
            ],
        ),
        (
            [PROMETHEUS, LOKI],
            {"hostMetrics": False, "podLogs": False},
            ["clusterMetrics", "clusterEvents"],
        ),
        (
            [OTLP],
            {"applicationObservability": False, "clusterEvents": False},
            ["clusterMetrics", "hostMetrics", "podLogs"],
        ),
    ],
)
def test_features_follow_the_destinations_and_pass_the_chart_schemas(
    destinations, features, expected, schema_store
):
    out = run(remote(*destinations, features=features))
    assert out.status["features"] == expected
    v = values(out)
    collectors = {
        v[key]["collector"] for key in v if isinstance(v[key], dict) and "collector" in v[key]
    }
    assert collectors == set(v["collectors"])  # every collector serves a feature, and back
    assert schema_store.validate_helm_values(*K8S, v) == []


def test_application_observability_opens_otlp_receivers():
    v = values(run(remote(OTLP)))
    assert v["applicationObservability"] == {
        "enabled": True,
        "collector": "alloy-receiver",
        "receivers": {"otlp": {"grpc": {"enabled": True}, "http": {"enabled": True}}},
    }
    assert v["collectors"]["alloy-receiver"] == {"presets": ["deployment"]}
    assert v["destinations"]["otel"] == {
        "type": "otlp",
        "url": "https://otlp.example.com/otlp",
        "protocol": "http",
    }


def test_a_misspelt_feature_setting_fails_the_subchart_schema(schema_store):
    v = values(run(remote(PROMETHEUS)))
    v["hostMetrics"]["linuxHosts"]["enabled"] = "yes"
    assert schema_store.validate_helm_values(*K8S, v) != []


def test_remote_values_merge_last():
    xr = remote(PROMETHEUS, spec={"values": {"clusterMetrics": {"kubelet": {"enabled": False}}}})
    v = values(run(xr))
    assert v["clusterMetrics"] == {
        "enabled": True,
        "collector": "alloy-metrics",
        "kubelet": {"enabled": False},
    }


@pytest.mark.parametrize(
    "xr", [XR, remote(PROMETHEUS, LOKI, OTLP)], ids=["kube-prometheus-stack", "k8s-monitoring"]
)
def test_lifecycle_reaches_ready(xr, assert_schema_valid):
    history = converge(
        xr,
        required=lambda _: {"environment-configs": [ENV]},
        step_input=step_input("Monitoring"),
        check=lambda out, _: assert_schema_valid(list(out.resources.values())),
    )
    final = history[-1]
    assert len(history) == (3 if xr is XR else 2)  # kube-prometheus-stack: its CRDs first
    assert final.conditions["ChartInstalled"].status == TRUE
    assert final.status["chart"]["ready"] is True


# Bad specs ------------------------------------------------------------------------------

NO_AUTH = {"name": "m", "type": "prometheus", "url": "https://m.example.com", "auth": "none"}


@pytest.mark.parametrize(
    ("xr", "message"),
    [
        (
            xr_with(stack="k8s-monitoring"),
            "spec.k8sMonitoring: is required when stack is k8s-monitoring",
        ),
        (
            remote({"name": "m", "type": "prometheus", "secretRef": {"name": "s"}}),
            "spec.k8sMonitoring.destinations[0].url: Field required",
        ),
        (
            remote({"name": "m", "type": "prometheus", "url": "https://m.example.com"}),
            "spec.k8sMonitoring.destinations[0].secretRef: is required when auth is basic",
        ),
        (
            remote(
                PROMETHEUS,
                {
                    "name": "l",
                    "type": "loki",
                    "url": "https://l.example.com",
                    "auth": "bearerToken",
                },
            ),
            "spec.k8sMonitoring.destinations[1].secretRef: is required when auth is bearerToken",
        ),
        (
            remote({**NO_AUTH, "secretRef": {"name": "s"}}),
            "spec.k8sMonitoring.destinations[0].secretRef: is not used when auth is none",
        ),
        (
            remote({**NO_AUTH, "url": "ftp://m.example.com"}),
            "spec.k8sMonitoring.destinations[0].url: String should match pattern",
        ),
        (
            remote({**NO_AUTH, "protocol": "grpc"}),
            "spec.k8sMonitoring.destinations[0].protocol: is only used with type otlp",
        ),
        (
            remote(NO_AUTH, NO_AUTH),
            "spec.k8sMonitoring.destinations[1].name: duplicate destination",
        ),
        (remote(), "spec.k8sMonitoring.destinations: List should have at least 1 item"),
        (
            remote(NO_AUTH, features={"podLogs": True}),
            "spec.k8sMonitoring.features.podLogs: needs a loki or otlp destination",
        ),
        (
            remote(NO_AUTH, features={"clusterMetrics": False, "hostMetrics": False}),
            "spec.k8sMonitoring.features: enable at least one feature",
        ),
        (
            xr_with(k8sMonitoring={"destinations": [NO_AUTH]}),
            "spec.k8sMonitoring: is only used when stack is k8s-monitoring",
        ),
        (
            remote(NO_AUTH, spec={"kubePrometheusStack": {"retention": "1d"}}),
            "spec.kubePrometheusStack: is only used when stack is kube-prometheus-stack",
        ),
        (
            xr_with(kubePrometheusStack={"grafana": {"adminPassword": "hunter2"}}),
            "spec.kubePrometheusStack.grafana.adminPassword: unknown field",
        ),
        (
            xr_with(kubePrometheusStack={"retention": "10 days"}),
            "spec.kubePrometheusStack.retention: String should match pattern",
        ),
        (
            xr_with(kubePrometheusStack={"storage": {"storageClass": "gp3"}}),
            "spec.kubePrometheusStack.storage.size: Field required",
        ),
        (xr_with(stack="prometheus"), "spec.stack: Input should be"),
    ],
)
def test_bad_spec_is_fatal_and_names_the_field(xr, message):
    assert_refused(run(xr), message)


def test_remote_stack_needs_a_cluster_name():
    out = run(remote(NO_AUTH), env=environment_config(profile="aws"))
    assert len(out.fatal) == 1
    assert "spec.clusterName: is required when stack is k8s-monitoring" in out.fatal[0]


def test_a_missing_cluster_name_waits_for_the_environment_before_failing():
    """Crossplane stops iterating on a fatal result: the first call, made before the
    EnvironmentConfigs arrive, must not fail on what they would provide."""
    first = render(build(remote(NO_AUTH), step_input=step_input("Monitoring")))
    assert not first.fatal
    assert "environment-configs" in first.requirements
    second = run(remote(NO_AUTH))
    assert not second.fatal
    assert values(second)["cluster"] == {"name": "dev-eu"}


def test_xrd_enforces_the_same_cross_field_rules():
    xrdgen = importlib.import_module("forge_dev.generate")
    definition = next(d for d in xrdgen.DEFINITIONS if d.kind == "Monitoring")
    schema = xrdgen.xrd(definition)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert {v["message"] for v in spec["x-kubernetes-validations"]} == {
        "k8sMonitoring is required when stack is k8s-monitoring",
        "k8sMonitoring is only used when stack is k8s-monitoring",
    }
    k8s = spec["properties"]["k8sMonitoring"]
    assert "default" not in k8s  # its absence is what the rules test
    destinations = k8s["properties"]["destinations"]
    assert (destinations["x-kubernetes-list-type"], destinations["x-kubernetes-list-map-keys"]) == (
        "map",
        ["name"],
    )
    assert destinations["items"]["required"] == ["name", "type", "url"]
    assert {v["message"] for v in destinations["items"]["x-kubernetes-validations"]} == {
        "secretRef is required unless auth is none",
        "secretRef is not used with auth none",
        "protocol is only used with type otlp",
    }
    assert spec["properties"]["stack"]["enum"] == ["kube-prometheus-stack", "k8s-monitoring"]
