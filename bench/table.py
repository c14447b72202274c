"""Renders a bench/run report (the JSON it writes) as the table it prints.

Usage: python3 bench/table.py [bench/results/latest.json]
"""

import json
import sys


def fmt(value, spec):
    """`value` formatted with `spec`, or a dash as wide as the spec's width."""
    if value is None:
        width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
        return f"{'-':>{width}}"
    return f"{value:{spec}}"


def render(report):
    s = report["settings"]
    m = report["machine"]
    lines = [
        f"signet bench {report['when']}: concurrency {s['concurrency']}, {s['duration_s']:g} s "
        f"x {s['rounds']} rounds per scenario, {m['cpus']} CPUs, load average "
        f"{m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}",
        "",
        f"{'scenario':<32} {'req/s':>9} {'x direct':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p99 x':>7} {'p99 +ms':>8} {'CPU us/req':>10} {'sys':>6} {'fail':>5}",
    ]
    for row in report.get("rows", {}).values():
        lines.append(
            f"{row['label']:<32} {row['rps']:>9.0f} {fmt(row.get('rps_vs_direct'), '9.2f')} "
            f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{fmt(row.get('p99_vs_direct'), '7.2f')} {fmt(row.get('p99_added_ms'), '+8.2f')} "
            f"{fmt(row.get('cpu_us_per_req'), '10.1f')} {fmt(row.get('cpu_sys_us_per_req'), '6.1f')} "
            f"{row['failures']:>5}")
    peers = report.get("peers", {})
    if peers:
        lines += ["", f"{'proxy / proxy (same run)':<34} {'req/s x':>8} {'p50 x':>7} "
                      f"{'p99 x':>7} {'CPU/req x':>10}"]
        for peer in peers.values():
            lines.append(f"{peer['label']:<34} {fmt(peer['rps'], '8.2f')} "
                         f"{fmt(peer['p50'], '7.2f')} {fmt(peer['p99'], '7.2f')} "
                         f"{fmt(peer['cpu'], '10.2f')}")
    if report.get("signet_peak_rss_mib") is not None:
        lines.append(f"signet peak RSS over the load runs: {report['signet_peak_rss_mib']:.1f} MiB")
    up = report.get("upload")
    if up:
        lines.append(
            f"upload {up['bytes'] / 2**20:.0f} MiB via MITM+bearer: {up['throughput_vs_direct']:.2f}x "
            f"direct throughput ({up['signet_mib_s']:.0f} vs {up['direct_mib_s']:.0f} MiB/s); "
            f"signet RSS idle {up['signet_idle_rss_mib']:.1f} MiB, peak {up['signet_peak_rss_mib']:.1f} MiB")
    t = report.get("tunnels")
    if t:
        lines.append(
            f"{t['tunnels']} idle CONNECT tunnels: signet RSS {t['signet_rss_mib']:.1f} MiB "
            f"(from {t['signet_rss_before_mib']:.1f}; {t['kib_per_tunnel']:.1f} KiB per tunnel)")
        if t.get("extrapolated"):
            lines.append(
                f"  open-file limit {t['open_files_limit']} allowed only {t['tunnels']}: "
                f"{t['wanted']} tunnels extrapolated to {t['signet_rss_at_wanted_mib']:.1f} MiB")
    mint = report.get("mint")
    if mint:
        lines.append(
            f"first CONNECT+TLS to a new ruled host: {mint['first_vs_cached']:.2f}x a cached one "
            f"({mint['first_ms']:.2f} vs {mint['cached_ms']:.2f} ms, minting "
            f"{mint['mint_cost_ms']:.2f} ms; median of {mint['hosts']})")
    targets = report.get("targets", [])
    if targets:
        lines += ["", "targets:"]
        for t in targets:
            met = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
            if t["measured"] is not None and not t.get("full_size", True):
                met = "not judged: measured below the target's size"
            if t["target"].startswith("10,000") and (report.get("tunnels") or {}).get("extrapolated"):
                met += " (extrapolated)"
            lines.append(f"  {t['target']:<40} {t['bound']:>8}  measured "
                         f"{fmt(t['measured'], '.3f'):>8}  {met}")
    return "\n".join(lines)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json"
    with open(path) as f:
        print(render(json.load(f)))
