#!/usr/bin/env python3
"""Start-up benchmark: nt3 against `lua5.4 -e ''`, side by side in one run.

    python3 tests/bench/startup.py [path/to/nt3] [--runs N]

Every command is started N times, interleaved (a, b, c, a, b, c, ...) so that
load on this shared machine hits all of them alike; the median wall time of
each is printed with its ratio to `lua5.4 -e ''`. Targets (docs/architecture.md, "Performance budget"):
nt3 --version, nt3 help and nt3 status (no network) <= 1.3x, also with 20
extensions installed.

Processes are started with posix_spawn and reaped with waitpid; `/bin/true`
is measured too, as the floor that spawning alone costs, and the ratios are
also printed with that floor taken off both sides.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import json
import os
import subprocess
import tempfile

import benchlib


def main():
    nt3, runs = benchlib.arguments(300)

    home = tempfile.mkdtemp(prefix="nt3-bench-")
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C"}
    # a logged-in global config, so status does the whole resolution
    os.makedirs(os.path.join(home, ".nt3"), mode=0o700)
    fd = os.open(os.path.join(home, ".nt3", "config.json"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({"token": "entri_benchmark_token_0000"}).encode())
    os.close(fd)

    # the same home with 20 extensions installed (as `nt3 ext install` does)
    ext_home = tempfile.mkdtemp(prefix="nt3-bench-ext-")
    ext_env = dict(env, HOME=ext_home)
    os.makedirs(os.path.join(ext_home, ".nt3"), mode=0o700)
    for i in range(20):
        src = os.path.join(ext_home, "src", f"ext{i}")
        os.makedirs(os.path.join(src, "commands"))
        with open(os.path.join(src, "nt3-extension.json"), "w") as f:
            json.dump({"name": f"ext{i}", "version": "1.0.0", "commands": [
                {"name": f"cmd{i}", "summary": "a command", "file": f"commands/cmd{i}.lua"}]}, f)
        with open(os.path.join(src, "commands", f"cmd{i}.lua"), "w") as f:
            f.write(f'return {{ name = "cmd{i}", summary = "a command", run = function() end }}\n')
        subprocess.run([nt3, "ext", "install", src, "--yes"], env=ext_env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    cases = [
        ("/bin/true (spawn floor)", [benchlib.which("true")]),
        ("lua5.4 -e ''", [benchlib.which("lua5.4"), "-e", ""]),
        ("nt3 --version", [nt3, "--version"]),
        ("nt3 help", [nt3, "help"]),
        ("nt3 status", [nt3, "status"]),
    ]
    ext_cases = [
        ("nt3 help, 20 extensions", [nt3, "help"]),
        ("nt3 status, 20 extensions", [nt3, "status"]),
    ]
    med = benchlib.medians(cases, env, runs)
    med.update(benchlib.medians(ext_cases, ext_env, runs))
    cases = cases + ext_cases
    floor = med["/bin/true (spawn floor)"]
    base = med["lua5.4 -e ''"]
    print(f"start-up, median of {runs} interleaved runs each ({os.cpu_count()} cores)")
    print(f"{'command':<26}{'median':>10}{'x lua5.4':>10}{'x lua5.4, floor off':>22}")
    for name, _ in cases:
        m = med[name]
        net = (m - floor) / (base - floor) if base > floor else float("nan")
        print(f"{name:<26}{m * 1000:>8.3f}ms{m / base:>10.2f}{net:>22.2f}")
    print("target: nt3 --version, nt3 help and nt3 status <= 1.30 x lua5.4 -e ''")


if __name__ == "__main__":
    main()
