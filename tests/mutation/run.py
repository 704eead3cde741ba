#!/usr/bin/env python3
"""Mutation runner for the sandbox's checks (issues 14 and 15: "each spec
fails when its check in C is removed").

  python3 tests/mutation/run.py [ID...]   (from the worktree root, after a build)

Each mutation in mutations.py replaces one exact text (it must occur once)
in one file, rebuilds the nt3 binary only, runs the spec file(s) named
(optionally one busted --filter), records whether a test failed, and puts
the file back with `git checkout`. One mutation at a time; the tree is left
as it was. Results go to stdout as a table row per mutation.
"""
import os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from mutations import MUTATIONS  # noqa: E402

BUILD = os.path.join(ROOT, "build")


def sh(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def run_spec(spec, filt):
    env = dict(os.environ)
    env.update(PATH="/usr/bin:/bin:" + env.get("PATH", ""), NT3_BIN=BUILD + "/nt3", NT3_BUILD_DIR=BUILD,
               NT3_EMBEDGEN=BUILD + "/embedgen", NT3_SOURCE_DIR=ROOT)
    cmd = [BUILD + "/nt3", "run", "tests/runner.lua", "tests/%s_spec.lua" % spec]
    if filt:
        cmd.append("--filter=" + filt)
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=400)
        out = p.stdout + p.stderr
        code = p.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    m = re.search(r"(\d+) successes? / (\d+) failures? / (\d+) errors? / (\d+) pending", out)
    counts = m.groups() if m else None
    failed = re.findall(r"^(?:Failure|Error) -> [^\n]*?@ \d+\n([^\n]+)", out, re.M)
    return code, counts, failed, out


def main():
    only = set(sys.argv[1:])
    for mid, path, old, new, specs in MUTATIONS:
        if only and mid not in only:
            continue
        full = os.path.join(ROOT, path)
        text = open(full).read()
        if text.count(old) != 1:
            print("%s\tSKIP\ttext occurs %d times in %s" % (mid, text.count(old), path), flush=True)
            continue
        if os.environ.get("MUT_SPECS"):
            # spec:filter,spec:filter instead of the list's
            specs = [tuple(x.split(":", 1)) for x in os.environ["MUT_SPECS"].split(",")]
        open(full, "w").write(text.replace(old, new))
        try:
            b = sh(["cmake", "--build", "build", "--target", "nt3", "-j2"])
            if b.returncode != 0:
                print("%s\tBUILD-FAILED\t%s" % (mid, b.stdout[-500:] + b.stderr[-500:]), flush=True)
                continue
            verdicts = []
            for spec, filt in specs:
                code, counts, failed, out = run_spec(spec, filt)
                log = os.path.join(os.environ.get("MUT_LOGS", "/tmp"), "mut-%s-%s.log" % (mid, spec))
                open(log, "w").write(out)
                caught = code != 0
                verdicts.append("%s[%s]: %s %s %s" % (spec, filt or "*", "CAUGHT" if caught else "SURVIVED",
                                                    "/".join(counts) if counts else "?", " | ".join(failed)))
            print("%s\t%s" % (mid, "\t".join(verdicts)), flush=True)
        finally:
            sh(["git", "checkout", "--", path])
    sh(["cmake", "--build", "build", "--target", "nt3", "-j2"])


if __name__ == "__main__":
    main()
