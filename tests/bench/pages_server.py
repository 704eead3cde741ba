#!/usr/bin/env python3
"""A lean HTTPS server of one paginated list, for tests/bench/paginate.py.

    python3 pages_server.py --ready FILE --tls CERT KEY [--pages N] [--per M] [--lifetime SECONDS]

GET <any path>/items?page=P answers page P of N (M items each) as a JSON
array, with Link: <https://127.0.0.1:PORT<path>/items?page=P+1>; rel="next"
while P < N. Pages are made once at start-up (objects shaped like a code
forge's issues: ids, text with escapes and non-ASCII, nested objects, empty
arrays, floats, large integers), so a request costs only its send. One
thread per connection, keep-alive, HTTP/1.1 only (ALPN), as
keepalive_server.py. Writes {"port": N, "pid": P} to FILE once listening.
"""
import argparse
import json
import os
import random
import socket
import ssl
import threading


def make_pages(pages, per):
    rnd = random.Random(100)
    words = ["fix", "déjà", "日本", "😀", 'a "quote"', "back\\slash", "url/path", "tab\tend", "new\nline"]
    out = []
    for p in range(pages):
        items = []
        for i in range(per):
            n = p * per + i + 1
            items.append({
                "url": f"https://forge.example/api/v3/repos/o/r/issues/{n}",
                "id": 1000000000 + n * 7919,
                "node_id": f"I_kwDO{n:010d}",
                "number": n,
                "title": " ".join(rnd.choice(words) for _ in range(5)),
                "user": {"login": f"user{rnd.randrange(10**5)}", "id": rnd.randrange(10**8), "site_admin": False},
                "labels": [{"name": rnd.choice(words), "color": "ededed"} for _ in range(rnd.randrange(3))],
                "state": rnd.choice(["open", "closed"]),
                "locked": False,
                "assignees": [],
                "milestone": None,
                "comments": rnd.randrange(50),
                "score": rnd.random(),
                "created_at": "2026-01-02T03:04:05Z",
                "body": " ".join(rnd.choice(words) for _ in range(30)),
                "reactions": {"total_count": 0, "+1": 0, "-1": 0},
            })
        out.append(json.dumps(items, ensure_ascii=p % 2 == 0).encode())
    return out


def serve(conn, tls, pages, port):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = tls.wrap_socket(conn, server_side=True)
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                end = buf.find(b"\r\n\r\n")
            head, buf = buf[:end], buf[end + 4:]
            target = head.split(b" ", 2)[1].decode()
            path, _, query = target.partition("?")
            page = 1
            for part in query.split("&"):
                if part.startswith("page="):
                    page = int(part[5:])
            if not path.endswith("/items") or not 1 <= page <= len(pages):
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                continue
            body = pages[page - 1]
            link = ""
            if page < len(pages):
                link = f'Link: <https://127.0.0.1:{port}{path}?page={page + 1}>; rel="next"\r\n'
            conn.sendall(("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                          f"{link}Content-Length: {len(body)}\r\n\r\n").encode() + body)
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
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), required=True)
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--per", type=int, default=100)
    ap.add_argument("--lifetime", type=float, default=900)
    args = ap.parse_args()

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.tls[0], args.tls[1])
    tls.set_alpn_protocols(["http/1.1"])
    pages = make_pages(args.pages, args.per)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]

    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    os.rename(tmp, args.ready)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, tls, pages, port), daemon=True).start()


if __name__ == "__main__":
    main()
