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

EKS authentication is played too (``EksAccess``): the principal the provider acts as is
its ProviderConfig's (the last ``assumeRoleChain`` role, else ``PLATFORM_ROLE``, the
provider's own Pod Identity role); a cluster created with
``bootstrapClusterCreatorAdminPermissions`` (EKS's default) admits its creator; an
``AccessEntry`` admits its principal a few seconds after it is created (IAM's eventual
consistency) and, with an ``AccessPolicyAssociation``, as an admin; deleting the entry
removes both. Changing ``bootstrapClusterCreatorAdminPermissions`` on an existing cluster
is refused as provider-upjet-aws refuses it (the argument forces a new cluster). Whether
the principal each ``ClusterAuth`` mints its token for is admitted is recorded over time:
what the platform's ProviderConfigs into the cluster would meet.
Version changes are played as EKS makes them (``VersionPlay``): an EKS Cluster, NodeGroup
or Addon keeps reporting its old version for ``UPGRADE_SECONDS`` after its spec asks for
another, and EKS's refusals are recorded and not applied: a control plane skipping a minor
version or going back, a node group asking for a version newer than its control plane runs.

The new cluster's inside (the teardown gate, the load balancer controller's NLBs and the
``DependencyViolation`` they cause) is ``eks_world``'s. Not modelled: ProviderConfigUsages,
other AWS errors and eventual consistency, drift, the ClusterAuth token's refresh.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

import yaml

from forge.versions import PROVIDER_AWS_REPOSITORY
from forge_dev.e2e_local import eks_upgrade, pki, standins, xrs
from forge_dev.e2e_local.controlplane import ROOT
from forge_dev.e2e_local.eks_world import EksWorld, service_path
from forge_dev.e2e_local.env import Environment, schema_root
from forge_dev.e2e_local.kube import Kube, condition, is_true, load_documents, new_condition
from forge_dev.e2e_local.live_player import Played, ProviderPlayer, _gen
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
ACCESS_ENTRY = (preview.EKS, "AccessEntry")
POLICY_ASSOCIATION = (preview.EKS, "AccessPolicyAssociation")
# The role the played provider acts as without an assumeRoleChain (its Pod Identity).
PLATFORM_ROLE = f"arn:aws:iam::{preview.ACCOUNT}:role/forge-platform"
BOOTSTRAP_ADMIN = "bootstrapClusterCreatorAdminPermissions"
# How long a new access entry takes to admit its principal (IAM's eventual consistency).
ENTRY_DELAY = 3.0
CREATING = "creating"  # a refusal that is a wait: Ready False, Creating


class EksAccess:
    """Who may use each played EKS cluster, by (namespace, cluster MR name)."""

    def __init__(self) -> None:
        self.created_with: dict[tuple[str, str], bool] = {}  # the bootstrap setting
        self.creators: dict[tuple[str, str], str] = {}  # admitted as creator
        self.entries: dict[tuple[str, str], dict[str, float]] = {}  # principal -> since
        self.admins: dict[tuple[str, str], set[str]] = {}  # principals with the admin policy
        # (monotonic time, event): entries Ready, associations, entries deleted.
        self.events: list[tuple[float, str]] = []
        # (namespace, cluster) -> [(monotonic time, principal, admitted)] on each change.
        self.timeline: dict[tuple[str, str], list[tuple[float, str, bool]]] = {}

    def event(self, what: str) -> None:
        """Record ``what`` once, with the time it first happened."""
        if what not in {e for _, e in self.events}:
            self.events.append((time.monotonic(), what))

    def when(self, what: str) -> float | None:
        return next((t for t, e in self.events if e == what), None)

    def admitted(self, cluster: tuple[str, str], principal: str) -> bool:
        if self.creators.get(cluster) == principal:
            return True
        since = self.entries.get(cluster, {}).get(principal)
        ready = since is not None and time.monotonic() - since >= ENTRY_DELAY
        return ready and principal in self.admins.get(cluster, set())

    def lost(self, cluster: tuple[str, str]) -> list[str]:
        """Each moment the platform's ClusterAuth principal was refused after it had been
        admitted."""
        seen, lost = False, []
        for _, principal, ok in self.timeline.get(cluster, []):
            if ok:
                seen = True
            elif seen:
                lost.append(principal)
        return lost


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
        self.eks = EksAccess()
        self.versions = VersionPlay()
        self.world = EksWorld()

    kinds = AWS_KINDS

    def identity(self, mr: dict) -> str:
        """The principal the provider acts as for ``mr``: its ProviderConfig's last
        ``assumeRoleChain`` role, else the provider's own."""
        ref = mr["spec"].get("providerConfigRef") or {}
        kind = ref.get("kind") or "ClusterProviderConfig"
        ns = mr["metadata"].get("namespace") if kind == "ProviderConfig" else None
        config = self.kube.get(PROVIDER_CONFIG_API, kind, ref.get("name") or "default", ns)
        chain = ((config or {}).get("spec") or {}).get("assumeRoleChain") or []
        return chain[-1].get("roleARN") or PLATFORM_ROLE if chain else PLATFORM_ROLE

    def step(self) -> None:
        super().step()
        self.world.step(self.kube)
        self._record_access()

    def _refused(self, played: Played, mr: dict) -> str:
        return self.world.dependency(played.kind, mr["metadata"]["namespace"])

    def reconcile(self, played: Played, mr: dict) -> None:
        key, md = (played.api_version, played.kind), mr["metadata"]
        deleting = bool(md.get("deletionTimestamp"))
        if key == ACCESS_ENTRY and deleting:
            cluster = (md["namespace"], mr["spec"]["forProvider"]["clusterNameRef"]["name"])
            principal = mr["spec"]["forProvider"]["principalArn"]
            if self.eks.entries.get(cluster, {}).pop(principal, None) is not None:
                self.eks.admins.get(cluster, set()).discard(principal)
                self.eks.event(f"deleted entry {principal}")
        if not deleting and (refusal := self._refusal(key, mr)):
            if refusal == CREATING:
                wanted = [new_condition("Ready", "False", "Creating", _gen(mr))]
            else:
                wanted = [new_condition("Synced", "False", "ReconcileError", _gen(mr), refusal)]
            self._set_conditions(mr, wanted)
            return
        super().reconcile(played, mr)

    def _refusal(self, key: tuple[str, str], mr: dict) -> str:
        """Why the provider would not reconcile ``mr`` now (EKS's and upjet's refusals)."""
        spec = mr["spec"]["forProvider"]
        ns = mr["metadata"]["namespace"]
        if key == EKS_CLUSTER:
            cluster = (ns, mr["metadata"]["name"])
            wanted = (spec.get("accessConfig") or {}).get(BOOTSTRAP_ADMIN, True)
            if cluster not in self.eks.created_with:
                self.eks.created_with[cluster] = wanted
                if wanted:
                    self.eks.creators[cluster] = self.identity(mr)
            elif self.eks.created_with[cluster] != wanted:
                was = str(self.eks.created_with[cluster]).lower()
                return (
                    "refuse to update the external resource because the following update "
                    "requires replacing it: cannot change the value of the argument "
                    f'"access_config.0.bootstrap_cluster_creator_admin_permissions" from '
                    f'"{was}" to "{str(wanted).lower()}"'
                )
        if key == ACCESS_ENTRY:
            cluster = (ns, spec["clusterNameRef"]["name"])
            entries = self.eks.entries.setdefault(cluster, {})
            if spec["principalArn"] not in entries:
                entries[spec["principalArn"]] = time.monotonic()
            if time.monotonic() - entries[spec["principalArn"]] < ENTRY_DELAY:
                return CREATING
            self.eks.event(f"entry ready {spec['principalArn']}")
        if key == POLICY_ASSOCIATION:
            cluster = (ns, spec["clusterNameRef"]["name"])
            entry = self.kube.get(*ACCESS_ENTRY, spec["principalArnRef"]["name"], ns)
            principal = entry and entry["spec"]["forProvider"]["principalArn"]
            if not principal or principal not in self.eks.entries.get(cluster, {}):
                return "ResourceNotFoundException: the principal has no access entry"
            if principal not in self.eks.admins.setdefault(cluster, set()):
                self.eks.admins[cluster].add(principal)
                self.eks.event(f"associated {principal}")
        return ""

    def _record_access(self) -> None:
        """Whether the principal of each ClusterAuth's token is admitted, on each change."""
        if not self.kube.served(*CLUSTER_AUTH):
            return
        for auth in self.kube.list(*CLUSTER_AUTH):
            md = auth["metadata"]
            if md.get("deletionTimestamp") or not is_true(auth, "Ready"):
                continue
            cluster = (md["namespace"], auth["spec"]["forProvider"]["clusterNameRef"]["name"])
            principal = self.identity(auth)
            state = (principal, self.eks.admitted(cluster, principal))
            timeline = self.eks.timeline.setdefault(cluster, [])
            if not timeline or timeline[-1][1:] != state:
                timeline.append((time.monotonic(), *state))
                self._say(f"EKS {cluster[0]}/{cluster[1]}: {state[0]} admitted: {state[1]}")

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
    """The CRDs of the stand-in AWS providers (the family's and each family provider's)
    that the activation policy activates: all but the kind we never compose."""
    root = schema_root() / "crds"
    return [
        load_documents(root / rel)[0]["metadata"]["name"]
        for standin in standins.standins(root)
        if standin.repository.startswith(PROVIDER_AWS_REPOSITORY.rsplit("/", 1)[0])
        for rel in standin.crds
        if rel != standins.UNCOMPOSED[1]
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


ROTATED_ROLE = f"arn:aws:iam::{preview.ACCOUNT}:role/forge-platform-rotated"


def _platform_principals(env: Environment, path, principals: list[str]) -> None:
    """The example's EnvironmentConfigs, naming ``principals`` as the platform's."""
    for doc in load_documents(path):
        if doc.get("kind") == "EnvironmentConfig":
            doc.setdefault("data", {}).setdefault("aws", {})["platformPrincipalArns"] = principals
            env.kube.apply(doc)


def _nudge(env: Environment, xr: dict, why: str) -> None:
    """Have Crossplane reconcile the XR now: an EnvironmentConfig is no composed resource,
    so with realtime compositions its change is otherwise seen at the next sync."""
    cur = xrs.get_xr(env, xr)
    env.kube.patch(cur, {"metadata": {"annotations": {"forge.projectcatalyst.io/e2e": why}}})


def _rotate(env: Environment, player: AwsPlayer, path, xr: dict, deadline: float) -> str:
    """The runbook of docs/operations.md: name the new principal beside the old, switch the
    ProviderConfig to it, then drop the old. The principal the kubeconfig's token is minted
    for is admitted throughout; the new entry is Ready before the old one goes; the cluster
    is neither replaced nor refused an update."""
    name = xr["metadata"]["name"]
    cluster = (f"cluster-{name}", name)
    before = xrs.uids(env, xrs.get_xr(env, xr))
    t = time.monotonic()
    _platform_principals(env, path, [PLATFORM_ROLE, ROTATED_ROLE])
    _nudge(env, xr, "both-principals")

    def admitted_and_ready():
        cur = xrs.get_xr(env, xr)
        ok = player.eks.admitted(cluster, ROTATED_ROLE) and is_true(cur, "AccessReady")
        return cur if ok else None

    _wait(env, f"{ROTATED_ROLE} admitted to {name}", admitted_and_ready, deadline)
    config = {**CLUSTER_PROVIDER_CONFIG, "spec": {**CLUSTER_PROVIDER_CONFIG["spec"]}}
    config["spec"]["assumeRoleChain"] = [{"roleARN": ROTATED_ROLE}]
    env.kube.apply(config)
    _wait(
        env,
        f"the ClusterAuth of {name} minting for {ROTATED_ROLE}",
        lambda: (line := player.eks.timeline.get(cluster)) and line[-1][1] == ROTATED_ROLE,
        deadline,
    )
    _platform_principals(env, path, [ROTATED_ROLE])
    _nudge(env, xr, "new-principal-only")

    def old_gone():
        cur = xrs.get_xr(env, xr)
        entries = env.kube.list(*ACCESS_ENTRY, cluster[0])
        old = [e for e in entries if e["spec"]["forProvider"]["principalArn"] == PLATFORM_ROLE]
        return cur if not old and is_true(cur, "Ready") else None

    after = xrs.uids(
        env, _wait(env, f"the access entry of {PLATFORM_ROLE} gone", old_gone, deadline)
    )
    lost = player.eks.lost(cluster)
    if lost:
        raise HarnessError(f"the platform lost access to {name} as {sorted(set(lost))}")
    new_ready = [player.eks.when(f"{e} {ROTATED_ROLE}") for e in ("entry ready", "associated")]
    old_deleted = player.eks.when(f"deleted entry {PLATFORM_ROLE}")
    if None in new_ready or old_deleted is None or max(new_ready) > old_deleted:
        raise HarnessError(f"the old entry went before the new one was Ready: {player.eks.events}")
    eks = env.kube.get(*EKS_CLUSTER, name, cluster[0])
    if not is_true(eks, "Synced") or before.get(f"Cluster/{name}") != after.get(f"Cluster/{name}"):
        raise HarnessError(f"the EKS cluster was refused or replaced: {condition(eks, 'Synced')}")
    replaced = sorted(k for k in before if k in after and before[k] != after[k])
    if replaced:
        raise HarnessError(f"rotating the platform's principal replaced {replaced}")
    return (
        f"platform principal rotated in {time.monotonic() - t:.1f}s (new entry Ready "
        f"{old_deleted - max(new_ready):.1f}s before the old one went, access never lost)"
    )


def aws_lifecycle(env: Environment, budget: float) -> str:  # noqa: PLR0915 (one story)
    """The EKS Cluster of examples/cluster-aws-token, with only the environment's
    EnvironmentConfig, which names no Argo CD role: Ready, registered with Argo CD by the
    argocd-manager token; a LoadBalancer Service in it gets a played NLB; a second node
    group converges with nothing replaced; a Kubernetes upgrade moves in order
    (``eks_upgrade``); the platform's principal rotates; deleted in Usage order, the NLB
    first (by the real forge.teardown against the played cluster, before the nodes go: the
    VPC and subnets refuse deletion while it exists), with nothing left."""

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
    environment = stages_dir(base) / "01-created" / "required.yaml"
    try:
        # The platform names the principal its AWS ProviderConfig acts as.
        _platform_principals(env, environment, [PLATFORM_ROLE])
        xr = yaml.safe_load((base / "xr.yaml").read_text())
        name = xr["metadata"]["name"]
        ns = f"cluster-{name}"
        t = time.monotonic()
        env.kube.apply(xr)
        obj = xrs.wait_ready(env, xr, deadline)
        ready_s = time.monotonic() - t
        eks = env.kube.get(*EKS_CLUSTER, name, ns)
        if eks["spec"]["forProvider"]["accessConfig"][BOOTSTRAP_ADMIN] is not False:
            raise HarnessError("a new EKS cluster still makes its creator an admin")
        if (ns, name) in player.eks.creators or not player.eks.admitted((ns, name), PLATFORM_ROLE):
            raise HarnessError(f"{PLATFORM_ROLE} is not admitted by its access entry")

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
        upgraded = eks_upgrade.upgrade(env, xr, player.versions.refused, deadline)

        rotated = _rotate(env, player, environment, xr, deadline)

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
        env.kube.apply(CLUSTER_PROVIDER_CONFIG)  # acting as PLATFORM_ROLE again
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
        f"{rotated}; NLB {', '.join(nlbs)} for a LoadBalancer Service; deleted in "
        f"{deleted_s:.1f}s in Usage order ({ordered} pairs), the NLB first by the teardown "
        "gate, nothing left"
    )
