"""PgBouncer in transaction pooling mode on a free port, in front of a PostgreSQL server; a context manager.

What Heroku, Supabase and most managed PostgreSQL put in front of the database. Started as a process of
its own (never the system's pgbouncer service), with its config, log and pid file in a folder of its own.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.servers import free_port


def pgbouncer_binary():
    """The pgbouncer executable (Debian puts it in /usr/sbin, often off a user's PATH), or None."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


class PgBouncer:
    """PgBouncer pooling transactions for every database of server_url's PostgreSQL (trust auth)."""

    def __init__(self, server_url, pool_size=20):
        self.server = make_url(server_url)
        self.port = free_port()
        self.pool_size = pool_size
        self.folder = None
        self.process = None

    def url_for(self, database_url):
        """database_url with its host and port turned to this PgBouncer's."""
        return (
            make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        )

    def start(self, timeout=10):
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
        # Readable by the user pgbouncer drops to when started as root (it refuses to run as root).
        self.folder = Path(tempfile.mkdtemp(prefix="phoenix-pgbouncer-"))
        self.folder.chmod(0o755)
        user = self.server.username or "postgres"
        (self.folder / "userlist.txt").write_text(f'"{user}" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={self.server.host or '127.0.0.1'} port={self.server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.folder / 'userlist.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {self.pool_size}\nmax_client_conn = 500\n"
            "server_reset_query =\n"
        )
        for path in self.folder.iterdir():
            path.chmod(0o644)
        command = [binary, str(config)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        self.log = open(self.folder / "pgbouncer.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.read_log()
                self.stop()
                raise RuntimeError(f"pgbouncer exited at start: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on {self.port} within {timeout} s")

    def read_log(self):
        try:
            return (self.folder / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
            self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
