"""The managed network: subnets, routes, NAT gateways."""

from __future__ import annotations

from forge.composers.eks.network import cidrs
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import (
    Rendered,
    build,
    render,
)
from tests.support.eks import (
    FALSE,
    NAMESPACE,
    check_gating,
    condition,
    creating,
    observed_of,
    of_kind,
    params,
    xr_with,
)

# Network ------------------------------------------------------------------------------------


def test_subnets_span_the_zones_with_load_balancer_tags(final):
    subnets = of_kind(final, "Subnet")
    zones = {params(m)["availabilityZone"] for m in subnets.values()}
    assert zones == {"us-west-2a", "us-west-2b", "us-west-2c"}
    for key, manifest in subnets.items():
        tags = params(manifest)["tags"]
        if "private" in key:
            assert tags["kubernetes.io/role/internal-elb"] == "1"
            assert "kubernetes.io/role/elb" not in tags
        else:
            assert tags["kubernetes.io/role/elb"] == "1"
        assert params(manifest)["vpcIdRef"] == {"name": "dev-vpc"}
    assert params(subnets["aws-subnet-private-us-west-2b"])["cidrBlock"] == "10.0.32.0/19"
    assert params(subnets["aws-subnet-public-us-west-2b"])["cidrBlock"] == "10.0.228.0/22"


def test_subnet_cidrs_follow_the_zone_letter_not_the_list_order():
    assert cidrs("10.0.0.0/16", "us-west-2a") == ("10.0.0.0/19", "10.0.224.0/22")
    assert cidrs("10.0.0.0/16", "us-east-1f") == ("10.0.160.0/19", "10.0.244.0/22")
    assert cidrs("10.8.0.0/20", "eu-west-1c") == ("10.8.4.0/23", "10.8.14.128/26")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    observed = {"namespace": observe("namespace", namespace)}

    def zones(*names: str) -> Rendered:
        return render(build(xr_with(aws={"network": {"availabilityZones": list(names)}}), observed))

    one, two = zones("us-west-2c", "us-west-2a"), zones("us-west-2a", "us-west-2c")
    assert one.resources == two.resources
    assert "aws-subnet-private-us-west-2b" not in one.resources


def test_private_subnets_route_through_nat_and_public_ones_through_the_gateway(final):
    routes = of_kind(final, "Route")
    assert params(routes["aws-route-public"])["gatewayIdRef"] == {"name": "dev-igw"}
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        route = params(routes[f"aws-route-private-{zone}"])
        assert route["destinationCidrBlock"] == "0.0.0.0/0"
        assert route["natGatewayIdRef"] == {"name": "dev-nat-us-west-2a"}  # Single
        association = params(final.resources[f"aws-rta-private-{zone}"])
        assert association["subnetIdRef"] == {"name": f"dev-private-{zone}"}
        assert association["routeTableIdRef"] == {"name": f"dev-private-{zone}"}
    nat = params(final.resources["aws-nat-us-west-2a"])
    assert nat["subnetIdRef"] == {"name": "dev-public-us-west-2a"}
    assert nat["allocationIdRef"] == {"name": "dev-nat-us-west-2a"}
    assert params(final.resources["aws-eip-nat-us-west-2a"])["domain"] == "vpc"


def test_nat_gateways_wait_for_the_internet_gateway():
    """AWS fails a public NAT gateway in a VPC without an attached internet gateway."""
    history = converge(xr_with(aws={"network": {"natGateways": "PerZone"}}))
    first = next(i for i, out in enumerate(history) if "aws-igw" in out.resources)
    assert not of_kind(history[first], "NATGateway")
    assert not any("-by-nat-" in key for key in history[first].resources)  # nor their Usages
    observed = observed_of(history[first])
    observed["aws-igw"] = creating(observed["aws-igw"])
    held = render(build(xr_with(aws={"network": {"natGateways": "PerZone"}}), observed=observed))
    assert not of_kind(held, "NATGateway")
    status, reason, message = condition(held, "NetworkReady")
    assert (status, reason) == (FALSE, "Creating")
    assert "aws-nat-us-west-2a" in message
    assert len(of_kind(history[first + 1], "NATGateway")) == 3
    check_gating(history)


def test_one_nat_gateway_per_zone_when_asked():
    final = converge(xr_with(aws={"network": {"natGateways": "PerZone"}}))[-1]
    assert final.composite_ready
    assert len(of_kind(final, "NATGateway")) == len(of_kind(final, "EIP")) == 3
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        route = params(final.resources[f"aws-route-private-{zone}"])
        assert route["natGatewayIdRef"] == {"name": f"dev-nat-{zone}"}
        assert params(final.resources[f"aws-nat-{zone}"])["subnetIdRef"] == {
            "name": f"dev-public-{zone}"
        }
