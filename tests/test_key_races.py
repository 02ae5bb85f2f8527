"""Keys over real sockets on real gunicorn: revoke racing rotate never leaves a working key; a revoke by
prefix, an overlap's end and a missing scope are seen at once by another instance."""

import os
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from bench.servers import Gunicorn
from phoenix.auth import KEY_REPLACED, REVOKED_KEY_REFUSED
from tests.live import request_json as call

RACES = 30


def server_env(db_url):
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "PHOENIX_CONFIG": "production",
        "PHOENIX_RATELIMIT_ENABLED": "0",
        "WEB_CONCURRENCY": "2",
    }


@pytest.fixture
def instances(db_url, tmp_path):
    """Two instances, two sync workers each, on the test's PostgreSQL database."""
    env = server_env(db_url)
    with (
        Gunicorn("wsgi:app", env=env, log_path=tmp_path / "gunicorn-a.log") as a,
        Gunicorn("wsgi:app", env=env, log_path=tmp_path / "gunicorn-b.log") as b,
    ):
        yield a.url, b.url


def working_rows(db_url, username):
    """How many of username's key rows are neither revoked nor rotated away (an overlap counts)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT count(*) FROM authenticationkey WHERE username = :username AND revoked_at IS NULL"
                    " AND (replaced_at IS NULL OR grace_until > now())"
                ),
                {"username": username},
            ).scalar()
    finally:
        engine.dispose()


@pytest.mark.postgresql_only
def test_revoke_racing_rotate_with_the_same_key_never_leaves_a_working_key(instances, db_url):
    a, b = instances
    run = uuid.uuid4().hex[:8]
    outcomes = []
    for n in range(RACES):
        username = f"racer-{run}-{n}"
        status, _, body = call(a, "POST", "/api/keys", body={"username": username})
        assert status == 201, body
        key = body["api_key"]
        # Half the races rotate with an overlap: the old key then still signs the revoke after the
        # rotation commits, the case where the revoke must reach the rotation's new key.
        rotation = {"grace_seconds": 60} if n % 2 else {}
        answers = {}
        start = threading.Barrier(2)

        def revoke(key=key, answers=answers, start=start):
            start.wait()
            answers["revoke"] = call(a, "DELETE", "/api/keys/me", key)

        def rotate(key=key, answers=answers, start=start, rotation=rotation):
            start.wait()
            answers["rotate"] = call(b, "POST", "/api/keys/me/rotate", key, rotation)

        threads = [threading.Thread(target=revoke), threading.Thread(target=rotate)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        revoked, rotated = answers["revoke"], answers["rotate"]
        outcomes.append((revoked[0], rotated[0]))
        assert revoked[0] in (200, 401), revoked
        assert rotated[0] in (201, 401, 409), rotated
        if revoked[0] != 200:
            continue  # the rotation won outright (and the old key was gone before the revoke was checked)
        # The revoke answered "revoked": no key of that lineage may work, on either instance.
        assert revoked[2]["key"]["state"] == "revoked"
        for base in (a, b):
            assert call(base, "GET", "/api/keys/me", key)[0] == 401
            if rotated[0] == 201:
                status, _, body = call(base, "POST", "/api/records", rotated[2]["api_key"], {"value1": "x"})
                assert (status, body.get("message")) == (401, REVOKED_KEY_REFUSED), (n, outcomes[-1])
        assert working_rows(db_url, username) == 0, (n, outcomes[-1])
    # The races did run both ways: a rotation that committed before the revoke and one refused after it.
    assert (200, 201) in outcomes, outcomes
    assert any(revoke == 200 and rotate != 201 for revoke, rotate in outcomes), outcomes


@pytest.mark.postgresql_only
def test_another_instance_sees_a_revoke_by_prefix_an_overlaps_end_and_scopes_at_once(instances):
    a, b = instances
    run = uuid.uuid4().hex[:8]
    status, _, body = call(a, "POST", "/api/keys", body={"username": f"fleet-{run}"})
    assert status == 201, body
    admin = body["api_key"]

    # A records-only key: refused on games, with the scope named, by the other instance.
    status, _, body = call(a, "POST", "/api/account/keys", admin, {"name": "ci", "scopes": ["records:write"]})
    assert status == 201, body
    ci = body["api_key"]
    assert call(b, "POST", "/api/records", ci, {"value1": "ci"})[0] == 201
    status, headers, body = call(b, "POST", "/api/games", ci, {"name": "x"})
    assert (status, body["code"], headers["X-Accepted-Scopes"]) == (403, "missing_scope", "games:write")
    assert headers["Content-Type"] == "application/json"

    # Revoked by prefix on one instance: refused on the other on the very next request.
    status, headers, body = call(a, "DELETE", f"/api/account/keys/{ci.rpartition('_')[0]}", admin)
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert call(b, "POST", "/api/records", ci, {"value1": "after"})[2]["message"] == REVOKED_KEY_REFUSED

    # A 3-second overlap: the old key works on the other instance until then, and not after.
    status, _, body = call(a, "POST", "/api/keys/me/rotate", admin, {"grace_seconds": 3})
    assert status == 201, body
    new = body["api_key"]
    started = time.monotonic()
    assert call(b, "POST", "/api/records", admin, {"value1": "overlap"})[0] == 201
    status, _, body = call(b, "GET", "/api/keys/me", admin)
    assert status == 200 and body["key"]["grace_until"] is not None
    assert time.monotonic() - started < 3  # those answers came within the overlap
    time.sleep(max(0.0, 3.3 - (time.monotonic() - started)))
    status, _, body = call(b, "POST", "/api/records", admin, {"value1": "late"})
    assert (status, body["message"]) == (401, KEY_REPLACED)
    assert call(b, "POST", "/api/records", new, {"value1": "new"})[0] == 201
