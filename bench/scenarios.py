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
    url: str  # with {http}, {https}, {tunnel}, {relay}, {relay_tls} ports
    proxy: str | None = None  # "signet", "squid", "mitmproxy"
    cacert: str | None = None  # "origin", "signet", "mitmproxy"
    extra: list = field(default_factory=list)

    def oha_args(self, env):
        out = []
        if self.proxy:
            out += ["-x", f"http://127.0.0.1:{env.proxies[self.proxy]}"]
        if self.cacert:
            ca = {"origin": env.origin_ca, "signet": env.signet_ca, "mitmproxy": env.mitm_ca}
            out += ["--cacert", str(ca[self.cacert])]
        out += [str(x).format(body=env.body_1k) for x in self.extra]
        out.append(self.url.format(http=env.http_port, https=env.https_port,
                                   tunnel=env.tunnel_port, relay=env.relay_port,
                                   relay_tls=env.relay_tls_port))
        return out


BEARER = ["-H", "Authorization: Bearer client-token"]
AWS = ["-H", "Authorization: AWS4-HMAC-SHA256 Credential=client", "-m", "PUT", "-D", "{body}"]
PUT = ["-m", "PUT", "-D", "{body}"]


def scenarios():
    H, S = "http://127.0.0.1:{http}/", "https://127.0.0.1:{https}"
    return [
        Scenario("direct-http", "direct HTTP", None, None, H),
        Scenario("signet-plain", "signet plain forwarding", "direct-http", None, H,
                 proxy="signet"),
        Scenario("relay-plain", "TCP relay (no HTTP work)", "direct-http", "relay",
                 "http://127.0.0.1:{relay}/"),
        Scenario("squid-plain", "squid plain forwarding", "direct-http", "squid", H,
                 proxy="squid"),
        Scenario("direct-https", "direct HTTPS", None, None, S + "/auth/bench",
                 cacert="origin", extra=BEARER),
        Scenario("signet-bearer", "signet MITM + bearer", "direct-https", None,
                 S + "/auth/bench", proxy="signet", cacert="signet"),
        Scenario("relay-tls", "TLS relay (no HTTP work)", "direct-https", "relay-tls",
                 "https://127.0.0.1:{relay_tls}/auth/bench", cacert="origin", extra=BEARER),
        Scenario("mitmproxy", "mitmproxy MITM + header addon", "direct-https", "mitmproxy",
                 S + "/auth/bench", proxy="mitmproxy", cacert="mitmproxy"),
        Scenario("signet-tunnel", "signet CONNECT tunnel", "direct-https", None,
                 "https://127.0.0.1:{tunnel}/auth/bench", proxy="signet", cacert="origin",
                 extra=BEARER),
        Scenario("direct-https-put", "direct HTTPS PUT 1 KiB", None, None, S + "/aws/bench",
                 cacert="origin", extra=AWS),
        Scenario("signet-awsv4", "signet MITM + awsv4 PUT 1 KiB", "direct-https-put", None,
                 S + "/aws/bench", proxy="signet", cacert="signet", extra=PUT),
    ]
