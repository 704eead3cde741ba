#!/usr/bin/env python3
"""nt3.json against plain lua-cjson in `lua5.4`, side by side in one run.

    python3 tests/bench/json_codec.py [path/to/nt3] [--runs N] [--quick]

Writes one ~10 MB JSON document (an API's list: objects with ids, text with
escapes and non-ASCII, floats, booleans, nulls, nested objects, empty
arrays and objects), then runs, interleaved (a, b, c, ... a, b, c, ...) so
that load on this shared machine hits all alike, one process per case:

  decode  lua5.4 + cjson.decode    vs  nt3 run + nt3.json.decode
  encode  lua5.4 + cjson.encode    vs  nt3 run + nt3.json.encode
          (each process decodes the document first, with its own decoder)

and, for the record, nt3.json as it was in Lua (tests/helpers/json_legacy.lua).
Time is the CPU time of the one call (os.clock around it, in the process);
peak RSS is the whole process's (wait4's ru_maxrss, by rusage_run.c). The
medians are printed with their ratio to cjson's. Target (issue 13,
docs/architecture.md "JSON"): <= 1.3x cjson in time and in peak RSS.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import json
import os
import random
import shutil
import statistics
import tempfile

import benchlib

DRIVER = r"""
local impl, op, path = ...
local text = assert(io.open(path, "rb")):read("a")
local json
if impl == "cjson" then json = require "cjson"
elseif impl == "legacy" then json = dofile(LEGACY)
else json = require "nt3.json" end
local value, t0
if op == "encode" then value = assert(json.decode(text)) end
collectgarbage()
t0 = os.clock()
local out = assert(json[op](op == "encode" and value or text))
local dt = os.clock() - t0
io.write(string.format("%.6f\n", dt))
assert(out ~= nil)
"""


def document(size):
    """A list as an API answers one, about size bytes of JSON."""
    rnd = random.Random(13)
    words = ["alpha", "beta", "déjà vu", "naïve", "日本語", "emoji 😀", 'say "hi"', "back\\slash",
             "path/to/file", "tab\there", "line\nbreak", "ctrl\u0001", "https://example.com/x?y=1"]
    items, total, i = [], 2, 0
    while total < size:
        i += 1
        item = {
            "id": i * 7919,
            "node_id": f"MDU6SXNzdWU{i:08d}",
            "number": i,
            "title": " ".join(rnd.choice(words) for _ in range(6)),
            "body": "\n".join(" ".join(rnd.choice(words) for _ in range(12)) for _ in range(4)),
            "score": rnd.random() * 1000,
            "ratio": rnd.choice([0.1, 0.5, 1.25, 3.14159, 2.5e-8, 6.02e23]),
            "state": rnd.choice(["open", "closed"]),
            "locked": rnd.random() < 0.5,
            "milestone": None,
            "labels": [{"id": rnd.randrange(10**9), "name": rnd.choice(words), "default": False}
                       for _ in range(rnd.randrange(4))],
            "assignees": [],
            "reactions": {"+1": rnd.randrange(100), "-1": 0, "total_count": rnd.randrange(200)},
            "user": {"login": f"user{rnd.randrange(10**6)}", "id": rnd.randrange(10**8),
                     "site_admin": False, "type": "User"},
            "meta": {},
        }
        text = json.dumps(item, ensure_ascii=rnd.random() < 0.5)
        items.append(text)
        total += len(text) + 1
    return "[" + ",".join(items) + "]"


def main():
    nt3, runs = benchlib.arguments(7)
    quick = benchlib.quick()
    here = os.path.dirname(os.path.abspath(__file__))
    legacy = os.path.join(here, "..", "helpers", "json_legacy.lua")
    lua = benchlib.which("lua5.4")

    tmp = tempfile.mkdtemp(prefix="nt3-bench-json-")
    try:
        doc = os.path.join(tmp, "doc.json")
        with open(doc, "w", encoding="utf-8") as f:
            f.write(document(1_000_000 if quick else 10_000_000))
        size = os.path.getsize(doc)
        driver = os.path.join(tmp, "driver.lua")
        with open(driver, "w") as f:
            f.write(f"local LEGACY = {json.dumps(os.path.abspath(legacy))}\n" + DRIVER)
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin", "LANG": "C"}

        cases = []
        for op in ("decode", "encode"):
            cases.append((op, "cjson", [lua, driver, "cjson", op, doc]))
            cases.append((op, "nt3.json", [nt3, "run", driver, "nt3", op, doc]))
            cases.append((op, "nt3.json before (Lua)", [nt3, "run", driver, "legacy", op, doc]))
        times = {(op, name): [] for op, name, _ in cases}
        rss = {(op, name): [] for op, name, _ in cases}
        out = os.path.join(tmp, "out")
        for round_ in range(runs + 1):
            for op, name, argv in cases:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    _, usage, _ = benchlib.must(benchlib.run(argv, env, stdout=fd), argv)
                finally:
                    os.close(fd)
                with open(out) as f:
                    seconds = float(f.read())
                if round_ > 0:  # the first round warms the page cache
                    times[(op, name)].append(seconds)
                    rss[(op, name)].append(usage.ru_maxrss)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"nt3.json vs lua-cjson, a {size / 1e6:.1f} MB document, median of {runs} interleaved rounds "
          f"({os.cpu_count()} cores)")
    print(f"{'op':<8}{'implementation':<24}{'time':>10}{'x cjson':>9}{'peak RSS':>12}{'x cjson':>9}")
    for op, name, _ in cases:
        t, r = statistics.median(times[(op, name)]), statistics.median(rss[(op, name)])
        t0, r0 = statistics.median(times[(op, "cjson")]), statistics.median(rss[(op, "cjson")])
        print(f"{op:<8}{name:<24}{t * 1000:>8.1f}ms{t / t0:>9.2f}{r / 1024:>10.1f}MB{r / r0:>9.2f}")
    print("target: nt3.json encode and decode <= 1.30 x cjson, in time and in peak RSS")


if __name__ == "__main__":
    main()
