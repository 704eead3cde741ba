#!/usr/bin/env python3
"""`nt3 api` against `curl -s` for the same loopback GET, side by side in one run.

    python3 tests/bench/api.py [path/to/nt3] [--runs N]

Starts the test server (tests/helpers/server.py) on 127.0.0.1, then runs
`nt3 api /api/v1/me` and `curl -s` for the same URL with the same headers
(Authorization, User-Agent, Accept) N times each, interleaved (a, b, a, b, ...)
so that load on this shared machine hits both alike, and prints the median
wall time of each and their ratio. Target (docs/architecture.md, "Performance budget"): nt3 api <= 1.2 x curl -s.

Both pay the same server time; `/bin/true` is measured as the floor that
spawning alone costs, and the ratio is also printed with it taken off both.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib

TOKEN = "entri_valid_benchmark_0000"


def start_server(here, tmp):
    ready = os.path.join(tmp, "ready")
    server = os.path.join(here, "..", "helpers", "server.py")
    proc = subprocess.Popen([sys.executable, server, "--ready", ready, "--lifetime", "900"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        if os.path.exists(ready):
            with open(ready) as f:
                return proc, json.load(f)["port"]
        time.sleep(0.01)
    proc.kill()
    sys.exit("api.py: the test server did not start")


def main():
    nt3, runs = benchlib.arguments(200)
    here = os.path.dirname(os.path.abspath(__file__))

    tmp = tempfile.mkdtemp(prefix="nt3-bench-")
    proc, port = start_server(here, tmp)
    try:
        url = f"http://127.0.0.1:{port}"
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin", "LANG": "C",
               "NT3_API_TOKEN": TOKEN, "NT3_API_URL": url}
        version = subprocess.run([nt3, "--version"], capture_output=True, text=True, env=env).stdout.split()[-1]
        cases = [
            ("/bin/true (spawn floor)", [benchlib.which("true")]),
            ("curl -s", [benchlib.which("curl"), "-s", "-f",
                         "-H", f"Authorization: Bearer {TOKEN}",
                         "-H", f"User-Agent: nt3/{version}",
                         "-H", "Accept: application/json",
                         f"{url}/api/v1/me"]),
            ("nt3 api", [nt3, "api", "/api/v1/me"]),
        ]
        med = benchlib.medians(cases, env, runs, must_succeed=True)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    floor, base, ours = med["/bin/true (spawn floor)"], med["curl -s"], med["nt3 api"]
    print(f"loopback GET /api/v1/me, median of {runs} interleaved runs each ({os.cpu_count()} cores)")
    print(f"{'command':<26}{'median':>10}")
    for name, _ in cases:
        print(f"{name:<26}{med[name] * 1000:>8.3f}ms")
    net = (ours - floor) / (base - floor) if base > floor else float("nan")
    print(f"ratio nt3 api / curl -s: {ours / base:.2f}x  (spawn floor taken off both: {net:.2f}x)")
    print("target: nt3 api <= 1.20 x curl -s")


if __name__ == "__main__":
    main()
