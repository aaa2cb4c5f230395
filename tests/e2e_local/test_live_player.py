"""The provider player beside the real provider-kubernetes: which Objects it plays.

provider-kubernetes runs for real in e2e-local; the player plays only the Objects it cannot
reach (another cluster's ProviderConfig, a kind whose chart is played), and claims each
one with crossplane-runtime's pause annotation so the real provider leaves it alone.
"""

from __future__ import annotations

import copy
from pathlib import Path

from forge_dev.e2e_local.live_player import OBJECT, PAUSED, PLAYED_ANNOTATION, ProviderPlayer

API = "kubernetes.m.crossplane.io/v1alpha1"


class _Kube:
    """What the player reads and writes, in memory."""

    def __init__(self, configs: dict[str, str | dict], served: set[tuple[str, str]]) -> None:
        self.configs = configs  # ClusterProviderConfig name -> credentials (or its source)
        self.served_kinds = served
        self.patched: list[dict] = []

    def get(self, api_version, kind, name, namespace=None):
        if kind == "ClusterProviderConfig" and name in self.configs:
            return {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"name": name},
                "spec": {"credentials": _credentials(self.configs[name])},
            }
        return None

    def served(self, api_version, kind):
        return (api_version, kind) in self.served_kinds

    def patch(self, obj, body):
        self.patched.append(body)
        out = copy.deepcopy(obj)
        annotations = out["metadata"].setdefault("annotations", {})
        annotations.update(body["metadata"].get("annotations") or {})
        return out


def _credentials(config: str | dict) -> dict:
    return config if isinstance(config, dict) else {"source": config}


def _object(name: str, config: str, manifest: dict, **metadata) -> dict:
    return {
        "apiVersion": API,
        "kind": "Object",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "7", **metadata},
        "spec": {
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": config},
            "forProvider": {"manifest": manifest},
        },
    }


PROVIDER = {"apiVersion": "pkg.crossplane.io/v1", "kind": "Provider", "metadata": {"name": "p"}}
ISSUER = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "i"}}


def _player(tmp_path: Path) -> tuple[ProviderPlayer, _Kube]:
    kube = _Kube(
        {"default": "InjectedIdentity", "dev": "Secret"},
        {("pkg.crossplane.io/v1", "Provider")},
    )
    return ProviderPlayer(kube, tmp_path / "player.log"), kube


def test_an_in_cluster_object_of_a_served_kind_is_the_real_providers(tmp_path):
    player, kube = _player(tmp_path)
    assert player._claim(_object("stack", "default", PROVIDER)) is None
    assert kube.patched == []  # untouched: no pause, no finalizer, no status


def test_another_clusters_object_is_played_and_paused_for_the_real_provider(tmp_path):
    player, _ = _player(tmp_path)
    claimed = player._claim(_object("remote", "dev", PROVIDER))
    annotations = claimed["metadata"]["annotations"]
    assert annotations[PAUSED] == "true"
    assert "ClusterProviderConfig dev reaches another cluster" in annotations[PLAYED_ANNOTATION]
    assert player.claimed == {("ns", "remote"): "Provider"}


def test_an_object_whose_kind_comes_from_a_played_chart_is_played(tmp_path):
    player, _ = _player(tmp_path)
    claimed = player._claim(_object("issuer", "default", ISSUER))
    assert claimed["metadata"]["annotations"][PAUSED] == "true"
    assert "ClusterIssuer" in claimed["metadata"]["annotations"][PLAYED_ANNOTATION]


def test_a_missing_provider_config_is_left_to_the_real_provider_to_report(tmp_path):
    player, kube = _player(tmp_path)
    assert player._claim(_object("orphan", "gone", PROVIDER)) is None
    assert kube.patched == []


def test_a_claimed_object_stays_played_and_an_unclaimed_one_is_never_claimed_in_deletion(
    tmp_path,
):
    player, kube = _player(tmp_path)
    played = _object("remote", "dev", PROVIDER, annotations={PLAYED_ANNOTATION: "why"})
    assert player._claim(played) is played
    going = _object("remote2", "dev", PROVIDER, deletionTimestamp="2026-01-01T00:00:00Z")
    assert player._claim(going) is None
    assert kube.patched == []


def test_what_the_real_provider_reconciled_is_noted_for_the_summary(tmp_path):
    player, _ = _player(tmp_path)
    obj = _object("stack", "default", PROVIDER)
    player._note_provider_applied(obj)
    assert player.provider_applied == {}  # not Synced and Ready yet
    obj["status"] = {
        "conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "True"}]
    }
    player._note_provider_applied(obj)
    assert player.provider_applied == {("ns", "stack"): "Provider p"}
    assert OBJECT.kind == "Object"


def test_the_summary_says_who_reconciled_a_scenarios_objects():
    from forge_dev.e2e_local.__main__ import objects_detail  # noqa: PLC0415

    applied = {("a", "old"): "Provider p", ("a", "x"): "Service ns/s", ("a", "y"): "Service ns/t"}
    claimed = {("b", "c"): "ClusterIssuer"}
    before = ({("a", "old")}, set())
    assert objects_detail(applied, claimed, before) == (
        "provider-kubernetes applied 2 Objects (2 Service); "
        "the player played 1 Objects (1 ClusterIssuer)"
    )
    assert objects_detail(applied, claimed, (set(applied), set(claimed))) == ""


def test_an_object_reaching_a_served_vclusters_api_is_the_real_providers(tmp_path):
    """A vCluster's API is a real kube-apiserver in e2e-local: the real provider-kubernetes
    applies what reaches it, whatever its kind; a vCluster whose API does not serve (yet)
    is another cluster, played."""
    from forge_dev.e2e_local.vcluster_api import VClusterApi, VClusterApis  # noqa: PLC0415

    vc = {"source": "Secret", "secretRef": {"name": "vc-dev", "namespace": "ns", "key": "config"}}
    kube = _Kube({"dev": vc}, set())
    apis = VClusterApis(tmp_path / "kube-apiserver", "http://127.0.0.1:1", "127.0.0.1", tmp_path)
    player = ProviderPlayer(kube, tmp_path / "player.log", vclusters=apis)
    assert player._claim(_object("remote", "dev", ISSUER)) is not None  # nothing serves it
    api = VClusterApi("dev", "ns", tmp_path, "127.0.0.1", "http://127.0.0.1:1")
    api._ready = True  # as once its /readyz answered
    apis.apis[("ns", "dev")] = api
    for manifest in (PROVIDER, ISSUER):
        kube.patched.clear()
        assert player._claim(_object("stack", "dev", manifest)) is None
        assert kube.patched == []
