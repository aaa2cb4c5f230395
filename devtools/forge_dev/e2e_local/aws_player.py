"""Scenario ``cluster-aws`` and the provider-upjet-aws play it needs.

The play (``AwsPlayer``) is the provider player's managed-resource reconciler
(``player.ProviderPlayer``: finalizer, external name, ProviderConfig resolution,
``Synced``/``Ready``, deletion) for the namespaced AWS kinds our compositions compose
(``*.aws.m.upbound.io``). What each kind reports in ``status.atProvider`` is not
written again here: it is ``forge_dev.simulate.aws.STATUS``, the status hooks ``make preview``
plays (references resolved to IDs and ARNs, the EKS endpoint, CA and OIDC issuer, node
group sizes). Two things differ from the preview, because a real API server and real
clients read them:

- the EKS cluster's certificate authority is a real throwaway CA per cluster (the
  preview's is a placeholder PEM), reported in ``atProvider.certificateAuthority`` and in
  the ``ClusterAuth`` connection Secret;
- the ``ClusterAuth`` connection Secret (``writeConnectionSecretToRef``: ``kubeconfig``,
  ``endpoint``, ``clusterCA``, as ``forge_dev.simulate.aws.CONNECTION`` writes them, the
  token being the preview's fake one) is created owned by the ClusterAuth, as
  crossplane-runtime's connection publisher does, so garbage collection removes it.

Version changes are played as EKS makes them (``VersionPlay``): an EKS Cluster, NodeGroup
or Addon keeps reporting its old version for ``UPGRADE_SECONDS`` after its spec asks for
another, and EKS's refusals are recorded and not applied: a control plane skipping a minor
version or going back, a node group asking for a version newer than its control plane runs.

Not modelled: ProviderConfigUsages, other AWS errors and eventual consistency, drift, the
ClusterAuth token's refresh.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

import yaml

from forge.versions import PROVIDER_AWS_REPOSITORY
from forge_dev.e2e_local import eks_upgrade, pki, standins, xrs
from forge_dev.e2e_local.controlplane import ROOT
from forge_dev.e2e_local.env import Environment, schema_root
from forge_dev.e2e_local.kube import Kube, condition, is_true, load_documents
from forge_dev.e2e_local.live_player import Played, ProviderPlayer
from forge_dev.e2e_local.procs import HarnessError
from forge_dev.paths import stages_dir
from forge_dev.simulate import aws as preview

PROVIDER_CONFIG_API = "aws.m.upbound.io/v1beta1"
# The AWS kinds our compositions compose: the kinds forge_dev.simulate.aws plays.
AWS_KINDS = tuple(Played(api, kind) for api, kind in preview.STATUS)
CLUSTER_PROVIDER_CONFIG = {
    "apiVersion": PROVIDER_CONFIG_API,
    "kind": "ClusterProviderConfig",
    "metadata": {"name": "default"},
    "spec": {"credentials": {"source": "PodIdentity"}},
}
EKS_CLUSTER = (preview.EKS, "Cluster")
CLUSTER_AUTH = (preview.EKS, "ClusterAuth")
# The field each EKS kind reports its version in.
VERSIONED = {EKS_CLUSTER: "version", (preview.EKS, "NodeGroup"): "version"}
VERSIONED[(preview.EKS, "Addon")] = "addonVersion"
UPGRADE_SECONDS = 3.0


@dataclass
class VersionPlay:
    """How EKS moves versions: slowly, one minor at a time, nodes never ahead."""

    # (kind, namespace, name) -> (version asked for, when the upgrade started)
    started: dict[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)
    # (monotonic time it was reported, kind, namespace, name, version), in order
    reported: list[tuple[float, str, str, str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def refusal(self, kind: str, old: str, wanted: str, control_plane: str | None) -> str:
        """What EKS answers to moving ``kind`` from ``old`` to ``wanted`` ("" when it agrees)."""
        if kind == "Cluster" and _minor(wanted) - _minor(old) not in (0, 1):
            return f"Unsupported Kubernetes minor version update from {old} to {wanted}"
        if kind == "NodeGroup" and control_plane and _minor(wanted) > _minor(control_plane):
            return (
                f"Requested Nodegroup Kubernetes version {wanted} is greater than cluster "
                f"version {control_plane}"
            )
        return ""


def _minor(version: str) -> int:
    return int(version.split(".")[1])


class AwsPlayer(ProviderPlayer):
    """provider-upjet-aws (ec2, iam, eks), played with forge_dev.simulate.aws's status hooks."""

    def __init__(self, kube: Kube, log) -> None:
        super().__init__(kube, log)
        self.cas: dict[tuple[str, str], pki.CA] = {}
        self.versions = VersionPlay()

    kinds = AWS_KINDS

    def ca(self, namespace: str, cluster: str) -> pki.CA:
        """The EKS cluster's certificate authority (one throwaway CA per cluster)."""
        key = (namespace, cluster)
        if key not in self.cas:
            self.cas[key] = pki.CA.create(f"eks-{cluster}")
        return self.cas[key]

    def _missing_provider_config(self, played: Played, mr: dict) -> str:
        ref = mr["spec"].get("providerConfigRef") or {"kind": "ClusterProviderConfig"}
        kind = ref.get("kind") or "ClusterProviderConfig"
        name = ref.get("name") or "default"
        ns = mr["metadata"].get("namespace") if kind == "ProviderConfig" else None
        if not self.kube.served(PROVIDER_CONFIG_API, kind):
            return f'{kind}.aws.m.upbound.io "{name}": the kind is not served'
        if self.kube.get(PROVIDER_CONFIG_API, kind, name, ns) is None:
            return f'{kind}.aws.m.upbound.io "{name}" not found'
        return ""

    def _at_provider(self, played: Played, mr: dict) -> dict:
        key = (played.api_version, played.kind)
        at = preview.STATUS[key](mr["metadata"]["name"], mr)["atProvider"]
        ns = mr["metadata"]["namespace"]
        if key == EKS_CLUSTER:
            ca = self.ca(ns, mr["metadata"]["name"])
            at["certificateAuthority"] = [{"data": _b64(ca.cert_pem)}]
        if key == CLUSTER_AUTH:
            # The provider writes the connection details before it reports Ready.
            self._connection_secret(mr)
        if key in VERSIONED:
            self._play_version(mr, at, VERSIONED[key])
        return at

    def _play_version(self, mr: dict, at: dict, name: str) -> None:
        """Report the old version until EKS finished moving it (or refused to)."""
        md, kind = mr["metadata"], mr["kind"]
        old = ((mr.get("status") or {}).get("atProvider") or {}).get(name)
        wanted = at.get(name)
        ident = (kind, md["namespace"], md["name"])
        if old is None or wanted is None or old == wanted:
            self.versions.started.pop(ident, None)
            return
        plane = None
        if kind == "NodeGroup":
            cluster = self.kube.get(
                preview.EKS,
                "Cluster",
                mr["spec"]["forProvider"]["clusterNameRef"]["name"],
                md["namespace"],
            )
            plane = ((cluster or {}).get("status") or {}).get("atProvider", {}).get("version")
        refusal = "" if kind == "Addon" else self.versions.refusal(kind, old, wanted, plane)
        if refusal:
            if refusal not in self.versions.refused:
                self.versions.refused.append(refusal)
                self._say(f"{kind} {md['namespace']}/{md['name']}: EKS refuses: {refusal}")
            at[name] = old
            return
        asked, since = self.versions.started.get(ident, ("", 0.0))
        if asked != wanted:
            self.versions.started[ident] = (wanted, time.monotonic())
            at[name] = old
        elif time.monotonic() - since < UPGRADE_SECONDS:
            at[name] = old
        else:
            del self.versions.started[ident]
            self.versions.reported.append((time.monotonic(), kind, *ident[1:], wanted))
            self._say(f"{kind} {md['namespace']}/{md['name']}: now runs {wanted}")

    def _connection_secret(self, mr: dict) -> None:
        ref = mr["spec"].get("writeConnectionSecretToRef")
        if not ref:
            return
        md = mr["metadata"]
        ns = md["namespace"]
        if self.kube.get("v1", "Secret", ref["name"], ns) is not None:
            return
        cluster = mr["spec"]["forProvider"]["clusterNameRef"]["name"]
        ca_pem = self.ca(ns, cluster).cert_pem.decode()
        details = preview.CONNECTION[CLUSTER_AUTH](md["name"], mr)
        kubeconfig = yaml.safe_load(details["kubeconfig"])
        for c in kubeconfig["clusters"]:
            c["cluster"]["certificate-authority-data"] = _b64(ca_pem.encode())
        details["kubeconfig"] = yaml.safe_dump(kubeconfig).encode()
        details["clusterCA"] = ca_pem.encode()
        self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": ref["name"],
                    "namespace": ns,
                    "ownerReferences": [
                        {
                            "apiVersion": mr["apiVersion"],
                            "kind": mr["kind"],
                            "name": md["name"],
                            "uid": md["uid"],
                            "controller": True,
                        }
                    ],
                },
                "type": "connection.crossplane.io/v1alpha1",
                "data": {k: _b64(v) for k, v in details.items()},
            }
        )
        self._say(f"ClusterAuth {ns}/{md['name']}: wrote Secret {ref['name']}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def install(env: Environment) -> None:
    """An AWS ClusterProviderConfig ``default`` (as a PlatformCluster's stack gives it);
    the CRDs came with the stand-in AWS providers our Configuration depends on."""
    env.wait_established(aws_crds())
    env.kube.apply(CLUSTER_PROVIDER_CONFIG)


def aws_crds() -> list[str]:
    """The CRDs of the stand-in AWS providers (the family's and each family provider's)."""
    root = schema_root() / "crds"
    return [
        load_documents(root / rel)[0]["metadata"]["name"]
        for standin in standins.standins(root)
        if standin.repository.startswith(PROVIDER_AWS_REPOSITORY.rsplit("/", 1)[0])
        for rel in standin.crds
    ]


def _aws_left(env: Environment, xr_name: str) -> list[str]:

    found = xrs.composed(env, xr_name)
    for p in AWS_KINDS:
        for obj in env.kube.list(
            p.api_version, p.kind, label_selector=f"crossplane.io/composite={xr_name}"
        ):
            found.append(f"{p.kind} {obj['metadata']['namespace']}/{obj['metadata']['name']}")
    return found


def _wait(env: Environment, what: str, check, deadline: float):
    return env.kube.wait(
        what, check, timeout=max(deadline - time.monotonic(), 1), alive=env.check_alive
    )


def aws_lifecycle(env: Environment, budget: float) -> str:  # noqa: PLR0915 (one story)
    """The EKS Cluster of examples/cluster-aws-token, with only the environment's
    EnvironmentConfig, which names no Argo CD role: Ready, registered with Argo CD by the
    argocd-manager token; a second node group converges with nothing replaced; a Kubernetes
    upgrade moves in order (``eks_upgrade``); deleted in Usage order with nothing left."""

    deadline = time.monotonic() + budget
    base = ROOT / "examples" / "cluster-aws-token"
    t = time.monotonic()
    install(env)
    install_s = time.monotonic() - t
    player = AwsPlayer(
        Kube(env.cp.kubeconfig, env.workdir / "cache-aws"), env.workdir / "logs" / "aws.log"
    ).start()
    # The environment's EnvironmentConfig replaces any `dev` an earlier scenario applied
    # (keda's); what was there is put back afterwards, for the scenarios that follow.
    env_api = "apiextensions.crossplane.io/v1beta1"
    earlier = env.kube.get(env_api, "EnvironmentConfig", "dev")
    try:
        xrs.environment_configs(env, stages_dir(base) / "01-created" / "required.yaml")
        xr = yaml.safe_load((base / "xr.yaml").read_text())
        name = xr["metadata"]["name"]
        ns = f"cluster-{name}"
        t = time.monotonic()
        env.kube.apply(xr)
        obj = xrs.wait_ready(env, xr, deadline)
        ready_s = time.monotonic() - t

        # The Argo CD cluster Secret: the argocd-manager token and the EKS cluster's CA.
        argocd = xrs.argocd_secret(env, name)
        cfg = argocd["config"]
        ca_pem = player.ca(ns, name).cert_pem
        if base64.b64decode(cfg["tlsClientConfig"]["caData"]) != ca_pem:
            raise HarnessError("Argo CD's caData is not the EKS cluster's CA")
        token = env.kube.get("v1", "Secret", f"{name}-argocd-manager", ns)
        if token is None or "awsAuthConfig" in cfg:
            raise HarnessError(f"no argocd-manager token registration: {sorted(cfg)}")
        if cfg.get("bearerToken") != base64.b64decode(token["data"]["token"]).decode():
            raise HarnessError("Argo CD's bearerToken is not the connection Secret's token")
        refs = obj["spec"]["crossplane"]["resourceRefs"]
        groups_before = [r["name"] for r in refs if r["kind"] == "NodeGroup"]

        # A second node group: it converges, nothing is replaced.
        # Crossplane's watch circuit breaker may have opened on this XR's burst of writes
        # (125 composed, two players): while open, the XR's own update event is dropped
        # and, with realtime compositions, nothing reconciles it again. Update only once
        # the XR is Responsive (a platform engineer's edit could meet the open breaker).
        obj = _wait(
            env,
            f"Cluster {name} Responsive (its watch circuit breaker closed)",
            lambda: (
                (c := xrs.get_xr(env, xr))
                and condition(c, "Responsive").get("status") != "False"
                and c
            ),
            deadline,
        )
        before = xrs.uids(env, obj)
        xr["spec"]["nodeGroups"].append(
            {"name": "batch", "instanceType": "m5.large", "minSize": 1, "maxSize": 4}
        )
        t = time.monotonic()
        env.kube.apply(xr)

        def converged():
            cur = xrs.get_xr(env, xr)
            if not is_true(cur, "Ready"):
                return None
            groups = [
                r["name"]
                for r in cur["spec"]["crossplane"]["resourceRefs"]
                if r["kind"] == "NodeGroup"
            ]
            new = [g for g in groups if g not in groups_before]
            if not new:
                return None
            ng = env.kube.get(preview.EKS, "NodeGroup", new[0], ns)
            return cur if is_true(ng, "Ready") else None

        obj = _wait(env, "the second node group Ready and the Cluster Ready", converged, deadline)
        update_s = time.monotonic() - t
        after = xrs.uids(env, obj)
        gone = sorted(k for k in before if k not in after)
        recreated = sorted(k for k in before if k in after and before[k] != after[k])
        if gone or recreated:
            raise HarnessError(f"the second node group replaced {recreated}, removed {gone}")
        added = sorted(k for k in after if k not in before)
        upgraded = eks_upgrade.upgrade(env, xr, player.versions.refused, deadline)

        pairs = xrs.usages(env, name)
        t = time.monotonic()
        xrs.delete_and_wait(env, xr, deadline)
        _wait(env, f"nothing composed by {name} left", lambda: not _aws_left(env, name), deadline)
        ordered = xrs.check_deletion_order(env, pairs, player)
        _wait(
            env,
            f"namespace {ns} deleted",
            lambda: env.kube.get("v1", "Namespace", ns) is None,
            deadline,
        )
        deleted_s = time.monotonic() - t
    finally:
        player.stop()
        player.kube.close()
        if earlier is None:
            env.kube.delete(env_api, "EnvironmentConfig", "dev")
        else:
            md = earlier["metadata"]
            env.kube.apply(
                {
                    "apiVersion": env_api,
                    "kind": "EnvironmentConfig",
                    "metadata": {"name": md["name"], "labels": md.get("labels") or {}},
                    "data": earlier.get("data") or {},
                }
            )
    if player.errors:
        raise HarnessError(f"the AWS player failed: {player.errors[-1]}")
    return (
        f"{len(aws_crds())} AWS CRDs in {install_s:.1f}s; Ready in {ready_s:.1f}s "
        f"({len(before)} composed); Argo CD: the argocd-manager bearerToken (from the token "
        f"Object's connection Secret), the EKS CA; second node group "
        f"in {update_s:.1f}s (+{len(added)}: {', '.join(added)}), nothing replaced; {upgraded}; "
        f"deleted in {deleted_s:.1f}s in Usage order ({ordered} pairs), nothing left"
    )
