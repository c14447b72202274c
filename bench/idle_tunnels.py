"""Opens N CONNECT tunnels through a proxy and holds them idle until stdin closes.

Usage: idle_tunnels.py PROXY_HOST:PORT TARGET_HOST:PORT COUNT
Prints one JSON line when all tunnels are up (or failed): {"open": n, "failed": n, "seconds": s,
"first_error": "..."}; then waits for end of input and closes them.
"""

import asyncio
import json
import resource
import sys
import time


async def open_tunnel(proxy, target, gate):
    async with gate:
        reader, writer = await asyncio.open_connection(*proxy)
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        if not head.startswith(b"HTTP/1.1 200"):
            writer.close()
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return writer


async def main():
    proxy_host, proxy_port = sys.argv[1].rsplit(":", 1)
    target, count = sys.argv[2], int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Enough in flight to be quick, few enough not to overflow the proxy's accept backlog.
    gate = asyncio.Semaphore(128)
    start = time.monotonic()
    results = await asyncio.gather(
        *(open_tunnel((proxy_host, int(proxy_port)), target, gate) for _ in range(count)),
        return_exceptions=True,
    )
    writers = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    print(
        json.dumps(
            {
                "open": len(writers),
                "failed": len(errors),
                "seconds": round(time.monotonic() - start, 3),
                "first_error": repr(errors[0]) if errors else None,
            }
        ),
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for w in writers:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
