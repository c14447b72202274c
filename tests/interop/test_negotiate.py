"""Negotiate (SPNEGO / Kerberos, RFC 4559) through signet against a real MIT KDC and real
servers: Apache with mod_auth_gssapi as an origin, squid with negotiate_kerberos_auth as a
parent proxy. Credentials come from a ticket cache made by kinit, a password and a keytab.
The realm lives in a temp directory (see kerberos_realm.py); each case fails if a server does
not start."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SIGNET, free_port, require
from kerberos_realm import REALM, Realm

ALICE_PASSWORD = "alice-password"
SERVICE_HOST = "origin.test"

CGI = """#!/usr/bin/python3
import hashlib, os, sys
body = sys.stdin.buffer.read(int(os.environ.get("CONTENT_LENGTH") or 0))
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n")
sys.stdout.write(f"user={os.environ.get('REMOTE_USER')} len={len(body)} sha256={hashlib.sha256(body).hexdigest()}\\n")
"""


@pytest.fixture
def realm(procs, request):
    return Realm(procs, request)


def apache(procs, tmp_path, request, realm):
    """Apache on 127.0.0.1 requiring Negotiate under /private (mod_auth_gssapi, Kerberos only,
    no Basic fallback); /private/echo answers with the user and the body's length and hash."""
    binary = Path(require("apache2"))
    port = free_port()
    keytab = realm.service(f"HTTP/{SERVICE_HOST}", "http.keytab")
    modules = Path("/usr/lib/apache2/modules")
    shared = Path(tempfile.mkdtemp(prefix="signet-apache-gss-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o755)
    private = shared / "private"
    private.mkdir()
    (private / "index.html").write_text("secret page\n")
    (private / "echo").write_text(CGI)
    private.chmod(0o755)
    (private / "index.html").chmod(0o644)
    (private / "echo").chmod(0o755)
    loads = "\n".join(
        f"LoadModule {name}_module {modules}/mod_{name}.so"
        for name in ["mpm_prefork", "authn_core", "authz_core", "authz_user", "auth_gssapi", "cgi", "alias"]
    )
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        f"""
ServerRoot "{tmp_path}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{tmp_path}/httpd.pid"
{loads}
User www-data
Group www-data
ErrorLog "{tmp_path}/error.log"
LogLevel warn auth_gssapi:debug
LogFormat "%>s %u \\"%r\\" %k" gss
CustomLog "{tmp_path}/access.log" gss
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot "{shared}"
ScriptAlias /private/echo "{private}/echo"
<Location /private>
  AuthType GSSAPI
  AuthName "signet kerberos"
  GssapiCredStore keytab:{keytab}
  GssapiAllowedMech krb5
  GssapiBasicAuth Off
  Require valid-user
</Location>
"""
    )
    procs.start([binary, "-X", "-f", conf], port, "apache2", env=realm.env)
    return port, tmp_path / "access.log"


def negotiate_rule(port, credentials):
    return f"""
[auth.k]
type = "negotiate"
spn = "HTTP@{SERVICE_HOST}"
{credentials}

[[host]]
match = ["127.0.0.1:{port}"]
auth = "k"
"""


@pytest.mark.parametrize(
    "options",
    ["", 'mech = "kerberos"', "canonicalize = false"],
    ids=["spnego", "bare-kerberos", "not-canonicalized"],
)
def test_apache_with_a_ticket_cache_from_kinit(procs, signet, tmp_path, request, realm, options):
    port, _ = apache(procs, tmp_path, request, realm)
    alice = realm.user("alice", ALICE_PASSWORD)
    ccache = realm.kinit(alice, ALICE_PASSWORD, tmp_path / "alice.ccache")
    signet.start(negotiate_rule(port, options), env={**realm.env, "KRB5CCNAME": f"FILE:{ccache}"})
    status, body = signet.curl(f"http://127.0.0.1:{port}/private/echo")
    assert status == 200, body
    assert body.startswith(f"user={alice} len=0 "), body


def test_signet_sign_prints_a_token_apache_accepts(tmp_path, procs, request, realm):
    port, _ = apache(procs, tmp_path, request, realm)
    alice = realm.user("alice", ALICE_PASSWORD)
    config = tmp_path / "signet.toml"
    config.write_text(negotiate_rule(port, f'principal = "{alice}"\npassword = "{ALICE_PASSWORD}"'))
    url = f"http://127.0.0.1:{port}/private/echo"
    out = subprocess.run([str(SIGNET), "--config", str(config), "sign", "--show-secrets", url],
                         capture_output=True, text=True, timeout=60, env={**os.environ, **realm.env})
    assert out.returncode == 0, out.stderr
    [authorization] = [l for l in out.stdout.splitlines() if l.lower().startswith("authorization: negotiate ")]
    answer = subprocess.run(["curl", "-sS", "-H", authorization, url], capture_output=True, text=True, timeout=30)
    assert answer.stdout.startswith(f"user={alice} len=0 "), answer


def test_an_unknown_service_name_is_a_502_naming_it(procs, signet, tmp_path, request, realm):
    port, access_log = apache(procs, tmp_path, request, realm)
    alice = realm.user("alice", ALICE_PASSWORD)
    ccache = realm.kinit(alice, ALICE_PASSWORD, tmp_path / "alice.ccache")
    rule = negotiate_rule(port, "").replace(f"HTTP@{SERVICE_HOST}", "HTTP@elsewhere.test")
    signet.start(rule, env={**realm.env, "KRB5CCNAME": f"FILE:{ccache}"})
    status, body = signet.curl(f"http://127.0.0.1:{port}/private/echo")
    assert status == 502, body
    assert f"Server HTTP/elsewhere.test@{REALM} not found in Kerberos database" in body, body
    assert "Unspecified GSS failure" not in body, body
    assert accesses(access_log, 0, timeout=0) == []


def accesses(log, at_least, timeout=10.0):
    """The access log's lines once it holds `at_least` of them (Apache logs after answering)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def as_requests(realm, principal):
    """The KDC's AS-REQ log lines for `principal` (each an attempt to get a TGT)."""
    log = realm.dir / "kdc.log"
    text = log.read_text() if log.exists() else ""
    return [l for l in text.splitlines() if "AS_REQ" in l and f" {principal} for " in l]


def test_apache_refuses_requests_without_kerberos(procs, tmp_path, request, realm):
    # The control: the origin really requires Negotiate.
    port, _ = apache(procs, tmp_path, request, realm)
    out = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{port}/private/echo"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.stdout.startswith("HTTP/1.1 401"), out.stdout
    assert "WWW-Authenticate: Negotiate" in out.stdout, out.stdout


def test_apache_with_a_password_several_requests_on_one_client_connection(
    procs, signet, tmp_path, request, realm
):
    port, access_log = apache(procs, tmp_path, request, realm)
    alice = realm.user("alice", ALICE_PASSWORD)
    signet.start(
        negotiate_rule(port, f'principal = "{alice}"\npassword = "{ALICE_PASSWORD}"'),
        env=realm.env,
    )
    url = f"http://127.0.0.1:{port}/private/echo"
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-x", signet.proxy, url, url, url,
         "-w", "%{http_code} connects=%{num_connects}\n"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines.count(f"user={alice} len=0 sha256={hashlib.sha256(b'').hexdigest()}") == 3, lines
    # One client connection: curl connected once, then reused it.
    assert [l for l in lines if l.startswith("200 ")] == [
        "200 connects=1", "200 connects=0", "200 connects=0"
    ], lines
    logged = accesses(access_log, 3)
    # Each request authenticated (mod_auth_gssapi authenticates requests), on one upstream
    # connection (Apache's keep-alive count goes 0, 1, 2), with no 401 leg.
    assert logged == [f'200 {alice} "GET /private/echo HTTP/1.1" {k}' for k in range(3)], logged
    # One AS exchange for the three requests: the TGT is kept.
    assert len(as_requests(realm, alice)) == 1, as_requests(realm, alice)
    assert "mutual authentication verified" in signet_log(procs)


def signet_log(procs):
    return "".join(p.log_path.read_text(errors="replace") for p in procs.procs)


def test_apache_with_a_keytab_and_a_256_kib_post(procs, signet, tmp_path, request, realm):
    port, access_log = apache(procs, tmp_path, request, realm)
    principal, keytab = realm.keytab_for("build-agent", "agent-password", "agent.keytab")
    signet.start(
        negotiate_rule(port, f'principal = "{principal}"\nkeytab = "{keytab}"'),
        env=realm.env,
    )
    body = os.urandom(256 * 1024)
    (tmp_path / "body.bin").write_bytes(body)
    status, answer = signet.curl(
        "--data-binary", f"@{tmp_path / 'body.bin'}", "-H", "Content-Type: application/octet-stream",
        f"http://127.0.0.1:{port}/private/echo",
    )
    assert status == 200, answer
    assert answer == f"user={principal} len={len(body)} sha256={hashlib.sha256(body).hexdigest()}"
    assert accesses(access_log, 1) == [f'200 {principal} "POST /private/echo HTTP/1.1" 0']


@pytest.mark.parametrize(
    "principal, password, reason",
    [
        ("alice", "not-the-password", "Decrypt integrity check failed"),
        ("nobody", "any-password", "not found in Kerberos database"),
    ],
)
def test_a_kdc_refusal_is_a_502_naming_it_and_is_not_retried(
    procs, signet, tmp_path, request, realm, principal, password, reason
):
    port, access_log = apache(procs, tmp_path, request, realm)
    realm.user("alice", ALICE_PASSWORD)
    signet.start(
        negotiate_rule(port, f'principal = "{principal}@{REALM}"\npassword = "{password}"'),
        env=realm.env,
    )
    for _ in range(5):
        status, body = signet.curl(f"http://127.0.0.1:{port}/private/echo")
        assert status == 502, body
        assert reason in body, body
        assert password not in body
    # Five requests, one attempt at the KDC; and nothing reached the origin.
    time.sleep(0.5)
    assert len(as_requests(realm, f"{principal}@{REALM}")) == 1, (realm.dir / "kdc.log").read_text()
    assert accesses(access_log, 0, timeout=0) == []
    assert password not in signet_log(procs)


def test_a_kdc_clock_off_by_more_than_the_skew_is_a_502_naming_it_and_not_retried(
    procs, signet, tmp_path, request
):
    # The KDC's clock alone runs 15 minutes ahead (MIT allows 5), and alice needs
    # pre-authentication (as in Active Directory): the KDC checks signet's timestamp and refuses.
    realm = Realm(procs, request, kdc_clock_offset="+15m")
    port, access_log = apache(procs, tmp_path, request, realm)
    alice = realm.user("alice", ALICE_PASSWORD)
    realm.kadmin(f"modprinc +requires_preauth {alice}")
    signet.start(
        negotiate_rule(port, f'principal = "{alice}"\npassword = "{ALICE_PASSWORD}"'),
        env=realm.env,
    )
    for _ in range(5):
        status, body = signet.curl(f"http://127.0.0.1:{port}/private/echo")
        assert status == 502, body
        assert "Clock skew too great" in body, body
        assert ALICE_PASSWORD not in body
    time.sleep(0.5)
    # Five requests, one AS exchange (MIT's first request draws the KDC's demand for
    # pre-authentication), refused for the skew; and nothing reached the origin.
    outcomes = [l.split(" 127.0.0.1: ", 1)[1].split(":", 1)[0] for l in as_requests(realm, alice)]
    assert outcomes == ["NEEDED_PREAUTH", "PREAUTH_FAILED"], (realm.dir / "kdc.log").read_text()
    assert as_requests(realm, alice)[1].endswith("Clock skew too great")
    assert accesses(access_log, 0, timeout=0) == []


def test_https_origin_enforcing_channel_bindings(procs, signet, tmp_path, request, realm, origin_cert):
    # MIT's acceptor (python-gssapi) with tls-server-end-point bindings of its certificate: it
    # answers 200 only for a context MIT reports channel-bound.
    system_python = Path("/usr/bin/python3")
    assert system_python.exists()
    keytab = realm.service(f"HTTP/{SERVICE_HOST}", "cb.keytab")
    port = free_port()
    here = Path(__file__).resolve().parent
    procs.start(
        [system_python, here / "negotiate_cb_server.py", port, origin_cert.cert, origin_cert.key],
        port, "negotiate_cb_server.py", env={**realm.env, "KRB5_KTNAME": f"FILE:{keytab}"},
    )
    alice = realm.user("alice", ALICE_PASSWORD)
    signet.start(
        f"""
[auth.k]
type = "negotiate"
spn = "HTTP@{SERVICE_HOST}"
principal = "{alice}"
password = "{ALICE_PASSWORD}"

[[host]]
match = ["localhost:{port}"]
auth = "k"
  [host.tls]
  ca = "{origin_cert.ca}"
""",
        env=realm.env,
    )
    for _ in range(2):
        status, body = signet.curl(f"https://localhost:{port}/secure")
        assert status == 200, body
        assert json.loads(body) == {"user": alice, "channel_bound": True}
    assert "mutual authentication verified" in signet_log(procs)


@pytest.mark.parametrize("source", ["password", "keytab"])
def test_expired_tickets_are_renewed(procs, signet, tmp_path, request, source):
    realm = Realm(procs, request, ticket_lifetime="8s")
    port, access_log = apache(procs, tmp_path, request, realm)
    if source == "password":
        principal = realm.user("alice", ALICE_PASSWORD)
        credentials = f'principal = "{principal}"\npassword = "{ALICE_PASSWORD}"'
    else:
        principal, keytab = realm.keytab_for("build-agent", "agent-password", "agent.keytab")
        credentials = f'principal = "{principal}"\nkeytab = "{keytab}"'
    signet.start(negotiate_rule(port, credentials), env=realm.env)
    url = f"http://127.0.0.1:{port}/private/echo"
    assert signet.curl(url)[0] == 200
    # Past the first tickets' life: new ones are got, the request does not fail.
    time.sleep(10)
    status, body = signet.curl(url)
    assert status == 200, body
    assert body.startswith(f"user={principal} "), body
    assert len(as_requests(realm, principal)) == 2, (realm.dir / "kdc.log").read_text()


def test_an_expired_ticket_cache_is_a_502_naming_it(procs, signet, tmp_path, request):
    # signet does not kinit for the user: an expired cache says so.
    realm = Realm(procs, request, ticket_lifetime="3s")
    port, _ = apache(procs, tmp_path, request, realm)
    alice = realm.user("alice", ALICE_PASSWORD)
    ccache = realm.kinit(alice, ALICE_PASSWORD, tmp_path / "alice.ccache")
    signet.start(negotiate_rule(port, ""), env={**realm.env, "KRB5CCNAME": f"FILE:{ccache}"})
    time.sleep(4)
    status, body = signet.curl(f"http://127.0.0.1:{port}/private/echo")
    assert status == 502, body
    assert "expired" in body.lower(), body


def test_a_forged_mutual_authentication_token_is_a_502(procs, signet, tmp_path, request, realm, origin_cert):
    keytab = realm.service(f"HTTP/{SERVICE_HOST}", "cb.keytab")
    port = free_port()
    here = Path(__file__).resolve().parent
    procs.start(
        ["/usr/bin/python3", here / "negotiate_cb_server.py", port, origin_cert.cert, origin_cert.key,
         "forge-mutual"],
        port, "negotiate_cb_server.py", env={**realm.env, "KRB5_KTNAME": f"FILE:{keytab}"},
    )
    alice = realm.user("alice", ALICE_PASSWORD)
    signet.start(
        f"""
[auth.k]
type = "negotiate"
spn = "HTTP@{SERVICE_HOST}"
principal = "{alice}"
password = "{ALICE_PASSWORD}"

[[host]]
match = ["localhost:{port}"]
auth = "k"
  [host.tls]
  ca = "{origin_cert.ca}"
""",
        env=realm.env,
    )
    status, body = signet.curl(f"https://localhost:{port}/secure")
    assert status == 502, body
    assert "does not verify" in body and alice not in body, body
