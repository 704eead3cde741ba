#!/usr/bin/env python3
"""Run a command on a real pseudo-terminal and drive it like a person would.

usage: pty_run.py SPEC.json      (python3 standard library only)

SPEC is a JSON object:

  argv     ["/path/to/nt3", "run", "script.lua"]   (argv[0] is executed as is)
  env      {"HOME": "/tmp/x", ...}   the child's whole environment
  cwd      working directory of the child (default: the current one)
  timeout  seconds a step may wait by default (default 5)
  exit_timeout  seconds to wait for the exit after the last step (default:
           timeout)
  background  true: the command's group is not made the foreground one, as
           for `command &` in a shell (default false)
  columns  the terminal's width in columns, set with TIOCSWINSZ before the
           command starts (default: the pty's own, 0 on Linux); rows likewise
  steps    what to do, in order:
    {"expect": "text"}     wait until "text" appears in the output (after
                           the end of the previous match)
    {"send": "text"}       type text (UTF-8) into the terminal; "\r" is Enter,
                           "\u0003" Ctrl-C, "\u001a" Ctrl-Z, "\u0004" Ctrl-D
    {"signal": "TERM"}     kill(2) the command with SIGTERM (any name w/o SIG)
    {"expect_echo": b}     wait until the terminal's ECHO flag is b
    {"expect_stopped": b}  wait until the command is (b=true) / is not stopped
    {"expect_file": path}  wait until a file exists at path (another process
                           says it has seen what it looked for)
    {"sleep": 0.1}         pause (only to let a signal land; never a check)
  Any step may carry "timeout": seconds.

The command runs the way an interactive shell would run it: in a new session
whose controlling terminal is the pty slave, as the foreground process group
of a small "shell" process that waits for it. That group is therefore not
orphaned, so Ctrl-Z really stops it (the kernel discards SIGTSTP for orphaned
groups), and /dev/tty opens in the child.

Prints ONE JSON object on stdout:

  code            exit code; 128+N when killed by signal N (as sh reports)
  signal          signal number that killed it, or null
  signal_name     its name ("SIGUSR1"), or null
  output          everything written to the terminal (UTF-8, bad bytes
                  replaced; the terminal turns "\n" into "\r\n")
  echo_on_after   ECHO flag of the terminal, read with tcgetattr on the slave
  icanon_on_after ICANON flag likewise; both are read after the command has
                  exited, from a slave fd this process kept open: the proof
                  that the command put the terminal back
  error           null, or what went wrong (a step timed out, ...); the
                  command is then killed and everything else still reported

Every wait is bounded; the driver never hangs longer than the sum of the
step timeouts plus the exit timeout.
"""

import fcntl
import json
import os
import select
import signal
import struct
import sys
import termios
import time

QUIET = 0.1  # output drained after exit until this long without new bytes


class StepFailed(Exception):
    pass


class Terminal:
    """The parent's side: master fd for I/O, slave fd kept for tcgetattr."""

    def __init__(self, columns=0, rows=0):
        self.master, self.slave = os.openpty()
        if columns or rows:
            size = struct.pack("HHHH", rows or 24, columns or 80, 0, 0)
            fcntl.ioctl(self.slave, termios.TIOCSWINSZ, size)
        os.set_blocking(self.master, False)
        self.output = bytearray()
        self.mark = 0  # expect searches from here on

    def pump(self, wait):
        """Read what the command wrote, waiting at most `wait` seconds."""
        ready, _, _ = select.select([self.master], [], [], max(wait, 0))
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # EIO: no slave open any more
            return False
        self.output += data
        return bool(data)

    def send(self, data, deadline):
        """Write without ever blocking: keep reading while the input queue
        is full, or a command echoing what it reads would deadlock with us."""
        while data:
            if time.monotonic() > deadline:
                raise StepFailed("timed out sending input")
            _, writable, _ = select.select([], [self.master], [], 0.05)
            if writable:
                try:
                    n = os.write(self.master, data)
                    data = data[n:]
                except BlockingIOError:
                    pass
            self.pump(0)

    def lflag(self):
        return termios.tcgetattr(self.slave)[3]


def signal_number(name):
    name = name.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    return getattr(signal, name)


def process_state(pid):
    """One-letter state from /proc/<pid>/stat ('T' stopped), None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def start(spec, term):
    """Fork the session leader ("shell"); it forks the command. Returns the
    shell's pid and a pipe that carries the command's pid, then its status."""
    report_r, report_w = os.pipe()
    shell = os.fork()
    if shell == 0:
        try:
            os.close(report_r)
            os.close(term.master)
            os.setsid()
            fcntl.ioctl(term.slave, termios.TIOCSCTTY, 0)
            child = os.fork()
            if child == 0:
                exec_command(spec, term.slave, report_w)
            try:
                os.setpgid(child, child)  # both sides set it: no race
            except OSError:
                pass
            os.write(report_w, b"%d\n" % child)
            _, status = os.waitpid(child, 0)
            os.write(report_w, b"%d\n" % status)
        finally:
            os._exit(0)
    os.close(report_w)
    return shell, report_r


def exec_command(spec, slave, report_w):
    """In the command's process: own group, foreground on the terminal."""
    try:
        os.close(report_w)
        os.setpgid(0, 0)
        if not spec.get("background"):
            # a background group may only take the terminal with SIGTTOU ignored
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            os.tcsetpgrp(slave, os.getpid())
        # exec keeps ignored signals ignored: give the command the defaults
        for sig in (signal.SIGTTOU, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        if spec.get("cwd"):
            os.chdir(spec["cwd"])
        argv = spec["argv"]
        os.execve(argv[0], argv, spec.get("env", {}))
    except BaseException as e:  # noqa: B036 - nothing may escape a forked child
        try:
            os.write(2, ("pty_run: cannot run %r: %s\n" % (spec["argv"], e)).encode())
        finally:
            os._exit(127)


class Run:
    def __init__(self, spec):
        self.spec = spec
        self.timeout = float(spec.get("timeout", 5))
        self.term = Terminal(int(spec.get("columns", 0)), int(spec.get("rows", 0)))
        self.shell, self.report = start(spec, self.term)
        self.report_buf = b""
        self.pid = None
        self.status = None

    def read_report(self, deadline):
        """Next line from the shell (the pid, then the wait status)."""
        while b"\n" not in self.report_buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.term.pump(0)
            ready, _, _ = select.select([self.report, self.term.master], [], [], min(left, 0.05))
            if self.report in ready:
                data = os.read(self.report, 64)
                if not data:
                    return None
                self.report_buf += data
        line, self.report_buf = self.report_buf.split(b"\n", 1)
        return int(line)

    def wait_for(self, what, test, timeout):
        deadline = time.monotonic() + timeout
        while not test():
            if time.monotonic() > deadline:
                raise StepFailed("timed out waiting for " + what)
            self.term.pump(0.02)

    def step(self, step):
        timeout = float(step.get("timeout", self.timeout))
        if "expect" in step:
            text = step["expect"].encode()

            def found():
                at = self.term.output.find(text, self.term.mark)
                if at < 0:
                    return False
                self.term.mark = at + len(text)
                return True
            self.wait_for("%r" % step["expect"], found, timeout)
        elif "send" in step:
            self.term.send(step["send"].encode(), time.monotonic() + timeout)
        elif "signal" in step:
            os.kill(self.pid, signal_number(step["signal"]))
        elif "expect_echo" in step:
            want = bool(step["expect_echo"])
            self.wait_for("echo %s" % ("on" if want else "off"),
                          lambda: bool(self.term.lflag() & termios.ECHO) == want, timeout)
        elif "expect_stopped" in step:
            want = bool(step["expect_stopped"])
            self.wait_for("the command to be %s" % ("stopped" if want else "running"),
                          lambda: (process_state(self.pid) == "T") == want, timeout)
        elif "expect_file" in step:
            path = step["expect_file"]
            self.wait_for("the file %s" % path, lambda: os.path.exists(path), timeout)
        elif "sleep" in step:
            deadline = time.monotonic() + float(step["sleep"])
            while time.monotonic() < deadline:
                self.term.pump(deadline - time.monotonic())
        else:
            raise StepFailed("unknown step %s" % json.dumps(step))

    def kill(self):
        """SIGKILL the command's group and collect its status from the
        shell; the shell itself only if it does not report in time."""
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.status = self.read_report(time.monotonic() + self.timeout)
        if self.status is None:
            try:
                os.kill(self.shell, signal.SIGKILL)
            except OSError:
                pass

    def run(self):
        error = None
        try:
            self.pid = self.read_report(time.monotonic() + self.timeout)
            if self.pid is None:
                raise StepFailed("the command did not start")
            for step in self.spec.get("steps", []):
                self.step(step)
            self.status = self.read_report(time.monotonic() + float(self.spec.get("exit_timeout", self.timeout)))
            if self.status is None:
                raise StepFailed("timed out waiting for the command to exit")
        except StepFailed as e:
            error = str(e)
        except OSError as e:
            error = "driver: %s" % e
        if self.status is None:
            self.kill()
        os.waitpid(self.shell, 0)
        # what was written just before exit may still be on its way
        deadline = time.monotonic() + 2
        while self.term.pump(QUIET) and time.monotonic() < deadline:
            pass
        lflag = self.term.lflag()
        code, sig, sig_name = None, None, None
        if self.status is not None:
            if os.WIFSIGNALED(self.status):
                sig = os.WTERMSIG(self.status)
                code = 128 + sig
                try:
                    sig_name = signal.Signals(sig).name
                except ValueError:
                    sig_name = "SIG%d" % sig
            else:
                code = os.WEXITSTATUS(self.status)
        return {
            "code": code,
            "signal": sig,
            "signal_name": sig_name,
            "output": self.term.output.decode("utf-8", "replace"),
            "echo_on_after": bool(lflag & termios.ECHO),
            "icanon_on_after": bool(lflag & termios.ICANON),
            "error": error,
        }


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: pty_run.py SPEC.json\n")
        return 2
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    result = Run(spec).run()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
