#!/usr/bin/env python3
"""A small HTTP(S) server for nt3's tests. Python standard library only.

It listens on a loopback address only (127.0.0.1 by default, or ::1 with
--bind ::1), on a port the system picks (or --port N), answers the routes
below, and never connects anywhere itself. It exits by itself after --lifetime seconds.

  python3 server.py --ready FILE [--tls CERT KEY] [--bind 127.0.0.1|::1]
                    [--lifetime SECONDS] [--accept-token TOKEN]... [--port N]

When it is listening it writes {"port": N, "pid": P} as one line to FILE
(atomically: written beside it, then renamed). tests/helpers/server.lua
starts it, waits for that file and stops it.

Routes (any method unless said otherwise; JSON bodies unless said):

  /echo, /api/v1/echo
      {"method", "path", "query": {name: last value}, "query_list": [[name,
      value], ...] every query parameter in order, "headers": {lower-case
      name: value, repeated ones joined with ", "}, "header_list": [[name,
      value], ...] every request header line as received, in order, "body": text}
      with ?chunk=N the body is sent chunked, N bytes a chunk
  /status/<n>
      status n with {"message": "status <n>"} (no body for 204 and 304)
  /redirect?to=<url>&code=<n>
      status n (default 302) with Location: <url> (relative URLs too)
  /reflect[?to=<url>]
      the request's Authorization sent back where a client might not look
      for it: in an X-Reflect response header, and, with to, in a 302 to
      <url> followed by that Authorization (URL-quoted)
  /headers?<name>=<value>&...
      200, and each query parameter as a response header, in order
      (repeat a name to get a repeated header); body {"ok": true}
  /big?bytes=N[&chunked=1][&pattern=1]
      N bytes of "x" as text/plain; with Content-Length, or chunked (no
      length announced, so a client must count as it reads); with
      pattern=1, byte i is i % 251 instead (a block out of place shows)
  /compressed?encoding=gzip|deflate&bytes=N
      N bytes of "x" as text/plain, compressed (gzip, or zlib's format for
      deflate) and sent with that Content-Encoding and the compressed
      Content-Length, whatever the request's Accept-Encoding said (a server
      that ignores it); N may be far more than the lifetime's memory would
      hold uncompressed: it is compressed a block at a time
  /stall?seconds=N
      200 with Content-Length 1000, sends 5 bytes, then sleeps N seconds
      (at most the lifetime) and sends the rest
  /api/v1/me
      200 {"id": "u_1", "email": "dev@example.com", "name": "Dev"} when
      "Authorization: Bearer <token>" carries an accepted token, else 401
      {"message": "invalid token"}. Accepted: each --accept-token; without
      any, every token that starts with "entri_valid".
  /api/v1/items?page=N&per_page=M
      the same authorisation as /api/v1/me; a page (default 1, per_page
      default 2) of five items {"items": [{"id": "item_1", "name": "Item 1"},
      ...], "next_page": N+1 or null}
  /api/v1/projects?page=P
      the same authorisation as /api/v1/me; a page of the 7 projects, 3 per
      page, as a JSON array of {"id", "name"}, with Link: rel="next" while
      more exist (docs/examples/export-projects.lua reads it)
  /api/v1/projects/<id>
      the same authorisation; after 50 ms, {"id", "name", "owner", "tasks"}
  /_requests
      GET: every request received so far except those to /_requests, in
      order: [{"method", "path" (with the query), "headers", "header_list",
      "body", "time": when it arrived, seconds on the server's monotonic
      clock, "connection": which TCP connection (1, 2, ... in order of
      acceptance) it came on}]
  /_stats
      {"connections": TCP connections accepted, "max_in_flight": the most
      requests (other than to /_stats) handled at the same time,
      "tls_resumed": TLS connections that resumed an earlier session}; with
      ?reset=1 all start again from zero
  /close
      200 {"closed": true} with Connection: close, then closes the connection
  /slow?seconds=S
      sleeps S seconds, then 200 {"slept": S}
  /flaky?key=K&fail=N&status=C[&retry_after=V]
      the first N requests with key K answer C (default 503) with
      {"message": "try again"} and, when given, Retry-After: V; later ones
      200 {"key": K, "attempts": count}
  /list?page=P&per=M&total=T[&next=MODE][&wrap=KEY][&html=P2][&echo=1]
      a JSON array of items {"n": i} of page P (M per page, T in all) and,
      while more exist, Link: <.../list?page=P+1&...>; rel="next". next=cross
      points the next link at another origin (http://localhost:<port>, the
      same server under another name), next=repeat at the page itself,
      next=none nowhere; next=relquery gives it as <?page=..>, next=relpath
      as <list?page=..>, next=userinfo as http://user:s3cret@<host>/...;
      next=title and next=prel give no next link but look like one
      (title="rel=next", prel=next), next=quoted a real one after a
      title="<...page=P+5...>" holding a "<"; wrap=KEY answers {KEY: [...]}
      instead of the bare array; html=P2 answers page P2 as text/html;
      echo=1 gives each item the request's Authorization ("authorization");
      delay=S waits S seconds before each page's answer; etag=1 gives each
      page ETag "page-P" and answers a request whose If-None-Match is it
      304 (no body, no Link); with ahead=1 such a 304 of page 1 waits (up
      to 5 s) for a conditional request of page 2 of the same list, and
      answers 200 [] with no next link when none came (a client that
      does not look ahead sees no items); change=P answers a conditional
      request of page P 200 with its next link to page P+2; hold=KEY holds
      a conditional request of page 2 (held=P: of page P) as
      /hold?key=KEY&seconds=30 does
  /raw?status=N&reason=R&ctype=T&body=B&h=Name:Value...
      exactly these bytes (each parameter percent-decoded byte for byte):
      the status line "HTTP/1.1 N R", each h as a header line, in order,
      Content-Type T (default application/json) and the body B
  /bytes?n=N
      a JSON array of strings, N bytes or a little more, sent in chunks
  /drop-reused
      200 {"ok": true} as the first request of a connection; as a later
      one (a kept-alive connection reused) the request is read and the
      connection closed without an answer
  /hold?key=K&seconds=S
      200 with Content-Length 1000, sends 5 bytes, then holds the connection
      up to S seconds (at most the lifetime), watching whether the client
      closes it; /_hold?key=K then says {"state": "dropped"} (the client
      closed it), "held" (S seconds passed) or "open" (still holding), or
      null before such a request came
  /trickle?bytes=N&every=S
      200, N bytes of "x" (Content-Length N), one byte every S seconds
  /bighead?bytes=N&lines=M
      200 with M response headers X-Big-1 ... X-Big-M of N bytes each
  /cached?key=K[&etag=E][&lm=DATE][&cc=CACHE-CONTROL][&cc304=CACHE-CONTROL][&vary=NAMES][&status=N][&auth=1]
      N (default 200) {"key": K, "n": how many requests for K so far} with
      each given ETag, Last-Modified, Cache-Control and Vary; a request
      whose If-None-Match is E, or whose If-Modified-Since is DATE, gets
      304 with those headers (Cache-Control: cc304 instead, when given)
      and no body; auth=1 answers 401 unless the token is accepted, as
      /api/v1/me
  anything else
      404 {"message": "not found"}
"""

import argparse
import ipaddress
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

ITEMS = [{"id": "item_%d" % i, "name": "Item %d" % i} for i in range(1, 6)]
# the filler of /big?pattern=1's records, after the 16 bytes of their offset
PATTERN_FILL = bytes(range(32, 127)) * 10 + b"\n" * 58


def headers_of(message):
    out = {}
    for name, value in message.items():
        name = name.lower()
        out[name] = out[name] + ", " + value if name in out else value
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nt3-test-server"
    # headers and body go out in two writes: with Nagle's algorithm the
    # second waits for the client's delayed ACK (40 ms) on a kept-alive
    # connection, which would measure the kernel, not the client
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass  # quiet: the tests read what they need from /_requests

    # --- plumbing ---------------------------------------------------------
    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, body=b"", content_type="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status in (204, 304):
            body = b""
        else:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_chunked(self, status, body, size):
        body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), max(1, size)):
            piece = body[i:i + max(1, size)]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def stats(self, q):
        with self.server.lock:
            if q.get("reset") == "1":
                self.server.connections = 0
                self.server.max_in_flight = 0
                self.server.tls_resumed = 0
            return self.send(200, {"connections": self.server.connections,
                                   "max_in_flight": self.server.max_in_flight,
                                   "tls_resumed": self.server.tls_resumed})

    def flaky(self, q):
        key, fail = q.get("key", ""), int(q.get("fail", "1"))
        with self.server.lock:
            n = self.server.flaky.get(key, 0) + 1
            self.server.flaky[key] = n
        if n <= fail:
            headers = [("Retry-After", q["retry_after"])] if "retry_after" in q else []
            return self.send(int(q.get("status", "503")), {"message": "try again"}, headers=headers)
        return self.send(200, {"key": key, "attempts": n})

    def listing(self, q):
        page, per, total = int(q.get("page", "1")), int(q.get("per", "2")), int(q.get("total", "5"))
        time.sleep(min(float(q.get("delay", "0")), self.server.lifetime))
        start = (page - 1) * per
        items = [{"n": i} for i in range(start + 1, min(start + per, total) + 1)]
        if q.get("echo"):
            for item in items:
                item["authorization"] = self.headers.get("Authorization")
        if q.get("html") == str(page):
            return self.send(200, b"[<p>Service unavailable</p>]", content_type="text/html")
        headers = []
        conditional = q.get("etag") == "1" and self.headers.get("If-None-Match") is not None
        if q.get("etag") == "1":
            headers.append(("ETag", '"page-%d"' % page))
            if conditional:
                rest = tuple(sorted((k, v) for k, v in q.items() if k != "page"))
                with self.server.lock:
                    self.server.revalidated.add((rest, page))
                    self.server.revalidation.notify_all()
                    if page == 1 and q.get("ahead") == "1":
                        came = self.server.revalidation.wait_for(lambda: (rest, 2) in self.server.revalidated,
                                                                 timeout=min(5, self.server.lifetime))
                        if not came:
                            return self.send(200, [], headers=headers)
            if conditional and page == int(q.get("held", "2")) and "hold" in q:
                return self.hold({"key": q["hold"], "seconds": "30"})
            if conditional and self.headers.get("If-None-Match") == '"page-%d"' % page \
                    and q.get("change") != str(page):
                return self.send(304, headers=headers)
        mode = q.get("next")
        if start + per < total and mode != "none":
            rest = "&".join("%s=%s" % (k, v) for k, v in q.items() if k != "page")
            host = "localhost" if mode == "cross" else self.server.host_text
            if mode == "userinfo":
                host = "user:s3cret@" + host
            page_no = page if mode == "repeat" else page + 1
            if conditional and q.get("change") == str(page):
                page_no = page + 2
            origin = "%s://%s:%d" % (self.server.scheme, host, self.server.server_address[1])
            link = "%s/list?page=%d&%s" % (origin, page_no, rest)
            first = link.replace("page=%d" % page_no, "page=1")
            if mode == "relquery":
                link = "?page=%d&%s" % (page_no, rest)
            elif mode == "relpath":
                link = "list?page=%d&%s" % (page_no, rest)
            if mode == "title":
                value = '<%s>; title="rel=next", <%s>; rel="first"' % (link, first)
            elif mode == "prel":
                value = '<%s>; prel=next; rel="first"' % link
            elif mode == "quoted":
                value = '<%s>; title="see <%s>"; rel="next"' % (link, link.replace("page=%d" % page_no, "page=%d" % (page + 5)))
            else:
                value = '<%s>; rel="next", <%s>; rel="first"' % (link, first)
            headers.append(("Link", value))
        wrap = q.get("wrap")
        body = {wrap: items} if wrap else items
        return self.send(200, body, headers=headers)

    def raw(self, query):
        q = dict(query)
        self.send_response(int(q.get("status", "200")), q.get("reason", "OK"))
        for name, value in query:
            if name == "h":
                self.send_header(*value.split(":", 1))
        body = q.get("body", "").encode("latin-1")
        self.send_header("Content-Type", q.get("ctype", "application/json"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def projects(self, route, q):
        names = ["Apollo", "Borealis", "Caravel, Ltd", "Dune", "Echo \"Park\"", "Fjord", "Gemini"]
        if route == "/api/v1/projects":
            page = int(q.get("page", "1"))
            start = (page - 1) * 3
            items = [{"id": "p_%d" % (i + 1), "name": names[i]} for i in range(start, min(start + 3, len(names)))]
            headers = []
            if start + 3 < len(names):
                headers.append(("Link", '<%s://%s:%d/api/v1/projects?page=%d>; rel="next"' % (
                    self.server.scheme, self.server.host_text, self.server.server_address[1], page + 1)))
            return self.send(200, items, headers=headers)
        pid = route[len("/api/v1/projects/"):]
        if not pid.startswith("p_") or not pid[2:].isdigit() or not 1 <= int(pid[2:]) <= len(names):
            return self.send(404, {"message": "no such project"})
        n = int(pid[2:])
        time.sleep(0.05)
        return self.send(200, {"id": pid, "name": names[n - 1], "owner": "dev@example.com", "tasks": n * 3})

    def many_bytes(self, q):
        n = int(q.get("n", "0"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        item = b'"' + b"x" * 1022 + b'"'
        first, sent = True, 0
        try:
            self.wfile.write(b"1\r\n[\r\n")
            while sent < n:
                chunk = b",".join([item] * 64)
                if not first:
                    chunk = b"," + chunk
                first = False
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            self.wfile.write(b"1\r\n]\r\n0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def authorised(self):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return False
        token = auth[len("Bearer "):]
        if self.server.accept_tokens:
            return token in self.server.accept_tokens
        return token.startswith("entri_valid")

    # --- dispatch ---------------------------------------------------------
    def handle_any(self):
        self.served = getattr(self, "served", 0) + 1  # on this connection
        url = urlsplit(self.path)
        counted = url.path != "/_stats"
        if counted:
            with self.server.lock:
                self.server.in_flight += 1
                self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            return self.dispatch(url)
        finally:
            if counted:
                with self.server.lock:
                    self.server.in_flight -= 1

    def dispatch(self, url):
        query = parse_qsl(url.query, keep_blank_values=True)
        body = self.read_body()
        if url.path != "/_requests":
            with self.server.lock:
                self.server.requests.append({
                    "method": self.command, "path": self.path,
                    "headers": headers_of(self.headers),
                    "header_list": [[n, v] for n, v in self.headers.items()],
                    "body": body.decode("utf-8", "replace"),
                    "time": time.monotonic(),
                    "connection": self.server.numbers.get(self.connection.fileno(), 0),
                })
        route = url.path
        if route in ("/echo", "/api/v1/echo"):
            return (self.send_chunked if dict(query).get("chunk") else self.send)(200, {
                "method": self.command, "path": url.path, "query": dict(query),
                "query_list": [[n, v] for n, v in query],
                "headers": headers_of(self.headers),
                "header_list": [[n, v] for n, v in self.headers.items()],
                "body": body.decode("utf-8", "replace"),
            }, *([int(dict(query)["chunk"])] if dict(query).get("chunk") else []))
        if route.startswith("/status/") and route[len("/status/"):].isdigit():
            n = int(route[len("/status/"):])
            return self.send(n, {"message": "status %d" % n})
        if route == "/redirect":
            q = dict(query)
            return self.send(int(q.get("code", "302")), {"message": "redirect"},
                             headers=[("Location", q.get("to", "/"))])
        if route == "/headers":
            return self.send(200, {"ok": True}, headers=query)
        if route == "/reflect":
            auth = self.headers.get("Authorization", "")
            to = dict(query).get("to")
            if to is not None:
                return self.send(302, {"message": "redirect"},
                                 headers=[("X-Reflect", auth), ("Location", to + quote(auth))])
            return self.send(200, {"ok": True}, headers=[("X-Reflect", auth)])
        if route == "/big":
            return self.big(dict(query))
        if route == "/stall":
            return self.stall(dict(query))
        if route == "/compressed":
            return self.compressed(dict(query))
        if route == "/api/v1/me":
            if not self.authorised():
                return self.send(401, {"message": "invalid token"})
            return self.send(200, {"id": "u_1", "email": "dev@example.com", "name": "Dev"})
        if route == "/api/v1/items":
            if not self.authorised():
                return self.send(401, {"message": "invalid token"})
            q = dict(query)
            page, per_page = max(1, int(q.get("page", "1"))), max(1, int(q.get("per_page", "2")))
            start = (page - 1) * per_page
            more = start + per_page < len(ITEMS)
            return self.send(200, {"items": ITEMS[start:start + per_page],
                                   "next_page": page + 1 if more else None})
        if route == "/_requests":
            with self.server.lock:
                return self.send(200, list(self.server.requests))
        if route == "/api/v1/projects" or route.startswith("/api/v1/projects/"):
            if not self.authorised():
                return self.send(401, {"message": "invalid token"})
            return self.projects(route, dict(query))
        if route == "/_stats":
            return self.stats(dict(query))
        if route == "/slow":
            seconds = min(float(dict(query).get("seconds", "1")), self.server.lifetime)
            time.sleep(seconds)
            return self.send(200, {"slept": seconds})
        if route == "/flaky":
            return self.flaky(dict(query))
        if route == "/list":
            return self.listing(dict(query))
        if route == "/raw":
            # byte for byte: latin-1 maps each byte to one character and back
            return self.raw(parse_qsl(url.query, keep_blank_values=True, encoding="latin-1"))
        if route == "/bytes":
            return self.many_bytes(dict(query))
        if route == "/drop-reused":
            if self.served > 1:
                self.close_connection = True
                return None
            return self.send(200, {"ok": True})
        if route == "/trickle":
            return self.trickle(dict(query))
        if route == "/hold":
            return self.hold(dict(query))
        if route == "/_hold":
            with self.server.lock:
                return self.send(200, {"state": self.server.holds.get(dict(query).get("key", ""))})
        if route == "/bighead":
            q = dict(query)
            value = "v" * int(q.get("bytes", "1"))
            return self.send(200, {"ok": True}, headers=[("X-Big-%d" % i, value) for i in range(1, int(q.get("lines", "1")) + 1)])
        if route == "/cached":
            return self.cached(dict(query))
        if route == "/close":
            self.close_connection = True
            return self.send(200, {"closed": True}, headers=[("Connection", "close")])
        return self.send(404, {"message": "not found"})

    def cached(self, q):
        key = q.get("key", "")
        with self.server.lock:
            n = self.server.flaky.get("cached:" + key, 0) + 1
            self.server.flaky["cached:" + key] = n
        if q.get("auth") == "1" and not self.authorised():
            return self.send(401, {"message": "invalid token"})
        headers = [(name, q[p]) for p, name in
                   (("etag", "ETag"), ("lm", "Last-Modified"), ("cc", "Cache-Control"), ("vary", "Vary")) if p in q]
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        if ("etag" in q and inm == q["etag"]) or ("lm" in q and ims == q["lm"]):
            self.send_response(304)
            if "cc304" in q:
                headers = [h for h in headers if h[0] != "Cache-Control"] + [("Cache-Control", q["cc304"])]
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self.send(int(q.get("status", "200")), {"key": key, "n": n}, headers=headers)

    def compressed(self, q):
        n = int(q.get("bytes", "0"))
        encoding = q.get("encoding", "gzip")
        z = zlib.compressobj(1, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
        block, parts = b"x" * (1 << 20), []
        while n > 0:
            parts.append(z.compress(block[:min(n, len(block))]))
            n -= len(block)
        parts.append(z.flush())
        body = b"".join(parts)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def big(self, q):
        n = int(q.get("bytes", "0"))
        chunked = q.get("chunked") == "1"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        block = b"x" * 65536
        # pattern=1: 1024-byte records, each opening with its own offset
        # (15 hex digits and a newline), so a lost or moved piece shows;
        # cycle=1: byte i is i % 251, each piece of up to 65,536 bytes
        # starting where the last one ended in the cycle
        pattern = q.get("pattern") == "1"
        cycle = q.get("cycle") == "1"
        if cycle:
            block = bytes(range(251)) * 263
        at = start = 0
        try:
            while n > 0:
                if cycle:
                    part = block[start:start + min(n, 65536)]
                    start = (start + len(part)) % 251
                elif pattern:
                    part = b"".join(b"%015x\n" % off + PATTERN_FILL for off in range(at, at + 65536, 1024))[:n]
                    at += 65536
                else:
                    part = block[:min(n, len(block))]
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                else:
                    self.wfile.write(part)
                n -= len(part)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client gave up: that is the point

    def hold(self, q):
        key = q.get("key", "")
        seconds = min(float(q.get("seconds", "10")), self.server.lifetime)
        with self.server.lock:
            self.server.holds[key] = "open"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        state = "held"
        try:
            self.wfile.write(b"x" * 5)
            self.wfile.flush()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    state = "dropped"
                    break
        except OSError:
            state = "dropped"
        with self.server.lock:
            self.server.holds[key] = state
        self.close_connection = True

    def trickle(self, q):
        n, every = int(q.get("bytes", "10")), float(q.get("every", "0.1"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        try:
            for _ in range(n):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            self.close_connection = True

    def stall(self, q):
        seconds = min(float(q.get("seconds", "5")), self.server.lifetime)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            self.wfile.write(b"12345")
            self.wfile.flush()
            time.sleep(seconds)
            self.wfile.write(b"x" * 995)
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls = None
    # socketserver's default backlog of 5 drops the sixth of many concurrent
    # connections, which the client retries only a second later
    request_queue_size = 128

    def process_request(self, request, client_address):
        with self.lock:
            self.connections += 1
            self.accepted += 1
            number = self.accepted
            # a descriptor number is reused only after its socket closed
            self.numbers[request.fileno()] = number
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, in the request's own thread, so a
        # client that stalls or rejects the certificate holds up no one else.
        if self.tls:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
            if request.session_reused:
                with self.lock:
                    self.tls_resumed += 1
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client hanging up early is routine in these tests


class Server6(Server):
    address_family = socket.AF_INET6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ready", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--accept-token", action="append", default=[])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    if not ipaddress.ip_address(args.bind).is_loopback:
        sys.exit("server.py: binds loopback addresses only, not %s" % args.bind)
    cls = Server6 if ":" in args.bind else Server
    httpd = cls((args.bind, args.port), Handler)
    httpd.lock = threading.Lock()
    httpd.requests = []
    httpd.accept_tokens = set(args.accept_token)
    httpd.lifetime = args.lifetime
    httpd.connections = httpd.in_flight = httpd.max_in_flight = 0
    httpd.accepted = httpd.tls_resumed = 0
    httpd.numbers = {}  # socket descriptor -> the number of its connection
    httpd.flaky = {}
    httpd.holds = {}
    # /list?etag=1: the conditional requests seen, (the list's query, page)
    httpd.revalidated = set()
    httpd.revalidation = threading.Condition(httpd.lock)
    httpd.scheme = "https" if args.tls else "http"
    httpd.host_text = "[%s]" % args.bind if ":" in args.bind else args.bind
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        httpd.tls = ctx

    # never outlive the test run that forgot to stop us
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()

    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"port": httpd.server_address[1], "pid": os.getpid()}) + "\n")
    os.rename(tmp, args.ready)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
