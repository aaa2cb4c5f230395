"""Play provider-upjet-aws: the status and connection details its managed resources report.

Its hooks are ``STATUS`` and ``CONNECTION``, which ``player`` plays.
``status.atProvider`` mirrors ``forProvider`` the way upjet does (references resolved
to IDs and ARNs, selectors dropped) plus what AWS computes: IDs, ARNs, the EKS
endpoint, CA and OIDC issuer, node group sizes. IDs derive from resource names, so
every round and every example stage reports the same ones. ClusterAuth's connection
details (``kubeconfig``, ``endpoint``, ``clusterCA``) hold a fake token that the
leak tests look for.

The EKS examples' observed stages come from this player:

    python -m forge_dev.simulate.stages examples/cluster-aws created namespace-up network-up \
        cluster-up kubeconfig-ready nodes-up crossplane-up stack-installed ready
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from typing import Any

from forge_dev.simulate.hooks import ConnectionHook, Hooks, Manifest, StatusHook

ACCOUNT = "123456789012"
EC2 = "ec2.aws.m.upbound.io/v1beta1"
IAM = "iam.aws.m.upbound.io/v1beta1"
EKS = "eks.aws.m.upbound.io/v1beta1"
LOGS = "cloudwatchlogs.aws.m.upbound.io/v1beta1"
CREATED = "2026-01-01T00:00:00Z"
# A certificate authority as EKS reports it: base64 of a PEM block (not a real key).
CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
    "cm5ldGVzMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFTETMBEGA1UE\n"
    "-----END CERTIFICATE-----\n"
)
CA_DATA = base64.b64encode(CA_PEM.encode()).decode()
TOKEN_PREFIX = "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20v"


def digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def resource_id(prefix: str, name: str) -> str:
    """An AWS resource ID such as vpc-0abc..., stable for a name."""
    return f"{prefix}-0{digest(prefix, name, length=16)}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def endpoint(cluster: str, region: str) -> str:
    return (
        f"https://{digest('endpoint', cluster, length=32).upper()}.gr7.{region}.eks.amazonaws.com"
    )


def token(cluster: str) -> str:
    """The (fake) short-lived bearer token a ClusterAuth writes for ``cluster``."""
    return f"{TOKEN_PREFIX}{digest('token', cluster, length=40)}"


# forProvider reference -> (resolved field, how the referenced name becomes a value)
_REFS: dict[str, tuple[str, Callable[[str], str]]] = {
    "vpcIdRef": ("vpcId", lambda n: resource_id("vpc", n)),
    "subnetIdRef": ("subnetId", lambda n: resource_id("subnet", n)),
    "gatewayIdRef": ("gatewayId", lambda n: resource_id("igw", n)),
    "natGatewayIdRef": ("natGatewayId", lambda n: resource_id("nat", n)),
    "routeTableIdRef": ("routeTableId", lambda n: resource_id("rtb", n)),
    "allocationIdRef": ("allocationId", lambda n: resource_id("eipalloc", n)),
    "roleArnRef": ("roleArn", role_arn),
    "nodeRoleArnRef": ("nodeRoleArn", role_arn),
    "roleRef": ("role", lambda n: n),
    "clusterNameRef": ("clusterName", lambda n: n),
}


def _resolved(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters with references resolved and selectors dropped, at every level."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in _REFS:
            target, resolve = _REFS[key]
            out[target] = resolve(value["name"])
        elif key == "subnetIdRefs":
            out["subnetIds"] = [resource_id("subnet", ref["name"]) for ref in value]
        elif key.endswith(("Ref", "Refs", "Selector")):
            continue
        elif isinstance(value, dict) and key not in {"tags", "labels"}:
            out[key] = _resolved(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _at_provider(manifest: Manifest) -> dict[str, Any]:
    """forProvider as the provider reports it back (upjet mirrors it into atProvider)."""
    out = _resolved(manifest["spec"].get("forProvider", {}))
    if "tags" in out:
        name = manifest["metadata"]["name"]
        out["tagsAll"] = {
            **out["tags"],
            "crossplane-kind": f"{manifest['kind'].lower()}.{manifest['apiVersion'].split('/')[0]}",
            "crossplane-name": name,
            "crossplane-providerconfig": manifest["spec"]["providerConfigRef"]["name"],
        }
    return out


def _name(manifest: Manifest) -> str:
    return manifest["metadata"]["name"]


def _region(manifest: Manifest) -> str:
    return manifest["spec"]["forProvider"].get("region", "us-west-2")


def _vpc(manifest: Manifest, at: dict[str, Any]) -> None:
    name = _name(manifest)
    at.update(
        id=resource_id("vpc", name),
        arn=f"arn:aws:ec2:{_region(manifest)}:{ACCOUNT}:vpc/{resource_id('vpc', name)}",
        ownerId=ACCOUNT,
        instanceTenancy="default",
        defaultSecurityGroupId=resource_id("sg", name),
        mainRouteTableId=resource_id("rtb", f"{name}-main"),
    )


def _subnet(manifest: Manifest, at: dict[str, Any]) -> None:
    sid = resource_id("subnet", _name(manifest))
    at.update(
        id=sid, arn=f"arn:aws:ec2:{_region(manifest)}:{ACCOUNT}:subnet/{sid}", ownerId=ACCOUNT
    )


def _simple(prefix: str) -> Callable[[Manifest, dict[str, Any]], None]:
    def hook(manifest: Manifest, at: dict[str, Any]) -> None:
        at["id"] = resource_id(prefix, _name(manifest))

    return hook


def _eip(manifest: Manifest, at: dict[str, Any]) -> None:
    allocation = resource_id("eipalloc", _name(manifest))
    at.update(
        id=allocation,
        allocationId=allocation,
        publicIp=f"203.0.113.{int(digest(_name(manifest), length=2), 16) % 250 + 1}",
    )


def _nat(manifest: Manifest, at: dict[str, Any]) -> None:
    at.update(
        id=resource_id("nat", _name(manifest)),
        networkInterfaceId=resource_id("eni", _name(manifest)),
        privateIp="10.0.224.10",
        publicIp="203.0.113.10",
    )


def _route(manifest: Manifest, at: dict[str, Any]) -> None:
    at["id"] = f"r-{at.get('routeTableId', 'rtb')}1080289494"


def _role(manifest: Manifest, at: dict[str, Any]) -> None:
    name = _name(manifest)
    at.update(
        id=name,
        arn=role_arn(name),
        uniqueId=f"AROA{digest('role', name, length=17).upper()}",
        createDate=CREATED,
        path="/",
        maxSessionDuration=3600,
    )


def _attachment(manifest: Manifest, at: dict[str, Any]) -> None:
    at["id"] = f"{at.get('role', 'role')}-{digest(_name(manifest), length=26)}"


def _cluster(manifest: Manifest, at: dict[str, Any]) -> None:
    name, region = _name(manifest), _region(manifest)
    issuer = digest("oidc", name, length=32).upper()
    at.update(
        id=name,
        arn=f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{name}",
        endpoint=endpoint(name, region),
        certificateAuthority=[{"data": CA_DATA}],
        identity=[{"oidc": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{issuer}"}]}],
        platformVersion="eks.10",
        status="ACTIVE",
        createdAt=CREATED,
        kubernetesNetworkConfig={"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16"},
    )
    vpc = at.setdefault("vpcConfig", {})
    vpc["clusterSecurityGroupId"] = resource_id("sg", f"{name}-cluster")
    vpc["vpcId"] = resource_id("vpc", f"{name}-vpc")


def _nodegroup(manifest: Manifest, at: dict[str, Any]) -> None:
    name = _name(manifest)
    cluster = at.get("clusterName", "cluster")
    region = _region(manifest)
    initial = manifest["spec"].get("initProvider", {}).get("scalingConfig", {}).get("desiredSize")
    scaling = at.setdefault("scalingConfig", {})
    scaling.setdefault("desiredSize", initial if initial is not None else scaling.get("minSize", 1))
    at.update(
        id=f"{cluster}:{name}",
        arn=f"arn:aws:eks:{region}:{ACCOUNT}:nodegroup/{cluster}/{name}/{digest(name, length=8)}",
        status="ACTIVE",
        releaseVersion=f"{at.get('version', '1.34')}.0-20260101",
        resources=[
            {"autoscalingGroups": [{"name": f"eks-{name}-{digest('asg', name, length=8)}"}]}
        ],
    )


def _addon(manifest: Manifest, at: dict[str, Any]) -> None:
    addon = at["addonName"]
    at.setdefault("addonVersion", "v1.0.0-eksbuild.1")
    at.update(
        id=f"{at.get('clusterName')}:{addon}",
        arn=f"arn:aws:eks:{_region(manifest)}:{ACCOUNT}:addon/{at.get('clusterName')}/{addon}/x",
        createdAt=CREATED,
        modifiedAt=CREATED,
    )


def _access_entry(manifest: Manifest, at: dict[str, Any]) -> None:
    at.update(
        id=f"{at.get('clusterName')}:{at['principalArn']}",
        accessEntryArn=f"arn:aws:eks:{_region(manifest)}:{ACCOUNT}:access-entry/{_name(manifest)}",
        createdAt=CREATED,
        modifiedAt=CREATED,
        userName=at["principalArn"],
    )


def _policy_association(manifest: Manifest, at: dict[str, Any]) -> None:
    at["id"] = f"{at.get('clusterName')}#{_name(manifest)}#{at['policyArn']}"


def _pod_identity(manifest: Manifest, at: dict[str, Any]) -> None:
    association = f"a-{digest('pia', _name(manifest), length=17)}"
    at.update(
        id=f"{at.get('clusterName')},{association}",
        associationId=association,
        associationArn=f"arn:aws:eks:{_region(manifest)}:{ACCOUNT}:podidentityassociation/{at.get('clusterName')}/{association}",
    )


def _log_group(manifest: Manifest, at: dict[str, Any]) -> None:
    """The group is named after its external name (the provider's NameAsIdentifier)."""
    annotations = manifest["metadata"].get("annotations") or {}
    name = annotations.get("crossplane.io/external-name", _name(manifest))
    at.update(
        id=name,
        arn=f"arn:aws:logs:{_region(manifest)}:{ACCOUNT}:log-group:{name}",
        logGroupClass="STANDARD",
        skipDestroy=False,
    )


_COMPUTED: dict[tuple[str, str], Callable[[Manifest, dict[str, Any]], None]] = {
    (EC2, "VPC"): _vpc,
    (EC2, "Subnet"): _subnet,
    (EC2, "InternetGateway"): _simple("igw"),
    (EC2, "RouteTable"): _simple("rtb"),
    (EC2, "RouteTableAssociation"): _simple("rtbassoc"),
    (EC2, "EIP"): _eip,
    (EC2, "NATGateway"): _nat,
    (EC2, "Route"): _route,
    (IAM, "Role"): _role,
    (IAM, "RolePolicyAttachment"): _attachment,
    (EKS, "Cluster"): _cluster,
    (EKS, "NodeGroup"): _nodegroup,
    (EKS, "Addon"): _addon,
    (EKS, "AccessEntry"): _access_entry,
    (EKS, "AccessPolicyAssociation"): _policy_association,
    (EKS, "PodIdentityAssociation"): _pod_identity,
    (LOGS, "Group"): _log_group,
}


def _status_hook(compute: Callable[[Manifest, dict[str, Any]], None]) -> StatusHook:
    def hook(_key: str, manifest: Manifest) -> dict[str, Any]:
        at = _at_provider(manifest)
        compute(manifest, at)
        return {"atProvider": at}

    return hook


def _cluster_auth_status(_key: str, _manifest: Manifest) -> dict[str, Any]:
    return {"atProvider": {"lastRefreshTime": CREATED}}


def _cluster_auth_connection(_key: str, manifest: Manifest) -> dict[str, bytes]:
    """What the ClusterAuth controller writes: kubeconfig, endpoint and (PEM) clusterCA."""
    cluster = manifest["spec"]["forProvider"]["clusterNameRef"]["name"]
    server = endpoint(cluster, _region(manifest))
    kubeconfig = (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- cluster:\n    certificate-authority-data: {CA_DATA}\n"
        f"    server: {server}\n  name: {cluster}\n"
        f"contexts:\n- context:\n    cluster: {cluster}\n    user: {cluster}\n  name: {cluster}\n"
        f"current-context: {cluster}\n"
        f"users:\n- name: {cluster}\n  user:\n    token: {token(cluster)}\n"
    )
    return {
        "kubeconfig": kubeconfig.encode(),
        "endpoint": server.encode(),
        "clusterCA": CA_PEM.encode(),
    }


STATUS: Hooks = {
    **{kind: _status_hook(compute) for kind, compute in _COMPUTED.items()},
    (EKS, "ClusterAuth"): _cluster_auth_status,
}
CONNECTION: dict[tuple[str, str], ConnectionHook] = {(EKS, "ClusterAuth"): _cluster_auth_connection}
