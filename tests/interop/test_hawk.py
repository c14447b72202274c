"""Hawk through signet, verified by mohawk's Receiver (hawk_server.py)."""

import pytest

from conftest import HERE, PYTHON, free_port


@pytest.fixture
def server(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "hawk_server.py", port], port, "mohawk verifier")
    return port


def config(port, auth):
    return f"""
[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "hawk", {auth} }}
"""


SHA256 = 'auth_id = "signet-hawk", auth_key = "hawk-secret-256"'
SHA1 = 'auth_id = "signet-hawk-sha1", auth_key = "hawk-secret-1", algorithm = "sha1"'


def test_sha256_get(signet, server):
    s = signet.start(config(server, SHA256))
    status, body = s.curl(f"http://127.0.0.1:{server}/a?b=1&a=2")
    assert status == 200 and "hash=no" in body, body
    # A second request gets a fresh nonce (mohawk refuses replays).
    assert s.curl(f"http://127.0.0.1:{server}/a?b=1&a=2")[0] == 200


def test_sha1_with_payload_hash_ext_app_dlg(signet, server):
    auth = SHA1 + ', include_payload_hash = true, ext = "e1", app = "app1", dlg = "dlg1", user = "postman-user"'
    s = signet.start(config(server, auth))
    status, body = s.curl("-H", "Content-Type: application/json; charset=utf-8", "-d", '{"k":"v"}', f"http://127.0.0.1:{server}/hash/x")
    assert status == 200, body
    assert "ext=e1 app=app1 dlg=dlg1 hash=yes" in body, body


def test_sha256_payload_hash_on_put(signet, server):
    s = signet.start(config(server, SHA256 + ", include_payload_hash = true"))
    status, body = s.curl("-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", "body", f"http://127.0.0.1:{server}/hash/y")
    assert status == 200 and "hash=yes" in body, body


def test_verifier_refuses_missing_payload_hash(signet, server):
    s = signet.start(config(server, SHA256))
    status, _ = s.curl("-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", "body", f"http://127.0.0.1:{server}/hash/z")
    assert status == 401


def test_verifier_refuses_a_stale_fixed_timestamp(signet, server):
    s = signet.start(config(server, SHA256 + ', nonce = "fixed1", timestamp = 1000'))
    status, body = s.curl(f"http://127.0.0.1:{server}/a")
    assert status == 401, body
