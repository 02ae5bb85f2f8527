"""Start and stop gunicorn serving an app, for the benchmark and the soak: port, workers, readiness."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from bench.pgtemp import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)


def flask_command(*args, env):
    """Run `flask --app wsgi ...` in the project with env; raise if it fails."""
    subprocess.run([os.path.join(VENV_BIN, "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True)


class Gunicorn:
    """gunicorn with the project's gunicorn.conf.py, on a free port of 127.0.0.1."""

    def __init__(self, app="wsgi:app", env=None, workers=None, log=os.devnull):
        self.app = app
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        if workers:
            self.env["WEB_CONCURRENCY"] = str(workers)
        self.env["PORT"] = str(self.port)
        self.log = log
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path="/health", timeout=30):
        command = [
            os.path.join(VENV_BIN, "gunicorn"),
            "-c", os.path.join(ROOT, "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.port}",
            "--access-logfile", "-" if self.log != os.devnull else os.devnull,
            self.app,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer on {self.url}{ready_path} within {timeout} s")

    def worker_pids(self):
        """The pids of the master's worker processes, as they are now."""
        listing = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in listing.stdout.split()]

    def worker_rss_mb(self):
        """Resident memory of each worker, in MB."""
        sizes = []
        for pid in self.worker_pids():
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            sizes.append(int(line.split()[1]) / 1024)
            except FileNotFoundError:
                continue
        return sizes

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
