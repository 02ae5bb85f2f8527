"""API keys: creation (POST /api/keys, GET/POST /api/generate_key/<username>), storage, lifecycle, expiry."""

import hashlib
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import phoenix.models
from phoenix import create_app
from phoenix.auth import KEY_EXPIRED, KEY_REPLACED, NOT_AUTHENTICATED, REVOKED_KEY_REFUSED
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, Record, utcnow
from phoenix.resources.keys import KEY_ROTATED


@contextmanager
def counted_statements(app):
    """The SQL statements the app sends while the block runs."""
    statements = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("post", "/api/keys", {"json": {"username": "sumit"}}),
        ("get", "/api/generate_key/sumit", {}),
        ("post", "/api/generate_key/sumit", {}),
    ],
)
def test_key_creation_is_201_shown_once_and_not_cached(client, rows, method, url, kwargs):
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "success"
    assert body["message"] == "Congrats! Your API Key has been created!"
    assert body["username"] == "sumit"
    assert datetime.fromisoformat(body["created_on"]).utcoffset().total_seconds() == 0
    # At least 128 bits: 22 or more URL-safe base64 characters.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", body["api_key"])
    assert response.headers["Cache-Control"] == "no-store"
    [stored] = rows(AuthenticationKey)
    assert stored.username == "sumit"


def test_every_key_is_different(client):
    keys = {client.post("/api/keys", json={"username": f"user{n}"}).json["api_key"] for n in range(5)}
    assert len(keys) == 5


def test_key_works_for_writes(client, make_key):
    key = make_key("falcon")
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": key})
    assert response.json["record"]["lastmodifiedby"] == "falcon"


@pytest.mark.parametrize("taken", ["sumit", "SUMIT", "Sumit"])
def test_taken_username_is_409_whatever_its_case(client, rows, taken):
    assert client.get("/api/generate_key/sumit").status_code == 201
    for response in (
        client.get(f"/api/generate_key/{taken}"),
        client.post("/api/keys", json={"username": taken}),
    ):
        assert response.status_code == 409
        assert response.json == {
            "status": "failed",
            "message": "The username you are trying to register has been already used!",
            "code": "username_taken",
            "request_id": response.headers["X-Request-ID"],
        }
    assert [key.username for key in rows(AuthenticationKey)] == ["sumit"]


@pytest.mark.parametrize("username", ["a b", "x" * 65, "caf\u00e9", "semi;colon", "new\nline", "a\x00"])
def test_invalid_username_is_400(client, rows, username):
    response = client.post("/api/keys", json={"username": username})
    assert response.status_code == 400
    assert list(response.json["errors"]) == ["username"]
    assert rows(AuthenticationKey) == []


def test_invalid_username_in_the_url_is_400(client, rows):
    response = client.get("/api/generate_key/" + "x" * 65)
    assert response.status_code == 400
    assert "username" in response.json["errors"]
    assert rows(AuthenticationKey) == []


def test_longest_username_is_accepted(client):
    assert client.post("/api/keys", json={"username": "x" * 64}).status_code == 201


def test_key_request_without_username_is_400(client, rows):
    response = client.post("/api/keys", json={})
    assert response.status_code == 400
    assert response.json["errors"] == {"username": ["Missing data for required field."]}
    assert rows(AuthenticationKey) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"api-key": ""},
        {"api-key": "x" * 1000},
        {"api-key": "caf\u00e9"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
def test_strange_keys_are_401_not_500(client, headers):
    response = client.post("/api/records", json={"value1": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- Format and storage -------------------------------------------------------------------------


def test_a_key_is_a_prefix_and_a_256_bit_secret_of_which_only_a_digest_is_kept(client, rows, stored_anywhere):
    body = client.post("/api/keys", json={"username": "sumit"}).json
    match = re.fullmatch(r"(phx_[0-9a-f]{16})_([0-9A-Za-z]{43})", body["api_key"])
    assert match
    prefix, secret = match.groups()
    assert body["prefix"] == prefix
    [stored] = rows(AuthenticationKey)
    assert (stored.prefix, stored.secret_hash) == (prefix, hashlib.sha256(secret.encode()).hexdigest())
    assert stored_anywhere(secret) == []
    assert stored_anywhere(body["api_key"]) == []


def test_the_storage_search_finds_what_is_stored(client, stored_anywhere):
    # The proof that "stored nowhere" above can fail: a username is stored, in its column and on disk.
    client.post("/api/keys", json={"username": "conspicuous-name"})
    places = stored_anywhere("conspicuous-name")
    assert "authenticationkey.username" in places
    assert any(place.startswith("file: ") for place in places)


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_401(client, api_key):
    prefix, _, secret = api_key.rpartition("_")
    wrong = prefix + "_" + ("A" if secret[0] != "A" else "B") + secret[1:]
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": wrong})
    assert response.status_code == 401
    assert response.json["message"] == NOT_AUTHENTICATED


def test_the_key_is_found_with_one_query_by_its_prefix(app, client, auth):
    assert client.post("/api/records", json={"value1": "first use"}, headers=auth).status_code == 201
    with counted_statements(app) as statements:
        assert client.post("/api/records", json={"value1": "x"}, headers=auth).status_code == 201
    key_queries = [s for s in statements if "FROM authenticationkey" in s]
    assert len(key_queries) == 1
    assert "authenticationkey.prefix = " in key_queries[0]


# --- /api/keys/me: read, revoke, rotate ----------------------------------------------------------


def test_own_key_shows_its_details_and_never_its_secret(client, api_key, rows):
    response = client.get("/api/keys/me", headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200
    [stored] = rows(AuthenticationKey)
    assert response.json == {
        "status": "success",
        "key": {
            "username": "tester",
            "name": "default",
            "scopes": ["records:write", "games:write", "keys:manage"],
            "prefix": stored.prefix,
            "state": "active",
            "created_on": stored.created_on.isoformat(timespec="microseconds"),
            "last_used_at": stored.last_used_at.isoformat(timespec="microseconds"),
            "expires_at": None,
            "grace_until": None,
        },
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert api_key.rpartition("_")[2] not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "url"), [("get", "/api/keys/me"), ("delete", "/api/keys/me"), ("post", "/api/keys/me/rotate")]
)
def test_own_key_routes_need_a_key(client, rows, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 401
    assert response.json == {
        "status": "failed",
        "message": NOT_AUTHENTICATED,
        "code": "not_authenticated",
        "request_id": response.headers["X-Request-ID"],
    }
    assert rows(AuthenticationKey) == []


def test_revoke_takes_effect_on_the_next_request(client, auth, rows):
    response = client.delete("/api/keys/me", headers=auth)
    assert response.status_code == 200
    assert response.json["status"] == "success"
    assert response.json["message"] == (
        "Your API key has been revoked: it no longer works. The username tester stays reserved."
    )
    assert response.json["key"]["username"] == "tester"
    [stored] = rows(AuthenticationKey)
    assert stored.revoked_at is not None
    for attempt in (
        client.post("/api/records", json={"value1": "x"}, headers=auth),
        client.get("/api/keys/me", headers=auth),
        client.delete("/api/keys/me", headers=auth),
        client.post("/api/create", json={"value1": "x"}, headers=auth),
    ):
        assert attempt.status_code == 401
        assert attempt.json == {
            "status": "failed",
            "message": REVOKED_KEY_REFUSED,
            "code": "key_revoked",
            "request_id": attempt.headers["X-Request-ID"],
        }
        assert attempt.headers["WWW-Authenticate"].startswith("Bearer")
    assert rows(Record) == []


@pytest.mark.parametrize("taken", ["tester", "TESTER"])
def test_a_revoked_username_stays_taken(client, auth, rows, taken):
    assert client.delete("/api/keys/me", headers=auth).status_code == 200
    response = client.post("/api/keys", json={"username": taken})
    assert response.status_code == 409
    assert response.json["message"] == "The username you are trying to register has been already used!"
    assert len(rows(AuthenticationKey)) == 1


def test_rotate_gives_a_new_key_and_the_old_one_stops_on_the_next_request(
    client, auth, rows, stored_anywhere
):
    response = client.post("/api/keys/me/rotate", headers=auth)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Location"].endswith("/api/keys/me")
    body = response.json
    assert body["status"] == "success"
    assert body["username"] == "tester"
    assert body["message"] == KEY_ROTATED
    new_key = body["api_key"]
    assert new_key != auth["api-key"] and new_key.startswith(body["prefix"] + "_")

    old = client.post("/api/records", json={"value1": "old"}, headers=auth)
    assert old.status_code == 401
    assert old.json == {
        "status": "failed",
        "message": KEY_REPLACED,
        "code": "key_rotated",
        "request_id": old.headers["X-Request-ID"],
    }
    new = client.post("/api/records", json={"value1": "new"}, headers={"api-key": new_key})
    assert new.status_code == 201
    assert new.json["record"]["lastmodifiedby"] == "tester"

    old_row, new_row = rows(AuthenticationKey)
    assert old_row.replaced_at is not None and new_row.replaced_at is None
    assert (old_row.username, new_row.username, new_row.prefix) == ("tester", "tester", body["prefix"])
    assert [r.value1 for r in rows(Record)] == ["new"]
    assert stored_anywhere(new_key.rpartition("_")[2]) == []
    assert stored_anywhere(auth["api-key"].rpartition("_")[2]) == []


def test_a_rotated_username_stays_taken_and_can_rotate_again(client, auth, rows):
    second = client.post("/api/keys/me/rotate", headers=auth).json["api_key"]
    assert client.post("/api/keys", json={"username": "Tester"}).status_code == 409
    third = client.post("/api/keys/me/rotate", headers={"api-key": second})
    assert third.status_code == 201
    assert [row.state() for row in rows(AuthenticationKey)] == ["replaced", "replaced", "active"]


def test_rotate_takes_an_optional_lifetime(client, auth):
    response = client.post("/api/keys/me/rotate", json={"expires_in_days": 7}, headers=auth)
    assert response.status_code == 201
    expires = datetime.fromisoformat(response.json["expires_at"])
    assert timedelta(days=7) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=7)


@pytest.mark.parametrize("body", [{"expires_in_days": 0}, {"expires_in_days": "7"}, {"username": "x"}, [1]])
def test_rotate_with_a_bad_body_is_400_and_keeps_the_key(client, auth, rows, body):
    response = client.post("/api/keys/me/rotate", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json["status"] == "failed"
    assert [row.state() for row in rows(AuthenticationKey)] == ["active"]
    assert client.get("/api/keys/me", headers=auth).status_code == 200


def test_a_revoked_key_cannot_rotate(client, auth, rows):
    client.delete("/api/keys/me", headers=auth)
    response = client.post("/api/keys/me/rotate", headers=auth)
    assert response.status_code == 401
    assert response.json["message"] == REVOKED_KEY_REFUSED
    assert len(rows(AuthenticationKey)) == 1


# --- Expiry ---------------------------------------------------------------------------------------


def expire(app, username):
    """Move the expiry of username's current key into the past, as if its time had come."""
    with app.app_context():
        db.session.execute(
            sa.update(AuthenticationKey)
            .where(AuthenticationKey.username == username, AuthenticationKey.replaced_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_a_key_can_be_made_to_expire(client, rows):
    response = client.post("/api/keys", json={"username": "brief", "expires_in_days": 30})
    assert response.status_code == 201
    [stored] = rows(AuthenticationKey)
    assert response.json["expires_at"] == stored.expires_at.isoformat(timespec="microseconds")
    lifetime = stored.expires_at - stored.created_on
    assert timedelta(days=30) - timedelta(minutes=1) < lifetime <= timedelta(days=30)


def test_an_expired_key_is_401_saying_so(app, client, rows):
    key = client.post("/api/keys", json={"username": "brief", "expires_in_days": 1}).json["api_key"]
    assert client.post("/api/records", json={"value1": "x"}, headers={"api-key": key}).status_code == 201
    expire(app, "brief")
    [stored] = rows(AuthenticationKey)
    for response in (
        client.post("/api/records", json={"value1": "y"}, headers={"api-key": key}),
        client.post("/api/keys/me/rotate", headers={"api-key": key}),
    ):
        assert response.status_code == 401
        assert response.json == {
            "status": "failed",
            "message": KEY_EXPIRED.format(when=stored.expires_at.isoformat(timespec="seconds")),
            "code": "key_expired",
            "request_id": response.headers["X-Request-ID"],
        }
    assert [r.value1 for r in rows(Record)] == ["x"]


def test_a_key_works_until_its_expiry_instant_and_not_at_it(client, rows, monkeypatch):
    """expires_at is the first instant at which the key no longer works (not the last at which it does)."""
    key = client.post("/api/keys", json={"username": "brief", "expires_in_days": 1}).json["api_key"]
    [stored] = rows(AuthenticationKey)
    monkeypatch.setattr(phoenix.models, "utcnow", lambda: stored.expires_at - timedelta(microseconds=1))
    assert client.get("/api/keys/me", headers={"api-key": key}).status_code == 200
    monkeypatch.setattr(phoenix.models, "utcnow", lambda: stored.expires_at)
    response = client.post("/api/records", json={"value1": "late"}, headers={"api-key": key})
    assert response.status_code == 401
    assert response.json == {
        "status": "failed",
        "message": KEY_EXPIRED.format(when=stored.expires_at.isoformat(timespec="seconds")),
        "code": "key_expired",
        "request_id": response.headers["X-Request-ID"],
    }
    assert rows(Record) == []


def test_keys_live_forever_by_default(client):
    assert client.post("/api/keys", json={"username": "forever"}).json["expires_at"] is None


@pytest.mark.parametrize("days", [0, -1, 36501, 1.5, "30", True, None])
def test_a_bad_lifetime_is_400(client, rows, days):
    response = client.post("/api/keys", json={"username": "brief", "expires_in_days": days})
    assert response.status_code == 400
    assert list(response.json["errors"]) == ["expires_in_days"]
    assert rows(AuthenticationKey) == []


class TestMaxAge:
    """PHOENIX_KEY_MAX_AGE_DAYS: the lifetime of keys that ask for none, and the longest one may ask for."""

    @pytest.fixture
    def app_config(self):
        return {"PHOENIX_KEY_MAX_AGE_DAYS": 30}

    @pytest.mark.parametrize(("asked", "lives"), [(None, 30), (7, 7), (30, 30)])
    def test_lifetime(self, client, rows, asked, lives):
        body = {"username": "brief"} if asked is None else {"username": "brief", "expires_in_days": asked}
        assert client.post("/api/keys", json=body).status_code == 201
        [stored] = rows(AuthenticationKey)
        assert timedelta(days=lives) - timedelta(minutes=1) < stored.expires_at - stored.created_on
        assert stored.expires_at - stored.created_on <= timedelta(days=lives)

    def test_a_longer_lifetime_is_400(self, client, rows):
        response = client.post("/api/keys", json={"username": "brief", "expires_in_days": 31})
        assert response.status_code == 400
        assert response.json["errors"] == {
            "expires_in_days": ["Must be at most 30 (this server's PHOENIX_KEY_MAX_AGE_DAYS)."]
        }
        assert rows(AuthenticationKey) == []

    def test_it_applies_to_the_legacy_route_and_to_rotation(self, client, rows):
        key = client.get("/api/generate_key/brief").json["api_key"]
        assert client.post("/api/keys/me/rotate", headers={"api-key": key}).status_code == 201
        for stored in rows(AuthenticationKey):
            assert stored.expires_at - stored.created_on <= timedelta(days=30)


def test_max_age_comes_from_the_environment(monkeypatch, db_url):
    monkeypatch.setenv("PHOENIX_KEY_MAX_AGE_DAYS", "90")
    assert create_app({"SQLALCHEMY_DATABASE_URI": db_url}).config["PHOENIX_KEY_MAX_AGE_DAYS"] == 90
    monkeypatch.setenv("PHOENIX_KEY_MAX_AGE_DAYS", "0")
    with pytest.raises(RuntimeError, match="PHOENIX_KEY_MAX_AGE_DAYS"):
        create_app({"SQLALCHEMY_DATABASE_URI": db_url})


# --- last_used_at ---------------------------------------------------------------------------------


def test_last_used_at_is_written_at_most_once_a_minute(app, client, auth, rows):
    assert rows(AuthenticationKey)[0].last_used_at is None
    with counted_statements(app) as statements:
        for n in range(5):
            assert client.post("/api/records", json={"value2": n}, headers=auth).status_code == 201
    # (On PostgreSQL the UPDATE opens its transaction: "BEGIN; SET LOCAL ...; UPDATE ...", one message.)
    assert len([s for s in statements if "UPDATE authenticationkey" in s]) == 1
    first_use = rows(AuthenticationKey)[0].last_used_at
    assert first_use is not None

    # A minute later (moved back rather than waited for), the next use is written again.
    with app.app_context():
        a_minute_ago = first_use - timedelta(seconds=61)
        db.session.execute(sa.update(AuthenticationKey).values(last_used_at=a_minute_ago))
        db.session.commit()
    assert client.post("/api/records", json={"value2": 9}, headers=auth).status_code == 201
    assert rows(AuthenticationKey)[0].last_used_at > first_use


def test_last_used_at_counts_reads_with_the_key_too(client, auth, rows):
    assert client.get("/api/keys/me", headers=auth).status_code == 200
    assert rows(AuthenticationKey)[0].last_used_at is not None


# --- Closed registration --------------------------------------------------------------------------


class TestClosedRegistration:
    """PHOENIX_OPEN_REGISTRATION=0: no self-service keys; existing keys work and rotate as before."""

    @pytest.fixture
    def app_config(self):
        return {"PHOENIX_OPEN_REGISTRATION": False}

    @pytest.mark.parametrize(
        ("method", "url", "kwargs"),
        [
            ("post", "/api/keys", {"json": {"username": "sumit"}}),
            ("post", "/api/keys", {"json": {"username": "not valid!"}}),
            ("get", "/api/generate_key/sumit", {}),
            ("post", "/api/generate_key/sumit", {}),
        ],
    )
    def test_key_creation_is_403(self, client, rows, method, url, kwargs):
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code == 403
        assert response.json == {
            "status": "failed",
            "message": "Registration is closed on this server: ask its operator for an API key.",
            "code": "registration_closed",
            "request_id": response.headers["X-Request-ID"],
        }
        assert rows(AuthenticationKey) == []

    def test_keys_made_by_the_operator_work_and_rotate(self, client, runner, rows):
        result = runner.invoke(args=["keys", "create", "ops"])
        assert result.exit_code == 0, result.output
        key = result.stdout.strip()
        assert client.post("/api/records", json={"value1": "x"}, headers={"api-key": key}).status_code == 201
        assert client.post("/api/keys/me/rotate", headers={"api-key": key}).status_code == 201


def test_registration_setting_comes_from_the_environment(monkeypatch, db_url):
    monkeypatch.setenv("PHOENIX_OPEN_REGISTRATION", "0")
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url})
    assert app.test_client().post("/api/keys", json={"username": "x"}).status_code == 403
