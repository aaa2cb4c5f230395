"""The VPC: public and private subnets per zone, internet and NAT gateways, routes.

Nodes run in the private subnets and reach out through NAT; load balancers find
their subnets by the ``kubernetes.io/role/(internal-)elb`` tags. Every resource
names the ones it needs by reference (``vpcIdRef``, ``subnetIdRef``...), so the
provider resolves the IDs itself and nothing here waits on observed IDs.
With ``aws.network.subnetIds`` nothing is composed.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from forge.composers.eks.base import EC2, Eks

ANYWHERE = "0.0.0.0/0"
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"
VPC = "aws-vpc"


@dataclass
class Network:
    """What the cluster and node groups need from the network."""

    subnet_refs: list[str] = field(default_factory=list)
    subnet_ids: list[str] = field(default_factory=list)
    # Composed private subnets and the VPC, for deletion ordering: (key, manifest).
    protected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # What else the nodes' egress and the load balancers need, held by the cluster too.
    held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    subnets_ready: bool = True
    ready: bool = True
    pending: list[str] = field(default_factory=list)

    def subnets(self) -> dict[str, Any]:
        """The private subnets as a ``subnetIds`` or ``subnetIdRefs`` field."""
        if self.subnet_ids:
            return {"subnetIds": list(self.subnet_ids)}
        return {"subnetIdRefs": [{"name": name} for name in self.subnet_refs]}


@functools.lru_cache(maxsize=256)  # pure, and asked again on every call
def cidrs(vpc_cidr: str, zone: str) -> tuple[str, str]:
    """(private, public) CIDRs of a zone, from its letter.

    The VPC splits into eighths: zones a-f get one each for private subnets
    (nodes and pods need the addresses); the last eighth splits into eighths
    again for the public subnets. The seventh eighth is left for later use.
    """
    index = ord(zone[-1]) - ord("a")
    eighths = list(ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=3))
    public = list(eighths[7].subnets(prefixlen_diff=3))
    return str(eighths[index]), str(public[index])


def compose(e: Eks) -> Network:
    """Compose the VPC (or take the given subnets) and report readiness."""
    settings = e.spec.aws.network
    if settings.subnet_ids is not None:
        return Network(subnet_ids=list(settings.subnet_ids.private))
    zones = settings.zones(e.region)
    nat_zones = zones if settings.nat_mode(e.spec.tier) == "PerZone" else zones[:1]
    built: dict[str, dict[str, Any]] = {}

    def add(key: str, kind: str, name: str, params: dict[str, Any], name_tag: bool = True) -> None:
        built[key] = e.manifest(EC2, kind, name, params, name_tag=name_tag)

    vpc_ref = {"vpcIdRef": {"name": e.name("vpc")}}
    add(
        VPC,
        "VPC",
        e.name("vpc"),
        {"cidrBlock": settings.vpc_cidr, "enableDnsHostnames": True, "enableDnsSupport": True},
    )
    add("aws-igw", "InternetGateway", e.name("igw"), dict(vpc_ref))
    add("aws-rtb-public", "RouteTable", e.name("public"), dict(vpc_ref))
    add(
        "aws-route-public",
        "Route",
        e.name("public-internet"),
        {
            "routeTableIdRef": {"name": e.name("public")},
            "destinationCidrBlock": ANYWHERE,
            "gatewayIdRef": {"name": e.name("igw")},
        },
        name_tag=False,
    )
    for zone in zones:
        private_cidr, public_cidr = cidrs(settings.vpc_cidr, zone)
        for tier, cidr, tag in (
            ("public", public_cidr, PUBLIC_ELB_TAG),
            ("private", private_cidr, INTERNAL_ELB_TAG),
        ):
            add(
                f"aws-subnet-{tier}-{zone}",
                "Subnet",
                e.name(tier, zone),
                {**vpc_ref, "availabilityZone": zone, "cidrBlock": cidr, "tags": {tag: "1"}},
            )
        add(f"aws-rtb-private-{zone}", "RouteTable", e.name("private", zone), dict(vpc_ref))
        nat_zone = zone if zone in nat_zones else nat_zones[0]
        add(
            f"aws-route-private-{zone}",
            "Route",
            e.name("private", zone, "nat"),
            {
                "routeTableIdRef": {"name": e.name("private", zone)},
                "destinationCidrBlock": ANYWHERE,
                "natGatewayIdRef": {"name": e.name("nat", nat_zone)},
            },
            name_tag=False,
        )
        for tier, table in (("public", e.name("public")), ("private", e.name("private", zone))):
            add(
                f"aws-rta-{tier}-{zone}",
                "RouteTableAssociation",
                e.name(tier, zone),
                {"routeTableIdRef": {"name": table}, "subnetIdRef": {"name": e.name(tier, zone)}},
                name_tag=False,
            )
    for zone in nat_zones:
        add(f"aws-eip-nat-{zone}", "EIP", e.name("nat", zone), {"domain": "vpc"})
        add(
            f"aws-nat-{zone}",
            "NATGateway",
            e.name("nat", zone),
            {
                "connectivityType": "public",
                "allocationIdRef": {"name": e.name("nat", zone)},
                "subnetIdRef": {"name": e.name("public", zone)},
            },
        )
    nats = [f"aws-nat-{zone}" for zone in nat_zones]
    ready = {key: e.compose(key, built[key]) for key in built if key not in nats}
    for zone, key in zip(nat_zones, nats, strict=True):
        ready[key] = _nat_gateway(e, zone, key, built, igw_ready=ready["aws-igw"])
    private = [f"aws-subnet-private-{zone}" for zone in zones]
    return Network(
        subnet_refs=[built[key]["metadata"]["name"] for key in private],
        protected=[(key, built[key]) for key in [VPC, *private]],
        held=_held(e, built, [VPC, *private], nats[0]),
        subnets_ready=all(ready[key] for key in private),
        ready=all(ready.values()),
        pending=sorted(key for key, ok in ready.items() if not ok),
    )


def _held(
    e: Eks, built: dict[str, dict[str, Any]], protected: list[str], first_nat: str
) -> list[tuple[str, dict[str, Any]]]:
    """The rest of the network the EKS cluster (and so every node group) holds.

    Route tables, routes, associations and public subnets, whose keys never change
    (zones are immutable), and the first zone's NAT gateway (it exists in both
    ``natGateways`` modes), which holds the internet gateway and its address: while
    nodes run, they keep their way out (the load balancer controller calls AWS through
    it) and load balancers their subnets. The other zones' NAT gateways are not held:
    a Usage of one would block its removal (PerZone to Single) for as long as the
    cluster exists.
    """
    skip = {*protected, "aws-igw"}
    keys = [k for k in built if k not in skip and not k.startswith(("aws-nat-", "aws-eip-"))]
    if first_nat in e.ctx.rsp.desired.resources:
        keys.append(first_nat)
    return [(key, built[key]) for key in keys]


def _nat_gateway(
    e: Eks, zone: str, key: str, built: dict[str, dict[str, Any]], *, igw_ready: bool
) -> bool:
    """A NAT gateway once the internet gateway is attached; return whether it is ready.

    AWS fails a public NAT gateway in a VPC without one. Usages then keep the
    internet gateway (AWS will not detach it while NAT addresses are mapped) and the
    address (not released while a NAT gateway holds it) until the NAT gateway is gone.
    """
    if not e.due(key, igw_ready):
        return False
    ready = e.compose(key, built[key])
    nat = (key, built[key])
    e.protect("aws-igw", built["aws-igw"], *nat)
    e.protect(f"aws-eip-nat-{zone}", built[f"aws-eip-nat-{zone}"], *nat)
    return ready
