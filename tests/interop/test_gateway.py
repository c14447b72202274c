"""Gateway mode with the real binary: curl, with no proxy settings at all, sends origin-form
requests to a gateway port; real verifiers accept what signet signed for the upstream (mohawk
checks a MAC over the upstream's host, port and the joined path; Apache checks Digest)."""

import os
import subprocess

import pytest

from conftest import HERE, PYTHON, free_port, wait_for_port
from test_digest import apache, digest_rule

HAWK = 'auth_id = "signet-hawk", auth_key = "hawk-secret-256"'


@pytest.fixture
def hawk(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "hawk_server.py", port], port, "mohawk verifier")
    return port


def hawk_rule(port, extra=""):
    return f"""
[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "hawk", {HAWK}{extra} }}
"""


def gateway(listen, upstream):
    return f"""
[[gateway]]
listen = "127.0.0.1:{listen}"
upstream = "{upstream}"
"""


def curl(url, *args):
    """curl straight to `url`, with every proxy variable removed; returns (status, body)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"]
    out = subprocess.run(cmd + [*args, url], capture_output=True, timeout=60, env=env)
    assert out.returncode == 0, f"curl failed ({out.returncode}): {out.stderr.decode(errors='replace')}"
    body, _, status = out.stdout.decode(errors="replace").rpartition("\n")
    return int(status), body.rstrip("\r\n")


def test_hawk_through_a_configured_gateway_with_a_base_path(signet, hawk):
    port = free_port()
    signet.start(hawk_rule(hawk) + gateway(port, f"http://127.0.0.1:{hawk}/api/"))
    wait_for_port(port, signet.procs.procs[-1], "the gateway")
    status, body = curl(f"http://127.0.0.1:{port}/a?b=1&a=2", "-H", "Host: tool.invalid")
    assert status == 200 and "ok hawk id=signet-hawk" in body, body
    # A second request gets a fresh nonce (mohawk refuses replays).
    status, body = curl(f"http://127.0.0.1:{port}/a?b=1&a=2", "-X", "DELETE")
    assert status == 200, body


def test_hawk_payload_hash_through_a_command_line_gateway(signet, hawk):
    port = free_port()
    signet.start(
        hawk_rule(hawk, ", include_payload_hash = true"),
        args=["--gateway", f"{port}=http://127.0.0.1:{hawk}"],
    )
    wait_for_port(port, signet.procs.procs[-1], "the gateway")
    status, body = curl(
        f"http://127.0.0.1:{port}/hash/x", "-H", "Content-Type: text/plain", "--data-binary", "body"
    )
    assert status == 200 and "hash=yes" in body, body


def test_a_gateway_whose_upstream_no_rule_names_sends_no_credentials(signet, hawk):
    port = free_port()
    signet.start(hawk_rule(hawk + 1) + gateway(port, f"http://127.0.0.1:{hawk}"))
    wait_for_port(port, signet.procs.procs[-1], "the gateway")
    status, body = curl(f"http://127.0.0.1:{port}/a")
    assert status == 401 and "no Hawk Authorization" in body, body


def test_apache_digest_through_a_gateway(procs, signet, tmp_path, request):
    apache_port, _ = apache(procs, tmp_path, request)
    port = free_port()
    signet.start(digest_rule(apache_port) + gateway(port, f"http://127.0.0.1:{apache_port}/private"))
    wait_for_port(port, signet.procs.procs[-1], "the gateway")
    for i in range(3):
        status, body = curl(f"http://127.0.0.1:{port}/index.html?i={i}")
        assert status == 200 and body == "secret page", f"request {i}: {status} {body}"


def test_a_bearer_token_through_a_gateway_to_an_https_origin(signet, procs, origin_cert):
    import json

    origin = free_port()
    procs.start(
        [PYTHON, HERE / "echo_server.py", origin, origin_cert.cert, origin_cert.key],
        origin,
        "HTTPS echo origin",
    )
    port = free_port()
    rule = f"""
[[host]]
match = ["https://127.0.0.1:{origin}"]
auth = {{ type = "bearer", token = "gateway-token" }}
[host.tls]
ca = "{origin_cert.ca}"
"""
    signet.start(rule + gateway(port, f"https://127.0.0.1:{origin}/v1"))
    wait_for_port(port, signet.procs.procs[-1], "the gateway")
    status, body = curl(f"http://127.0.0.1:{port}/me?x=1", "-H", "Authorization: Bearer client")
    assert status == 200, body
    seen = json.loads(body)
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert seen["target"] == "/v1/me?x=1", seen
    assert headers["authorization"] == "Bearer gateway-token", seen
    assert headers["host"] == f"127.0.0.1:{origin}", seen
