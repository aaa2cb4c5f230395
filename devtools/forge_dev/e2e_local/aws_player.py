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

The new cluster's inside (the teardown gate, the load balancer controller's NLBs and the
``DependencyViolation`` they cause) is ``eks_world``'s. Not modelled: ProviderConfigUsages,
other AWS errors and eventual consistency, drift, the ClusterAuth token's refresh.
"""

from __future__ import annotations

import base64
import time

import yaml

from forge.versions import PROVIDER_AWS_REPOSITORY
from forge_dev.e2e_local import pki, standins, xrs
from forge_dev.e2e_local.controlplane import ROOT
from forge_dev.e2e_local.eks_world import EksWorld, service_path
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


class AwsPlayer(ProviderPlayer):
    """provider-upjet-aws (ec2, iam, eks), played with forge_dev.simulate.aws's status hooks."""

    def __init__(self, kube: Kube, log) -> None:
        super().__init__(kube, log)
        self.cas: dict[tuple[str, str], pki.CA] = {}
        self.world = EksWorld()

    kinds = AWS_KINDS

    def step(self) -> None:
        super().step()
        self.world.step(self.kube)

    def _refused(self, played: Played, mr: dict) -> str:
        return self.world.dependency(played.kind, mr["metadata"]["namespace"])

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
        return at

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
    argocd-manager token; a LoadBalancer Service in it gets a played NLB; a second node
    group converges with nothing replaced; deleted in Usage order, the NLB first (by the
    real forge.teardown against the played cluster, before the nodes go: the VPC and
    subnets refuse deletion while it exists), with nothing left."""

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
        # A LoadBalancer Service in the new cluster gets its NLB from the played controller.
        inside = player.world.cluster(ns, name)
        inside.create(
            service_path("istio-ingress", "gateway"),
            {
                "metadata": {"name": "gateway", "namespace": "istio-ingress"},
                "spec": {"type": "LoadBalancer"},
            },
        )
        _wait(env, "an NLB for the gateway Service", player.world.leftovers, deadline)
        nlbs = player.world.leftovers()
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

        pairs = xrs.usages(env, name)
        t = time.monotonic()
        env.player.remote_gone = player.world.object_gone  # the gate goes when released
        xrs.delete_and_wait(env, xr, deadline)
        _wait(env, f"nothing composed by {name} left", lambda: not _aws_left(env, name), deadline)
        if player.world.leftovers() or inside.objects:
            raise HarnessError(
                f"left in AWS: {player.world.leftovers()}; in the cluster: {sorted(inside.objects)}"
            )
        ordered = xrs.check_deletion_order(env, pairs, player)
        _wait(
            env,
            f"namespace {ns} deleted",
            lambda: env.kube.get("v1", "Namespace", ns) is None,
            deadline,
        )
        deleted_s = time.monotonic() - t
    finally:
        env.player.remote_gone = None
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
        f"in {update_s:.1f}s (+{len(added)}: {', '.join(added)}), nothing replaced; "
        f"NLB {', '.join(nlbs)} for a LoadBalancer Service; deleted in {deleted_s:.1f}s in "
        f"Usage order ({ordered} pairs), the NLB first by the teardown gate, nothing left"
    )
