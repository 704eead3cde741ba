"""What the benchmarks share: timing a started process, finding programs,
the command line, and the interleaved measuring loop."""
import os
import shutil
import statistics
import sys
import time


def spawn_time(argv, env, must_succeed=False):
    """Wall time of one run of argv (posix_spawn + waitpid), output discarded."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
              (os.POSIX_SPAWN_DUP2, devnull, 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - t0
    finally:
        os.close(devnull)
    if must_succeed and status != 0:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {' '.join(argv)} failed (status {status})")
    return elapsed


def which(name):
    p = shutil.which(name, path=os.environ.get("PATH", "/usr/bin:/bin"))
    if not p:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {name} not found (./setup.sh deps installs it)")
    return p


def arguments(default_runs):
    """[path/to/nt3] [--runs N] -> (nt3, runs)"""
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(sys.modules["__main__"].__doc__.strip())
        sys.exit(0)
    runs = default_runs
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    here = os.path.dirname(os.path.abspath(__file__))
    nt3 = os.path.abspath(args[0]) if args else os.path.join(here, "..", "..", "build", "nt3")
    if not os.access(nt3, os.X_OK):
        sys.exit(f"{os.path.basename(sys.argv[0])}: {nt3} is not built (./setup.sh build)")
    return nt3, runs


def medians(cases, env, runs, must_succeed=False):
    """Runs every case `runs` times, interleaved (a, b, c, a, b, c, ...) so
    that load on a shared machine hits all alike; returns name -> median."""
    times = {name: [] for name, _ in cases}
    for _ in range(10):  # warm the page cache (and a server)
        for name, argv in cases:
            spawn_time(argv, env, must_succeed)
    for _ in range(runs):
        for name, argv in cases:
            times[name].append(spawn_time(argv, env, must_succeed))
    return {name: statistics.median(t) for name, t in times.items()}
