#!/usr/bin/env python3
"""The engine at scale (issue 13): nt3 against curl and other clients, on
nginx over HTTPS on loopback, side by side in one run.

    python3 tests/bench/scale.py [path/to/nt3] [--quick] [--only PARTS] [--runs N] [--other NT3]

Every part runs the clients it compares in turn, round after round (a, b,
c, a, b, c, ...), so that load on this shared machine hits all alike, and
prints the median of each and their ratios. The server is nginx, started
unprivileged from a throwaway directory (tests/bench/nginx.py, config
tests/bench/nginx.conf.in): one process, a throwaway certificate, a port
the kernel picked. Its access log names the connection of every request and
the bytes it sent, so connections and bytes are counted at the server.

  seq    10,000 sequential GETs (one connection): an `nt3 run` loop of
         nt3.http.request vs one curl process (a glob of the same URLs) and
         lua-http. Target: nt3/curl <= 0.8x. (engine.py's seq part measures
         the same against a lean Python server, with Python requests.)
  conc   10,000 GETs of a 12-byte JSON file at concurrency 10, 50 and 100
         over HTTP/1.1 keep-alive: one `nt3 run` script (nt3.task.map over
         nt3.http.request, concurrency N) vs `curl --parallel --parallel-max N`
         (one process, a glob of the same URLs), Python aiohttp
         (TCPConnector(limit=N)) and lua-http (N cqueues coroutines, one
         client connection each). Targets: nt3/curl <= 1.0x, connections == N.
  rtt    the same behind 20 ms of round-trip time (2,000 GETs): every client
         goes through tests/bench/delay_proxy.py, which delays each chunk
         10 ms each way (netem needs the sch_netem kernel module, which a
         container may lack). Target: nt3/curl <= 1.1x.
  h2     1,000 GETs over HTTP/2 at concurrency 10 (nginx `http2`): nt3 vs
         `curl --http2 --parallel --parallel-max 10`. Targets: 1 connection,
         nt3/curl <= 1.0x.
  flat   100,000 GETs at concurrency 50 in one nt3 process: its VmRSS and
         open descriptors (/proc/self/status, /proc/self/fd), which the
         script reads each time another 10,000 are done. Target: the last sample's
         RSS within 10 % of the first's, descriptors the same.
  pipe   a 100 MB body (/blob.bin, not compressible, served as
         application/octet-stream) into a pipe the benchmark drains: `nt3 api`
         (NT3_API_URL at nginx) and an `nt3 run` script streaming with
         `sink = io.stdout` (written from C) and with a sink function that
         writes each piece with io.stdout:write, vs `curl -s`. Target:
         nt3/curl <= 1.1x.
  gzip   a 10 MB JSON document nginx gzips (`gzip on`): one nt3.http.request
         keeping the body, and one with a sink that drops it as curl -o
         /dev/null does (each script checks the body arrived decoded, at
         its full size) vs `curl --compressed` and plain `curl`; bytes on
         the wire are $bytes_sent. Targets: bytes <= 1.05x and time <= 1.1x curl
         --compressed's.

Options:
  --only a,b     run only these parts (seq, conc, rtt, h2, flat, pipe, gzip)
  --runs N       rounds per part (default: seq 5, conc 3, rtt 3, h2 5, pipe 7, gzip 7)
  --requests N   GETs per run in conc (default 10000; seq 10000, rtt 2000,
                 h2 1000 are fixed)
  --other PATH   a second nt3 build, run in the same rounds as the first
                 (parts seq, conc, rtt and h2): "other nt3" in the tables
  --quick        one or two rounds and fewer requests; the whole run takes
                 well under a minute

The whole default run takes about seven minutes on 2 shared cores (more
under load). This is a benchmark, not a test: it prints numbers and never
fails on them (it stops only when a command fails or answers wrongly).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib
import nginx
from benchlib import col, drained, ratio, rounds, write

HERE = os.path.dirname(os.path.abspath(__file__))
DELAY_PROXY = os.path.join(HERE, "delay_proxy.py")
TOKEN = "entri_valid_benchmark_0000"
OTHER = None  # --other PATH: a second nt3 build measured in the same rounds (seq, conc, rtt, h2)
MB = 1000 * 1000
OK_JSON = b'{"ok": true}'

# nt3.task.map over nt3.http.request; with `every` > 0, each time another
# `every` requests are done it prints "<done> <VmRSS kB> <open descriptors>"
# of its own process, read while the other tasks are still in flight
MAP_LUA = r"""
local http, task, fs = require "nt3.http", require "nt3.task", require "nt3.fs"
local base, n, conc, cafile, every = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], tonumber(arg[5] or "0")
local items = {}
for i = 1, n do items[i] = i end
local done = 0
local function sample()
  local f = assert(io.open("/proc/self/status"))
  local rss = f:read("a"):match("VmRSS:%s*(%d+)")
  f:close()
  io.stdout:write(done, " ", rss, " ", #assert(fs.dir("/proc/self/fd")), "\n")
  io.stdout:flush()
end
local _, errors = task.map(items, function(i)
  local res, err = http.request { url = base .. "/ok.json?i=" .. i, cafile = cafile }
  if not res or res.status ~= 200 then error(err or res.status) end
  done = done + 1
  if every > 0 and done % every == 0 then sample() end
end, { concurrency = conc })
if errors then error(select(2, next(errors))) end
"""

SEQ_LUA = r"""
local http = require "nt3.http"
local base, n, cafile = arg[1], tonumber(arg[2]), arg[3]
for i = 1, n do
  local res, err = http.request { url = base .. "/ok.json?i=" .. i, cafile = cafile }
  if not res or res.status ~= 200 then error(err or res.status) end
end
"""

AIOHTTP_PY = r"""
import asyncio, ssl, sys
import aiohttp
base, n, conc, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

async def main():
    ctx = ssl.create_default_context(cafile=cafile)
    items = iter(range(1, n + 1))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc, ssl=ctx)) as s:
        async def worker():
            for i in items:
                async with s.get("%s/ok.json?i=%d" % (base, i)) as r:
                    await r.read()
                    if r.status != 200:
                        sys.exit("status %d" % r.status)
        await asyncio.gather(*(worker() for _ in range(conc)))

asyncio.run(main())
"""

# lua-http has no connection pool: N coroutines, each with one client
# connection it reuses (keep-alive), take the next URL from a shared counter
LUA_HTTP = r"""
local cqueues = require "cqueues"
local client = require "http.client"
local new_headers = require "http.headers".new
local tls = require "http.tls"
local store = require "openssl.x509.store"
local host, port, n, conc, cafile = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), arg[5]
local ctx = tls.new_client_context()
local st = store.new()
st:add(cafile)
ctx:setStore(st)
local authority = host .. ":" .. port
local next_i, done = 0, 0
local cq = cqueues.new()
for _ = 1, conc do
  cq:wrap(function()
    local conn = assert(client.connect { host = host, port = port, tls = true, ctx = ctx, version = 1.1 })
    while next_i < n do
      next_i = next_i + 1
      local h = new_headers()
      h:append(":method", "GET")
      h:append(":scheme", "https")
      h:append(":authority", authority)
      h:append(":path", "/ok.json?i=" .. next_i)
      local stream = assert(conn:new_stream())
      assert(stream:write_headers(h, true))
      local rh = assert(stream:get_headers())
      assert(rh:get(":status") == "200", rh:get(":status"))
      assert(stream:get_body_as_string())
      stream:shutdown()
      done = done + 1
    end
    conn:close()
  end)
end
assert(cq:loop())
assert(done == n, done)
"""
# Debian's lua-http (0.4) installs its modules for Lua 5.1-5.3 only; they
# are plain Lua and run on 5.4 (cqueues and luaossl ship 5.4 builds)
LUA_HTTP_PATH = ";".join(f"/usr/share/lua/{v}/?.lua;/usr/share/lua/{v}/?/init.lua" for v in ("5.4", "5.3", "5.2"))

# "file": sink = io.stdout (written from C); "function": a Lua function writing each piece
SINK_LUA = r"""
local http = require "nt3.http"
local url, cafile, how = arg[1], arg[2], arg[3]
local out = io.stdout
local sink = how == "file" and out or function(chunk) assert(out:write(chunk)) end
local res, err = http.request { url = url, cafile = cafile, sink = sink }
if not res or res.status ~= 200 then error(err or res.status) end
"""

# the body kept (res.body), or with "sink" only counted as it streams by
BODY_LUA = r"""
local http = require "nt3.http"
local url, cafile, how = arg[1], arg[2], arg[3]
local req, got = { url = url, cafile = cafile }, 0
if how == "sink" then req.sink = function(chunk) got = got + #chunk end end
local res, err = http.request(req)
if not res or res.status ~= 200 then error(err or res.status) end
io.write(how == "sink" and got or #res.body, "\n")
"""


def have_aiohttp(python):
    return subprocess.run([python, "-c", "import aiohttp"], capture_output=True).returncode == 0


def have_lua_http():
    lua = shutil.which("lua5.4", path="/usr/bin:/bin")
    return lua and subprocess.run([lua, "-e", 'require "http.client"; require "cqueues"'], capture_output=True,
                                  env={"LUA_PATH": LUA_HTTP_PATH, "PATH": "/usr/bin:/bin"}).returncode == 0


def big_json(size):
    """A JSON document of about `size` bytes, as an API would send: a list of
    records with ids, names, dates and flags (it gzips ~8:1, like real data)."""
    rnd = random.Random(13)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    items, total, i = [], 2, 0
    while total < size:
        i += 1
        item = json.dumps({"id": f"p{i:08d}", "name": " ".join(rnd.choice(words) for _ in range(3)),
                           "created_at": f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T"
                                         f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z",
                           "score": rnd.randint(0, 100000), "active": rnd.random() < 0.5,
                           "tags": rnd.sample(words, 2)})
        items.append(item)
        total += len(item) + 1
    return ("[" + ",".join(items) + "]").encode()


class Server:
    """One nginx for the whole run (and one with http2 when asked)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.files = {"ok.json": OK_JSON}
        self.h1 = None
        self.h2 = None

    def get(self, http2=False):
        if http2:
            if not self.h2:
                self.h2 = nginx.Nginx(self.tmp, files=self.files, http2=True, name="nginx-h2")
            return self.h2
        if not self.h1:
            self.h1 = nginx.Nginx(self.tmp, files=self.files)
        return self.h1

    def stop(self):
        for s in (self.h1, self.h2):
            if s:
                s.stop()


def counted(server, n):
    """before/after hooks for rounds(): each run's access-log lines, checked
    to be n requests, all 200, as connections, requests per connection,
    protocols and bytes sent."""
    state = {}

    def before(name):
        state["mark"] = server.mark()
        state["cpu0"] = benchlib.process_cpu(server.pid)

    def after(name):
        lines = server.since(state["mark"], n)
        if len(lines) != n or any(ln.status != 200 for ln in lines):
            bad = sorted({ln.status for ln in lines if ln.status != 200})
            sys.exit(f"scale.py: {name} made {len(lines)} requests, not {n} (statuses other than 200: {bad})")
        return {"connections": nginx.connections(lines), "bytes": nginx.sent(lines),
                "protocols": "/".join(sorted({ln.protocol for ln in lines})),
                "server_cpu": benchlib.process_cpu(server.pid) - state["cpu0"]}

    return before, after


def values(rows, key):
    return "/".join(map(str, sorted({r[key] for r in rows})))


def glob_urls(base, n):
    return f"{base}/ok.json?i=[1-{n}]"


def clients(nt3, tmp, env, base, n, conc, cafile, python, peers, port):
    """The cases of the conc and rtt parts: (name, argv, env)."""
    curl = benchlib.which("curl")
    cases = [
        ("nt3 task.map", [nt3, "run", write(os.path.join(tmp, "map.lua"), MAP_LUA), base, str(n), str(conc), cafile], env),
        ("curl --parallel", [curl, "-s", "-f", "--cacert", cafile, "--parallel", "--parallel-max", str(conc),
                             glob_urls(base, n), "-o", "/dev/null"], env),
    ]
    if OTHER:
        cases.insert(1, ("other nt3 task.map", [OTHER, "run", os.path.join(tmp, "map.lua"), base, str(n), str(conc),
                                                cafile], env))
    if "aiohttp" in peers:
        cases.append(("python3 aiohttp", [python, write(os.path.join(tmp, "aio.py"), AIOHTTP_PY), base, str(n), str(conc),
                                          cafile], env))
    if "lua-http" in peers:
        cases.append(("lua-http (lua5.4)", [benchlib.which("lua5.4"), write(os.path.join(tmp, "luahttp.lua"), LUA_HTTP),
                                            "127.0.0.1", str(port), str(n), str(conc), cafile],
                      dict(env, LUA_PATH=LUA_HTTP_PATH)))
    return cases


def print_clients(title, res, n):
    print(f"\n== {title}")
    print(f"{'client':<22}{'wall':>9}{'req/s':>8}{'CPU':>9}{'server CPU':>12}{'conns':>10}{'peak RSS':>10}{'x curl':>8}")
    curl = col(res["curl --parallel"], "wall")
    for name, rows in res.items():
        w = col(rows, "wall")
        print(f"{name:<22}{w:>8.2f}s{n / w:>8.0f}{col(rows, 'cpu'):>8.2f}s{col(rows, 'server_cpu'):>11.2f}s"
              f"{values(rows, 'connections'):>10}{col(rows, 'rss_kb') / 1024:>8.1f}MB{w / curl:>8.2f}")


# --- conc / rtt ----------------------------------------------------------------

def part_conc(nt3, tmp, env, runs, n, concs, servers, python, peers, delay_ms=0):
    server = servers.get()
    base, port, proxy = server.url, server.port, None
    if delay_ms:
        proxy, port = benchlib.start_server(DELAY_PROXY, ["--to", str(server.port), "--delay-ms", str(delay_ms / 2)], tmp)
        base = f"https://127.0.0.1:{port}"
    summary = []
    try:
        for conc in concs:
            cases = clients(nt3, tmp, env, base, n, conc, server.cert, python, peers, port)
            before, after = counted(server, n)
            if not delay_ms:  # a round to warm up (behind the delay it would cost too long)
                rounds(cases, 1, before, after)
            res = rounds(cases, runs, before, after)
            where = f"behind {delay_ms} ms of round-trip time (delay_proxy.py)" if delay_ms else "on loopback"
            print_clients(f"{n:,} HTTPS GETs at concurrency {conc} {where}, HTTP/1.1 keep-alive;"
                          f" median of {runs} rounds", res, n)
            ours, curl = res["nt3 task.map"], res["curl --parallel"]
            summary.append((conc, ratio(col(ours, "wall"), col(curl, "wall")), values(ours, "connections"),
                            values(curl, "connections"), {k: ratio(col(v, "wall"), col(curl, "wall")) for k, v in res.items()}))
    finally:
        if proxy:
            benchlib.stop_server(proxy)
    target = "1.10" if delay_ms else "1.00"
    for conc, r, oc, cc, _ in summary:
        print(f"concurrency {conc:>3}: nt3 / curl wall {r:.2f}x (target <= {target}x); connections nt3 {oc},"
              f" curl {cc} (target {conc})")
    return summary


# --- seq -------------------------------------------------------------------------

def part_seq(nt3, tmp, env, runs, n, servers, peers):
    server = servers.get()
    cases = [
        ("nt3 run (request loop)", [nt3, "run", write(os.path.join(tmp, "seq.lua"), SEQ_LUA), server.url, str(n),
                                    server.cert], env),
        ("curl (one process)", [benchlib.which("curl"), "-s", "-f", "--cacert", server.cert,
                                glob_urls(server.url, n), "-o", "/dev/null"], env),
    ]
    if OTHER:
        cases.insert(1, ("other nt3 (request loop)", [OTHER, "run", os.path.join(tmp, "seq.lua"), server.url, str(n),
                                                      server.cert], env))
    if "lua-http" in peers:
        cases.append(("lua-http (lua5.4)", [benchlib.which("lua5.4"), write(os.path.join(tmp, "luahttp.lua"), LUA_HTTP),
                                            "127.0.0.1", str(server.port), str(n), "1", server.cert],
                      dict(env, LUA_PATH=LUA_HTTP_PATH)))
    before, after = counted(server, n)
    rounds(cases, 1, before, after)
    res = rounds(cases, runs, before, after)
    print(f"\n== {n:,} sequential HTTPS GETs on loopback, one process each; median of {runs} rounds")
    print(f"{'client':<24}{'wall':>9}{'per GET':>9}{'CPU':>9}{'server CPU':>12}{'conns':>7}{'x curl':>8}")
    c = col(res["curl (one process)"], "wall")
    for name, rows in res.items():
        w = col(rows, "wall")
        print(f"{name:<24}{w:>8.2f}s{w / n * 1e6:>7.0f}us{col(rows, 'cpu'):>8.2f}s{col(rows, 'server_cpu'):>11.2f}s"
              f"{values(rows, 'connections'):>7}{w / c:>8.2f}")
    ours = res["nt3 run (request loop)"]
    print(f"nt3 / curl: wall {ratio(col(ours, 'wall'), c):.2f}x (target <= 0.80x), CPU "
          f"{ratio(col(ours, 'cpu'), col(res['curl (one process)'], 'cpu')):.2f}x; connections nt3 {values(ours, 'connections')}")


# --- h2 --------------------------------------------------------------------------

def part_h2(nt3, tmp, env, runs, n, servers, conc=10):
    server = servers.get(http2=True)
    curl = benchlib.which("curl")
    cases = [
        ("nt3 task.map", [nt3, "run", write(os.path.join(tmp, "map.lua"), MAP_LUA), server.url, str(n), str(conc),
                          server.cert], env),
        ("curl --http2 --parallel", [curl, "-s", "-f", "--http2", "--cacert", server.cert, "--parallel",
                                     "--parallel-max", str(conc), glob_urls(server.url, n), "-o", "/dev/null"], env),
    ]
    if OTHER:
        cases.insert(1, ("other nt3 task.map", [OTHER, "run", os.path.join(tmp, "map.lua"), server.url, str(n),
                                                str(conc), server.cert], env))
    before, after = counted(server, n)
    rounds(cases, 1, before, after)
    res = rounds(cases, runs, before, after)
    print(f"\n== {n:,} GETs over HTTP/2 at concurrency {conc} (nginx http2); median of {runs} rounds")
    print(f"{'client':<26}{'wall':>9}{'CPU':>9}{'conns':>7}{'protocol':>10}")
    for name, rows in res.items():
        print(f"{name:<26}{col(rows, 'wall'):>8.2f}s{col(rows, 'cpu'):>8.2f}s{values(rows, 'connections'):>7}"
              f"{values(rows, 'protocols'):>10}")
    ours, c = res["nt3 task.map"], res["curl --http2 --parallel"]
    r = ratio(col(ours, "wall"), col(c, "wall"))
    print(f"nt3 / curl --http2: wall {r:.2f}x (target <= 1.00x); connections nt3 {values(ours, 'connections')}"
          f" (target 1), curl {values(c, 'connections')}")
    return r, values(ours, "connections"), values(c, "connections")


# --- flat ------------------------------------------------------------------------

def part_flat(nt3, tmp, env, n, every, servers, conc=50):
    server = servers.get()
    script = write(os.path.join(tmp, "map.lua"), MAP_LUA)
    mark = server.mark()
    t0 = time.perf_counter()
    proc = subprocess.Popen([nt3, "run", script, server.url, str(n), str(conc), server.cert, str(every)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    samples = []
    for line in proc.stdout:
        done, rss, fds = map(int, line.split())
        samples.append((done, rss, fds, time.perf_counter() - t0))
    err = proc.stderr.read()
    if proc.wait() != 0:
        sys.exit(f"scale.py: the flat run failed: {err.strip()[:300]}")
    lines = server.since(mark, n)
    print(f"\n== {n:,} GETs at concurrency {conc} in one nt3 process: VmRSS and open descriptors every {every:,}")
    print(f"{'done':>9}{'VmRSS':>10}{'fds':>6}{'elapsed':>10}")
    for done, rss, fds, el in samples:
        print(f"{done:>9,}{rss / 1024:>8.1f}MB{fds:>6}{el:>9.1f}s")
    first, last = samples[0], samples[-1]
    growth = last[1] / first[1]
    print(f"RSS last/first: {growth:.3f} (target within 10 %: 0.90-1.10); descriptors {first[2]} -> {last[2]}"
          f" (target flat); {nginx.connections(lines)} connections for {len(lines):,} requests")
    return growth, first, last, nginx.connections(lines)


# --- pipe ------------------------------------------------------------------------

def part_pipe(nt3, tmp, env, runs, size, servers):
    server = servers.get()
    path = os.path.join(server.dir, "www", "blob.bin")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(os.urandom(size))
    url = server.url + "/blob.bin"
    api_env = dict(env, NT3_API_TOKEN=TOKEN, NT3_API_URL=server.url, NT3_CA_FILE=server.cert)
    version = subprocess.run([nt3, "--version"], capture_output=True, text=True, env=env).stdout.split()[-1]
    cases = [
        ("nt3 api", [nt3, "api", "/blob.bin"], api_env),
        ("nt3 run (sink = io.stdout)", [nt3, "run", write(os.path.join(tmp, "sink.lua"), SINK_LUA), url, server.cert, "file"], env),
        ("nt3 run (sink = function)", [nt3, "run", os.path.join(tmp, "sink.lua"), url, server.cert, "function"], env),
        ("curl -s", [benchlib.which("curl"), "-s", "-f", "--cacert", server.cert,
                     "-H", f"Authorization: Bearer {TOKEN}", "-H", f"User-Agent: nt3/{version}",
                     "-H", "Accept: application/json", url], env),
    ]
    res = {name: [] for name, _, _ in cases}
    for i in range(runs + 1):  # the first round warms up, and is not counted
        for name, argv, e in cases:
            result, got = drained(argv, e)
            benchlib.must(result, argv)
            if got != size:
                sys.exit(f"scale.py: {name} wrote {got} bytes, not {size}")
            if i:
                res[name].append({"wall": result[0], "cpu": benchlib.cpu(result[1]), "rss_kb": result[1].ru_maxrss})
    print(f"\n== pipe: a {size / MB:.0f} MB body from nginx (HTTPS) into a pipe; median of {runs} rounds")
    print(f"{'command':<26}{'wall':>9}{'MB/s':>8}{'CPU':>9}{'peak RSS':>10}{'x curl':>8}")
    c = col(res["curl -s"], "wall")
    for name, rows in res.items():
        w = col(rows, "wall")
        print(f"{name:<26}{w * 1000:>7.0f}ms{size / MB / w:>8.0f}{col(rows, 'cpu') * 1000:>7.0f}ms"
              f"{col(rows, 'rss_kb') / 1024:>8.1f}MB{w / c:>8.2f}")
    r = ratio(col(res["nt3 api"], "wall"), c)
    r2 = ratio(col(res["nt3 run (sink = io.stdout)"], "wall"), c)
    r3 = ratio(col(res["nt3 run (sink = function)"], "wall"), c)
    cpu = ratio(col(res["nt3 api"], "cpu"), col(res["curl -s"], "cpu"))
    print(f"nt3 api / curl -s: time {r:.2f}x (target <= 1.10x), CPU {cpu:.2f}x; nt3 run, sink = io.stdout: {r2:.2f}x;"
          f" sink = function: {r3:.2f}x")
    return r, r2


# --- gzip ------------------------------------------------------------------------

def part_gzip(nt3, tmp, env, runs, size, servers):
    server = servers.get()
    path = os.path.join(server.dir, "www", "big.json")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(big_json(size))
    length = os.path.getsize(path)
    url = server.url + "/big.json"
    curl = benchlib.which("curl")
    cases = [
        ("nt3 http.request", [nt3, "run", write(os.path.join(tmp, "body.lua"), BODY_LUA), url, server.cert, "body"], env),
        ("nt3 (sink, body dropped)", [nt3, "run", os.path.join(tmp, "body.lua"), url, server.cert, "sink"], env),
        ("curl --compressed", [curl, "-s", "-f", "--compressed", "--cacert", server.cert, "-o", "/dev/null", url], env),
        ("curl (no compression)", [curl, "-s", "-f", "--cacert", server.cert, "-o", "/dev/null", url], env),
    ]
    res = {name: [] for name, _, _ in cases}
    for i in range(runs + 1):
        for name, argv, e in cases:
            mark = server.mark()
            out_r, out_w = os.pipe()
            result = benchlib.run(argv, e, stdout=out_w)
            os.close(out_w)
            with os.fdopen(out_r) as f:
                printed = f.read().strip()
            benchlib.must(result, argv)
            if name.startswith("nt3") and printed != str(length):
                sys.exit(f"scale.py: nt3's body was {printed} bytes, not the document's {length} (not decoded?)")
            lines = server.since(mark, 1)
            if i:
                res[name].append({"wall": result[0], "cpu": benchlib.cpu(result[1]), "rss_kb": result[1].ru_maxrss,
                                  "bytes": nginx.sent(lines)})
    print(f"\n== a {length / MB:.1f} MB JSON document nginx gzips; median of {runs} rounds")
    print(f"{'client':<24}{'wall':>9}{'CPU':>9}{'peak RSS':>10}{'bytes sent':>13}{'x curl --compressed':>21}")
    cz = res["curl --compressed"]
    for name, rows in res.items():
        print(f"{name:<24}{col(rows, 'wall') * 1000:>7.0f}ms{col(rows, 'cpu') * 1000:>7.0f}ms"
              f"{col(rows, 'rss_kb') / 1024:>8.1f}MB{col(rows, 'bytes'):>13,.0f}"
              f"{ratio(col(rows, 'wall'), col(cz, 'wall')):>13.2f} time{ratio(col(rows, 'bytes'), col(cz, 'bytes')):>6.2f} bytes")
    ours = res["nt3 http.request"]
    rb, rt = ratio(col(ours, "bytes"), col(cz, "bytes")), ratio(col(ours, "wall"), col(cz, "wall"))
    rs = ratio(col(res["nt3 (sink, body dropped)"], "wall"), col(cz, "wall"))
    print(f"nt3 / curl --compressed: bytes on the wire {rb:.2f}x (target <= 1.05x), time {rt:.2f}x (target <= 1.10x);"
          f" with the body dropped as curl drops it: {rs:.2f}x")
    return rb, rt, rs


PARTS = ("seq", "conc", "rtt", "h2", "flat", "pipe", "gzip")


def main():
    only = benchlib.option("--only", ",".join(PARTS)).split(",")
    for p in only:
        if p not in PARTS:
            sys.exit(f"scale.py: no part {p!r} (parts: {', '.join(PARTS)})")
    requests_n = benchlib.option("--requests", None)
    global OTHER
    OTHER = benchlib.option("--other", None)
    if OTHER:
        OTHER = os.path.abspath(OTHER)
        if not os.access(OTHER, os.X_OK):
            sys.exit(f"scale.py: --other {OTHER} is not an executable")
    quick = benchlib.quick()
    nt3, runs = benchlib.arguments(0)
    if quick:
        default = {"seq": 2, "conc": 1, "rtt": 1, "h2": 2, "pipe": 2, "gzip": 2}
        n_seq, n_conc, n_rtt, n_h2, n_flat, every = 1000, 2000, 500, 500, 20000, 2000
    else:
        default = {"seq": 5, "conc": 3, "rtt": 3, "h2": 5, "pipe": 7, "gzip": 7}
        n_seq, n_conc, n_rtt, n_h2, n_flat, every = 10000, 10000, 2000, 1000, 100000, 10000
    if requests_n:
        n_conc = int(requests_n)

    tmp = tempfile.mkdtemp(prefix="nt3-bench-")
    env = {"HOME": tmp, "PATH": "/usr/bin:/bin", "LANG": "C"}
    python = shutil.which("python3", path=env["PATH"])
    peers = []
    if have_aiohttp(python):
        peers.append("aiohttp")
    else:
        print("(python3-aiohttp is not installed: aiohttp left out; ./setup.sh deps installs it)")
    if have_lua_http():
        peers.append("lua-http")
    else:
        print("(lua-http is not installed: lua-http left out; ./setup.sh deps installs it)")
    servers = Server(tmp)
    try:
        print(f"nt3 at scale: {nt3} ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f});"
              " server nginx, one process")
        if "seq" in only:
            part_seq(nt3, tmp, env, runs or default["seq"], n_seq, servers, peers)
        if "conc" in only:
            part_conc(nt3, tmp, env, runs or default["conc"], n_conc, (10, 50, 100), servers, python, peers)
        if "rtt" in only:
            part_conc(nt3, tmp, env, runs or default["rtt"], n_rtt, (10, 50, 100), servers, python, peers, delay_ms=20)
        if "h2" in only:
            part_h2(nt3, tmp, env, runs or default["h2"], n_h2, servers)
        if "flat" in only:
            part_flat(nt3, tmp, env, n_flat, every, servers)
        if "pipe" in only:
            part_pipe(nt3, tmp, env, runs or default["pipe"], 100 * MB, servers)
        if "gzip" in only:
            part_gzip(nt3, tmp, env, runs or default["gzip"], 10 * MB, servers)
        print(f"\n(load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
