"""Servers under test: gunicorn with Phoenix's settings (gunicorn.conf.py) on a free port, and their workers.

Shared by every harness that drives a real server (the benchmark; a soak test can start the same way).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """One gunicorn master serving app (e.g. "wsgi:app") with gunicorn.conf.py; a context manager.

    env is added to this process's environment; the log (gunicorn's stderr: access log included, as in
    production) goes to log_path. root is the checkout served (its code and its gunicorn.conf.py): this
    one, unless another is named (bench.compare serves two revisions).
    """

    def __init__(self, app, env=None, log_path=None, ready_path="/health", root=ROOT):
        self.app = app
        self.root = Path(root)
        self.port = free_port()
        self.env = {**os.environ, **(env or {}), "PORT": str(self.port), "PYTHONPATH": str(self.root)}
        self.log_path = Path(log_path or os.devnull)
        self.ready_path = ready_path
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process, in stop)
        command = [
            str(VENV_BIN / "gunicorn"), "-c", str(self.root / "gunicorn.conf.py"), "--bind", self.bind,
            "--no-control-socket",  # gunicorn's default control socket path is one per user: shared
            self.app,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=log, stderr=log)
        self.process.log = log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited at start; see {self.log_path}")
            if self.answers() and len(self.worker_pids()) >= self.workers:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.app} did not answer on {self.url} within {timeout} s; see {self.log_path}")

    @property
    def bind(self):
        # The port is ours: gunicorn.conf.py would bind 0.0.0.0 for a PORT, but a benchmark stays local.
        return f"127.0.0.1:{self.port}"

    @property
    def workers(self):
        return int(self.env.get("WEB_CONCURRENCY") or os.cpu_count() or 1)

    def answers(self):
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as response:
                return response.status < 500
        except (OSError, urllib.error.URLError):
            return False

    def worker_pids(self):
        """The pids of the master's children (its workers), from /proc."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def worker_rss_mb(self):
        """Each worker's resident memory, in MB."""
        sizes = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return sizes

    def stop(self, timeout=15):
        if self.process is None:
            return
        self.process.terminate()  # gunicorn's graceful shutdown
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.log.close()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
