"""Fixtures: app, client, runner, api_key and db_url, every database test on SQLite and PostgreSQL.

PostgreSQL runs when TEST_DATABASE_URL is set; each session gets a database of its own made from it,
so that parallel runs do not meet. With PHOENIX_REQUIRE_POSTGRES=1 (as .ci/run sets), a missing or
unreachable PostgreSQL fails the run instead of skipping it.
"""

import os
import re
import uuid
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from phoenix import create_app
from phoenix.config import database_url
from phoenix.extensions import db

REQUIRE_POSTGRES = os.environ.get("PHOENIX_REQUIRE_POSTGRES") == "1"
REQUIRE_REDIS = os.environ.get("PHOENIX_REQUIRE_REDIS") == "1"
ran_on_postgres = {"passed": 0, "other": 0}
ON_POSTGRES = re.compile(r"\[(.*-)?postgresql(-.*)?\]$")


def postgres_url_or_skip():
    """TEST_DATABASE_URL as SQLAlchemy reads it, or skip (fail, when PostgreSQL is required)."""
    raw = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not raw:
        message = "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    os.environ["DATABASE_URL"] = raw
    try:
        return database_url(instance_path="")
    finally:
        del os.environ["DATABASE_URL"]


@pytest.fixture(scope="session")
def postgres_server_url():
    """The PostgreSQL server of TEST_DATABASE_URL, checked to be reachable."""
    url = postgres_url_or_skip()
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        pytest.fail(f"TEST_DATABASE_URL is set but PostgreSQL does not answer: {error}")
    finally:
        engine.dispose()
    return url


@contextmanager
def scratch_database(server_url, prefix):
    """A new, empty database on server_url's PostgreSQL server: its URL; dropped on the way out."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url):
    """A fresh database for this test session on the TEST_DATABASE_URL server, dropped at the end."""
    with scratch_database(postgres_server_url, "phoenix_test") as url:
        yield url


@pytest.fixture
def blank_url(db_url, request, tmp_path):
    """An empty database of the kind db_url is (not migrated at all), dropped afterwards."""
    if make_url(db_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.sqlite3'}"
        return
    with scratch_database(request.getfixturevalue("postgres_server_url"), "phoenix_migration") as url:
        yield url


def migrated(url):
    """Build the schema with the migrations, exactly as `flask db upgrade` does outside tests."""
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    """The URL of a migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return migrated(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'phoenix.sqlite3'}")
    return migrated(request.getfixturevalue("postgres_database"))


def empty_tables(app):
    """Remove every row and restart the ids, so each test starts from nothing."""
    tables = [table.name for table in db.metadata.sorted_tables]
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(sa.text(f"DELETE FROM {table}"))
            connection.execute(sa.text("DELETE FROM sqlite_sequence"))


@pytest.fixture
def app_config(db_url):
    """The settings the app fixture is built with; a test may override this fixture."""
    return {}


@pytest.fixture
def app(db_url, app_config):
    """A Phoenix app on an empty, migrated database; rate limits off unless app_config turns them on."""
    settings = {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "RATELIMIT_ENABLED": False}
    app = create_app({**settings, **app_config})
    empty_tables(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_key(client):
    """Create a key for a username through the API; returns the key."""

    def make(username):
        response = client.post("/api/keys", json={"username": username})
        assert response.status_code == 201, response.json
        return response.json["api_key"]

    return make


@pytest.fixture
def api_key(make_key):
    """A valid key for the user "tester"."""
    return make_key("tester")


@pytest.fixture
def auth(api_key):
    """Headers that sign a request with api_key."""
    return {"api-key": api_key}


@pytest.fixture
def rows(app):
    """All rows of a model, by id, read straight from the database."""

    def read(model):
        with app.app_context():
            return db.session.execute(sa.select(model).order_by(model.id)).scalars().all()

    return read


def places_holding(engine, needle):
    """Where the database keeps needle: "table.column" for a value holding it, and "file: ..." for the bytes
    on disk (SQLite's file; on PostgreSQL, after a CHECKPOINT, every file of the database: it needs a
    superuser, as TEST_DATABASE_URL's postgres is). Dead row versions and freed pages count too."""
    found = []
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')).mappings():
                found += [f"{table}.{name}" for name, value in row.items() if needle in str(value)]
        if connection.dialect.name == "sqlite":
            path = engine.url.database
            for name in (path, path + "-journal", path + "-wal"):
                if os.path.exists(name):
                    with open(name, "rb") as file:
                        if needle.encode() in file.read():
                            found.append(f"file: {name}")
        else:
            connection.execute(sa.text("CHECKPOINT"))
            files = connection.execute(
                sa.text(
                    "SELECT name FROM (SELECT 'base/' || oid || '/' || pg_ls_dir('base/' || oid) AS name"
                    " FROM pg_database WHERE datname = current_database()) AS files"
                    " WHERE position(convert_to(:needle, 'UTF8')"
                    " in pg_read_binary_file(name, 0, (pg_stat_file(name, true)).size, true)) > 0"
                ),
                {"needle": needle},
            ).scalars()
            found += [f"file: {name}" for name in files]
    return found


@pytest.fixture
def storage_search():
    """places_holding(engine, needle), for tests that build their own database."""
    return places_holding


@pytest.fixture
def stored_anywhere(app):
    """Where the app's database keeps a string, to the byte (see places_holding)."""

    def places(needle):
        with app.app_context():
            return places_holding(db.engine, needle)

    return places


@pytest.fixture(scope="session")
def redis_url():
    """TEST_REDIS_URL (default redis://127.0.0.1:6379), checked to answer; skipped if it does not, failed
    instead when PHOENIX_REQUIRE_REDIS=1 (as .ci/run sets). The Redis may be shared: never flush it."""
    url = os.environ.get("TEST_REDIS_URL", "").strip() or "redis://127.0.0.1:6379"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis at {url} does not answer ({error}); .ci/run starts one"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return url


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix of this test's own (RATELIMIT_KEY_PREFIX); its keys are deleted afterwards."""
    prefix = f"phoenix-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


def pytest_collection_modifyitems(config, items):
    """Tests marked postgresql_only run in the PostgreSQL half of db_url only: their SQLite half is not
    collected at all (deselected, not skipped: there is nothing there to hide)."""
    selected, sqlite_halves = [], []
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params
        if item.get_closest_marker("postgresql_only") and params and params.get("db_url") == "sqlite":
            sqlite_halves.append(item)
        else:
            selected.append(item)
    if sqlite_halves:
        config.hook.pytest_deselected(items=sqlite_halves)
        items[:] = selected


def pytest_runtest_logreport(report):
    """Count what ran on PostgreSQL, so that a run that skipped it can be told from one that did not."""
    if report.when == "call" and ON_POSTGRES.search(report.nodeid):
        ran_on_postgres["passed" if report.passed else "other"] += 1


def pytest_sessionfinish(session, exitstatus):
    if REQUIRE_POSTGRES and ran_on_postgres["passed"] == 0 and session.testscollected:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"PostgreSQL-backed tests passed: {ran_on_postgres['passed']}")
