"""Abuse resistance against real gunicorn over real sockets: what one hostile client cannot do to others."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from bench.servers import Gunicorn


def call(base, method, path, body=None, headers=None, timeout=20):
    """(status, headers, JSON body) of one request to a running server."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


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
        server = Gunicorn("wsgi:app", env=settings, log_path=tmp_path / f"gunicorn-{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fresh(app):
    """The app fixture's emptied database (its tables truncated), for a server to run on."""
    return app


def test_a_stalled_patch_body_holds_no_lock_while_another_writer_changes_the_item(fresh, serve):
    server = serve()
    status, _, body = call(server.url, "POST", "/api/keys", {"username": "slowpoke"})
    assert status == 201, body
    key = {"api-key": body["api_key"]}
    status, _, body = call(server.url, "POST", "/api/records", {"value1": "first"}, key)
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
        status, _, body = call(server.url, "PATCH", f"/api/records/{item}", {"value1": "prompt"}, key)
        elapsed = time.monotonic() - started
        assert status == 200, body
        assert body["record"]["value1"] == "prompt"
        assert elapsed < 2, f"the other writer waited {elapsed:.1f} s"

        slow.sendall(stalled_body[5:])  # the stalled client finishes: its change comes after
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    status, headers, body = call(server.url, "GET", f"/api/records/{item}")
    assert (status, body["record"]["value1"], headers["ETag"]) == (200, "the stalled writer late", '"3"')


def test_a_stalled_legacy_modify_body_holds_no_lock(fresh, serve):
    server = serve()
    status, _, body = call(server.url, "POST", "/api/keys", {"username": "slowlegacy"})
    key = {"api-key": body["api_key"]}
    status, _, body = call(server.url, "POST", "/api/create", {"value1": "first"}, key)
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
        status, _, body = call(server.url, "DELETE", f"/api/remove/{item}", headers=key)
        assert (status, body["message"]) == (200, "Your record has been removed!")
        assert time.monotonic() - started < 2
    status, _, _ = call(server.url, "GET", f"/api/read/{item}")
    assert status == 404
