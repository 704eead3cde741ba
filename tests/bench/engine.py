#!/usr/bin/env python3
"""The request engine's benchmarks (issue 7, docs/architecture.md, "Performance budget").

    python3 tests/bench/engine.py [path/to/nt3] [--quick] [--only PARTS] [--runs N]

Four parts, each measured side by side in one run: the commands compared
are run in turn, round after round (a, b, c, a, b, c, ...), so that load on
this shared machine hits all of them alike, and the median of each is
printed with their ratios. Peak RSS is each child's own (ru_maxrss from
wait4, i.e. its VmHWM); CPU is the child's user + system time.

  seq       1,000 sequential HTTPS GETs on loopback: one `nt3 run` script
            (nt3.http.request in a loop, with cafile) vs ONE `curl` process
            fetching the same 1,000 URLs over keep-alive (a --config file of
            url/output pairs, no --parallel) vs Python requests.Session.
            Targets: nt3/curl <= 1.5x, nt3/requests < 1.0x, and the server
            counts 1 connection for nt3.
            The server is tests/bench/keepalive_server.py (a lean HTTP/1.1
            server, not tests/helpers/server.py, whose ~100 us of Python per
            request would be most of what is measured); its CPU time during
            each client's run is printed, so you can see what part of the
            wall time is the server's, the same for every client.
  map       100 GETs to /slow?seconds=0.2 (tests/helpers/server.py over
            HTTPS) from one script with nt3.task.map at concurrency 10, vs
            the ideal 100 x 0.2 s / 10 = 2.0 s. Target <= 1.3x. `curl
            --parallel --parallel-max 10` is measured beside it for context.
  download  A 1 GB chunked download (/big?bytes=N&chunked=1, over HTTPS)
            through http.request{ output = path }, and through
            http.request{ sink = fn }, beside `curl -o path`: peak RSS and
            time. Target: nt3's peak RSS <= 32 MB.
  pipe      `nt3 api /bytes?n=10000000` (a 10 MB JSON body; NT3_API_URL at
            the loopback server) writing into a pipe the benchmark drains,
            vs `curl -s` with the same headers. Targets: time and peak RSS
            each <= 2x curl's.

Options:
  --only a,b   run only these parts (seq, map, download, pipe)
  --runs N     rounds per part (default: seq 7, map 5, download 3, pipe 15)
  --requests N GETs in the seq part (default 1000)
  --quick      fewer rounds (3, 2, 2, 5) and a 256 MB download instead of 1 GB

The whole default run takes one and a half to three minutes on 2 shared
cores, depending on their load; --quick about half a minute.
The start-up ratios are tests/bench/startup.py and tests/bench/api.py.
This is a benchmark, not a test: it prints numbers and never fails on them
(it stops only when a command fails or answers wrongly).
"""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

import benchlib
from benchlib import col, drained, ratio, rounds, write

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_SERVER = os.path.join(HERE, "..", "helpers", "server.py")
KEEPALIVE_SERVER = os.path.join(HERE, "keepalive_server.py")
TOKEN = "entri_valid_benchmark_0000"
MB = 1024 * 1024

SEQ_LUA = r"""
local http = require "nt3.http"
local base, n, cafile = arg[1], tonumber(arg[2]), arg[3]
for i = 1, n do
  local res, err = http.request { url = base .. "/r/" .. i, cafile = cafile }
  if not res or res.status ~= 200 then error(err or res.status) end
end
"""

SEQ_PY = r"""
import sys
import requests
base, n, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with requests.Session() as s:
    s.verify = cafile
    for i in range(1, n + 1):
        r = s.get("%s/r/%d" % (base, i))
        if r.status_code != 200:
            sys.exit("status %d" % r.status_code)
"""

MAP_LUA = r"""
local http, task = require "nt3.http", require "nt3.task"
local base, n, conc, secs, cafile = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5]
local urls = {}
for i = 1, n do urls[i] = ("%s/slow?seconds=%s&i=%d"):format(base, secs, i) end
local results, errors = task.map(urls, function(url)
  local res, err = http.request { url = url, cafile = cafile }
  if not res or res.status ~= 200 then error(err or res.status) end
  return res.status
end, { concurrency = conc })
if errors then error(select(2, next(errors))) end
assert(#results == n)
"""

DOWNLOAD_LUA = r"""
local http = require "nt3.http"
local url, cafile, how, path = arg[1], arg[2], arg[3], arg[4]
local req = { url = url, cafile = cafile, timeout = 600 }
local got = 0
if how == "output" then
  req.output = path
else
  req.sink = function(chunk) got = got + #chunk end
end
local res, err = http.request(req)
if not res or res.status ~= 200 then error(err or res.status) end
if how == "sink" then io.write(got, "\n") end
"""


def system_python(env):
    """The python3 on the benchmark's PATH (/usr/bin: Debian's, with
    python3-requests), not necessarily the one running this script."""
    p = shutil.which("python3", path=env["PATH"])
    if not p or subprocess.run([p, "-c", "import requests"], capture_output=True).returncode != 0:
        sys.exit("engine.py: no python3 with requests on /usr/bin:/bin (./setup.sh deps installs python3-requests)")
    return p


class Stats:
    """GET /_stats of a server over HTTPS, on a connection of its own."""

    def __init__(self, port, cafile):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)

    def get(self, reset=False):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            c.request("GET", "/_stats?reset=1" if reset else "/_stats")
            return json.loads(c.getresponse().read())
        finally:
            c.close()


# --- seq ---------------------------------------------------------------------

def part_seq(nt3, tmp, env, runs, n):
    cert, key = benchlib.certificate(tmp)
    proc, port = benchlib.start_server(KEEPALIVE_SERVER, ["--tls", cert, key, "--lifetime", "900"], tmp)
    try:
        base = f"https://127.0.0.1:{port}"
        stats = Stats(port, cert)
        curl_cfg = write(os.path.join(tmp, "seq.curl"), "".join(
            f'url = "{base}/r/{i}"\noutput = "/dev/null"\n' for i in range(1, n + 1)))
        cases = [
            ("nt3 run (http.request loop)", [nt3, "run", write(os.path.join(tmp, "seq.lua"), SEQ_LUA), base, str(n), cert], env),
            ("curl (one process, -K)", [benchlib.which("curl"), "-s", "-f", "--cacert", cert, "-K", curl_cfg], env),
            ("python3 requests.Session", [system_python(env), write(os.path.join(tmp, "seq.py"), SEQ_PY), base, str(n), cert], env),
        ]
        server_cpu = {}

        def before(name):
            stats.get(reset=True)
            server_cpu["t0"] = benchlib.process_cpu(proc.pid)

        def after(name):
            s = stats.get()
            if s["requests"] != n:
                sys.exit(f"engine.py: {name} made {s['requests']} requests, not {n}")
            return {"connections": s["connections"], "server_cpu": benchlib.process_cpu(proc.pid) - server_cpu["t0"]}

        # one round to warm the page cache, the server and Python's imports
        rounds(cases, 1, before, after)
        res = rounds(cases, runs, before, after)
    finally:
        benchlib.stop_server(proc)

    print(f"\n== seq: {n} sequential HTTPS GETs on loopback, one process each; median of {runs} rounds")
    print(f"{'client':<30}{'wall':>9}{'per GET':>10}{'CPU':>9}{'server CPU':>12}{'conns':>7}{'peak RSS':>10}")
    for name, rows in res.items():
        conns = sorted({r["connections"] for r in rows})
        print(f"{name:<30}{col(rows, 'wall') * 1000:>7.0f}ms{col(rows, 'wall') / n * 1e6:>8.0f}us"
              f"{col(rows, 'cpu') * 1000:>7.0f}ms{col(rows, 'server_cpu') * 1000:>10.0f}ms"
              f"{'/'.join(map(str, conns)):>7}{col(rows, 'rss_kb') / 1024:>8.1f}MB")
    names = list(res)
    ours, curl, req = (res[k] for k in names)
    print(f"nt3 / curl:     wall {ratio(col(ours, 'wall'), col(curl, 'wall')):.2f}x   (target <= 1.50x)   "
          f"CPU {ratio(col(ours, 'cpu'), col(curl, 'cpu')):.2f}x")
    print(f"nt3 / requests: wall {ratio(col(ours, 'wall'), col(req, 'wall')):.2f}x   (target <  1.00x)   "
          f"CPU {ratio(col(ours, 'cpu'), col(req, 'cpu')):.2f}x")
    print(f"connections the server counted for nt3: {'/'.join(map(str, sorted({r['connections'] for r in ours})))}"
          " (target 1)")
    print("(wall includes each process's start-up: python3 + import requests is ~0.1 s of it;"
          " 'server CPU' is the server's during that client's run)")


# --- map ---------------------------------------------------------------------

def part_map(nt3, tmp, env, runs, n=100, conc=10, secs=0.2):
    cert, key = benchlib.certificate(tmp)
    proc, port = benchlib.start_server(TEST_SERVER, ["--tls", cert, key, "--lifetime", "900"], tmp)
    try:
        base = f"https://127.0.0.1:{port}"
        stats = Stats(port, cert)
        curl_cfg = write(os.path.join(tmp, "map.curl"), "".join(
            f'url = "{base}/slow?seconds={secs}&i={i}"\noutput = "/dev/null"\n' for i in range(1, n + 1)))
        cases = [
            (f"nt3 task.map, concurrency {conc}",
             [nt3, "run", write(os.path.join(tmp, "map.lua"), MAP_LUA), base, str(n), str(conc), str(secs), cert], env),
            (f"curl --parallel-max {conc}",
             [benchlib.which("curl"), "-s", "-f", "--cacert", cert, "--parallel", "--parallel-max", str(conc),
              "--parallel-immediate", "-K", curl_cfg], env),
        ]

        def before(name):
            stats.get(reset=True)

        def after(name):
            s = stats.get()
            # server.py counts a connection when it accepts it: the one this
            # very /_stats request came on is counted too
            return {"connections": s["connections"] - 1, "max_in_flight": s["max_in_flight"]}

        res = rounds(cases, runs, before, after)
    finally:
        benchlib.stop_server(proc)

    ideal = n * secs / conc
    print(f"\n== map: {n} GETs answering after {secs * 1000:.0f} ms, concurrency {conc};"
          f" ideal {ideal:.1f} s; median of {runs} rounds")
    print(f"{'client':<32}{'wall':>9}{'x ideal':>9}{'CPU':>9}{'conns':>7}{'in flight':>11}")
    for name, rows in res.items():
        print(f"{name:<32}{col(rows, 'wall'):>8.2f}s{col(rows, 'wall') / ideal:>9.2f}{col(rows, 'cpu') * 1000:>7.0f}ms"
              f"{'/'.join(map(str, sorted({r['connections'] for r in rows}))):>7}"
              f"{'/'.join(map(str, sorted({r['max_in_flight'] for r in rows}))):>11}")
    ours = res[next(iter(res))]
    print(f"nt3 task.map / ideal: {col(ours, 'wall') / ideal:.2f}x (target <= 1.30x)")


# --- download ------------------------------------------------------------------

def part_download(nt3, tmp, env, runs, size):
    cert, key = benchlib.certificate(tmp)
    proc, port = benchlib.start_server(TEST_SERVER, ["--tls", cert, key, "--lifetime", "900"], tmp)
    path = os.path.join(tmp, "download.out")
    script = write(os.path.join(tmp, "download.lua"), DOWNLOAD_LUA)
    url = f"https://127.0.0.1:{port}/big?bytes={size}&chunked=1"
    cases = [
        ("nt3 http.request{output=path}", [nt3, "run", script, url, cert, "output", path], env),
        ("nt3 http.request{sink=fn}", [nt3, "run", script, url, cert, "sink"], env),
        ("curl -o path", [benchlib.which("curl"), "-s", "-f", "--cacert", cert, "-o", path, url], env),
    ]

    def before(name):
        if os.path.exists(path):
            os.unlink(path)

    def after(name):
        if "sink" not in name:
            got = os.path.getsize(path) if os.path.exists(path) else -1
            if got != size:
                sys.exit(f"engine.py: {name} wrote {got} bytes, not {size}")
            os.unlink(path)

    try:
        res = rounds(cases, runs, before, after)
    finally:
        benchlib.stop_server(proc)
    print(f"\n== download: {size // MB} MB chunked over HTTPS on loopback; median of {runs} rounds")
    print(f"{'client':<32}{'wall':>9}{'MB/s':>8}{'CPU':>9}{'peak RSS':>10}")
    for name, rows in res.items():
        w = col(rows, "wall")
        print(f"{name:<32}{w:>8.2f}s{size / MB / w:>8.0f}{col(rows, 'cpu'):>8.2f}s{col(rows, 'rss_kb') / 1024:>8.1f}MB")
    ours = res[next(iter(res))]
    print(f"nt3 output= peak RSS: {col(ours, 'rss_kb') / 1024:.1f} MB (target <= 32 MB; the server's"
          " Python is the ceiling on MB/s)")


# --- pipe --------------------------------------------------------------------

def part_pipe(nt3, tmp, env, runs, n=10_000_000):
    proc, port = benchlib.start_server(TEST_SERVER, ["--lifetime", "900"], tmp)
    url = f"http://127.0.0.1:{port}"
    env = dict(env, NT3_API_TOKEN=TOKEN, NT3_API_URL=url)
    version = subprocess.run([nt3, "--version"], capture_output=True, text=True, env=env).stdout.split()[-1]
    path = f"/bytes?n={n}"
    cases = [
        ("nt3 api", [nt3, "api", path]),
        ("curl -s", [benchlib.which("curl"), "-s", "-f",
                     "-H", f"Authorization: Bearer {TOKEN}",
                     "-H", f"User-Agent: nt3/{version}",
                     "-H", "Accept: application/json", url + path]),
    ]
    res = {name: [] for name, _ in cases}
    sizes = {name: set() for name, _ in cases}
    try:
        for i in range(runs + 1):  # the first round warms up, and is not counted
            for name, argv in cases:
                result, got = drained(argv, env)
                benchlib.must(result, argv)
                if i:
                    res[name].append({"wall": result[0], "cpu": benchlib.cpu(result[1]), "rss_kb": result[1].ru_maxrss})
                    sizes[name].add(got)
    finally:
        benchlib.stop_server(proc)
    print(f"\n== pipe: a {n / 1e6:.0f} MB JSON body from the loopback server into a pipe; median of {runs} rounds")
    print(f"{'command':<12}{'wall':>9}{'CPU':>9}{'peak RSS':>10}{'bytes out':>14}")
    for name, rows in res.items():
        print(f"{name:<12}{col(rows, 'wall') * 1000:>7.1f}ms{col(rows, 'cpu') * 1000:>7.1f}ms"
              f"{col(rows, 'rss_kb') / 1024:>8.1f}MB{'/'.join(map(str, sorted(sizes[name]))):>14}")
    ours, curl = res["nt3 api"], res["curl -s"]
    print(f"nt3 api / curl -s: time {ratio(col(ours, 'wall'), col(curl, 'wall')):.2f}x (target <= 2.00x), "
          f"peak RSS {ratio(col(ours, 'rss_kb'), col(curl, 'rss_kb')):.2f}x (target <= 2.00x), "
          f"CPU {ratio(col(ours, 'cpu'), col(curl, 'cpu')):.2f}x")
    print("(nt3 api may reformat what it prints, so its byte count can differ from curl's)")


PARTS = ("seq", "map", "download", "pipe")


def main():
    only = benchlib.option("--only", ",".join(PARTS)).split(",")
    for p in only:
        if p not in PARTS:
            sys.exit(f"engine.py: no part {p!r} (parts: {', '.join(PARTS)})")
    requests_n = int(benchlib.option("--requests", "1000"))
    quick = benchlib.quick()
    nt3, runs = benchlib.arguments(0)
    default = {"seq": 3, "map": 2, "download": 2, "pipe": 5} if quick else {"seq": 7, "map": 5, "download": 3, "pipe": 15}
    size = 256 * MB if quick else 1024 * MB

    tmp = tempfile.mkdtemp(prefix="nt3-bench-")
    env = {"HOME": tmp, "PATH": "/usr/bin:/bin", "LANG": "C"}
    try:
        print(f"nt3 engine benchmarks: {nt3} ({os.cpu_count()} cores)")
        if "seq" in only:
            part_seq(nt3, tmp, env, runs or default["seq"], requests_n)
        if "map" in only:
            part_map(nt3, tmp, env, runs or default["map"])
        if "download" in only:
            part_download(nt3, tmp, env, runs or default["download"], size)
        if "pipe" in only:
            part_pipe(nt3, tmp, env, runs or default["pipe"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
