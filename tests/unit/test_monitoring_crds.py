"""kube-prometheus-stack's CRDs follow chart upgrades (issue 19 item 10).

The stack's chart ships its CRDs in a ``crds/`` directory, which Helm installs once and
never upgrades; the Monitoring API installs them from the prometheus-operator-crds chart,
whose CRDs are templates, in a Helm release of their own before the stack.
"""

from __future__ import annotations

import crossplane.function.proto.v1.run_function_pb2 as fnv1

from forge import versions
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import build, environment_config, render, step_input

XR = {
    "apiVersion": "forge.projectcatalyst.io/v1alpha1",
    "kind": "Monitoring",
    "metadata": {"name": "monitoring", "namespace": "default"},
    "spec": {},
}
ENV = environment_config(clusterName="dev-eu")
CRDS = "prometheus-operator-crds"
STACK = "kube-prometheus-stack"
FALSE = fnv1.STATUS_CONDITION_FALSE


def run(xr: dict, observed: dict | None = None):
    required = {"environment-configs": [ENV]}
    return render(build(xr, observed, required, step_input("Monitoring")))


def lifecycle(xr: dict):
    return converge(
        xr, required=lambda _: {"environment-configs": [ENV]}, step_input=step_input("Monitoring")
    )


def with_spec(**spec) -> dict:
    return {**XR, "spec": spec}


def test_the_crds_come_first_from_a_chart_helm_upgrades():
    out = run(XR)
    assert list(out.resources) == [CRDS]
    release = out.resources[CRDS]
    assert release["metadata"] == {"name": "monitoring-crds", "namespace": "default"}
    provider = release["spec"]["forProvider"]
    assert provider["chart"] == {
        "name": "prometheus-operator-crds",
        "repository": "https://prometheus-community.github.io/helm-charts",
        "version": versions.PROMETHEUS_OPERATOR_CRDS.version,
    }
    assert provider["namespace"] == "monitoring"
    # Uninstalling the release never deletes the CRDs, and with them every ServiceMonitor.
    assert provider["values"] == {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
    # CRDs an earlier release of this API installed through the stack's crds/ directory
    # carry no Helm owner: the first install adopts them.
    assert provider["takeOwnership"] is True
    status, reason, message = (
        out.conditions["ChartInstalled"].status,
        out.conditions["ChartInstalled"].reason,
        out.conditions["ChartInstalled"].message,
    )
    assert (status, reason) == (FALSE, "Installing")
    assert "monitoring-crds" in message


def test_the_stack_waits_for_its_crds_and_never_installs_its_own():
    history = lifecycle(XR)
    final = history[-1]
    assert final.composite_ready
    assert STACK not in history[0].resources
    stack = final.resources[STACK]["spec"]["forProvider"]
    assert stack["values"]["crds"] == {"enabled": False}
    holder = final.resources[f"{STACK}-uses-{CRDS}"]
    assert holder["kind"] == "Usage"
    assert holder["spec"]["of"]["resourceRef"] == {"name": "monitoring-crds"}
    assert holder["spec"]["by"]["resourceRef"] == {"name": "monitoring"}
    charts = {c["name"]: c for c in final.status["charts"]}
    assert charts[CRDS]["release"] == "monitoring-crds"
    assert charts[CRDS]["version"] == versions.PROMETHEUS_OPERATOR_CRDS.version
    assert final.status["chart"]["name"] == STACK  # the stack's chart, as before


def test_an_installed_stack_stays_while_its_crds_release_arrives():
    """Upgrading from a release of this API without the CRDs release: nothing is removed."""
    installed = lifecycle(XR)[-1]
    observed = {STACK: observe(STACK, installed.resources[STACK])}
    out = run(XR, observed)
    assert {CRDS, STACK} <= set(out.resources)


def test_the_crds_version_is_the_specs_or_the_cluster_brings_its_own():
    pinned = run(with_spec(kubePrometheusStack={"crds": {"chartVersion": "30.0.1"}}))
    assert pinned.resources[CRDS]["spec"]["forProvider"]["chart"]["version"] == "30.0.1"
    theirs = lifecycle(with_spec(kubePrometheusStack={"crds": {"install": False}}))
    assert len(theirs) == 2
    assert CRDS not in theirs[-1].resources
    assert theirs[-1].resources[STACK]["spec"]["forProvider"]["values"]["crds"] == {
        "enabled": False
    }


def test_remote_monitoring_installs_no_crds():
    xr = with_spec(
        stack="k8s-monitoring",
        k8sMonitoring={
            "destinations": [
                {"name": "otel", "type": "otlp", "url": "https://o.example.com", "auth": "none"}
            ]
        },
    )
    assert list(run(xr).resources) == ["k8s-monitoring"]
