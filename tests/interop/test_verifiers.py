"""The verifiers themselves, proven with the third-party libraries' own clients (no signet):
a verifier that accepted anything would make every other interop test meaningless."""

import json
import subprocess
import time

from conftest import HERE, PYTHON, free_port


def run_selftest(script, arg):
    out = subprocess.run([PYTHON, HERE / script, str(arg)], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")


def test_hawk_verifier_accepts_mohawk_and_refuses_forgeries(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "hawk_server.py", port], port, "mohawk verifier")
    run_selftest("hawk_selftest.py", port)


def test_aws_verifier_accepts_botocore_and_refuses_forgeries(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "aws_verify_server.py", port], port, "botocore verifier")
    run_selftest("aws_verify_selftest.py", port)


def test_moto_accepts_botocore_and_refuses_forgeries(procs):
    port = free_port()
    proc = procs.start([PYTHON, HERE / "aws_moto_server.py", port], port, "moto", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines = [l for l in proc.log_path.read_text(errors="replace").splitlines() if l.startswith("{")]
        if lines:
            run_selftest("aws_moto_selftest.py", json.dumps(json.loads(lines[0])))
            return
        time.sleep(0.2)
    raise AssertionError("moto did not print its credentials")


def test_oauth1_verifier_accepts_oauthlib_and_refuses_forgeries(procs):
    port = free_port()
    procs.start([PYTHON, HERE / "oauth1_server.py", port], port, "oauthlib verifier")
    run_selftest("oauth1_selftest.py", port)


def test_edgegrid_verifier_accepts_the_official_signer_and_refuses_forgeries(procs, origin_cert):
    port = free_port()
    procs.start([PYTHON, HERE / "edgegrid_server.py", port, origin_cert.cert, origin_cert.key], port, "edgegrid verifier")
    out = subprocess.run(
        [PYTHON, HERE / "edgegrid_selftest.py", str(port), str(origin_cert.ca)], capture_output=True, timeout=120
    )
    assert out.returncode == 0, out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
