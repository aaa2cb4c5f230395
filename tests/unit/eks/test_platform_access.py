"""The platform's own access to an EKS cluster survives a change of its AWS identity.

The platform's EnvironmentConfig names the principals the platform's AWS ProviderConfigs act
as (``aws.platformPrincipalArns``): each gets an access entry, a new cluster gives its creator
no implicit admin, and a principal that is no longer named keeps its entry until every named
one's access is Ready.
"""

from __future__ import annotations

from typing import Any

import pytest

from forge.composers.eks.access_entries import PLATFORM_LABEL, principal_id
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import observe
from forge_dev.simulate.requests import Rendered, build, environment_config, render, step_input
from tests.support.eks import ARGOCD_ROLE, FALSE, TRUE, XR, condition, of_kind, params, xr_with

OLD = "arn:aws:iam::123456789012:role/forge-platform"
NEW = "arn:aws:iam::123456789012:role/forge-platform-podidentity"
STEP = step_input("Cluster")
CLUSTER = "aws-eks-cluster"


def env(*principals: str, **data: Any) -> dict[str, list[dict[str, Any]]]:
    aws = {"platformPrincipalArns": list(principals)} if principals else {}
    return {"environment-configs": [environment_config("dev", aws=aws, **data)]}


def run(xr: dict[str, Any], environment, observed=None) -> Rendered:
    return render(build(xr, observed=observed, required=environment, step_input=STEP))


def converged(environment, xr: dict[str, Any] = XR) -> list[Rendered]:
    return converge(xr, required=lambda _: environment, step_input=STEP, max_rounds=14)


def entries(out: Rendered) -> dict[str, str]:
    """principal ARN -> the AccessEntry's composition key (Argo CD's role's left out)."""
    return {
        params(m)["principalArn"]: k
        for k, m in of_kind(out, "AccessEntry").items()
        if params(m)["principalArn"] != ARGOCD_ROLE
    }


def creator_admin(out: Rendered) -> bool:
    return params(out.resources[CLUSTER])["accessConfig"]["bootstrapClusterCreatorAdminPermissions"]


def observed_all(out: Rendered, *, except_keys: tuple[str, ...] = ()):
    return {k: observe(k, m) for k, m in out.resources.items() if k not in except_keys}


@pytest.fixture(scope="module")
def with_platform() -> list[Rendered]:
    return converged(env(OLD))


def test_a_new_cluster_admits_the_platform_by_an_access_entry_not_as_its_creator(with_platform):
    final = with_platform[-1]
    assert creator_admin(final) is False
    key = entries(final)[OLD]
    entry = final.resources[key]
    assert entry["metadata"]["labels"][PLATFORM_LABEL] == "true"
    assert params(entry)["type"] == "STANDARD"
    association = final.resources[f"{key}-admin"]
    assert params(association)["principalArnRef"] == {"name": entry["metadata"]["name"]}
    assert params(association)["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")


def test_the_kubeconfig_is_used_only_once_the_platform_is_admitted(with_platform):
    """No ProviderConfig reads the ClusterAuth's token before the platform's entry is Ready:
    without creator admin, the token is refused until then."""
    key = entries(with_platform[-1])[OLD]
    for out in with_platform:
        if out.conditions["KubeconfigReady"].status == TRUE:
            assert out.ready.get(key) and out.ready.get(f"{key}-admin"), "too early"
            break
    else:
        raise AssertionError("the kubeconfig never became usable")
    # The ClusterAuth has written the Secret but the policy is not associated yet.
    final = with_platform[-1]
    out = run(XR, env(OLD), observed_all(final, except_keys=(f"{key}-admin",)))
    status, reason, message = condition(out, "KubeconfigReady")
    assert (status, reason) == (FALSE, "WaitingForPlatformAccess")
    assert OLD in message
    assert "kubeconfigSecretRef" not in out.status["outputs"]


def test_without_platform_principals_the_creator_stays_admin():
    """The default when the platform names no principal: what every earlier release did."""
    final = converged(env())[-1]
    assert creator_admin(final) is True
    assert not any(
        m["metadata"].get("labels", {}).get(PLATFORM_LABEL)
        for m in of_kind(final, "AccessEntry").values()
    )


def test_an_existing_cluster_keeps_its_creator_admin_and_adopts_the_platform_entry():
    """EKS reads bootstrapClusterCreatorAdminPermissions only at creation, and
    provider-upjet-aws refuses an update that would replace the cluster: a cluster created
    with creator admin keeps the setting; the platform's entry is composed beside it."""
    legacy = converged(env())[-1]
    out = run(XR, env(OLD), observed_all(legacy))
    assert not out.fatal
    assert creator_admin(out) is True
    assert OLD in entries(out)


def test_a_changed_principal_gets_its_entry_before_the_old_one_is_removed(with_platform):
    final = with_platform[-1]
    old_key = entries(final)[OLD]
    # The platform swaps its principal in one edit: the old entry stays for now.
    swapped = run(XR, env(NEW), observed_all(final))
    assert not swapped.fatal
    assert set(entries(swapped)) == {OLD, NEW}
    new_key = entries(swapped)[NEW]
    assert {old_key, f"{old_key}-admin"} <= set(swapped.resources)
    status, reason, message = condition(swapped, "AccessReady")
    assert (status, reason) == (FALSE, "Configuring")
    assert NEW in message and f"the access of {OLD} is kept until then" in message
    assert swapped.conditions["KubeconfigReady"].status == TRUE  # the old entry still admits
    # The new entry exists but its policy is not associated yet: still kept.
    partly = observed_all(swapped, except_keys=(f"{new_key}-admin",))
    held = run(XR, env(NEW), partly)
    assert set(entries(held)) == {OLD, NEW}
    # Both of the new principal's resources Ready: the old entry goes.
    done = run(XR, env(NEW), observed_all(held))
    assert set(entries(done)) == {NEW}
    assert f"{old_key}-admin" not in done.resources
    assert condition(done, "AccessReady")[:2] == (TRUE, "Available")
    assert creator_admin(done) is False  # the cluster itself never changes


def test_a_cluster_without_creator_admin_keeps_the_last_platform_entry(with_platform):
    """Removing the key would otherwise leave nobody the platform acts as admitted."""
    final = with_platform[-1]
    out = run(XR, env(), observed_all(final))
    assert OLD in entries(out)
    assert "names no aws.platformPrincipalArns" in condition(out, "AccessReady")[2]


def test_an_admin_removed_from_the_spec_goes_at_once(with_platform):
    """Only the platform's own entries are held: an admin the spec drops loses access."""
    admin = "arn:aws:iam::123456789012:role/someone"
    xr = xr_with(aws={"admins": [admin]})
    before = run(xr, env(OLD), observed_all(with_platform[-1]))
    assert admin in entries(before)
    after = run(XR, env(OLD, NEW), observed_all(before))
    assert admin not in entries(after)


def test_a_principal_the_xr_names_in_its_own_environment_is_not_the_platforms(with_platform):
    """Only the Composition's EnvironmentConfigs say who the platform is."""
    xr = xr_with(environmentConfigRef={"name": "team"})
    own = environment_config("team", aws={"platformPrincipalArns": [NEW]})
    required = {
        "environment-configs": [own],
        "platform-environment-configs": env(OLD)["environment-configs"],
    }
    out = run(xr, required, observed_all(with_platform[-1]))
    assert not out.fatal
    assert set(entries(out)) == {OLD}


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("arn:aws:iam::123456789012:role/one", "aws.platformPrincipalArns"),
        (["arn:aws:iam::123456789012:group/ops"], "aws.platformPrincipalArns[0]"),
        ([OLD, OLD], "aws.platformPrincipalArns[1]"),
    ],
)
def test_a_bad_platform_principal_is_a_fatal_error_naming_the_key(value, where, with_platform):
    bad = environment_config("dev", aws={"platformPrincipalArns": value})
    out = run(XR, {"environment-configs": [bad]}, observed_all(with_platform[-1]))
    assert len(out.fatal) == 1, out.fatal
    assert f"the platform's EnvironmentConfig's {where}:" in out.fatal[0]


def test_a_platform_principal_that_is_also_an_admin_is_admitted_once(with_platform):
    xr = xr_with(aws={"admins": [OLD]})
    out = run(xr, env(OLD), observed_all(with_platform[-1]))
    keys = [k for k in of_kind(out, "AccessEntry") if principal_id(OLD) in k]
    assert len(keys) == 1
    assert out.resources[keys[0]]["metadata"]["labels"][PLATFORM_LABEL] == "true"
