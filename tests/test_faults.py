"""Database faults: 503 with Retry-After (never 500) while it is away, service resumed when it is back."""

import time

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from bench.pgtemp import TempPostgres
from bench.servers import free_port
from phoenix import create_app
from phoenix.extensions import db
from phoenix.resources.records import RecordItem

UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-folder/phoenix.sqlite3",
    "postgresql": f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/phoenix",
}
DATABASE_ROUTES = [
    ("get", "/api/records"),
    ("get", "/api/records/1"),
    ("get", "/api/records/1/history"),
    ("post", "/api/records"),
    ("patch", "/api/records/1"),
    ("get", "/api/games?name=doom"),
    ("post", "/api/keys"),
    ("get", "/api/generate_key/sumit"),
    ("get", "/api/list"),
    ("get", "/api/read/1"),
    ("post", "/api/create"),
    ("get", "/health/ready"),
]


def assert_unavailable(response):
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json == {
        "status": "failed",
        "message": "The database is unavailable right now. Please retry in a few seconds.",
        "code": "database_unavailable",
        "request_id": response.headers["X-Request-ID"],
    }
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_unreachable_database_is_503_on_every_route(database):
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": UNREACHABLE[database]})
    client = app.test_client()
    for method, url in DATABASE_ROUTES:
        body = {"username": "sumit"} if "keys" in url else {"value1": "x"}
        response = getattr(client, method)(url, json=body, headers={"api-key": "phx_some_key"})
        assert_unavailable(response)
    assert client.get("/health").status_code == 200  # the process itself is fine


@pytest.fixture
def own_postgres(postgres_server_url):
    """A PostgreSQL server of this test's own, so that stopping it disturbs nobody."""
    server = TempPostgres()
    server.start()
    yield server
    server.remove()


def test_service_resumes_by_itself_when_postgres_comes_back(own_postgres):
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": own_postgres.url})
    with app.app_context():
        upgrade()
    client = app.test_client()
    key = client.post("/api/keys", json={"username": "sumit"}).json["api_key"]
    auth = {"api-key": key}
    assert client.post("/api/records", json={"value1": "before"}, headers=auth).status_code == 201

    own_postgres.stop()
    assert_unavailable(client.get("/api/records/1"))
    assert_unavailable(client.post("/api/records", json={"value1": "during"}, headers=auth))
    assert_unavailable(client.get("/health/ready"))

    own_postgres.start()
    assert client.get("/health/ready").status_code == 200
    assert client.get("/api/records/1").json["record"]["value1"] == "before"
    assert client.post("/api/records", json={"value1": "after"}, headers=auth).status_code == 201
    assert [r["value1"] for r in client.get("/api/records").json["records"]] == ["before", "after"]
    with app.app_context():
        db.engine.dispose()


def postgres_app(url, monkeypatch, timeout_ms=None):
    if timeout_ms is not None:
        monkeypatch.setenv("PHOENIX_DB_STATEMENT_TIMEOUT_MS", str(timeout_ms))
    return create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": url})


def test_statement_timeout_defaults_to_5_seconds(postgres_database, monkeypatch):
    monkeypatch.delenv("PHOENIX_DB_STATEMENT_TIMEOUT_MS", raising=False)
    app = postgres_app(postgres_database, monkeypatch)
    with app.app_context():
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "5s"
        db.engine.dispose()


def test_a_query_over_the_statement_timeout_is_503_not_a_stuck_worker(postgres_database, monkeypatch):
    app = postgres_app(postgres_database, monkeypatch, timeout_ms=200)

    def slow(self, id):
        db.session.execute(text("SELECT pg_sleep(3)"))

    monkeypatch.setattr(RecordItem, "get", slow)
    started = time.monotonic()
    response = app.test_client().get("/api/records/1")
    assert time.monotonic() - started < 2
    assert_unavailable(response)
    with app.app_context():
        db.engine.dispose()
