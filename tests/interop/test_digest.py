"""Digest through signet against real servers: Apache mod_auth_digest, lighttpd mod_auth,
httpbin and npm http-auth. Each case fails if its server does not start."""

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import HERE, PYTHON, SIGNET, free_port, require

USER, PASSWORD, REALM = "mufasa", "Circle of Life", "signet-test"


def digest_rule(port, extra=""):
    return f"""
[auth.d]
type = "digest"
username = "{USER}"
password = "{PASSWORD}"
{extra}

[[host]]
match = ["127.0.0.1:{port}"]
auth = "d"
"""


def htdigest(path):
    ha1 = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).hexdigest()
    path.write_text(f"{USER}:{REALM}:{ha1}\n")
    return path


def docroot(tmp_path):
    root = tmp_path / "htdocs"
    (root / "private").mkdir(parents=True)
    (root / "private" / "index.html").write_text("secret page\n")
    return root


def apache(procs, tmp_path, request):
    binary = Path(require("apache2"))
    port = free_port()
    modules = Path("/usr/lib/apache2/modules")
    # Apache refuses to serve as root and reads these as www-data: keep them in a
    # world-readable directory of their own (pytest's tmp_path is private to root).
    shared = Path(tempfile.mkdtemp(prefix="signet-apache-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o755)
    root = docroot(shared)
    users = htdigest(shared / "htdigest")
    for path in [root, root / "private", root / "private" / "index.html", users]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    conf = tmp_path / "httpd.conf"
    loads = "\n".join(
        f"LoadModule {name}_module {modules}/mod_{name}.so"
        for name in ["mpm_prefork", "authn_core", "authn_file", "authz_core", "authz_user", "auth_digest"]
    )
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
LogLevel warn
LogFormat "%>s \\"%r\\" \\"%{{Authorization}}i\\"" digest
CustomLog "{tmp_path}/access.log" digest
DocumentRoot "{root}"
<Location /private>
  AuthType Digest
  AuthName "{REALM}"
  AuthDigestProvider file
  AuthUserFile "{users}"
  AuthDigestNcCheck On
  Require valid-user
</Location>
"""
    )
    procs.start([binary, "-X", "-f", conf], port, "apache2")
    return port, tmp_path / "access.log"


def logged_lines(log, at_least, timeout=10.0):
    """The access log's lines once it holds `at_least` of them: Apache writes a request's line
    after sending its answer, so the last one can trail the client's view by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= at_least or time.monotonic() > deadline:
            time.sleep(0.2)  # and nothing more was on its way
            return log.read_text().splitlines()
        time.sleep(0.05)


def test_apache_md5_twenty_requests_one_401_per_nonce(procs, signet, tmp_path, request):
    port, access_log = apache(procs, tmp_path, request)
    signet.start(digest_rule(port))
    for i in range(20):
        status, body = signet.curl(f"http://127.0.0.1:{port}/private/index.html?i={i}&q=a%20b")
        assert status == 200, f"request {i}: {status} {body}"
        assert body == "secret page"
    lines = logged_lines(access_log, 21)
    statuses = [line.split(" ", 1)[0] for line in lines]
    assert statuses.count("200") == 20, lines
    ok_nonces = [re.search(r'nonce=\\?"([^"\\]*)', l).group(1) for l in lines if l.startswith("200 ")]
    # A 401 without credentials is the one that hands out a nonce: at most one per nonce used.
    assert statuses.count("401") <= len(set(ok_nonces)), lines
    ncs = [int(re.search(r"nc=([0-9a-f]{8})", l).group(1), 16) for l in lines if l.startswith("200 ")]
    assert ncs == list(range(1, 21)), ncs


def test_apache_wrong_password_gets_the_401_back_after_one_replay(procs, signet, tmp_path, request):
    port, access_log = apache(procs, tmp_path, request)
    signet.start(digest_rule(port).replace(PASSWORD, "wrong"))
    status, _ = signet.curl(f"http://127.0.0.1:{port}/private/index.html")
    assert status == 401
    assert [l.split(" ", 1)[0] for l in logged_lines(access_log, 2)] == ["401", "401"]


def lighttpd(procs, tmp_path, algorithms):
    binary = require("lighttpd")
    port = free_port()
    root = docroot(tmp_path)
    users = tmp_path / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    conf = tmp_path / "lighttpd.conf"
    conf.write_text(
        f"""
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.modules = ("mod_auth", "mod_authn_file", "mod_accesslog")
server.errorlog = "{tmp_path}/lighttpd-error.log"
accesslog.filename = "{tmp_path}/lighttpd-access.log"
accesslog.format = "%s %r"
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ( "/private/" => (
  "method" => "digest",
  "algorithm" => "{algorithms}",
  "realm" => "{REALM}",
  "require" => "valid-user",
) )
"""
    )
    procs.start([binary, "-D", "-f", conf], port, "lighttpd")
    return port, tmp_path / "lighttpd-access.log"


def test_lighttpd_sha256_and_sha512_256(procs, signet, tmp_path):
    # lighttpd sends one challenge per algorithm in the same 401; signet must take SHA-512-256.
    port, access_log = lighttpd(procs, tmp_path, "MD5|SHA-256|SHA-512-256")
    signet.start(digest_rule(port))
    for i in range(3):
        signet.curl(f"http://127.0.0.1:{port}/private/index.html?n={i}", check_status=200)
    procs.stop()  # lighttpd writes its access log on exit
    assert [l.split(" ", 1)[0] for l in logged_lines(access_log, 4)] == ["401", "200", "200", "200"]


def test_lighttpd_sha256_only(procs, signet, tmp_path):
    port, _ = lighttpd(procs, tmp_path, "SHA-256")
    signet.start(digest_rule(port))
    signet.curl(f"http://127.0.0.1:{port}/private/index.html", check_status=200)


def test_httpbin_auth_int(procs, signet):
    port = free_port()
    procs.start([PYTHON, "-m", "httpbin.core", "--port", port, "--host", "127.0.0.1"], port, "httpbin")
    # httpbin compares against its decoded path, so the password in the URL has no escapes.
    signet.start(digest_rule(port).replace(PASSWORD, "lion-king"))
    for algorithm in ["MD5", "SHA-256"]:
        url = f"http://127.0.0.1:{port}/digest-auth/auth-int/{USER}/lion-king/{algorithm}"
        # httpbin serves GET only; a GET with a body still has its body hashed (auth-int).
        for extra in [[], ["-X", "GET", "-H", "Content-Type: text/plain", "--data-binary", "hashed body"]]:
            status, body = signet.curl(url, *extra)
            assert status == 200, f"{algorithm} {extra}: {body}"
            assert '"authenticated": true' in body


def test_npm_http_auth_md5_sess(procs, signet, tmp_path):
    node = require("node")
    assert (HERE / "node_modules" / "http-auth").is_dir(), "npm install in tests/interop (tests/run does it)"
    port = free_port()
    log = tmp_path / "npm.log"
    procs.start([node, HERE / "digest_npm_server.js", port, htdigest(tmp_path / "htdigest"), log], port, "http-auth")
    signet.start(digest_rule(port))
    for i in range(10):
        status, body = signet.curl(f"http://127.0.0.1:{port}/x{i}")
        assert (status, body) == (200, f"hello {USER}")
    # The server logs each answer once it is sent, which can be just after curl has read it.
    deadline = time.monotonic() + 5
    while True:
        statuses = [l.split(" ")[0] for l in log.read_text().splitlines()]
        if len(statuses) >= 11 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert statuses.count("401") == 1 and statuses.count("200") == 10, statuses


def lighttpd_challenge(port):
    """The nonce and realm lighttpd hands out in its 401 (fetched without signet)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/private/index.html", timeout=10)
    except urllib.error.HTTPError as e:
        challenge = e.headers.get_all("WWW-Authenticate")[0]
        return {k: q or t for k, q, t in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', challenge)}
    raise AssertionError("lighttpd did not ask for credentials")


def preset(challenge, algorithm):
    return (
        f'realm = "{challenge["realm"]}"\nnonce = "{challenge["nonce"]}"\n'
        f'algorithm = "{algorithm}"\nqop = "auth"\nclient_nonce = "0a4f113b"\nnonce_count = "00000001"'
    )


def test_lighttpd_sess_algorithms_signed_before_any_challenge(procs, signet, tmp_path):
    # lighttpd computes the -sess responses itself (RFC 7616: H(H(user:realm:pass):nonce:cnonce)).
    # The advanced fields (realm, nonce, algorithm, qop, ...) sign the very first request: the
    # access log shows no 401 for signet's requests, only the one fetched here for the nonce.
    for algorithm in ["SHA-256-sess", "SHA-512-256-sess", "SHA-256", "MD5-sess"]:
        base = algorithm.removesuffix("-sess")
        run = tmp_path / algorithm
        run.mkdir()
        port, access_log = lighttpd(procs, run, base)
        challenge = lighttpd_challenge(port)
        assert challenge["algorithm"] == base, challenge
        signet.workdir = run
        signet.start(digest_rule(port, preset(challenge, algorithm)))
        # What signet sends is the -sess answer itself, not a plain one the server might prefer.
        sign = subprocess.run(
            [SIGNET, "sign", "--show-secrets", "--config", signet.config_path, f"http://127.0.0.1:{port}/private/index.html"],
            capture_output=True,
            timeout=60,
        )
        assert f"algorithm={algorithm}," in sign.stdout.decode(), sign
        for i in range(3):
            signet.curl(f"http://127.0.0.1:{port}/private/index.html?n={i}", check_status=200)
        procs.stop()
        procs.procs.clear()
        lines = access_log.read_text().splitlines()
        assert [l.split(" ", 1)[0] for l in lines] == ["401", "200", "200", "200"], (algorithm, lines)


def test_lighttpd_refuses_a_sess_answer_with_the_wrong_password(procs, signet, tmp_path):
    port, access_log = lighttpd(procs, tmp_path, "SHA-256")
    rule = digest_rule(port, preset(lighttpd_challenge(port), "SHA-256-sess") + "\nretry = false")
    signet.start(rule.replace(PASSWORD, "wrong"))
    signet.curl(f"http://127.0.0.1:{port}/private/index.html", check_status=401)
