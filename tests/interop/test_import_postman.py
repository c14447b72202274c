"""`signet import postman` against Postman's own model: for every request of the sample
collections, postman-collection (postman_oracle.js) computes the auth Postman uses and the URL it
goes to; signet's imported config, loaded with its env file and asked with `signet explain`,
must give the same auth type for that URL, and its rule comments must name the same
destination. Then the collection's own URLs go through `signet run` to real verifiers."""

import json
import re
import subprocess
from urllib.parse import urlsplit

import pytest

from conftest import HERE, SIGNET, require

VECTORS = HERE.parent / "vectors" / "postman"

# The types signet has (all of Postman's); any other is sent without auth, and reported.
SIGNET_TYPES = {
    "apikey", "bearer", "basic", "digest", "ntlm", "oauth1", "oauth2", "hawk", "awsv4", "edgegrid",
    "jwt", "asap",
}

SAMPLES = {
    "team-api": (
        "team-api.postman_collection.json",
        ["team-api.production.postman_environment.json"],
        "team-api.globals.postman_globals.json",
    ),
    "every-auth-type": (
        "every-auth-type.postman_collection.json",
        ["every-auth-type.postman_environment.json"],
        None,
    ),
    "legacy-v2.0": ("legacy-v2.0.postman_collection.json", ["legacy-v2.0.postman_environment.json"], None),
}

# Set by hand, as the import tells the user to: the export holds no value for a vault secret.
BY_HAND = {"DEPLOY_TOKEN": "set-by-hand"}


def oracle(collection, environments, globals_):
    args = [require("node"), HERE / "postman_oracle.js", collection]
    for env in environments:
        args += ["--environment", env]
    if globals_:
        args += ["--globals", globals_]
    out = subprocess.run([str(a) for a in args], capture_output=True, timeout=60, cwd=HERE)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return json.loads(out.stdout)


def import_postman(tmp_path, collection, environments, globals_):
    args = [SIGNET, "import", "postman", collection, "--out", tmp_path / "signet.toml", "--env-out", tmp_path / "signet.env"]
    for env in environments:
        args += ["--environment", env]
    if globals_:
        args += ["--globals", globals_]
    out = subprocess.run([str(a) for a in args], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stderr.decode()


def load_env_file(path):
    """The env file as a shell reads it (`set -a; . FILE`), which is how the import says to load it."""
    out = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; set +a; env -0', "-", str(path)],
        capture_output=True, timeout=30, env={},
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    pairs = [item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item]
    return {k: v for k, v in pairs if k not in ("PWD", "SHLVL", "_", "OLDPWD")}


def signet(config, env, *args):
    return subprocess.run([str(SIGNET), *args, "--config", str(config)], capture_output=True, timeout=60, env=env)


def explained_auth(config, env, method, url):
    out = signet(config, env, "explain", "-X", method, url)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    text = out.stdout.decode()
    auth = re.search(r"^auth (\S+)", text, re.M)
    return auth.group(1) if auth else "none", text


def comment_destinations(toml_text):
    """{request name: (match pattern, method, path)} from the comments that name each rule's requests."""
    found = {}
    pattern = None
    pending = []
    for line in toml_text.splitlines():
        stripped = line.strip()
        m = re.match(r"# (\S+): every request is \"No Auth\", so no rule: (.*)$", stripped)
        if m:
            for label in m.group(2).split("; "):
                found.setdefault(label, m.group(1))
            continue
        if stripped.startswith("# Postman: ") and "(" in stripped:
            pending = stripped[len("# Postman: "):].split("; ")
        elif stripped.startswith("match = "):
            pattern = json.loads(stripped[len("match = "):])[0]
        if stripped.startswith("[[host") or stripped.startswith("match = "):
            continue
        if pending and stripped.startswith("auth = "):
            for label in pending:
                found.setdefault(label, pattern)
            pending = []
    out = {}
    for label, pat in found.items():
        m = re.match(r"(.*) \((\S+) (\S*)\)$", label)
        out[m.group(1)] = (pat, m.group(2), m.group(3))
    return out


def destination_pattern(url):
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname
    if (parts.scheme, port) == ("https", 443):
        return host
    if (parts.scheme, port) == ("http", 80):
        return f"http://{host}"
    return f"{parts.scheme}://{host}:{port}"


def same_path(signet_path, postman_path):
    """signet's comment keeps Postman's `:name` path variables; Postman's URL has them filled."""
    a, b = signet_path.split("/"), postman_path.split("/")
    return len(a) == len(b) and all(x == y or x.startswith(":") for x, y in zip(a, b))


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_imported_rules_give_postmans_auth_for_every_request(tmp_path, sample):
    collection, environments, globals_ = SAMPLES[sample]
    collection = VECTORS / collection
    environments = [VECTORS / e for e in environments]
    globals_ = VECTORS / globals_ if globals_ else None
    requests = oracle(collection, environments, globals_)
    assert requests, "the oracle found no request"
    report = import_postman(tmp_path, collection, environments, globals_)
    config = tmp_path / "signet.toml"
    toml_text = config.read_text()
    assert (tmp_path / "signet.env").stat().st_mode & 0o777 == 0o600
    env = {**load_env_file(tmp_path / "signet.env"), **BY_HAND}
    check = signet(config, env, "check")
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    for secret in env.values():
        assert secret not in toml_text or len(secret) < 4, "a credential reached the TOML"
    destinations = comment_destinations(toml_text)
    checked = 0
    for r in requests:
        if "{{" in urlsplit(r["url"]).netloc or r["url"].startswith("{{"):
            # Postman itself cannot send it either: the host is an undefined variable.
            assert f'request "{r["name"]}"' in report and "not imported" in report, report
            continue
        expected = r["auth"] if r["auth"] in SIGNET_TYPES else "none"
        if r["auth"] not in SIGNET_TYPES and r["auth"] != "noauth":
            assert f'request "{r["name"]}": auth type "{r["auth"]}"' in report, report
        got, text = explained_auth(config, env, r["method"], r["url"])
        assert got == expected, f'{r["name"]}: Postman uses {r["auth"]}, signet explains:\n{text}'
        assert r["name"] in destinations, f'{r["name"]} is named by no rule comment'
        pattern, method, path = destinations[r["name"]]
        assert pattern == destination_pattern(r["url"]), (r["name"], pattern, r["url"])
        assert method == r["method"]
        assert same_path(path, urlsplit(r["url"]).path), (r["name"], path, r["url"])
        checked += 1
    assert checked >= 4


def start_verifiers(procs, tmp_path):
    """The verifiers the Verifiers collection talks to, and the environment that points it at them."""
    from conftest import PYTHON, free_port

    ports = {name: free_port() for name in ("hawk", "oauth1", "aws", "jwt", "digest")}
    procs.start([PYTHON, HERE / "hawk_server.py", ports["hawk"]], ports["hawk"], "mohawk verifier")
    procs.start([PYTHON, HERE / "oauth1_server.py", ports["oauth1"]], ports["oauth1"], "oauthlib verifier")
    procs.start([PYTHON, HERE / "aws_verify_server.py", ports["aws"]], ports["aws"], "botocore verifier")
    jwt_secret = "postman-import-jwt-secret-0123456789"
    keys = tmp_path / "jwt-keys.json"
    keys.write_text(json.dumps({"HS256": {"secret_hex": jwt_secret.encode().hex()}}))
    procs.start([PYTHON, HERE / "jwt_server.py", ports["jwt"], keys], ports["jwt"], "PyJWT verifier")
    import hashlib

    htdigest = tmp_path / "htdigest"
    ha1 = hashlib.md5(b"mufasa:signet-test:Circle of Life").hexdigest()
    htdigest.write_text(f"mufasa:signet-test:{ha1}\n")
    procs.start(
        [require("node"), HERE / "digest_npm_server.js", ports["digest"], htdigest, tmp_path / "digest.log"],
        ports["digest"],
        "http-auth",
    )
    values = {
        "hawkUrl": f"http://127.0.0.1:{ports['hawk']}",
        "oauth1Url": f"http://127.0.0.1:{ports['oauth1']}",
        "awsUrl": f"http://127.0.0.1:{ports['aws']}",
        "jwtUrl": f"http://127.0.0.1:{ports['jwt']}",
        "digestUrl": f"http://127.0.0.1:{ports['digest']}",
        "hawkKey": "hawk-secret-256",
        "oauth1ConsumerSecret": "consumer-secret",
        "oauth1TokenSecret": "token-secret",
        "awsSecretKey": "signet-interop-secret",
        "jwtSecret": jwt_secret,
        "digestPassword": "Circle of Life",
    }
    env = {
        "name": "Local verifiers",
        "values": [
            {"key": k, "value": v, "type": "secret" if not k.endswith("Url") else "default", "enabled": True}
            for k, v in values.items()
        ],
        "_postman_variable_scope": "environment",
    }
    path = tmp_path / "verifiers.postman_environment.json"
    path.write_text(json.dumps(env))
    return path


def test_the_collections_own_requests_pass_real_verifiers_through_signet(procs, signet, tmp_path):
    """Each request of the Verifiers collection, sent as Postman would send it (its URL, method,
    headers and body) through `signet run` with the imported config, is accepted by its
    verifier; the one under "No Auth" is sent untouched and refused."""
    collection = VECTORS / "verifiers.postman_collection.json"
    environment = start_verifiers(procs, tmp_path)
    requests = oracle(collection, [environment], None)
    work = tmp_path / "import"
    work.mkdir()
    import_postman(work, collection, [environment], None)
    env = load_env_file(work / "signet.env")
    signet.start((work / "signet.toml").read_text(), env=env)
    written = {}

    def collect(items, folders):
        for item in items:
            if "item" in item:
                collect(item["item"], folders + [item["name"]])
            else:
                written[" / ".join(folders + [item["name"]])] = item["request"]

    collect(json.loads(collection.read_text())["item"], [])
    assert len(requests) == len(written) == 8
    for r in requests:
        request = written[r["name"]]
        args = ["-X", r["method"]]
        for h in request.get("header", []):
            args += ["-H", f'{h["key"]}: {h["value"]}']
        if "body" in request:
            args += ["--data-binary", request["body"]["raw"]]
        status, body = signet.curl(*args, r["url"])
        if r["auth"] == "noauth":
            assert status == 401 and body.startswith("hawk:"), (r["name"], status, body)
        else:
            assert status == 200, (r["name"], r["auth"], status, body)
