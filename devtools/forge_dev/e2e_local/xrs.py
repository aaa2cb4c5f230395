"""Our XRs on the local control plane: read, wait for, delete, and what they composed."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from forge_dev.e2e_local.env import Environment
from forge_dev.e2e_local.kube import condition, is_true, load_documents
from forge_dev.e2e_local.player import ProviderPlayer
from forge_dev.e2e_local.procs import HarnessError

XR_GROUP = "forge.projectcatalyst.io/v1alpha1"


COMPOSITE_LABEL = "crossplane.io/composite"


COMPOSED_KINDS = (
    ("helm.m.crossplane.io/v1beta1", "Release"),
    ("helm.m.crossplane.io/v1beta1", "ProviderConfig"),
    ("kubernetes.m.crossplane.io/v1alpha1", "Object"),
    ("kubernetes.m.crossplane.io/v1alpha1", "ProviderConfig"),
    ("protection.crossplane.io/v1beta1", "Usage"),
    ("protection.crossplane.io/v1beta1", "ClusterUsage"),
    ("v1", "Secret"),
    ("v1", "Namespace"),
)


def _xr_ref(xr: dict) -> str:
    md = xr["metadata"]
    where = f"{md['namespace']}/" if md.get("namespace") else ""
    return f"{xr['kind']} {where}{md['name']}"


def get_xr(env: Environment, xr: dict) -> dict | None:
    md = xr["metadata"]
    return env.kube.get(xr["apiVersion"], xr["kind"], md["name"], md.get("namespace"))


def composed(env: Environment, xr_name: str) -> list[str]:
    """Every object labelled as composed by the XR named ``xr_name``."""
    found = []
    for api_version, kind in COMPOSED_KINDS:
        if not env.kube.served(api_version, kind):
            continue
        for obj in env.kube.list(api_version, kind, label_selector=f"{COMPOSITE_LABEL}={xr_name}"):
            md = obj["metadata"]
            found.append(f"{kind} {md.get('namespace', '')}/{md['name']}".replace(" /", " "))
    return found


def wait_ready(env: Environment, xr: dict, deadline: float) -> dict:
    """Wait for the XR's Ready=True; on timeout name its conditions and every composed
    resource that is not Ready."""

    def ready():
        obj = get_xr(env, xr)
        return obj if is_true(obj, "Ready") else None

    try:
        return env.kube.wait(
            f"{_xr_ref(xr)} Ready",
            ready,
            timeout=max(deadline - time.monotonic(), 1),
            alive=env.check_alive,
        )
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{describe(env, xr)}") from None


def describe(env: Environment, xr: dict) -> str:
    obj = get_xr(env, xr) or {}
    lines = [f"{_xr_ref(xr)} conditions:"]
    for c in (obj.get("status") or {}).get("conditions") or []:
        lines.append(f"  {c['type']}={c['status']} {c.get('reason', '')} {c.get('message', '')}")
    for ref in ((obj.get("spec") or {}).get("crossplane") or {}).get("resourceRefs") or []:
        ns = ref.get("namespace") or (xr["metadata"].get("namespace"))
        try:
            res = env.kube.resource(ref["apiVersion"], ref["kind"])
            child = env.kube.get(
                ref["apiVersion"], ref["kind"], ref["name"], ns if res.namespaced else None
            )
        except Exception as exc:
            lines.append(f"  {ref['kind']} {ref['name']}: {exc}")
            continue
        ready = condition(child, "Ready")
        lines.append(
            f"  {ref['kind']} {ref['name']}: "
            + ("missing" if child is None else f"Ready={ready.get('status', '?')}")
        )
    return "\n".join(lines)


def delete_and_wait(env: Environment, xr: dict, deadline: float) -> float:
    """Delete the XR as a user does (foreground is Crossplane's default for XRs it
    composes: it deletes the composed resources); return the seconds until the XR and
    everything it composed are gone."""
    md = xr["metadata"]
    t = time.monotonic()
    env.kube.delete(xr["apiVersion"], xr["kind"], md["name"], md.get("namespace"))

    def gone():
        return get_xr(env, xr) is None and not composed(env, md["name"])

    try:
        env.kube.wait(
            f"{_xr_ref(xr)} and what it composed deleted",
            gone,
            timeout=max(deadline - time.monotonic(), 1),
            alive=env.check_alive,
        )
    except HarnessError as exc:
        left = composed(env, md["name"])
        still = get_xr(env, xr)
        detail = f"left behind: {left}" + (
            f"; the XR still exists with finalizers {still['metadata'].get('finalizers')}"
            if still
            else ""
        )
        raise HarnessError(f"{exc}; {detail}") from None
    return time.monotonic() - t


def usages(env: Environment, xr_name: str) -> list[tuple[tuple, tuple]]:
    """(of, by) of every Usage the XR composed, as (kind, namespace, name)."""
    pairs = []
    for u in env.kube.list(
        "protection.crossplane.io/v1beta1",
        "Usage",
        label_selector=f"{COMPOSITE_LABEL}={xr_name}",
    ):
        ns = u["metadata"]["namespace"]
        of, by = u["spec"]["of"], u["spec"].get("by")
        if by:
            pairs.append(
                (
                    (of["kind"], of["resourceRef"].get("namespace", ns), of["resourceRef"]["name"]),
                    (by["kind"], by["resourceRef"].get("namespace", ns), by["resourceRef"]["name"]),
                )
            )
    return pairs


def check_deletion_order(
    env: Environment, pairs: list[tuple[tuple, tuple]], *players: ProviderPlayer
) -> int:
    """Every used resource the players (the environment's, and ``players``) let go after
    the resource that used it (the Usage webhook refused its deletion until then).
    Returns how many pairs were checked."""
    deleted = [d for p in (env.player, *players) for d in p.deleted]
    when = {(k, ns, n): t for t, k, ns, n in deleted}
    checked = 0
    for of, by in pairs:
        if of in when and by in when:
            if when[of] < when[by]:
                raise HarnessError(f"{of} was deleted before {by}, which a Usage says uses it")
            checked += 1
    return checked


def environment_configs(env: Environment, path: Path) -> None:
    env.kube.apply_all(d for d in load_documents(path) if d.get("kind") == "EnvironmentConfig")


def uids(env: Environment, xr_obj: dict) -> dict[str, str]:
    """Composed resource -> uid, from the XR's resourceRefs."""
    out = {}
    ns = xr_obj["metadata"].get("namespace")
    for ref in xr_obj["spec"]["crossplane"]["resourceRefs"]:
        res = env.kube.resource(ref["apiVersion"], ref["kind"])
        obj = env.kube.get(
            ref["apiVersion"],
            ref["kind"],
            ref["name"],
            (ref.get("namespace") or ns) if res.namespaced else None,
        )
        if obj is not None:
            out[f"{ref['kind']}/{ref['name']}"] = obj["metadata"]["uid"]
    return out


def argocd_secret(env: Environment, name: str) -> dict:
    """The Argo CD cluster Secret, read as Argo CD reads it (its label, then name,
    server and the JSON config)."""
    secrets = env.kube.list(
        "v1", "Secret", "argocd", label_selector="argocd.argoproj.io/secret-type=cluster"
    )
    found = [s for s in secrets if base64.b64decode(s["data"]["name"]).decode() == name]
    if len(found) != 1:
        raise HarnessError(f"{len(found)} Argo CD cluster Secrets named {name!r} in argocd")
    data = {k: base64.b64decode(v).decode() for k, v in found[0]["data"].items()}
    return found[0] | {"decoded": data, "config": json.loads(data["config"])}
