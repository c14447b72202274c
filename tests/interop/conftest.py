"""Fixtures for signet's interop suite: real verifiers on 127.0.0.1, signet started from its
binary with a generated config, and real clients (curl) sent through it.

Every case starts its verifier itself; a verifier that does not come up fails the case (no
silent skips). Traffic goes to 127.0.0.1 only.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SIGNET = Path(os.environ.get("SIGNET_BIN", ROOT / "target" / "debug" / "signet"))
PYTHON = sys.executable


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening:\n{out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


class Processes:
    """Starts processes and stops them all at the end of a test."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.procs = []

    def start(self, args, port, what=None, env=None, cwd=None, timeout=60.0):
        log = open(self.workdir / f"{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(
            [str(a) for a in args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        proc.log_path = self.workdir / f"{len(self.procs)}.log"
        self.procs.append(proc)
        try:
            wait_for_port(port, proc, what or str(args[0]), timeout)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n--- log ---\n{proc.log_path.read_text(errors='replace')}") from None
        return proc

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def procs(tmp_path):
    p = Processes(tmp_path)
    yield p
    p.stop()


class Signet:
    """signet started from its binary with a config written to a temp dir."""

    def __init__(self, procs, workdir):
        self.procs = procs
        self.workdir = Path(workdir)
        self.port = None

    def start(self, config, env=None, args=()):
        self.port = free_port()
        path = self.workdir / "signet.toml"
        path.write_text(config)
        self.config_path = path
        self.procs.start(
            [SIGNET, "run", "--config", path, "--listen", f"127.0.0.1:{self.port}", *args],
            self.port,
            "signet",
            env={"RUST_LOG": "signet=debug", **(env or {})},
        )
        return self

    @property
    def proxy(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self):
        return self.workdir / "certs" / "ca.crt"

    def curl(self, *args, check_status=None):
        """curl through signet; returns (status, body)."""
        cmd = ["curl", "-sS", "--max-time", "30", "-x", self.proxy, "-o", "-", "-w", "\n%{http_code}"]
        if self.ca.exists():
            cmd += ["--cacert", str(self.ca)]
        out = subprocess.run(cmd + [str(a) for a in args], capture_output=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"curl failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
        text = out.stdout.decode(errors="replace")
        body, _, status = text.rpartition("\n")
        body = body.rstrip("\r\n")
        status = int(status)
        if check_status is not None:
            assert status == check_status, f"expected {check_status}, got {status}: {body}"
        return status, body


@pytest.fixture
def signet(procs, tmp_path):
    assert SIGNET.exists(), f"build signet first (cargo build): {SIGNET} is missing"
    return Signet(procs, tmp_path)


class OriginCert:
    """A test CA and a server certificate it issued for 127.0.0.1 and localhost."""

    def __init__(self, ca, cert, key):
        self.ca, self.cert, self.key = ca, cert, key


@pytest.fixture
def origin_cert(tmp_path):
    """Files for an HTTPS verifier: `.cert`/`.key` for the server, `.ca` for signet's `[host.tls] ca`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("interop test CA", "interop test CA", ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("localhost", "interop test CA", key.public_key(), ca_key, False)
    paths = OriginCert(tmp_path / "origin-ca.crt", tmp_path / "origin.crt", tmp_path / "origin.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def require(tool):
    path = shutil.which(tool)
    assert path, f"{tool} is not installed (tests/run installs it)"
    return path
