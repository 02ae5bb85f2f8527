"""A throwaway PostgreSQL server in a temporary folder, to stop and start at will without touching others."""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from bench.servers import free_port


def postgres_bin(name):
    """The path of a PostgreSQL server program (initdb, pg_ctl), wherever the packages put it."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        raise RuntimeError(f"{name} not found: install the PostgreSQL server (apt-get install postgresql)")
    return found[-1]


class TempPostgres:
    """initdb, start, stop, start again, remove: a PostgreSQL of our own on a free port."""

    def __init__(self):
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="phoenix-pg-")
        self.data = os.path.join(self.folder, "data")
        # PostgreSQL refuses to run as root: the server then runs as the postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")

    def run(self, program, *args):
        command = [postgres_bin(program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self):
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self.run(
            "pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.folder, "log"), "-w", "start"
        )

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self):
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.remove()
