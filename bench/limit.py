"""The limit app: Phoenix's SQL for each benchmark case, run by raw psycopg2 in plain Flask views.

It is the physical limit of Phoenix's work in this stack (gunicorn, Flask, psycopg2, PostgreSQL): the same
statements as Phoenix sends for the case, one connection per worker (per thread or greenlet, whatever
gunicorn.conf.py's worker class), the answer encoded by orjson as Phoenix's is, and nothing else: no
validation, no ORM, no pool, no error shape. `Phoenix / limit` in the benchmark's table is how much of
that limit Phoenix reaches; the gap is the cost of Phoenix's own layers.

The routes answer on Phoenix's paths, so that one wrk script drives Phoenix, this app and bare Flask:
- GET /api/records/<id>: SELECT the record's columns by id.
- GET /api/records?limit=N: the first page, SELECT ... ORDER BY id LIMIT N+1.
- POST /api/records: find the key by prefix and compare digests, INSERT the record RETURNING it, INSERT
  its history entry, COMMIT (Phoenix's create transaction).
- GET /api/changes?limit=N: a keyset select of history ordered by id (what a changes feed page needs).
- GET /api/games?name=W&limit=N[&sort=F] and GET /api/records?q=W&limit=N[&sort=F]: the floor of a
  substring search's first page, for a substring that the window finds (one in 150 rows or commoner):
  Phoenix's window statement alone (listing.search_statements' in_window: the next SEARCH_WINDOW rows in
  the order, read from the order's index, and the page's rows fetched by id), in one round trip, without
  the probing around it. What it reads grows with the table only as the matches thin out; the bench
  prints its growth beside Phoenix's.

Run by bench/run.py with DATABASE_URL set; the columns come from phoenix.models so the SQL stays Phoenix's.
"""

import hashlib
import hmac
import os
import threading
from datetime import UTC, datetime

import orjson
import psycopg2
from flask import Flask, Response, abort, request
from sqlalchemy.dialects import postgresql

from phoenix.listing import SEARCH_WINDOW, search_statements, substring_pattern
from phoenix.models import SEARCHED, Change, Record
from phoenix.resources.games import GAMES
from phoenix.resources.records import RECORDS

app = Flask(__name__)
local = threading.local()  # greenlet-local under gevent's patching: one connection per worker thread

RECORD_COLUMNS = tuple(Record.__table__.columns.keys())
HISTORY_COLUMNS = tuple(Change.__table__.columns.keys())
SELECT_RECORD = f"SELECT {', '.join(RECORD_COLUMNS)} FROM record WHERE id = %s"
LIST_RECORDS = f"SELECT {', '.join(RECORD_COLUMNS)}, id AS _key0 FROM record ORDER BY id ASC LIMIT %s"
KEY_BY_PREFIX = "SELECT id, username, secret_hash, revoked_at, replaced_at, expires_at FROM authenticationkey WHERE prefix = %s"
WRITABLE = ("timestamp", "value1", "value2", "value3")
INSERT_RECORD = (
    "INSERT INTO record (timestamp, value1, value2, value3, creationdate, lastmodificationdate, "
    f"lastmodifiedby, version) VALUES (%s, %s, %s, %s, %s, %s, %s, 1) RETURNING {', '.join(RECORD_COLUMNS)}"
)
INSERT_HISTORY = (
    "INSERT INTO history (collection, item_id, version, action, changed_by, changed_at, changes) "
    "VALUES ('records', %s, 1, 'created', %s, %s, %s)"
)
CHANGES_PAGE = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE id > %s ORDER BY id ASC LIMIT %s"


def search_window(collection, sort):
    """(SQL, the items' field names) of Phoenix's window statement for a search of collection's searched text in
    the order sort ("field" or "-field"), compiled for psycopg2."""
    table = collection.model.__table__
    order = ((sort.removeprefix("-"), sort.startswith("-")),)
    statement = search_statements(collection.listing, order, (table.c[SEARCHED[table.name]],), False)
    statement = statement["in_window"].statement
    fields = [column.key for column in statement.selected_columns][: len(collection.listing.columns)]
    return str(statement.compile(dialect=postgresql.psycopg2.dialect())), fields


SEARCHES = {
    (collection.plural, sort): search_window(collection, sort)
    for collection in (RECORDS, GAMES)
    for sort in dict.fromkeys(
        ["id", *collection.listing.sorts, *(f"-{name}" for name in collection.listing.sorts)]
    )
}


def database():
    """This thread's connection, opened on first use."""
    if getattr(local, "connection", None) is None:
        local.connection = psycopg2.connect(os.environ["DATABASE_URL"])
    return local.connection


def plain(value):
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def answer(body, status=200, headers=None):
    return Response(orjson.dumps(body), status=status, headers=headers, mimetype="application/json")


@app.get("/api/records/<int:record_id>")
def read_record(record_id):
    connection = database()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(SELECT_RECORD, (record_id,))
        row = cursor.fetchone()
    if row is None:
        return answer({"status": "failed", "message": "not found"}, 404)
    record = dict(zip(RECORD_COLUMNS, map(plain, row), strict=True))
    return answer({"status": "success", "record": record}, headers={"ETag": f'"{record["version"]}"'})


def search_page(plural, word):
    """The floor of a search's first page (see the module's docstring): the window statement's rows."""
    limit = int(request.args.get("limit", 50))
    sql, columns = SEARCHES.get((plural, request.args.get("sort", "id"))) or abort(404)
    connection = database()
    connection.autocommit = True
    with connection.cursor() as cursor:
        parameters = {
            "search_0": substring_pattern(word),
            "window_size": SEARCH_WINDOW,
            "page_size": limit + 1,
        }
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    items = [dict(zip(columns, map(plain, row), strict=False)) for row in rows[:limit]]
    cursor_text = str(rows[limit - 1][-1]) if len(rows) > limit else None
    return answer({"status": "success", plural: items, "next_cursor": cursor_text, "links": {"next": None}})


@app.get("/api/games")
def search_games():
    return search_page("games", request.args.get("name") or abort(404))


@app.get("/api/records")
def list_records():
    if "q" in request.args:
        return search_page("records", request.args["q"])
    limit = int(request.args.get("limit", 50))
    connection = database()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(LIST_RECORDS, (limit + 1,))
        rows = cursor.fetchall()
    records = [dict(zip(RECORD_COLUMNS, map(plain, row), strict=False)) for row in rows[:limit]]
    cursor_text = str(rows[limit - 1][-1]) if len(rows) > limit else None
    return answer(
        {"status": "success", "records": records, "next_cursor": cursor_text, "links": {"next": None}}
    )


@app.post("/api/records")
def create_record():
    prefix, _, secret = request.headers.get("api-key", "").rpartition("_")
    data = orjson.loads(request.get_data())
    connection = database()
    connection.autocommit = False
    with connection, connection.cursor() as cursor:  # one transaction: COMMIT at the end
        cursor.execute(KEY_BY_PREFIX, (prefix,))
        key = cursor.fetchone()
        if key is None or not hmac.compare_digest(key[2], hashlib.sha256(secret.encode()).hexdigest()):
            return answer({"status": "failed", "message": "not authenticated"}, 401)
        now = datetime.now(UTC)
        cursor.execute(INSERT_RECORD, (*(data.get(name) for name in WRITABLE), now, now, key[1]))
        record = dict(zip(RECORD_COLUMNS, map(plain, cursor.fetchone()), strict=True))
        changes = {name: [None, record[name]] for name in WRITABLE if record[name] is not None}
        cursor.execute(INSERT_HISTORY, (record["id"], key[1], now, orjson.dumps(changes).decode()))
    headers = {"Location": f"/api/records/{record['id']}", "ETag": f'"{record["version"]}"'}
    return answer({"status": "success", "record": record}, 201, headers)


@app.get("/api/changes")
def changes_page():
    limit = int(request.args.get("limit", 100))
    since = int(request.args.get("since", 0))
    connection = database()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(CHANGES_PAGE, (since, limit + 1))
        rows = cursor.fetchall()
    changes = [dict(zip(HISTORY_COLUMNS, map(plain, row), strict=True)) for row in rows[:limit]]
    next_cursor = str(changes[-1]["id"]) if changes else str(since)
    return answer(
        {"status": "success", "changes": changes, "next_cursor": next_cursor, "links": {"next": None}}
    )


@app.get("/health")
def health():
    return answer({"status": "success"})
