#!/usr/bin/env python3
"""A TCP proxy that adds a fixed delay in each direction, for the benchmarks'
"behind 20 ms of round-trip time" (scale.py, part rtt).

    python3 delay_proxy.py --ready FILE --to PORT [--delay-ms 10] [--lifetime SECONDS]

netem (`tc qdisc add dev lo root netem delay 10ms` in a network namespace)
is the usual way, but it needs the sch_netem kernel module, which not every
machine (nor every container) has. This does the same at the TCP level:
every chunk read from one side is written to the other `--delay-ms` after it
arrived, in order, so a request and its answer cost 2 x delay more, and a
TLS handshake its round trips' worth. One accepted connection is one
connection to 127.0.0.1:PORT, so the server still counts the client's
connections. It listens on 127.0.0.1 on a port the system picks and writes
{"port": N} to FILE once listening; it exits by itself after --lifetime s.
"""
import argparse
import asyncio
import json
import os
import socket


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk `delay` seconds after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except OSError:
            pass

    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(1 << 18)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except (OSError, asyncio.CancelledError):
        sender.cancel()
    finally:
        writer.close()


async def handle(client_r, client_w, port, delay):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        client_w.close()
        return
    for w in (client_w, server_w):
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay),
                         return_exceptions=True)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ready", required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=10)
    ap.add_argument("--lifetime", type=float, default=900)
    args = ap.parse_args()
    delay = args.delay_ms / 1000
    server = await asyncio.start_server(lambda r, w: handle(r, w, args.to, delay), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    os.rename(tmp, args.ready)
    asyncio.get_running_loop().call_later(args.lifetime, lambda: os._exit(0))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
