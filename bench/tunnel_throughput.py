"""Throughput of a blind CONNECT tunnel through signet against a direct connection, on 127.0.0.1.

A sink process reads whatever arrives until end of input and answers with the count; the client
sends `--mib` MiB to it, directly or through a signet tunnel (no rule), and waits for the count,
so the half-close crosses the tunnel too. Rounds alternate (direct first, then tunnel first),
so a drift in machine load falls on both alike. Reports the median of each, their ratio, and
the CPU time signet spent per GiB (user + system, from /proc), which depends less on how busy
the machine is than the throughput does.

Usage: python3 bench/tunnel_throughput.py [--mib 1024] [--rounds 5] [--signet PATH]
Writes bench/results/tunnel_throughput.json (or --out).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import procs

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHUNK = 256 * 1024
TICK = os.sysconf("SC_CLK_TCK")


def sink(listener):
    """Reads each connection to its end and answers with the number of bytes read."""
    buf = bytearray(CHUNK)
    while True:
        conn, _ = listener.accept()
        with conn:
            total = 0
            while n := conn.recv_into(buf):
                total += n
            conn.sendall(struct.pack("!Q", total))


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def open_tunnel(proxy_port, target_port):
    s = socket.create_connection(("127.0.0.1", proxy_port))
    target = f"127.0.0.1:{target_port}"
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        more = s.recv(1)  # byte by byte: nothing past the head may be taken from the tunnel
        if not more:
            raise RuntimeError(f"tunnel closed before its answer: {head!r}")
        head += more
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"tunnel refused: {head.splitlines()[0]!r}")
    return s


def transfer(s, size):
    """Sends `size` bytes, half-closes, and waits for the sink's count: seconds taken."""
    data = memoryview(os.urandom(CHUNK))
    start = time.monotonic()
    left = size
    while left:
        n = min(left, CHUNK)
        s.sendall(data[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while len(answer) < 8:
        more = s.recv(8 - len(answer))
        if not more:
            raise RuntimeError("the sink's count did not come back")
        answer += more
    seconds = time.monotonic() - start
    s.close()
    (got,) = struct.unpack("!Q", answer)
    if got != size:
        raise RuntimeError(f"sent {size} bytes, the sink read {got}")
    return seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mib", type=int, default=1024, help="MiB per transfer (1024)")
    p.add_argument("--rounds", type=int, default=5, help="direct/tunnel pairs (5)")
    p.add_argument("--signet", default=str(ROOT / "target/release/signet"))
    p.add_argument("--out", default=str(BENCH / "results" / "tunnel_throughput.json"))
    args = p.parse_args()
    size = args.mib * 2**20

    listener = socket.create_server(("127.0.0.1", 0))
    sink_port = listener.getsockname()[1]
    sink_proc = multiprocessing.get_context("fork").Process(target=sink, args=(listener,),
                                                             daemon=True)
    sink_proc.start()
    work = Path(tempfile.mkdtemp(prefix="signet-tunnel-bench-"))
    env = procs.Env(work, args)
    signet = None
    runs = {"direct": [], "tunnel": []}
    load_start = os.getloadavg()
    try:
        env.make_certs()  # signet's bench config names the origin CA
        signet = procs.start_signet(args, env, "tunnel")
        for r in range(args.rounds):
            order = ("direct", "tunnel") if r % 2 == 0 else ("tunnel", "direct")
            for mode in order:
                if mode == "direct":
                    s = socket.create_connection(("127.0.0.1", sink_port))
                else:
                    s = open_tunnel(signet.port, sink_port)
                cpu_before = cpu_seconds(signet.proc.pid)
                seconds = transfer(s, size)
                # The sink has counted every byte, so signet has written them all.
                cpu = cpu_seconds(signet.proc.pid) - cpu_before
                runs[mode].append({"seconds": seconds, "mib_s": args.mib / seconds,
                                   "signet_cpu_s": cpu})
                print(f"round {r + 1} {mode:6} {args.mib / seconds:8.0f} MiB/s  "
                      f"signet CPU {cpu:.2f} s", file=sys.stderr, flush=True)
    finally:
        if signet:
            signet.stop()
        sink_proc.terminate()
        shutil.rmtree(work, ignore_errors=True)

    gib = size / 2**30
    direct = statistics.median(x["mib_s"] for x in runs["direct"])
    tunnel = statistics.median(x["mib_s"] for x in runs["tunnel"])
    cpu_per_gib = statistics.median(x["signet_cpu_s"] for x in runs["tunnel"]) / gib
    report = {
        "mib": args.mib,
        "rounds": args.rounds,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "direct_mib_s_median": direct,
        "tunnel_mib_s_median": tunnel,
        "tunnel_vs_direct": tunnel / direct,
        "ratios_per_round": [t["mib_s"] / d["mib_s"] for d, t in zip(runs["direct"],
                                                                      runs["tunnel"])],
        "signet_cpu_s_per_gib": cpu_per_gib,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.mib} MiB x {args.rounds} rounds, load average {load_start[0]:.1f} -> "
          f"{report['loadavg_end'][0]:.1f}")
    print(f"direct  {direct:8.0f} MiB/s (median)")
    print(f"tunnel  {tunnel:8.0f} MiB/s (median)  x direct {tunnel / direct:.2f}  "
          f"(per round: {', '.join(f'{x:.2f}' for x in report['ratios_per_round'])})")
    print(f"signet CPU per GiB through the tunnel: {cpu_per_gib:.2f} s (user + system)")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
