"""ASAP (Atlassian S2S) through signet, verified by Atlassian's own JWTAuthVerifier
(asap_server.py, PyPI atlassian-jwt-auth), and `signet sign` with --at/--nonce against a token
PyJWT computes from the same inputs."""

import base64
import json
import subprocess
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import HERE, PYTHON, SIGNET, free_port

AUDIENCE, ISSUER = "api-service", "signet-client"
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", *CURVES]


def pkcs8(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def keys():
    """alg -> (kid, private key)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out = {alg: (f"{ISSUER}/rsa-1", rsa_key) for alg in ALGORITHMS if alg[0] in "RP"}
    for alg, curve in CURVES.items():
        out[alg] = (f"{ISSUER}/{alg.lower()}", ec.generate_private_key(curve))
    return out


@pytest.fixture
def verifier(procs, tmp_path, keys):
    port = free_port()
    table = {kid: public_pem(key) for kid, key in keys.values()}
    path = tmp_path / "asap-keys.json"
    path.write_text(json.dumps(table))
    procs.start([PYTHON, HERE / "asap_server.py", port, AUDIENCE, path], port, "atlassian-jwt-auth verifier")
    return port


def asap_auth(tmp_path, alg, kid, key, extra=""):
    path = tmp_path / f"{kid.replace('/', '_')}.pem"
    path.write_bytes(pkcs8(key))
    return (
        f'type = "asap"\nalg = "{alg}"\niss = "{ISSUER}"\naud = "{AUDIENCE}"\nkid = "{kid}"\n'
        f'private_key = "${{file:{path}}}"\n{extra}'
    )


def start(signet, port, routes):
    config = f'[[host]]\nmatch = ["127.0.0.1:{port}"]\nauth = "none"\n'
    for path, auth in routes.items():
        config += f'\n  [[host.route]]\n  path = "{path}/**"\n  auth = "{path.strip("/")}"\n'
    profiles = "".join(f'[auth.{path.strip("/")}]\n{auth}\n' for path, auth in routes.items())
    signet.start(profiles + config)


def get(signet, url, *headers, status=200):
    args = [a for h in headers for a in ("-H", h)]
    code, body = signet.curl(*args, url)
    assert code == status, f"{url}: {code} {body}"
    return json.loads(body) if status == 200 else body


def test_every_alg_verifies_with_a_fresh_jti(signet, verifier, keys, tmp_path):
    start(signet, verifier, {f"/{alg}": asap_auth(tmp_path, alg, *keys[alg]) for alg in ALGORITHMS})
    for alg in ALGORITHMS:
        kid = keys[alg][0]
        seen = set()
        for _ in range(2):
            got = get(signet, f"http://127.0.0.1:{verifier}/{alg}/x")
            assert got["header_raw"] == json.dumps({"alg": alg, "kid": kid}, separators=(",", ":"))
            claims = got["claims"]
            assert (claims["iss"], claims["sub"], claims["aud"]) == (ISSUER, ISSUER, AUDIENCE)
            assert claims["exp"] - claims["iat"] == 3600
            seen.add(claims["jti"])
        # The verifier refuses a jti it has seen: two answers, two fresh ones.
        assert len(seen) == 2, alg


def test_sub_claims_and_exp(signet, verifier, keys, tmp_path):
    kid, key = keys["ES256"]
    start(
        signet,
        verifier,
        {
            "/sub": asap_auth(tmp_path, "ES256", kid, key, 'sub = "a-user"\n'),
            "/claims": asap_auth(tmp_path, "ES256", kid, key, "claims = '{\"scope\":\"read write\",\"n\":1}'\nexp = 600\n"),
            "/table": asap_auth(tmp_path, "ES256", kid, key, 'claims = { sub = "from-claims" }\n'),
            "/long": asap_auth(tmp_path, "ES256", kid, key, "exp = 7200\n"),
        },
    )
    base = f"http://127.0.0.1:{verifier}"
    # Atlassian's default: sub must be iss; told otherwise, it takes signet's sub.
    get(signet, f"{base}/sub/", status=401)
    assert get(signet, f"{base}/sub/", "X-Asap-Any-Subject: 1")["claims"]["sub"] == "a-user"
    claims = get(signet, f"{base}/claims/")["claims"]
    assert claims["scope"] == "read write" and claims["n"] == 1
    assert claims["exp"] - claims["iat"] == 600
    assert get(signet, f"{base}/table/", "X-Asap-Any-Subject: 1")["claims"]["sub"] == "from-claims"
    # A lifetime over an hour is refused by the verifier (and warned about by `signet check`).
    assert "exceeds the maximum 1 hour" in get(signet, f"{base}/long/", status=401)


def test_postmans_data_uri_key(signet, verifier, keys, tmp_path):
    kid, key = keys["RS256"]
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    data = f"data:application/pkcs8;kid={urllib.parse.quote(kid, safe='')};base64,{base64.b64encode(der).decode()}"
    path = tmp_path / "data-uri.key"
    path.write_text(data)
    auth = (
        f'type = "asap"\niss = "{ISSUER}"\naud = "{AUDIENCE}"\nkid = "{kid}"\n'
        f'private_key = "${{file:{path}}}"\n'
    )
    start(signet, verifier, {"/data": auth})
    got = get(signet, f"http://127.0.0.1:{verifier}/data/")
    assert got["header_raw"] == f'{{"alg":"RS256","kid":"{kid}"}}'


def test_signet_sign_with_fixed_time_and_jti_is_pyjwts_token(verifier, keys, tmp_path, procs):
    kid, key = keys["RS256"]
    config = tmp_path / "sign.toml"
    config.write_text(f'[auth.a]\n{asap_auth(tmp_path, "RS256", kid, key)}\n[[host]]\nmatch = ["127.0.0.1:*"]\nauth = "a"\n')
    out = subprocess.run(
        [SIGNET, "sign", "--show-secrets", "--config", config, "--at", "2024-01-01T00:00:00Z", "--nonce", "jti-0001", f"http://127.0.0.1:{verifier}/"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    authorization = next(l for l in out.stdout.decode().splitlines() if l.lower().startswith("authorization: "))
    # 2024-01-01T00:00:00Z is 1704067200; RSASSA-PKCS1-v1_5 is deterministic, so PyJWT signing
    # the same bytes with the same key gives the same token.
    payload = (
        f'{{"aud":"{AUDIENCE}","iss":"{ISSUER}","sub":"{ISSUER}","iat":1704067200,"exp":1704070800,"jti":"jti-0001"}}'
    )
    want = jwt.api_jws.PyJWS().encode(payload.encode(), pkcs8(key), "RS256", headers={"typ": None, "kid": kid})
    assert authorization.split(": ", 1)[1] == f"Bearer {want}"
