"""Reload and graceful stop, with the real binary and real clients: curl on one keep-alive
connection sees the injected credential change after SIGHUP and after an atomic rename (the
request in flight finishing under the old config), a broken config leaves the old one in force,
an OAuth 2.0 profile unchanged across a reload makes no second grant at oidc-provider, and
SIGTERM during a 20 MiB upload lets it complete."""

import json
import os
import signal
import subprocess
import time

from conftest import HERE, PYTHON, free_port
from test_oauth2 import cc_config, rs_log, start_oidc, start_rs


def start_echo(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "echo_server.py", port], port, "echo origin")
    return port


def bearer_config(port, token):
    return f"""
[auth.api]
type = "bearer"
token = "{token}"

[[host]]
match = ["127.0.0.1:{port}"]
auth = "api"
"""


def signet_proc(procs):
    return procs.procs[-1]


def wait_for_log(proc, text, count=1, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = proc.log_path.read_text(errors="replace")
        if log.count(text) >= count:
            return log
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} (x{count}) in the log:\n{proc.log_path.read_text(errors='replace')}")


def replace_by_rename(path, text):
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    os.replace(new, path)


def authorization(path):
    seen = json.loads(path.read_text())
    return [v for k, v in seen["headers"] if k.lower() == "authorization"]


def curl_two_on_one_connection(signet, tmp_path, first, second):
    """Starts curl with two URLs, which it sends one after the other on one connection."""
    cmd = ["curl", "-sS", "--max-time", "30", "-x", signet.proxy, "-w", "%{http_code} %{num_connects}\n"]
    cmd += ["-o", tmp_path / "first.json", first, "-o", tmp_path / "second.json", second]
    return subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finished(curl):
    out, err = curl.communicate(timeout=60)
    assert curl.returncode == 0, err.decode(errors="replace")
    return [line.split() for line in out.decode().splitlines()]


def test_sighup_and_a_rename_change_the_credential_on_an_open_connection(procs, signet, tmp_path):
    port = start_echo(procs)
    (tmp_path / "token.txt").write_text("one")
    signet.start(bearer_config(port, "${file:token.txt}"))
    proc = signet_proc(procs)
    origin = f"http://127.0.0.1:{port}"

    # SIGHUP while the first request waits at the origin; only the secret file changes.
    curl = curl_two_on_one_connection(signet, tmp_path, f"{origin}/first?sleep=2", f"{origin}/second")
    time.sleep(0.7)
    (tmp_path / "token.txt").write_text("two")
    proc.send_signal(signal.SIGHUP)
    wait_for_log(proc, "config reloaded")
    assert finished(curl) == [["200", "1"], ["200", "0"]], "the second request reused the connection"
    assert authorization(tmp_path / "first.json") == ["Bearer one"], "in flight: the old config"
    assert authorization(tmp_path / "second.json") == ["Bearer two"]

    # A new file renamed over the config, as editors and config managers write it.
    curl = curl_two_on_one_connection(signet, tmp_path, f"{origin}/first?sleep=3", f"{origin}/second")
    time.sleep(0.5)
    replace_by_rename(signet.config_path, bearer_config(port, "three"))
    wait_for_log(proc, 'cause="config file changed"')
    assert finished(curl) == [["200", "1"], ["200", "0"]]
    assert authorization(tmp_path / "first.json") == ["Bearer two"]
    assert authorization(tmp_path / "second.json") == ["Bearer three"]

    # A broken config is refused with its location; the one in force stays.
    replace_by_rename(signet.config_path, bearer_config(port, "four").replace('auth = "api"', 'auth = "nope"'))
    log = wait_for_log(proc, "reload refused")
    assert "signet.toml:8:" in log and "host[0].auth" in log, log
    status, body = signet.curl(f"{origin}/third")
    assert status == 200
    assert [v for k, v in json.loads(body)["headers"] if k.lower() == "authorization"] == ["Bearer three"]


def test_an_unchanged_oauth2_profile_makes_no_second_grant(procs, signet, tmp_path):
    issuer = start_oidc(procs)
    rs, log = start_rs(procs, issuer, tmp_path)
    config = cc_config(issuer, rs, "cc-basic", "basic-secret-with:colon", "header")
    signet.start(config)
    proc = signet_proc(procs)
    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body

    # Without the store file, only the token in memory can spare a second grant.
    store = tmp_path / "tokens" / "cc.json"
    deadline = time.monotonic() + 5
    while not store.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    store.unlink()
    replace_by_rename(signet.config_path, config + '\n[[host]]\nmatch = ["127.0.0.1:9"]\n')
    reloaded = wait_for_log(proc, "config reloaded")
    assert 'kept=["cc"]' in reloaded, reloaded

    status, body = signet.curl(f"{rs}/api")
    assert status == 200, body
    entries = rs_log(log)
    assert [e["active"] for e in entries] == [True, True]
    assert len({e["token"] for e in entries}) == 1, "the token granted before the reload"


def test_sigterm_during_a_20_mib_upload_lets_it_complete(procs, signet, tmp_path):
    port = start_echo(procs)
    signet.start(bearer_config(port, "one"))
    proc = signet_proc(procs)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"x" * (20 << 20))
    curl = subprocess.Popen(
        ["curl", "-sS", "--max-time", "60", "-x", signet.proxy, "--limit-rate", "8M",
         "--data-binary", f"@{upload}", "-o", str(tmp_path / "answer.json"), "-w", "%{http_code}",
         f"http://127.0.0.1:{port}/upload"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    time.sleep(0.8)
    assert curl.poll() is None, "the upload is still under way"
    proc.send_signal(signal.SIGTERM)
    out, err = curl.communicate(timeout=60)
    assert curl.returncode == 0, err.decode(errors="replace")
    assert out.decode() == "200"
    answer = json.loads((tmp_path / "answer.json").read_text())
    assert len(answer["body"]) == 20 << 20
    assert proc.wait(timeout=15) == 0
    log = proc.log_path.read_text(errors="replace")
    assert "every request in flight finished" in log, log
