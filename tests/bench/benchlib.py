"""What the benchmarks share: timing a started process, finding programs,
the command line, and the interleaved measuring loop."""
import os
import shutil
import statistics
import sys
import threading
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
    """[path/to/nt3] [--runs N] [--quick] -> (nt3, runs)"""
    args = [a for a in sys.argv[1:] if a != "--quick"]
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


# --- for the engine benchmarks (engine.py) ---------------------------------

def quick():
    """--quick on the command line: fewer runs and smaller sizes."""
    return "--quick" in sys.argv[1:]


def option(name, default):
    """The value after `name` on the command line (removed from sys.argv),
    or default."""
    args = sys.argv
    if name in args[1:]:
        i = args.index(name)
        if i + 1 >= len(args):
            sys.exit(f"{os.path.basename(args[0])}: {name} needs a value")
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


_rusage_run = None


def rusage_helper():
    """tests/bench/rusage_run.c, compiled once per benchmark process."""
    global _rusage_run
    if _rusage_run is None:
        import atexit
        import subprocess
        import tempfile
        d = tempfile.mkdtemp(prefix="nt3-bench-rusage-")
        atexit.register(shutil.rmtree, d, True)
        exe = os.path.join(d, "rusage_run")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rusage_run.c")
        r = subprocess.run([which("cc"), "-O2", "-o", exe, src], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{os.path.basename(sys.argv[0])}: could not compile {src}: {r.stderr}")
        _rusage_run = (exe, os.path.join(d, "report"))
    return _rusage_run


class Usage:
    """What run() measured of a child: ru_maxrss (KiB), ru_utime, ru_stime (s)."""

    def __init__(self, utime, stime, maxrss):
        self.ru_utime, self.ru_stime, self.ru_maxrss = utime, stime, maxrss


def run(argv, env, stdout=None, stdin=None):
    """One run of argv: (wall seconds, usage, exit status). stdout and stdin
    are file descriptors (default /dev/null); stderr goes to /dev/null.
    usage.ru_maxrss is the child's own peak RSS (VmHWM) in KiB, from wait4;
    usage.ru_utime + ru_stime its CPU time. The child is forked by a small C
    helper (rusage_run.c, see there why) which also times it."""
    exe, report = rusage_helper()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        fa = [(os.POSIX_SPAWN_DUP2, devnull if stdin is None else stdin, 0),
              (os.POSIX_SPAWN_DUP2, devnull if stdout is None else stdout, 1),
              (os.POSIX_SPAWN_DUP2, devnull, 2)]
        pid = os.posix_spawn(exe, [exe, report] + list(argv), env, file_actions=fa)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(devnull)
    if status != 0:
        sys.exit(f"{os.path.basename(sys.argv[0])}: rusage_run failed (status {status}) for {argv[0]}")
    with open(report) as f:
        code, wall, utime, stime, maxrss = f.read().split()
    return float(wall), Usage(float(utime), float(stime), int(maxrss)), int(code)


def must(result, argv):
    """result of run(), or exit saying which command failed."""
    if result[2] != 0:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {' '.join(argv)[:200]} failed (exit {result[2]})")
    return result


def cpu(usage):
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid):
    """CPU seconds (user + system) a running process has used so far, all
    its threads included (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def certificate(directory):
    """A throwaway self-signed certificate for 127.0.0.1 and localhost, made
    with the openssl CLI as tests/helpers/server.lua makes its own: (cert, key)."""
    import subprocess
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    r = subprocess.run([which("openssl"), "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{os.path.basename(sys.argv[0])}: openssl could not make a certificate: {r.stderr}")
    return cert, key


def start_server(script, args, tmp):
    """Starts a server script that writes {"port": N} to --ready FILE when it
    listens (tests/helpers/server.py, tests/bench/keepalive_server.py):
    (process, port)."""
    import json
    import subprocess
    ready = os.path.join(tmp, f"ready-{os.path.basename(script)}-{time.monotonic_ns()}")
    proc = subprocess.Popen([sys.executable, script, "--ready", ready] + list(args),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1000):
        if os.path.exists(ready):
            with open(ready) as f:
                return proc, json.load(f)["port"]
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.kill()
    sys.exit(f"{os.path.basename(sys.argv[0])}: {script} did not start")


def stop_server(proc):
    proc.kill()
    proc.wait()


# --- rounds of runs, and what they print (engine.py, scale.py) -----------------

def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def ratio(a, b):
    return a / b if b else float("nan")


def rounds(cases, runs, before=None, after=None):
    """Runs each (name, argv, env) once per round, in turn; returns name -> list
    of dicts {wall, cpu, rss_kb, ...what `after` adds}."""
    out = {name: [] for name, _, _ in cases}
    for _ in range(runs):
        for name, argv, env in cases:
            if before:
                before(name)
            r = must(run(argv, env), argv)
            row = {"wall": r[0], "cpu": cpu(r[1]), "rss_kb": r[1].ru_maxrss}
            if after:
                row.update(after(name) or {})
            out[name].append(row)
    return out


def col(rows, key):
    return statistics.median([r[key] for r in rows])


def drained(argv, env):
    """run() with stdout a pipe this process drains: (result, bytes read)."""
    r, w = os.pipe()
    count = [0]

    def drain():
        while True:
            b = os.read(r, 1 << 16)
            if not b:
                break
            count[0] += len(b)

    t = threading.Thread(target=drain)
    t.start()
    try:
        result = run(argv, env, stdout=w)
    finally:
        os.close(w)
        t.join()
        os.close(r)
    return result, count[0]
