"""Abuse resistance against real gunicorn over real sockets: what one hostile client cannot do to others."""

import base64
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import time

import pytest

from bench.servers import Gunicorn
from phoenix import create_app
from phoenix.config import kept_secret
from phoenix.extensions import db
from phoenix.listing import checksum
from phoenix.models import AuthenticationKey, Game, Record
from phoenix.resources.games import GAMES
from phoenix.resources.records import RECORDS
from tests.live import request_json


@pytest.fixture
def serve(db_url, tmp_path):
    """serve(**env): Phoenix under gunicorn (production settings, 2 workers) on the test's database."""
    started = []

    def start(**env):
        settings = {
            "DATABASE_URL": db_url,
            "PHOENIX_CONFIG": "production",
            "WEB_CONCURRENCY": "2",
            "PHOENIX_RATELIMIT_ENABLED": "0",
            **env,
        }
        settings = {name: value for name, value in settings.items() if value is not None}
        server = Gunicorn("wsgi:app", env=settings, log_path=tmp_path / f"gunicorn-{len(started)}.log")
        started.append(server)
        return server.start(timeout=90)  # a busy machine boots workers slowly

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fresh(app):
    """The app fixture's emptied database (its tables truncated), for a server to run on."""
    return app


def test_a_stalled_patch_body_holds_no_lock_while_another_writer_changes_the_item(fresh, serve):
    server = serve()
    status, _, body = request_json(server.url, "POST", "/api/keys", body={"username": "slowpoke"})
    assert status == 201, body
    key = {"api-key": body["api_key"]}
    status, _, body = request_json(server.url, "POST", "/api/records", body={"value1": "first"}, headers=key)
    assert status == 201, body
    item = body["record"]["id"]

    stalled_body = json.dumps({"value1": "the stalled writer late"}).encode()
    assert len(stalled_body) == 37
    head = (
        f"PATCH /api/records/{item} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {key['api-key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 37\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as slow:
        slow.sendall(head + stalled_body[:5])  # 5 of 37 bytes, then nothing
        time.sleep(0.5)  # the worker has the request and waits for the rest

        started = time.monotonic()
        status, _, body = request_json(
            server.url, "PATCH", f"/api/records/{item}", body={"value1": "prompt"}, headers=key
        )
        elapsed = time.monotonic() - started
        assert status == 200, body
        assert body["record"]["value1"] == "prompt"
        assert elapsed < 2, f"the other writer waited {elapsed:.1f} s"

        slow.sendall(stalled_body[5:])  # the stalled client finishes: its change comes after
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    status, headers, body = request_json(server.url, "GET", f"/api/records/{item}")
    assert (status, body["record"]["value1"], headers["ETag"]) == (200, "the stalled writer late", '"3"')


def test_a_stalled_legacy_modify_body_holds_no_lock(fresh, serve):
    server = serve()
    status, _, body = request_json(server.url, "POST", "/api/keys", body={"username": "slowlegacy"})
    key = {"api-key": body["api_key"]}
    status, _, body = request_json(server.url, "POST", "/api/create", body={"value1": "first"}, headers=key)
    assert status == 201, body
    item = body["record_info"]["id"]
    head = (
        f"PATCH /api/modify/{item} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {key['api-key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 37\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as slow:
        slow.sendall(head + b'{"val')
        time.sleep(0.5)
        started = time.monotonic()
        status, _, body = request_json(server.url, "DELETE", f"/api/remove/{item}", headers=key)
        assert (status, body["message"]) == (200, "Your record has been removed!")
        assert time.monotonic() - started < 2
    status, _, _ = request_json(server.url, "GET", f"/api/read/{item}")
    assert status == 404


# --- signed cursors -------------------------------------------------------------------------------------


def signed(app, listing, sort, values):
    """A cursor as this server would sign it, holding whatever values a forger chose."""
    payload = json.dumps([sort, values]).encode()
    with app.app_context():
        tag = checksum(listing, payload)
    return base64.urlsafe_b64encode(payload + tag).decode().rstrip("=")


def old_public_checksum(listing, payload):
    """The checksum cursors carried before they were signed: its key was in the source code."""
    key = b"phoenix listing cursor v1"
    return hashlib.blake2b(payload, key=key, person=listing.name.encode()[:16], digest_size=8).digest()


def assert_bad_cursor(response):
    assert response.status_code == 400, response.json
    assert response.json["errors"] == {"cursor": ["Not valid."]}
    assert response.headers["Content-Type"] == "application/json"


def test_a_cursor_forged_with_the_old_public_key_is_400(client):
    payload = json.dumps(["id", [0]]).encode()
    forged = base64.urlsafe_b64encode(payload + old_public_checksum(RECORDS.listing, payload)).decode()
    assert_bad_cursor(client.get(f"/api/records?cursor={forged.rstrip('=')}"))


@pytest.mark.parametrize(
    ("path", "sort", "values"),
    [
        ("/api/records", "creationdate", ["9999-12-31T23:59:59-14:00", 1]),
        ("/api/records", "creationdate", ["0001-01-01T00:00:00+14:00", 1]),
        ("/api/records", "id", [2**40]),
        ("/api/records", "id", [2**63 - 1]),
        ("/api/games", "year", [2**62, 1]),
        ("/api/games", "id", [-(2**31) - 1]),
    ],
)
def test_a_signed_cursor_with_values_out_of_range_is_400_not_500(app, client, path, sort, values):
    listing = RECORDS.listing if path == "/api/records" else GAMES.listing
    assert_bad_cursor(client.get(f"{path}?sort={sort}&cursor={signed(app, listing, sort, values)}"))


def test_the_cursors_this_server_signs_page_on(app, client, auth):
    for n in range(3):
        client.post("/api/records", json={"value2": n}, headers=auth)
    first = client.get("/api/records?limit=2&sort=creationdate")
    second = client.get(f"/api/records?limit=2&sort=creationdate&cursor={first.json['next_cursor']}")
    assert [r["value2"] for r in first.json["records"] + second.json["records"]] == [0.0, 1.0, 2.0]


def test_a_cursor_signed_under_another_secret_is_400(app, client, db_url, auth):
    client.post("/api/records", json={"value2": 1}, headers=auth)
    client.post("/api/records", json={"value2": 2}, headers=auth)
    other = create_app(
        {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "PHOENIX_SECRET_KEY": "another"}
    )
    cursor = other.test_client().get("/api/records?limit=1").json["next_cursor"]
    assert cursor
    assert_bad_cursor(client.get(f"/api/records?limit=1&cursor={cursor}"))
    with other.app_context():
        db.engine.dispose()


def make_secret(folder, queue):
    queue.put(kept_secret(folder))


def test_workers_starting_together_agree_on_one_kept_secret(tmp_path):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=make_secret, args=(str(tmp_path), queue)) for _ in range(6)]
    for worker in workers:
        worker.start()
    secrets_made = {queue.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)
    assert len(secrets_made) == 1
    (secret,) = secrets_made
    assert len(secret) >= 64
    assert kept_secret(str(tmp_path)) == secret  # kept: a restart reads the same one
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


# --- answers that say no more than they must ------------------------------------------------------------

LIMITED = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "PHOENIX_RATELIMIT_KEYS": "100/hour",
    "PHOENIX_RATELIMIT_WRITES": "100/minute",
    "PHOENIX_RATELIMIT_READS": "3/minute",
}


def limited_app(db_url, **settings):
    return create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **LIMITED, **settings})


def test_every_answer_is_nosniff(client, auth):
    answers = [
        client.get("/api/records"),
        client.post("/api/records", json={"value1": "x"}, headers=auth),
        client.get("/api/records/999"),
        client.get("/api/records?colour=red"),
        client.post("/api/records", data="{", content_type="application/json", headers=auth),
        client.get("/"),
        client.get("/api/openapi.json"),
        client.get("/health"),
    ]
    assert [a.status_code for a in answers] == [200, 201, 404, 400, 400, 200, 200, 200]
    assert all(a.headers["X-Content-Type-Options"] == "nosniff" for a in answers)


def test_every_answer_that_describes_a_key_is_no_store(client, api_key):
    key = {"api-key": api_key}
    answers = [
        client.get("/api/keys/me", headers=key),
        client.get("/api/keys/me"),  # 401
        client.post("/api/keys", json={"username": "tester"}),  # 409
        client.post("/api/keys/me/rotate", headers=key),
    ]
    answers.append(client.delete("/api/keys/me", headers={"api-key": answers[-1].json["api_key"]}))
    assert [a.status_code for a in answers] == [200, 401, 409, 201, 200]
    assert all(a.headers["Cache-Control"] == "no-store" for a in answers)
    assert "Cache-Control" not in client.get("/api/records").headers


def test_retry_after_rides_only_on_429_and_503(db_url):
    app = limited_app(db_url, MAX_CONTENT_LENGTH=100)
    client = app.test_client()
    key = client.post("/api/keys", json={"username": "retry"})
    created = client.post("/api/records", json={"value1": "x"}, headers={"api-key": key.json["api_key"]})
    too_large = client.post(
        "/api/records", json={"value1": "x" * 200}, headers={"api-key": key.json["api_key"]}
    )
    reads = [client.get("/api/records/1") for _ in range(4)]
    assert [r.status_code for r in (key, created, too_large, *reads)] == [201, 201, 413, 200, 200, 200, 429]
    for answer in (key, created, too_large, *reads[:3]):
        assert "Retry-After" not in answer.headers, answer.status_code
    assert all("X-RateLimit-Limit" in answer.headers for answer in (key, created, *reads))
    assert 0 < int(reads[-1].headers["Retry-After"]) <= 60
    with app.app_context():
        db.engine.dispose()


def test_a_503_says_the_seconds_to_wait_for_the_database_not_a_limit_window(tmp_path):
    app = create_app(
        {
            "PHOENIX_CONFIG": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-folder/phoenix.sqlite3",
            **LIMITED,
            "PHOENIX_RATELIMIT_READS": "1000/hour",
        }
    )
    response = app.test_client().get("/api/records/1")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-RateLimit-Limit"] == "1000"


def test_a_megabyte_of_unknown_fields_is_answered_with_fifty(client):
    body = {f"field{n:06d}": n for n in range(40000)}
    body["x" * 5000] = 1
    response = client.post("/api/keys", json=body)
    assert response.status_code == 400
    errors = response.json["errors"]
    assert len(errors) == 50
    assert response.json["message"].endswith(" (and 39952 more). See errors for what each needs.")
    assert len(response.get_data()) < 5000
    assert client.post("/api/keys", json={"username": "afterwards"}).status_code == 201


def test_a_bulk_create_of_invalid_items_names_fifty(client, auth, rows):
    response = client.post("/api/records", json=[{"value2": "no"}] * 300, headers=auth)
    assert response.status_code == 400
    assert list(response.json["errors"]) == [str(n) for n in range(50)]
    assert "49 (and 250 more)" in response.json["message"]
    assert rows(Record) == []


def test_a_query_of_many_unknown_parameters_names_fifty(client):
    query = "&".join(f"p{n:03d}=1" for n in range(120))
    response = client.get(f"/api/records?{query}")
    assert response.status_code == 400
    assert len(response.json["errors"]) == 50
    assert "(and 70 more)" in response.json["message"]


@pytest.mark.parametrize(
    ("settings", "host", "shown"),
    [
        ({}, "evil.example", "API=http://YOUR-PHOENIX-SERVER\n"),
        ({}, "127.0.0.1:5000", "API=http://127.0.0.1:5000\n"),
        ({"PHOENIX_ALLOWED_HOSTS": ["api.example.org"]}, "api.example.org", "API=http://api.example.org\n"),
        ({"PHOENIX_ALLOWED_HOSTS": ["api.example.org"]}, "127.0.0.1", "API=http://YOUR-PHOENIX-SERVER\n"),
        (
            {"PHOENIX_PUBLIC_URL": "https://phoenix.example.org"},
            "evil.example",
            "API=https://phoenix.example.org\n",
        ),
    ],
)
def test_the_landing_page_never_reflects_an_unknown_host(db_url, settings, host, shown):
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **settings})
    page = app.test_client().get("/", headers={"Host": host}).get_data(as_text=True)
    assert shown in page
    assert "evil" not in page


GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}


# --- identity -------------------------------------------------------------------------------------------


def test_two_different_keys_in_one_request_are_400_and_nothing_is_written(client, make_key, rows):
    one, other = make_key("one"), make_key("other")
    response = client.post(
        "/api/records", json={"value1": "x"}, headers={"api-key": one, "Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 400
    assert response.json["code"] == "ambiguous_credentials"
    assert rows(Record) == []
    same = client.post(
        "/api/records", json={"value1": "x"}, headers={"api-key": one, "Authorization": f"Bearer {one}"}
    )
    assert same.status_code == 201
    assert [r.lastmodifiedby for r in rows(Record)] == ["one"]
    own = client.get("/api/keys/me", headers={"api-key": one, "Authorization": f"Bearer {other}"})
    assert (own.status_code, own.json["code"]) == (400, "ambiguous_credentials")
    documented = client.get("/api/openapi.json").json["paths"]["/api/keys/me"]["get"]["responses"]
    assert "400" in documented


@pytest.mark.parametrize("username", ["admin", "Operator", "ROOT", "system", "seed", "Phoenix"])
def test_reserved_usernames_are_refused_to_self_service_whatever_their_case(client, username, rows):
    for response in (
        client.post("/api/keys", json={"username": username}),
        client.get(f"/api/generate_key/{username}"),
    ):
        assert response.status_code == 403, response.json
        assert response.json["code"] == "reserved_username"
    assert rows(AuthenticationKey) == []


def test_the_names_the_operators_commands_stamp_rows_with_are_reserved(app, client, runner, rows, tmp_path):
    csv = tmp_path / "games.csv"
    csv.write_text("Name,Platform,Year,Genre,Publisher\nDoom,PC,1993,Shooter,id\n")
    assert runner.invoke(args=["games", "import", str(csv), "--as", "Curator"]).exit_code == 0
    assert runner.invoke(args=["seed", "records", "3", "--as", "loader"]).exit_code == 0
    for username in ("curator", "CURATOR", "Loader"):
        response = client.post("/api/keys", json={"username": username})
        assert response.status_code == 403, response.json
        assert response.json["code"] == "reserved_username"
    assert rows(AuthenticationKey) == []
    assert client.post("/api/keys", json={"username": "curator2"}).status_code == 201


@pytest.mark.parametrize(
    "name", [" ", "\u200b", " \u200b\u200c\u200d\ufeff ", "\u2060", "\u3164", "\u00a0\u2800", "\u202e"]
)
def test_a_game_name_without_visible_text_is_400(client, auth, rows, name):
    game = {"name": name, "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}
    response = client.post("/api/games", json=game, headers=auth)
    assert response.status_code == 400
    assert response.json["errors"] == {"name": ["Must not be blank."]}
    assert rows(Game) == []


@pytest.mark.parametrize("control", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u061c"])
def test_bidirectional_controls_are_refused_in_game_names_and_usernames(client, auth, rows, control):
    game = {"name": f"evil{control}gnp.exe", "platform": "PC", "publisher": "x", "genre": "y", "year": 1993}
    response = client.post("/api/games", json=game, headers=auth)
    assert response.status_code == 400
    assert list(response.json["errors"]) == ["name"]
    assert "bidirectional" in response.json["errors"]["name"][0]
    assert client.post("/api/keys", json={"username": f"ab{control}c"}).status_code == 400
    assert rows(Game) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_key_creation_from_another_sites_page_is_403(client, rows, headers):
    answers = [
        client.post("/api/keys", json={"username": "victim"}, headers=headers),
        client.get("/api/generate_key/victim", headers=headers),
        client.post("/api/generate_key/victim", headers=headers),
    ]
    for response in answers:
        assert response.status_code == 403, response.json
        assert response.json["code"] == "cross_site"
    assert rows(AuthenticationKey) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, {"Sec-Fetch-Site": "none"}],
)
def test_key_creation_from_scripts_and_this_servers_own_pages_works(client, headers):
    response = client.post("/api/keys", json={"username": "script"}, headers=headers)
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("app_config", [{"CORS_ORIGINS": ["https://app.example"]}])
def test_key_creation_from_an_origin_in_cors_origins_works(client):
    response = client.post("/api/keys", json={"username": "spa"}, headers={"Origin": "https://app.example"})
    assert response.status_code == 201, response.json


def test_an_idempotent_retry_after_a_rotation_replays(client, api_key, rows):
    first = client.post(
        "/api/records",
        json={"value1": "once", "value2": 1},
        headers={"api-key": api_key, "Idempotency-Key": "k1"},
    )
    assert first.status_code == 201
    new_key = client.post("/api/keys/me/rotate", headers={"api-key": api_key}).json["api_key"]
    retry = client.post(
        "/api/records/",
        data='{ "value2": 1,\n  "value1": "once" }',
        content_type="application/json",
        headers={"api-key": new_key, "Idempotency-Key": "k1"},
    )
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json == first.json
    assert len(rows(Record)) == 1


def test_an_idempotency_key_is_the_usernames_own(client, make_key, rows):
    one, other = make_key("one"), make_key("other")
    for key in (one, other):
        response = client.post(
            "/api/records", json={"value1": "x"}, headers={"api-key": key, "Idempotency-Key": "same"}
        )
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert [r.lastmodifiedby for r in rows(Record)] == ["one", "other"]
    changed = client.post(
        "/api/records", json={"value1": "y"}, headers={"api-key": one, "Idempotency-Key": "same"}
    )
    assert changed.status_code == 422


# --- limits that mean what they say -----------------------------------------------------------------------


def wait_for_new_workers(server, old, timeout=90):
    """Until gunicorn has replaced every worker in old and the new ones answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) >= server.workers and not set(pids) & set(old) and server.answers():
            return pids
        time.sleep(0.2)
    raise AssertionError("gunicorn did not replace its workers")


def test_ten_key_creations_an_hour_are_ten_across_every_worker_and_their_restarts(
    fresh, serve, rows, tmp_path
):
    # The default storage (a file under instance/), here in a file of this test's own.
    server = serve(
        PHOENIX_RATELIMIT_ENABLED="1",
        RATELIMIT_STORAGE_URI=f"file://{tmp_path / 'ratelimits.sqlite3'}",
        WEB_CONCURRENCY="3",  # several sync workers, as gunicorn.conf.py runs (2 x CPUs + 1)
    )
    assert server.workers >= 3
    statuses = [
        request_json(server.url, "POST", "/api/keys", body={"username": f"user{n}"})[0] for n in range(13)
    ]
    assert statuses == [201] * 10 + [429] * 3

    old = server.worker_pids()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for_new_workers(server, old)
    status, headers, body = request_json(server.url, "POST", "/api/keys", body={"username": "after-restart"})
    assert (status, body["status"]) == (429, "failed")
    assert 0 < int(headers["Retry-After"]) <= 3600
    assert len(rows(AuthenticationKey)) == 10


def test_our_failures_do_not_use_up_the_key_creation_limit(db_url, tmp_path, rows, fresh):
    shared = {
        **LIMITED,
        "RATELIMIT_STORAGE_URI": f"file://{tmp_path / 'counts.sqlite3'}",
        "PHOENIX_RATELIMIT_KEYS": "3/hour",
    }
    broken = create_app(
        {
            "PHOENIX_CONFIG": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-folder/x.sqlite3",
            **shared,
        }
    )
    for n in range(5):
        assert broken.test_client().post("/api/keys", json={"username": f"u{n}"}).status_code == 503
    working = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **shared})
    client = working.test_client()
    statuses = [client.post("/api/keys", json={"username": f"u{n}"}).status_code for n in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert len(rows(AuthenticationKey)) == 3
    with working.app_context():
        db.engine.dispose()


def test_the_writes_limit_counts_items_not_requests(db_url, rows, fresh):
    app = limited_app(db_url, PHOENIX_RATELIMIT_WRITES="1000/minute")
    client = app.test_client()
    key = {"api-key": client.post("/api/keys", json={"username": "bulk"}).json["api_key"]}
    assert client.post("/api/records", json=[{"value1": "x"}] * 600, headers=key).status_code == 201
    refused = client.post("/api/records", json=[{"value1": "y"}] * 500, headers=key)
    assert refused.status_code == 429
    assert refused.json["status"] == "failed"
    assert len(rows(Record)) == 600
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("app_config", [{"PHOENIX_QUOTA_ROWS": 5}])
def test_a_username_creates_at_most_its_daily_quota_of_items(client, make_key, rows):
    one, other = {"api-key": make_key("one")}, {"api-key": make_key("other")}
    assert client.post("/api/records", json=[{"value1": "a"}] * 3, headers=one).status_code == 201
    over = client.post("/api/games", json=[GAME] * 3, headers=one)
    assert over.status_code == 429
    assert over.json["code"] == "quota_exceeded"
    assert 0 < int(over.headers["Retry-After"]) <= 86400
    assert client.post("/api/create", json={"value1": "b"}, headers=one).status_code == 201
    assert client.post("/api/records", json={"value1": "c"}, headers=one).status_code == 201
    last = client.post("/api/records", json={"value1": "d"}, headers=one)
    assert (last.status_code, last.json["code"]) == (429, "quota_exceeded")
    assert client.post("/api/records", json={"value1": "e"}, headers=other).status_code == 201
    assert [r.lastmodifiedby for r in rows(Record)] == ["one"] * 5 + ["other"]
    assert rows(Game) == []
