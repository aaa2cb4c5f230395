"""Argo CD without an IAM role: the argocd-manager ServiceAccount's token."""

from __future__ import annotations

import base64
import json
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from forge_dev.simulate import aws, kubernetes
from forge_dev.simulate.converge import converge
from forge_dev.simulate.player import controller_reference, written
from forge_dev.simulate.requests import (
    Observed,
    Rendered,
    build,
    render,
)
from tests.support import leaks
from tests.support.eks import (
    FALSE,
    NAMESPACE,
    TRUE,
    condition,
    decoded,
    observed_of,
    of_kind,
    without_role,
)

# Argo CD without an IAM role: the argocd-manager ServiceAccount's token -----------------------

MANAGER_KEYS = ("argocd-manager-sa", "argocd-manager-role", "argocd-manager-binding")
TOKEN_KEY = "argocd-manager-token"
TOKEN_SECRET = "dev-argocd-manager"


def written_required(xr: dict[str, Any]):
    """Crossplane's answers to the function's requirements from what the providers wrote."""
    from forge_dev.simulate.steady_state import required_from  # noqa: PLC0415 - the bench's requirement loop

    def required(observed: dict[str, Observed]) -> dict[str, list[dict[str, Any]]]:
        return required_from(xr, written(observed), None)(observed)

    return required


@pytest.fixture(scope="module")
def token_history() -> list[Rendered]:
    xr = without_role()
    return converge(xr, required=written_required(xr), max_rounds=14)


def test_the_seed_without_a_role_registers_with_a_service_account_token(token_history):
    final = token_history[-1]
    assert final.composite_ready
    assert final.fatal == []
    config = json.loads(decoded(final.resources["argocd-cluster"])["config"])
    assert config == {
        "bearerToken": kubernetes.service_account_token("kube-system", "argocd-manager"),
        "tlsClientConfig": {"insecure": False, "caData": aws.CA_DATA},
    }
    # No IAM role: no access entry for Argo CD (only what the spec's admins would get).
    assert of_kind(final, "AccessEntry") == {}


def test_argocd_manager_objects_are_those_argocd_cluster_add_makes(token_history):
    final = token_history[-1]
    inner = {
        k: final.resources[k]["spec"]["forProvider"]["manifest"] for k in (*MANAGER_KEYS, TOKEN_KEY)
    }
    assert inner["argocd-manager-sa"] == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "argocd-manager", "namespace": "kube-system"},
    }
    assert inner["argocd-manager-role"] == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "argocd-manager-role"},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }
    assert inner["argocd-manager-binding"] == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "argocd-manager-role-binding"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "argocd-manager-role",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}
        ],
    }
    assert inner[TOKEN_KEY] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "argocd-manager-long-lived-token",
            "namespace": "kube-system",
            "annotations": {"kubernetes.io/service-account.name": "argocd-manager"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    for key in (*MANAGER_KEYS, TOKEN_KEY):
        obj = final.resources[key]
        assert obj["metadata"] == {"name": f"dev-{key}", "namespace": NAMESPACE}
        assert obj["spec"]["providerConfigRef"] == {"kind": "ProviderConfig", "name": "dev"}
        assert "Delete" not in obj["spec"]["managementPolicies"]  # dies with the cluster
        usage = final.resources[f"usage-{key}"]["spec"]
        assert usage["of"]["resourceRef"] == {"name": "dev"}
        assert usage["by"]["resourceRef"] == {"name": f"dev-{key}"}


def test_the_token_comes_back_only_through_the_objects_connection_secret(token_history):
    final = token_history[-1]
    spec = final.resources[TOKEN_KEY]["spec"]
    assert spec["connectionDetails"] == [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "name": "argocd-manager-long-lived-token",
            "namespace": "kube-system",
            "fieldPath": "data.token",
            "toConnectionSecretKey": "token",
        }
    ]
    assert spec["writeConnectionSecretToRef"] == {"name": TOKEN_SECRET}
    selector = final.requirements["argocd-manager-token"]
    assert (selector.api_version, selector.kind) == ("v1", "Secret")
    assert (selector.namespace, selector.match_name) == (NAMESPACE, TOKEN_SECRET)
    token = kubernetes.service_account_token("kube-system", "argocd-manager")
    for out in token_history:
        leaks.assert_only_in_secrets(out, [token], allowed={"argocd-cluster"})


def test_argocd_manager_objects_wait_for_their_inputs(token_history):
    observed: dict[str, Observed] = {}
    for out in token_history:
        keys = set(out.resources)
        for key in MANAGER_KEYS:
            if key in keys and key not in observed:
                assert "provider-config-kubernetes" in observed, f"{key} before its ProviderConfig"
        if TOKEN_KEY in keys and TOKEN_KEY not in observed:
            assert "argocd-manager-sa" in observed, "a token Secret before its ServiceAccount"
        if "argocd-manager-token" in out.requirements:
            assert TOKEN_KEY in observed, "asked for the connection Secret before its Object"
        if "argocd-cluster" not in keys:
            status, reason, message = condition(out, "ArgoCDRegistered")
            if TOKEN_KEY in keys:
                assert (status, reason) == (FALSE, "WaitingForToken")
                assert f"{NAMESPACE}/{TOKEN_SECRET}" in message
        observed = observed_of(out)
    assert any(
        TOKEN_KEY in o.resources and "argocd-cluster" not in o.resources for o in token_history
    )


def test_with_a_role_no_token_objects_and_no_requirement(final):
    assert not {*MANAGER_KEYS, TOKEN_KEY} & set(final.resources)
    assert "argocd-manager-token" not in final.requirements


def token_secret(observed: dict[str, Observed], value: bytes, **changes: Any) -> dict[str, Any]:
    """The token Object's connection Secret as provider-kubernetes writes it (``changes``
    replace metadata fields, or ``type``)."""
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": NAMESPACE,
            "ownerReferences": [controller_reference(observed[TOKEN_KEY].manifest)],
        },
        "type": "connection.crossplane.io/v1alpha1",
        "data": {"token": base64.b64encode(value).decode()},
    }
    for name, change in changes.items():
        if name == "type":
            secret["type"] = change
        elif change is None:
            secret["metadata"].pop(name)
        else:
            secret["metadata"][name] = change
    return secret


def before_registration(token_history: list[Rendered]) -> dict[str, Observed]:
    """The round that first sees the token Object: the Argo CD Secret is not composed yet."""
    return observed_of(next(o for o in token_history if TOKEN_KEY in o.resources))


def with_token(observed: dict[str, Observed], secret: dict[str, Any]) -> Rendered:
    return render(build(without_role(), observed=observed, required={TOKEN_KEY: [secret]}))


NEW_TOKEN = b"eyJhbGciOiJSUzI1NiJ9.rotated.signature"


def test_the_token_secret_as_provider_kubernetes_writes_it_is_used(token_history):
    out = with_token(
        before_registration(token_history),
        token_secret(before_registration(token_history), NEW_TOKEN),
    )
    config = json.loads(decoded(out.resources["argocd-cluster"])["config"])
    assert config["bearerToken"] == NEW_TOKEN.decode()


@pytest.mark.parametrize(
    "value",
    [b"", b"two words", b"line\nbreak", b"x" * (17 * 1024)],
    ids=["empty", "space", "newline", "too-large"],
)
def test_an_unusable_token_is_reported_without_quoting_it(token_history, value):
    observed = before_registration(token_history)
    out = with_token(observed, token_secret(observed, value))
    assert out.fatal == []
    assert "argocd-cluster" not in out.resources
    status, reason, message = condition(out, "ArgoCDRegistered")
    assert (status, reason) == (FALSE, "TokenInvalid")
    assert f"{NAMESPACE}/{TOKEN_SECRET}" in message and "'token'" in message
    if value:
        assert value.decode()[:5] not in message


def other_owner(observed: dict[str, Observed], **changes: Any) -> list[dict[str, Any]]:
    ref = {**controller_reference(observed[TOKEN_KEY].manifest), **changes}
    return [{k: v for k, v in ref.items() if v is not None}]


# Issue 21, item 6: a Secret the token Object did not write is never read.
NOT_OWNED: dict[str, Any] = {
    "opaque": {"type": "Opaque"},
    "no-type": {"type": None},
    "no-owner": {"ownerReferences": None},
    "owner-not-controller": {"ownerReferences": lambda o: other_owner(o, controller=False)},
    "owner-controller-absent": {"ownerReferences": lambda o: other_owner(o, controller=None)},
    "another-uid": {"ownerReferences": lambda o: other_owner(o, uid="1234")},
    "another-object": {"ownerReferences": lambda o: other_owner(o, name="dev-argocd-manager-sa")},
    "another-kind": {"ownerReferences": lambda o: other_owner(o, kind="Release")},
    "another-api": {
        "ownerReferences": lambda o: other_owner(o, apiVersion="kubernetes.crossplane.io/v1alpha2")
    },
    "two-controllers": {
        "ownerReferences": lambda o: [
            *other_owner(o, uid="1234"),
            *other_owner(o),
        ]
    },
}


def not_owned(observed: dict[str, Observed], case: str, value: bytes) -> dict[str, Any]:
    changes = {k: (v(observed) if callable(v) else v) for k, v in NOT_OWNED[case].items()}
    secret = token_secret(observed, value, **{k: v for k, v in changes.items() if k != "type"})
    if "type" in changes:
        if changes["type"] is None:
            del secret["type"]
        else:
            secret["type"] = changes["type"]
    return secret


@pytest.mark.parametrize("case", sorted(NOT_OWNED))
def test_a_token_secret_the_object_did_not_write_is_refused(token_history, case):
    """Opaque, or not controlled by the token Object (uid included): a Secret planted under
    the expected name. It is named so that someone can delete it (provider-kubernetes
    will not take over a Secret another controller holds, nor an Opaque one)."""
    observed = before_registration(token_history)
    out = with_token(observed, not_owned(observed, case, NEW_TOKEN))
    assert out.fatal == []
    assert "argocd-cluster" not in out.resources
    status, reason, message = condition(out, "ArgoCDRegistered")
    assert (status, reason) == (FALSE, "TokenSecretNotOwned")
    assert f"{NAMESPACE}/{TOKEN_SECRET}" in message
    leaks.assert_only_in_secrets(out, [NEW_TOKEN.decode()], allowed=set())


@pytest.mark.parametrize(
    "metadata",
    [{"namespace": "team-a"}, {"name": "dev-argocd-manager-x"}, {"namespace": None}],
    ids=["another-namespace", "another-name", "no-namespace"],
)
def test_a_secret_crossplane_should_not_have_answered_is_ignored(token_history, metadata):
    """Only ``cluster-dev/dev-argocd-manager`` was asked for: anything else in the answer
    is not read (an Opaque Secret from another namespace was used as the token)."""
    observed = before_registration(token_history)
    out = with_token(observed, token_secret(observed, NEW_TOKEN, **metadata))
    assert "argocd-cluster" not in out.resources
    status, reason, _ = condition(out, "ArgoCDRegistered")
    assert (status, reason) == (FALSE, "WaitingForToken")
    leaks.assert_only_in_secrets(out, [NEW_TOKEN.decode()], allowed=set())


def registered(token_history: list[Rendered]) -> tuple[dict[str, Observed], dict[str, Any]]:
    final = token_history[-1]
    return observed_of(final), final.resources["argocd-cluster"]


def test_a_rotated_token_is_used(token_history):
    observed, _ = registered(token_history)
    out = with_token(observed, token_secret(observed, NEW_TOKEN))
    config = json.loads(decoded(out.resources["argocd-cluster"])["config"])
    assert config["bearerToken"] == NEW_TOKEN.decode()
    assert condition(out, "ArgoCDRegistered")[:2] == (TRUE, "Registered")


@pytest.mark.parametrize("case", ["invalid", "opaque", "another-uid"])
def test_a_bad_rotated_token_is_reported_and_the_last_one_kept(token_history, case):
    """Argo CD keeps the token it has (breaking it helps nobody), but the Cluster says the
    new one cannot be used: not Registered, and a warning; the value is never quoted."""
    observed, before = registered(token_history)
    value = b"not a token!" if case == "invalid" else NEW_TOKEN
    secret = (
        token_secret(observed, value) if case == "invalid" else not_owned(observed, case, value)
    )
    out = with_token(observed, secret)
    assert out.fatal == []
    assert out.resources["argocd-cluster"] == before
    status, reason, message = condition(out, "ArgoCDRegistered")
    reason_wanted = "TokenInvalid" if case == "invalid" else "TokenSecretNotOwned"
    assert (status, reason) == (FALSE, reason_wanted)
    assert "keeps the token it last had" in message
    assert not out.composite_ready
    warnings = [r.message for r in out.results if r.severity == fnv1.SEVERITY_WARNING]
    assert any(f"{NAMESPACE}/{TOKEN_SECRET}" in w for w in warnings), warnings
    leaks.assert_only_in_secrets(out, [value.decode()], allowed=set())


def test_a_call_without_the_token_secret_keeps_the_registration(token_history):
    """Crossplane's first call of a reconcile carries no required resources: not a problem."""
    observed, before = registered(token_history)
    out = render(build(without_role(), observed=observed))
    assert out.resources["argocd-cluster"] == before
    assert condition(out, "ArgoCDRegistered")[:2] == (TRUE, "Registered")


def test_two_clusters_without_a_role_share_no_token_objects():
    """The in-cluster names are fixed (each cluster has its own API server); what lives on
    the platform (Objects, the connection Secret and its requirement) is per Cluster,
    also for a name that ends like another's pieces."""
    owned: list[set[tuple[str, ...]]] = []
    for name in ("dev", "dev-argocd"):
        xr = without_role()
        xr["metadata"]["name"] = name
        history = converge(xr, required=written_required(xr), max_rounds=14)
        final = history[-1]
        assert final.composite_ready
        mine: set[tuple[str, ...]] = set()
        for key in (*MANAGER_KEYS, TOKEN_KEY):
            obj = final.resources[key]
            mine.add(("Object", obj["metadata"]["namespace"], obj["metadata"]["name"]))
            config = obj["spec"]["providerConfigRef"]["name"]
            mine.add(("ProviderConfig", obj["metadata"]["namespace"], config))
        secret = final.resources[TOKEN_KEY]["spec"]["writeConnectionSecretToRef"]["name"]
        mine.add(("Secret", f"cluster-{name}", secret))
        selector = final.requirements["argocd-manager-token"]
        assert ("Secret", selector.namespace, selector.match_name) in mine
        owned.append(mine)
    assert not owned[0] & owned[1]
