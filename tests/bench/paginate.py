#!/usr/bin/env python3
"""`nt3 api --paginate` against `gh api --paginate`, side by side in one run.

    python3 tests/bench/paginate.py [path/to/nt3] [--runs N] [--quick]

Starts pages_server.py (HTTPS on 127.0.0.1 with a throwaway certificate,
keep-alive, 100 pages of 100 items, ~8 MB in all, each page with a
Link: rel="next") and fetches the whole list, interleaved (a, b, a, b, ...),
with:

  gh api --paginate /items      GH_HOST=127.0.0.1:PORT (a GitHub Enterprise
                                host: requests go to /api/v3/...),
                                GH_ENTERPRISE_TOKEN, SSL_CERT_FILE=the cert
  nt3 api --paginate /items     NT3_API_URL=https://127.0.0.1:PORT/api/v3,
                                NT3_CA_FILE=the cert

Both follow the same 99 next links over one connection; stdout goes to a
file. gh (Debian's package `gh`, which ./setup.sh installs for this
benchmark) writes the pages one after another (`[...][...]`, 2.23 has no
--slurp); nt3 writes one array of all the items, their bytes as the server
sent them. Prints the median wall time, CPU time and peak RSS of each and
nt3's ratios to gh. Target (issue 13): nt3 <= 1.0x gh in wall time.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import os
import shutil
import statistics
import sys
import tempfile

import benchlib

TOKEN = "entri_benchmark_paginate_0000"


def main():
    nt3, runs = benchlib.arguments(15)
    pages = 10 if benchlib.quick() else 100
    here = os.path.dirname(os.path.abspath(__file__))
    gh = benchlib.which("gh")

    tmp = tempfile.mkdtemp(prefix="nt3-bench-paginate-")
    cert, key = benchlib.certificate(tmp)
    proc, port = benchlib.start_server(os.path.join(here, "pages_server.py"),
                                       ["--tls", cert, key, "--pages", str(pages), "--per", "100"], tmp)
    try:
        base = {"HOME": tmp, "PATH": "/usr/bin:/bin", "LANG": "C"}
        cases = [
            ("gh api --paginate", [gh, "api", "--paginate", "/items"],
             dict(base, GH_HOST=f"127.0.0.1:{port}", GH_ENTERPRISE_TOKEN="benchmark", SSL_CERT_FILE=cert,
                  GH_NO_UPDATE_NOTIFIER="1", GH_PROMPT_DISABLED="1", GH_CONFIG_DIR=os.path.join(tmp, "gh"))),
            ("nt3 api --paginate", [nt3, "api", "--paginate", "/items"],
             dict(base, NT3_API_URL=f"https://127.0.0.1:{port}/api/v3", NT3_API_TOKEN=TOKEN, NT3_CA_FILE=cert)),
        ]
        wall = {name: [] for name, _, _ in cases}
        cpu = {name: [] for name, _, _ in cases}
        rss = {name: [] for name, _, _ in cases}
        sizes = {}
        out = os.path.join(tmp, "out")
        for round_ in range(runs + 2):
            for name, argv, env in cases:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    seconds, usage, _ = benchlib.must(benchlib.run(argv, env, stdout=fd), argv)
                finally:
                    os.close(fd)
                sizes[name] = os.path.getsize(out)
                if round_ >= 2:  # two rounds warm the page cache and the server
                    wall[name].append(seconds)
                    cpu[name].append(benchlib.cpu(usage))
                    rss[name].append(usage.ru_maxrss)
    finally:
        benchlib.stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"--paginate over {pages} pages x 100 items, HTTPS on loopback, median of {runs} interleaved runs "
          f"({os.cpu_count()} cores)")
    print(f"{'command':<22}{'wall':>10}{'CPU':>10}{'peak RSS':>12}{'stdout':>12}")
    for name, _, _ in cases:
        print(f"{name:<22}{statistics.median(wall[name]) * 1000:>8.1f}ms{statistics.median(cpu[name]) * 1000:>8.1f}ms"
              f"{statistics.median(rss[name]) / 1024:>10.1f}MB{sizes[name] / 1e6:>10.2f}MB")
    g, n = "gh api --paginate", "nt3 api --paginate"
    print(f"ratio nt3 / gh: wall {statistics.median(wall[n]) / statistics.median(wall[g]):.2f}x, "
          f"CPU {statistics.median(cpu[n]) / statistics.median(cpu[g]):.2f}x, "
          f"peak RSS {statistics.median(rss[n]) / statistics.median(rss[g]):.2f}x")
    print("target: nt3 api --paginate <= 1.00 x gh api --paginate (wall)")


if __name__ == "__main__":
    sys.exit(main())
