"""Cookie jar, admin endpoint and a real browser through signet.

The app (cookie_app_server.py) needs a bearer token and a session cookie. Headless Chromium, with
signet as its proxy and signet's CA trusted in a private NSS db, logs in: signet adds the token and
captures the session cookie. Then curl, with no cookie of its own, gets the browser's session from
signet's jar.
"""

import http.cookiejar
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import HERE, PYTHON, SIGNET, free_port, require

TOKEN = "browser-test-token-4f9a"
# The config names ${APP_TOKEN}; every signet command resolves it.
ENV = {**os.environ, "APP_TOKEN": TOKEN}
ARTIFACTS = Path(os.environ.get("SIGNET_ARTIFACTS", HERE.parent.parent / "target" / "interop-artifacts"))


def saved(path, timeout=10.0):
    """`path` once it exists: signet writes its jar from a thread of its own, just after the
    answer that changed it."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.01)
    return path


@pytest.fixture
def origin_cert(tmp_path):
    """A CA and a leaf for localhost signed by it (rustls refuses a self-signed CA as a server
    certificate); returns (ca, leaf, key) paths."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cookie app test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "app-ca.crt", tmp_path / "app.crt", tmp_path / "app.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def start_app(procs, origin_cert):
    _, cert, key = origin_cert
    port = free_port()
    procs.start([PYTHON, HERE / "cookie_app_server.py", port, cert, key, TOKEN], port, "cookie app")
    return port


def signet_config(app_port, admin_port, cert, mode="sync"):
    return f"""
[proxy]
# Chromium sends background requests to public hosts through any proxy: refuse them all.
allow = ["127.0.0.1", "::1", "localhost"]

[admin]
listen = "127.0.0.1:{admin_port}"

[cookies]
jar = "state/cookies.json"

[auth.app]
type = "bearer"
token = "${{APP_TOKEN}}"

[[host]]
match = ["localhost:{app_port}"]
auth = "app"
cookies = "{mode}"

  [host.tls]
  ca = "{cert}"
"""


def nss_home(tmp_path, ca):
    """A private HOME whose NSS db trusts signet's CA (what Chromium on Linux reads)."""
    certutil = require("certutil")
    home = tmp_path / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run([certutil, "-d", f"sql:{db}", "-N", "--empty-password"], check=True)
    subprocess.run([certutil, "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "signet", "-i", str(ca)], check=True)
    return home


def chromium(home, proxy_port, *args):
    exe = require("chromium")
    profile = home / "profile"
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        # Without this Chromium never sends loopback destinations through a proxy.
        "--proxy-bypass-list=<-loopback>",
        *args,
    ]
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    return out


def test_browser_logs_in_through_signet_and_curl_reuses_its_session(signet, procs, origin_cert, tmp_path):
    cert, _, _ = origin_cert
    app_port = start_app(procs, origin_cert)
    admin_port = free_port()
    signet.start(signet_config(app_port, admin_port, cert), env={"APP_TOKEN": TOKEN})
    home = nss_home(tmp_path, signet.ca)
    url = f"https://localhost:{app_port}/login"

    out = chromium(home, signet.port, "--dump-dom", url)
    dom = out.stdout.decode(errors="replace")
    assert '<h1 id="status">signed in with token and session</h1>' in dom, (
        f"DOM:\n{dom}\nchromium stderr:\n{out.stderr.decode(errors='replace')[-3000:]}"
    )

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "browser-through-signet.png"
    out = chromium(home, signet.port, f"--screenshot={shot}", "--window-size=800,300", url)
    assert shot.exists() and shot.stat().st_size > 0, out.stderr.decode(errors="replace")[-2000:]
    print(f"screenshot artifact: {shot}")

    # curl sends no cookie of its own: signet adds the bearer token and the browser's session.
    status, body = signet.curl(f"https://localhost:{app_port}/app")
    assert status == 200, body
    assert "signed in with token and session" in body

    # The jar is on disk, private, and lists the session without its value.
    jar = saved(signet.workdir / "state" / "cookies.json")
    assert jar.stat().st_mode & 0o777 == 0o600
    listed = subprocess.run(
        [SIGNET, "cookies", "list", "localhost", "--config", signet.config_path],
        capture_output=True, text=True, check=True, env=ENV,
    ).stdout
    session = [line for line in listed.splitlines() if "\tsession" in line]
    stored = json.loads(jar.read_text())["cookies"][0]["value"]
    assert len(session) == 1 and stored not in listed, listed
    assert session[0].split("\t")[1:] == ["/", "session", "session", "Secure,HttpOnly,SameSite=Lax"]
    shown = subprocess.run(
        [SIGNET, "cookies", "list", "--show-values", "--config", signet.config_path],
        capture_output=True, text=True, check=True, env=ENV,
    ).stdout
    assert f"session={stored}" in shown

    # Metrics saw the rule with its auth type, and the leaf was minted once and reused.
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()
    line = [l for l in metrics.splitlines() if l.startswith("signet_requests_total{") and "bearer" in l]
    assert line and int(line[0].rsplit(" ", 1)[1]) >= 3, metrics
    assert "signet_leaf_certs_minted_total 1\n" in metrics


def test_inject_only_rule_sends_the_jar_but_never_stores(signet, procs, origin_cert, tmp_path):
    """cookies = "inject": a login through signet stores nothing, so curl is refused."""
    cert, _, _ = origin_cert
    app_port = start_app(procs, origin_cert)
    signet.start(signet_config(app_port, free_port(), cert, mode="inject"), env={"APP_TOKEN": TOKEN})
    status, _ = signet.curl(f"https://localhost:{app_port}/login")
    assert status == 302
    status, body = signet.curl(f"https://localhost:{app_port}/app")
    assert status == 401 and "no session" in body
    assert not (signet.workdir / "state" / "cookies.json").exists()


def test_curl_cookie_file_imports_and_exports(signet, procs, origin_cert, tmp_path):
    """A cookies.txt written by real curl (-c) goes in; the export reads back in Python's
    MozillaCookieJar, an independent reader of the format."""
    cert, _, _ = origin_cert
    app_port = start_app(procs, origin_cert)
    curl_jar = tmp_path / "curl-cookies.txt"
    subprocess.run(
        [require("curl"), "-sS", "--cacert", str(cert), "-c", str(curl_jar), "-o", "/dev/null",
         f"https://localhost:{app_port}/login"],
        check=True, timeout=30,
    )
    assert "#HttpOnly_localhost" in curl_jar.read_text()

    signet.start(signet_config(app_port, free_port(), cert), env={"APP_TOKEN": TOKEN})
    config = ["--config", str(signet.config_path)]
    out = subprocess.run([SIGNET, "cookies", "import", curl_jar, *config], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0 and "imported 1 cookies" in out.stdout, out.stdout + out.stderr

    exported = tmp_path / "export.txt"
    subprocess.run([SIGNET, "cookies", "export", exported, *config], check=True, env=ENV)
    assert exported.stat().st_mode & 0o777 == 0o600
    moz = http.cookiejar.MozillaCookieJar(str(exported))
    moz.load(ignore_discard=True)
    mine = http.cookiejar.MozillaCookieJar(str(curl_jar))
    mine.load(ignore_discard=True)
    assert [(c.domain, c.name, c.value, c.secure) for c in moz] == [
        (c.domain, c.name, c.value, c.secure) for c in mine
    ]


PAC_CASES = [
    # (url, host, expected) under the rules below; derived from signet's matching rules: a bare
    # host = HTTPS on 443 only, "http://" = plain HTTP on 80, ":PORT" = that port for either
    # scheme unless one is written, "*." = subdomains only, ":*" = any port; ws/wss = http/https.
    ("https://api.example.com/x", "api.example.com", "PROXY"),
    ("https://API.example.com./x", "API.example.com.", "PROXY"),
    ("http://api.example.com/x", "api.example.com", "DIRECT"),
    ("http://api.example.com:443/x", "api.example.com", "DIRECT"),
    ("https://api.example.com:8443/x", "api.example.com", "PROXY"),
    ("http://api.example.com:8443/x", "api.example.com", "PROXY"),
    ("https://api.example.com:9443/x", "api.example.com", "DIRECT"),
    ("wss://api.example.com/socket", "api.example.com", "PROXY"),
    ("ws://api.example.com/socket", "api.example.com", "DIRECT"),
    ("https://a.b.svc.example/", "a.b.svc.example", "PROXY"),
    ("http://a.b.svc.example/", "a.b.svc.example", "DIRECT"),
    ("https://svc.example/", "svc.example", "DIRECT"),
    ("https://evilsvc.example/", "evilsvc.example", "DIRECT"),
    ("https://api.example.com.evil.net/", "api.example.com.evil.net", "DIRECT"),
    ("http://anyport.test:1234/", "anyport.test", "PROXY"),
    ("https://anyport.test:1234/", "anyport.test", "PROXY"),
    ("http://plain.test/", "plain.test", "PROXY"),
    ("https://plain.test/", "plain.test", "DIRECT"),
    ("http://plain.test:8080/", "plain.test", "DIRECT"),
    ("https://pinned.test:9443/", "pinned.test", "PROXY"),
    ("http://pinned.test:9443/", "pinned.test", "DIRECT"),
    ("http://[::1]:8081/", "[::1]", "PROXY"),
    ("https://[::1]:8081/", "[::1]", "DIRECT"),
    ("https://www.example.org/", "www.example.org", "DIRECT"),
]

PAC_EVAL = r"""
const fs = require("fs"), vm = require("vm");
const [pac, cases] = [fs.readFileSync(process.argv[1], "utf8"), JSON.parse(process.argv[2])];
const sandbox = {};
vm.runInNewContext(pac, sandbox);
console.log(JSON.stringify(cases.map(([url, host]) => sandbox.FindProxyForURL(url, host))));
"""


def test_admin_serves_health_ca_and_a_pac_that_routes_only_rule_hosts(signet, tmp_path):
    node = require("node")
    admin_port = free_port()
    signet.start(
        f"""
[admin]
listen = "127.0.0.1:{admin_port}"

[[host]]
match = ["api.example.com", "api.example.com:8443", "*.svc.example", "anyport.test:*"]
auth = {{ type = "bearer", token = "t" }}

[[host]]
match = ["http://plain.test", "https://pinned.test:9443", "http://[::1]:8081"]
auth = {{ type = "bearer", token = "t" }}
"""
    )
    base = f"http://127.0.0.1:{admin_port}"
    assert urllib.request.urlopen(f"{base}/healthz", timeout=10).read() == b"ok\n"
    assert urllib.request.urlopen(f"{base}/ca.crt", timeout=10).read() == signet.ca.read_bytes()
    pac = urllib.request.urlopen(f"{base}/proxy.pac", timeout=10).read().decode()
    pac_file = tmp_path / "proxy.pac"
    pac_file.write_text(pac)
    cases = [[u, h] for u, h, _ in PAC_CASES]
    out = subprocess.run([node, "-e", PAC_EVAL, pac_file, json.dumps(cases)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = [f"PROXY 127.0.0.1:{signet.port}" if e == "PROXY" else "DIRECT" for _, _, e in PAC_CASES]
    assert got == want, list(zip([u for u, _, _ in PAC_CASES], got))
