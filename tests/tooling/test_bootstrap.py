"""The platform's one-time ``bootstrap/``: what it installs and under which names (the
e2e harness applies it with the real kubectl; test_xrds holds the files equal to their
generator)."""

from __future__ import annotations

from pathlib import Path

import yaml

from forge.composers import stack
from forge.models.stack import Stack
from forge.xpkg import dependency_name
from forge_dev.packaging import bootstrap_manifests as bootstrap

ROOT = Path(__file__).resolve().parents[2]


def _objects() -> list[dict]:
    return [
        doc
        for path in sorted((ROOT / "bootstrap").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_provider_kubernetes_is_named_as_the_configurations_depend_on_it():
    """One package, not two: the resolver finds the bootstrap's Provider under the name it
    gives the Configurations' dependency, so it installs no second provider-kubernetes."""
    deps = {
        dep["package"]: dep
        for package in ("configuration-clusters", "configuration-infrastructure")
        for dep in yaml.safe_load((ROOT / "package" / package / "crossplane.yaml").read_text())[
            "spec"
        ]["dependsOn"]
    }
    providers = [o for o in _objects() if o["kind"] == "Provider"]
    assert len(providers) == 1
    provider = providers[0]
    source, _, version = provider["spec"]["package"].rpartition(":")
    assert source in deps
    assert provider["metadata"]["name"] == dependency_name(source)
    assert deps[source]["version"] == version


def test_objects_are_the_platformcluster_stacks_own():
    """A PlatformCluster adopts what the bootstrap created: same kinds, names and specs
    (Argo CD's sync annotations aside), so nothing is installed twice or fought over."""
    items = {
        (i.manifest["kind"], i.manifest["metadata"]["name"], i.manifest["apiVersion"]): i.manifest
        for i in stack.build(Stack())
    }
    shared = 0
    for obj in _objects():
        key = (obj["kind"], obj["metadata"]["name"], obj["apiVersion"])
        if key not in items:
            continue
        shared += 1
        bare = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "annotations"}}
        assert bare == items[key]
    # runtime config, binding and Provider of provider-kubernetes; our Function; two
    # ClusterProviderConfigs; the activation policy
    assert shared == 7


def test_crossplane_may_compose_namespaces():
    role = next(o for o in _objects() if o["kind"] == "ClusterRole")
    assert role["metadata"]["labels"] == {"rbac.crossplane.io/aggregate-to-crossplane": "true"}
    rule = role["rules"][0]
    assert rule["resources"] == ["namespaces"] and {"create", "delete"} <= set(rule["verbs"])


def test_configurations_are_pinned_to_the_release():
    from forge import versions  # noqa: PLC0415

    configs = [o for o in _objects() if o["kind"] == "Configuration"]
    assert sorted(c["metadata"]["name"] for c in configs) == [
        "configuration-clusters",
        "configuration-infrastructure",
    ]
    for config in configs:
        assert config["spec"]["package"].endswith(f":{versions.FUNCTION_VERSION}")
        assert "skipDependencyResolution" not in config["spec"]


def test_sync_waves_follow_the_apply_order():
    """Argo CD applies a wave after the one before is healthy; provider configs, whose CRDs
    come from packages, skip the dry run that would fail before those exist."""
    waves = []
    for path in sorted((ROOT / "bootstrap").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            annotations = doc["metadata"]["annotations"]
            waves.append(int(annotations["argocd.argoproj.io/sync-wave"]))
            skip = annotations.get("argocd.argoproj.io/sync-options")
            assert (skip == "SkipDryRunOnMissingResource=true") == ("ProviderConfig" in doc["kind"])
    assert waves == sorted(waves)


def test_the_documented_kubectl_steps_are_the_ones_the_e2e_runs():
    """Every page that gives the bootstrap's commands gives exactly these, in this order,
    one per line, so that what a platform team copies is what e2e-local runs."""
    steps = ["kubectl " + " ".join(step) for step in bootstrap.kubectl_steps()]
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    documented = {}
    for page in pages:
        lines = [line.strip() for line in page.read_text().splitlines()]
        if any(line.startswith("kubectl apply -f bootstrap/") for line in lines):
            documented[page.relative_to(ROOT)] = [line for line in lines if line in steps]
    assert documented, "no page gives the bootstrap's kubectl commands"
    for page, found in documented.items():
        assert found == steps, f"{page}: not the commands e2e-local runs"


def test_provider_kubernetes_redacts_secrets_from_object_status(assert_schema_valid):
    """provider-kubernetes copies what an Object applied into ``status.atProvider.manifest``,
    Secret data included, unless it runs with --sanitize-secrets (v1.2.1
    cmd/provider/main.go:90, internal/controller/namespaced/object/object.go:515): the
    argocd-manager token Secret must not land in an Object's status, on the platform (the
    bootstrap's provider) nor in a new cluster (the stack's)."""
    boot = [o for o in _objects() if o["kind"] == "DeploymentRuntimeConfig"]
    stacked = [
        i.manifest for i in stack.build(Stack()) if i.manifest["kind"] == "DeploymentRuntimeConfig"
    ]
    for configs in (boot, stacked):
        (runtime,) = [c for c in configs if c["metadata"]["name"] == "provider-kubernetes"]
        template = runtime["spec"]["deploymentTemplate"]["spec"]
        (container,) = template["template"]["spec"]["containers"]
        assert container == {"name": "package-runtime", "args": ["--sanitize-secrets"]}
        assert_schema_valid(runtime)
    others = [c for c in stacked if c["metadata"]["name"] != "provider-kubernetes"]
    assert others and all("deploymentTemplate" not in c["spec"] for c in others)
