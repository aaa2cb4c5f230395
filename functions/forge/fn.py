"""The gRPC servicer: dispatch each request to the composer of its XR kind."""

from __future__ import annotations

import asyncio
import datetime
import traceback
from concurrent.futures import ThreadPoolExecutor

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge import tenancy
from forge.core import xr_names
from forge.core.context import Context
from forge.core.errors import ConflictError, PendingRequirementError, SpecError
from forge.core.observed import field
from forge.input import InputError
from forge.registry import COMPOSERS, NAMESPACED

# Threads that compose at once. Python runs one at a time (the GIL), but each gets
# its turn every few milliseconds, so a small call is not held up by a large one.
COMPOSE_THREADS = 4


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """Runs the composer for the observed XR's kind; never raises.

    Composing is CPU work: it runs on a small pool of threads, never on the event
    loop, so one slow call cannot keep the server from starting the others.
    """

    def __init__(self, threads: int = COMPOSE_THREADS) -> None:
        self.log = logging.get_logger()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="compose")

    async def RunFunction(  # noqa: N802 - gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Compose the XR; turn every failure into a fatal result."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, run, req, self.log)


def run(req: fnv1.RunFunctionRequest, log) -> fnv1.RunFunctionResponse:
    """Compose one request. Desired state we did not write passes through untouched."""
    rsp = _compose(req, log)
    if _carries_secrets(rsp):
        # Crossplane's response cache writes responses to disk for their TTL: secret
        # material must live only in Secrets, so such a response is not cacheable.
        rsp.meta.ttl.FromTimedelta(datetime.timedelta(0))
    return rsp


def _carries_secrets(rsp: fnv1.RunFunctionResponse) -> bool:
    """Whether desired state holds a Secret or connection details (ours or an earlier step's)."""
    desired = rsp.desired
    if desired.composite.connection_details:
        return True
    return any(
        r.connection_details or field(r.resource, "kind") == "Secret"
        for r in desired.resources.values()
    )


def _compose(req: fnv1.RunFunctionRequest, log) -> fnv1.RunFunctionResponse:
    rsp = response.to(req)
    xr = req.observed.composite.resource
    api_version = field(xr, "apiVersion")
    kind = field(xr, "kind")
    group = api_version.partition("/")[0] if isinstance(api_version, str) else None
    composer = COMPOSERS.get((group, kind)) if isinstance(kind, str) else None
    if composer is None:
        response.fatal(rsp, f"unsupported composite resource kind: {xr_names.describe_kind(xr)}")
        return rsp
    try:  # the kind is one of ours; the name is quoted only once it is a valid one
        name = xr_names.name(xr)
        xr_names.namespace(xr, kind in NAMESPACED)
    except SpecError as exc:
        response.fatal(rsp, f"invalid {kind}: {exc}")
        return rsp
    log = log.bind(kind=kind, xr=name, tag=xr_names.tag(req.meta.tag))
    try:  # the step input is the Composition's, checked before any composer reads it
        ctx = Context(req, rsp)
    except InputError as exc:
        response.fatal(rsp, f"invalid step input from the Composition: {exc}")
        log.info("invalid step input", field=exc.path)
        return rsp
    try:
        composer(ctx)
        tenancy.check(ctx, kind)
        ctx.finish()
    except PendingRequirementError:
        _pass_through(rsp, req)
    except ConflictError as exc:
        where = f"{ctx.namespace}/{name}" if ctx.namespace else name
        _fail(rsp, req, f"refused {kind} {where}: {exc}")
        log.info("composite resource refused", conflict=True)
    except SpecError as exc:
        if _awaiting_requirements(req, rsp):
            # Crossplane stops at a fatal result, so judging a spec before the
            # EnvironmentConfigs that may complete it have arrived would be final.
            _pass_through(rsp, req)
            return rsp
        _fail(rsp, req, f"invalid {kind} {name!r}: {exc}{ctx.environment_note(str(exc))}")
        log.info("invalid composite resource", field=exc.path)
    except Exception as exc:
        _fail(rsp, req, f"internal error composing {kind} {name!r}: {type(exc).__name__}")
        # Frames only: an exception's message may quote input values, secrets included.
        frames = traceback.format_list(traceback.extract_tb(exc.__traceback__))
        log.debug("composer failed", error=type(exc).__name__, traceback="".join(frames))
    return rsp


def _awaiting_requirements(req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse) -> bool:
    """Whether the response asks for required resources the request does not carry yet."""
    return any(name not in req.required_resources for name in rsp.requirements.resources)


def _pass_through(rsp: fnv1.RunFunctionResponse, req: fnv1.RunFunctionRequest) -> None:
    """Nothing new this call: desired state as it came, the requirements asked for."""
    rsp.desired.CopyFrom(req.desired)
    del rsp.conditions[:]


def _fail(rsp: fnv1.RunFunctionResponse, req: fnv1.RunFunctionRequest, message: str) -> None:
    """A fatal result with nothing half-composed: desired state reverts to the input."""
    rsp.desired.CopyFrom(req.desired)
    del rsp.conditions[:]
    response.fatal(rsp, message)
