"""The processes bench/run starts: the origin, signet, the relays, HAProxy, squid and mitmproxy,
each on 127.0.0.1 with its own generated config in the work directory."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    """A `/proc/PID/status` memory field (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """(user, system) CPU seconds of process `pid`, all its threads, from `/proc/PID/stat`."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    # fixed: utime and stime are fields 14 and 15, the 12th and 13th after it.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def thread_cpu_seconds(pid):
    """{thread name: user + system CPU seconds} of process `pid` (threads of one name summed)."""
    used = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used[name] = used.get(name, 0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {out.stderr.strip()[-800:]}")
    return out


class Proc:
    """A started server; `stop()` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, name, cmd, port, log, cwd=None):
        self.name, self.port, self.log = name, port, log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd,
                                         start_new_session=True)
        self.wait_port()

    def wait_port(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        tail = Path(self.log).read_text(errors="replace")[-1500:]
        self.stop()
        raise RuntimeError(f"{self.name} did not come up on 127.0.0.1:{self.port}:\n{tail}")

    def stop(self):
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Env:
    """Ports, certificates and paths shared by the scenarios."""

    def __init__(self, work, args):
        self.work = work
        self.args = args
        self.http_port = free_port()
        self.https_port = free_port()  # named by signet's MITM rule
        self.tunnel_port = free_port()  # no rule: CONNECT is tunnelled
        self.relay_port = free_port()  # bench_relay, in front of the HTTP port
        self.relay_tls_port = free_port()  # bench_relay --tls, in front of the HTTPS port
        self.gateway_port = free_port()  # the main signet's [[gateway]] to the HTTP port
        self.haproxy_tcp_port = free_port()  # HAProxy TCP mode to the HTTP port
        self.haproxy_tcp_tls_port = free_port()  # HAProxy TCP mode to the tunnel port
        self.haproxy_tls_port = free_port()  # HAProxy HTTP mode, TLS both sides, adds bearer
        self.haproxy_http_port = free_port()  # HAProxy HTTP mode to the HTTP port
        self.origin_ca = work / "origin-ca.pem"
        self.signet_ca = work / "signet-ca.crt"
        self.mitm_ca = work / "mitmproxy" / "mitmproxy-ca-cert.pem"
        self.body_1k = work / "body-1k.bin"
        self.body_1k.write_bytes(b"x" * 1024)
        self.proxies = {}
        self.pids = {}  # the process whose CPU a scenario counts, by name

    def ports(self):
        """The ports a scenario's URL may name, by the name it uses."""
        return {"http": self.http_port, "https": self.https_port, "tunnel": self.tunnel_port,
                "relay": self.relay_port, "relay_tls": self.relay_tls_port,
                "gateway": self.gateway_port, "haproxy_tcp": self.haproxy_tcp_port,
                "haproxy_tcp_tls": self.haproxy_tcp_tls_port,
                "haproxy_tls": self.haproxy_tls_port, "haproxy_http": self.haproxy_http_port}

    def make_certs(self):
        """An origin CA and a leaf for 127.0.0.1 and localhost, with openssl."""
        w = self.work
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", w / "origin-ca.key", "-out",
             self.origin_ca, "-days", "2", "-subj", "/CN=signet bench origin CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run(["openssl", "req", *ec, "-keyout", w / "origin.key", "-out", w / "origin.csr",
             "-subj", "/CN=127.0.0.1"])
        (w / "origin.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        run(["openssl", "x509", "-req", "-in", w / "origin.csr", "-CA", self.origin_ca,
             "-CAkey", w / "origin-ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", w / "origin.ext", "-out", w / "origin.pem"])

    def signet_config(self, name, port, gateway=False):
        """Bearer on the origin's HTTPS port, awsv4 under /aws there, bearer on *.mint.test;
        nothing else has a rule, so plain HTTP and the other HTTPS port pass untouched. With
        `gateway`, a gateway to the origin's HTTP port (no rule: a reverse proxy's work)."""
        path = self.work / f"signet-{name}.toml"
        gateway_table = (f'[[gateway]]\nlisten = "127.0.0.1:{self.gateway_port}"\n'
                         f'upstream = "http://127.0.0.1:{self.http_port}"\n\n') if gateway else ""
        path.write_text(f"""\
{gateway_table}[proxy]
listen = "127.0.0.1:{port}"

[ca]
cert = "{self.signet_ca}"
key = "{self.work / 'signet-ca.key'}"

[auth.bench-bearer]
type = "bearer"
token = "bench-token"

[auth.bench-aws]
type = "awsv4"
access_key = "AKIDEXAMPLE"
secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
region = "us-east-1"
service = "s3"

[[host]]
match = ["127.0.0.1:{self.https_port}"]
auth = "bench-bearer"

  [[host.route]]
  path = "/aws/**"
  auth = "bench-aws"

  [host.tls]
  ca = "{self.origin_ca}"

[[host]]
match = ["*.mint.test"]
auth = "bench-bearer"
""")
        return path


def start_origin(args, env):
    return Proc("origin", [args.origin, "--http", str(env.http_port), "--https",
                           f"{env.https_port},{env.tunnel_port}", "--cert",
                           str(env.work / "origin.pem"), "--key", str(env.work / "origin.key")],
                env.https_port, env.work / "origin.log")


def start_relay(args, env):
    """The TCP relay in front of the origin's HTTP port: a proxy hop that does no HTTP work."""
    return Proc("relay", [args.relay, "--listen", str(env.relay_port), "--to",
                          str(env.http_port)], env.relay_port, env.work / "relay.log")


def start_relay_tls(args, env):
    """The relay that terminates TLS (with the origin's own certificate) and speaks TLS to the
    origin's HTTPS port: an intercepting hop that does no HTTP work."""
    w = env.work
    tls = f"{w / 'origin.pem'},{w / 'origin.key'},{env.origin_ca}"
    return Proc("TLS relay", [args.relay, "--listen", str(env.relay_tls_port), "--to",
                              str(env.https_port), "--tls", tls],
                env.relay_tls_port, w / "relay-tls.log")


def start_signet(args, env, name, gateway=False):
    port = free_port()
    config = env.signet_config(name, port, gateway)
    if not env.signet_ca.exists():
        run([args.signet, "--config", config, "ca", "init"])
    return Proc(f"signet ({name})", [args.signet, "--config", str(config), "run"], port,
                env.work / f"signet-{name}.log")


def start_squid(args, env):
    port = free_port()
    d = env.work / "squid"
    d.mkdir()
    os.chmod(d, 0o777)  # squid drops to its own user when started as root
    conf = d / "squid.conf"
    # Plain forwarding, no cache, no logs on the hot path, nothing listening beyond loopback.
    conf.write_text(f"""\
http_port 127.0.0.1:{port}
http_access allow localhost
http_access deny all
cache deny all
cache_mem 8 MB
access_log none
cache_store_log none
cache_log {d}/cache.log
pid_filename {d}/squid.pid
coredump_dir {d}
pinger_enable off
icp_port 0
htcp_port 0
udp_incoming_address 127.0.0.1
visible_hostname signet-bench
shutdown_lifetime 0 seconds
max_filedescriptors 65536
""")
    proc = Proc("squid", [args.squid, "-N", "-f", str(conf)], port, d / "stdout.log")
    env.proxies["squid"] = port
    return proc


def start_mitmproxy(args, env):
    port = free_port()
    conf = env.work / "mitmproxy"
    conf.mkdir()
    proc = Proc("mitmproxy", [args.mitmdump, "-q", "--listen-host", "127.0.0.1",
                              "--listen-port", str(port), "--set", f"confdir={conf}",
                              "--set", f"ssl_verify_upstream_trusted_ca={env.origin_ca}",
                              "-s", str(BENCH / "mitm_addon.py")],
                port, env.work / "mitmproxy.log")
    env.proxies["mitmproxy"] = port
    return proc


def start_haproxy(args, env):
    """One HAProxy with four frontends: TCP mode in front of the origin's HTTP port and in front
    of its tunnel port (TLS passed through), HTTP mode with TLS on both sides adding the bearer
    header (the origin's own leaf, as the TLS relay uses), and HTTP mode in front of the HTTP
    port as a reverse proxy. As many threads as CPUs, as signet runs a runtime per CPU; no logs;
    keep-alive on both sides (HTTP mode's default)."""
    d = env.work / "haproxy"
    d.mkdir()
    w = env.work
    crt = d / "origin-combined.pem"  # HAProxy takes the leaf and its key in one file
    crt.write_text((w / "origin.pem").read_text() + (w / "origin.key").read_text())
    conf = d / "haproxy.cfg"
    conf.write_text(f"""\
global
    nbthread {os.cpu_count()}
    maxconn 4096
    ssl-server-verify required

defaults
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend tcp_plain
    mode tcp
    bind 127.0.0.1:{env.haproxy_tcp_port}
    default_backend origin_http_tcp

backend origin_http_tcp
    mode tcp
    server origin 127.0.0.1:{env.http_port}

frontend tcp_tls
    mode tcp
    bind 127.0.0.1:{env.haproxy_tcp_tls_port}
    default_backend origin_tunnel_tcp

backend origin_tunnel_tcp
    mode tcp
    server origin 127.0.0.1:{env.tunnel_port}

frontend http_tls
    mode http
    bind 127.0.0.1:{env.haproxy_tls_port} ssl crt {crt} alpn http/1.1
    http-request set-header Authorization "Bearer bench-token"
    default_backend origin_https

backend origin_https
    mode http
    server origin 127.0.0.1:{env.https_port} ssl ca-file {env.origin_ca} alpn http/1.1

frontend http_plain
    mode http
    bind 127.0.0.1:{env.haproxy_http_port}
    default_backend origin_http

backend origin_http
    mode http
    server origin 127.0.0.1:{env.http_port}
""")
    run([args.haproxy, "-c", "-q", "-f", str(conf)])
    return Proc("haproxy", [args.haproxy, "-db", "-f", str(conf)], env.haproxy_http_port,
                d / "stdout.log")
