"""Crossplane's side of a function call over mTLS, for an engine that dials plaintext.

Crossplane's render engine (``crossplane internal render``) dials every function with
insecure credentials (crossplane v2.3.4 internal/render/runner.go:57-58), while
Crossplane's package runtime dials a Function's Service with the client certificate it
mounts at ``/tls/client``. This forwards every unary call it receives in plaintext to
``--upstream`` over TLS, presenting ``--cert``/``--key`` and checking the server against
``--ca`` under ``--server-name``: the engine renders through a function served the way
Crossplane reaches it. Run as a script (FunctionServers' own command; it appends
``--insecure --address HOST:PORT``).
"""

from __future__ import annotations

import argparse
from concurrent import futures
from pathlib import Path

import grpc

MAX_MESSAGE = 64 * 1024 * 1024
OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE)]


class Forward(grpc.GenericRpcHandler):
    """Every method, unary-unary, as raw bytes to the upstream channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        call = self.channel.unary_unary(details.method)

        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                return call(request, timeout=context.time_remaining())
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details())
                raise  # unreachable: abort raises

        return grpc.unary_unary_rpc_method_handler(forward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--insecure", action="store_true", help="accepted; always plaintext")
    args = parser.parse_args()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=args.ca.read_bytes(),
        private_key=args.key.read_bytes(),
        certificate_chain=args.cert.read_bytes(),
    )
    channel = grpc.secure_channel(
        args.upstream,
        credentials,
        options=[*OPTIONS, ("grpc.ssl_target_name_override", args.server_name)],
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=OPTIONS)
    server.add_generic_rpc_handlers([Forward(channel)])
    server.add_insecure_port(args.address)
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
