"""What signet leaves alone and what it guards: `noauth` rules reach the origin untouched,
`intercept = "all"` terminates TLS for a host without a rule (and signs nothing there), and
`/metrics` on the admin listener asks for the `client_auth` credentials. Checked with curl and
Python's requests as clients and an origin that echoes what it received."""

import json

import requests

from conftest import HERE, PYTHON, free_port

USER, PASSWORD = "proxy-user", "proxy-pass-1"


def echo(procs, *tls):
    port = free_port()
    procs.start([PYTHON, HERE / "echo_server.py", port, *tls], port, "echo origin")
    return port


def sent_headers(body):
    return [(k.lower(), v) for k, v in json.loads(body)["headers"]]


CLIENT_HEADERS = [
    ("authorization", "Basic Y2xpZW50OnNlY3JldA=="),
    ("x-api-key", "client-key"),
    ("cookie", "a=1; b=2"),
]


def client_args():
    return [a for k, v in CLIENT_HEADERS for a in ("-H", f"{k}: {v}")]


def test_noauth_rules_reach_the_origin_untouched(procs, signet):
    port = echo(procs)
    signet.start(
        f"""
[auth.open]
type = "noauth"

[auth.bearer]
type = "bearer"
token = "signet-token"

[[host]]
match = ["127.0.0.1:{port}"]
auth = "bearer"

  [[host.route]]
  path = "/open/**"
  auth = "open"

  [[host.route]]
  path = "/none/**"
  auth = "none"
"""
    )
    base = f"http://127.0.0.1:{port}"
    for path in ["/open/a?x=1&y=%20", "/none/b"]:
        status, body = signet.curl(*client_args(), "-X", "POST", "--data-binary", "raw body", base + path)
        assert status == 200, body
        seen = json.loads(body)
        assert (seen["method"], seen["target"], seen["body"]) == ("POST", path, "raw body")
        headers = sent_headers(body)
        for header in CLIENT_HEADERS:
            assert header in headers, (path, headers)
        assert sum(1 for k, _ in headers if k == "authorization") == 1
    # The control: the host's own rule does replace the client's Authorization.
    status, body = signet.curl(*client_args(), base + "/signed")
    assert ("authorization", "Bearer signet-token") in sent_headers(body)


def test_intercept_all_terminates_tls_for_a_host_without_a_rule(procs, signet, origin_cert):
    port = echo(procs, origin_cert.cert, origin_cert.key)
    # No rule names the origin; signet trusts the origin's CA through the system's variable.
    config = '[proxy]\nintercept = "all"\n\n[[host]]\nmatch = ["elsewhere.test"]\nauth = { type = "bearer", token = "t" }\n'
    signet.start(config, env={"SSL_CERT_FILE": str(origin_cert.ca)})
    # curl trusts only signet's CA: the request goes through only because signet terminated TLS.
    status, body = signet.curl(*client_args(), f"https://127.0.0.1:{port}/x")
    assert status == 200, body
    headers = sent_headers(body)
    for header in CLIENT_HEADERS:
        assert header in headers, headers
    # The control: by default a host without a rule is tunnelled, so signet's CA cannot vouch
    # for the origin's certificate and curl refuses it.
    procs.stop()
    port = echo(procs, origin_cert.cert, origin_cert.key)
    signet.start(config.replace('intercept = "all"', 'intercept = "rules"'), env={"SSL_CERT_FILE": str(origin_cert.ca)})
    try:
        signet.curl(f"https://127.0.0.1:{port}/x")
    except AssertionError as e:
        assert "certificate" in str(e).lower() or "SSL" in str(e), e
    else:
        raise AssertionError("a tunnelled connection was trusted under signet's CA")


def test_metrics_behind_client_auth(procs, signet):
    port = echo(procs)
    admin = free_port()
    signet.start(
        f"""
[proxy]
client_auth = {{ username = "{USER}", password = "{PASSWORD}" }}

[admin]
listen = "127.0.0.1:{admin}"

[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "bearer", token = "t" }}
"""
    )
    # The proxy itself asks for the same credentials.
    assert signet.curl(f"http://127.0.0.1:{port}/")[0] == 407
    assert signet.curl("--proxy-user", f"{USER}:{PASSWORD}", f"http://127.0.0.1:{port}/")[0] == 200
    url = f"http://127.0.0.1:{admin}/metrics"
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert "signet_" not in refused.text
    assert requests.get(url, auth=(USER, "wrong"), timeout=10).status_code == 401
    assert requests.get(url, auth=("someone", PASSWORD), timeout=10).status_code == 401
    metrics = requests.get(url, auth=(USER, PASSWORD), timeout=10)
    assert metrics.status_code == 200, metrics.text
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "signet_" in metrics.text
    # /healthz stays open (a load balancer's probe carries no credentials).
    assert requests.get(f"http://127.0.0.1:{admin}/healthz", timeout=10).status_code == 200
