"""The real server under a slow call and a flood: others are served, memory is bounded.

Each server listens on 127.0.0.1 only; every loop is bounded in time or count.
"""

from __future__ import annotations

import asyncio

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from forge_dev.server import FORGE, ServerProcess
from forge_dev.simulate import hostile

MIB = 1024 * 1024
# The goal is 100 ms added (bench/run.py measures it); a shared CI machine gets room.
ADDED_LATENCY_LIMIT_MS = 250


def test_small_calls_are_not_stalled_by_a_large_one():
    """A 1 MB call composed on the event loop held every other call for its whole length."""
    with ServerProcess(FORGE, "--insecure") as server:
        server.wait_listening()
        figures = hostile.stall(server.address, 100, hostile.large_call(keys=30_000))  # 3 MB
    assert figures["large_call_ms"] > 2 * ADDED_LATENCY_LIMIT_MS, "the large call is not slow"
    assert figures["added_ms"] < ADDED_LATENCY_LIMIT_MS, figures


async def _flood(address: str, req: fnv1.RunFunctionRequest, calls: int) -> list[grpc.StatusCode]:
    """``calls`` concurrent calls; the status of each."""
    options = [("grpc.max_send_message_length", 8 * MIB)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)

        async def one() -> grpc.StatusCode:
            try:
                await stub.RunFunction(req, timeout=60)
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

        return await asyncio.gather(*(one() for _ in range(calls)))


CALLS = 64
GROWTH_LIMIT_MIB = 200
HOSTILE_NAMES = 100


def test_calls_beyond_the_cap_are_refused_and_memory_stays_bounded():
    """256 concurrent 3.9 MB calls took RSS to 1.1 GiB; now at most the cap is in flight."""
    req = hostile.large_call()  # 1 MB, slow enough that the calls overlap
    cap = 4
    with ServerProcess(FORGE, "--insecure", "--max-concurrent-rpcs", str(cap)) as server:
        server.wait_listening()
        idle = server.rss_kib() / 1024
        codes = asyncio.run(_flood(server.address, req, CALLS))
        grown = server.rss_kib() / 1024 - idle
        assert server.alive()
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert codes.count(grpc.StatusCode.OK) >= cap
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
        # Uncapped, the 64 calls took about 340 MiB more; capped at 4, about 120.
        assert grown < GROWTH_LIMIT_MIB, (idle, grown)
        with grpc.insecure_channel(server.address) as channel:
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            assert not [
                r
                for r in stub.RunFunction(hostile.small_call(), timeout=30).results
                if r.severity == fnv1.SEVERITY_FATAL
            ]


def test_rss_stays_flat_under_hostile_names():
    """300 calls with 3.9 MB names took RSS from 57 to 1,223 MiB and kept it."""
    with ServerProcess(FORGE, "--insecure") as server:
        server.wait_listening()
        with grpc.insecure_channel(server.address) as channel:
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            for salt in range(HOSTILE_NAMES // 2):  # gRPC and malloc keep some buffers
                stub.RunFunction(hostile.hostile_name(int(3.9 * MIB), -salt), timeout=30)
            before = server.rss_kib() / 1024
            for salt in range(HOSTILE_NAMES):
                rsp = stub.RunFunction(hostile.hostile_name(int(3.9 * MIB), salt), timeout=30)
                assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
            grown = server.rss_kib() / 1024 - before
    # Keeping each name would grow RSS by 3.9 MiB a call (390 MiB here). What malloc and
    # gRPC keep varies by some 20 MiB from run to run on a busy machine, so the bound says
    # "not retained", not a figure: `make bench` prints the figure (hostile.names_rss).
    assert grown < 100, f"RSS grew {grown:.0f} MiB over {HOSTILE_NAMES} hostile names"
