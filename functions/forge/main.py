"""The function's command line: the SDK's standard flags and server, with bounded concurrency.

The SDK's server accepts any number of calls at once, and each holds its decoded
request until it is answered: 256 concurrent 3.9 MB calls took RSS to 1.1 GiB.
``--max-concurrent-rpcs`` caps the calls in flight; one more is refused at once with
RESOURCE_EXHAUSTED, and Crossplane retries it. What a call in flight holds is its
request (at most ``--max-recv-message-size`` on the wire, up to about ten times that
decoded when it is mostly free-form values) and, for the few being composed
(``fn.COMPOSE_THREADS``), what the composer builds from it. Measured with 64 concurrent
1.1 MB value-heavy calls: 340 MiB over the idle server uncapped, 220 MiB at 16, 120 MiB
at 4; typical calls (under 200 KB) add a few MiB at most.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

import click
import grpc
from crossplane.function import cli as sdkcli
from crossplane.function import logging, runtime
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from grpc_reflection.v1alpha import reflection

from forge.fn import FunctionRunner

DEFAULT_MAX_CONCURRENT_RPCS = 16
MIB = 1024 * 1024
# How long a thread may hold the GIL while another waits (CPython's default: 5 ms). The
# event loop and a small call's thread each wait that long at every handoff while a
# large call composes: a small call took up to 150 ms longer; at 1 ms, about 20.
SWITCH_INTERVAL_S = 0.001


@click.command()
@sdkcli.standard_options
@click.option(
    "--max-concurrent-rpcs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CONCURRENT_RPCS,
    show_default=True,
    envvar="MAX_CONCURRENT_RPCS",
    help="Calls served at once; more are refused (RESOURCE_EXHAUSTED) and retried by "
    "Crossplane. Bounds the memory calls in flight hold.",
)
def cli(
    *,
    debug: bool,
    address: str,
    tls_certs_dir: str | None,
    insecure: bool,
    max_recv_message_size: int,
    max_send_message_size: int | None,
    max_concurrent_rpcs: int,
) -> None:
    """Serve the Catalyst Forge composition function over gRPC."""
    logging.configure(level=logging.Level.DEBUG if debug else logging.Level.INFO)
    options = [
        ("grpc.max_receive_message_length", max_recv_message_size * MIB),
        ("grpc.max_send_message_length", (max_send_message_size or max_recv_message_size) * MIB),
    ]
    creds = runtime.load_credentials(tls_certs_dir)
    if creds is None and not insecure:
        msg = "no credentials were provided - did you provide credentials or use the insecure flag?"
        raise ValueError(msg)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    asyncio.run(
        serve(
            FunctionRunner(),
            address,
            creds=creds,
            insecure=insecure,
            options=options,
            max_concurrent_rpcs=max_concurrent_rpcs,
        )
    )


async def serve(
    runner: FunctionRunner,
    address: str,
    *,
    creds: grpc.ServerCredentials | None,
    insecure: bool,
    options: Sequence[tuple[str, Any]],
    max_concurrent_rpcs: int,
) -> None:
    """The SDK's ``runtime.serve`` with ``maximum_concurrent_rpcs``; stops on SIGTERM."""
    server = grpc.aio.server(options=options, maximum_concurrent_rpcs=max_concurrent_rpcs)
    grpcv1.add_FunctionRunnerServiceServicer_to_server(runner, server)
    grpcv1beta1.add_FunctionRunnerServiceServicer_to_server(
        runtime.BetaFunctionRunner(wrapped=runner), server
    )
    reflection.enable_server_reflection(runtime.SERVICE_NAMES, server)
    if insecure:
        server.add_insecure_port(address)
    elif creds is not None:
        server.add_secure_port(address, creds)
    grace = runtime.SHUTDOWN_GRACE_PERIOD_SECONDS
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: asyncio.ensure_future(server.stop(grace=grace))
    )
    await server.start()
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=grace)
        runner.pool.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    cli()
