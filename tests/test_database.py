"""How requests use connections: reads outside transactions, and stale connections replaced unseen."""

import pytest
import sqlalchemy as sa

from phoenix import database
from phoenix.database import reading, without_transaction
from phoenix.extensions import db


@pytest.fixture
def on_postgresql(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("transactions and connections to a server are PostgreSQL's")


def test_a_read_leaves_no_transaction_open(app, on_postgresql):
    @without_transaction
    def read():
        reading().execute(sa.select(1))
        return reading().connection.dbapi_connection.info.transaction_status

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
