"""A gRPC server (grpcio, the reference implementation) on 127.0.0.1 over TLS, for signet's
gRPC interop test: a unary method, /signet.Echo/Say, that answers with the request's bytes
reversed, and a server-streaming one, /signet.Echo/Count, that sends the request's bytes back
three times; both when the call carries `authorization: Bearer <token>` (or no token is expected:
TOKEN `-`), and UNAUTHENTICATED otherwise.
grpcio's HTTP/2 server refuses calls whose headers break the gRPC protocol (`te: trailers`
among them), so an answer proves the call reached it intact.

usage: grpc_server.py PORT CERT KEY TOKEN
"""

import sys
from concurrent import futures

import grpc


def main():
    port, cert, key, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    expected = f"Bearer {token}"

    def check(context):
        metadata = dict(context.invocation_metadata())
        if token != "-" and metadata.get("authorization") != expected:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no bearer token from signet")

    def say(request, context):
        check(context)
        return request[::-1]

    def count(request, context):
        check(context)
        for i in range(3):
            yield request + str(i).encode()

    handler = grpc.method_handlers_generic_handler(
        "signet.Echo",
        {
            "Say": grpc.unary_unary_rpc_method_handler(say),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    with open(cert, "rb") as c, open(key, "rb") as k:
        credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
