"""What the parent-proxy tests share: a file origin behind squid, and squid's access log."""

import time

from conftest import PYTHON, free_port


def start_file_origin(procs, tmp_path):
    """Serves `hello.txt` on a free loopback port; returns the port."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello through squid\n")
    port = free_port()
    procs.start([PYTHON, "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", site],
                port, "http.server")
    return port


class Squid:
    def __init__(self, port, workdir):
        self.port, self.workdir = port, workdir

    def access_log(self):
        path = self.workdir / "access.log"
        return path.read_text() if path.exists() else ""

    def authenticated(self, user, needle, count):
        """Waits for `count` lines let through as `user` with `needle` (a tunnel is logged when
        it closes); returns them."""
        deadline = time.monotonic() + 10
        while True:
            lines = [l for l in self.access_log().splitlines()
                     if f" {user} " in l and needle in l and "DENIED" not in l]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)
