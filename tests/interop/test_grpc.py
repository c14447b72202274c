"""gRPC through signet with grpcio on both sides: the client reaches signet as its HTTP proxy
(CONNECT). For a ruled host signet terminates TLS with its own CA, adds the bearer token and
forwards the call over HTTP/2 with its `te: trailers`, and the answer's trailers (grpc-status)
come back, for unary and server-streaming calls; an unruled host's tunnel passes untouched."""

import grpc
import pytest

from conftest import HERE, PYTHON, free_port

TOKEN = "grpc-secret"


def start_server(procs, origin_cert, token):
    port = free_port()
    procs.start(
        [PYTHON, HERE / "grpc_server.py", port, origin_cert.cert, origin_cert.key, token],
        port,
        "grpcio server",
    )
    return port


@pytest.fixture
def grpc_server(procs, origin_cert):
    return start_server(procs, origin_cert, TOKEN)


def channel(signet, port, root):
    options = [("grpc.http_proxy", signet.proxy), ("grpc.enable_http_proxy", 1)]
    credentials = grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.secure_channel(f"localhost:{port}", credentials, options)


def call(signet, port, payload, root=None):
    with channel(signet, port, root or signet.ca.read_bytes()) as ch:
        return ch.unary_unary("/signet.Echo/Say")(payload, timeout=20)


def stream(signet, port, payload):
    with channel(signet, port, signet.ca.read_bytes()) as ch:
        return list(ch.unary_stream("/signet.Echo/Count")(payload, timeout=20))


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
    assert stream(signet, grpc_server, b"n") == [b"n0", b"n1", b"n2"]


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


def test_a_grpc_call_to_an_unruled_host_goes_through_the_tunnel_untouched(procs, signet, origin_cert):
    port = start_server(procs, origin_cert, "-")
    signet.start("")
    # No rule: signet tunnels, so the client sees the origin's own certificate.
    assert call(signet, port, b"abc", root=origin_cert.ca.read_bytes()) == b"cba"
