"""Negotiate (Kerberos) to a real parent proxy: squid with negotiate_kerberos_auth, against a
KDC of the test's own (kerberos_realm.py), for plain requests and CONNECT tunnels. squid runs as
in test_parent_proxy.py: foreground, loopback only, nothing cached, every request must
authenticate; its access log names the principal it authenticated."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import free_port, require
from squid_parent import Squid, start_file_origin
from kerberos_realm import REALM, Realm

ALICE_PASSWORD = "alice-password"
PROXY_HOST = "proxy.test"


@pytest.fixture
def realm(procs, request):
    return Realm(procs, request)


@pytest.fixture
def origin(procs, tmp_path):
    return start_file_origin(procs, tmp_path)


def squid(procs, request, realm, origin):
    binary = require("squid")
    helper = Path("/usr/lib/squid/negotiate_kerberos_auth")
    assert helper.exists(), "squid's negotiate_kerberos_auth is missing (Debian squid ships it)"
    keytab = realm.service(f"HTTP/{PROXY_HOST}", "proxy.keytab")
    workdir = Path(tempfile.mkdtemp(prefix="signet-squid-krb5-"))
    request.addfinalizer(lambda: shutil.rmtree(workdir, ignore_errors=True))
    os.chmod(workdir, 0o777)
    port = free_port()
    conf = workdir / "squid.conf"
    conf.write_text(f"""
http_port 127.0.0.1:{port}
pid_filename {workdir / 'squid.pid'}
cache_log {workdir / 'cache.log'}
access_log stdio:{workdir / 'access.log'}
cache_store_log none
coredump_dir {workdir}
cache deny all
cache_mem 8 MB
pinger_enable off
icp_port 0
htcp_port 0
udp_incoming_address 127.0.0.1
udp_outgoing_address 127.0.0.1
visible_hostname signet-interop
shutdown_lifetime 0 seconds
auth_param negotiate program {helper} -s GSS_C_NO_NAME -k {keytab} -t none
auth_param negotiate children 2
auth_param negotiate keep_alive on
acl authed proxy_auth REQUIRED
acl CONNECT method CONNECT
acl origin_port port {origin}
http_access deny CONNECT !origin_port
http_access allow authed
http_access deny all
""")
    try:
        procs.start([binary, "-N", "-f", conf], port, "squid", env=realm.env, timeout=30)
    except RuntimeError as e:
        log = workdir / "cache.log"
        raise RuntimeError(f"{e}\n--- cache.log ---\n{log.read_text() if log.exists() else ''}") from None
    return Squid(port, workdir)


def config(parent, credentials):
    return f"""
[proxy]
upstream_proxy = "http://127.0.0.1:{parent}"
upstream_proxy_auth = "corp"

[auth.corp]
type = "negotiate"
spn = "HTTP@{PROXY_HOST}"
{credentials}
"""


def test_squid_plain_requests_and_connect_with_a_password(procs, signet, request, realm, origin):
    proxy = squid(procs, request, realm, origin)
    alice = realm.user("alice", ALICE_PASSWORD)
    signet.start(config(proxy.port, f'principal = "{alice}"\npassword = "{ALICE_PASSWORD}"'),
                 env=realm.env)
    url = f"http://127.0.0.1:{origin}/hello.txt"
    # Three plain requests on one client connection, then two tunnels.
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "-x", signet.proxy, url, url, url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello through squid\n" * 3, out.stdout
    for _ in range(2):
        status, body = signet.curl("-p", url)
        assert (status, body) == (200, "hello through squid"), body
    assert len(proxy.authenticated(alice, f"GET {url}", 3)) == 3, proxy.access_log()
    assert len(proxy.authenticated(alice, f"CONNECT 127.0.0.1:{origin}", 2)) == 2, proxy.access_log()


def test_squid_with_a_ticket_cache_from_kinit(procs, signet, tmp_path, request, realm, origin):
    proxy = squid(procs, request, realm, origin)
    alice = realm.user("alice", ALICE_PASSWORD)
    ccache = realm.kinit(alice, ALICE_PASSWORD, tmp_path / "alice.ccache")
    signet.start(config(proxy.port, ""), env={**realm.env, "KRB5CCNAME": f"FILE:{ccache}"})
    url = f"http://127.0.0.1:{origin}/hello.txt"
    assert signet.curl(url) == (200, "hello through squid")
    assert signet.curl("-p", url) == (200, "hello through squid")
    assert proxy.authenticated(alice, f"GET {url}", 1), proxy.access_log()
    assert proxy.authenticated(alice, f"CONNECT 127.0.0.1:{origin}", 1), proxy.access_log()


def test_squid_wrong_password_is_a_clear_error_and_one_kdc_attempt(
    procs, signet, request, realm, origin
):
    proxy = squid(procs, request, realm, origin)
    alice = realm.user("alice", ALICE_PASSWORD)
    signet.start(config(proxy.port, f'principal = "{alice}"\npassword = "wrong-password"'),
                 env=realm.env)
    url = f"http://127.0.0.1:{origin}/hello.txt"
    for _ in range(3):
        status, body = signet.curl(url)
        assert status == 502 and "Decrypt integrity check failed" in body, body
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "-x", signet.proxy, "-p", "-o", "/dev/null",
                          "-w", "%{http_connect}", url], capture_output=True, text=True, timeout=60)
    assert int(out.stdout) == 502, out
    log = "".join(p.log_path.read_text(errors="replace") for p in procs.procs)
    assert "Decrypt integrity check failed" in log and "wrong-password" not in log
    kdc = (realm.dir / "kdc.log").read_text()
    assert len([l for l in kdc.splitlines() if "AS_REQ" in l and f" {alice} for " in l]) == 1, kdc
    assert f" {alice} " not in proxy.access_log()
