"""Scenario ``configuration-upgrade``: the upgrade and roll back of docs/operations.md
against the real Crossplane.

A second version of ``configuration-clusters`` (the running one with its patch raised,
so on the same channel) is assembled as ``python -m forge_dev.packaging`` assembles it, with
one visible change in the ``clusters`` Composition (an annotation; the function and the
step input are untouched), built by the real ``crossplane xpkg build``, pushed with
``crossplane xpkg push``, and installed by changing the Configuration's
``spec.package``, as the release pointer does. Three ``Cluster``s exist before it:

- ``e2e-pinned`` selects ``forge.projectcatalyst.io/release: <old>``: it stays;
- ``e2e-channel`` selects ``forge.projectcatalyst.io/channel: <channel>``: it moves;
- ``e2e-manual`` has ``compositionUpdatePolicy: Manual``: it stays;
- ``e2e-ref`` names the old revision in ``compositionRevisionRef`` with the default
  policy (``Automatic``): that is no pin, Crossplane moves it to the latest revision.

Rolling back (``spec.package`` pointing at the old tag again) reactivates the old
ConfigurationRevision; the Composition gets its old labels back and Crossplane makes the
old CompositionRevision (same name and uid) the latest again: the channel XR returns.
"""

from __future__ import annotations

import time

import yaml

from forge_dev.e2e_local.controlplane import ROOT
from forge_dev.e2e_local.env import Environment
from forge_dev.e2e_local.kube import is_true
from forge_dev.e2e_local.packages import (
    FUNCTION_NAME,
    Built,
    _run,
    cli,
    configuration_object,
    function_object,
)
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.e2e_local.xrs import delete_and_wait, get_xr, wait_ready

PACKAGE = "configuration-clusters"
COMPOSITION = "clusters"
PKG = "pkg.crossplane.io/v1"
APIEXT = "apiextensions.crossplane.io/v1"
UPGRADE_ANNOTATION = "forge.projectcatalyst.io/e2e-upgrade"
COMPOSITION_NAME_LABEL = "crossplane.io/composition-name"
XRD_API = "apiextensions.crossplane.io/v2"
XRD = "clusters.forge.projectcatalyst.io"


def next_version(version: str) -> str:
    """The version after ``version`` on the same channel: its patch raised."""
    from forge_dev.packaging.semver import Version  # noqa: PLC0415 (the function's)

    v = Version.parse(version)
    return str(Version(v.major, v.minor, v.patch + 1, v.pre))


def build_next(env: Environment, version: str) -> Built:
    """``configuration-clusters`` at ``version``, assembled as ``python -m
    forge_dev.packaging assemble`` does, the ``clusters`` Composition annotated, built by
    ``crossplane xpkg build``."""
    from forge_dev.packaging.assemble import EXAMPLES, assemble  # noqa: PLC0415 (the function's)
    from forge_dev.packaging.layout import dump, load_docs  # noqa: PLC0415

    out = env.workdir / "upgrade"
    root = assemble(ROOT, out / "build", version)[PACKAGE]
    path = root / "apis" / COMPOSITION / "composition.yaml"
    docs = load_docs(path)
    for doc in docs:
        if doc["metadata"]["name"] == COMPOSITION:
            doc["metadata"].setdefault("annotations", {})[UPGRADE_ANNOTATION] = version
    dump(path, docs)
    file = out / f"{PACKAGE}-{version}.xpkg"
    _run(
        [
            str(cli()),
            "xpkg",
            "build",
            f"--package-root={root}",
            f"--examples-root={root.parent / EXAMPLES / PACKAGE}",
            f"--package-file={file}",
        ],
        f"crossplane xpkg build of {PACKAGE} {version}",
    )
    return Built(PACKAGE, "Configuration", env.packages[PACKAGE].repository, file)


def _revisions(env: Environment) -> dict[str, dict]:
    """The ``clusters`` CompositionRevisions by name."""
    return {
        r["metadata"]["name"]: r
        for r in env.kube.list(
            APIEXT, "CompositionRevision", label_selector=f"{COMPOSITION_NAME_LABEL}={COMPOSITION}"
        )
    }


def _latest(revs: dict[str, dict]) -> dict:
    return max(revs.values(), key=lambda r: r["spec"]["revision"])


def _ref(env: Environment, xr: dict) -> str | None:

    obj = get_xr(env, xr) or {}
    return (
        ((obj.get("spec") or {}).get("crossplane") or {}).get("compositionRevisionRef") or {}
    ).get("name")


def _cluster(name: str, crossplane: dict) -> dict:
    xr = yaml.safe_load((ROOT / "examples" / "cluster-vcluster" / "xr.yaml").read_text())
    xr["metadata"] = {"name": name}
    xr["spec"]["crossplane"] = crossplane
    return xr


def _install(env: Environment, ref: str, deadline: float) -> dict:
    """Point the Configuration at ``ref``; wait for a revision of that package to be
    its current, active and healthy one."""
    kube = env.kube
    kube.apply(configuration_object(PACKAGE, ref))

    def installed():
        cfg = kube.get(PKG, "Configuration", PACKAGE) or {}
        current = (cfg.get("status") or {}).get("currentRevision")
        if not current or not (is_true(cfg, "Installed") and is_true(cfg, "Healthy")):
            return None
        rev = kube.get(PKG, "ConfigurationRevision", current) or {}
        ok = (
            rev.get("spec", {}).get("image") == ref
            and rev["spec"].get("desiredState") == "Active"
            and is_true(rev, "RevisionHealthy")
        )
        return rev if ok else None

    return kube.wait(
        f"Configuration {PACKAGE} on {ref}",
        installed,
        timeout=max(deadline - time.monotonic(), 1),
        alive=env.check_alive,
    )


def public_ref(package: Built, tag: str) -> str:
    """The reference a release pointer writes (the mirror's ImageConfig rewrites it)."""
    from forge_dev.packaging.layout import REGISTRY  # noqa: PLC0415 (the function's)

    return f"{REGISTRY.split('/', 1)[0]}/{package.repository}:{tag}"


def _install_function(env: Environment, ref: str, deadline: float) -> str:
    """Point our Function at ``ref``; wait until Crossplane resolved that tag and the
    Function is healthy (the same build under a new tag keeps its revision: revisions
    are named by digest)."""
    kube = env.kube
    kube.apply(function_object(ref))

    def installed():
        fn = kube.get(PKG, "Function", FUNCTION_NAME) or {}
        current = (fn.get("status") or {}).get("currentRevision")
        if not current or not (is_true(fn, "Installed") and is_true(fn, "Healthy")):
            return None
        resolved = str(fn["status"].get("resolvedPackage") or "")
        return current if resolved.endswith(":" + ref.rsplit(":", 1)[1]) else None

    return kube.wait(
        f"Function {FUNCTION_NAME} on {ref}",
        installed,
        timeout=max(deadline - time.monotonic(), 1),
        alive=env.check_alive,
    )


def _wait_composition(env: Environment, labels: dict, deadline: float) -> dict:
    """The latest ``clusters`` CompositionRevision carries ``labels`` (and so does the
    Composition)."""

    def matches():
        comp = env.kube.get(APIEXT, "Composition", COMPOSITION) or {}
        if any((comp["metadata"].get("labels") or {}).get(k) != v for k, v in labels.items()):
            return None
        revs = _revisions(env)
        latest = _latest(revs) if revs else {}
        got = (latest.get("metadata") or {}).get("labels") or {}
        return latest if all(got.get(k) == v for k, v in labels.items()) else None

    return env.kube.wait(
        f"latest CompositionRevision of {COMPOSITION} labelled {labels}",
        matches,
        timeout=max(deadline - time.monotonic(), 1),
        alive=env.check_alive,
    )


def _wait_on(env: Environment, xr: dict, revision: str, deadline: float) -> None:
    try:
        env.kube.wait(
            f"Cluster {xr['metadata']['name']} on CompositionRevision {revision}",
            lambda: _ref(env, xr) == revision,
            timeout=max(deadline - time.monotonic(), 1),
            alive=env.check_alive,
        )
    except HarnessError as exc:
        raise HarnessError(f"{exc}; it is on {_ref(env, xr)}") from None


def _still_on(env: Environment, xrs: list[dict], revision: str, settle: float) -> None:
    """Each XR is on ``revision`` and stays there for ``settle`` seconds."""
    end = time.monotonic() + settle
    while True:
        for xr in xrs:
            got = _ref(env, xr)
            if got != revision:
                raise HarnessError(
                    f"Cluster {xr['metadata']['name']} moved to {got}; it should stay on {revision}"
                )
        if time.monotonic() >= end:
            return
        time.sleep(0.5)


def configuration_upgrade(env: Environment, budget: float) -> str:  # noqa: PLR0915 (one story)
    """A new version of configuration-clusters installed and rolled back (see the
    module's docstring)."""
    from forge_dev.packaging import release  # noqa: PLC0415 (the function's)
    from forge_dev.packaging.layout import LABEL_CHANNEL, LABEL_RELEASE  # noqa: PLC0415

    deadline = time.monotonic() + budget
    kube = env.kube
    old, channel = env.version, release.channel(env.version)
    new = next_version(old)
    if release.channel(new) != channel:
        raise HarnessError(f"{new} is not on the channel of {old} ({channel})")

    cfg = kube.get(PKG, "Configuration", PACKAGE)
    old_ref = cfg["spec"]["package"]
    old_cfg_rev = cfg["status"]["currentRevision"]
    old_comp_rev = _wait_composition(env, {LABEL_RELEASE: old, LABEL_CHANNEL: channel}, deadline)
    old_name, old_uid = old_comp_rev["metadata"]["name"], old_comp_rev["metadata"]["uid"]
    xrd_uid = kube.get(XRD_API, "CompositeResourceDefinition", XRD)["metadata"]["uid"]

    pinned = _cluster(
        "e2e-pinned", {"compositionRevisionSelector": {"matchLabels": {LABEL_RELEASE: old}}}
    )
    follower = _cluster(
        "e2e-channel", {"compositionRevisionSelector": {"matchLabels": {LABEL_CHANNEL: channel}}}
    )
    manual = _cluster("e2e-manual", {"compositionUpdatePolicy": "Manual"})
    # compositionRevisionRef alone, with the default policy (Automatic): not a pin.
    by_ref = _cluster("e2e-ref", {"compositionRevisionRef": {"name": old_name}})
    xrs = [pinned, follower, manual, by_ref]
    kube.apply_all(xrs)
    for xr in xrs:
        wait_ready(env, xr, deadline)
        _wait_on(env, xr, old_name, deadline)

    # --- upgrade -------------------------------------------------------------------
    t = time.monotonic()
    built = build_next(env, new)
    build_s = time.monotonic() - t
    env.registry.push(built, new)
    env.registry.push(env.packages["function"], new)
    new_ref = public_ref(built, new)
    t = time.monotonic()
    # The release moves the Function first: Crossplane never upgrades an installed
    # dependency, and the new Configuration's constraint needs the new Function.
    function_rev = _install_function(env, public_ref(env.packages["function"], new), deadline)
    new_cfg_rev = _install(env, new_ref, deadline)["metadata"]["name"]
    if new_cfg_rev == old_cfg_rev:
        raise HarnessError(f"{new_ref} installed as the old ConfigurationRevision {old_cfg_rev}")
    new_comp_rev = _wait_composition(env, {LABEL_RELEASE: new, LABEL_CHANNEL: channel}, deadline)
    new_name = new_comp_rev["metadata"]["name"]
    got = (new_comp_rev["metadata"].get("annotations") or {}).get(UPGRADE_ANNOTATION)
    if got != new:
        raise HarnessError(
            f"CompositionRevision {new_name}: annotation {UPGRADE_ANNOTATION}={got!r}"
        )
    _wait_on(env, follower, new_name, deadline)
    upgrade_s = time.monotonic() - t
    _wait_on(env, by_ref, new_name, deadline)
    wait_ready(env, follower, deadline)
    _still_on(env, [pinned, manual], old_name, settle=3)
    old_now = _revisions(env).get(old_name)
    if old_now is None or old_now["metadata"]["labels"].get(LABEL_RELEASE) != old:
        raise HarnessError(f"the old CompositionRevision {old_name} lost its release: {old_now}")
    xrd = kube.get(XRD_API, "CompositeResourceDefinition", XRD)
    if xrd["metadata"]["uid"] != xrd_uid or not is_true(xrd, "Established"):
        raise HarnessError("the XRD clusters was not updated in place")

    # --- roll back -----------------------------------------------------------------
    t = time.monotonic()
    back = _install(env, old_ref, deadline)["metadata"]["name"]
    if back != old_cfg_rev:
        raise HarnessError(f"roll back installed {back}, not the old revision {old_cfg_rev}")
    restored = _wait_composition(env, {LABEL_RELEASE: old, LABEL_CHANNEL: channel}, deadline)
    if (restored["metadata"]["name"], restored["metadata"]["uid"]) != (old_name, old_uid):
        raise HarnessError(
            f"roll back made {restored['metadata']['name']} the latest, not {old_name}"
        )
    _wait_on(env, follower, old_name, deadline)
    rollback_s = time.monotonic() - t
    _still_on(env, [pinned, manual, follower], old_name, settle=2)
    _wait_on(env, by_ref, old_name, deadline)
    comp = kube.get(APIEXT, "Composition", COMPOSITION)
    if UPGRADE_ANNOTATION in (comp["metadata"].get("annotations") or {}):
        raise HarnessError("the rolled-back Composition still has the new release's annotation")
    revs = _revisions(env)
    numbers = {n: r["spec"]["revision"] for n, r in sorted(revs.items())}
    for xr in xrs:
        wait_ready(env, xr, deadline)

    t = time.monotonic()
    for xr in xrs:
        md = xr["metadata"]
        kube.delete(xr["apiVersion"], xr["kind"], md["name"])
    for xr in xrs:
        delete_and_wait(env, xr, deadline)
    deleted_s = time.monotonic() - t
    return (
        f"{new} built ({build_s:.1f}s) and installed, the Function first ({function_rev}): "
        f"CompositionRevision {new_name} "
        f"(release, channel {channel}); the channel XR moved in {upgrade_s:.1f}s, the pinned "
        f"and Manual ones stayed on {old_name}; rolled back in {rollback_s:.1f}s to "
        f"{old_cfg_rev}: {old_name} latest again ({numbers}), the channel XR returned; "
        f"compositionRevisionRef without Manual followed both moves; "
        f"{len(xrs)} XRs deleted in {deleted_s:.1f}s"
    )
