"""How requests use connections: reads outside transactions, and stale connections replaced unseen."""

import importlib.metadata
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from phoenix import create_app, database
from phoenix.auth import KEY_BY_PREFIX
from phoenix.config import engine_options
from phoenix.database import autocommit, connection
from phoenix.extensions import db
from phoenix.listing import ordered_select, resumed_page, search_statements
from phoenix.models import Change, Game, Record
from phoenix.resources.changes import statement_for
from phoenix.resources.games import GAMES
from phoenix.resources.records import RECORDS
from phoenix.schemas import iso_timestamp, record_schema

NOW = datetime(2026, 11, 30, tzinfo=UTC)
STAMPS = {"creationdate": NOW, "lastmodificationdate": NOW, "lastmodifiedby": "tester"}


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
def test_after_a_read_its_pooled_connection_serves_whole_transactions(app, client):
    # Given back to the pool (as when KEPT_CONNECTIONS are idle already), the read's connection is the
    # pool's only idle one: the session gets it.
    app.extensions[database.READ_CONNECTIONS].keep = 0
    assert client.get("/api/records/1").status_code == 404
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
        db.session.execute(sa.insert(Record.__table__).values(value1="undone", version=1, **STAMPS))
        assert db.session.connection().connection.dbapi_connection.info.transaction_status == 2  # INTRANS
        db.session.rollback()
        assert db.session.connection().connection.dbapi_connection.info.transaction_status == 0  # IDLE
        assert db.session.execute(sa.select(sa.func.count()).select_from(Record.__table__)).scalar() == 0
        db.session.rollback()


def kill_the_pooled_connection(app):
    """Terminate, from another connection, the server backends of the connections the app holds: the
    one its pool hands the ORM session, and those its reads keep (database.KeptConnections)."""
    with app.app_context():
        pids = [db.session.connection().connection.dbapi_connection.get_backend_pid()]
        db.session.remove()
    kept = app.extensions[database.READ_CONNECTIONS].idle
    pids += [own.connection.dbapi_connection.get_backend_pid() for own, _ in kept]
    assert len(pids) == len(set(pids)) >= 2  # a read kept its own
    admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with admin.connect() as connection:
        for pid in pids:
            assert connection.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()
    admin.dispose()


@pytest.mark.postgresql_only
def test_a_connection_killed_while_idle_is_replaced_without_an_error(app, client, monkeypatch):
    assert client.get("/api/records").status_code == 200
    kill_the_pooled_connection(app)
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0)
    response = client.get("/api/records")
    assert response.status_code == 200
    assert response.json["records"] == []


def backend_pids(app):
    """The server backend of every statement the app sends, in order (a list that grows)."""
    pids = []
    with app.app_context():
        sa.event.listen(
            db.engine,
            "before_cursor_execute",
            lambda conn, cursor, *_: pids.append(cursor.connection.get_backend_pid()),
        )
    return pids


@pytest.mark.postgresql_only
def test_reads_and_creates_keep_their_connections_out_of_the_pool(app, client, auth):
    """A read gives its connection to the next read, not back to the pool: no checkout, the same backend;
    so does a create to the next create."""
    kept = app.extensions[database.READ_CONNECTIONS]
    assert client.post("/api/records", json={"value1": "x"}, headers=auth).status_code == 201  # key used
    pids = backend_pids(app)
    assert client.get("/api/records/1").status_code == 200
    with app.app_context():
        checkouts = []
        sa.event.listen(db.engine, "checkout", lambda *_: checkouts.append(1))
    assert client.get("/api/records?limit=5").status_code == 200
    assert client.get("/api/records/1").status_code == 200
    assert len(set(pids)) == 1 and len(pids) == 3
    assert checkouts == [] and len(kept.idle) == 1
    # A create keeps its own (database.core_transaction): its key's SELECT on the read's, its INSERTs on
    # the one the first create kept.
    assert client.post("/api/records", json={"value1": "y"}, headers=auth).status_code == 201
    assert checkouts == [] and pids[3] == pids[0] and pids[4] == pids[5] != pids[0]
    with app.app_context():
        assert db.engine.pool.checkedout() == 2  # one kept for reads, one for creates


@pytest.mark.postgresql_only
def test_at_most_kept_for_reads_wait_and_the_engine_closes_them(app):
    with app.app_context():
        kept = app.extensions[database.READ_CONNECTIONS]
        taken = [kept.take() for _ in range(database.KEPT_CONNECTIONS + 2)]
        assert db.engine.pool.checkedout() == database.KEPT_CONNECTIONS + 2
        for own in taken:
            kept.give_back(own)
        assert [own for own, _ in kept.idle] == taken[: database.KEPT_CONNECTIONS]
        assert db.engine.pool.checkedout() == database.KEPT_CONNECTIONS  # the other two went back
        assert kept.take() is taken[database.KEPT_CONNECTIONS - 1]  # the last given back
        kept.give_back(taken[database.KEPT_CONNECTIONS - 1])
        db.engine.dispose()
        assert kept.idle == [] and all(own.closed for own in taken)
        kept.give_back(kept.take())
        kept.pid = -1  # as in a process forked from this one: the parent's connections are not its own
        [(parents, _)] = kept.idle
        own = kept.take()
        assert own is not parents and kept.idle == [] and not parents.closed
        kept.give_back(own)
        assert kept.idle == [(own, kept.idle[0][1])]


@pytest.mark.postgresql_only
def test_kept_connections_make_room_when_the_pool_lends_overflow_connections(db_url):
    """Kept connections hold places in the pool: when it has to lend overflow connections (opened for
    one use), a connection given back goes to the pool instead of waiting for the next read."""
    options = {**engine_options(db_url), "pool_size": 2, "max_overflow": 3}
    crowded = create_app(
        {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "SQLALCHEMY_ENGINE_OPTIONS": options}
    )
    with crowded.app_context():
        kept = crowded.extensions[database.READ_CONNECTIONS]
        first, second, third = kept.take(), kept.take(), kept.take()  # the third is an overflow
        assert db.engine.pool.checkedout() == 3
        kept.give_back(first)  # the pool lends an overflow: first goes back to it
        kept.give_back(second)
        kept.give_back(third)
        assert first.closed and [own for own, _ in kept.idle] == [second, third]
        assert db.engine.pool.checkedout() == 2
        db.engine.dispose()
    assert kept.idle == [] and second.closed and third.closed


def test_schemas_load_without_reading_package_metadata(monkeypatch):
    def forbidden(name):
        raise AssertionError(f"importlib.metadata.version({name!r}) read on a load")

    monkeypatch.setattr(importlib.metadata, "version", forbidden)
    assert record_schema.load({"value1": "x"}) == {"value1": "x"}
    assert record_schema.validate({"value1": 3}) == {"value1": ["Not a valid string."]}


# --- prepared statements (database.Prepared): Core's rows, Core's errors --------------------------------


def prepared_cases(dialect_name):
    """(Prepared, parameters) for each prepared statement a request runs."""
    return [
        (RECORDS.by_id, {"id": 1}),
        (GAMES.by_id, {"id": 1}),
        (ordered_select(RECORDS.listing, (("id", False),))[2], {"page_size": 3}),
        (ordered_select(GAMES.listing, (("year", True),))[2], {"page_size": 3}),
        # A page after a cursor, and a search's probes after one: their values are parameters.
        (resumed_page(RECORDS.listing, (("id", False),)), {"page_size": 3, "cursor_0": 0}),
        (
            resumed_page(GAMES.listing, (("year", True),)),
            {"page_size": 3, "cursor_0": 0, "cursor_1": 3000, "cursor_2": 10**6},
        ),
        *(
            (prepared, {"page_size": 3, "search_0": "%o%", "cursor_0": 0, "window_size": 10, "window_end": 0})
            for name, prepared in search_statements(
                GAMES.listing, (("id", False),), (Game.__table__.c.name,), True
            ).items()
            if name != "rare"  # a count, read by position (its column is count_1 in Core's rows)
        ),
        (statement_for(dialect_name, None), {"xid": 0, "id": 0, "page_size": 10}),
        (statement_for(dialect_name, "games"), {"xid": 0, "id": 0, "page_size": 10}),
        (KEY_BY_PREFIX, {"prefix": "phx_missing"}),
    ]


def test_prepared_statements_give_cores_rows(app, client, auth, actions):
    """Each prepared SELECT's rows (by position and by column name) are those Core gives for it."""
    actions.create_record({"timestamp": 1.5, "value1": "x", "value2": 2.0, "value3": True})
    actions.create_game()
    with app.test_request_context():

        @autocommit
        def compare():
            for prepared, parameters in prepared_cases(connection().dialect.name):
                core = connection().execute(prepared.statement, parameters).all()
                fast = prepared.rows(parameters)
                assert [tuple(row) for row in fast] == [tuple(row) for row in core]
                for fast_row, core_row in zip(fast, core, strict=True):
                    for name, value in core_row._asdict().items():
                        if not name.startswith("_"):  # a sort key's label is read by position
                            assert getattr(fast_row, name) == value
                            assert type(getattr(fast_row, name)) is type(value)
            return True

        assert compare()


def test_a_prepared_create_stores_what_core_would(app, client, auth, rows):
    """The create's INSERTs (prepared on PostgreSQL): the row and its history entry as stored."""
    body = {"timestamp": 1.5, "value1": "x", "value2": 2.0, "value3": False}
    response = client.post("/api/records", json=body, headers=auth)
    assert response.status_code == 201
    (stored,) = rows(Record)
    assert {name: getattr(stored, name) for name in body} == body
    assert response.json["record"]["creationdate"] == iso_timestamp(stored.creationdate)
    (entry,) = rows(Change)
    assert entry.changes == {name: [None, value] for name, value in body.items()}
    assert entry.changed_at == stored.creationdate


@pytest.mark.postgresql_only
def test_a_prepared_read_on_a_lost_connection_is_a_503_and_the_next_read_works(app, client):
    """A server gone under a prepared read: the driver's error is SQLAlchemy's (503, not 500), and the
    connection is dropped from the pool, so the next request gets a fresh one."""
    assert client.get("/api/records/1").status_code == 404
    kill_the_pooled_connection(app)
    response = client.get("/api/records/1")  # within IDLE_PING_SECONDS: no ping first
    assert response.status_code == 503
    assert response.json["code"] == "database_unavailable"
    assert client.get("/api/records/1").status_code == 404


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC),  # no fraction: still six digits
        datetime(2026, 11, 22, 1, 2, 3, 5, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_iso_timestamp_is_isoformat_with_microseconds(value):
    assert iso_timestamp(value) == value.isoformat(timespec="microseconds")


@pytest.mark.postgresql_only
def test_a_transaction_whose_first_statement_runs_for_many_rows_is_still_one_transaction(app):
    # The driver is in autocommit mode: BEGIN must go before a statement sent once a row (executemany).
    table = Record.__table__
    rename = sa.update(table).where(table.c.id == sa.bindparam("i")).values(value1=sa.bindparam("v"))
    with app.app_context():
        db.session.execute(sa.insert(table), [{"value1": "kept", "version": 1, **STAMPS}] * 2)
        db.session.commit()
        with db.engine.connect() as connection:
            connection.execute(rename, [{"i": 1, "v": "undone"}, {"i": 2, "v": "undone"}])
            assert connection.connection.dbapi_connection.info.transaction_status == 2  # INTRANS
            connection.rollback()
        assert db.session.execute(sa.select(table.c.value1).order_by(table.c.id)).scalars().all() == [
            "kept",
            "kept",
        ]
        db.session.rollback()
