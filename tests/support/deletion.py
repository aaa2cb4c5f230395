"""Simulate deleting an XR: Kubernetes, Crossplane's Usages and the providers.

Crossplane deletes every composed resource at once. Each round, every remaining
resource tries to finish, by these rules:

* it is held while a Usage of it exists whose user still exists (the Usage
  webhook refuses the delete; ``replayDeletion`` retries it later);
* a Usage finishes once its user is gone;
* a managed resource whose management policies omit Delete finishes at once
  (the provider never calls out);
* a managed resource that deletes through a ClusterProviderConfig (the
  platform's own) finishes at once; through a namespaced ProviderConfig it must
  reach the new cluster: that ProviderConfig and the cluster resource must
  still exist *after* the round's other deletions (the worst interleaving);
* a ProviderConfig finishes once no remaining managed resource refers to it;
* a Namespace finishes once nothing remains in it; anything else at once.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]


def _ident(manifest: Manifest) -> tuple[str, str, str, str]:
    meta = manifest.get("metadata", {})
    return (manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace", ""))


def _ref(usage: Manifest, side: str) -> tuple[str, str, str, str]:
    ref = usage["spec"][side]
    namespace = ref["resourceRef"].get("namespace", usage["metadata"].get("namespace", ""))
    return (ref["apiVersion"], ref["kind"], ref["resourceRef"]["name"], namespace)


def _is_usage(manifest: Manifest) -> bool:
    return manifest["apiVersion"].startswith("protection.crossplane.io/")


def _orphaned(manifest: Manifest) -> bool:
    return "Delete" not in manifest["spec"].get("managementPolicies", ["*", "Delete"])


class StuckError(AssertionError):
    """Deletion cannot finish without a manual step."""


def simulate(
    resources: dict[str, Manifest], *, cluster: str, max_rounds: int = 10
) -> list[set[str]]:
    """Delete everything; return the keys gone in each round. ``cluster`` is the
    key of the resource whose deletion destroys the new cluster."""
    remaining = dict(resources)
    rounds: list[set[str]] = []
    for _ in range(max_rounds):
        if not remaining:
            return rounds
        present = {_ident(m): key for key, m in remaining.items()}
        gone = {key for key, m in remaining.items() if _free(m, remaining, present)}
        after = {k: m for k, m in remaining.items() if k not in gone}
        gone |= {
            key
            for key, m in remaining.items()
            if key not in gone
            and not _held(m, remaining, present)
            and _reaches_cluster(m, after, cluster)
        }
        if not gone:
            raise StuckError(f"deletion stuck with {sorted(remaining)} left")
        rounds.append(gone)
        remaining = {k: m for k, m in remaining.items() if k not in gone}
    raise StuckError(f"deletion not finished after {max_rounds} rounds: {sorted(remaining)} left")


def _held(manifest: Manifest, remaining: dict[str, Manifest], present: dict) -> bool:
    me = _ident(manifest)
    return any(
        _is_usage(u) and _ref(u, "of") == me and _ref(u, "by") in present
        for u in remaining.values()
    )


def _free(manifest: Manifest, remaining: dict[str, Manifest], present: dict) -> bool:
    """Whether the resource finishes this round without reaching the new cluster."""
    if _held(manifest, remaining, present):
        return False
    if _is_usage(manifest):
        return _ref(manifest, "by") not in present
    kind = manifest["kind"]
    namespace = manifest["metadata"]["name"] if kind == "Namespace" else None
    if namespace is not None:
        return not any(
            m["metadata"].get("namespace") == namespace
            for m in remaining.values()
            if m is not manifest
        )
    if kind.endswith("ProviderConfig"):
        return not any(_config_of(m) == _ident(manifest) for m in remaining.values())
    ref = manifest.get("spec", {}).get("providerConfigRef")
    if ref is None or _orphaned(manifest):
        return True
    return ref["kind"] == "ClusterProviderConfig"


def _config_of(manifest: Manifest) -> tuple[str, str, str, str] | None:
    """The namespaced ProviderConfig a managed resource uses, if any."""
    ref = manifest.get("spec", {}).get("providerConfigRef")
    if not ref or ref["kind"] != "ProviderConfig" or "spec" not in manifest:
        return None
    group = manifest["apiVersion"].split(".", 1)[0]
    versions = {"helm": "v1beta1", "kubernetes": "v1alpha1"}
    api_version = f"{group}.m.crossplane.io/{versions.get(group, 'v1beta1')}"
    return (api_version, "ProviderConfig", ref["name"], manifest["metadata"].get("namespace", ""))


def _reaches_cluster(manifest: Manifest, after: dict[str, Manifest], cluster: str) -> bool:
    """A deleting MR on a namespaced ProviderConfig: both it and the cluster must be there."""
    config = _config_of(manifest)
    if config is None or _orphaned(manifest):
        return False
    return cluster in after and any(_ident(m) == config for m in after.values())
