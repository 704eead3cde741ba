#!/usr/bin/env python3
"""A lean keep-alive HTTP/1.1 server for the engine benchmarks (engine.py).

    python3 keepalive_server.py --ready FILE [--tls CERT KEY] [--lifetime SECONDS]

tests/helpers/server.py parses every request with http.server and the email
package and records it: ~100 us of Python per request, which a client making
1,000 sequential requests on one connection would mostly wait for. This one
does as little as a server can in Python, so that the clients are what the
benchmark measures: one thread per connection (TLS handshake in that thread),
read until the blank line, answer from a canned response, keep the
connection open. Only requests without a body are understood. ALPN offers
http/1.1 only, so every client speaks the same protocol.

It listens on 127.0.0.1 on a port the system picks and, once listening,
writes {"port": N, "pid": P} to FILE (atomically). It exits by itself after
--lifetime seconds (default 600).

Routes (GET):
  /_stats[?reset=1]
      {"connections": N, "requests": M}: connections accepted whose first
      request was not to /_stats, and requests to other paths; reset=1
      starts both from zero again (after answering with the old values)
  /slow?seconds=S
      sleeps S seconds (in that connection's thread), then answers as below
  anything else
      200 {"ok": true} with Content-Length
"""
import argparse
import json
import os
import socket
import ssl
import threading
import time

OK_BODY = b'{"ok": true}'
OK = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
      % (len(OK_BODY), OK_BODY))


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0


def respond(body):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body))


def serve(conn, tls, state, lifetime):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            conn = tls.wrap_socket(conn, server_side=True)
        buf = b""
        first = True
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                end = buf.find(b"\r\n\r\n")
            head, buf = buf[:end], buf[end + 4:]
            target = head.split(b" ", 2)[1]
            close = b"\nconnection: close" in head.lower()
            if target.startswith(b"/_stats"):
                with state.lock:
                    out = respond(json.dumps({"connections": state.connections,
                                              "requests": state.requests}).encode())
                    if b"reset=1" in target:
                        state.connections = state.requests = 0
                conn.sendall(out)
            else:
                with state.lock:
                    state.requests += 1
                    if first:
                        state.connections += 1
                if target.startswith(b"/slow"):
                    q = target.partition(b"seconds=")[2].split(b"&")[0]
                    time.sleep(min(float(q or b"1"), lifetime))
                conn.sendall(OK)
            first = False
            if close:
                return
    except (OSError, ssl.SSLError, IndexError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ready", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()

    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls[0], args.tls[1])
        tls.set_alpn_protocols(["http/1.1"])
    state = State()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(256)

    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"port": lsock.getsockname()[1], "pid": os.getpid()}) + "\n")
    os.rename(tmp, args.ready)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, tls, state, args.lifetime), daemon=True).start()


if __name__ == "__main__":
    main()
