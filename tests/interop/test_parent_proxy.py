"""signet behind a real parent proxy: Debian's squid requiring Basic (basic_ncsa_auth, an
MD5-crypt `$apr1$` password file made by `openssl passwd -apr1`) or Digest (digest_file_auth,
a plain-text password file), for a plain request and for a CONNECT tunnel to a local origin.

squid runs in the foreground (-N) with its own minimal config on 127.0.0.1 only: no ICP, HTCP or
pinger, UDP bound to loopback, nothing cached, every request must authenticate, CONNECT only to
the origin's port. Its access log names the user it authenticated.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import free_port, require
from squid_parent import Squid, start_file_origin

BASIC_USER, BASIC_PASSWORD = "alice", "S3cret pw"
# digest_file_auth reads a third field as a realm and HA1: no colon in the password.
DIGEST_USER, DIGEST_PASSWORD = "bob", "Digest pw 1"
HELPERS = Path("/usr/lib/squid")


@pytest.fixture
def origin(procs, tmp_path):
    return start_file_origin(procs, tmp_path)


@pytest.fixture
def squid(procs, origin):
    """Starts squid requiring `kind` ("basic" or "digest") credentials."""
    binary = require("squid")
    # squid drops root to its own user, which must reach its files: a world-traversable dir.
    workdir = Path(tempfile.mkdtemp(prefix="signet-squid-"))
    os.chmod(workdir, 0o777)

    def start(kind):
        if kind == "basic":
            hashed = subprocess.run(["openssl", "passwd", "-apr1", BASIC_PASSWORD],
                                    capture_output=True, text=True, check=True).stdout.strip()
            assert hashed.startswith("$apr1$"), hashed
            (workdir / "passwd").write_text(f"{BASIC_USER}:{hashed}\n")
            auth = (f"auth_param basic program {HELPERS / 'basic_ncsa_auth'} {workdir / 'passwd'}\n"
                    "auth_param basic realm signet-basic\n")
        else:
            (workdir / "passwd").write_text(f"{DIGEST_USER}:{DIGEST_PASSWORD}\n")
            auth = (f"auth_param digest program {HELPERS / 'digest_file_auth'} {workdir / 'passwd'}\n"
                    "auth_param digest realm signet-digest\n"
                    "auth_param digest check_nonce_count on\n")
        os.chmod(workdir / "passwd", 0o644)
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
{auth}
acl authed proxy_auth REQUIRED
acl CONNECT method CONNECT
acl origin_port port {origin}
http_access deny CONNECT !origin_port
http_access allow authed
http_access deny all
""")
        try:
            procs.start([binary, "-N", "-f", conf], port, "squid", timeout=30)
        except RuntimeError as e:
            log = workdir / "cache.log"
            raise RuntimeError(f"{e}\n--- cache.log ---\n{log.read_text() if log.exists() else ''}") from None
        return Squid(port, workdir)

    yield start
    shutil.rmtree(workdir, ignore_errors=True)


def config(parent, kind, username, password):
    return f"""
[proxy]
upstream_proxy = "http://127.0.0.1:{parent}"
upstream_proxy_auth = "corp"

[auth.corp]
type = "{kind}"
username = "{username}"
password = "{password}"
"""


def test_squid_basic_for_a_plain_request_and_connect(signet, squid, origin):
    proxy = squid("basic")
    signet.start(config(proxy.port, "basic", BASIC_USER, BASIC_PASSWORD))
    status, body = signet.curl(f"http://127.0.0.1:{origin}/hello.txt")
    assert (status, body) == (200, "hello through squid"), body
    # -p: curl asks signet for a tunnel; with no rule signet tunnels through squid.
    status, body = signet.curl("-p", f"http://127.0.0.1:{origin}/hello.txt")
    assert (status, body) == (200, "hello through squid"), body
    assert proxy.authenticated(BASIC_USER, f"GET http://127.0.0.1:{origin}/hello.txt", 1), proxy.access_log()
    assert proxy.authenticated(BASIC_USER, f"CONNECT 127.0.0.1:{origin}", 1), proxy.access_log()


def connect_refused(signet, origin):
    """A CONNECT through signet that must fail: the status signet answered the CONNECT with."""
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "-x", signet.proxy, "-p", "-o", "/dev/null",
                          "-w", "%{http_connect}", f"http://127.0.0.1:{origin}/hello.txt"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0, out
    return int(out.stdout)


@pytest.mark.parametrize("kind", ["basic", "digest"])
def test_squid_refuses_a_wrong_password(signet, squid, origin, kind):
    proxy = squid(kind)
    user = BASIC_USER if kind == "basic" else DIGEST_USER
    signet.start(config(proxy.port, kind, user, "wrong"))
    # A plain request gets squid's own 407 back; a tunnel, signet's 502 naming it.
    status, body = signet.curl(f"http://127.0.0.1:{origin}/hello.txt")
    assert status == 407, body
    assert connect_refused(signet, origin) == 502
    assert not proxy.authenticated(user, "", 0), proxy.access_log()



def test_squid_digest_for_plain_requests_and_connect(signet, squid, origin):
    proxy = squid("digest")
    signet.start(config(proxy.port, "digest", DIGEST_USER, DIGEST_PASSWORD))
    for _ in range(2):
        status, body = signet.curl(f"http://127.0.0.1:{origin}/hello.txt")
        assert (status, body) == (200, "hello through squid"), body
    for _ in range(2):
        status, body = signet.curl("-p", f"http://127.0.0.1:{origin}/hello.txt")
        assert (status, body) == (200, "hello through squid"), body
    assert len(proxy.authenticated(DIGEST_USER, f"GET http://127.0.0.1:{origin}/hello.txt", 2)) == 2, \
        proxy.access_log()
    assert len(proxy.authenticated(DIGEST_USER, f"CONNECT 127.0.0.1:{origin}", 2)) == 2, proxy.access_log()
    log = proxy.access_log()
    # Only the first request was challenged: after it, signet signs before squid asks, with a
    # nonce count squid accepts as rising (check_nonce_count on).
    assert len([l for l in log.splitlines() if "TCP_DENIED/407" in l]) == 1, log


def test_squid_digest_for_connect_first(signet, squid, origin):
    proxy = squid("digest")
    signet.start(config(proxy.port, "digest", DIGEST_USER, DIGEST_PASSWORD))
    status, body = signet.curl("-p", f"http://127.0.0.1:{origin}/hello.txt")
    assert (status, body) == (200, "hello through squid"), body
    assert proxy.authenticated(DIGEST_USER, f"CONNECT 127.0.0.1:{origin}", 1), proxy.access_log()
