"""Two gunicorn instances on one PostgreSQL and one Redis behave as one Phoenix: one count, one key table."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from phoenix.auth import KEY_REPLACED, KEY_REVOKED

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base, method, path, key=None, body=None):
    """(status, JSON body) of one request to a running instance."""
    headers = {"api-key": key} if key else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Instance:
    """One gunicorn instance of Phoenix with two workers, on a free port; its output goes to a log file."""

    def __init__(self, env, log_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [
            *(sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"),
            *("--bind", f"127.0.0.1:{self.port}", "--workers", "2"),
            # gunicorn's control socket defaults to one path per user: two instances would fight over it.
            "--no-control-socket",
            "wsgi:app",
        ]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_until_ready(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if call(self.base, "GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"gunicorn on port {self.port} did not start:\n{self.log_path.read_text()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def instances(db_url, redis_url, redis_prefix, tmp_path):
    """Two instances sharing the test's PostgreSQL database and Redis (under a key prefix of this test's)."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PHOENIX_CONFIG": "production",
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
        "PHOENIX_RATELIMIT_ENABLED": "1",
        "PHOENIX_RATELIMIT_KEYS": "100/hour",
        "PHOENIX_RATELIMIT_WRITES": "5/minute",
        "PHOENIX_RATELIMIT_READS": "1000/minute",
        "PHOENIX_TRUSTED_PROXIES": "0",
    }
    started = []
    try:
        for name in ("a", "b"):
            started.append(Instance(env, tmp_path / f"gunicorn-{name}.log"))
        for instance in started:
            instance.wait_until_ready()
        yield started
    finally:
        for instance in started:
            instance.stop()


@pytest.mark.postgresql_only
def test_two_instances_share_one_limit_and_see_a_revoke_at_once(instances):
    a, b = (instance.base for instance in instances)
    run = uuid.uuid4().hex[:8]

    # One write limit (5 a minute) for a key, counted across both instances and all their workers.
    status, body = call(a, "POST", "/api/keys", body={"username": f"busy-{run}"})
    assert status == 201, body
    busy = body["api_key"]
    for n in range(5):
        status, body = call(a if n % 2 else b, "POST", "/api/records", busy, {"value2": n})
        assert status == 201, body
    for base in (a, b):
        status, body = call(base, "POST", "/api/records", busy, {"value2": 9})
        assert status == 429, body
        assert body["status"] == "failed"

    # Revoked on one instance, refused by the other on the very next request.
    status, body = call(b, "POST", "/api/keys", body={"username": f"leaver-{run}"})
    leaver = body["api_key"]
    assert call(a, "POST", "/api/records", leaver, {"value1": "before"})[0] == 201
    assert call(b, "DELETE", "/api/keys/me", leaver)[0] == 200
    assert call(a, "POST", "/api/records", leaver, {"value1": "after"}) == (
        401,
        {"status": "failed", "message": KEY_REVOKED},
    )

    # Rotated on one instance: the old key is refused by the other at once, the new one accepted.
    status, body = call(a, "POST", "/api/keys", body={"username": f"rotator-{run}"})
    old = body["api_key"]
    status, body = call(b, "POST", "/api/keys/me/rotate", old)
    assert status == 201, body
    assert call(a, "POST", "/api/records", old, {"value1": "old"}) == (
        401,
        {"status": "failed", "message": KEY_REPLACED},
    )
    assert call(a, "POST", "/api/records", body["api_key"], {"value1": "new"})[0] == 201
