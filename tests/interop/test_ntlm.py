"""NTLM through signet against pyspnego's acceptor: an origin answering 401 (ntlm_server.py) and
a parent proxy answering 407 (ntlm_parent_proxy.py). LM_COMPAT_LEVEL=5: NTLMv2 only."""

import hashlib
import json
import os
import subprocess

import pytest
import requests

from conftest import HERE, PYTHON, free_port, require

DOMAIN, USER, PASSWORD = "CORP", "alice", "Winter2024!"


@pytest.fixture
def ntlm_env(tmp_path):
    users = tmp_path / "ntlm-users"
    users.write_text(f"{DOMAIN}:{USER}:{PASSWORD}\n")
    return {"NTLM_USER_FILE": str(users), "LM_COMPAT_LEVEL": "5"}


def profile(password=PASSWORD):
    return f"""
[auth.corp]
type = "ntlm"
username = "{USER}"
password = "{password}"
domain = "{DOMAIN}"
workstation = "SIGNET-TEST"
"""


def start_origin(procs, env, word, tls=None):
    port = free_port()
    args = [PYTHON, HERE / "ntlm_server.py", port, word]
    if tls:
        args += list(tls)
    procs.start(args, port, f"ntlm_server.py ({word})", env=env)
    return port


def origin_config(port, host="127.0.0.1", extra=""):
    return f"""
{profile()}
[[host]]
match = ["{host}:{port}"]
auth = "corp"
{extra}
"""


@pytest.mark.parametrize("word", ["NTLM", "Negotiate"])
def test_get_is_authenticated_by_pyspnego(signet, procs, ntlm_env, word):
    port = start_origin(procs, ntlm_env, word)
    signet.start(origin_config(port))
    status, body = signet.curl(f"http://127.0.0.1:{port}/report?x=1")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["user"] == f"{DOMAIN}\\{USER}"
    assert answer["handshakes"] == 1


def test_post_256_kib_arrives_intact(signet, procs, ntlm_env, tmp_path):
    port = start_origin(procs, ntlm_env, "NTLM")
    signet.start(origin_config(port))
    data = os.urandom(256 * 1024)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    status, body = signet.curl(
        "-X", "POST", "--data-binary", f"@{payload}", "-H", f"X-Body-SHA256: {digest}",
        f"http://127.0.0.1:{port}/upload",
    )
    assert status == 200, body
    answer = json.loads(body)
    assert (answer["len"], answer["sha256"]) == (len(data), digest)


def test_post_above_the_buffer_limit_arrives_intact(signet, procs, ntlm_env, tmp_path):
    port = start_origin(procs, ntlm_env, "NTLM")
    signet.start("[proxy]\nbuffer_limit = 4096\n" + origin_config(port))
    data = os.urandom(256 * 1024)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    status, body = signet.curl(
        "-X", "POST", "--data-binary", f"@{payload}", "-H", f"X-Body-SHA256: {digest}",
        f"http://127.0.0.1:{port}/upload",
    )
    assert status == 200, body
    assert json.loads(body)["sha256"] == digest


@pytest.mark.parametrize("word", ["NTLM", "Negotiate"])
def test_one_handshake_for_several_requests_on_one_client_connection(signet, procs, ntlm_env, word):
    port = start_origin(procs, ntlm_env, word)
    signet.start(origin_config(port))
    session = requests.Session()
    session.proxies = {"http": signet.proxy}
    answers = []
    for i in range(4):
        r = session.post(f"http://127.0.0.1:{port}/item/{i}", data=f"body {i}".encode(), timeout=30)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert {a["conn"] for a in answers} == {answers[0]["conn"]}
    assert [a["handshakes"] for a in answers] == [1, 1, 1, 1]
    # Before the first answer: the NEGOTIATE leg, and for a Negotiate-only server also the
    # first NEGOTIATE sent under `NTLM`, which it refused.
    first = 2 if word == "NTLM" else 3
    assert [a["request"] for a in answers] == list(range(first, first + 4))


def test_wrong_password_is_refused_by_pyspnego(signet, procs, ntlm_env):
    port = start_origin(procs, ntlm_env, "NTLM")
    signet.start(origin_config(port).replace(PASSWORD, "not-the-password"))
    status, body = signet.curl(f"http://127.0.0.1:{port}/")
    assert status == 401
    assert "ntlm refused" in body


def ca_and_leaf(tmp_path):
    """A CA and a leaf for localhost signed by it (rustls refuses a self-signed CA as a leaf)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=7))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return b.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ntlm test CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    leaf = build(leaf_name, ca_name, key.public_key(), ca_key, False)
    pem = serialization.Encoding.PEM
    paths = [tmp_path / "ntlm-ca.crt", tmp_path / "ntlm-leaf.crt", tmp_path / "ntlm-leaf.key"]
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem))
    paths[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_https_origin_enforcing_channel_bindings(signet, procs, ntlm_env, tmp_path):
    ca, cert, key = ca_and_leaf(tmp_path)
    port = start_origin(procs, ntlm_env, "NTLM", tls=(cert, key))
    signet.start(origin_config(port, host="localhost", extra=f'  [host.tls]\n  ca = "{ca}"\n'))
    status, body = signet.curl(f"https://localhost:{port}/secure")
    assert status == 200, body
    assert json.loads(body)["user"] == f"{DOMAIN}\\{USER}"


@pytest.fixture
def parent_and_origin(procs, ntlm_env, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello through the parent\n")
    origin = free_port()
    procs.start([PYTHON, "-m", "http.server", origin, "--bind", "127.0.0.1", "--directory", site],
                origin, "http.server")
    parent = free_port()
    procs.start([PYTHON, HERE / "ntlm_parent_proxy.py", parent], parent, "ntlm_parent_proxy.py",
                env=ntlm_env)
    return parent, origin


def parent_config(parent, password=PASSWORD):
    return f"""
[proxy]
upstream_proxy = "http://127.0.0.1:{parent}"
upstream_proxy_auth = "corp"
{profile(password)}
"""


def test_parent_proxy_ntlm_for_a_plain_request(signet, parent_and_origin):
    parent, origin = parent_and_origin
    signet.start(parent_config(parent))
    status, body = signet.curl("-i", f"http://127.0.0.1:{origin}/hello.txt")
    assert status == 200, body
    assert "hello through the parent" in body
    assert f"x-parent-user: {DOMAIN}\\{USER}".lower() in body.lower()


def test_parent_proxy_ntlm_for_connect(signet, parent_and_origin):
    parent, origin = parent_and_origin
    signet.start(parent_config(parent))
    # -p: curl asks signet for a CONNECT tunnel; with no rule signet tunnels through the parent.
    status, body = signet.curl("-p", f"http://127.0.0.1:{origin}/hello.txt")
    assert status == 200, body
    assert "hello through the parent" in body


def test_parent_proxy_refuses_a_wrong_password(signet, parent_and_origin):
    parent, origin = parent_and_origin
    signet.start(parent_config(parent, password="wrong"))
    status, body = signet.curl(f"http://127.0.0.1:{origin}/hello.txt")
    assert status == 407, body


def test_parent_proxy_demands_ntlm_without_signet(parent_and_origin):
    """The parent really demands NTLM: without credentials it answers 407."""
    parent, origin = parent_and_origin
    require("curl")
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{parent}",
         f"http://127.0.0.1:{origin}/hello.txt"],
        capture_output=True, timeout=30,
    )
    assert out.stdout.decode() == "407"
