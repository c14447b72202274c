"""Akamai EdgeGrid through signet's MITM path, recomputed by the official edgegrid-python signer
(edgegrid_server.py serves HTTPS)."""

import pytest

from conftest import HERE, PYTHON, free_port

SECRET = "c2lnbmV0LWludGVyb3AtY2xpZW50LXNlY3JldA=="


@pytest.fixture
def server(procs, origin_cert):
    port = free_port()
    procs.start([PYTHON, HERE / "edgegrid_server.py", port, origin_cert.cert, origin_cert.key], port, "edgegrid verifier")
    return port


def config(port, cert, secret=SECRET):
    return f"""
[proxy]
buffer_limit = 1048576

[auth.eg]
type = "edgegrid"
client_token = "akab-client-token-signet-interop"
access_token = "akab-access-token-signet-interop"
client_secret = "{secret}"
headers_to_sign = ["X-Test1", "X-Test2"]

[[host]]
match = ["127.0.0.1:{port}"]
auth = "eg"

  [host.tls]
  ca = "{cert}"
"""


def test_requests_are_signed_as_the_official_signer_signs_them(signet, server, origin_cert, tmp_path):
    s = signet.start(config(server, origin_cert.ca))
    base = f"https://127.0.0.1:{server}"
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 800)  # 204800 bytes: over max_body
    cases = [
        [f"{base}/testapi/v1/t1?p1=1&p2=2"],
        ["-H", "X-Test1: a   b  c", "-H", "X-Test2: t2", "-H", "X-Other: no", f"{base}/h"],
        ["-H", "Content-Type: application/json", "--data", '{"key": "value"}', f"{base}/p"],
        ["-X", "POST", "-H", "Content-Length: 0", f"{base}/p"],
        ["--data-binary", f"@{big}", f"{base}/big"],
        ["-X", "PUT", "--data", "PPPP", f"{base}/u"],
        [f"{base}/c/111;222?from=1"],
    ]
    for args in cases:
        status, body = s.curl(*args)
        assert status == 200 and body.startswith("ok edgegrid"), (args, status, body)


def test_wrong_secret_is_refused(signet, server, origin_cert):
    s = signet.start(config(server, origin_cert.ca, secret="d3Jvbmctc2VjcmV0"))
    status, body = s.curl(f"https://127.0.0.1:{server}/x")
    assert status == 401, body


def test_a_post_larger_than_the_buffer_limit_is_signed_over_its_first_max_body_bytes(
    signet, server, origin_cert, tmp_path
):
    # Only the first max_body bytes are hashed, so a body past buffer_limit (1 MiB here) needs
    # no 413: signet reads max_body bytes, signs, and streams the whole body.
    s = signet.start(config(server, origin_cert.ca))
    huge = tmp_path / "huge.bin"
    huge.write_bytes(bytes(range(256)) * (3 * 4096))  # 3 MiB
    status, body = s.curl("--data-binary", f"@{huge}", f"https://127.0.0.1:{server}/huge")
    assert status == 200 and body.startswith("ok edgegrid"), (status, body)
