"""The tables: records, games and the API keys that sign writes."""

from datetime import UTC, datetime

from sqlalchemy import FetchedValue, Integer, String, cast, func, literal_column, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import declared_attr
from sqlalchemy.types import JSON, DateTime, TypeDecorator

from phoenix.extensions import db


def utcnow():
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamptz that always comes back timezone-aware in UTC, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is UTC:
            return value  # as PostgreSQL sends it when its time zone is UTC: nothing to convert
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Ids are never reused, SQLite included (sqlite_autoincrement): a removed item's id stays its own.
# Ids are 32-bit on PostgreSQL: a larger one cannot exist, and must not reach the database.
MAX_ID = 2**31 - 1


class Stamped:
    """Who changed a row last, when, and its version: set by the server on every write."""

    creationdate = db.Column(UTCDateTime, nullable=False, default=utcnow)
    lastmodificationdate = db.Column(UTCDateTime, nullable=False, default=utcnow)
    lastmodifiedby = db.Column(db.String(64), nullable=False)
    # The username that created the row: under PHOENIX_WRITE_POLICY=owner, the one that may change it.
    createdby = db.Column(db.String(64))
    # 1 at creation, +1 on every change; the ETag. SQLAlchemy checks it in each UPDATE's WHERE.
    version = db.Column(db.Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.version}


class Record(Stamped, db.Model):
    """A free-form measurement: a timestamp and three values of different types."""

    __tablename__ = "record"
    __table_args__ = {"sqlite_autoincrement": True}

    id = db.Column(db.Integer, primary_key=True)
    timestamp = db.Column(db.Float)
    value1 = db.Column(db.String(255))
    value2 = db.Column(db.Float)
    value3 = db.Column(db.Boolean)


class Game(Stamped, db.Model):
    """A video game in the catalogue."""

    __tablename__ = "game"
    __table_args__ = {"sqlite_autoincrement": True}

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(255), nullable=False)
    platform = db.Column(db.String(100), nullable=False)
    publisher = db.Column(db.String(255), nullable=False)
    genre = db.Column(db.String(100), nullable=False)
    year = db.Column(db.Integer, nullable=False)


class AuthenticationKey(db.Model):
    """An API key: the username it stamps on writes, its public prefix and the digest of its secret.

    The key itself is never stored. A username may hold several working keys, each with a name and
    scopes. Rotating adds a row to the key's lineage and marks the old one replaced (at once, or after a
    grace period); revoking marks every row of the lineage revoked (the username stays taken).
    """

    __tablename__ = "authenticationkey"
    __table_args__ = {"sqlite_autoincrement": True}

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), nullable=False)
    prefix = db.Column(db.String(32), nullable=False, unique=True)
    secret_hash = db.Column(db.String(64), nullable=False)
    created_on = db.Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = db.Column(UTCDateTime)
    last_used_at = db.Column(UTCDateTime)
    revoked_at = db.Column(UTCDateTime)
    replaced_at = db.Column(UTCDateTime)
    name = db.Column(db.String(64), nullable=False, default="default")
    scopes = db.Column(db.String(255), nullable=False)  # space-separated (phoenix.permissions)
    # The key and the keys rotated from it or into it: a revoke stops them all, and revoke and rotate
    # lock the lineage's rows, so that neither can slip past the other.
    lineage = db.Column(db.String(80), nullable=False)
    # The lineage that registered the username: its current row keeps the username taken.
    founding = db.Column(db.Boolean, nullable=False, default=False)
    # A rotated-away key works until then (a rotation with grace_seconds).
    grace_until = db.Column(UTCDateTime)

    def state(self, now=None):
        """ "active", or why the key no longer works: "replaced", "revoked" or "expired"."""
        return key_state(self, now)


def key_state(key, now=None):
    """A key's state, from its row (an ORM object or a plain one): "active", "replaced", "revoked" or
    "expired". A rotated-away key in its grace period is active until grace_until."""
    now = now or utcnow()
    replaced = key.replaced_at is not None and (key.grace_until is None or key.grace_until <= now)
    # Whichever came last: a key revoked with its lineage after a rotation is "revoked" (its successor
    # is too); a revoked key that the operator rotated afterwards is "replaced".
    if key.revoked_at is not None and (not replaced or key.revoked_at >= key.replaced_at):
        return "revoked"
    if replaced:
        return "replaced"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


class Change(db.Model):
    """One entry of an item's history: what changed, to which version, by whom and when, through which key.

    It is also an entry of the changes feed (phoenix/resources/changes.py), which serves entries in
    (xid, id) order: see there why that order never skips a late committer.
    """

    __tablename__ = "history"
    __table_args__ = (
        db.UniqueConstraint("collection", "item_id", "version"),
        db.Index("ix_history_item", "collection", "item_id", "id"),  # one item's entries, paged by id
        db.Index("ix_history_feed", "xid", "id"),  # the feed of both collections
        db.Index("ix_history_collection_feed", "collection", "xid", "id"),  # the feed of one
        {"sqlite_autoincrement": True},
    )

    id = db.Column(db.Integer, primary_key=True)
    collection = db.Column(db.String(16), nullable=False)  # "records" or "games"
    item_id = db.Column(db.Integer, nullable=False)
    version = db.Column(db.Integer, nullable=False)
    action = db.Column(db.String(8), nullable=False)  # created, modified, removed
    changed_by = db.Column(db.String(64), nullable=False)
    changed_at = db.Column(UTCDateTime, nullable=False)
    changes = db.Column(JSON().with_variant(JSONB(), "postgresql"), nullable=False)
    # The prefix of the key that made the change; null for an operator's command, an import, a backfill.
    via = db.Column(db.String(32))
    # The writing transaction's id on PostgreSQL (the column's default, pg_current_xact_id()); 0 on SQLite,
    # where writes are serialised and the id alone is commit order, and for entries older than the feed.
    xid = db.Column(db.BigInteger, nullable=False, server_default=FetchedValue())


class ReservedUsername(db.Model):
    """A username that the operator's commands stamp rows with (`flask seed`, `flask games import --as`):
    never handed out by self-service, so nobody can register it and then edit those rows as it."""

    __tablename__ = "reserved_username"

    username = db.Column(db.String(64), primary_key=True)  # lowercased
    reserved_at = db.Column(UTCDateTime, nullable=False, default=utcnow)


class IdempotentRequest(db.Model):
    """The answer to a create sent with an Idempotency-Key, kept 24 hours to replay to retries."""

    __tablename__ = "idempotency"
    __table_args__ = (
        db.UniqueConstraint("key_id", "idempotency_key"),
        {"sqlite_autoincrement": True},
    )

    id = db.Column(db.Integer, primary_key=True)
    key_id = db.Column(db.Integer, nullable=False)  # the API key that sent it
    idempotency_key = db.Column(db.String(255), nullable=False)
    fingerprint = db.Column(db.String(64), nullable=False)  # SHA-256 of method, path and body
    status = db.Column(db.Integer, nullable=False)
    body = db.Column(db.Text, nullable=False)
    location = db.Column(db.String(255))
    # Indexed: housekeeping deletes the expired answers oldest first (migration 0005).
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow, index=True)


# Usernames are unique whatever their case, so "Admin" cannot pose as "admin": one current row of a
# founding lineage per username. Rows of keys rotated away, and the username's other keys, are left out.
CURRENT_KEY = AuthenticationKey.replaced_at.is_(None)
FOUNDING_KEY = CURRENT_KEY & AuthenticationKey.founding.is_(True)
db.Index(
    "uq_authenticationkey_username_lower",
    func.lower(AuthenticationKey.username),
    unique=True,
    sqlite_where=FOUNDING_KEY,
    postgresql_where=FOUNDING_KEY,
)
# A key's name is unique among its username's keys that are neither rotated away nor revoked.
NAMED_KEY = CURRENT_KEY & AuthenticationKey.revoked_at.is_(None)
db.Index(
    "uq_authenticationkey_username_name",
    func.lower(AuthenticationKey.username),
    AuthenticationKey.name,
    unique=True,
    sqlite_where=NAMED_KEY,
    postgresql_where=NAMED_KEY,
)
db.Index("ix_authenticationkey_lineage", AuthenticationKey.lineage)


# The keys that lists sort and filter on (phoenix/listing.py), and the indexes built on exactly them:
# a query uses an index on expressions only when it repeats the same expressions.


def nulls_last(column):
    """A nullable column as two never-NULL keys: 0 for a value then the value, 1 for NULL (sorted last).

    Keyset pagination compares rows as tuples, and a NULL in a tuple makes the comparison unknown.
    """
    empty = literal_column("''") if isinstance(column.type, String) else literal_column("0")
    return (cast(column.is_(None), Integer), func.coalesce(column, empty, type_=column.type))


def folded(column):
    """A string column compared and sorted case-insensitively."""
    return (func.lower(column, type_=column.type),)


def plain(column):
    """A NOT NULL column, sorted as it is."""
    return (column,)


def key_index(name, keys, model):
    """A B-tree index on keys then id: serves a sort on keys, and a filter on them in id order."""
    return db.Index(name, *keys, model.id)


# A substring search looks for its page among the next rows in the list's order (phoenix/listing.py,
# bounded probing), and reading those rows is its time. So each index of a list's order holds the
# searched text too, so that probing reads the index alone and fetches only its page's rows (an
# index-only scan, PostgreSQL): folded as the search compares it, after id (where it changes no order),
# and as it is, INCLUDEd, with the column behind an expression key (PostgreSQL's planner takes an
# index-only scan only when each column that a query names is in the index as it is). A B-tree entry
# must fit a third of a page, so an index takes only what fits for any text the API accepts (4 bytes a
# character at most): without the folded text (the probe folds each row), or as it was.
SEARCHED = {"record": "value1", "game": "name"}
INDEX_ENTRY_BYTES = 2_600  # PostgreSQL refuses a B-tree entry over 2,704 bytes, headers included
FOLDED_IN_ORDER = set()  # (table, column) of the sorts whose index has the folded searched text as a key


def searched_key(table):
    """The folded searched text of a table, as a probe compares it and the order indexes hold it."""
    return folded(table.c[SEARCHED[table.name]])[0]


def worst_bytes(expressions):
    """The most bytes these keys or columns can take in an index entry."""
    return sum(4 * e.type.length if isinstance(e.type, String) else 8 for e in expressions)


def order_index(name, keys_of, column, model):
    """The index of a sort on column (keys_of: nulls_last, folded or plain), holding the searched text as
    far as it fits (see above)."""
    table = model.__table__
    searched = table.c[SEARCHED[table.name]]
    keys = [model.id] if column is model.id else [*keys_of(column), model.id]
    folded_key = [] if keys_of is folded and column.name == searched.name else [searched_key(table)]
    behind = [] if keys_of is plain else [table.c[column.name]]
    included = list(dict.fromkeys([*behind, searched]))
    for extra, include in ((folded_key, included), ([], included), ([], [])):
        if worst_bytes([*keys, *extra, *include]) <= INDEX_ENTRY_BYTES:
            break
    if extra or not folded_key:
        FOLDED_IN_ORDER.add((table.name, column.name))
    return db.Index(name, *keys, *extra, postgresql_include=[c.name for c in include])


def primary_key_last(connection, table):
    """Make table's primary key again (PostgreSQL), after its other indexes. For one row by id, PostgreSQL
    prices the primary key and the id-order index that holds the searched text alike, and keeps the
    newest of equals; the primary key is four times narrower (pgbench at a million games: 40,000 lookups
    a second through it, 33,600 to 38,500 through the other). Migration 0011 does the same."""
    name = table.primary_key.name
    connection.execute(
        text(f"ALTER TABLE {table.name} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} PRIMARY KEY (id)")
    )


# A trigram index's pending list (new entries not yet merged into the index), which every search through
# the index reads whole, is merged once it reaches this many kB (PostgreSQL's default: 4 MB). Migration
# 0010 says what it costs and buys.
TRIGRAM_PENDING_LIST_KB = 128


def trigram_index(name, column):
    """A trigram (pg_trgm) GIN index for case-insensitive substring search; PostgreSQL only."""
    return db.Index(
        name,
        column,
        postgresql_using="gin",
        postgresql_ops={column.name: "gin_trgm_ops"},
        postgresql_with={"gin_pending_list_limit": TRIGRAM_PENDING_LIST_KB},
    )


order_index("ix_record_id_value1", plain, Record.id, Record)
order_index("ix_record_timestamp", nulls_last, Record.timestamp, Record)
order_index("ix_record_value1", nulls_last, Record.value1, Record)
order_index("ix_record_value2", nulls_last, Record.value2, Record)
key_index("ix_record_value3", plain(Record.value3), Record)  # a filter, not a sort
order_index("ix_record_lastmodifiedby", folded, Record.lastmodifiedby, Record)
order_index("ix_record_creationdate", plain, Record.creationdate, Record)
order_index("ix_record_lastmodificationdate", plain, Record.lastmodificationdate, Record)
trigram_index("ix_record_value1_trgm", Record.value1)

order_index("ix_game_id_name", plain, Game.id, Game)
order_index("ix_game_name", folded, Game.name, Game)
order_index("ix_game_platform", folded, Game.platform, Game)
order_index("ix_game_publisher", folded, Game.publisher, Game)
order_index("ix_game_genre", folded, Game.genre, Game)
order_index("ix_game_year", plain, Game.year, Game)
order_index("ix_game_creationdate", plain, Game.creationdate, Game)
order_index("ix_game_lastmodificationdate", plain, Game.lastmodificationdate, Game)
trigram_index("ix_game_name_trgm", Game.name)
