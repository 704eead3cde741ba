#!/usr/bin/env python3
"""The HTTP cache (nt3 api --cache, api.pages' cache option), in one run.

    python3 tests/bench/cache.py [path/to/nt3] [--runs N]

1. A cached `nt3 api --cache 1h /page?n=1` (answered from the cache, no
   request) against `nt3 status` (no network), interleaved N times each.
   Target (docs/architecture.md, "The HTTP cache"): <= 1.1x nt3 status.
2. 100 pages revalidated: an `nt3 run` script reading a 100-page list with
   api.pages(path, { cache = 0 }) once the entries exist, so that every page
   is a conditional GET answered 304. Against: the same 100 conditional GETs
   made by one Python http.client connection (the server's 304 time, with
   the client's cost in it too), plus the start-up of `nt3 status`.
   Target: <= 100 x the server's 304 time + start-up.
   Also against one curl process making the same 100 conditional GETs on
   one kept-alive connection (curl --next): a client in a process of its
   own, as nt3 is, start-up included. The Python client is a thread of the
   server's own process, which on a loaded machine answers it sooner than
   any other process; curl shows what a separate client is up against.
   The three are run interleaved, round after round.

The server is in this process (http.server, HTTP/1.1 keep-alive): each page
has an ETag and a Link: rel="next" to the next page.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import benchlib

TOKEN = "entri_valid_benchmark_cache_0"
PAGES = 100


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        q = parse_qs(urlsplit(self.path).query)
        n = int(q.get("n", ["1"])[0])
        etag = f'"page-{n}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps([{"id": n * 10 + i, "name": f"item {n}.{i}"} for i in range(10)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", etag)
        if n < PAGES:
            self.send_header("Link", f'</page?n={n + 1}>; rel="next"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def server_304_time(port, rounds):
    """Median over rounds of the time of PAGES conditional GETs on one connection."""
    times = []
    for _ in range(rounds):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        t0 = time.perf_counter()
        for n in range(1, PAGES + 1):
            conn.request("GET", f"/page?n={n}", headers={"If-None-Match": f'"page-{n}"',
                                                        "Authorization": f"Bearer {TOKEN}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 304
        times.append(time.perf_counter() - t0)
        conn.close()
    return statistics.median(times)


def curl_304_argv(port):
    """One curl process making PAGES conditional GETs on one connection."""
    argv = [benchlib.which("curl")]
    for n in range(1, PAGES + 1):
        if n > 1:
            argv.append("--next")
        argv += ["-s", "-o", "/dev/null", "-H", f'If-None-Match: "page-{n}"', "-H", f"Authorization: Bearer {TOKEN}",
                 f"http://127.0.0.1:{port}/page?n={n}"]
    return argv


def main():
    nt3, runs = benchlib.arguments(100)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    tmp = tempfile.mkdtemp(prefix="nt3-bench-")
    try:
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin", "LANG": "C", "NT3_API_TOKEN": TOKEN,
               "NT3_API_URL": f"http://127.0.0.1:{port}", "XDG_CACHE_HOME": os.path.join(tmp, "cache")}
        script = os.path.join(tmp, "pages.lua")
        with open(script, "w") as f:
            f.write('local n = 0\nfor _ in require("nt3").api.pages("/page?n=1", { cache = 0 }) do n = n + 1 end\n'
                    f'assert(n == {PAGES * 10}, n)\n')
        os.chmod(script, 0o600)
        # fill the cache: the one page of part 1, every page of part 2
        subprocess.run([nt3, "api", "--cache", "1h", "/page?n=1"], env=env, check=True, capture_output=True)
        subprocess.run([nt3, "run", script], env=env, check=True, capture_output=True)

        cases = [
            ("nt3 status", [nt3, "status"]),
            ("nt3 api --cache 1h (hit)", [nt3, "api", "--cache", "1h", "/page?n=1"]),
        ]
        med = benchlib.medians(cases, env, runs, must_succeed=True)
        status, hit = med["nt3 status"], med["nt3 api --cache 1h (hit)"]
        rounds = max(5, runs // 10)
        curl = curl_304_argv(port)
        times = {"nt3": [], "python": [], "curl": []}
        for _ in range(rounds):
            times["nt3"].append(benchlib.spawn_time([nt3, "run", script], env, True))
            times["python"].append(server_304_time(port, 1))
            times["curl"].append(benchlib.spawn_time(curl, env, True))
        pages, t304, tcurl = (statistics.median(times[k]) for k in ("nt3", "python", "curl"))
    finally:
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"HTTP cache, median of {runs} interleaved runs ({os.cpu_count()} cores)")
    print(f"{'nt3 status':<34}{status * 1000:>9.3f}ms")
    print(f"{'nt3 api --cache 1h, a hit':<34}{hit * 1000:>9.3f}ms   {hit / status:.2f}x nt3 status (target <= 1.10)")
    budget = t304 + status
    print(f"{PAGES} pages revalidated (median of {rounds})")
    print(f"{'nt3 run, api.pages cache = 0':<34}{pages * 1000:>9.3f}ms")
    print(f"{'100 x 304 (one Python connection)':<34}{t304 * 1000:>9.3f}ms")
    print(f"{'budget: 100 x 304 + start-up':<34}{budget * 1000:>9.3f}ms   nt3 / budget: {pages / budget:.2f}x"
          " (target <= 1.00)")
    print(f"{'100 x 304, one curl process':<34}{tcurl * 1000:>9.3f}ms   nt3 / curl: {pages / tcurl:.2f}x")


if __name__ == "__main__":
    main()
