"""gRPC through signet's MITM with grpcio on both sides: the client reaches signet as its HTTP
proxy (CONNECT), signet terminates TLS with its own CA, adds the bearer token and forwards the
call over HTTP/2 with its `te: trailers`, and the answer's trailers (grpc-status) come back."""

import grpc
import pytest

from conftest import HERE, PYTHON, free_port

TOKEN = "grpc-secret"


@pytest.fixture
def grpc_server(procs, origin_cert):
    port = free_port()
    procs.start(
        [PYTHON, HERE / "grpc_server.py", port, origin_cert.cert, origin_cert.key, TOKEN],
        port,
        "grpcio server",
    )
    return port


def call(signet, port, payload):
    root = signet.ca.read_bytes()
    options = [("grpc.http_proxy", signet.proxy), ("grpc.enable_http_proxy", 1)]
    with grpc.secure_channel(
        f"localhost:{port}", grpc.ssl_channel_credentials(root_certificates=root), options
    ) as channel:
        say = channel.unary_unary("/signet.Echo/Say")
        return say(payload, timeout=20)


def test_a_grpc_call_is_signed_and_answered_with_its_trailers(signet, grpc_server, origin_cert):
    signet.start(
        f"""
[[host]]
match = ["localhost:{grpc_server}"]
auth = {{ type = "bearer", token = "{TOKEN}" }}

  [host.tls]
  ca = "{origin_cert.ca}"
"""
    )
    assert call(signet, grpc_server, b"signet") == b"tengis"


def test_without_signet_the_server_refuses_the_call(signet, grpc_server, origin_cert):
    signet.start(
        f"""
[[host]]
match = ["localhost:{grpc_server}"]
auth = "none"

  [host.tls]
  ca = "{origin_cert.ca}"
"""
    )
    with pytest.raises(grpc.RpcError) as refused:
        call(signet, grpc_server, b"x")
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
