"""GET /api/changes: the changes feed, every create, change and removal of records and games, exactly once.

The feed is the history table (phoenix.models.Change), whose entries are written in the same transaction
as the changes they tell of, served in (xid, id) order with a cursor that is the last (xid, id) served.

Why a client that follows next_cursor sees every committed change exactly once, and no other:

- PostgreSQL. Each entry stores the id of the transaction that wrote it (`pg_current_xact_id()`, the
  column's default). A page serves only entries whose xid is below a horizon taken from the page
  statement's own snapshot: the oldest transaction still running at that snapshot
  (`pg_snapshot_xmin(pg_current_snapshot())`), or rather the oldest of those running ones that may be
  this database's (ENDED_BELOW: the function phoenix_feed_horizon(), made by migration 0009). Every
  transaction of this database below the horizon has ended, so the entries below it are final
  (committed and visible to the statement, or rolled back and never), and every transaction that may
  still commit, now or later, has an xid at or above it (running ones are at or above it; new ones get
  xids above any handed out so far). So nothing can ever appear behind a served position: a cursor
  (xid, id) past which the feed has served everything stays exact. A plain
  id or timestamp cursor is not: both are taken before commit, so a transaction that commits late lands
  behind a cursor that has already passed it.
- Other databases. The snapshot lists the running transactions of every database on the server, and a
  long one elsewhere (a bulk load in another database) would hold the feed back for its whole length.
  A running xid is left out of the horizon only when pg_stat_activity shows it as the backend_xid of a
  backend connected to another database: a backend's database never changes, and a row pairs a
  backend's xid with its own database (PostgreSQL reads the backend's entry, then its xid, so a row can
  show a given running xid only next to the database of the backend that holds it). An xid that cannot
  be placed (prepared transactions, a role that may not see other backends' xids: those need
  pg_read_all_stats) stays in, which is only slower, never wrong.
- One item's versions come out in order. An item's writes hold its row lock (SELECT ... FOR UPDATE)
  until they commit, and a transaction gets its xid at its first write, which for a change is that
  lock itself (PostgreSQL assigns it once the lock is granted, not while waiting: a test checks the
  order under concurrent writers). The key's last_used_at is written in a transaction of its own
  before, so a change takes no xid before it locks its item; a creation's xid is older than any change
  of that item, which can only lock the row once the creation has committed. So the versions of one
  item have increasing xids, and within one transaction increasing ids.
- SQLite. Writes are serialised (one writer at a time holds the lock from its first write to its
  commit), so history ids are handed out in commit order and a reader never sees a later id before an
  earlier one. xid is 0 there, and the same cursor orders by id alone.

Entries older than the feed (migration 0006) have xid 0: all committed, in id order for each item.

The price on PostgreSQL: an entry is served once every transaction of this database older than it has
ended, so a long transaction on Phoenix's database holds the feed back until it ends; Phoenix's own are
short, and idle_in_transaction_session_timeout bounds a forgotten one.

Long poll (wait): when a page is empty, the request polls every POLL_SECONDS with one short autocommit
statement, holding no connection, no transaction and no turn of its worker (phoenix/turns.py) in
between (no LISTEN/NOTIFY, which PgBouncer's transaction mode breaks), and answers as soon as a page has
entries or the time is up.
"""

import time

from flask import request, url_for
from marshmallow import fields, validate
from sqlalchemy import BigInteger, Integer, bindparam, func, select, tuple_

from phoenix import turns
from phoenix.database import Prepared, autocommit, connection
from phoenix.errors import ApiError
from phoenix.jsonio import envelope, success
from phoenix.listing import (
    FiniteFloat,
    Listing,
    ParametersSchema,
    StrictQueryInteger,
    decode_cursor,
    encode_cursor,
    link_header,
    read_parameters,
)
from phoenix.models import Change
from phoenix.openapi import TEXT, Answer, Operation, Tag, array_of
from phoenix.resources.games import GAMES
from phoenix.resources.records import RECORDS
from phoenix.resources.resource import PhoenixResource
from phoenix.schemas import HistorySchema, dumper

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30
POLL_SECONDS = 0.2
COLLECTIONS = {collection.plural: collection for collection in (RECORDS, GAMES)}

# The feed's cursors are made and checked by the lists' cursor functions (phoenix.listing), under a name
# of their own: a list's cursor is no feed cursor. The position is (xid, id) of the last entry served.
FEED = Listing(name="changes", model=Change, countable=False)
ORDER = (("xid", False),)
KEYS = [(Change.xid, False), (Change.id, False)]
START = (-1, 0)
BAD_SINCE = "Not a cursor that the changes feed gave out: use next_cursor or links.next as they came."  # before every entry: where a client with no cursor stands

# The xid below which no transaction that can write to this database is still running, as of the
# statement's snapshot (PostgreSQL; see the module's docstring): the oldest of the snapshot's running
# transactions (pg_snapshot_xip) that is not known to be another database's, else the snapshot's xmax.
# A function of its own (migration 0009), whose statement PostgreSQL plans once a session, not a page.
ENDED_BELOW = func.phoenix_feed_horizon()


TAG = Tag(
    "Changes", "The changes feed: keep a copy of both collections in sync, exactly once, removals included."
)


class ChangeSchema(HistorySchema):
    """One entry of the feed: an item's history entry, with which item it is."""

    collection = fields.String(dump_only=True, validate=validate.OneOf(list(COLLECTIONS)))
    item_id = fields.Integer(dump_only=True, validate=validate.Range(min=1))


class ChangeWithItemSchema(ChangeSchema):
    """An entry of the feed with include=item: the item as it is now (null once removed)."""

    item = fields.Raw(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "With include=item: the record or game as it is now (not as of this entry); "
            "null once it is removed.",
            "optional": True,  # only with include=item (phoenix.openapi leaves it out of `required`)
            # The collection's own schemas, so that generators make no model of their own for it.
            "oneOf": [{"$ref": "#/components/schemas/Record"}, {"$ref": "#/components/schemas/Game"}],
        },
    )


def feed_parameters():
    """The schema of the feed's query parameters; unknown ones are refused by name."""
    wait_message = f"Must be a number of seconds from 0 to {MAX_WAIT_SECONDS}."
    limit_message = f"Must be a whole number from 1 to {MAX_LIMIT}."
    declared = {
        "since": fields.String(
            validate=validate.Length(min=1, max=4096),
            metadata={
                "description": "Where to resume: the `next_cursor` of the last page, as it came (opaque). "
                "Without it, the feed starts from the very first change."
            },
        ),
        "collection": fields.String(
            validate=validate.OneOf(list(COLLECTIONS), error="Must be records or games."),
            metadata={
                "description": "Only the changes of this collection (default: both).",
                "openapi_schema_name": "CollectionName",  # one enum type for generators (phoenix.openapi)
            },
        ),
        "limit": StrictQueryInteger(
            validate=validate.Range(min=1, max=MAX_LIMIT, error=limit_message),
            error_messages={"invalid": limit_message},
            metadata={
                "description": f"How many changes a page holds at most: 1 to {MAX_LIMIT}.",
                "default": DEFAULT_LIMIT,
            },
        ),
        "include": fields.String(
            validate=validate.OneOf(["item"], error="The only include is include=item."),
            metadata={
                "description": "`item` adds each change's item as it is now (null once removed).",
                "openapi_schema_name": "ChangesInclude",
            },
        ),
        "wait": FiniteFloat(
            validate=validate.Range(min=0, max=MAX_WAIT_SECONDS, error=wait_message),
            error_messages={"invalid": wait_message},
            metadata={
                "description": f"Seconds (0 to {MAX_WAIT_SECONDS}) to hold the request while there is "
                "nothing new: it answers as soon as a change arrives, or with an empty page and the "
                "same cursor when the time is up.",
                "default": 0,
            },
        ),
    }
    return ParametersSchema.from_dict(declared, name="ChangesParameters")()


class FeedParameters:
    """What read_parameters needs of a list: its parameters schema, and its filters (none)."""

    parameters = feed_parameters()
    filters = {}


def read_feed_parameters():
    """The query parameters, validated; 400 invalid_parameters naming each bad one."""
    try:
        params = read_parameters(FeedParameters, request.args)
    except ApiError as error:
        raise ApiError(400, error.message, error.errors, code="invalid_parameters") from None
    if "since" not in params:
        return params, START
    try:
        return params, tuple(decode_cursor(FEED, params["since"], ORDER, KEYS))
    except ApiError:
        raise ApiError(400, BAD_SINCE, {"since": ["Not valid."]}, code="invalid_parameters") from None


def page_statement(dialect, collection):
    """SELECT the entries after :xid, :id in (xid, id) order, at most :page_size (the feed's index read);
    their changes as the stored JSON text (Listing.columns)."""
    position = tuple_(bindparam("xid", type_=BigInteger), bindparam("id", type_=Integer))
    conditions = [tuple_(Change.xid, Change.id) > position]
    if collection:
        conditions.insert(0, Change.collection == collection)
    if dialect == "postgresql":
        conditions.append(Change.xid < ENDED_BELOW)
    return (
        select(*FEED.columns)
        .where(*conditions)
        .order_by(Change.xid, Change.id)
        .limit(bindparam("page_size", type_=Integer))
    )


STATEMENTS = {}


def statement_for(dialect, collection):
    """page_statement, made once for each database kind and collection filter."""
    key = (dialect, collection)
    if key not in STATEMENTS:
        STATEMENTS[key] = Prepared(page_statement(dialect, collection))
    return STATEMENTS[key]


@autocommit
def fetch(position, limit, collection, include_item):
    """One page of entries after position (a short autocommit connection, given back at once); with
    include_item, each entry's item as it is now."""
    conn = connection()
    statement = statement_for(conn.dialect.name, collection)
    rows = statement.rows({"xid": position[0], "id": position[1], "page_size": limit})
    items = current_items(rows) if include_item else None
    return rows, items


def current_items(rows):
    """{(collection, id): the item's dump as it is now} for the items of rows; removed ones are missing."""
    found = {}
    for plural, collection in COLLECTIONS.items():
        ids = sorted({row.item_id for row in rows if row.collection == plural})
        if not ids:
            continue
        table = collection.model.__table__
        statement = select(*table.columns).where(table.c.id.in_(ids))
        for item in connection().execute(statement):
            found[(plural, item.id)] = collection.dump_row(item)
    return found


# Without include=item an entry has no `item`; with it, `item` is the item as it is now (or null).
CHANGES_PAGE = envelope(
    "ChangesPage",
    description="A page of the changes feed, oldest first.",
    changes=array_of(ChangeWithItemSchema),
    next_cursor={**TEXT, "description": "Where the next page starts: never null."},
    links={
        "type": "object",
        "required": ["next"],
        "properties": {"next": {**TEXT, "description": "The next page's URL."}},
        "additionalProperties": False,
    },
)


class Changes(PhoenixResource):
    """GET /api/changes: the changes feed."""

    dump_entry = staticmethod(dumper(ChangeSchema()))

    def get(self):
        params, position = read_feed_parameters()
        limit = params.get("limit", DEFAULT_LIMIT)
        collection = params.get("collection")
        include_item = params.get("include") == "item"
        deadline = time.monotonic() + params.get("wait", 0)
        while True:
            rows, items = fetch(position, limit, collection, include_item)
            left = deadline - time.monotonic()
            if rows or left <= 0:
                break
            with turns.set_aside():  # holding no connection, nor a turn: see the module's docstring
                time.sleep(min(POLL_SECONDS, left))
        if rows:
            position = (rows[-1].xid, rows[-1].id)
        next_cursor = encode_cursor(FEED, ORDER, position)
        changes = []
        for row in rows:
            entry = self.dump_entry(row)
            if include_item:
                entry["item"] = items.get((row.collection, row.item_id))
            changes.append(entry)
        args = request.args.to_dict()
        args["since"] = next_cursor
        link = url_for("changes", **args)
        body = success(changes=changes, next_cursor=next_cursor, links={"next": link})
        return body, 200, link_header(link)

    docs = {
        "get": Operation(
            summary="The changes feed",
            tag=TAG,
            description="Every create, change and removal of records and games, in the order the items' "
            "versions happened, removals included (`action: removed`). Follow `next_cursor` (or "
            "`links.next`, also in the `Link` header): a client that does sees every committed change "
            "exactly once, never an uncommitted or rolled-back one, however many writers run at once. "
            "`next_cursor` is never null: on an empty page it is where to resume. With `wait`, an empty "
            "page is held until a change arrives or the time is up. `via` is the prefix of the key that "
            "made the change (null for an operator's command or an import). A bad or edited cursor, an "
            "unknown parameter or a `wait` out of range is a 400 `invalid_parameters`.",
            query=FeedParameters.parameters,
            answers={
                200: Answer(
                    "A page of changes, oldest first.",
                    CHANGES_PAGE,
                    headers={"Link": 'The next page, as `<url>; rel="next"`.'},
                )
            },
        )
    }
