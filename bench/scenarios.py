"""The load scenarios: what oha sends, through which proxy, and which direct run it is compared
with. Requests under /auth and /aws must arrive signed (the origin answers 401 otherwise), so a
proxy that skips signing shows up as failures instead of a flattering number."""

from dataclasses import dataclass, field


@dataclass
class Scenario:
    key: str
    label: str
    baseline: str | None  # the direct run this one is divided by
    needs: str | None  # a peer proxy that must be running
    url: str  # with ports by the names of Env.ports(): {http}, {https}, {haproxy_tcp}, …
    proxy: str | None = None  # "signet", "squid", "mitmproxy"
    cacert: str | None = None  # "origin", "signet", "mitmproxy"
    extra: list = field(default_factory=list)
    serves: str | None = None  # the process whose CPU is counted, if not `proxy` or `needs`

    @property
    def cpu_of(self):
        """The name of the process (in Env.pids) that serves this scenario, or None (direct)."""
        return self.serves or self.proxy or self.needs

    def oha_args(self, env):
        out = []
        if self.proxy:
            out += ["-x", f"http://127.0.0.1:{env.proxies[self.proxy]}"]
        if self.cacert:
            ca = {"origin": env.origin_ca, "signet": env.signet_ca, "mitmproxy": env.mitm_ca}
            out += ["--cacert", str(ca[self.cacert])]
        out += [str(x).format(body=env.body_1k) for x in self.extra]
        out.append(self.url.format(**env.ports()))
        return out


BEARER = ["-H", "Authorization: Bearer client-token"]
AWS = ["-H", "Authorization: AWS4-HMAC-SHA256 Credential=client", "-m", "PUT", "-D", "{body}"]
PUT = ["-m", "PUT", "-D", "{body}"]


def scenarios():
    """In the order of the table, each proxy next to the ones it is compared with (adjacent runs
    also see the most similar machine load)."""
    H, S = "http://127.0.0.1:{http}/", "https://127.0.0.1:{https}"
    return [
        Scenario("direct-http", "direct HTTP", None, None, H),
        Scenario("signet-plain", "signet plain forwarding", "direct-http", None, H,
                 proxy="signet"),
        Scenario("relay-plain", "TCP relay (no HTTP work)", "direct-http", "relay",
                 "http://127.0.0.1:{relay}/"),
        # HAProxy is the fast proxies' yardstick. TCP mode is the floor of a hop (plain, and
        # TLS passed through to the tunnel port); HTTP mode parses every request: plain as a
        # reverse proxy (the peer of signet's gateway, which forwards to the same HTTP port
        # without a rule), and with TLS on both sides setting the bearer header (signet MITM's).
        Scenario("haproxy-tcp", "HAProxy TCP mode", "direct-http", "haproxy",
                 "http://127.0.0.1:{haproxy_tcp}/"),
        Scenario("squid-plain", "squid plain forwarding", "direct-http", "squid", H,
                 proxy="squid"),
        Scenario("signet-gateway", "signet gateway (reverse proxy)", "direct-http", None,
                 "http://127.0.0.1:{gateway}/", serves="signet"),
        Scenario("haproxy-http", "HAProxy HTTP mode (reverse)", "direct-http", "haproxy",
                 "http://127.0.0.1:{haproxy_http}/"),
        Scenario("direct-https", "direct HTTPS", None, None, S + "/auth/bench",
                 cacert="origin", extra=BEARER),
        Scenario("signet-bearer", "signet MITM + bearer", "direct-https", None,
                 S + "/auth/bench", proxy="signet", cacert="signet"),
        Scenario("relay-tls", "TLS relay (no HTTP work)", "direct-https", "relay-tls",
                 "https://127.0.0.1:{relay_tls}/auth/bench", cacert="origin", extra=BEARER),
        Scenario("haproxy-tls", "HAProxy HTTP mode TLS + bearer", "direct-https", "haproxy",
                 "https://127.0.0.1:{haproxy_tls}/auth/bench", cacert="origin"),
        Scenario("mitmproxy", "mitmproxy MITM + header addon", "direct-https", "mitmproxy",
                 S + "/auth/bench", proxy="mitmproxy", cacert="mitmproxy"),
        Scenario("signet-tunnel", "signet CONNECT tunnel", "direct-https", None,
                 "https://127.0.0.1:{tunnel}/auth/bench", proxy="signet", cacert="origin",
                 extra=BEARER),
        Scenario("haproxy-tcp-tls", "HAProxy TCP mode, TLS through", "direct-https", "haproxy",
                 "https://127.0.0.1:{haproxy_tcp_tls}/auth/bench", cacert="origin",
                 extra=BEARER),
        Scenario("direct-https-put", "direct HTTPS PUT 1 KiB", None, None, S + "/aws/bench",
                 cacert="origin", extra=AWS),
        Scenario("signet-awsv4", "signet MITM + awsv4 PUT 1 KiB", "direct-https-put", None,
                 S + "/aws/bench", proxy="signet", cacert="signet", extra=PUT),
    ]


# (key, scenario, the one it is divided by, label): ratios of req/s, p50, p99 and CPU per
# request between two proxies measured in the same run.
COMPARISONS = [
    ("plain_vs_relay", "signet-plain", "relay-plain", "signet plain / TCP relay"),
    ("plain_vs_haproxy_tcp", "signet-plain", "haproxy-tcp", "signet plain / HAProxy TCP"),
    ("plain_vs_haproxy_http", "signet-plain", "haproxy-http", "signet plain / HAProxy HTTP"),
    ("plain_vs_squid", "signet-plain", "squid-plain", "signet plain / squid"),
    ("gateway_vs_haproxy_http", "signet-gateway", "haproxy-http",
     "signet gateway / HAProxy HTTP"),
    ("bearer_vs_tls_relay", "signet-bearer", "relay-tls", "signet MITM+bearer / TLS relay"),
    ("bearer_vs_haproxy_tls", "signet-bearer", "haproxy-tls",
     "signet MITM+bearer / HAProxy TLS"),
    ("bearer_vs_mitmproxy", "signet-bearer", "mitmproxy", "signet MITM+bearer / mitmproxy"),
    ("tunnel_vs_haproxy_tcp_tls", "signet-tunnel", "haproxy-tcp-tls",
     "signet tunnel / HAProxy TCP TLS"),
]
