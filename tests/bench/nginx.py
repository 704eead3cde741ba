"""nginx for the benchmarks: started unprivileged from a throwaway directory,
with a throwaway certificate and a port the kernel picked, configured from
tests/bench/nginx.conf.in (the one template).

    server = nginx.Nginx(tmp, files={"ok.json": b'{"ok": true}'}, http2=False)
    server.url, server.cert, server.pid (nginx's; it runs under timeout(1),
                                    for `lifetime` seconds at most)
    mark = server.mark()            # where the access log is now
    ... run a client ...
    lines = server.since(mark, n)   # its access-log lines (waits for n of them)
    connections(lines), sent(lines)
    server.stop()

The access log (format "bench" in the template) names, for each request,
the connection that carried it ($connection), so connections are counted
at the server, and the bytes nginx put on the wire ($bytes_sent).
"""
import os
import shutil
import socket
import subprocess
import sys
import time

import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "nginx.conf.in")


def free_port():
    """A port nothing listens on now (start() tries another if nginx loses it)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def read_pid(path):
    """The pid in nginx's pid file, or None while it is not written yet."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


class Line:
    __slots__ = ("connection", "connection_requests", "status", "bytes_sent", "body_bytes", "protocol", "uri")

    def __init__(self, text):
        f = text.split(" ", 6)
        self.connection, self.connection_requests, self.status = int(f[0]), int(f[1]), int(f[2])
        self.bytes_sent, self.body_bytes, self.protocol, self.uri = int(f[3]), int(f[4]), f[5], f[6]


def connections(lines):
    """How many connections carried these requests."""
    return len({ln.connection for ln in lines})


def sent(lines):
    """Bytes nginx sent for these requests, headers included."""
    return sum(ln.bytes_sent for ln in lines)


class Nginx:
    def __init__(self, tmp, files=None, http2=False, name="nginx", lifetime=1800):
        self.nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
        if not self.nginx:
            sys.exit(f"{os.path.basename(sys.argv[0])}: nginx not found (./setup.sh deps installs it)")
        self.dir = os.path.join(tmp, name)
        www = os.path.join(self.dir, "www")
        os.makedirs(www)
        os.makedirs(os.path.join(self.dir, "tmp"))
        for fname, content in (files or {}).items():
            with open(os.path.join(www, fname), "wb") as f:
                f.write(content)
        self.cert, self.key = benchlib.certificate(self.dir)
        self.log = os.path.join(self.dir, "access.log")
        with open(TEMPLATE) as f:
            template = f.read()
        for _ in range(5):
            port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            text = template
            for k, v in {"DIR": self.dir, "PORT": str(port), "CERT": self.cert, "KEY": self.key,
                         "HTTP2": "http2" if http2 else ""}.items():
                text = text.replace(f"@{k}@", v)
            with open(conf, "w") as f:
                f.write(text)
            err = open(os.path.join(self.dir, "stderr.log"), "wb")
            # under timeout(1): an nginx that a killed benchmark forgets ends anyway
            self.proc = subprocess.Popen([benchlib.which("timeout"), str(lifetime), self.nginx, "-p", self.dir,
                                          "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            err.close()
            for _ in range(200):
                pid = read_pid(os.path.join(self.dir, "nginx.pid"))
                if pid and listening(port):
                    self.pid = pid  # nginx's own (for its CPU time), not timeout's
                    self.port = port
                    self.url = f"https://127.0.0.1:{port}"
                    return
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            self.stop()
        with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
            sys.exit(f"{os.path.basename(sys.argv[0])}: nginx did not start: {f.read()[-500:]}")

    def mark(self):
        return os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def since(self, mark, expect=None, wait=5.0):
        """The access-log lines written after mark; with expect, waits (up to
        `wait` s) until there are that many: nginx logs a request once it has
        handed the last byte to the kernel, which can be just after the
        client has read it and exited."""
        deadline = time.monotonic() + wait
        while True:
            with open(self.log, "rb") as f:
                f.seek(mark)
                data = f.read()
            lines = [Line(t) for t in data.decode().splitlines()]
            if expect is None or len(lines) >= expect or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
