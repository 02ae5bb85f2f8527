"""Slow clients against a running Phoenix: connections that send their headers, or their bodies, a byte at a
time, while a normal client is timed. What chose the worker class (README, "Serving in production").

Run: .venv/bin/python -m bench.slowclients
compares, on a SQLite Phoenix of its own, the old sync setup, gthread and gevent (phoenix.server), each under
gunicorn.conf.py with the worker settings overridden through GUNICORN_CMD_ARGS, with 200 header tricklers
and 40 body tricklers; then keep-alive (two requests on one connection) for each.
"""

import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import orjson

from bench.servers import ROOT, VENV_BIN, Gunicorn

SETUPS = {
    "sync, 2 x CPUs + 1 workers (before)": f"--worker-class sync --workers {(os.cpu_count() or 1) * 2 + 1}",
    "gthread, 1 worker a CPU x 32 threads": f"--worker-class gthread --threads 32 --workers {os.cpu_count() or 1}",
    "gevent (phoenix.server.PhoenixWorker)": "",
}


class Tricklers:
    """headers connections sending a request's headers, bodies connections a POST's body, one byte each
    every interval seconds, from one thread; a context manager that closes them all on the way out."""

    def __init__(self, port, key, headers=200, bodies=40, interval=0.5):
        self.port = port
        self.key = key
        self.counts = (headers, bodies)
        self.interval = interval
        self.sockets = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.trickle, daemon=True)

    def open(self, first_bytes):
        connection = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        connection.setblocking(False)
        with contextlib.suppress(OSError):  # a server that refuses at once is measured all the same
            connection.send(first_bytes)
        self.sockets.append(connection)

    def __enter__(self):
        headers, bodies = self.counts
        for n in range(headers):
            self.open(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle-{n}: ".encode())
        for _ in range(bodies):
            self.open(
                f"POST /api/records HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {self.key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode()
            )
        self.thread.start()
        return self

    def trickle(self):
        while not self.stopping.wait(self.interval):
            for connection in self.sockets:
                # Refused (408) or closed: it keeps its place, it just stops costing anything.
                with contextlib.suppress(OSError):
                    connection.send(b"a")

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(5)
        for connection in self.sockets:
            connection.close()


def timed_get(port, path="/health", timeout=5):
    """Seconds one GET on a new connection took, or None if it was not answered within timeout."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return time.monotonic() - started if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def normal_client_under_tricklers(port, key, calls=10, headers=200, bodies=40, pause=0.3):
    """Latencies (None: not answered in 5 s) of a normal client's GETs while the tricklers trickle."""
    with Tricklers(port, key, headers, bodies):
        time.sleep(1)  # let every trickler be accepted, as far as the server accepts them
        latencies = []
        for n in range(calls):
            latencies.append(timed_get(port, "/health" if n % 2 else "/api/records?limit=5"))
            time.sleep(pause)
    return latencies


def keep_alive(port):
    """(statuses, Connection header of the first answer, whether both went over one socket)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health")
        first = connection.getresponse()
        first.read()
        used = connection.sock
        connection.request("GET", "/api/records?limit=1")
        second = connection.getresponse()
        second.read()
        return (first.status, second.status), first.getheader("Connection"), connection.sock is used
    finally:
        connection.close()


def make_key(port, username="trickler"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/api/keys", body=orjson.dumps({"username": username}),
                       headers={"Content-Type": "application/json"})  # fmt: skip
    return orjson.loads(connection.getresponse().read())["api_key"]


def sqlite_phoenix_env(folder):
    """Environment for a Phoenix on a migrated SQLite file in folder, rate limits off."""
    env = {
        "DATABASE_URL": f"sqlite:///{folder}/phoenix.sqlite3",
        "PHOENIX_RATELIMIT_ENABLED": "0",
        "PHOENIX_CONFIG": "production",
    }
    subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, capture_output=True)  # fmt: skip
    return env


def main():
    folder = tempfile.mkdtemp(prefix="phoenix-slowclients-")
    env = sqlite_phoenix_env(folder)
    print(
        f"slow clients, {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} CPUs; 200 header and 40 body"
    )
    print("tricklers (a byte every 0.5 s), 10 normal GETs, one every 0.3 s; new connection each\n")
    print("| setup | answered within 1 s | median s | max s | keep-alive |")
    print("|---|---:|---:|---:|---|")
    for name, args in SETUPS.items():
        setup_env = {**env, "GUNICORN_CMD_ARGS": args}
        with Gunicorn("wsgi:app", env=setup_env, log_path=f"{folder}/gunicorn.log") as server:
            key = make_key(server.port, f"trickler{len(args)}")
            _, connection_header, reused = keep_alive(server.port)
            latencies = normal_client_under_tricklers(server.port, key)
        answered = [latency for latency in latencies if latency is not None]
        within = sum(1 for latency in answered if latency < 1)
        median = f"{statistics.median(answered):.3f}" if answered else "-"
        worst = f"{max(answered):.3f}" if len(answered) == len(latencies) else "> 5 (unanswered)"
        alive = "yes" if reused and connection_header != "close" else f"no (Connection: {connection_header})"
        print(f"| {name} | {within} of {len(latencies)} | {median} | {worst} | {alive} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
