"""How requests use connections: reads outside transactions, and stale connections replaced unseen."""

import importlib.metadata

import pytest
import sqlalchemy as sa

from phoenix import database
from phoenix.database import autocommit, connection
from phoenix.extensions import db
from phoenix.schemas import record_schema


@pytest.mark.postgresql_only
def test_a_read_leaves_no_transaction_open(app):
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


@pytest.mark.postgresql_only
def test_a_read_hands_its_connection_back_out_of_autocommit(app, client):
    assert client.get("/api/records/1").status_code == 404
    with app.app_context():
        dbapi_connection = db.session.connection().connection.dbapi_connection
        assert dbapi_connection.autocommit is False
        db.session.rollback()


@pytest.mark.postgresql_only
def test_a_connection_killed_while_idle_is_replaced_without_an_error(app, client, monkeypatch):
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


def test_schemas_load_without_reading_package_metadata(monkeypatch):
    def forbidden(name):
        raise AssertionError(f"importlib.metadata.version({name!r}) read on a load")

    monkeypatch.setattr(importlib.metadata, "version", forbidden)
    assert record_schema.load({"value1": "x"}) == {"value1": "x"}
    assert record_schema.validate({"value1": 3}) == {"value1": ["Not a valid string."]}
