"""forge-render follows Crossplane's pipeline rules (proved with in-process test functions).

Each test function is a real gRPC server on a loopback ephemeral port, referenced
by a Development-runtime Function manifest, exactly as crossplane render would
reach a function you run yourself.
"""

from __future__ import annotations

import base64
import copy
import datetime
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
import pytest
from crossplane.function import resource, response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge.render import (
    FatalResultError,
    FunctionServers,
    RenderError,
    render,
    to_yaml_stream,
)
from forge.render.convert import from_struct
from forge.render.runtime import is_own_function, package_repository

Handler = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]

XR: dict[str, Any] = {
    "apiVersion": "example.org/v1alpha1",
    "kind": "XThing",
    "metadata": {"name": "demo", "uid": "1234"},
    "spec": {"size": 3},
}
NAMESPACED_XR: dict[str, Any] = {
    **copy.deepcopy(XR),
    "metadata": {"name": "demo", "namespace": "team-a"},
}


def composition(*steps: tuple[str, str] | dict[str, Any]) -> dict[str, Any]:
    """A Pipeline Composition for XThing; a step is (step, functionRef) or a full dict."""
    pipeline = [
        s if isinstance(s, dict) else {"step": s[0], "functionRef": {"name": s[1]}} for s in steps
    ]
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {"name": "things"},
        "spec": {
            "compositeTypeRef": {"apiVersion": "example.org/v1alpha1", "kind": "XThing"},
            "mode": "Pipeline",
            "pipeline": pipeline,
        },
    }


def config_map(name: str, **data: str) -> dict[str, Any]:
    """A ConfigMap; an empty name leaves metadata.name out (Crossplane then generates one)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name} if name else {},
        "data": data,
    }


def compose(rsp: fnv1.RunFunctionResponse, name: str, obj: dict, *, ready: bool = True) -> None:
    """Add a desired composed resource to a response."""
    resource.update(rsp.desired.resources[name], obj)
    rsp.desired.resources[name].ready = fnv1.READY_TRUE if ready else fnv1.READY_UNSPECIFIED


class FakeFunction(grpcv1.FunctionRunnerServiceServicer):
    """A test function: records each request and answers with its handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[fnv1.RunFunctionRequest] = []

    def RunFunction(  # noqa: N802 - gRPC method name
        self, request: fnv1.RunFunctionRequest, context: grpc.ServicerContext
    ) -> fnv1.RunFunctionResponse:
        self.requests.append(copy.deepcopy(request))
        return self.handler(request)


class Farm:
    """Starts test functions on loopback ports and hands out their Function manifests."""

    def __init__(self) -> None:
        self.servers: list[grpc.Server] = []

    def start(self, name: str, handler: Handler) -> tuple[FakeFunction, dict[str, Any]]:
        fake = FakeFunction(handler)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        grpcv1.add_FunctionRunnerServiceServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.servers.append(server)
        return fake, dev_function(name, f"127.0.0.1:{port}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop(grace=None)


def dev_function(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Function",
        "metadata": {
            "name": name,
            "annotations": {
                "render.crossplane.io/runtime": "Development",
                "render.crossplane.io/runtime-development-target": target,
            },
        },
        "spec": {"package": f"xpkg.example.org/test/{name}:v0.1.0"},
    }


@pytest.fixture
def farm() -> Iterator[Farm]:
    f = Farm()
    yield f
    f.stop()


def passthrough(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    return response.to(req)


# --- steps, desired state, context -------------------------------------------------------


def test_desired_state_and_context_flow_from_step_to_step(farm: Farm) -> None:
    def first(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        compose(
            rsp,
            "alpha",
            config_map("alpha", size=str(int(req.observed.composite.resource["spec"]["size"]))),
        )
        rsp.context.update({"from-first": {"n": 1}})
        resource.update(rsp.desired.composite, {"status": {"phase": "one"}})
        return rsp

    def second(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        compose(rsp, "beta", config_map("beta"), ready=False)
        rsp.context.update({"from-second": True})
        return rsp

    one, f1 = farm.start("fn-one", first)
    two, f2 = farm.start("fn-two", second)
    comp = composition(("first", "fn-one"), ("second", "fn-two"))
    out = render(XR, comp, [f1, f2], context={"seed": "x"})

    assert len(one.requests) == 1 and len(two.requests) == 1
    assert from_struct(one.requests[0].context) == {"seed": "x"}
    assert not one.requests[0].desired.resources
    seen = two.requests[0]
    assert set(seen.desired.resources) == {"alpha"}
    assert from_struct(seen.desired.composite.resource) == {"status": {"phase": "one"}}
    assert from_struct(seen.context) == {"seed": "x", "from-first": {"n": 1}}
    assert from_struct(seen.observed.composite.resource) == XR
    assert seen.meta.tag and fnv1.CAPABILITY_REQUIRED_RESOURCES in seen.meta.capabilities

    assert [
        r["metadata"]["annotations"]["crossplane.io/composition-resource-name"]
        for r in out.resources
    ] == [
        "alpha",
        "beta",
    ]
    assert out.resource("alpha")["data"] == {"size": "3"}
    assert out.ready == {"alpha": True, "beta": False}
    assert out.context == {"seed": "x", "from-first": {"n": 1}, "from-second": True}
    assert out.composite["status"]["phase"] == "one"
    assert out.condition("Ready") == {
        "type": "Ready",
        "status": "False",
        "reason": "Creating",
        "message": "Unready resources: beta",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }


def test_step_input_reaches_the_function(farm: Farm) -> None:
    fake, fn = farm.start("fn", passthrough)
    step = {
        "step": "s",
        "functionRef": {"name": "fn"},
        "input": {"apiVersion": "x/v1", "kind": "In", "n": 2},
    }
    render(XR, composition(step), [fn])
    assert from_struct(fake.requests[0].input) == {"apiVersion": "x/v1", "kind": "In", "n": 2}


def test_composed_metadata_like_crossplane(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        compose(rsp, "generated", config_map(""))
        compose(rsp, "named", config_map("fixed-name"))
        compose(rsp, "existing", config_map(""))
        return rsp

    _, fn = farm.start("fn", handler)
    observed = {
        **config_map("demo-abcde"),
        "metadata": {
            "name": "demo-abcde",
            "generateName": "demo-",
            "annotations": {"crossplane.io/composition-resource-name": "existing"},
        },
    }
    out = render(XR, composition(("s", "fn")), [fn], observed=[observed])
    gen = out.resource("generated")["metadata"]
    assert gen == {
        "generateName": "demo-",
        "annotations": {"crossplane.io/composition-resource-name": "generated"},
        "labels": {"crossplane.io/composite": "demo"},
        "ownerReferences": [
            {
                "apiVersion": "example.org/v1alpha1",
                "kind": "XThing",
                "name": "demo",
                "uid": "1234",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert out.resource("named")["metadata"]["name"] == "fixed-name"
    assert "generateName" not in out.resource("named")["metadata"]
    assert out.resource("existing")["metadata"]["name"] == "demo-abcde"
    assert out.resource("existing")["metadata"]["generateName"] == "demo-"


def test_namespaced_xr_composes_into_its_namespace(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        compose(rsp, "cm", {**config_map("x"), "metadata": {"name": "x", "namespace": "elsewhere"}})
        return rsp

    _, fn = farm.start("fn", handler)
    out = render(NAMESPACED_XR, composition(("s", "fn")), [fn])
    assert out.resource("cm")["metadata"]["namespace"] == "team-a"
    assert out.resource("cm")["metadata"]["ownerReferences"][0]["uid"] == ""
    assert out.composite["metadata"] == {"name": "demo", "namespace": "team-a"}


# --- readiness and conditions -----------------------------------------------------------


def _ready_with(ready: dict[str, int], composite: int = fnv1.READY_UNSPECIFIED) -> Handler:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        for name, value in ready.items():
            resource.update(rsp.desired.resources[name], config_map(name))
            rsp.desired.resources[name].ready = value
        rsp.desired.composite.ready = composite
        return rsp

    return handler


@pytest.mark.parametrize(
    ("ready", "composite", "want"),
    [
        ({"a": fnv1.READY_TRUE}, fnv1.READY_UNSPECIFIED, ("True", "Available", None)),
        ({}, fnv1.READY_UNSPECIFIED, ("True", "Available", None)),
        (
            dict.fromkeys("dcba", fnv1.READY_UNSPECIFIED),
            fnv1.READY_UNSPECIFIED,
            ("False", "Creating", "Unready resources: a, b, c, and 1 more"),
        ),
        (
            {"b": fnv1.READY_FALSE, "a": fnv1.READY_FALSE, "c": fnv1.READY_TRUE},
            fnv1.READY_UNSPECIFIED,
            ("False", "Creating", "Unready resources: a, b"),
        ),
        ({"a": fnv1.READY_FALSE}, fnv1.READY_TRUE, ("True", "Available", None)),
        ({"a": fnv1.READY_TRUE}, fnv1.READY_FALSE, ("False", "Creating", None)),
    ],
)
def test_xr_ready_condition(farm: Farm, ready: dict, composite: int, want: tuple) -> None:
    _, fn = farm.start("fn", _ready_with(ready, composite))
    cond = render(XR, composition(("s", "fn")), [fn]).condition("Ready")
    assert cond is not None
    assert (cond["status"], cond["reason"], cond.get("message")) == want


def test_function_conditions_are_set_but_not_system_ones(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        rsp.conditions.add(type="DatabaseReady", status=fnv1.STATUS_CONDITION_TRUE, reason="Up")
        rsp.conditions.add(type="Ready", status=fnv1.STATUS_CONDITION_FALSE, reason="Nope")
        rsp.conditions.add(
            type="Odd", status=fnv1.STATUS_CONDITION_UNKNOWN, reason="Hm", message="m"
        )
        return rsp

    _, fn = farm.start("fn", handler)
    out = render(XR, composition(("s", "fn")), [fn])
    types = [c["type"] for c in out.composite["status"]["conditions"]]
    assert types == ["Ready", "DatabaseReady", "Odd"]
    assert out.condition("Ready")["reason"] == "Available"
    assert out.condition("DatabaseReady")["status"] == "True"
    assert out.condition("Odd") == {
        "type": "Odd",
        "status": "Unknown",
        "reason": "Hm",
        "message": "m",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }


# --- required resources -----------------------------------------------------------------

ENV_DEFAULT = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "default", "labels": {"tier": "base"}},
    "data": {"domain": "example.org"},
}
ENV_PROD = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "prod", "labels": {"tier": "base", "env": "prod"}},
    "data": {"region": "eu-west-1"},
}
ENV_OTHER = {
    "apiVersion": "apiextensions.crossplane.io/v1beta1",
    "kind": "EnvironmentConfig",
    "metadata": {"name": "other", "labels": {"tier": "other"}},
}
SECRET_IN_NS = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns1"}}
SECRET_OTHER_NS = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s", "namespace": "ns2"},
}


def _names(resources: fnv1.Resources) -> list[str]:
    return [r.resource["metadata"]["name"] for r in resources.items]


def test_required_resources_by_name_and_labels_until_stable(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        reqs = rsp.requirements.resources
        reqs["by-name"].CopyFrom(
            fnv1.ResourceSelector(
                api_version=ENV_DEFAULT["apiVersion"],
                kind="EnvironmentConfig",
                match_name="default",
            )
        )
        reqs["by-labels"].api_version = ENV_DEFAULT["apiVersion"]
        reqs["by-labels"].kind = "EnvironmentConfig"
        reqs["by-labels"].match_labels.labels["tier"] = "base"
        reqs["missing"].CopyFrom(
            fnv1.ResourceSelector(api_version="v1", kind="ConfigMap", match_name="nope")
        )
        reqs["in-ns"].CopyFrom(
            fnv1.ResourceSelector(api_version="v1", kind="Secret", match_name="s", namespace="ns2")
        )
        rsp.requirements.extra_resources["legacy"].CopyFrom(
            fnv1.ResourceSelector(
                api_version=ENV_DEFAULT["apiVersion"], kind="EnvironmentConfig", match_name="prod"
            )
        )
        if "by-name" in req.required_resources:
            rsp.context.update({"calls": len(req.required_resources)})
        return rsp

    fake, fn = farm.start("fn", handler)
    out = render(
        XR,
        composition(("s", "fn")),
        [fn],
        required=[ENV_PROD, SECRET_IN_NS, ENV_OTHER, ENV_DEFAULT, SECRET_OTHER_NS],
    )
    assert len(fake.requests) == 2  # one call, one more with the resources, then stable
    first, second = fake.requests
    assert not first.required_resources and not first.extra_resources
    assert _names(second.required_resources["by-name"]) == ["default"]
    assert _names(second.required_resources["by-labels"]) == ["default", "prod"]
    assert _names(second.required_resources["missing"]) == []
    assert [
        r.resource["metadata"]["namespace"] for r in second.required_resources["in-ns"].items
    ] == ["ns2"]
    assert _names(second.extra_resources["legacy"]) == ["prod"]
    assert from_struct(second.required_resources["by-name"].items[0].resource) == ENV_DEFAULT
    assert second.meta.tag == first.meta.tag
    assert out.context == {"calls": 4}
    assert set(out.requirements["s"]["resources"]) == {"by-name", "by-labels", "missing", "in-ns"}


def test_context_returned_while_resolving_requirements_is_passed_on(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        rsp.context.update({"n": int(req.context["n"]) + 1 if "n" in req.context else 1})
        rsp.requirements.resources["env"].CopyFrom(
            fnv1.ResourceSelector(
                api_version=ENV_DEFAULT["apiVersion"],
                kind="EnvironmentConfig",
                match_name="default",
            )
        )
        return rsp

    fake, fn = farm.start("fn", handler)
    out = render(XR, composition(("s", "fn")), [fn], required=[ENV_DEFAULT])
    assert [from_struct(r.context) for r in fake.requests] == [{}, {"n": 1}]
    assert out.context == {"n": 2}


def test_requirements_that_never_stabilize_fail_after_five_extra_calls(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        n = len(handler.calls)  # type: ignore[attr-defined]
        handler.calls.append(n)  # type: ignore[attr-defined]
        rsp.requirements.resources[f"r{n}"].CopyFrom(
            fnv1.ResourceSelector(api_version="v1", kind="ConfigMap")
        )
        return rsp

    handler.calls = []  # type: ignore[attr-defined]
    fake, fn = farm.start("fn", handler)
    with pytest.raises(RenderError) as err:
        render(XR, composition(("loop", "fn")), [fn])
    assert str(err.value) == (
        'cannot run pipeline step "loop": requirements didn\'t stabilize '
        "after the maximum number of iterations (5)"
    )
    assert len(fake.requests) == 6  # the first call plus 5 extra


def test_bootstrap_requirements_from_the_composition(farm: Farm) -> None:
    fake, fn = farm.start("fn", passthrough)
    step = {
        "step": "s",
        "functionRef": {"name": "fn"},
        "requirements": {
            "requiredResources": [
                {
                    "requirementName": "env",
                    "apiVersion": ENV_DEFAULT["apiVersion"],
                    "kind": "EnvironmentConfig",
                    "name": "prod",
                },
                {
                    "requirementName": "bases",
                    "apiVersion": ENV_DEFAULT["apiVersion"],
                    "kind": "EnvironmentConfig",
                    "matchLabels": {"tier": "base"},
                },
            ]
        },
    }
    render(XR, composition(step), [fn], required=[ENV_DEFAULT, ENV_PROD, ENV_OTHER])
    assert len(fake.requests) == 1
    assert _names(fake.requests[0].required_resources["env"]) == ["prod"]
    assert _names(fake.requests[0].required_resources["bases"]) == ["default", "prod"]

    def asks_more(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        rsp.requirements.resources["other"].CopyFrom(
            fnv1.ResourceSelector(
                api_version=ENV_DEFAULT["apiVersion"], kind="EnvironmentConfig", match_name="other"
            )
        )
        return rsp

    more, fn2 = farm.start("fn2", asks_more)
    step["functionRef"]["name"] = "fn2"
    render(XR, composition(step), [fn2], required=[ENV_DEFAULT, ENV_PROD, ENV_OTHER])
    assert len(more.requests) == 2  # bootstrap resources stay, the requested one is added
    assert sorted(more.requests[1].required_resources) == ["bases", "env", "other"]
    assert _names(more.requests[1].required_resources["env"]) == ["prod"]
    assert _names(more.requests[1].required_resources["other"]) == ["other"]


# --- TTL, results, fatal ----------------------------------------------------------------


def _with_ttl(seconds: int) -> Handler:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        return response.to(req, ttl=datetime.timedelta(seconds=seconds))

    return handler


def test_smallest_nonzero_ttl_wins(farm: Farm) -> None:
    fns = [farm.start(f"fn{i}", _with_ttl(s))[1] for i, s in enumerate((60, 30, 0, 45))]
    comp = composition(*[(f"s{i}", f"fn{i}") for i in range(4)])
    assert render(XR, comp, fns).ttl == 30.0


def test_no_ttl_when_no_step_sets_one(farm: Farm) -> None:
    _, fn = farm.start("fn", lambda req: fnv1.RunFunctionResponse(desired=req.desired))
    assert render(XR, composition(("s", "fn")), [fn]).ttl is None


def test_results_are_collected_and_a_fatal_result_stops_the_pipeline(farm: Farm) -> None:
    def talk(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        response.normal(rsp, "all good")
        response.warning(rsp, "careful")
        return rsp

    def fail(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        response.fatal(rsp, "spec.size: must be positive")
        return rsp

    never, f3 = farm.start("fn-never", passthrough)
    _, f1 = farm.start("fn-talk", talk)
    out = render(XR, composition(("talk", "fn-talk")), [f1])
    assert [(r.step, r.severity, r.message) for r in out.results] == [
        ("talk", "SEVERITY_NORMAL", "all good"),
        ("talk", "SEVERITY_WARNING", "careful"),
    ]

    _, f2 = farm.start("fn-fail", fail)
    comp = composition(("talk", "fn-talk"), ("fail", "fn-fail"), ("never", "fn-never"))
    with pytest.raises(FatalResultError) as err:
        render(XR, comp, [f1, f2, f3])
    assert (
        str(err.value)
        == 'pipeline step "fail" returned a fatal result: spec.size: must be positive'
    )
    assert err.value.step == "fail"
    assert never.requests == []


# --- connection details and credentials -------------------------------------------------


def _secret(name: str, namespace: str, **data: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def test_connection_details_come_from_write_connection_secret_to_ref(farm: Farm) -> None:
    fake, fn = farm.start("fn", passthrough)
    cluster_scoped = {
        "apiVersion": "eks.aws.upbound.io/v1beta1",
        "kind": "ClusterAuth",
        "metadata": {
            "name": "auth",
            "annotations": {"crossplane.io/composition-resource-name": "auth"},
        },
        "spec": {
            "writeConnectionSecretToRef": {"name": "auth-conn", "namespace": "crossplane-system"}
        },
    }
    namespaced = {
        "apiVersion": "eks.aws.m.upbound.io/v1beta1",
        "kind": "ClusterAuth",
        "metadata": {
            "name": "auth2",
            "namespace": "team-a",
            "annotations": {"crossplane.io/composition-resource-name": "auth2"},
        },
        "spec": {"writeConnectionSecretToRef": {"name": "auth2-conn", "namespace": "ignored"}},
    }
    missing = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "m",
            "annotations": {"crossplane.io/composition-resource-name": "missing"},
        },
        "spec": {"writeConnectionSecretToRef": {"name": "nowhere", "namespace": "x"}},
    }
    observed = [
        cluster_scoped,
        namespaced,
        missing,
        _secret("auth-conn", "crossplane-system", kubeconfig=b"KUBE"),
    ]
    required = [
        _secret("auth2-conn", "team-a", token=b"\x00tok"),
        _secret("auth2-conn", "ignored", token=b"wrong"),
    ]
    render(XR, composition(("s", "fn")), [fn], observed=observed, required=required)

    seen = fake.requests[0].observed.resources
    assert set(seen) == {"auth", "auth2", "missing"}  # the Secret is only a source of details
    assert dict(seen["auth"].connection_details) == {"kubeconfig": b"KUBE"}
    assert dict(seen["auth2"].connection_details) == {"token": b"\x00tok"}
    assert dict(seen["missing"].connection_details) == {}


def test_observed_resource_without_name_annotation_is_refused(farm: Farm) -> None:
    _, fn = farm.start("fn", passthrough)
    with pytest.raises(RenderError, match="composition-resource-name"):
        render(XR, composition(("s", "fn")), [fn], observed=[config_map("anonymous")])


def test_step_credentials_come_from_function_credentials(farm: Farm) -> None:
    fake, fn = farm.start("fn", passthrough)
    step = {
        "step": "s",
        "functionRef": {"name": "fn"},
        "credentials": [
            {
                "name": "aws",
                "source": "Secret",
                "secretRef": {"namespace": "crossplane-system", "name": "aws"},
            },
            {"name": "skipped", "source": "None"},
        ],
    }
    creds = [_secret("aws", "crossplane-system", key=b"AKIA")]
    render(XR, composition(step), [fn], credentials=creds)
    assert dict(fake.requests[0].credentials["aws"].credential_data.data) == {"key": b"AKIA"}
    assert "skipped" not in fake.requests[0].credentials
    with pytest.raises(RenderError, match='cannot get credentials from secret "aws"'):
        render(XR, composition(step), [fn])


# --- runtimes ---------------------------------------------------------------------------


def test_docker_runtime_function_is_a_clear_error() -> None:
    docker_fn = {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Function",
        "metadata": {"name": "function-patch-and-transform"},
        "spec": {
            "package": "xpkg.crossplane.io/crossplane-contrib/function-patch-and-transform:v0.8.2"
        },
    }
    with pytest.raises(RenderError) as err:
        render(XR, composition(("s", "function-patch-and-transform")), [docker_fn])
    assert str(err.value) == (
        'function "function-patch-and-transform": cannot run locally: only Development-runtime '
        "functions and function-forge are supported by forge-render "
        "(use crossplane composition render with Docker for this one)"
    )


def test_unknown_function_name(farm: Farm) -> None:
    _, fn = farm.start("fn", passthrough)
    with pytest.raises(
        RenderError, match='unknown Function "other" - does it exist in your Functions file'
    ):
        render(XR, composition(("s", "other")), [fn])


def test_own_function_is_recognised_by_name_or_package() -> None:
    assert (
        package_repository("xpkg.upbound.io/org/function-forge:v1.2.3")
        == "xpkg.upbound.io/org/function-forge"
    )
    assert (
        package_repository("localhost:5000/function-forge@sha256:abc")
        == "localhost:5000/function-forge"
    )
    assert is_own_function({"metadata": {"name": "function-forge"}, "spec": {"package": "x/y:v1"}})
    assert is_own_function(
        {"metadata": {"name": "forge"}, "spec": {"package": "ghcr.io/o/function-forge:v0.1"}}
    )
    assert not is_own_function(
        {"metadata": {"name": "f"}, "spec": {"package": "ghcr.io/o/function-forger:v1"}}
    )


FAKE_FORGE_MAIN = textwrap.dedent(
    """
    import argparse, os
    from concurrent import futures
    import grpc
    from crossplane.function import resource, response
    from crossplane.function.proto.v1 import run_function_pb2 as fnv1
    from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
    import forge  # importable: forge-render put this checkout's functions/ on PYTHONPATH

    class Fn(grpcv1.FunctionRunnerServiceServicer):
        def RunFunction(self, req, context):
            rsp = response.to(req)
            resource.update(rsp.desired.resources["cm"], {"apiVersion": "v1", "kind": "ConfigMap"})
            rsp.desired.resources["cm"].ready = fnv1.READY_TRUE
            rsp.context.update({"pid": os.getpid()})
            return rsp

    p = argparse.ArgumentParser()
    p.add_argument("--insecure", action="store_true")
    p.add_argument("--address")
    args = p.parse_args()
    assert args.insecure
    if os.environ.get("FAKE_PID_FILE"):
        with open(os.environ["FAKE_PID_FILE"], "w") as f:
            f.write(str(os.getpid()))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    grpcv1.add_FunctionRunnerServiceServicer_to_server(Fn(), server)
    server.add_insecure_port(args.address)
    server.start()
    server.wait_for_termination()
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_own_function_subprocess_is_started_once_reused_and_stopped(tmp_path) -> None:
    script = tmp_path / "fake_forge_main.py"
    script.write_text(FAKE_FORGE_MAIN)
    with FunctionServers(
        None, own_command=[sys.executable, str(script)], startup_timeout=30
    ) as servers:
        comp = composition(("compose", "function-forge"))
        first = render(XR, comp, servers=servers)
        second = render(NAMESPACED_XR, comp, servers=servers)
        pid = first.context["pid"]
        assert second.context["pid"] == pid  # one process for every render
        assert servers.target("function-forge").startswith("127.0.0.1:")
        assert first.ready == {"cm": True}
        with pytest.raises(RenderError, match='unknown Function "function-other"'):
            render(XR, composition(("s", "function-other")), servers=servers)
        assert _alive(pid)
    assert not _alive(pid)


def test_own_function_is_stopped_when_a_render_fails(tmp_path) -> None:
    script = tmp_path / "fake_forge_main.py"
    script.write_text(FAKE_FORGE_MAIN)
    bad = composition(("compose", "function-forge"), ("then", "function-forge"))
    bad["spec"]["pipeline"][1]["input"] = ["not", "an", "object"]
    servers = FunctionServers(None, own_command=[sys.executable, str(script)])
    message = 'cannot unmarshal input for Composition pipeline step "then"'
    with pytest.raises(RenderError, match=message), servers:
        pid = render(XR, composition(("compose", "function-forge")), servers=servers).context["pid"]
        render(XR, bad, servers=servers)
    assert not _alive(pid)


def test_own_function_that_dies_is_reported_and_cleaned_up(tmp_path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('boom: no composer')\nsys.exit(3)\n")
    with pytest.raises(RenderError, match=r"exited with code 3: boom: no composer"):
        FunctionServers(None, own_command=[sys.executable, str(script)]).start()


def test_functions_file_entry_for_function_forge_uses_our_process(tmp_path, farm: Farm) -> None:
    script = tmp_path / "fake_forge_main.py"
    script.write_text(FAKE_FORGE_MAIN)
    _, other = farm.start("fn-other", passthrough)
    ours = {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Function",
        "metadata": {
            "name": "catalyst-function-forge",
            "annotations": {  # ignored for ours: always started from this checkout
                "render.crossplane.io/runtime": "Development",
                "render.crossplane.io/runtime-development-target": "127.0.0.1:1",
            },
        },
        "spec": {"package": "ghcr.io/input-output-hk/function-forge:v0.1.0"},
    }
    comp = composition(("compose", "catalyst-function-forge"), ("after", "fn-other"))
    with FunctionServers([ours, other], own_command=[sys.executable, str(script)]) as servers:
        out = render(XR, comp, servers=servers)
    assert out.ready == {"cm": True}


@pytest.mark.skipif(
    not os.environ.get("FORGE_RENDER_REAL_FUNCTION"),
    reason="set FORGE_RENDER_REAL_FUNCTION=1 to start the real forge.main",
)
def test_real_function_forge_starts() -> None:
    with FunctionServers(None) as servers:
        assert servers.target("function-forge").startswith("127.0.0.1:")


# --- composition checks and output ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["spec"].update(mode="Resources"), "must use spec.mode: Pipeline"),
        (
            lambda c: c["spec"]["compositeTypeRef"].update(kind="XOther"),
            "compositeTypeRef.kind (XOther)",
        ),
        (
            lambda c: c.update(apiVersion="apiextensions.crossplane.io/v2"),
            "not a composition: Composition/things",
        ),
    ],
)
def test_composition_is_checked_like_crossplane_render(change: Callable, message: str) -> None:
    comp = composition(("s", "fn"))
    change(comp)
    with pytest.raises(RenderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(XR, comp, [])


def test_yaml_stream_shape_and_determinism(farm: Farm) -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        compose(rsp, "zeta", config_map("z", flag="true"))
        compose(
            rsp,
            "alpha",
            {**config_map(""), "data": {"n": "1", "text": "two\nlines\n"}},
            ready=False,
        )
        resource.update(
            rsp.desired.composite, {"status": {"replicas": 3, "ratio": 0.5, "empty": ""}}
        )
        response.warning(rsp, "heads up")
        rsp.context.update({"k": "v"})
        return rsp

    _, fn = farm.start("fn", handler)
    comp = composition(("s", "fn"))

    def once() -> str:
        return to_yaml_stream(
            render(XR, comp, [fn]), include_full_xr=True, include_results=True, include_context=True
        )

    text = once()
    assert text == once()
    assert text == textwrap.dedent(
        """\
        ---
        apiVersion: example.org/v1alpha1
        kind: XThing
        metadata:
          name: demo
          uid: "1234"
        spec:
          size: 3
        status:
          conditions:
          - lastTransitionTime: "2024-01-01T00:00:00Z"
            message: 'Unready resources: alpha'
            reason: Creating
            status: "False"
            type: Ready
          empty: ""
          ratio: 0.5
          replicas: 3
        ---
        apiVersion: v1
        data:
          n: "1"
          text: |
            two
            lines
        kind: ConfigMap
        metadata:
          annotations:
            crossplane.io/composition-resource-name: alpha
          generateName: demo-
          labels:
            crossplane.io/composite: demo
          ownerReferences:
          - apiVersion: example.org/v1alpha1
            blockOwnerDeletion: true
            controller: true
            kind: XThing
            name: demo
            uid: "1234"
        ---
        apiVersion: v1
        data:
          flag: "true"
        kind: ConfigMap
        metadata:
          annotations:
            crossplane.io/composition-resource-name: zeta
          labels:
            crossplane.io/composite: demo
          name: z
          ownerReferences:
          - apiVersion: example.org/v1alpha1
            blockOwnerDeletion: true
            controller: true
            kind: XThing
            name: demo
            uid: "1234"
        ---
        apiVersion: render.crossplane.io/v1beta1
        kind: Result
        message: heads up
        severity: SEVERITY_WARNING
        step: s
        ---
        apiVersion: render.crossplane.io/v1beta1
        fields:
          k: v
        kind: Context
        """
    )
    short = to_yaml_stream(render(XR, comp, [fn]))
    assert short.startswith(
        "---\napiVersion: example.org/v1alpha1\nkind: XThing\nmetadata:\n  name: demo\nstatus:\n"
    )
    assert "kind: Result" not in short and "kind: Context" not in short
