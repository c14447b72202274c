"""`[shared]`: three `signet run` instances sharing OAuth 2.0 tokens through a real redis-server
(Debian's, on a free loopback port, persistence off), against npm oidc-provider with 2-second
access tokens and rotating refresh tokens. Grants are counted in the authorization server's own
log of token requests; the API validates every token by introspection."""

import base64
import json
import os
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import Signet, free_port, require
from test_cookies import ENV as COOKIE_ENV, origin_cert, start_app  # noqa: F401 (a fixture)
from test_oauth2 import cc_config, drive_consent, login_config, rs_log, start_login, start_oidc, start_rs

TTL = 2


class Redis:
    def __init__(self, procs, tmp_path):
        self.procs, self.dir = procs, tmp_path
        self.port = free_port()
        self.proc = None

    def start(self):
        server = require("redis-server")
        self.proc = self.procs.start(
            [server, "--port", self.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            self.port,
            "redis-server",
        )

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def cli(self, *args):
        cli = require("redis-cli")
        out = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(self.port), *args],
                             capture_output=True, timeout=30, check=True)
        return out.stdout

    def keys(self):
        return [k for k in self.cli("--scan").decode().split("\n") if k]

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


def shared_block(redis, key, extra=""):
    return f'\n[shared]\nredis = "{redis.url}"\nkey = "{key}"\nprefix = "fleet:"\n{extra}\n'


def new_key():
    return base64.b64encode(os.urandom(32)).decode()


def fleet(procs, tmp_path, config, n=3, admin=False, env=None):
    """n instances, each with its own directory (so its own token store and CA)."""
    instances = []
    for i in range(n):
        d = tmp_path / f"signet{i}"
        d.mkdir()
        text = config
        if admin:
            port = free_port()
            text = f'[admin]\nlisten = "127.0.0.1:{port}"\n' + config
        s = Signet(procs, d).start(text, env=env)
        s.admin_port = port if admin else None
        instances.append(s)
    return instances


def grants(log_path):
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    return [line["grant_type"] for line in lines if line["route"] == "token"]


def metrics(instance):
    with urllib.request.urlopen(f"http://127.0.0.1:{instance.admin_port}/metrics", timeout=10) as r:
        return r.read().decode()


def start_cc_fleet(procs, tmp_path, redis, n=3, admin=False, ttl=TTL):
    log = tmp_path / "as.jsonl"
    log.write_text("")
    issuer = start_oidc(procs, ttl=ttl, params_log=log)
    rs, rs_log_path = start_rs(procs, issuer, tmp_path)
    config = cc_config(issuer, rs, "cc-basic", "basic-secret-with:colon", "header", "refresh_skew = 1")
    instances = fleet(procs, tmp_path, config + shared_block(redis, new_key()), n, admin)
    return instances, rs, rs_log_path, log


def test_round_robin_requests_make_one_grant_per_token_lifetime_for_the_fleet(procs, tmp_path):
    redis = Redis(procs, tmp_path)
    redis.start()
    instances, rs, rs_log_path, as_log = start_cc_fleet(procs, tmp_path, redis)
    started = time.monotonic()
    for i in range(36):
        instances[i % 3].curl(f"{rs}/api", check_status=200)
        time.sleep(0.15)
    elapsed = time.monotonic() - started
    got = grants(as_log)
    tokens = {e["token"] for e in rs_log(rs_log_path)}
    assert all(e["active"] for e in rs_log(rs_log_path))
    # A token is renewed 1 s (refresh_skew) before its 2 s lifetime ends: at most one grant per
    # second for the whole fleet, and every token granted was used.
    assert set(got) == {"client_credentials"}
    assert len(got) <= elapsed / (TTL - 1) + 1, (len(got), elapsed)
    assert len(got) == len(tokens), (got, len(tokens))
    # Without sharing each instance would fetch its own: three in the first second alone.
    assert len(got) < 36 / 3

    # What Redis holds: hashed names and sealed values, nothing in clear.
    keys = redis.keys()
    assert keys and all(k.startswith("fleet:oauth2-") for k in keys), keys
    dump = " ".join(keys).encode() + b"".join(redis.cli("GET", k) for k in keys if "token" in k)
    for clear in [b"cc-basic", b"127.0.0.1", b"api:read", b"basic-secret", b"client_credentials",
                  *(t.encode() for t in tokens)]:
        assert clear not in dump, clear


def test_twenty_concurrent_first_requests_across_the_fleet_make_one_grant(procs, tmp_path):
    redis = Redis(procs, tmp_path)
    redis.start()
    # Tokens that live longer than the 20 requests take (introspection is slow on a small
    # machine): a second grant here would be a renewal, not a race.
    instances, rs, rs_log_path, as_log = start_cc_fleet(procs, tmp_path, redis, ttl=10)
    barrier = threading.Barrier(20)

    def one(i):
        barrier.wait()
        return instances[i % 3].curl(f"{rs}/api")[0]

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert statuses == [200] * 20
    assert grants(as_log) == ["client_credentials"]
    assert len({e["token"] for e in rs_log(rs_log_path)}) == 1


def test_pkce_login_on_one_instance_serves_the_others_across_rotating_refreshes(procs, tmp_path):
    redis = Redis(procs, tmp_path)
    redis.start()
    cb_port = free_port()
    callback = f"http://127.0.0.1:{cb_port}/callback"
    as_log = tmp_path / "as.jsonl"
    as_log.write_text("")
    issuer = start_oidc(procs, callback=callback, ttl=TTL, params_log=as_log)
    rs, rs_log_path = start_rs(procs, issuer, tmp_path)
    config = login_config(issuer, callback, rs, "refresh_skew = 1") + shared_block(redis, new_key())
    instances = fleet(procs, tmp_path, config)

    proc, url = start_login(instances[0].config_path)
    r = drive_consent(requests.Session(), issuer, url)
    assert r.status_code == 200 and "login complete" in r.text, r.text
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    login_store = json.loads((tmp_path / "signet0" / "tokens" / "app.json").read_text())
    assert not (tmp_path / "signet1" / "tokens" / "app.json").exists()

    # Instances 2 and 3 never logged in; across four lifetimes they refresh in turn, each
    # refresh rotating the refresh token that the other then uses.
    for i in range(16):
        status, body = instances[1 + i % 2].curl(f"{rs}/api")
        assert status == 200, (i, body)
        assert json.loads(body)["sub"] == "alice"
        time.sleep(0.5)
    got = grants(as_log)
    assert got.count("authorization_code") == 1
    assert got.count("refresh_token") >= 3, got
    assert all(e["active"] for e in rs_log(rs_log_path))
    # Rotation happened: the refresh token from the login is spent.
    latest = json.loads((tmp_path / "signet1" / "tokens" / "app.json").read_text())
    assert latest["refresh_token"] != login_store["refresh_token"]
    used_tokens = {e["token"] for e in rs_log(rs_log_path)}
    keys = redis.keys()
    dump = " ".join(keys).encode() + b"".join(redis.cli("GET", k) for k in keys if "token" in k)
    for clear in [b"app", b"openid", b"offline_access", b"127.0.0.1", latest["refresh_token"].encode(),
                  *(t.encode() for t in used_tokens)]:
        assert clear not in dump, clear


def test_redis_stopped_mid_run_then_restarted(procs, tmp_path):
    redis = Redis(procs, tmp_path)
    redis.start()
    instances, rs, rs_log_path, as_log = start_cc_fleet(procs, tmp_path, redis, admin=True)
    for i in range(3):
        instances[i].curl(f"{rs}/api", check_status=200)
    assert len(grants(as_log)) == 1
    assert "signet_shared_store_up 1\n" in metrics(instances[0])

    redis.stop()
    # Past a token lifetime and beyond: each instance carries on alone.
    for i in range(18):
        instances[i % 3].curl(f"{rs}/api", check_status=200)
        time.sleep(0.25)
    for instance in instances:
        text = metrics(instance)
        assert "signet_shared_store_up 0\n" in text, text
        errors = [l for l in text.splitlines() if l.startswith("signet_shared_store_errors_total ")]
        assert errors and int(errors[0].split()[1]) >= 1, text
    warned = sum(p.log_path.read_text(errors="replace").count("the shared store is unreachable")
                 for p in procs.procs if "signet" in str(p.args[0]))
    assert warned >= 1

    redis.start()
    # The first call on each instance's dropped connection reopens it.
    for i in range(6):
        instances[i % 3].curl(f"{rs}/api", check_status=200)
        time.sleep(0.25)
    before = len(grants(as_log))
    started = time.monotonic()
    for i in range(24):
        instances[i % 3].curl(f"{rs}/api", check_status=200)
        time.sleep(0.15)
    elapsed = time.monotonic() - started
    after = grants(as_log)[before:]
    assert len(after) <= elapsed / (TTL - 1) + 1, (len(after), elapsed)
    assert any(k.startswith("fleet:oauth2-token:") for k in redis.keys())
    for instance in instances:
        assert "signet_shared_store_up 1\n" in metrics(instance)


def test_a_cookie_captured_through_one_instance_is_sent_by_another(procs, tmp_path, origin_cert):
    redis = Redis(procs, tmp_path)
    redis.start()
    app_port = start_app(procs, origin_cert)
    config = f"""
[auth.app]
type = "bearer"
token = "${{APP_TOKEN}}"

[[host]]
match = ["localhost:{app_port}"]
auth = "app"
cookies = "sync"
  [host.tls]
  ca = "{origin_cert[0]}"
""" + shared_block(redis, new_key())
    instances = fleet(procs, tmp_path, config, env={"APP_TOKEN": COOKIE_ENV["APP_TOKEN"]})
    app = f"https://localhost:{app_port}"
    status, body = instances[2].curl(f"{app}/app")
    assert status == 401 and "no session" in body, body
    status, _ = instances[0].curl(f"{app}/login")
    assert status == 302
    deadline = time.monotonic() + 5
    while True:
        status, body = instances[2].curl(f"{app}/app")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200 and "signed in" in body, body
    jar = json.loads((tmp_path / "signet2" / "cookies.json").read_text())
    assert [c["name"] for c in jar["cookies"]] == ["session"]
    sid = jar["cookies"][0]["value"].encode()
    keys = redis.keys()
    assert any(k.startswith("fleet:cookie-jar:") for k in keys), keys
    dump = " ".join(keys).encode() + b"".join(redis.cli("GET", k) for k in keys)
    for clear in [sid, b"session", b"localhost"]:
        assert clear not in dump, clear

    # An instance started later takes the fleet's jar before its first request needs it.
    late_dir = tmp_path / "late"
    late_dir.mkdir()
    late = Signet(procs, late_dir).start(config, env={"APP_TOKEN": COOKIE_ENV["APP_TOKEN"]})
    time.sleep(1)
    status, body = late.curl(f"{app}/app")
    assert status == 200 and "signed in" in body, body


def test_a_stale_401_on_another_instance_does_not_renew_the_fleet_token_again(procs, tmp_path):
    redis = Redis(procs, tmp_path)
    redis.start()
    instances, rs, rs_log_path, as_log = start_cc_fleet(procs, tmp_path, redis, n=2, ttl=30)
    for instance in instances:
        instance.curl(f"{rs}/api", check_status=200)
    first = rs_log(rs_log_path)[0]["token"]
    assert grants(as_log) == ["client_credentials"]
    # The authorization server revokes the token: the API now answers 401 to it.
    as_port = [p for p in procs.procs if "oidc_server" in " ".join(map(str, p.args))][0].args[2]
    r = requests.post(f"http://127.0.0.1:{as_port}/token/revocation", data={"token": first},
                      auth=("cc-basic", "basic-secret-with:colon"), timeout=10)
    assert r.status_code == 200, r.text
    # Instance 1 meets the 401, drops the shared token and renews it once (replaying the request).
    instances[0].curl(f"{rs}/api", check_status=200)
    assert len(grants(as_log)) == 2
    # Instance 2 still holds the revoked token: its 401 finds the shared token already renewed
    # and takes it, with no grant of its own.
    instances[1].curl(f"{rs}/api", check_status=200)
    assert len(grants(as_log)) == 2
    tokens = [e["token"] for e in rs_log(rs_log_path)]
    assert tokens.count(first) == 4 and len(set(tokens)) == 2, tokens


def test_a_fleet_over_a_unix_socket_shares_its_token(procs, tmp_path):
    server = require("redis-server")
    sock = tmp_path / "redis.sock"
    port = free_port()
    procs.start([server, "--port", port, "--bind", "127.0.0.1", "--unixsocket", sock, "--save", "",
                 "--appendonly", "no", "--dir", tmp_path], port, "redis-server")
    log = tmp_path / "as.jsonl"
    log.write_text("")
    issuer = start_oidc(procs, ttl=30, params_log=log)
    rs, _ = start_rs(procs, issuer, tmp_path)
    config = cc_config(issuer, rs, "cc-basic", "basic-secret-with:colon", "header", "refresh_skew = 1")
    config += f'\n[shared]\nredis = "unix://{sock}"\nkey = "{new_key()}"\n'
    instances = fleet(procs, tmp_path, config, n=2)
    for i in range(4):
        instances[i % 2].curl(f"{rs}/api", check_status=200)
    assert grants(log) == ["client_credentials"]


def test_a_fleet_over_rediss_shares_its_token(procs, tmp_path, origin_cert):
    server = require("redis-server")
    ca, cert, key = origin_cert
    port = free_port()
    procs.start([server, "--port", "0", "--tls-port", port, "--bind", "127.0.0.1", "--tls-cert-file", cert,
                 "--tls-key-file", key, "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
                 "--dir", tmp_path], port, "redis-server (TLS)")
    log = tmp_path / "as.jsonl"
    log.write_text("")
    issuer = start_oidc(procs, ttl=30, params_log=log)
    rs, _ = start_rs(procs, issuer, tmp_path)
    config = cc_config(issuer, rs, "cc-basic", "basic-secret-with:colon", "header", "refresh_skew = 1")
    config += f'\n[shared]\nredis = "rediss://localhost:{port}/0"\nkey = "{new_key()}"\n'
    # The test CA is trusted through the variable that the system's root store loader reads.
    instances = fleet(procs, tmp_path, config, n=2, env={"SSL_CERT_FILE": str(ca)})
    for i in range(4):
        instances[i % 2].curl(f"{rs}/api", check_status=200)
    assert grants(log) == ["client_credentials"]
