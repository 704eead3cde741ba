#!/usr/bin/env python3
"""Sandbox start-up benchmark: the same user command with and without
`permissions`, side by side in one run.

    python3 tests/bench/sandbox.py [path/to/nt3] [--runs N]

The two commands differ only in `permissions = {}`: the sandboxed one is
loaded in a sandbox state to learn its table (sandbox.describe), then run
in a second one (sandbox.run), each with its own embedded nt3.task. Both
are started N times, interleaved, and the median wall time of each is
printed with the difference and the ratio. Target (docs/architecture.md,
"Sandboxed commands"): a sandboxed command adds at most 2 ms.

This is a benchmark, not a test: it prints numbers and never fails on them.
"""
import os
import resource
import subprocess
import tempfile

import benchlib

COMMAND = """return {
  name = "%s",
  summary = "say hello",
  flags = { { long = "loud", help = "shout" } },%s
  run = function(opts, ctx)
    print("hello")
  end,
}
"""


def main():
    nt3, runs = benchlib.arguments(300)
    home = tempfile.mkdtemp(prefix="nt3-bench-")
    os.chmod(home, 0o700)
    commands = os.path.join(home, ".nt3", "commands")
    os.makedirs(commands, mode=0o700)
    os.chmod(os.path.join(home, ".nt3"), 0o700)
    for name, extra in (("plain", ""), ("boxed", "\n  permissions = {},")):
        path = os.path.join(commands, name + ".lua")
        with open(path, "w") as f:
            f.write(COMMAND % (name, extra))
        os.chmod(path, 0o600)
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C"}
    cases = [
        ("full authority", [nt3, "plain"]),
        ("sandboxed", [nt3, "boxed"]),
    ]
    med = benchlib.medians(cases, env, runs, must_succeed=True)
    plain, boxed = med["full authority"], med["sandboxed"]
    print(f"user command start-up, median of {runs} interleaved runs each ({os.cpu_count()} cores)")
    print(f"{'command':<18}{'median':>10}")
    for name, _ in cases:
        print(f"{name:<18}{med[name] * 1000:>8.3f}ms")
    print(f"sandbox adds {(boxed - plain) * 1000:.3f} ms of wall time ({boxed / plain:.2f} x); target <= 2 ms")
    # CPU time (user + system) of the child, which a loaded machine
    # inflates far less than wall time: interleaved rounds, best of each
    best = {}
    for _ in range(5):
        for name, argv in cases:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            for _ in range(max(1, runs // 5)):
                subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / max(1, runs // 5)
            best[name] = min(best.get(name, used), used)
    cp, cb = best["full authority"], best["sandboxed"]
    print(f"CPU per run: full authority {cp * 1000:.3f} ms, sandboxed {cb * 1000:.3f} ms: "
          f"adds {(cb - cp) * 1000:.3f} ms ({cb / cp:.2f} x)")


if __name__ == "__main__":
    main()
