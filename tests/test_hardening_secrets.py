"""Secret inputs never leak: only composed v1 Secrets may carry them.

A sentinel is written into every secret input of every fully provisioned scenario:
connection details of observed resources (kubeconfigs, endpoints, CAs, tokens), the
data of required Secrets (such as vCluster's ``vc-<name>`` and the argocd-manager token's
connection Secret ``<name>-argocd-manager``), and the step credentials. Inside
kubeconfigs it goes into every credential field (token, client key and certificate,
CA), inside PEM and YAML as a leading comment line, elsewhere as a prefix. The
sentinel sits at the start of each value and its length is a multiple of 3, so its
base64 (once and twice) is a prefix of the encoded value: an encoded copy is found too.

It must not appear in any other composed resource (Objects included), the XR status,
conditions, results or context, nor in the logs of the real server run with --debug,
also when the inputs are corrupt (unparseable kubeconfig, broken PEM, bad base64).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
import pytest
import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge_dev.server import FORGE, ServerProcess
from forge_dev.simulate import scenarios
from forge_dev.simulate.requests import Rendered, render
from tests.support import leaks

MARK = "forge-sentinel-leak-0001"  # 24 characters
HEADER = f"# {MARK}\n"  # 27: a comment line for PEM and YAML
TOKEN = f"{MARK}tok"  # 27: a prefix for opaque values
NEEDLES = [HEADER, TOKEN]
SCENARIOS = scenarios.for_tests()
Inject = Callable[[str], str]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def sentinel(text: str) -> str:
    """The value with the sentinel in front, in a form its format still accepts."""
    config = _kubeconfig(text)
    if config is not None:
        return HEADER + yaml.safe_dump(config, sort_keys=False)
    if "-----BEGIN" in text or "\n" in text:
        return HEADER + text
    return TOKEN + text


def corrupt(text: str) -> str:
    """A broken value carrying the sentinel: not YAML, not PEM, not base64."""
    return f"{TOKEN}: {{{{ [unclosed -----BEGIN CERTIFICATE-----\n%%%{text[:40]}"


def _kubeconfig(text: str) -> dict[str, Any] | None:
    """The kubeconfig with the sentinel in every credential field, or None if it is not one."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(config, dict) or not ({"clusters", "users"} & set(config)):
        return None
    for entry in config.get("clusters") or []:
        _fields(entry.get("cluster") or {}, {"certificate-authority-data"})
    for entry in config.get("users") or []:
        user = entry.get("user") or {}
        _fields(user, {"client-certificate-data", "client-key-data"})
        for name in ("token", "password"):
            if name in user:
                user[name] = TOKEN + str(user[name] or "")
    return config


def _fields(obj: dict[str, Any], data_fields: set[str]) -> None:
    for name in data_fields & set(obj):
        decoded = unb64(str(obj[name]))
        obj[name] = b64(sentinel(decoded)) if decoded is not None else TOKEN + str(obj[name])


def secret_inputs(req: fnv1.RunFunctionRequest, change: Inject) -> int:
    """Apply ``change`` to every secret input of a request; return how many there were."""
    count = 0
    for observed in req.observed.resources.values():
        for name, value in list(observed.connection_details.items()):
            observed.connection_details[name] = change(value.decode(errors="replace")).encode()
            count += 1
    for requirement in req.required_resources.values():
        for item in requirement.items:
            obj = resource.struct_to_dict(item.resource)
            if obj.get("apiVersion") != "v1" or obj.get("kind") != "Secret":
                continue
            for key, value in (obj.get("data") or {}).items():
                decoded = unb64(str(value))
                obj["data"][key] = b64(change(decoded if decoded is not None else str(value)))
                count += 1
            for key, value in (obj.get("stringData") or {}).items():
                obj["stringData"][key] = change(str(value))
                count += 1
            item.resource.Clear()
            item.resource.update(obj)
    req.credentials["forge"].credential_data.data["token"] = change("step-credential").encode()
    return count + 1


def injected(scenario: scenarios.Scenario, change: Inject = sentinel) -> fnv1.RunFunctionRequest:
    """The scenario's request with ``change`` applied to every secret input."""
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(scenario.request)
    secret_inputs(req, change)
    return req


def assert_no_leak(out: Rendered) -> None:
    leaks.assert_only_in_secrets(out, NEEDLES)


def secrets_holding_it(out: Rendered) -> list[str]:
    """Composed v1 Secrets that carry the sentinel (in any encoding, also inside a data
    value: Argo CD's ``config`` is base64 of JSON that holds it at any offset)."""
    needles = [f for n in NEEDLES for f in leaks.forms(n)]

    def holds(secret: dict[str, Any]) -> bool:
        values = [str(secret)]
        values += [unb64(str(v)) or "" for v in (secret.get("data") or {}).values()]
        return any(n in value for n in needles for value in values)

    return [key for key, m in out.resources.items() if m.get("kind") == "Secret" and holds(m)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sentinel_reaches_only_secrets(scenario):
    out = render(injected(scenario))
    assert not out.fatal, out.fatal
    assert out.composite_ready, "the sentinel must not change what is composed"
    assert_no_leak(out)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_corrupt_secret_inputs_answer_without_leaking(scenario):
    out = render(injected(scenario, corrupt))
    assert len(out.fatal) <= 1
    assert_no_leak(out)


@pytest.mark.parametrize("name", ["cluster-vcluster", "cluster-aws-token"])
def test_sentinel_is_followed_into_the_argocd_secret(name):
    """The check can see a copy: vCluster's client key, and the argocd-manager token an EKS
    cluster without an Argo CD role hands back, do land in Argo CD's Secret (only)."""
    scenario = next(s for s in SCENARIOS if s.name == name)
    assert secrets_holding_it(render(injected(scenario))) == ["argocd-cluster"], (
        "sentinel lost: the check is blind"
    )


@pytest.fixture(scope="module")
def debug_server() -> Iterator[ServerProcess]:
    with ServerProcess(FORGE, "--insecure", "--debug") as server:
        server.wait_listening()
        yield server


def test_debug_logs_never_carry_secret_inputs(debug_server):
    requests = []
    for scenario in SCENARIOS:
        for change in (sentinel, corrupt):
            req = injected(scenario, change)
            broken = fnv1.RunFunctionRequest()
            broken.CopyFrom(req)
            broken.observed.composite.resource["spec"]["bogusField"] = True
            requests += [req, broken]
    with grpc.insecure_channel(debug_server.address) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        for req in requests:
            stub.RunFunction(req, timeout=30)
    logs = debug_server.output()
    assert "invalid composite resource" in logs, "debug server logged nothing: check is blind"
    for needle in (f for n in NEEDLES for f in leaks.forms(n)):
        assert needle not in logs, "secret material in the server's debug logs"


def test_an_unsanitized_object_status_is_never_copied():
    """provider-kubernetes without --sanitize-secrets reports the data of the token Secret
    it applied in the Object's ``status.atProvider.manifest``: the function reads nothing
    from there, so that copy reaches no composed resource (not even Argo CD's Secret)."""
    scenario = next(s for s in SCENARIOS if s.name == "cluster-aws-token")
    req = fnv1.RunFunctionRequest()
    req.CopyFrom(scenario.request)
    observed = req.observed.resources["argocd-manager-token"].resource
    manifest = resource.struct_to_dict(observed)
    inner = manifest["status"]["atProvider"]["manifest"]
    inner["data"] = {"token": b64(TOKEN + "eyJhbGciOi"), "ca.crt": b64(HEADER + "CA")}
    observed.Clear()
    observed.update(manifest)
    out = render(req)
    assert out.composite_ready
    leaks.assert_only_in_secrets(out, NEEDLES, allowed=set())
