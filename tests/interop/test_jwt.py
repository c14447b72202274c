"""JWT Bearer through signet: every algorithm verified by PyJWT (jwt_server.py), and the same
settings signed by Postman's own runtime (postman_sign.js, npm postman-runtime) giving the same
token (HS*) or the same header and payload bytes (the randomised RS/PS/ES signatures aside)."""

import base64
import json
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import HERE, PYTHON, SIGNET, free_port, require

HS = ["HS256", "HS384", "HS512"]
RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
EC = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
ALGORITHMS = HS + RSA + list(EC)
# Bytes that are not UTF-8, so only a real base64 decoding gives the verifier's key.
RAW_SECRET = bytes(range(200, 248))


def pem_pair(key):
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@pytest.fixture(scope="module")
def keys():
    """alg -> (signet's key or secret settings, the verifier's key entry)."""
    rsa_private, rsa_public = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    out = {}
    for alg in HS:
        secret = f"secret-for-{alg}-0123456789abcdef"
        out[alg] = ({"secret": secret}, {"secret_hex": secret.encode().hex()})
    for alg in RSA:
        out[alg] = ({"private_key": rsa_private}, {"public": rsa_public})
    for alg, curve in EC.items():
        private, public = pem_pair(ec.generate_private_key(curve))
        out[alg] = ({"private_key": private}, {"public": public})
    return out


@pytest.fixture
def verifier(procs, tmp_path, keys):
    port = free_port()
    table = {alg: entry for alg, (_, entry) in keys.items()}
    table["HS256-b64"] = {"secret_hex": RAW_SECRET.hex()}
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(table))
    procs.start([PYTHON, HERE / "jwt_server.py", port, path], port, "PyJWT verifier")
    return port


def toml_str(value):
    return json.dumps(value)


def key_lines(tmp_path, alg, settings):
    """signet's key settings for `alg`: the secret inline, a private key through ${file:…}."""
    if "secret" in settings:
        return f"secret = {toml_str(settings['secret'])}\n"
    path = tmp_path / f"{alg}.pem"
    path.write_text(settings["private_key"])
    return f'private_key = "${{file:{path}}}"\n'


def route(path, alg, body):
    auth = f'{{ type = "jwt", algorithm = "{alg}", {body} }}'
    return f'\n  [[host.route]]\n  path = "{path}/**"\n  auth = {auth}\n'


def start(signet, port, profiles, routes):
    return signet.start(f'{profiles}\n[[host]]\nmatch = ["127.0.0.1:{port}"]\nauth = "none"\n{routes}')


def verified(signet, url, alg, *headers, status=200):
    args = ["-H", f"X-Jwt-Alg: {alg}"]
    for h in headers:
        args += ["-H", h]
    code, body = signet.curl(*args, url)
    assert code == status, f"{url}: {code} {body}"
    return json.loads(body) if status == 200 else body


def profile(name, alg, key, extra=""):
    return f'[auth.{name}]\ntype = "jwt"\nalgorithm = "{alg}"\n{key}{extra}\n'


def test_every_algorithm_verifies_with_postmans_header_bytes(signet, verifier, keys, tmp_path):
    profiles = ""
    routes = ""
    for alg in ALGORITHMS:
        extra = f"header = '{{\"typ\":\"JWT\",\"kid\":\"k-{alg}\"}}'\npayload = '{{\"sub\":\"signet\",\"n\":1}}'\n"
        profiles += profile(alg, alg, key_lines(tmp_path, alg, keys[alg][0]), extra)
        routes += f'\n  [[host.route]]\n  path = "/{alg}/**"\n  auth = "{alg}"\n'
    start(signet, verifier, profiles, routes)
    for alg in ALGORITHMS:
        got = verified(signet, f"http://127.0.0.1:{verifier}/{alg}/x", alg, "X-Jwt-Prefix: Bearer")
        # Postman's {...header, alg}: the fields as written, alg last; no typ of its own.
        assert got["header_raw"] == f'{{"typ":"JWT","kid":"k-{alg}","alg":"{alg}"}}', alg
        assert got["header"] == {"typ": "JWT", "kid": f"k-{alg}", "alg": alg}
        assert got["payload_raw"] == '{"sub":"signet","n":1}'
        sig = base64.urlsafe_b64decode(got["token"].split(".")[2] + "==")
        if alg in EC:
            # JOSE's raw r || s, not DER.
            assert len(sig) == {"ES256": 64, "ES384": 96, "ES512": 132}[alg]


def test_a_wrong_key_is_refused(signet, verifier, keys, tmp_path):
    # The verifier checks: a token signed with another secret is refused.
    body = 'secret = "not-the-secret"'
    start(signet, verifier, "", route("/w", "HS256", body))
    verified(signet, f"http://127.0.0.1:{verifier}/w/x", "HS256", "X-Jwt-Prefix: Bearer", status=401)


def test_placements_and_prefixes(signet, verifier, keys, tmp_path):
    secret = toml_str(keys["HS512"][0]["secret"])
    routes = (
        route("/default", "HS512", f"secret = {secret}")
        + route("/custom", "HS512", f'secret = {secret}, header_prefix = "JWT"')
        + route("/bare", "HS512", f'secret = {secret}, header_prefix = ""')
        + route("/query", "HS512", f'secret = {secret}, add_token_to = "query_param", query_param_key = "jwt"')
        + route("/qdefault", "HS512", f'secret = {secret}, add_token_to = "query_param"')
    )
    start(signet, verifier, "", routes)
    base = f"http://127.0.0.1:{verifier}"
    verified(signet, f"{base}/default/", "HS512", "X-Jwt-Prefix: Bearer", "Authorization: Bearer client-token")
    verified(signet, f"{base}/custom/", "HS512", "X-Jwt-Prefix: JWT")
    verified(signet, f"{base}/bare/", "HS512")
    # The client's own parameter of that name is replaced, the others kept.
    got = verified(signet, f"{base}/query/?a=1&jwt=client&b=2", "HS512", "X-Jwt-Query: jwt")
    assert got["header_raw"] == '{"alg":"HS512"}' and got["payload_raw"] == "{}"
    verified(signet, f"{base}/qdefault/?a=1", "HS512", "X-Jwt-Query: token")
    # The verifier tells a wrong prefix apart.
    verified(signet, f"{base}/custom/", "HS512", "X-Jwt-Prefix: Bearer", status=401)


def test_tables_and_a_base64_secret(signet, verifier, keys, tmp_path):
    b64 = base64.b64encode(RAW_SECRET).decode()
    b64url = base64.urlsafe_b64encode(RAW_SECRET).decode().rstrip("=")
    key = key_lines(tmp_path, "ES384", keys["ES384"][0])
    profiles = profile(
        "tables",
        "ES384",
        key,
        'header = { kid = "t1", cty = "x" }\npayload = { sub = "me", scope = ["a", "b"], n = 1.5, deep = { ok = true } }\n',
    )
    routes = (
        '\n  [[host.route]]\n  path = "/tables/**"\n  auth = "tables"\n'
        + route("/b64", "HS256", f'secret = "{b64}", is_secret_base64_encoded = true')
        + route("/b64url", "HS256", f'secret = "{b64url}", is_secret_base64_encoded = true')
    )
    start(signet, verifier, profiles, routes)
    base = f"http://127.0.0.1:{verifier}"
    got = verified(signet, f"{base}/tables/", "ES384", "X-Jwt-Prefix: Bearer")
    assert got["header_raw"] == '{"cty":"x","kid":"t1","alg":"ES384"}'
    assert got["claims"] == {"sub": "me", "scope": ["a", "b"], "n": 1.5, "deep": {"ok": True}}
    for path in ["/b64/", "/b64url/"]:
        # The verifier's key for these is RAW_SECRET itself, and only that.
        verified(signet, f"{base}{path}", "HS256", "X-Jwt-Prefix: Bearer", "X-Jwt-Key: HS256-b64")
        verified(signet, f"{base}{path}", "HS256", "X-Jwt-Prefix: Bearer", status=401)


def test_long_running_claims_checked_by_pyjwt(signet, verifier, keys, tmp_path):
    key = key_lines(tmp_path, "PS256", keys["PS256"][0])
    profiles = profile(
        "fresh", "PS256", key, "payload = '{\"sub\":\"svc\"}'\nissued_at = true\nexpires_in = 120\nnot_before = true\njwt_id = true\n"
    ) + profile("reused", "PS256", key, "expires_in = 600\n")
    routes = '\n  [[host.route]]\n  path = "/fresh/**"\n  auth = "fresh"\n'
    routes += '\n  [[host.route]]\n  path = "/reused/**"\n  auth = "reused"\n'
    start(signet, verifier, profiles, routes)
    base = f"http://127.0.0.1:{verifier}"
    require_all = "X-Jwt-Require: exp,iat,nbf,jti"
    tokens = []
    for _ in range(3):
        got = verified(signet, f"{base}/fresh/", "PS256", "X-Jwt-Prefix: Bearer", require_all)
        claims = got["claims"]
        assert claims["exp"] - claims["iat"] == 120 and claims["nbf"] == claims["iat"]
        assert list(claims) == ["sub", "iat", "nbf", "exp", "jti"]
        tokens.append(got["token"])
    # A fresh jti each time (the verifier refuses one seen before, so all three were new).
    assert len(set(tokens)) == 3
    one = verified(signet, f"{base}/reused/", "PS256", "X-Jwt-Prefix: Bearer", "X-Jwt-Require: exp,iat")
    two = verified(signet, f"{base}/reused/", "PS256", "X-Jwt-Prefix: Bearer", "X-Jwt-Require: exp,iat")
    # Without jti the token is reused while most of its life remains (PyJWT accepts it twice).
    assert one["token"] == two["token"]


# --- Postman's own signer ----------------------------------------------------------------------


def postman(auth, path="/"):
    node = require("node")
    assert (HERE / "node_modules" / "postman-runtime").is_dir(), "npm install in tests/interop (tests/run does it)"
    spec = json.dumps({"type": "jwt", "auth": auth, "path": path})
    out = subprocess.run([node, HERE / "postman_sign.js", spec], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return json.loads(out.stdout)


def signet_sign(tmp_path, auth_toml, url):
    """`signet sign` of a GET to `url` under a rule with `auth_toml`: (request target, Authorization)."""
    config = tmp_path / "sign.toml"
    config.write_text(f'[auth.j]\n{auth_toml}\n[[host]]\nmatch = ["127.0.0.1:*"]\nauth = "j"\n')
    out = subprocess.run([SIGNET, "sign", "--show-secrets", "--config", config, url], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    lines = out.stdout.decode().splitlines()
    target = lines[0].split(" ")[1]
    authorization = next((l.split(": ", 1)[1] for l in lines if l.lower().startswith("authorization: ")), None)
    return target, authorization


# Payloads and headers whose JSON Postman re-writes: spaces, escapes, 1.0, index-like names.
HEADERS = ["", "{}", '{"typ":"JWT","kid":"k1"}', ' {"kid":"k2", "alg":"none", "x":[1, 2.50]} ']
PAYLOADS = ['{"a":"1"}', ' { "b" : 1.0,\n "a": "\\u00e9\\/", "10": 0, "2": 1e21 } ', ""]


def postman_auth(alg, settings, header, payload, **more):
    auth = {"algorithm": alg, "header": header, "payload": payload, **more}
    if "secret" in settings:
        auth["secret"] = settings["secret"]
    else:
        auth["privateKey"] = settings["private_key"]
    return auth


def signet_auth(tmp_path, alg, settings, header, payload, extra=""):
    return (
        f'type = "jwt"\nalgorithm = "{alg}"\n{key_lines(tmp_path, alg, settings)}'
        f"header = {toml_str(header)}\npayload = {toml_str(payload)}\n{extra}"
    )


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_postman_runtime_gives_the_same_token(alg, keys, tmp_path):
    settings = keys[alg][0]
    cases = [(h, p) for h in HEADERS for p in PAYLOADS] if alg == "HS256" else [(HEADERS[3], PAYLOADS[1])]
    for header, payload in cases:
        want = postman(postman_auth(alg, settings, header, payload))["authorization"]
        _, got = signet_sign(tmp_path, signet_auth(tmp_path, alg, settings, header, payload), "http://127.0.0.1:1/p")
        if alg in HS:
            assert got == want, (header, payload)
        else:
            # Same header and payload bytes; the signatures are randomised (PS, ES) or, for RS,
            # equal as well since RSASSA-PKCS1-v1_5 is deterministic.
            assert got.rsplit(".", 1)[0] == want.rsplit(".", 1)[0], (header, payload)
            if alg.startswith("RS"):
                assert got == want


def test_postman_runtime_placements_and_base64_secret(keys, tmp_path):
    settings = keys["HS384"][0]
    for more, extra in [
        ({"headerPrefix": ""}, 'header_prefix = ""\n'),
        ({"headerPrefix": "JWT"}, 'header_prefix = "JWT"\n'),
    ]:
        want = postman(postman_auth("HS384", settings, "", '{"a":1}', **more))["authorization"]
        _, got = signet_sign(tmp_path, signet_auth(tmp_path, "HS384", settings, "", '{"a":1}', extra), "http://127.0.0.1:1/")
        assert got == want, more
    want = postman(
        postman_auth("HS384", settings, "", '{"a":1}', addTokenTo="queryParam", queryParamKey="jwt"), "/p?q=1&jwt=old"
    )
    target, authorization = signet_sign(
        tmp_path,
        signet_auth(tmp_path, "HS384", settings, "", '{"a":1}', 'add_token_to = "query_param"\nquery_param_key = "jwt"\n'),
        "http://127.0.0.1:1/p?q=1&jwt=old",
    )
    assert authorization is None and want["authorization"] is None
    assert target.split("/", 3)[-1] == want["url"].lstrip("/")
    b64 = base64.b64encode(RAW_SECRET).decode()
    want = postman({"algorithm": "HS512", "secret": b64, "isSecretBase64Encoded": True, "payload": "{}"})
    _, got = signet_sign(
        tmp_path, f'type = "jwt"\nalgorithm = "HS512"\nsecret = "{b64}"\nis_secret_base64_encoded = true\n', "http://127.0.0.1:1/"
    )
    assert got == want["authorization"]


def test_signet_sign_with_fixed_time_and_jti_is_pyjwts_token(keys, tmp_path):
    import jwt

    settings = keys["HS384"][0]
    auth = signet_auth(
        tmp_path, "HS384", settings, "", '{"sub":"svc"}', "expires_in = 300\nnot_before = true\njwt_id = true\n"
    )
    config = tmp_path / "sign.toml"
    config.write_text(f'[auth.j]\n{auth}\n[[host]]\nmatch = ["127.0.0.1:*"]\nauth = "j"\n')
    args = ["sign", "--show-secrets", "--config", config, "--at", "2024-01-01T00:00:00Z", "--nonce", "n-42", "http://127.0.0.1:1/"]
    out = subprocess.run([SIGNET, *args], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    authorization = next(l for l in out.stdout.decode().splitlines() if l.lower().startswith("authorization: "))
    # 2024-01-01T00:00:00Z is 1704067200.
    payload = b'{"sub":"svc","iat":1704067200,"nbf":1704067200,"exp":1704067500,"jti":"n-42"}'
    want = jwt.api_jws.PyJWS().encode(payload, settings["secret"].encode(), "HS384", headers={"typ": None})
    assert authorization.split(": ", 1)[1] == f"Bearer {want}"
