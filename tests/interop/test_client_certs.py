"""Client certificates as Postman takes them (`[host.tls]` client_cert + client_key, an encrypted
PKCS#8 key, a PKCS#12 file modern or legacy, with `passphrase`), presented by signet to an HTTPS
origin that requires one (mtls_origin.py: Python's `ssl`, CERT_REQUIRED).

Every file is made here by openssl at run time: one CA issues the origin's certificate and a
client certificate per form (each its own name and key), so the origin's answer tells which
certificate signet presented.
"""

import hashlib
import json
import ssl
import subprocess

import pytest

from conftest import HERE, PYTHON, SIGNET, free_port, require

PASSPHRASE = "correct horse battery staple"

# form -> (key algorithm, what [host.tls] says besides `ca`, what openssl -info must show)
FORMS = {
    "pem": ("rsa", 'client_cert = "{cert}"\nclient_key = "{key}"', None),
    "pkcs8-aes": (
        "ec",
        'client_cert = "{cert}"\nclient_key = "{p8}"\npassphrase = "${{KEY_PASSPHRASE}}"',
        None,
    ),
    "pfx": (
        "ec",
        'pfx = "{p12}"\npassphrase = "${{KEY_PASSPHRASE}}"',
        ["PBES2, PBKDF2, AES-256-CBC"],
    ),
    "pfx-legacy": (
        "rsa",
        'pfx = "{p12_legacy}"\npassphrase = "${{KEY_PASSPHRASE}}"',
        ["pbeWithSHA1And40BitRC2-CBC", "pbeWithSHA1And3-KeyTripleDES-CBC"],
    ),
}


def openssl(*args, cwd):
    out = subprocess.run([require("openssl"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr}"
    return out.stdout + out.stderr


def make_key(kind, path, cwd):
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path, cwd=cwd)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path, cwd=cwd)


def issue(name, key, ext, cwd):
    """A certificate for `name` with `key`, issued by ca.pem, with the extensions in `ext`."""
    (cwd / f"{name}.ext").write_text(ext)
    openssl("req", "-new", "-key", key, "-subj", f"/CN={name}", "-out", f"{name}.csr", cwd=cwd)
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "7", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=cwd,
    )
    return cwd / f"{name}.pem"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The CA, the origin's certificate and, per form, a client certificate in that form."""
    d = tmp_path_factory.mktemp("client-certs")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
    openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "7", "-subj", "/CN=client-cert interop CA",
        "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign", "-out", "ca.pem",
        cwd=d,
    )
    make_key("ec", "origin.key", d)
    issue("origin", "origin.key", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", d)
    forms = {}
    for form, (kind, _, _) in FORMS.items():
        name = f"signet-client-{form}"
        key = d / f"{name}.key"
        make_key(kind, key.name, d)
        cert = issue(name, key.name, "extendedKeyUsage=clientAuth\n", d)
        p8, p12, p12_legacy = d / f"{name}.p8", d / f"{name}.p12", d / f"{name}-legacy.p12"
        openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", key, "-passout", f"pass:{PASSPHRASE}", "-out", p8, cwd=d)
        export = ["pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", "ca.pem", "-passout", f"pass:{PASSPHRASE}"]
        openssl(*export, "-out", p12, cwd=d)
        openssl(*export, "-legacy", "-out", p12_legacy, cwd=d)
        forms[form] = {"name": name, "cert": cert, "key": key, "p8": p8, "p12": p12, "p12_legacy": p12_legacy}
    return d, forms


@pytest.fixture
def origin(procs, files):
    d, _ = files
    port = free_port()
    procs.start([PYTHON, HERE / "mtls_origin.py", port, d / "origin.pem", d / "origin.key", d / "ca.pem"], port, "mtls origin")
    return port


def config(port, ca, tls):
    return f"""
[[host]]
match = ["localhost:{port}"]

[host.tls]
ca = "{ca}"
{tls}
"""


def form_config(files, form, port):
    d, forms = files
    return config(port, d / "ca.pem", FORMS[form][1].format(**forms[form]))


def der_sha256(pem_file):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem_file.read_text())).hexdigest()


def test_openssl_wrote_the_encryptions_under_test(files):
    d, forms = files
    for form, (_, _, expected) in FORMS.items():
        for needle in expected or []:
            f = forms[form]
            p12 = f["p12_legacy"] if form == "pfx-legacy" else f["p12"]
            extra = ["-legacy"] if form == "pfx-legacy" else []
            info = openssl("pkcs12", *extra, "-in", p12, "-info", "-noout", "-passin", f"pass:{PASSPHRASE}", cwd=d)
            assert needle in info, f"{form}: {needle!r} not in {info}"
    assert "ENCRYPTED PRIVATE KEY" in forms["pkcs8-aes"]["p8"].read_text()


@pytest.mark.parametrize("form", list(FORMS))
def test_origin_sees_the_client_certificate_of_each_form(signet, origin, files, form):
    _, forms = files
    s = signet.start(form_config(files, form, origin), env={"KEY_PASSPHRASE": PASSPHRASE})
    status, body = s.curl(f"https://localhost:{origin}/whoami")
    assert status == 200, body
    seen = json.loads(body)
    assert seen["subject"]["commonName"] == forms[form]["name"], seen
    assert seen["sha256"] == der_sha256(forms[form]["cert"]), seen


def test_without_a_client_certificate_the_origin_refuses(signet, origin, files):
    d, _ = files
    s = signet.start(config(origin, d / "ca.pem", ""))
    status, body = s.curl(f"https://localhost:{origin}/whoami")
    assert status == 502, body


def run_check(path, passphrase):
    return subprocess.run(
        [SIGNET, "--config", path, "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "KEY_PASSPHRASE": passphrase},
    )


@pytest.mark.parametrize("form", ["pkcs8-aes", "pfx", "pfx-legacy"])
def test_check_names_passphrase_file_and_line_when_it_is_wrong(tmp_path, files, form):
    text = form_config(files, form, 8443)
    path = tmp_path / "signet.toml"
    path.write_text(text)
    line = next(i for i, l in enumerate(text.split("\n"), 1) if l.startswith("passphrase ="))

    right = run_check(path, PASSPHRASE)
    assert right.returncode == 0, right.stderr

    wrong = run_check(path, "Tr0ub4dor&3")
    assert wrong.returncode == 1, wrong.stderr
    assert f"{path}:{line}:1: host[0].tls.passphrase: the passphrase does not open" in wrong.stderr, wrong.stderr
    assert "Tr0ub4dor&3" not in wrong.stderr + wrong.stdout
