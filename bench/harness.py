"""signet's benchmark: signet next to a direct connection, HAProxy, squid and mitmproxy, in one
run on 127.0.0.1. Started by bench/run, which installs the tools and builds the binaries first.

Prints one table and writes it as JSON. Results are ratios against the direct connection measured
in the same run, because absolute numbers depend on the machine and its load.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import procs
import table
from scenarios import COMPARISONS, Scenario, scenarios

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def parse_args():
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("-c", "--concurrency", type=int, default=32, help="oha connections (32)")
    p.add_argument("-d", "--duration", type=float, default=5, help="seconds per load run (5)")
    p.add_argument("-r", "--rounds", type=int, default=2,
                   help="rounds over all scenarios, every other one in reverse order (2)")
    p.add_argument("--rate", type=float, default=None,
                   help="fixed request rate per second (oha -q) instead of as fast as possible: "
                        "compares latency at equal load")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of unmeasured load per scenario first (min(2, duration/2))")
    p.add_argument("--upload-mib", type=int, default=1024, help="streamed upload size (1024)")
    p.add_argument("--tunnels", type=int, default=10_000, help="idle CONNECT tunnels (10000)")
    p.add_argument("--mint", type=int, default=20, help="new ruled hosts for the leaf cost (20)")
    p.add_argument("--only", default="", help="comma-separated scenario keys to run (all)")
    p.add_argument("--out", default=str(BENCH / "results" / "latest.json"), help="JSON output")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    p.add_argument("--signet", default=str(ROOT / "target/release/signet"))
    p.add_argument("--origin", default=str(ROOT / "target/release/examples/bench_origin"))
    p.add_argument("--relay", default=str(ROOT / "target/release/examples/bench_relay"))
    p.add_argument("--oha", default=shutil.which("oha") or "oha")
    p.add_argument("--mitmdump", default=str(ROOT / ".venv-bench/bin/mitmdump"))
    p.add_argument("--squid", default=shutil.which("squid") or "/usr/sbin/squid")
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    return p.parse_args()


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def oha(args, scenario: Scenario, env, duration):
    """One load run; `cpu_user_s` and `cpu_sys_s` are the CPU time the serving process spent in
    it."""
    pid = env.pids.get(scenario.cpu_of)
    cpu_before = procs.cpu_seconds(pid) if pid else None
    threads_before = procs.thread_cpu_seconds(pid) if pid else None
    cmd = [args.oha, "--no-tui", "--output-format", "json", "-c", str(args.concurrency),
           "-z", f"{duration}s", "--wait-ongoing-requests-after-deadline"]
    if getattr(args, "rate", None):
        cmd += ["-q", str(args.rate)]
    cmd += scenario.oha_args(env)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    cpu_after = procs.cpu_seconds(pid) if pid else None
    threads = ({name: round(t - threads_before.get(name, 0), 2)
                for name, t in procs.thread_cpu_seconds(pid).items()
                if t - threads_before.get(name, 0) > 0} if pid else None)
    if out.returncode != 0:
        raise RuntimeError(f"oha failed for {scenario.key}: {out.stderr.strip()[-500:]}")
    data = json.loads(out.stdout)
    codes = {str(k): v for k, v in (data.get("statusCodeDistribution") or {}).items()}
    errors = data.get("errorDistribution") or {}
    pct = data.get("latencyPercentiles") or {}
    return {
        "rps": data["summary"]["requestsPerSec"],
        "p50_ms": (pct.get("p50") or 0) * 1000,
        "p99_ms": (pct.get("p99") or 0) * 1000,
        "ok": codes.get("200", 0),
        "not_ok": sum(v for k, v in codes.items() if k != "200"),
        "codes": codes,
        "errors": errors,
        "cpu_user_s": cpu_after[0] - cpu_before[0] if pid else None,
        "cpu_sys_s": cpu_after[1] - cpu_before[1] if pid else None,
        # CPU seconds per thread of the serving process (how the work was shared out).
        "cpu_threads_s": threads,
    }


def per_request(seconds, requests):
    return seconds / requests * 1e6 if requests else None


def load_runs(args, env, chosen, report):
    warmup = args.warmup if args.warmup is not None else min(2.0, args.duration / 2)
    if warmup > 0:
        for s in chosen:
            oha(args, s, env, warmup)
    runs = {s.key: [] for s in chosen}
    for r in range(args.rounds):
        order = chosen if r % 2 == 0 else list(reversed(chosen))
        for s in order:
            result = oha(args, s, env, args.duration)
            runs[s.key].append(result)
            print(f"  round {r + 1}/{args.rounds} {s.key:<16} {result['rps']:>10.0f} req/s"
                  f"  p99 {result['p99_ms']:.2f} ms", file=sys.stderr, flush=True)
    rows = {}
    for s in chosen:
        rs = runs[s.key]
        failures = sum(x["not_ok"] for x in rs) + sum(sum(x["errors"].values()) for x in rs)
        if failures or not sum(x["ok"] for x in rs):
            report["failures"].append(f"{s.key}: status codes {[x['codes'] for x in rs]}, "
                                      f"errors {[x['errors'] for x in rs]}")
        answered = sum(x["ok"] + x["not_ok"] for x in rs)
        user_s = sum(x["cpu_user_s"] for x in rs) if s.cpu_of else None
        sys_s = sum(x["cpu_sys_s"] for x in rs) if s.cpu_of else None
        rows[s.key] = {
            "label": s.label,
            "baseline": s.baseline,
            "rps": statistics.fmean(x["rps"] for x in rs),
            "p50_ms": statistics.fmean(x["p50_ms"] for x in rs),
            "p99_ms": statistics.fmean(x["p99_ms"] for x in rs),
            "requests": sum(x["ok"] for x in rs),
            "failures": failures,
            "cpu_of": s.cpu_of,
            # CPU time of the serving process per answered request, over all rounds.
            "cpu_us_per_req": per_request(user_s + sys_s, answered) if s.cpu_of else None,
            "cpu_user_us_per_req": per_request(user_s, answered) if s.cpu_of else None,
            "cpu_sys_us_per_req": per_request(sys_s, answered) if s.cpu_of else None,
            "rounds": [{k: x[k] for k in ("rps", "p50_ms", "p99_ms", "ok", "not_ok", "cpu_user_s",
                                          "cpu_sys_s", "cpu_threads_s")} for x in rs],
        }
    for key, row in rows.items():
        base = rows.get(row["baseline"]) if row["baseline"] else None
        if base:
            row["rps_vs_direct"] = row["rps"] / base["rps"] if base["rps"] else None
            row["p50_vs_direct"] = row["p50_ms"] / base["p50_ms"] if base["p50_ms"] else None
            row["p99_vs_direct"] = row["p99_ms"] / base["p99_ms"] if base["p99_ms"] else None
            row["p99_added_ms"] = row["p99_ms"] - base["p99_ms"]
    return rows


def ratio(a, b):
    return a / b if a is not None and b else None


def comparisons(rows):
    """Each pair of COMPARISONS that ran: req/s, p50, p99 and CPU per request, one over the
    other."""
    out = {}
    for key, mine, theirs, label in COMPARISONS:
        if mine in rows and theirs in rows:
            a, b = rows[mine], rows[theirs]
            out[key] = {"label": label, "rps": ratio(a["rps"], b["rps"]),
                        "p50": ratio(a["p50_ms"], b["p50_ms"]),
                        "p99": ratio(a["p99_ms"], b["p99_ms"]),
                        "cpu": ratio(a["cpu_us_per_req"], b["cpu_us_per_req"])}
    return out


def upload(args, env, report):
    """The same streamed PUT direct and through signet's MITM bearer rule, alternated."""
    size = args.upload_mib * 1024 * 1024
    path = env.work / "upload.bin"
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: costs no disk and reads as fast as memory
    signet = procs.start_signet(args, env, "upload")
    idle_kib = procs.status_kib(signet.proc.pid, "VmRSS")

    def put(via_signet):
        cmd = ["curl", "-sS", "--http1.1", "-T", str(path), "-H", "Expect:", "-o", "-",
               "-w", "\n%{http_code} %{size_upload} %{time_total}"]
        if via_signet:
            cmd += ["-x", f"http://127.0.0.1:{signet.port}", "--cacert", str(env.signet_ca)]
        else:
            cmd += ["--cacert", str(env.origin_ca), "-H", "Authorization: Bearer client-token"]
        cmd.append(f"https://127.0.0.1:{env.https_port}/auth/upload")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        lines = out.stdout.strip().splitlines()
        received, (status, sent, seconds) = lines[0], lines[-1].split()
        if out.returncode or status != "200" or int(received) != size or int(sent) != size:
            raise RuntimeError(f"upload via_signet={via_signet}: curl rc {out.returncode}, "
                               f"status {status}, origin got {received} of {size}: {out.stderr}")
        return size / float(seconds)

    direct, proxied = [], []
    try:
        for r in range(max(1, args.rounds)):
            pair = [(False, direct), (True, proxied)]
            for via, into in (pair if r % 2 == 0 else reversed(pair)):
                into.append(put(via))
        peak_kib = procs.status_kib(signet.proc.pid, "VmHWM")
    finally:
        signet.stop()
        path.unlink()
    d, p = statistics.fmean(direct), statistics.fmean(proxied)
    return {
        "bytes": size,
        "direct_mib_s": d / 2**20,
        "signet_mib_s": p / 2**20,
        "throughput_vs_direct": p / d,
        "signet_idle_rss_mib": idle_kib / 1024,
        "signet_peak_rss_mib": peak_kib / 1024,
    }


def idle_tunnels(args, env, report):
    """RSS of a fresh signet holding idle tunnels. Each tunnel takes two descriptors in signet
    (client and upstream); where the open-file limit cannot be raised far enough, as many as fit
    are opened and the RSS for the full count is extrapolated per tunnel, and says so."""
    fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    count = min(args.tunnels, (fds - 256) // 2)
    if count < args.tunnels:
        print(f"  open-file limit {fds}: {count} tunnels, not {args.tunnels}", file=sys.stderr)
    signet = procs.start_signet(args, env, "tunnels")
    try:
        before = procs.status_kib(signet.proc.pid, "VmRSS")
        holder = subprocess.Popen(
            [sys.executable, str(BENCH / "idle_tunnels.py"), f"127.0.0.1:{signet.port}",
             f"127.0.0.1:{env.tunnel_port}", str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = holder.stdout.readline()
            opened = json.loads(line) if line else {"open": 0, "failed": count}
            time.sleep(1)  # let every tunnel task reach its idle state
            with_tunnels = procs.status_kib(signet.proc.pid, "VmRSS")
        finally:
            holder.stdin.close()
            holder.wait(timeout=60)
    finally:
        signet.stop()
    if opened.get("failed"):
        report["failures"].append(f"tunnels: {opened['failed']} of {count} failed "
                                  f"({opened.get('first_error')})")
    per_tunnel = (with_tunnels - before) / max(1, opened["open"])
    extrapolated = opened["open"] < args.tunnels
    return {
        "tunnels": opened["open"],
        "wanted": args.tunnels,
        "open_files_limit": fds,
        "open_seconds": opened.get("seconds"),
        "signet_rss_before_mib": before / 1024,
        "signet_rss_mib": with_tunnels / 1024,
        "kib_per_tunnel": per_tunnel,
        # RSS at the wanted count: measured, or extrapolated when the limit kept it lower.
        "signet_rss_at_wanted_mib": (before + per_tunnel * args.tunnels) / 1024
        if extrapolated else with_tunnels / 1024,
        "extrapolated": extrapolated,
    }


def leaf_minting(args, env, signet):
    out = subprocess.run(
        [sys.executable, str(BENCH / "mint.py"), f"127.0.0.1:{signet.port}", str(env.signet_ca),
         "mint.test", str(args.mint)], capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(f"mint.py: {out.stderr.strip()[-500:]}")
    data = json.loads(out.stdout)
    first, cached = statistics.median(data["first"]), statistics.median(data["cached"])
    return {
        "hosts": len(data["first"]),
        "first_ms": first * 1000,
        "cached_ms": cached * 1000,
        "first_vs_cached": first / cached,
        "mint_cost_ms": (first - cached) * 1000,
    }


TARGETS = [
    # (name, where the value is in the report, comparison, bound, setting it needs at full size)
    ("plain forwarding req/s vs direct", ("rows", "signet-plain", "rps_vs_direct"), ">=", 0.90,
     None),
    ("plain forwarding req/s vs squid", ("peers", "plain_vs_squid", "rps"), ">=", 2.0, None),
    ("plain forwarding req/s vs HAProxy TCP", ("peers", "plain_vs_haproxy_tcp", "rps"), ">=",
     0.95, None),
    ("MITM+bearer req/s vs direct HTTPS", ("rows", "signet-bearer", "rps_vs_direct"), ">=", 0.60,
     None),
    ("MITM+bearer req/s vs mitmproxy", ("peers", "bearer_vs_mitmproxy", "rps"), ">=", 20.0,
     None),
    ("MITM+bearer req/s vs HAProxy TLS HTTP", ("peers", "bearer_vs_haproxy_tls", "rps"), ">=",
     0.95, None),
    ("gateway req/s vs HAProxy HTTP", ("peers", "gateway_vs_haproxy_http", "rps"), ">=", 1.0,
     None),
    # CPU per request, signet over HAProxy HTTP mode doing the same kind of work.
    ("gateway CPU/req vs HAProxy HTTP", ("peers", "gateway_vs_haproxy_http", "cpu"), "<=", 1.0,
     None),
    ("plain CPU/req vs HAProxy HTTP", ("peers", "plain_vs_haproxy_http", "cpu"), "<=", 1.0,
     None),
    ("MITM+bearer CPU/req vs HAProxy TLS HTTP", ("peers", "bearer_vs_haproxy_tls", "cpu"), "<=",
     1.0, None),
    ("plain p99 added ms", ("rows", "signet-plain", "p99_added_ms"), "<=", 1.0, None),
    ("MITM+bearer p99 added ms", ("rows", "signet-bearer", "p99_added_ms"), "<=", 1.0, None),
    ("1 GiB upload peak RSS MiB", ("upload", "signet_peak_rss_mib"), "<=", 64,
     ("upload_mib", 1024)),
    ("idle RSS MiB", ("upload", "signet_idle_rss_mib"), "<=", 20, None),
    ("10,000 idle tunnels RSS MiB", ("tunnels", "signet_rss_at_wanted_mib"), "<=", 64,
     ("tunnels", 10_000)),
]


def check_targets(report):
    """Each target with its measured value; `met` is None when it was not measured at the size
    the target is about (a smoke run's 32 MiB upload says nothing about a 1 GiB one)."""
    out = []
    for name, path, op, bound, needs in TARGETS:
        value = report
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        full_size = needs is None or report["settings"][needs[0]] >= needs[1]
        met = None
        if value is not None and full_size:
            met = value >= bound if op == ">=" else value <= bound
        out.append({"target": name, "bound": f"{op} {bound}", "measured": value, "met": met,
                    "full_size": full_size})
    return out


def main():
    args = parse_args()
    fds = raise_fd_limit()
    only = {k for k in args.only.split(",") if k}
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": os.getloadavg()},
        "settings": {"concurrency": args.concurrency, "duration_s": args.duration,
                     "rounds": args.rounds, "rate": args.rate, "upload_mib": args.upload_mib,
                     "tunnels": args.tunnels, "open_files": fds},
        "failures": [],
    }
    work = Path(tempfile.mkdtemp(prefix="signet-bench-"))
    env = procs.Env(work, args)
    started = []
    try:
        env.make_certs()
        started.append(procs.start_origin(args, env))
        chosen = [s for s in scenarios() if not only or s.key in only]
        needs = {s.needs for s in chosen}
        signet = procs.start_signet(args, env, "main", gateway=True)
        started.append(signet)
        env.proxies["signet"] = signet.port
        env.pids["signet"] = signet.proc.pid
        starters = {"relay": procs.start_relay, "relay-tls": procs.start_relay_tls,
                    "haproxy": procs.start_haproxy, "squid": procs.start_squid,
                    "mitmproxy": procs.start_mitmproxy}
        for name, start in starters.items():
            if name in needs:
                started.append(start(args, env))
                env.pids[name] = started[-1].proc.pid
        print(f"load: {len(chosen)} scenarios x {args.rounds} rounds x {args.duration:g} s "
              f"at concurrency {args.concurrency}", file=sys.stderr, flush=True)
        report["rows"] = load_runs(args, env, chosen, report)
        report["signet_peak_rss_mib"] = procs.status_kib(signet.proc.pid, "VmHWM") / 1024
        report["peers"] = comparisons(report["rows"])
        if args.mint > 0:
            print("leaf minting", file=sys.stderr, flush=True)
            report["mint"] = leaf_minting(args, env, signet)
        if args.upload_mib > 0:
            print(f"upload: {args.upload_mib} MiB", file=sys.stderr, flush=True)
            report["upload"] = upload(args, env, report)
        if args.tunnels > 0:
            print(f"idle tunnels: {args.tunnels}", file=sys.stderr, flush=True)
            report["tunnels"] = idle_tunnels(args, env, report)
    except BaseException as e:
        report["failures"].append(f"{type(e).__name__}: {e}")  # keeps the logs for a look
        raise
    finally:
        for p in reversed(started):
            p.stop()
        report["machine"]["loadavg_end"] = os.getloadavg()
        if args.keep or report["failures"]:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["targets"] = check_targets(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table.render(report))
    print(f"\nwritten: {args.out}")
    if report["failures"]:
        print("\nFAILED:\n  " + "\n  ".join(report["failures"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
