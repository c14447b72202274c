"""AWS Signature V4 through signet: moto with IAM auth on (botocore recomputes the header
signature) and aws_verify_server.py (botocore's signers, plus presigned URLs and payload hashes,
which moto does not check)."""

import json
import time

import pytest

from conftest import HERE, PYTHON, free_port

KEY = 'access_key = "AKIDSIGNETINTEROP", secret_key = "signet-interop-secret"'
SESSION = (
    'access_key = "ASIASIGNETSESSION", secret_key = "signet-session-secret", '
    'session_token = "signet-session-token/with+symbols=="'
)


def config(port, auth, limit=1048576):
    return f"""
[proxy]
buffer_limit = {limit}

[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "awsv4", {auth} }}
"""


@pytest.fixture
def verifier(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "aws_verify_server.py", port], port, "botocore SigV4 verifier")
    return port


@pytest.fixture
def big_body(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (2 * 1048576))
    return path


def test_header_signing_for_sqs_and_odd_paths(signet, verifier):
    s = signet.start(config(verifier, KEY + ', region = "eu-west-1", service = "sqs"'))
    base = f"http://127.0.0.1:{verifier}"
    status, body = s.curl("-d", "Action=ListQueues", f"{base}/")
    assert status == 200 and body.startswith("ok awsv4 header sqs eu-west-1"), body
    status, body = s.curl("--path-as-is", f"{base}/a%20b/c!d/./e?x=1+2&y=%20z&k")
    assert status == 200, body


def test_s3_hashes_small_bodies_and_streams_large_ones_unsigned(signet, verifier, big_body):
    s = signet.start(config(verifier, KEY + ', service = "s3"'))
    base = f"http://127.0.0.1:{verifier}"
    status, body = s.curl("-X", "PUT", "--data-binary", "hello", f"{base}/bucket/k%20ey!.txt")
    assert status == 200 and "UNSIGNED-PAYLOAD" not in body, body
    status, body = s.curl("-X", "PUT", "--data-binary", f"@{big_body}", f"{base}/bucket/big")
    assert status == 200 and "UNSIGNED-PAYLOAD" in body, body


def test_session_token(signet, verifier):
    s = signet.start(config(verifier, SESSION + ', region = "eu-west-2", service = "execute-api"'))
    status, body = s.curl(f"http://127.0.0.1:{verifier}/prod/items?b=2&a=1")
    assert status == 200, body


def test_presigned_query(signet, verifier):
    base = f"http://127.0.0.1:{verifier}"
    s = signet.start(config(verifier, KEY + ', service = "s3", add_to = "query", expires = 600'))
    status, body = s.curl(f"{base}/bucket/photo.jpg?versionId=3")
    assert status == 200 and body.startswith("ok awsv4 query s3"), body


def test_presigned_query_with_session_and_with_body(signet, verifier):
    base = f"http://127.0.0.1:{verifier}"
    s = signet.start(config(verifier, SESSION + ', service = "s3", add_to = "query"'))
    assert s.curl(f"{base}/bucket/a")[0] == 200


def test_presigned_sqs_with_form_body(signet, verifier):
    base = f"http://127.0.0.1:{verifier}"
    s = signet.start(config(verifier, KEY + ', region = "eu-west-1", service = "sqs", add_to = "query"'))
    status, body = s.curl("-d", "Action=ListQueues", f"{base}/")
    assert status == 200, body


def test_client_signed_with_placeholder_is_resigned_in_its_scope(signet, verifier):
    s = signet.start(config(verifier, KEY))
    status, body = s.curl(
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20200101/eu-central-1/sqs/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00",
        "-H",
        "X-Amz-Date: 20200101T000000Z",
        "-d",
        "Action=ListQueues",
        f"http://127.0.0.1:{verifier}/",
    )
    assert status == 200 and "header sqs eu-central-1" in body, body


def test_wrong_secret_is_refused(signet, verifier):
    s = signet.start(config(verifier, 'access_key = "AKIDSIGNETINTEROP", secret_key = "nope", service = "sqs"'))
    assert s.curl("-d", "Action=ListQueues", f"http://127.0.0.1:{verifier}/")[0] == 401


def test_non_s3_body_over_the_limit_gets_413_from_signet(signet, verifier, big_body):
    s = signet.start(config(verifier, KEY + ', service = "sqs"'))
    status, body = s.curl("--data-binary", f"@{big_body}", f"http://127.0.0.1:{verifier}/")
    assert status == 413 and body.startswith("signet: "), body


@pytest.fixture
def moto(procs):
    port = free_port()
    proc = procs.start([PYTHON, HERE / "aws_moto_server.py", port], port, "moto", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in proc.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                return port, json.loads(line)
        assert proc.poll() is None, proc.log_path.read_text(errors="replace")
        time.sleep(0.2)
    raise AssertionError("moto did not print its credentials")


def test_moto_accepts_sqs_s3_and_sts(signet, moto):
    port, creds = moto
    key = f'access_key = "{creds["access_key"]}", secret_key = "{creds["secret_key"]}"'
    base = f"http://127.0.0.1:{port}"
    sqs = signet.start(config(port, key + ', region = "us-east-1", service = "sqs"'))
    status, body = sqs.curl("-d", "Action=ListQueues&Version=2012-11-05", f"{base}/")
    assert status == 200, body
    sqs.procs.procs[-1].terminate()

    s3 = signet.start(config(port, key + ', service = "s3"'))
    assert s3.curl("-X", "PUT", f"{base}/signet-bucket")[0] == 200
    # A form content type would make moto (Werkzeug) read the body as a form: send it as text.
    put = ["-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", "hello from signet"]
    assert s3.curl(*put, f"{base}/signet-bucket/from%20signet.txt")[0] == 200
    assert s3.curl(f"{base}/signet-bucket/from%20signet.txt") == (200, "hello from signet")
    status, body = s3.curl(f"{base}/signet-bucket?list-type=2&prefix=from")
    assert status == 200 and "from signet.txt" in body, body


def test_moto_accepts_session_credentials_and_refuses_a_wrong_secret(signet, moto):
    port, creds = moto
    session = (
        f'access_key = "{creds["session_access_key"]}", secret_key = "{creds["session_secret_key"]}", '
        f'session_token = "{creds["session_token"]}", service = "sts"'
    )
    s = signet.start(config(port, session))
    status, body = s.curl("-d", "Action=GetCallerIdentity&Version=2011-06-15", f"http://127.0.0.1:{port}/")
    assert status == 200 and "assumed-role" in body, body
    s.procs.procs[-1].terminate()
    bad = signet.start(config(port, f'access_key = "{creds["access_key"]}", secret_key = "wrong", service = "sqs"'))
    assert bad.curl("-d", "Action=ListQueues&Version=2012-11-05", f"http://127.0.0.1:{port}/")[0] == 403
