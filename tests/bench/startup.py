#!/usr/bin/env python3
"""Start-up benchmark: nt3 against `lua5.4 -e ''`, side by side in one run.

    python3 tests/bench/startup.py [path/to/nt3] [--runs N]

Every command is started N times, interleaved (a, b, c, a, b, c, ...) so that
load on this shared machine hits all of them alike; the median wall time of
each is printed with its ratio to `lua5.4 -e ''`. Targets (DESIGN.md):
nt3 --version, nt3 help and nt3 status (no network) <= 1.3x.

Processes are started with posix_spawn and reaped with waitpid; `/bin/true`
is measured too, as the floor that spawning alone costs, and the ratios are
also printed with that floor taken off both sides.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import json
import os
import statistics
import sys
import tempfile
import time


def spawn_time(argv, env):
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
              (os.POSIX_SPAWN_DUP2, devnull, 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
        os.waitpid(pid, 0)
        return time.perf_counter() - t0
    finally:
        os.close(devnull)


def which(name):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    sys.exit(f"startup.py: {name} not found (./setup.sh deps installs it)")


def main():
    args = [a for a in sys.argv[1:]]
    runs = 300
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    here = os.path.dirname(os.path.abspath(__file__))
    nt3 = os.path.abspath(args[0]) if args else os.path.join(here, "..", "..", "build", "nt3")
    if not os.access(nt3, os.X_OK):
        sys.exit(f"startup.py: {nt3} is not built (./setup.sh build)")

    home = tempfile.mkdtemp(prefix="nt3-bench-")
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C"}
    # a logged-in global config, so status does the whole resolution
    os.makedirs(os.path.join(home, ".nt3"), mode=0o700)
    fd = os.open(os.path.join(home, ".nt3", "config.json"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({"token": "entri_benchmark_token_0000"}).encode())
    os.close(fd)

    cases = [
        ("/bin/true (spawn floor)", [which("true")]),
        ("lua5.4 -e ''", [which("lua5.4"), "-e", ""]),
        ("nt3 --version", [nt3, "--version"]),
        ("nt3 help", [nt3, "help"]),
        ("nt3 status", [nt3, "status"]),
    ]
    times = {name: [] for name, _ in cases}
    for _ in range(10):  # warm the page cache
        for name, argv in cases:
            spawn_time(argv, env)
    for _ in range(runs):
        for name, argv in cases:
            times[name].append(spawn_time(argv, env))

    med = {name: statistics.median(t) for name, t in times.items()}
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
