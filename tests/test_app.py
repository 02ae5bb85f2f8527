"""The app as a whole: settings, migrations, and the one error path (JSON, never HTML, never a 500)."""

import logging
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from phoenix import create_app
from phoenix.config import database_url
from phoenix.extensions import db
from phoenix.resources.records import RecordItem


@pytest.mark.parametrize(
    ("given", "read_as"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg2://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg2://u@h/d"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_is_read_with_the_shipped_driver(monkeypatch, given, read_as):
    monkeypatch.setenv("DATABASE_URL", given)
    assert database_url("/instance") == read_as


def test_database_url_defaults_to_sqlite_under_instance(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url("/srv/instance") == "sqlite:////srv/instance/phoenix.sqlite3"


def test_unknown_config_name_is_refused(monkeypatch):
    monkeypatch.setenv("PHOENIX_CONFIG", "staging")
    with pytest.raises(RuntimeError, match="PHOENIX_CONFIG"):
        create_app()


def test_max_content_length_comes_from_the_environment(monkeypatch, db_url):
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "100")
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url})
    assert app.config["MAX_CONTENT_LENGTH"] == 100
    response = app.test_client().post("/api/keys", json={"username": "x" * 120})
    assert response.status_code == 413
    assert response.json["message"] == "The request body is larger than the limit of 100 bytes."


def built_here(connection):
    """An include_object hook: leave out what the migrations build on PostgreSQL only (trigram indexes)."""

    def include(obj, name, type_, reflected, compare_to):
        postgresql_only = type_ == "index" and obj.dialect_options["postgresql"].get("using") == "gin"
        return connection.dialect.name == "postgresql" or not postgresql_only

    return include


def test_migrations_build_exactly_the_models(app):
    with app.app_context(), db.engine.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect indexes on expressions (lower(username), sort keys); PostgreSQL checks them.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(connection, opts={"include_object": built_here(connection)})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_unknown_url_is_a_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json["status"] == "failed"


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/api/records")
    assert response.status_code == 405
    assert response.json["status"] == "failed"
    assert "DELETE" in response.json["message"]
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


def test_unhandled_error_is_a_logged_json_500_without_internals(client, monkeypatch, caplog):
    def explode(self, id):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(RecordItem, "get", explode)
    with caplog.at_level(logging.ERROR, logger="phoenix"):
        response = client.get("/api/records/1")
    assert response.status_code == 500
    assert response.json == {
        "status": "failed",
        "message": "Something went wrong on our side. It has been logged; please try again later.",
        "code": "server_error",
        "request_id": response.headers["X-Request-ID"],
    }
    assert "hunter2" not in response.get_data(as_text=True)
    [entry] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert entry.exc_info[0] is RuntimeError
    assert "GET /api/records/1" in entry.getMessage()


def test_unhandled_error_outside_resources_is_json_too(app, caplog):
    @app.route("/boom")
    def boom():
        raise ValueError("internal detail")

    with caplog.at_level(logging.ERROR, logger="phoenix"):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json["status"] == "failed"
    assert "internal detail" not in response.get_data(as_text=True)
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


def test_integrity_error_is_409(client, monkeypatch):
    def clash(self, id):
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(RecordItem, "get", clash)
    response = client.get("/api/records/1")
    assert response.status_code == 409
    assert response.json["status"] == "failed"


def test_health(client):
    assert client.get("/health").json == {"status": "success", "message": "Phoenix is running."}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json["database"] == "ok"


# The pages and the files they load answer HTML, CSS or JavaScript when they succeed; failures are JSON.
NOT_JSON_WHEN_FOUND = {"landing", "docs", "static", "swagger_ui"}


def concrete_urls(app):
    """Every URL rule as (url, endpoint), its placeholders filled with awkward values."""
    for rule in app.url_map.iter_rules():
        if rule.arguments:
            for value in ("1", "0", "abc", "99999999999999999999", "%00", "-1", "1.5", "swagger-ui.css"):
                url = rule.rule
                for name in rule.arguments:
                    url = url.replace(f"<{name}>", value)
                yield url, rule.endpoint
        else:
            yield rule.rule, rule.endpoint


BODIES = [
    {},
    {"json": {"value1": "x"}},
    {"json": {"username": "prober"}},
    {"json": {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}},
    {"json": [1, 2]},
    {"data": b"\xff\xfe{", "content_type": "application/json"},
    {"data": "not json", "content_type": "text/plain"},
]


# With rate limits on too (memory storage), so that their hooks and 429s are probed as well.
@pytest.mark.parametrize("app_config", [{}, {"RATELIMIT_ENABLED": True}], ids=["limits-off", "limits-on"])
def test_no_request_gets_a_500_or_html(client, api_key):
    client.post("/api/records", json={"value1": "x"}, headers={"api-key": api_key})
    for url, endpoint in sorted(set(concrete_urls(client.application))):
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            for headers in ({}, {"api-key": api_key}):
                for body in BODIES:
                    response = client.open(url, method=method, headers=headers, **body)
                    assert response.status_code < 500, (method, url, body, response.get_data(as_text=True))
                    if endpoint in NOT_JSON_WHEN_FOUND and response.status_code == 200:
                        continue
                    if response.get_data():
                        assert response.mimetype == "application/json", (method, url)
                        assert "<html" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("path", ["/api/keys/me", "/api/account/keys", "/api/records/{id}", "/api/records"])
def test_head_answers_as_get_does_without_the_body(client, api_key, path):
    # HEAD runs GET's handler with GET's decorators: the key check and the read's connection included.
    created = client.post("/api/records", json={"value1": "x"}, headers={"api-key": api_key}).json["record"]
    url = path.format(id=created["id"])
    for headers in ({}, {"api-key": api_key}, {"api-key": "phx_0000000000000000_" + "a" * 43}):
        got, head = client.get(url, headers=headers), client.head(url, headers=headers)
        assert head.status_code == got.status_code, (url, headers)
        assert head.get_data() == b""
        for name in ("Content-Type", "ETag", "WWW-Authenticate", "Link"):
            assert head.headers.get(name) == got.headers.get(name), (url, headers, name)
    assert client.head("/api/keys/me").status_code == 401
    assert client.head("/api/keys/me", headers={"api-key": api_key}).status_code == 200
