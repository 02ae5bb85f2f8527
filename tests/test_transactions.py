"""One transaction per write: what fails part-way leaves nothing behind, and a conflict is a 409, logged
without the statement's parameters."""

import logging
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

import phoenix.history
import phoenix.resources.base
from phoenix import create_app, database
from phoenix.errors import CONFLICT
from phoenix.extensions import db
from phoenix.models import Change, IdempotentRequest, Record, utcnow
from tests.wire import QueryCounter

SECRET = "marker-that-must-not-be-logged-4f1c"
STAMPS = {"creationdate": utcnow(), "lastmodificationdate": utcnow(), "lastmodifiedby": "tester"}


def test_a_bulk_create_whose_history_fails_on_item_500_stores_nothing_and_keeps_no_answer(
    client, auth, rows, monkeypatch
):
    """The items are inserted and their history written in the request's transaction: a failure on the
    500th history entry undoes the 1000 inserts and the first 499 entries, and the Idempotency-Key is free."""
    record_creations = phoenix.resources.base.record_creations

    def history_failing_on_item_500(collection, items):
        record_creations(collection, items[:499])
        bad = phoenix.history.entry(collection, items[499], "created", {}, {}, 1, None)  # changed_at NOT NULL
        phoenix.history.record_changes([bad])

    monkeypatch.setattr(phoenix.resources.base, "record_creations", history_failing_on_item_500)
    body = [{"value2": n} for n in range(1000)]
    headers = {**auth, "Idempotency-Key": "bulk-1"}
    response = client.post("/api/records", json=body, headers=headers)
    assert response.status_code == 409
    assert response.json == {
        "status": "failed",
        "message": CONFLICT,
        "code": "conflict",
        "request_id": response.headers["X-Request-ID"],
    }
    assert rows(Record) == []
    assert rows(Change) == []
    assert rows(IdempotentRequest) == []

    monkeypatch.setattr(phoenix.resources.base, "record_creations", record_creations)
    retried = client.post("/api/records", json=body, headers=headers)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers  # created now, not an answer kept from the failure
    assert len(rows(Record)) == 1000
    assert len(rows(Change)) == 1000


def test_a_version_changed_under_a_write_is_409_and_changes_nothing(app, client, auth, rows, monkeypatch):
    """The ORM's version check (UPDATE ... WHERE version = read) raising StaleDataError is a 409, not a 500."""
    client.post("/api/records", json={"value1": "before"}, headers=auth)
    stamp_modification = phoenix.resources.base.stamp_modification

    def stamp_then_bump_version(item, created=False):
        stamp_modification(item, created)
        # Another writer's change, as the UPDATE will find it (same transaction, so no lock is waited for).
        db.session.connection().execute(sa.text("UPDATE record SET version = version + 10"))

    monkeypatch.setattr(phoenix.resources.base, "stamp_modification", stamp_then_bump_version)
    response = client.patch("/api/records/1", json={"value1": "after"}, headers=auth)
    assert response.status_code == 409
    assert response.json == {
        "status": "failed",
        "message": CONFLICT,
        "code": "conflict",
        "request_id": response.headers["X-Request-ID"],
    }
    assert [(r.value1, r.version) for r in rows(Record)] == [("before", 1)]
    assert [c.action for c in rows(Change)] == ["created"]


def test_a_conflict_is_logged_without_the_statements_parameters(app, client, auth, rows, monkeypatch, caplog):
    """The log line names the route and the database's complaint; the values sent (secrets, say) stay out."""
    client.post("/api/records", json={"value1": "before"}, headers=auth)
    record_changes = phoenix.history.record_changes

    def refused_by_a_constraint(entries):
        record_changes([{**entry, "action": None} for entry in entries])  # action is NOT NULL

    monkeypatch.setattr(phoenix.history, "record_changes", refused_by_a_constraint)
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        response = client.patch("/api/records/1", json={"value1": SECRET}, headers=auth)
    assert response.status_code == 409
    assert response.json == {
        "status": "failed",
        "message": CONFLICT,
        "code": "conflict",
        "request_id": response.headers["X-Request-ID"],
    }
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Conflict on")]
    assert line.startswith("Conflict on PATCH /api/records/1: ")
    assert "null" in line.lower() or "NOT NULL" in line
    assert SECRET not in line
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert [(r.value1, r.version) for r in rows(Record)] == [("before", 1)]


@contextmanager
def sent_to_the_database(app):
    """The SQL statements the app sends while the block runs, COMMIT included, in order."""
    sent = []

    def note_statement(conn, cursor, statement, parameters, context, executemany):
        # BEGIN and the timeouts ride in front of a transaction's first statement on PostgreSQL
        # (database.guard_transactions): one message. SQLite's BEGIN (database.sqlite_on_begin) is sent
        # on its own, to a file: no round trip either.
        while statement.lstrip().upper().startswith(("SET LOCAL ", "BEGIN")):
            statement = statement.split(";", 1)[1] if ";" in statement else ""
        if statement.strip():
            sent.append(statement.split()[0].upper())

    def note_commit(conn):
        sent.append("COMMIT")

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note_statement)
    sa.event.listen(engine, "commit", note_commit)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", note_statement)
        sa.event.remove(engine, "commit", note_commit)


def test_a_create_is_the_key_select_and_one_transaction_of_insert_and_history(app, client, auth):
    assert client.post("/api/records", json={"value1": "first use"}, headers=auth).status_code == 201
    with sent_to_the_database(app) as sent:
        assert client.post("/api/records", json={"value1": "x"}, headers=auth).status_code == 201
    assert sent == ["SELECT", "INSERT", "INSERT", "COMMIT"]


def test_a_read_is_one_statement_and_no_commit(app, client, auth):
    assert client.post("/api/records", json={"value1": "x"}, headers=auth).status_code == 201
    with sent_to_the_database(app) as sent:
        assert client.get("/api/records/1").status_code == 200
    assert sent == ["SELECT"]


def test_a_change_is_one_transaction_of_lock_update_and_history(app, client, auth):
    assert client.post("/api/records", json={"value1": "x"}, headers=auth).status_code == 201
    with sent_to_the_database(app) as sent:
        assert client.patch("/api/records/1", json={"value1": "y"}, headers=auth).status_code == 200
    assert sent == ["SELECT", "SELECT", "UPDATE", "INSERT", "COMMIT"]


@contextmanager
def counted_app(db_url):
    """(app, QueryCounter): an app whose connections go through a relay that notes each Query message."""
    counter = QueryCounter(db_url)
    relayed = create_app(
        {
            "PHOENIX_CONFIG": "testing",
            "SQLALCHEMY_DATABASE_URI": counter.url_for(db_url).render_as_string(hide_password=False),
            "RATELIMIT_ENABLED": False,
        }
    )
    try:
        yield relayed, counter
    finally:
        with relayed.app_context():
            db.engine.dispose()
        counter.close()


def shapes(queries):
    """The first words of each statement of each Query message: one list a round trip."""
    return [
        [" ".join(part.split()[:3]) for part in query.split(";") if part.strip() and "SET LOCAL" not in part]
        for query in queries
    ]


@pytest.mark.postgresql_only
def test_on_postgresql_a_create_is_three_round_trips_and_a_read_one(app, db_url):
    with counted_app(db_url) as (relayed, counter):
        client = relayed.test_client()
        key = client.post("/api/keys", json={"username": "counted"}).json["api_key"]
        auth = {"api-key": key}
        assert client.post("/api/records", json={"value1": "first use"}, headers=auth).status_code == 201
        del counter.queries[:]
        assert client.post("/api/records", json={"value1": "x"}, headers=auth).status_code == 201
        created = list(counter.queries)
        del counter.queries[:]
        assert client.get("/api/records/2").status_code == 200
        read = list(counter.queries)
    # The key's SELECT stands alone (its statement timeout with it); BEGIN and the timeouts ride with the
    # INSERT, as psycopg2 sends no BEGIN of its own; the history entry, whose INSERT returns nothing,
    # rides with the COMMIT.
    assert shapes(created) == [
        ["SELECT authenticationkey.id, authenticationkey.username,"],
        ["BEGIN", "INSERT INTO record"],
        ["INSERT INTO history", "COMMIT"],
    ]
    assert created[0].startswith("SET LOCAL statement_timeout") and "FROM authenticationkey" in created[0]
    assert "idle_in_transaction_session_timeout" in created[1]
    assert len(read) == 1 and read[0].startswith("SET LOCAL statement_timeout") and "FROM record" in read[0]


@pytest.mark.postgresql_only
def test_on_postgresql_a_removals_history_rides_with_the_delete_and_a_failed_one_leaves_nothing(
    app, db_url, rows
):
    """What waits goes with the next statement, parameters and all, values with % and quotes intact; when
    the message fails, the transaction is rolled back and the connection serves the next request."""
    value = "100% 'sure' %(id)s %s"
    with counted_app(db_url) as (relayed, counter):
        client = relayed.test_client()
        auth = {"api-key": client.post("/api/keys", json={"username": "counted"}).json["api_key"]}
        assert client.post("/api/records", json={"value1": value}, headers=auth).status_code == 201
        del counter.queries[:]
        assert client.delete("/api/records/1", headers=auth).status_code == 200
        removed = list(counter.queries)
    assert shapes(removed)[-2:] == [["INSERT INTO history", "DELETE FROM record"], ["COMMIT"]]
    with app.app_context():
        entries = db.session.execute(sa.select(Change.action, Change.changes).order_by(Change.id)).all()
    assert [(action, changes["value1"]) for action, changes in entries] == [
        ("created", [None, value]),
        ("removed", [value, None]),
    ]
    assert rows(Record) == []


@contextmanager
def history_refused_at_the_commit(monkeypatch):
    """While the block runs, history entries are written with changed_at null (it is NOT NULL): on
    PostgreSQL the entry waits for the COMMIT and is refused there."""
    record_changes = phoenix.history.record_changes

    def refused_at_the_commit(entries):
        record_changes([{**entry, "changed_at": None} for entry in entries])

    with monkeypatch.context() as patched:
        patched.setattr(phoenix.history, "record_changes", refused_at_the_commit)
        yield


@pytest.mark.postgresql_only
def test_on_postgresql_a_history_entry_that_fails_with_the_commit_rolls_the_change_back(
    app, client, auth, rows, monkeypatch
):
    """The entry waits for the COMMIT; refused there (changed_at is NOT NULL), the COMMIT never runs: the
    request is a 409, nothing of it is stored, and the same pooled connection serves the next write."""
    assert client.post("/api/records", json={"value1": "before"}, headers=auth).status_code == 201
    with history_refused_at_the_commit(monkeypatch):
        assert client.patch("/api/records/1", json={"value1": "after"}, headers=auth).status_code == 409
    assert [(r.value1, r.version) for r in rows(Record)] == [("before", 1)]
    assert client.patch("/api/records/1", json={"value1": "after"}, headers=auth).status_code == 200
    assert [(r.value1, r.version) for r in rows(Record)] == [("after", 2)]
    with app.app_context():
        assert db.session.scalars(sa.select(Change.action).order_by(Change.id)).all() == [
            "created",
            "modified",
        ]


@pytest.mark.postgresql_only
def test_on_postgresql_a_create_that_fails_at_its_commit_stores_nothing_and_its_connection_serves_on(
    app, client, auth, rows, monkeypatch
):
    """A create's transaction is Core's on a kept connection (database.core_transaction): its history
    entry refused with the COMMIT is a 409 with nothing stored, and the connection is back out of any
    transaction for the next create."""
    assert client.post("/api/records", json={"value1": "first"}, headers=auth).status_code == 201
    with history_refused_at_the_commit(monkeypatch):
        response = client.post("/api/records", json={"value1": "refused"}, headers=auth)
    assert response.status_code == 409 and response.json["code"] == "conflict"
    assert client.post("/api/records", json={"value1": "after"}, headers=auth).status_code == 201
    assert [r.value1 for r in rows(Record)] == ["first", "after"]
    with app.app_context():
        assert db.session.scalars(sa.select(Change.item_id).order_by(Change.id)).all() == [
            r.id for r in rows(Record)
        ]


@pytest.mark.postgresql_only
def test_a_core_transaction_refuses_a_view_that_uses_the_orm_session(app, rows):
    """The ORM session's statements would run in a transaction of their own, outside the view's: the
    view fails, and what it wrote through Core is rolled back."""

    @database.core_transaction(needs_session=lambda: False)
    def careless():
        database.connection().execute(sa.insert(Record.__table__).values(value1="core", version=1, **STAMPS))
        db.session.execute(sa.select(1))

    with app.test_request_context(), pytest.raises(RuntimeError, match="ORM session"):
        careless()
    assert rows(Record) == []
