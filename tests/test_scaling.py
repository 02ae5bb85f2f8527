"""Two gunicorn instances on one PostgreSQL and one Redis behave as one Phoenix: one count, one key table."""

import os
import uuid

import pytest

from bench.servers import Gunicorn
from phoenix.auth import KEY_REPLACED, REVOKED_KEY_REFUSED
from tests.live import call


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
    with (
        Gunicorn("wsgi:app", env={**env, "WEB_CONCURRENCY": "2"}, log_path=tmp_path / "gunicorn-a.log") as a,
        Gunicorn("wsgi:app", env={**env, "WEB_CONCURRENCY": "2"}, log_path=tmp_path / "gunicorn-b.log") as b,
    ):
        yield a, b


@pytest.mark.postgresql_only
def test_two_instances_share_one_limit_and_see_a_revoke_at_once(instances):
    a, b = (instance.url for instance in instances)
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
    status, body = call(a, "POST", "/api/records", leaver, {"value1": "after"})
    assert (status, body["message"], body["code"]) == (401, REVOKED_KEY_REFUSED, "key_revoked")

    # Rotated on one instance: the old key is refused by the other at once, the new one accepted.
    status, body = call(a, "POST", "/api/keys", body={"username": f"rotator-{run}"})
    old = body["api_key"]
    status, body = call(b, "POST", "/api/keys/me/rotate", old)
    assert status == 201, body
    new = body["api_key"]
    status, refusal = call(a, "POST", "/api/records", old, {"value1": "old"})
    assert (status, refusal["message"], refusal["code"]) == (401, KEY_REPLACED, "key_rotated")
    assert call(a, "POST", "/api/records", new, {"value1": "new"})[0] == 201
