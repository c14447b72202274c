"""aws-chunked uploads through signet's MITM.

* boto3 and the AWS CLI with their default settings, against moto over HTTPS with IAM auth on:
  they sign with a placeholder key and send STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies (a CRC32
  trailer, no chunk signatures); signet re-signs the head with the key moto knows.
* chunk-signed uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD and its -TRAILER form), made with
  botocore's S3SigV4Auth and a placeholder key, checked by aws_chunked_verify_server.py, which
  recomputes every chunk signature (moto strips them unchecked); the verifier is itself proven
  on the S3 documentation's example upload.
"""

import hashlib
import http.client
import json
import os
import subprocess
import time

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import HERE, PYTHON, ROOT, free_port

PLACEHOLDER = Credentials("AKIDPLACEHOLDER", "placeholder-secret")
AWSCLI = ROOT / ".venv-awscli" / "bin" / "aws"


@pytest.fixture
def moto_tls(procs, origin_cert):
    port = free_port()
    args = [PYTHON, HERE / "aws_moto_server.py", port, origin_cert.cert, origin_cert.key, origin_cert.ca]
    proc = procs.start(args, port, "moto (https)", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in proc.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                return port, json.loads(line)
        assert proc.poll() is None, proc.log_path.read_text(errors="replace")
        time.sleep(0.2)
    raise AssertionError("moto did not print its credentials")


def mitm_config(port, creds, ca, limit=1048576):
    # No region or service: signet takes them from the scope the client signed with.
    return f"""
[proxy]
buffer_limit = {limit}

[[host]]
match = ["localhost:{port}"]
auth = {{ type = "awsv4", access_key = "{creds["access_key"]}", secret_key = "{creds["secret_key"]}" }}

  [host.tls]
  ca = "{ca}"
"""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_boto3_put_object_and_upload_file_with_default_checksums(signet, moto_tls, origin_cert, tmp_path):
    import boto3
    from botocore.config import Config

    port, creds = moto_tls
    s = signet.start(mitm_config(port, creds, origin_cert.ca))
    client = boto3.client(
        "s3",
        endpoint_url=f"https://localhost:{port}",
        region_name="us-east-1",
        aws_access_key_id=PLACEHOLDER.access_key,
        aws_secret_access_key=PLACEHOLDER.secret_key,
        verify=str(s.ca),
        config=Config(
            proxies={"https": s.proxy}, s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}
        ),
    )
    sent = []

    def record(request, event_name, **_):
        value = request.headers.get("x-amz-content-sha256")
        sent.append((event_name.rsplit(".", 1)[-1], value.decode() if isinstance(value, bytes) else value))

    client.meta.events.register("before-send.s3", record)
    client.create_bucket(Bucket="chunked")
    client.put_object(Bucket="chunked", Key="small.txt", Body=b"hello aws-chunked")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    # 20 MiB: a multipart upload of 8 MiB parts, each past signet's 1 MiB buffer, so it streams.
    client.upload_file(str(big), "chunked", "big.bin")

    assert client.get_object(Bucket="chunked", Key="small.txt")["Body"].read() == b"hello aws-chunked"
    back = client.get_object(Bucket="chunked", Key="big.bin")["Body"].read()
    assert hashlib.sha256(back).hexdigest() == sha256_file(big)
    uploads = [(op, marker) for op, marker in sent if op in ("PutObject", "UploadPart")]
    assert [op for op, _ in uploads] == ["PutObject", "UploadPart", "UploadPart", "UploadPart"], sent
    assert {marker for _, marker in uploads} == {"STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, uploads


def test_aws_cli_copies_a_multipart_file_up_and_back(signet, moto_tls, origin_cert, tmp_path):
    assert AWSCLI.exists(), f"{AWSCLI} is missing (tests/run creates .venv-awscli)"
    port, creds = moto_tls
    s = signet.start(mitm_config(port, creds, origin_cert.ca, limit=8388608))
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_ACCESS_KEY_ID": PLACEHOLDER.access_key,
        "AWS_SECRET_ACCESS_KEY": PLACEHOLDER.secret_key,
        "AWS_CA_BUNDLE": str(s.ca),
        "HTTPS_PROXY": s.proxy,
        "https_proxy": s.proxy,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    endpoint = ["--endpoint-url", f"https://localhost:{port}"]

    def aws(*args):
        out = subprocess.run([AWSCLI, *args, *endpoint], env=env, capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr.decode(errors="replace")[-4000:]
        return out.stderr.decode(errors="replace")

    aws("s3", "mb", "s3://cli-bucket")
    up = tmp_path / "up.bin"
    up.write_bytes(os.urandom(40 << 20))
    log = aws("--debug", "s3", "cp", str(up), "s3://cli-bucket/up.bin")
    assert "UploadPart" in log and "STREAMING-UNSIGNED-PAYLOAD-TRAILER" in log
    down = tmp_path / "down.bin"
    aws("s3", "cp", "s3://cli-bucket/up.bin", str(down))
    assert sha256_file(down) == sha256_file(up)


@pytest.fixture
def chunk_verifier(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "aws_chunked_verify_server.py", port], port, "aws-chunked verifier")
    return port


def doc_case():
    doc = json.loads((ROOT / "tests/vectors/aws-sigv4/s3-doc-examples.json").read_text())
    return next(c for c in doc["cases"] if "chunks" in c)


def documented_body(case, tamper=False):
    body = b""
    for chunk in case["chunks"]:
        data = b"a" * chunk["data_length"]
        if tamper and data:
            data = b"b" + data[1:]
        body += chunk["chunk_header"].encode() + b"\r\n" + data + b"\r\n"
    return body


def post(port, method, target, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    chunked = "Content-Length" not in headers
    if chunked:
        headers = {**headers, "Transfer-Encoding": "chunked"}
        whole = body
        body = (whole[i : i + 50000] for i in range(0, len(whole), 50000))
    conn.request(method, target, body=body, headers=headers, encode_chunked=chunked)
    resp = conn.getresponse()
    return resp.status, resp.read().decode(errors="replace")


def test_the_verifier_accepts_the_documented_upload_and_refuses_a_changed_one(chunk_verifier):
    case = doc_case()
    headers = dict(case["request"]["headers"])
    headers["Authorization"] = case["authorization"]
    target = "/examplebucket/chunkObject.txt"
    status, text = post(chunk_verifier, "PUT", target, headers, documented_body(case))
    assert status == 200 and text.startswith("ok chunks=3 "), text
    status, text = post(chunk_verifier, "PUT", target, headers, documented_body(case, tamper=True))
    assert status == 401 and "chunk 0 signature mismatch" in text, text


class StreamingAuth(S3SigV4Auth):
    """botocore's S3 signer with a chunk-signed payload marker (botocore never sends one)."""

    def __init__(self, marker):
        super().__init__(PLACEHOLDER, "s3", "us-east-1")
        self.marker = marker

    def payload(self, request):
        return self.marker


def chunk_signed_upload(url, data, chunk, trailer, content_length):
    """A chunk-signed request as an SDK makes one, signed with the placeholder key."""
    marker = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]

    def encode(signatures):
        body = b""
        for piece, sig in zip(pieces, signatures):
            body += f"{len(piece):x};chunk-signature={sig}\r\n".encode() + piece
            body += b"\r\n" if piece else b""
        if trailer:
            return body + f"{trailer}\r\nx-amz-trailer-signature:{signatures[-1]}\r\n\r\n".encode()
        return body + b"\r\n"

    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer.split(":")[0]
    if content_length:
        headers["Content-Length"] = str(len(encode(["0" * 64] * (len(pieces) + 1))))
    request = AWSRequest(method="PUT", url=url, headers=headers)
    auth = StreamingAuth(marker)
    auth.add_auth(request)
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    signatures = []
    for piece in pieces:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty, hashlib.sha256(piece).hexdigest()])
        previous = auth.signature(sts, request)
        signatures.append(previous)
    if trailer:
        name, value = trailer.split(":")
        canonical = hashlib.sha256(f"{name}:{value}\n".encode()).hexdigest()
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, canonical])
        signatures.append(auth.signature(sts, request))
    return dict(request.headers.items()), encode(signatures)


@pytest.mark.parametrize(
    "size,chunk,trailer,content_length",
    [
        (10_000, 8192, None, True),  # within the buffer limit: rewritten before sending
        (300_000, 8192, None, True),  # past it: streams, with the recomputed Content-Length
        (200_000, 100_000, "x-amz-checksum-crc32:AAAAAA==", False),  # signed trailer, chunked
        (150_000, 65536, "x-amz-checksum-crc32:AAAAAA==", True),  # Content-Length dropped
    ],
)
def test_chunk_signed_uploads_are_re_signed_chunk_by_chunk(signet, chunk_verifier, size, chunk, trailer, content_length):
    s = signet.start(
        f"""
[proxy]
buffer_limit = 65536

[[host]]
match = ["127.0.0.1:{chunk_verifier}"]
auth = {{ type = "awsv4", access_key = "AKIDSIGNETINTEROP", secret_key = "signet-interop-secret" }}
"""
    )
    url = f"http://127.0.0.1:{chunk_verifier}/bucket/object.bin"
    data = os.urandom(size)
    headers, body = chunk_signed_upload(url, data, chunk, trailer, content_length)
    # Without signet the verifier refuses the placeholder key: the test is not vacuous.
    status, text = post(chunk_verifier, "PUT", "/bucket/object.bin", headers, body)
    assert status == 401 and "unknown access key" in text, text
    status, text = post(s.port, "PUT", url, headers, body)
    assert status == 200, text
    chunks = -(-size // 65536) + 1
    assert text.startswith(f"ok chunks={chunks} sha256={hashlib.sha256(data).hexdigest()} "), text
    if trailer:
        assert text.strip().endswith(f"trailer={trailer}"), text
