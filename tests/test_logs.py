"""Logs: JSON lines with DESIGN's fields (gunicorn's access lines included), readable text, never a secret."""

import base64
import io
import json
import logging
import urllib.error
import urllib.request

import pytest
from flask_migrate import upgrade

from bench.servers import Gunicorn
from phoenix import create_app
from phoenix.extensions import db
from phoenix.resources.records import RecordItem

ACCESS_FIELDS = {
    "time",
    "level",
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "client",
    "key_prefix",
}


def phoenix_stream():
    """Point Phoenix's log handler at a buffer of the test's own; return the buffer."""
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "phoenix", False)]
    buffer = io.StringIO()
    handler.setStream(buffer)
    return buffer


def make_app(db_url, log_format):
    return create_app(
        {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "LOG_FORMAT": log_format}
    )


def test_an_application_line_in_json_carries_the_request_fields(db_url, monkeypatch):
    app = make_app(db_url, "json")
    client = app.test_client()
    buffer = phoenix_stream()
    key = client.post("/api/keys", json={"username": "logger"}).json["api_key"]

    def explode(self, id):
        raise RuntimeError("boom")

    monkeypatch.setattr(RecordItem, "patch", explode)
    response = client.patch("/api/records/7", json={}, headers={"api-key": key, "X-Request-ID": "trace-me"})
    assert response.status_code == 500
    [line] = [json.loads(text) for text in buffer.getvalue().splitlines() if '"ERROR"' in text]
    assert line["level"] == "ERROR"
    assert line["request_id"] == "trace-me"
    assert (line["method"], line["route"], line["client"]) == ("PATCH", "/api/records/<id>", "127.0.0.1")
    assert line["key_prefix"] == key.rsplit("_", 1)[0]
    assert "Unhandled error on PATCH /api/records/7" in line["message"]
    assert "RuntimeError: boom" in line["exc_info"]
    assert line["time"].endswith("+00:00")
    assert key not in buffer.getvalue()


def test_a_text_line_is_readable_and_carries_the_request_id(db_url):
    app = make_app(db_url, "text")
    buffer = phoenix_stream()
    with app.test_request_context("/api/records", headers={"X-Request-ID": "plain-1"}):
        app.logger.warning("Something to read")
    [line] = buffer.getvalue().splitlines()
    assert line.endswith("WARNING phoenix [plain-1] Something to read")
    assert not line.startswith("{")


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'logs.sqlite3'}"
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def logging_server(sqlite_url, log_path, log_format, workers=1):
    """A gunicorn serving Phoenix on sqlite_url, writing its log (LOG_FORMAT log_format) to log_path."""
    env = {
        "DATABASE_URL": sqlite_url,
        "WEB_CONCURRENCY": str(workers),
        "LOG_FORMAT": log_format,
        "PHOENIX_RATELIMIT_ENABLED": "0",
    }
    return Gunicorn("wsgi:app", env=env, log_path=log_path)


def call(base, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_gunicorn_access_lines_are_json_with_the_fields_and_no_secret(sqlite_url, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    server = logging_server(sqlite_url, log_path, "json", workers=2)
    with server:
        status, body = call(server.url, "POST", "/api/keys", {"username": "audited"})
        assert status == 201
        key = body["api_key"]
        status, _ = call(
            server.url, "POST", "/api/records", {"value1": "x"}, {"api-key": key, "X-Request-ID": "w-1"}
        )
        assert status == 201
        status, _ = call(server.url, "GET", "/api/records/1", headers={"Authorization": f"Bearer {key}"})
        assert status == 200
        status, _ = call(server.url, "GET", "/nowhere/at-all")
        assert status == 404
    text = log_path.read_text()
    assert key not in text
    assert key.rsplit("_", 1)[1] not in text  # not even the secret half
    lines = [json.loads(line) for line in text.splitlines()]  # every line JSON, error lines included
    access = {line["request_id"]: line for line in lines if line.get("logger") == "gunicorn.access"}
    write = access["w-1"]
    assert write.keys() >= ACCESS_FIELDS
    assert (write["method"], write["route"], write["status"]) == ("POST", "/api/records", 201)
    assert write["key_prefix"] == key.rsplit("_", 1)[0]
    assert write["client"] == "127.0.0.1"
    assert write["duration_ms"] > 0
    [read] = [line for line in access.values() if line["route"] == "/api/records/<id>"]
    assert read["status"] == 200
    [unmatched] = [line for line in access.values() if line["status"] == 404]
    assert unmatched["route"] is None
    assert "at-all" not in json.dumps(unmatched)  # the raw path is never logged


def test_gunicorn_text_access_lines_stay_readable(sqlite_url, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    server = logging_server(sqlite_url, log_path, "text", workers=1)
    with server:
        assert call(server.url, "GET", "/api/records")[0] == 200
    access = [line for line in log_path.read_text().splitlines() if '"GET /api/records HTTP/1.1" 200' in line]
    assert len(access) == 1
    assert not access[0].startswith("{")


def test_control_characters_are_escaped_in_text_lines(db_url):
    app = make_app(db_url, "text")
    buffer = phoenix_stream()
    with app.test_request_context("/api/records%0AFORGED", headers={"X-Request-ID": "esc-1"}):
        app.logger.warning("Database unavailable on %s %s", "GET", "/api/records\nFORGED WARNING line\u2028x")
    [line] = buffer.getvalue().splitlines()  # one line, whatever the path held
    assert line.endswith("[esc-1] Database unavailable on GET /api/records\\x0aFORGED WARNING line\\u2028x")


def test_control_characters_are_escaped_in_json_lines(db_url):
    app = make_app(db_url, "json")
    buffer = phoenix_stream()
    with app.test_request_context("/api/records", headers={"X-Request-ID": "esc-2"}):
        app.logger.warning("path %s", "/a\r\nFORGED")
    [line] = buffer.getvalue().splitlines()
    assert json.loads(line)["message"] == "path /a\\x0d\\x0aFORGED"


def test_a_basic_username_cannot_forge_a_gunicorn_access_line(sqlite_url, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    server = logging_server(sqlite_url, log_path, "text", workers=1)
    forged = '\nFORGED 10.0.0.1 - - "GET /admin HTTP/1.1" 200 0'
    credentials = base64.b64encode(f"evil{forged}:secret".encode()).decode()
    with server:
        status, _ = call(
            server.url, "GET", "/api/records?limit=1", headers={"Authorization": f"Basic {credentials}"}
        )
        assert status == 200
    lines = log_path.read_text().splitlines()
    assert not [line for line in lines if line.startswith("FORGED")]
    [access] = [line for line in lines if '"GET /api/records?limit=1 HTTP/1.1" 200' in line]
    assert "evil\\x0aFORGED" in access
