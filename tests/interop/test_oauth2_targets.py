"""OAuth 2.0 `resource` (RFC 8707), Auth0's `audience` and `token_type = "id_token"` against npm
oidc-provider. Its resource indicators issue RFC 9068 JWT access tokens whose `aud` is the
resource; `audience` names the resource server as Auth0 does. oidc-provider logs the `audience`
and `resource` parameters of every authorization and token request as they arrived. The API
behind signet verifies each token with PyJWT against the provider's JWKS (iss, aud, signature,
and that it is an access token or an ID token as asked)."""

import json
import subprocess
import time

import requests

from conftest import HERE, PYTHON, SIGNET, free_port
from test_oauth2 import drive_consent, start_login, start_oidc

AUDIENCE = "urn:signet:interop-api"


def start_jwt_rs(procs, issuer, audience, kind, tmp_path, port=None):
    port = port or free_port()
    log = tmp_path / f"rs-{port}.jsonl"
    log.write_text("")
    procs.start([PYTHON, HERE / "oidc_jwt_rs_server.py", port, issuer, audience, kind, log], port,
                "JWT-verifying resource server")
    return f"http://127.0.0.1:{port}", log


def jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def sent_params(log):
    """(route, grant_type, audience, resource) of each request oidc-provider received."""
    return [(e["route"], e["grant_type"], e["audience"], e["resource"]) for e in jsonl(log)]


def test_the_jwt_api_accepts_the_providers_tokens_and_refuses_others(procs, tmp_path):
    """The verifier itself, with tokens fetched by requests (no signet): the provider's JWT
    access token for the resource passes; altered, or offered where an ID token is wanted, it fails."""
    issuer = start_oidc(procs)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/"
    rs, _ = start_jwt_rs(procs, issuer, resource, "access", tmp_path, port)
    r = requests.post(f"{issuer}/token", data={"grant_type": "client_credentials", "scope": "api:read",
                                               "resource": resource},
                      auth=("cc-basic", "basic-secret-with:colon"), timeout=10)
    token = r.json()["access_token"]

    def offer(api, t):
        return requests.get(f"{api}/api", headers={"authorization": f"Bearer {t}"}, timeout=10)

    r = offer(rs, token)
    assert r.status_code == 200 and json.loads(r.text)["aud"] == resource, r.text
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}{'BBBB' if sig.endswith('AAAA') else 'AAAA'}"
    r = offer(rs, forged)
    assert r.status_code == 401 and "InvalidSignatureError" in r.text, r.text
    id_rs, _ = start_jwt_rs(procs, issuer, resource, "id", tmp_path)
    r = offer(id_rs, token)
    assert r.status_code == 401 and "an access token where an ID token was expected" in r.text, r.text


def cc_config(issuer, rs, target):
    return f"""
[auth.cc]
type = "oauth2"
grant_type = "client_credentials"
access_token_url = "{issuer}/token"
client_id = "cc-basic"
client_secret = "basic-secret-with:colon"
scope = "api:read"
{target}

[[host]]
match = ["{rs.removeprefix('http://')}"]
auth = "cc"
"""


def test_client_credentials_with_resource_gets_a_jwt_for_that_resource(procs, signet, tmp_path):
    params = tmp_path / "oidc-params.jsonl"
    issuer = start_oidc(procs, params_log=params)
    # The resource indicator is the API's own URL, as RFC 8707 §2 suggests.
    port = free_port()
    resource = f"http://127.0.0.1:{port}/"
    rs, log = start_jwt_rs(procs, issuer, resource, "access", tmp_path, port)
    signet.start(cc_config(issuer, rs, f'resource = "{resource}"'))
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    claims = json.loads(body)
    assert claims["aud"] == resource and claims["client_id"] == "cc-basic" and claims["scope"] == "api:read"
    assert sent_params(params) == [("token", "client_credentials", None, resource)]


def test_client_credentials_with_audience_gets_a_jwt_for_that_audience(procs, signet, tmp_path):
    params = tmp_path / "oidc-params.jsonl"
    issuer = start_oidc(procs, params_log=params)
    rs, log = start_jwt_rs(procs, issuer, AUDIENCE, "access", tmp_path)
    signet.start(cc_config(issuer, rs, f'audience = "{AUDIENCE}"'))
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    assert json.loads(body)["aud"] == AUDIENCE
    assert sent_params(params) == [("token", "client_credentials", AUDIENCE, None)]


def test_a_token_for_another_audience_is_refused_by_the_api(procs, signet, tmp_path):
    """The API's check is real: a token minted for a different audience does not pass it."""
    issuer = start_oidc(procs)
    rs, log = start_jwt_rs(procs, issuer, AUDIENCE, "access", tmp_path)
    signet.start(cc_config(issuer, rs, 'audience = "urn:signet:some-other-api"'))
    status, body = signet.curl(f"{rs}/api")
    assert status == 401 and "InvalidAudienceError" in body, body


def login_config(issuer, callback, rs, scope, extra):
    return f"""
[auth.app]
type = "oauth2"
grant_type = "authorization_code_pkce"
auth_url = "{issuer}/auth"
access_token_url = "{issuer}/token"
client_id = "app"
callback_url = "{callback}"
scope = "{scope}"
refresh_skew = 1
{extra}

[[host]]
match = ["{rs.removeprefix('http://')}"]
auth = "app"
"""


def log_in(config, issuer):
    proc, url = start_login(config)
    r = drive_consent(requests.Session(), issuer, url)
    assert r.status_code == 200 and "login complete" in r.text, r.text
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return url


def refresh(config):
    res = subprocess.run([SIGNET, "token", "app", "--refresh", "--config", config],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def login_for_target(procs, signet, tmp_path, target, value, rs_port=None):
    """Logs in with `target` (resource or audience) = value, uses the token through signet, then
    refreshes it and uses it again. Returns the provider's parameter log and the API's log."""
    params = tmp_path / "oidc-params.jsonl"
    callback = f"http://127.0.0.1:{free_port()}/callback"
    issuer = start_oidc(procs, callback=callback, params_log=params)
    rs, log = start_jwt_rs(procs, issuer, value, "access", tmp_path, rs_port)
    config = tmp_path / "signet.toml"
    config.write_text(login_config(issuer, callback, rs, "openid offline_access api:read",
                                   f'{target} = "{value}"'))
    url = log_in(config, issuer)
    assert f"{target}=" in url
    signet.start(config.read_text())
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    claims = json.loads(body)
    assert claims["aud"] == value and claims["sub"] == "alice" and claims["scope"] == "api:read"
    refresh(config)
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    assert json.loads(body)["aud"] == value
    entries = jsonl(log)
    assert len(entries) == 2 and entries[0]["token"] != entries[1]["token"], entries
    return sent_params(params)


def test_login_with_resource_then_refresh_keeps_a_jwt_for_that_resource(procs, signet, tmp_path):
    port = free_port()
    resource = f"http://127.0.0.1:{port}/"
    sent = login_for_target(procs, signet, tmp_path, "resource", resource, rs_port=port)
    assert sent == [
        ("authorization", None, None, resource),
        ("token", "authorization_code", None, resource),
        ("token", "refresh_token", None, resource),
    ]


def test_login_with_audience_then_refresh_keeps_a_jwt_for_that_audience(procs, signet, tmp_path):
    sent = login_for_target(procs, signet, tmp_path, "audience", AUDIENCE)
    assert sent == [
        ("authorization", None, AUDIENCE, None),
        ("token", "authorization_code", AUDIENCE, None),
        ("token", "refresh_token", AUDIENCE, None),
    ]


def test_token_type_id_token_sends_the_id_token_and_its_renewal(procs, signet, tmp_path):
    callback = f"http://127.0.0.1:{free_port()}/callback"
    issuer = start_oidc(procs, callback=callback, ttl=3)
    rs, log = start_jwt_rs(procs, issuer, "app", "id", tmp_path)
    config = tmp_path / "signet.toml"
    config.write_text(login_config(issuer, callback, rs, "openid offline_access", 'token_type = "id_token"'))
    log_in(config, issuer)
    store = tmp_path / "tokens" / "app.json"

    def sent_the_stored_id_token():
        stored = json.loads(store.read_text())
        assert stored["id_token"] and stored["id_token"] != stored["access_token"]
        assert jsonl(log)[-1]["token"] == stored["id_token"]
        return stored["id_token"]

    signet.start(config.read_text())
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    claims = json.loads(body)
    assert claims["iss"] == issuer and claims["aud"] == "app" and claims["sub"] == "alice"
    first = sent_the_stored_id_token()

    # Once the access token is short-lived signet refreshes, and sends the new ID token.
    time.sleep(3)
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    assert sent_the_stored_id_token() != first


def test_an_id_token_shorter_lived_than_its_access_token_is_renewed_in_time(procs, signet, tmp_path):
    """`expires_in` speaks of the access token; the ID token's own `exp` is what the API checks."""
    callback = f"http://127.0.0.1:{free_port()}/callback"
    issuer = start_oidc(procs, callback=callback, ttl=3600, id_token_ttl=3)
    rs, log = start_jwt_rs(procs, issuer, "app", "id", tmp_path)
    config = tmp_path / "signet.toml"
    config.write_text(login_config(issuer, callback, rs, "openid offline_access", 'token_type = "id_token"'))
    log_in(config, issuer)
    signet.start(config.read_text())
    signet.curl(f"{rs}/api", check_status=200)
    time.sleep(3)
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    entries = jsonl(log)
    assert [e["valid"] for e in entries] == [True, True], entries
    assert entries[0]["token"] != entries[1]["token"]
