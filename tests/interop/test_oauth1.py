"""OAuth 1.0a through signet, verified by oauthlib (oauth1_server.py)."""

import json

import pytest

from conftest import HERE, PYTHON, ROOT, free_port

METHODS = ["HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "RSA-SHA1", "RSA-SHA256", "RSA-SHA512", "PLAINTEXT"]
VECTORS = ROOT / "tests" / "vectors" / "oauth1" / "oauth1-vectors.json"


@pytest.fixture
def server(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "oauth1_server.py", port], port, "oauthlib verifier")
    return port


@pytest.fixture
def rsa_key(tmp_path):
    pem = json.loads(VECTORS.read_text())["rsa_sha1_cases"][0]["private_key_pkcs8_pem"]
    path = tmp_path / "oauth1-key.pem"
    path.write_text(pem)
    return path


def config(port, extra="", rsa_key=None):
    key = f'private_key = "${{file:{rsa_key}}}"\n' if rsa_key else ""
    return f"""
[auth.o1]
type = "oauth1"
consumer_key = "signet-consumer"
consumer_secret = "consumer-secret"
token = "signet-token"
token_secret = "token-secret"
{key}{extra}

[[host]]
match = ["127.0.0.1:{port}"]
auth = "o1"
"""


@pytest.mark.parametrize("method", METHODS)
def test_every_signature_method_in_every_placement(signet, server, rsa_key, method):
    key = rsa_key if method.startswith("RSA") else None
    base = f"http://127.0.0.1:{server}"
    header = signet.start(config(server, f'signature_method = "{method}"', key))
    status, body = header.curl(f"{base}/r/x?b=2&a=1&a=%20z")
    assert (status, body) == (200, f"ok oauth1 {method} header")
    status, body = header.curl("--data", "a=1&a=2&b=%2B", f"{base}/form?q=1")
    assert (status, body) == (200, f"ok oauth1 {method} header")


@pytest.mark.parametrize("method", METHODS)
def test_query_or_body_placement(procs, signet, server, rsa_key, method):
    key = rsa_key if method.startswith("RSA") else None
    base = f"http://127.0.0.1:{server}"
    s = signet.start(config(server, f'signature_method = "{method}"\nadd_to = "query_or_body"', key))
    assert s.curl(f"{base}/r/x?b=2&a=1") == (200, f"ok oauth1 {method} query")
    assert s.curl("--data", "name=J%C3%B6rg+M&x=1&e=", f"{base}/form?q=1") == (200, f"ok oauth1 {method} body")
    assert s.curl("-X", "PUT", "--data", "k=v", f"{base}/put") == (200, f"ok oauth1 {method} body")
    assert s.curl("-X", "DELETE", f"{base}/del?id=7") == (200, f"ok oauth1 {method} query")


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256"])
def test_body_hash_is_checked(signet, server, method):
    s = signet.start(config(server, f'signature_method = "{method}"\ninclude_body_hash = true'))
    status, body = s.curl("-H", "Content-Type: application/json", "--data", '{"a": 1}', f"http://127.0.0.1:{server}/json")
    assert status == 200, body


def test_realm_callback_and_verifier(signet, server):
    s = signet.start(config(server, 'realm = "Photos"\ncallback = "https://cb.example/x?y=1"\nverifier = "ver1"'))
    assert s.curl(f"http://127.0.0.1:{server}/cb")[0] == 200


def test_two_legged_without_token(signet, server):
    cfg = config(server).replace('token = "signet-token"\n', "").replace('token_secret = "token-secret"\n', "")
    s = signet.start(cfg)
    assert s.curl(f"http://127.0.0.1:{server}/two")[0] == 200


def test_unencoded_header_params(signet, server):
    s = signet.start(config(server, "encode_header_params = false"))
    assert s.curl(f"http://127.0.0.1:{server}/raw?x=1")[0] == 200


def test_wrong_secret_is_refused_by_the_verifier(signet, server):
    s = signet.start(config(server).replace("consumer-secret", "nope"))
    status, body = s.curl(f"http://127.0.0.1:{server}/r")
    assert status == 401 and body.startswith("oauth1: "), body
