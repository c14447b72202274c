#!/usr/bin/env python3
"""signet's memory while it re-signs aws-chunked uploads: peak RSS after a small upload and
after a large one, per form. Not a timed benchmark: the point is that the peak stays flat.

    python3 bench/aws_chunked_rss.py                  # 16 MiB, then 200 MiB, both forms
    python3 bench/aws_chunked_rss.py --mib 1024 --signet target/release/signet

For each form a fresh signet (an awsv4 rule, the default 8 MiB buffer_limit) forwards to an
origin on 127.0.0.1 that reads every body to its end and discards it. The client generates the
body as it sends it, in 1 MiB chunks:
  * unsigned: STREAMING-UNSIGNED-PAYLOAD-TRAILER, HTTP chunked, a CRC32 trailer (botocore's way);
  * signed: STREAMING-AWS4-HMAC-SHA256-PAYLOAD with a Content-Length, placeholder signatures,
    which signet re-cuts into 64 KiB chunks and signs.
Reads signet's VmRSS when idle and VmHWM (peak) after each upload from /proc.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
BLOCK = os.urandom(MIB)
PLACEHOLDER = "0" * 64


class Discard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                while size:
                    size -= len(self.rfile.read(min(size, MIB)))
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", 0))
            while left:
                left -= len(self.rfile.read(min(left, MIB)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


def unsigned_body(mib):
    for _ in range(mib):
        yield b"100000\r\n" + BLOCK + b"\r\n"
    yield b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"


def signed_body(mib):
    for _ in range(mib):
        yield f"100000;chunk-signature={PLACEHOLDER}\r\n".encode() + BLOCK + b"\r\n"
    yield f"0;chunk-signature={PLACEHOLDER}\r\n\r\n".encode()


def upload(proxy_port, origin_port, form, mib):
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=600)
    headers = {
        "Host": f"127.0.0.1:{origin_port}",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(mib * MIB),
        "Authorization": "AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=00",
    }
    if form == "unsigned":
        headers["x-amz-content-sha256"] = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        headers["Transfer-Encoding"] = "chunked"
        body, chunked = unsigned_body(mib), True
    else:
        headers["x-amz-content-sha256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        headers["Content-Length"] = str(signed_length(mib))
        body, chunked = signed_body(mib), False
    started = time.monotonic()
    conn.request("PUT", f"http://127.0.0.1:{origin_port}/bucket/big.bin", body=body, headers=headers,
                 encode_chunked=chunked)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{form} upload answered {resp.status}")
    return time.monotonic() - started


def signed_length(mib):
    """The length of `signed_body(mib)`, for its Content-Length."""
    chunk = len(f"100000;chunk-signature={PLACEHOLDER}\r\n") + MIB + 2
    return mib * chunk + len(f"0;chunk-signature={PLACEHOLDER}\r\n\r\n")


def measure(signet_bin, workdir, origin_port, form, sizes):
    port = procs.free_port()
    config = workdir / f"signet-{form}.toml"
    config.write_text(
        f"""[[host]]
match = ["127.0.0.1:{origin_port}"]
auth = {{ type = "awsv4", access_key = "AKIDBENCH", secret_key = "bench-secret" }}
"""
    )
    signet = procs.Proc(
        f"signet ({form})",
        [str(signet_bin), "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        port,
        str(workdir / f"signet-{form}.log"),
        cwd=str(workdir),
    )
    try:
        row = {"form": form, "idle_rss_mib": procs.status_kib(signet.proc.pid, "VmRSS") / 1024}
        for mib in sizes:
            seconds = upload(port, origin_port, form, mib)
            row[f"peak_after_{mib}_mib"] = procs.status_kib(signet.proc.pid, "VmHWM") / 1024
            row[f"seconds_{mib}_mib"] = seconds
        return row
    finally:
        signet.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signet", default=str(ROOT / "target" / "debug" / "signet"))
    parser.add_argument("--small-mib", type=int, default=16)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "aws_chunked_rss.json"))
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"signet-aws-chunked-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    origin = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    sizes = [args.small_mib, args.mib]
    rows = [measure(Path(args.signet), workdir, origin.server_address[1], f, sizes) for f in ("unsigned", "signed")]
    print(f"{'form':<10} {'idle RSS':>9} " + " ".join(f"{'peak after ' + str(m) + ' MiB':>20}" for m in sizes))
    for r in rows:
        peaks = " ".join(f"{r[f'peak_after_{m}_mib']:>16.1f} MiB" for m in sizes)
        print(f"{r['form']:<10} {r['idle_rss_mib']:>5.1f} MiB {peaks}")
    Path(args.out).write_text(json.dumps({"signet": args.signet, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
