"""How requests use connections: reads outside transactions, and stale connections replaced unseen."""

import importlib.metadata

import pytest
import sqlalchemy as sa

from phoenix import database
from phoenix.database import autocommit, connection
from phoenix.extensions import db
from phoenix.models import Record
from phoenix.schemas import record_schema


@pytest.fixture
def on_postgresql(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("transactions and connections to a server are PostgreSQL's")


def test_a_read_leaves_no_transaction_open(app, on_postgresql):
    @autocommit
    def read():
        connection().execute(sa.select(1))
        return connection().connection.dbapi_connection.info.transaction_status

    with app.test_request_context():
        assert read() == 0  # psycopg2's TRANSACTION_STATUS_IDLE: no BEGIN was sent
        db.session.remove()
        # The next user of the pooled connection is back in transactions.
        db.session.execute(sa.select(1))
        assert db.session.connection().connection.dbapi_connection.info.transaction_status == 2  # INTRANS
        db.session.rollback()


def test_a_read_hands_its_connection_back_out_of_autocommit(app, client, on_postgresql):
    assert client.get("/api/records/1").status_code == 404
    with app.app_context():
        dbapi_connection = db.session.connection().connection.dbapi_connection
        assert dbapi_connection.autocommit is False
        db.session.rollback()


def test_a_connection_killed_while_idle_is_replaced_without_an_error(app, client, monkeypatch, on_postgresql):
    assert client.get("/api/records").status_code == 200
    with app.app_context():
        pid = db.session.connection().connection.dbapi_connection.get_backend_pid()
        db.session.remove()
    admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with admin.connect() as connection:
        assert connection.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()
    admin.dispose()
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0)
    response = client.get("/api/records")
    assert response.status_code == 200
    assert response.json["records"] == []


def test_a_create_is_one_statement_in_autocommit_and_leaves_no_transaction(app, client, auth, rows):
    response = client.post("/api/records", json={"value1": "x"}, headers=auth)
    assert response.status_code == 201
    assert [r.value1 for r in rows(Record)] == ["x"]  # committed: another session sees it
    with app.app_context(), db.engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        autocommit = driver.autocommit if connection.dialect.name == "postgresql" else driver.isolation_level
        assert autocommit in (False, "")  # the pooled connection is back to transactions


def test_schemas_load_without_reading_package_metadata(monkeypatch):
    def forbidden(name):
        raise AssertionError(f"importlib.metadata.version({name!r}) read on a load")

    monkeypatch.setattr(importlib.metadata, "version", forbidden)
    assert record_schema.load({"value1": "x"}) == {"value1": "x"}
    assert record_schema.validate({"value1": 3}) == {"value1": ["Not a valid string."]}
