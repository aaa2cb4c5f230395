"""The scenarios of ``make e2e-local``: each one a function of the environment with a
time budget; each returns a one-line detail for the summary table or raises."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509

from forge.versions import PROVIDER_KUBERNETES
from forge_dev.e2e_local import reach
from forge_dev.e2e_local.aws_player import aws_lifecycle
from forge_dev.e2e_local.controlplane import ROOT
from forge_dev.e2e_local.env import CONFIGURATIONS, Environment
from forge_dev.e2e_local.kube import is_true, load_documents
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.e2e_local.upgrade import configuration_upgrade
from forge_dev.e2e_local.vcluster_api import count_prefix, etcd_prefix
from forge_dev.e2e_local.xrs import (
    XR_GROUP,
    argocd_secret,
    check_deletion_order,
    delete_and_wait,
    environment_configs,
    get_xr,
    uids,
    usages,
    wait_ready,
)
from forge_dev.paths import stages_dir

# Kinds a composition of ours may compose, looked up by the composite label to prove
# that a deleted XR left nothing behind.


@dataclass(frozen=True)
class Scenario:
    name: str
    budget: float
    run: Callable[[Environment, float], str]


# --- helpers -----------------------------------------------------------------------


# --- scenarios -----------------------------------------------------------------------
def keda_lifecycle(env: Environment, budget: float) -> str:
    """A KEDA in a namespace: Ready, its composed Release as Crossplane wrote it, then
    deleted: nothing left behind."""
    deadline = time.monotonic() + budget
    base = ROOT / "examples" / "infrastructure" / "keda"
    environment_configs(env, stages_dir(base) / "01-installing" / "required.yaml")
    xr = yaml.safe_load((base / "xr.yaml").read_text())
    t = time.monotonic()
    env.kube.apply(xr)
    obj = wait_ready(env, xr, deadline)
    ready_s = time.monotonic() - t
    refs = obj["spec"]["crossplane"]["resourceRefs"]
    if not refs:
        raise HarnessError("KEDA Ready with no composed resources")
    deleted_s = delete_and_wait(env, xr, deadline)
    kinds = sorted({r["kind"] for r in refs})
    return (
        f"Ready in {ready_s:.1f}s ({len(refs)} composed: {', '.join(kinds)}); "
        f"deleted in {deleted_s:.1f}s, nothing left"
    )


def bundle_lifecycle(env: Environment, budget: float) -> str:
    """The whole infrastructure bundle in a namespace: every XR Ready, then every XR
    deleted with nothing left behind."""
    deadline = time.monotonic() + budget
    base = ROOT / "examples" / "infrastructure"
    environment_configs(env, stages_dir(base / "keda") / "01-installing" / "required.yaml")
    xrs = [d for d in load_documents(base / "bundle.yaml") if d["apiVersion"] == XR_GROUP]
    t = time.monotonic()
    env.kube.apply_all(xrs)
    for xr in xrs:
        wait_ready(env, xr, deadline)
    ready_s = time.monotonic() - t
    pairs = [p for xr in xrs for p in usages(env, xr["metadata"]["name"])]
    t = time.monotonic()
    for xr in xrs:
        md = xr["metadata"]
        env.kube.delete(xr["apiVersion"], xr["kind"], md["name"], md.get("namespace"))
    for xr in xrs:
        delete_and_wait(env, xr, deadline)
    ordered = check_deletion_order(env, pairs)
    return (
        f"{len(xrs)} XRs Ready in {ready_s:.1f}s; deleted in {time.monotonic() - t:.1f}s "
        f"in Usage order ({ordered} pairs)"
    )


def _check_argocd_tls(argocd: dict, vc_secret: dict) -> str:
    """The Secret's TLS material is the vCluster's, and its CA verifies its certificate."""
    tls = argocd["config"]["tlsClientConfig"]
    if tls.get("insecure") is not False:
        raise HarnessError(f"Argo CD tlsClientConfig.insecure is {tls.get('insecure')!r}")
    ca = x509.load_pem_x509_certificate(base64.b64decode(tls["caData"]))
    cert = x509.load_pem_x509_certificate(base64.b64decode(tls["certData"]))
    cert.verify_directly_issued_by(ca)
    vc_cert = base64.b64decode(vc_secret["data"]["client-certificate"])
    if base64.b64decode(tls["certData"]) != vc_cert:
        raise HarnessError("Argo CD's certData is not the vCluster's client certificate")
    return argocd["decoded"]["server"]


def _reach(env: Environment, name: str, argocd: dict) -> str:
    """Argo CD's cluster Secret, and nothing else, reaches the vCluster's real API server
    through its Service (the ClusterIP its server name resolves to in the cluster, then
    kube-proxy), verifying the Secret's server name, authenticated by its certificate."""
    server = argocd["decoded"]["server"]
    config = argocd["config"]
    service = env.kube.get("v1", "Service", name, f"cluster-{name}")
    if service is None:
        raise HarnessError(f"no Service cluster-{name}/{name} for the vCluster's API")
    dial = (service["spec"]["clusterIP"], 443)
    version = reach.get(server, config, "/version", dial)["gitVersion"]
    providers = reach.get(server, config, "/apis/pkg.crossplane.io/v1/providers", dial)
    names = sorted(p["metadata"]["name"] for p in providers["items"])
    return f"kube-apiserver {version} at {dial[0]}:443 lists Providers {names}"


def _stack_in_vcluster(env: Environment, name: str) -> str:
    """Every Object reaching the vCluster was applied by the real provider-kubernetes
    (none played), and what each applied is in the vCluster's API."""
    from forge_dev.e2e_local.live_player import PLAYED_ANNOTATION  # noqa: PLC0415

    api = env.vclusters.get(f"cluster-{name}", name)
    if api is None:
        raise HarnessError(f"no API server runs for vCluster cluster-{name}/{name}")
    kinds: dict[str, int] = {}
    for obj in env.kube.list("kubernetes.m.crossplane.io/v1alpha1", "Object", f"cluster-{name}"):
        if (obj["spec"].get("providerConfigRef") or {}).get("name") != name:
            continue
        md = obj["metadata"]
        if PLAYED_ANNOTATION in (md.get("annotations") or {}):
            raise HarnessError(f"Object {md['name']} was played: {md['annotations']}")
        manifest = obj["spec"]["forProvider"]["manifest"]
        kind, where = manifest["kind"], manifest["metadata"]
        if not api.kube.get(manifest["apiVersion"], kind, where["name"], where.get("namespace")):
            raise HarnessError(f"Object {md['name']}: no {kind} {where['name']} in the vCluster")
        kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        raise HarnessError(f"no Object reaches vCluster {name}")
    listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return f"provider-kubernetes applied its stack into it ({listed})"


def vcluster_lifecycle(env: Environment, budget: float) -> str:
    """A vCluster Cluster Ready (its API a real kube-apiserver; vc-<name> written as the
    chart would); the Argo CD cluster Secret read back as Argo CD reads it and reaching
    that API; the stack applied into it by the real provider-kubernetes; a spec update
    converges with nothing recreated; deleted (Usages, finalizers, namespace deletion)
    with nothing left, the vCluster's API server and store included."""
    deadline = time.monotonic() + budget
    xr = yaml.safe_load((ROOT / "examples" / "cluster-vcluster" / "xr.yaml").read_text())
    name = xr["metadata"]["name"]
    t = time.monotonic()
    env.kube.apply(xr)
    obj = wait_ready(env, xr, deadline)
    ready_s = time.monotonic() - t
    vc_secret = env.kube.get("v1", "Secret", f"vc-{name}", f"cluster-{name}")
    if vc_secret is None:
        raise HarnessError(f"no Secret cluster-{name}/vc-{name}")
    argocd = argocd_secret(env, name)
    server = _check_argocd_tls(argocd, vc_secret)
    reached = _reach(env, name, argocd)
    stack = _stack_in_vcluster(env, name)
    api = env.vclusters.get(f"cluster-{name}", name)

    before = uids(env, obj)
    team = "tenant.forge.projectcatalyst.io/team"  # a Cluster's labels: this prefix only
    xr["spec"]["argocd"] = {"labels": {team: "e2e"}}
    env.kube.apply(xr)

    def updated():
        labels = argocd_secret(env, name)["metadata"].get("labels") or {}
        current = get_xr(env, xr)
        return labels.get(team) == "e2e" and is_true(current, "Ready") and current

    obj = env.kube.wait(
        f"the Argo CD Secret labelled {team}=e2e",
        updated,
        timeout=max(deadline - time.monotonic(), 1),
        alive=env.check_alive,
    )
    after = uids(env, obj)
    recreated = sorted(k for k in before if k in after and before[k] != after[k])
    if recreated:
        raise HarnessError(f"the spec update recreated {recreated}")

    pairs = usages(env, name)
    t = time.monotonic()
    delete_and_wait(env, xr, deadline)
    ordered = check_deletion_order(env, pairs)
    env.kube.wait(
        f"namespace cluster-{name} deleted",
        lambda: env.kube.get("v1", "Namespace", f"cluster-{name}") is None,
        timeout=max(deadline - time.monotonic(), 1),
        alive=env.check_alive,
    )
    deleted_s = time.monotonic() - t
    left = count_prefix(api.etcd_url, etcd_prefix(api.namespace, api.name) + "/")
    if env.vclusters.get(api.namespace, name) is not None or left:
        raise HarnessError(f"vCluster {name}'s API outlived its release ({left} keys left)")
    return (
        f"Ready in {ready_s:.1f}s ({len(before)} composed); Argo CD's Secret alone reaches "
        f"{server} ({reached}); {stack}; update: nothing recreated; "
        f"deleted in {deleted_s:.1f}s "
        f"in Usage order ({ordered} pairs), the vCluster's API and store with it"
    )


def platformcluster_lifecycle(env: Environment, budget: float) -> str:
    """The example PlatformCluster: its stack applied for real through provider-kubernetes
    (the in-cluster ClusterProviderConfig of ``bootstrap/``), so Crossplane installs its
    packages; it adopts what the bootstrap installed (same names: the Providers get the
    stack's runtime configs) and Crossplane reports every package Installed and Healthy,
    no provider at a lower version than the resolver installed it, each at its pin;
    then its ProviderConfigs, Ready; deleted with nothing composed left, and what its
    Objects applied still there (stack.deletionPolicy Orphan)."""
    deadline = time.monotonic() + budget
    xr = yaml.safe_load((ROOT / "examples" / "platformcluster" / "xr.yaml").read_text())
    resolved = _provider_versions(env)
    t = time.monotonic()
    env.kube.apply(xr)
    obj = wait_ready(env, xr, deadline)
    ready_s = time.monotonic() - t
    packages = (obj.get("status") or {}).get("packages") or {}
    live = _stack_packages(env, packages)
    pins = _never_lowered(env, resolved, _provider_versions(env))
    deleted_s = delete_and_wait(env, xr, deadline)
    orphaned = _stack_packages(env, packages)
    if sorted(orphaned) != sorted(live):
        raise HarnessError(f"deleting the PlatformCluster removed packages: {live} -> {orphaned}")
    n = len(obj["spec"]["crossplane"]["resourceRefs"])
    return (
        f"Ready in {ready_s:.1f}s ({n} composed); {len(live)} packages installed by "
        f"Crossplane from its Objects, Healthy, runtime configs adopted "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(live.items()))}); none downgraded, "
        f"{pins}; deleted in "
        f"{deleted_s:.1f}s, nothing composed left, the packages orphaned in place"
    )


def _stack_packages(env: Environment, packages: dict) -> dict[str, str]:
    """Each package of the stack's status as Crossplane has it: Installed, Healthy, with
    the runtime config the stack gives it; name -> runtime config."""
    out: dict[str, str] = {}
    for name in packages:
        found = [
            p
            for kind in ("Provider", "Function")
            if (p := env.kube.get("pkg.crossplane.io/v1", kind, name)) is not None
        ]
        if not found or not (is_true(found[0], "Installed") and is_true(found[0], "Healthy")):
            raise HarnessError(f"package {name} not installed and healthy: {found}")
        ref = (found[0]["spec"].get("runtimeConfigRef") or {}).get("name", "-")
        out[name] = ref
    return out


def _controller(obj: dict) -> dict:
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), {})


def configurations(env: Environment, budget: float) -> str:
    """The platform's bootstrap (``bootstrap/`` applied with kubectl): the Configurations,
    built by the real ``crossplane xpkg build``, installed from the local mirror. Every XRD
    and Composition of ours is one Crossplane installed from a ConfigurationRevision of
    the Configuration that ships it (none is applied directly), each Composition with the
    release and channel labels of the version built; every dependency resolved once."""
    from forge_dev.packaging import release  # noqa: PLC0415 (the function's)
    from forge_dev.packaging.layout import LABEL_CHANNEL, LABEL_RELEASE  # noqa: PLC0415

    del budget  # nothing here waits: the bootstrap did
    kube = env.kube
    revisions = {
        r["metadata"]["name"]: r for r in kube.list("pkg.crossplane.io/v1", "ConfigurationRevision")
    }
    owner_of: dict[tuple[str, str], str] = {}
    for name in CONFIGURATIONS:
        cfg = kube.get("pkg.crossplane.io/v1", "Configuration", name)
        current = (cfg.get("status") or {}).get("currentRevision")
        rev = revisions.get(current)
        if rev is None or rev["spec"].get("desiredState") != "Active":
            raise HarnessError(f"Configuration {name}: no active revision ({current})")
        if not is_true(rev, "RevisionHealthy"):
            raise HarnessError(
                f"ConfigurationRevision {current} not RevisionHealthy: {rev.get('status')}"
            )
        for ref in (rev.get("status") or {}).get("objectRefs") or []:
            owner_of[(ref["kind"], ref["name"])] = name
    checked = {"CompositeResourceDefinition": 0, "Composition": 0}
    for kind, api, directory in (
        ("CompositeResourceDefinition", "apiextensions.crossplane.io/v2", "xrds"),
        ("Composition", "apiextensions.crossplane.io/v1", "compositions"),
    ):
        for doc in load_documents(ROOT / directory):
            name = doc["metadata"]["name"]
            obj = kube.get(api, kind, name)
            ctl = _controller(obj)
            if ctl.get("kind") != "ConfigurationRevision" or (kind, name) not in owner_of:
                raise HarnessError(
                    f"{kind} {name} is not installed by a Configuration: controller {ctl}"
                )
            if (
                revisions[ctl["name"]]["metadata"]["labels"].get("pkg.crossplane.io/package")
                != owner_of[(kind, name)]
            ):
                raise HarnessError(f"{kind} {name}: controlled by {ctl['name']}")
            if kind == "Composition":
                labels = obj["metadata"].get("labels") or {}
                want = {LABEL_RELEASE: env.version, LABEL_CHANNEL: release.channel(env.version)}
                if {k: labels.get(k) for k in want} != want:
                    raise HarnessError(f"Composition {name}: labels {labels}, want {want}")
            checked[kind] += 1
    deps = _dependency_graph(env)
    active = _activations(env)
    return (
        f"bootstrap/ applied with kubectl; {len(CONFIGURATIONS)} Configurations Healthy "
        f"(release {env.version}); {checked['CompositeResourceDefinition']} XRDs, "
        f"{checked['Composition']} Compositions from their revisions; {deps}; {active}"
    )


def _activations(env: Environment) -> str:
    """Only the managed resource kinds we compose are active: the bootstrap's activation
    policy activates each of them (the AWS stand-ins are SafeStart, so nothing else does;
    the harness's Crossplane has no default policy, as the chart's
    ``provider.defaultActivations: []`` leaves none), and a kind we never compose stays
    an inactive ManagedResourceDefinition with no CRD."""
    from forge.composers.activation import COMPOSED  # noqa: PLC0415 (the function's)
    from forge_dev.e2e_local.standins import UNCOMPOSED  # noqa: PLC0415

    kube = env.kube
    uncomposed = Path(UNCOMPOSED[1]).stem.split("_", 1)
    uncomposed_name = f"{uncomposed[1]}.{uncomposed[0]}"

    def settled() -> dict[str, str]:
        states = {
            m["metadata"]["name"]: m["spec"].get("state", "Inactive")
            for m in kube.list("apiextensions.crossplane.io/v1alpha1", "ManagedResourceDefinition")
        }
        if uncomposed_name not in states:
            raise RuntimeError(f"no ManagedResourceDefinition {uncomposed_name}: {sorted(states)}")
        wrong = {n: s for n, s in states.items() if (n in COMPOSED) != (s == "Active")}
        if wrong:
            raise RuntimeError(f"activation not as the policy says: {wrong}")
        return states

    states = kube.wait("only the composed kinds active", settled, timeout=60)
    if kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", uncomposed_name):
        raise HarnessError(f"{uncomposed_name} is inactive but its CRD exists")
    active = sum(1 for s in states.values() if s == "Active")
    return (
        f"{active} of {len(states)} managed resource kinds active, exactly the composed ones "
        f"({uncomposed_name} inactive, no CRD)"
    )


def _dependency_graph(env: Environment) -> str:
    """Crossplane resolved every dependency of our Configurations once, under the name
    ``forge.xpkg.dependency_name`` gives it (the name our stacks install it under), and
    took the bootstrap's provider-kubernetes as that dependency instead of a second one;
    each provider at the release's pin though the mirror holds a newer one."""
    from forge.xpkg import dependency_name  # noqa: PLC0415 (the function's)

    kube = env.kube
    wanted: dict[str, str] = {}
    for name in CONFIGURATIONS:
        meta = yaml.safe_load(
            (env.workdir / "packages" / "build" / name / "crossplane.yaml").read_text()
        )
        for dep in meta["spec"]["dependsOn"]:
            wanted[dependency_name(dep["package"])] = dep["kind"]

    def settled() -> dict[str, dict]:
        """Every Provider and Function, once all are Installed and Healthy. A revision can
        report a conflict for a moment while Crossplane takes control of its objects."""
        found: dict[str, dict] = {}
        for kind in ("Provider", "Function"):
            for pkg in kube.list("pkg.crossplane.io/v1", kind):
                found[pkg["metadata"]["name"]] = pkg
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise RuntimeError(f"dependencies not installed: {missing}; have {sorted(found)}")
        for name, pkg in found.items():
            if not (is_true(pkg, "Installed") and is_true(pkg, "Healthy")):
                raise RuntimeError(
                    f"{pkg['kind']} {name} not Installed and Healthy: {pkg.get('status')}"
                )
        return found

    installed = kube.wait("every package Installed and Healthy", settled, timeout=60)
    sources: dict[str, list[str]] = {}
    for name, pkg in installed.items():
        source = pkg["spec"]["package"].rsplit(":", 1)[0]
        sources.setdefault(source, []).append(name)
    twice = {s: n for s, n in sources.items() if len(n) > 1}
    if twice:
        raise HarnessError(f"one package installed under several names: {twice}")
    lock = kube.get("pkg.crossplane.io/v1beta1", "Lock", "lock") or {}
    locked = [p["source"] for p in lock.get("packages") or []]
    if len(locked) != len(set(locked)):
        raise HarnessError(f"the package Lock holds a source twice: {sorted(locked)}")
    kubernetes = installed[dependency_name(PROVIDER_KUBERNETES[0])]
    if (kubernetes["spec"].get("runtimeConfigRef") or {}).get("name") != "provider-kubernetes":
        raise HarnessError(f"provider-kubernetes is not the bootstrap's: {kubernetes['spec']}")
    return (
        f"{len(installed)} packages resolved, each once ({', '.join(sorted(installed))}); "
        f"{len(env.standins)} of them stand-in providers (real CRDs, no controller), "
        f"{_at_the_pins(env, _provider_versions(env))}"
    )


def _provider_versions(env: Environment) -> dict[str, str]:
    """Provider name -> the tag Crossplane installs it at (its ``spec.package``, as the
    resolver or the stack wrote it; the mirror's ImageConfig does not rewrite it)."""
    return {
        p["metadata"]["name"]: p["spec"]["package"].rpartition(":")[2]
        for p in env.kube.list("pkg.crossplane.io/v1", "Provider")
    }


def _at_the_pins(env: Environment, running: dict[str, str]) -> str:
    """Every stand-in provider installed runs the release's pin, though the mirror holds
    a newer release of each (``standins.StandIn.tags``)."""
    from forge.xpkg import dependency_name  # noqa: PLC0415 (the function's)

    wrong, pinned = {}, []
    for standin, _ in env.standins:
        name = dependency_name(standin.repository)
        if name not in running:
            continue
        pinned.append(name)
        if running[name] != standin.version:
            wrong[name] = (
                f"{running[name]}, not the pinned {standin.version} "
                f"(the mirror has {' and '.join(standin.tags)})"
            )
    if wrong:
        raise HarnessError(f"providers not at the release's pins: {wrong}")
    return f"{len(pinned)} providers at their pins with a newer release in the mirror"


def _never_lowered(env: Environment, before: dict[str, str], after: dict[str, str]) -> str:
    """No provider's version went down between ``before`` and ``after``."""
    from forge_dev.packaging.semver import Version  # noqa: PLC0415

    lowered = {
        name: f"{version} -> {after[name]}"
        for name, version in before.items()
        if name in after and Version.parse(after[name]) < Version.parse(version)
    }
    if lowered:
        raise HarnessError(f"providers downgraded: {lowered}")
    return _at_the_pins(env, after)


SCENARIOS = (
    Scenario("configurations", 90, configurations),
    Scenario("keda", 120, keda_lifecycle),
    Scenario("infrastructure-bundle", 240, bundle_lifecycle),
    Scenario("cluster-vcluster", 300, vcluster_lifecycle),
    Scenario("platformcluster", 300, platformcluster_lifecycle),
    # Create, a second node group, two upgrades (one held), a principal rotation and the
    # teardown gate's deletion: 370 s alone, 520 s after the other scenarios on 2 cores.
    Scenario("cluster-aws", 900, aws_lifecycle),
    # Four vCluster Clusters, each with its own kube-apiserver (decision 0034): 287 s with
    # a cold build beside it on 2 cores.
    Scenario("configuration-upgrade", 420, configuration_upgrade),
)
