"""The floor: a function on the same SDK and runtime that does nothing.

``response.to(req)`` and return, served by ``crossplane.function.cli`` like
function-forge, so the difference between the two is what our composers cost.
"""

from __future__ import annotations

import click
import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import cli as sdkcli
from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1


class FloorRunner(grpcv1.FunctionRunnerServiceServicer):
    """Answers every request with its desired state unchanged."""

    async def RunFunction(  # noqa: N802 - gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """The least a function can do."""
        return response.to(req)


@click.command()
@sdkcli.standard_options
def cli(**kwargs) -> None:
    """Serve the floor function over gRPC."""
    sdkcli.run(FloorRunner(), **kwargs)


if __name__ == "__main__":
    cli()
