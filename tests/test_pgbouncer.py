"""Phoenix behind PgBouncer in transaction pooling mode: every route family, migrations, and the timeouts.

Each test starts its own PgBouncer (bench/pgbouncer.py) on a free port in front of the test PostgreSQL, and
a gunicorn-served Phoenix whose DATABASE_URL points at it. Without pgbouncer installed these tests skip,
unless PHOENIX_REQUIRE_PGBOUNCER=1 (CI), where they fail.
"""

import os
import subprocess
import time

import psycopg2
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from bench.pgbouncer import PgBouncer, pgbouncer_binary
from bench.servers import ROOT, VENV_BIN, Gunicorn
from phoenix import create_app
from phoenix.database import STANDALONE
from phoenix.extensions import db
from tests.live import request_json as call

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def pgbouncer(postgres_server_url):
    """A PgBouncer of this test's, pooling transactions in front of the test PostgreSQL server."""
    if pgbouncer_binary() is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if os.environ.get("PHOENIX_REQUIRE_PGBOUNCER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with PgBouncer(postgres_server_url) as bouncer:
        yield bouncer


def libpq_url(url):
    """A SQLAlchemy URL as psycopg2 takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def served_through(bouncer, database_url, log_path, **env):
    """Phoenix under gunicorn with DATABASE_URL pointing at the PgBouncer."""
    env = {
        "DATABASE_URL": bouncer.url_for(database_url),
        "PHOENIX_CONFIG": "production",
        "PHOENIX_RATELIMIT_ENABLED": "0",
        "WEB_CONCURRENCY": "2",
        **env,
    }
    return Gunicorn("wsgi:app", env=env, log_path=log_path)


def test_flask_db_upgrade_and_every_route_family_work_through_pgbouncer(pgbouncer, blank_url, tmp_path):
    via = pgbouncer.url_for(blank_url)
    migrate = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": via, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr

    with served_through(pgbouncer, blank_url, tmp_path / "gunicorn.log") as server:
        base = server.url
        assert call(base, "GET", "/health")[0] == 200
        assert call(base, "GET", "/health/ready")[0] == 200

        status, _, body = call(base, "POST", "/api/keys", body={"username": "bouncer"})
        assert status == 201, body
        key = body["api_key"]
        assert call(base, "GET", "/api/keys/me", key)[2]["key"]["username"] == "bouncer"
        status, _, body = call(base, "POST", "/api/keys/me/rotate", key)
        assert status == 201, body
        key = body["api_key"]

        status, headers, body = call(base, "POST", "/api/records", key, {"value1": "pooled", "value2": 1.5})
        assert status == 201, body
        record_id = body["record"]["id"]
        assert headers["Location"].endswith(f"/api/records/{record_id}")
        assert call(base, "GET", f"/api/records/{record_id}")[2]["record"]["value1"] == "pooled"
        assert call(base, "PATCH", f"/api/records/{record_id}", key, {"value3": True})[0] == 200
        assert call(base, "PUT", f"/api/records/{record_id}", key, {"value1": "replaced"})[0] == 200
        status, _, body = call(base, "POST", "/api/records", key, [{"value2": n} for n in range(3)])
        assert status == 201, body
        listed = call(base, "GET", "/api/records?limit=2")[2]
        assert len(listed["records"]) == 2 and listed["next_cursor"]
        history = call(base, "GET", f"/api/records/{record_id}/history")[2]["history"]
        assert len(history) == 3

        game = {
            "name": "Pool Party",
            "platform": "PC",
            "publisher": "Bounce",
            "genre": "Puzzle",
            "year": 2001,
        }
        status, _, body = call(base, "POST", "/api/games", key, game)
        assert status == 201, body
        game_id = body["game"]["id"]
        assert call(base, "GET", "/api/games?name=Pool")[2]["games"][0]["id"] == game_id
        assert call(base, "DELETE", f"/api/games/{game_id}", key)[0] == 200

        status, _, body = call(base, "GET", "/api/generate_key/legacy")
        assert status == 201, body
        legacy_key = body["api_key"]
        status, _, body = call(base, "POST", "/api/create", legacy_key, {"value1": "old client"})
        assert status == 201, body
        legacy_id = body["record_info"]["id"]
        assert call(base, "GET", f"/api/read/{legacy_id}")[0] == 200
        assert call(base, "PATCH", f"/api/modify/{legacy_id}", legacy_key, {"value2": 2.0})[0] == 200
        assert len(call(base, "GET", "/api/list")[2]) == 5
        assert call(base, "DELETE", f"/api/remove/{legacy_id}", legacy_key)[0] == 200
        assert call(base, "DELETE", f"/api/records/{record_id}", key)[0] == 200

    engine = sa.create_engine(blank_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM record")).scalar() == 3
        assert connection.execute(sa.text("SELECT count(*) FROM game")).scalar() == 0
        assert (
            connection.execute(sa.text("SELECT count(*) FROM authenticationkey")).scalar() == 3
        )  # a rotated key stays, revoked
        assert connection.execute(sa.text("SELECT value1 FROM record ORDER BY id LIMIT 1")).scalar() is None
    engine.dispose()

    # Nothing Phoenix set outlived its transactions: another client of the same server connections sees
    # PostgreSQL's defaults.
    with psycopg2.connect(libpq_url(pgbouncer.url_for(blank_url))) as other, other.cursor() as cursor:
        for setting in ("statement_timeout", "idle_in_transaction_session_timeout"):
            cursor.execute(f"SHOW {setting}")
            assert cursor.fetchone()[0] == "0"
    other.close()


def test_a_write_waiting_on_a_row_lock_answers_503_within_the_statement_timeout(
    pgbouncer, blank_url, tmp_path
):
    upgrade_directly(blank_url)
    with served_through(
        pgbouncer, blank_url, tmp_path / "gunicorn.log", PHOENIX_DB_STATEMENT_TIMEOUT_MS="500"
    ) as server:
        key = call(server.url, "POST", "/api/keys", body={"username": "waiter"})[2]["api_key"]
        record_id = call(server.url, "POST", "/api/records", key, {"value1": "locked"})[2]["record"]["id"]

        holder = psycopg2.connect(libpq_url(blank_url))  # directly: a session that holds the row
        try:
            with holder.cursor() as cursor:
                cursor.execute("SELECT id FROM record WHERE id = %s FOR UPDATE", (record_id,))
            started = time.monotonic()
            status, headers, body = call(
                server.url, "PATCH", f"/api/records/{record_id}", key, {"value1": "x"}
            )
            waited = time.monotonic() - started
        finally:
            holder.rollback()
            holder.close()

        assert status == 503, body
        assert body["status"] == "failed"
        assert headers["Retry-After"]
        assert headers["Content-Type"] == "application/json"
        assert 0.4 < waited < 3, waited
        # The lock gone, the same write goes through: nothing was left half done.
        assert call(server.url, "PATCH", f"/api/records/{record_id}", key, {"value1": "free"})[0] == 200

    engine = sa.create_engine(blank_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT value1 FROM record")).scalars().all() == ["free"]
    engine.dispose()


def test_a_transaction_left_idle_is_ended_by_the_database(pgbouncer, blank_url, monkeypatch):
    upgrade_directly(blank_url)
    monkeypatch.setenv("PHOENIX_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "300")
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": pgbouncer.url_for(blank_url)})
    with app.app_context():
        assert db.session.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar() == "300ms"
        assert db.session.execute(sa.text("SHOW statement_timeout")).scalar() == "5s"
        time.sleep(1)  # idle in the transaction: PostgreSQL ends it
        with pytest.raises(sa.exc.OperationalError):
            db.session.execute(sa.text("SELECT 1")).scalar()
        db.session.rollback()
        db.engine.dispose()


def test_an_autocommit_read_carries_the_statement_timeout_and_leaves_nothing_behind(pgbouncer, blank_url):
    upgrade_directly(blank_url)
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": pgbouncer.url_for(blank_url)})
    with app.app_context(), db.engine.connect() as connection:
        connection.execution_options(**{STANDALONE: True})  # as an @autocommit view's connection is
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "5s"
        # Sent alone (as another client would), the setting is PostgreSQL's default again.
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    with app.app_context():
        db.engine.dispose()


def upgrade_directly(url):
    """Build the schema straight on PostgreSQL (the tests of timeouts need it, not the pooler)."""
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def test_pgbouncer_refuses_the_startup_option_phoenix_no_longer_sends(pgbouncer, postgres_server_url):
    # Why the timeouts moved: the libpq "options" startup parameter is refused by a transaction pooler.
    with pytest.raises(psycopg2.OperationalError, match="unsupported startup parameter: options"):
        psycopg2.connect(libpq_url(pgbouncer.url_for(postgres_server_url)), options="-c statement_timeout=5")
