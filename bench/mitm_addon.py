"""mitmproxy addon for bench/run: adds a bearer token to every request, like signet's bearer rule."""


def request(flow):
    flow.request.headers["authorization"] = "Bearer bench-token"
