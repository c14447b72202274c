"""OAuth 2.0 against real authorization servers: npm oidc-provider (client credentials with both
client authentication methods, short-lived tokens, `signet login` with code + PKCE driven through
its dev login and consent forms, rotating refresh tokens) and Authlib on Flask (password grant).
The API behind signet validates every token with the authorization server (introspection, or
Authlib's own bearer validation)."""

import html
import json
import re
import subprocess
import time

import requests

from conftest import HERE, PYTHON, SIGNET, free_port, require

NODE_MODULES = HERE / "node_modules" / "oidc-provider"


def start_oidc(procs, callback="http://127.0.0.1:9/callback", ttl=3600, params_log=None, id_token_ttl=3600):
    node = require("node")
    assert NODE_MODULES.exists(), "npm packages missing (tests/run runs npm ci in tests/interop)"
    port = free_port()
    args = [node, HERE / "oidc_server.mjs", port, callback, ttl, *([params_log] if params_log else [])]
    procs.start(args, port, "oidc-provider", cwd=HERE, env={"ID_TOKEN_TTL": str(id_token_ttl)})
    return f"http://127.0.0.1:{port}"


def start_rs(procs, issuer, tmp_path):
    port = free_port()
    log = tmp_path / "rs.jsonl"
    log.write_text("")
    procs.start(
        [PYTHON, HERE / "oauth2_rs_server.py", port, f"{issuer}/token/introspection", "rs", "rs-secret", log],
        port,
        "introspecting resource server",
    )
    return f"http://127.0.0.1:{port}", log


def rs_log(log):
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def cc_config(issuer, rs, client_id, secret, method, extra=""):
    return f"""
[auth.cc]
type = "oauth2"
grant_type = "client_credentials"
access_token_url = "{issuer}/token"
client_id = "{client_id}"
client_secret = "{secret}"
client_authentication = "{method}"
scope = "api:read"
{extra}

[[host]]
match = ["{rs.removeprefix('http://')}"]
auth = "cc"
"""


def test_client_credentials_with_basic_client_authentication(procs, signet, tmp_path):
    issuer = start_oidc(procs)
    rs, log = start_rs(procs, issuer, tmp_path)
    # The secret has a colon, which RFC 6749 §2.3.1 form-encoding must carry through Basic.
    signet.start(cc_config(issuer, rs, "cc-basic", "basic-secret-with:colon", "header"))
    for _ in range(3):
        status, body = signet.curl(f"{rs}/api")
        assert status == 200, body
        assert json.loads(body)["client_id"] == "cc-basic"
    entries = rs_log(log)
    assert [e["active"] for e in entries] == [True] * 3
    assert len({e["token"] for e in entries}) == 1, "one token for all three requests"
    assert entries[0]["scope"] == "api:read"


def test_client_credentials_with_client_secret_in_the_body(procs, signet, tmp_path):
    issuer = start_oidc(procs)
    rs, log = start_rs(procs, issuer, tmp_path)
    signet.start(cc_config(issuer, rs, "cc-post", "post-secret", "body"))
    status, body = signet.curl(f"{rs}/api", "--data-binary", "payload")
    assert status == 200, body
    assert json.loads(body) == {"client_id": "cc-post", "scope": "api:read", "sub": None, "body": "payload"}


def test_wrong_client_secret_gives_503_with_the_oauth_error(procs, signet, tmp_path):
    issuer = start_oidc(procs)
    rs, log = start_rs(procs, issuer, tmp_path)
    signet.start(cc_config(issuer, rs, "cc-post", "wrong", "body"))
    status, body = signet.curl(f"{rs}/api")
    assert status == 503
    assert body.startswith("signet:") and "invalid_client" in body, body
    assert rs_log(log) == [], "nothing reached the API"


def test_short_lived_tokens_are_renewed_and_never_sent_expired(procs, signet, tmp_path):
    issuer = start_oidc(procs, ttl=3)
    rs, log = start_rs(procs, issuer, tmp_path)
    signet.start(cc_config(issuer, rs, "cc-basic", "basic-secret-with:colon", "header", "refresh_skew = 1"))
    signet.curl(f"{rs}/api", check_status=200)
    time.sleep(3.5)
    signet.curl(f"{rs}/api", check_status=200)
    entries = rs_log(log)
    assert [e["active"] for e in entries] == [True, True], entries
    assert entries[0]["token"] != entries[1]["token"]


def login_config(issuer, callback, rs="127.0.0.1:9", extra=""):
    return f"""
[auth.app]
type = "oauth2"
grant_type = "authorization_code_pkce"
auth_url = "{issuer}/auth"
access_token_url = "{issuer}/token"
client_id = "app"
callback_url = "{callback}"
scope = "openid offline_access"
{extra}

[[host]]
match = ["{rs.removeprefix('http://')}"]
auth = "app"
"""


def start_login(config_path, *extra):
    proc = subprocess.Popen(
        [SIGNET, "login", "app", "--no-browser", "--config", config_path, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = None
    for line in proc.stdout:
        if line.startswith("  http"):
            url = line.strip()
            break
    assert url, f"signet login printed no URL: {proc.stderr.read()}"
    return proc, url


def form_action(page):
    m = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert m, page
    return html.unescape(m.group(1))


def drive_consent(session, issuer, url):
    """Fills oidc-provider's dev login and consent forms as a user would."""
    r = session.get(url)
    assert 'name="login"' in r.text, r.text
    r = session.post(issuer + form_action(r.text) if form_action(r.text).startswith("/") else form_action(r.text),
                     data={"prompt": "login", "login": "alice", "password": "any"})
    if 'value="consent"' in r.text:
        action = form_action(r.text)
        r = session.post(issuer + action if action.startswith("/") else action, data={"prompt": "consent"})
    return r


def test_login_with_code_and_pkce_then_rotating_refresh(procs, signet, tmp_path):
    cb_port = free_port()
    callback = f"http://127.0.0.1:{cb_port}/callback"
    issuer = start_oidc(procs, callback=callback, ttl=4)
    rs, log = start_rs(procs, issuer, tmp_path)
    config = tmp_path / "signet.toml"
    config.write_text(login_config(issuer, callback, rs, "refresh_skew = 1"))

    proc, url = start_login(config)
    assert "code_challenge_method=S256" in url and "state=" in url
    r = drive_consent(requests.Session(), issuer, url)
    assert r.status_code == 200 and "login complete" in r.text, r.text
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "refresh token yes" in out

    store = tmp_path / "tokens" / "app.json"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    first = json.loads(store.read_text())

    # Rotation: each refresh consumes the refresh token; reusing an old one would fail.
    shown = []
    for _ in range(2):
        res = subprocess.run([SIGNET, "token", "app", "--refresh", "--config", config],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        shown.append(res.stdout)
    after = json.loads(store.read_text())
    assert after["refresh_token"] != first["refresh_token"]
    assert after["access_token"] not in "".join(shown) and after["refresh_token"] not in "".join(shown)
    assert "refresh token yes" in shown[-1] and "scopes openid\n" in shown[-1]

    # The proxy uses the stored token, then refreshes it (rotating again) once it is short-lived.
    signet.start(config.read_text())
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    assert json.loads(body)["sub"] == "alice"
    time.sleep(4)
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    entries = rs_log(log)
    assert all(e["active"] for e in entries), entries
    assert entries[0]["token"] != entries[-1]["token"]
    assert json.loads(store.read_text())["refresh_token"] != after["refresh_token"]


def test_login_denied_by_the_user_is_a_clear_error(procs, tmp_path):
    cb_port = free_port()
    callback = f"http://127.0.0.1:{cb_port}/callback"
    issuer = start_oidc(procs, callback=callback)
    config = tmp_path / "signet.toml"
    config.write_text(login_config(issuer, callback))
    proc, url = start_login(config)
    session = requests.Session()
    page = session.get(url).text
    abort = html.unescape(re.search(r'href="([^"]*abort[^"]*)"', page).group(1))
    session.get(issuer + abort if abort.startswith("/") else abort)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "access_denied" in err, err
    assert not (tmp_path / "tokens" / "app.json").exists()


def test_login_refuses_a_redirect_with_the_wrong_state(tmp_path):
    cb_port = free_port()
    callback = f"http://127.0.0.1:{cb_port}/callback"
    config = tmp_path / "signet.toml"
    config.write_text(login_config("http://127.0.0.1:9", callback))
    proc, url = start_login(config)
    r = requests.get(f"{callback}?code=forged&state=not-the-one")
    assert r.status_code == 400
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "different state" in err, err


def test_login_times_out(tmp_path):
    config = tmp_path / "signet.toml"
    config.write_text(login_config("http://127.0.0.1:9", f"http://127.0.0.1:{free_port()}/callback"))
    proc, url = start_login(config, "--timeout", "1")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "no redirect arrived within 1s" in err, err


def authlib_config(base, method, extra=""):
    return f"""
[auth.pw]
type = "oauth2"
grant_type = "password"
access_token_url = "{base}/oauth/token"
client_id = "pw-client"
client_secret = "pw-secret"
client_authentication = "{method}"
username = "alice"
password = "wonderland"
scope = "profile"
{extra}

[[host]]
match = ["{base.removeprefix('http://')}"]
auth = "pw"
"""


def start_authlib(procs, ttl):
    port = free_port()
    procs.start([PYTHON, HERE / "authlib_server.py", port, ttl], port, "Authlib server")
    return f"http://127.0.0.1:{port}"


def test_password_grant_with_authlib_and_rotating_refresh(procs, signet):
    base = start_authlib(procs, 3)
    signet.start(authlib_config(base, "header", "refresh_skew = 1"))
    status, body = signet.curl(f"{base}/api", "--data-binary", "hello")
    assert status == 200, body
    assert json.loads(body) == {"user": "alice", "scope": "profile", "body": "hello"}
    time.sleep(3)
    signet.curl(f"{base}/api", check_status=200)
    time.sleep(3)
    signet.curl(f"{base}/api", check_status=200)
    stats = requests.get(f"{base}/stats").json()
    assert stats["grants"] == ["password", "refresh_token", "refresh_token"], stats


def test_password_grant_with_client_secret_in_the_body(procs, signet):
    base = start_authlib(procs, 3600)
    signet.start(authlib_config(base, "body"))
    signet.curl(f"{base}/api", check_status=200)
