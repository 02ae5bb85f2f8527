"""The tables: records, games and the API keys that sign writes."""

from datetime import UTC, datetime

from sqlalchemy import Integer, String, cast, func, literal_column
from sqlalchemy.types import DateTime, TypeDecorator

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


class Stamped:
    """Who changed a row last and when: set by the server on every write."""

    creationdate = db.Column(UTCDateTime, nullable=False, default=utcnow)
    lastmodificationdate = db.Column(UTCDateTime, nullable=False, default=utcnow)
    lastmodifiedby = db.Column(db.String(64), nullable=False)


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
    """An API key: the username it stamps on writes, and the key itself."""

    __tablename__ = "authenticationkey"
    __table_args__ = {"sqlite_autoincrement": True}

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), nullable=False)
    key = db.Column(db.String(128), nullable=False, unique=True)
    created_on = db.Column(UTCDateTime, nullable=False, default=utcnow)


# Usernames are unique whatever their case, so "Admin" cannot pose as "admin".
db.Index("uq_authenticationkey_username_lower", func.lower(AuthenticationKey.username), unique=True)


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


def trigram_index(name, column):
    """A trigram (pg_trgm) GIN index for case-insensitive substring search; PostgreSQL only."""
    return db.Index(name, column, postgresql_using="gin", postgresql_ops={column.name: "gin_trgm_ops"})


key_index("ix_record_timestamp", nulls_last(Record.timestamp), Record)
key_index("ix_record_value1", nulls_last(Record.value1), Record)
key_index("ix_record_value2", nulls_last(Record.value2), Record)
key_index("ix_record_value3", plain(Record.value3), Record)
key_index("ix_record_lastmodifiedby", folded(Record.lastmodifiedby), Record)
key_index("ix_record_creationdate", plain(Record.creationdate), Record)
key_index("ix_record_lastmodificationdate", plain(Record.lastmodificationdate), Record)
trigram_index("ix_record_value1_trgm", Record.value1)

key_index("ix_game_name", folded(Game.name), Game)
key_index("ix_game_platform", folded(Game.platform), Game)
key_index("ix_game_publisher", folded(Game.publisher), Game)
key_index("ix_game_genre", folded(Game.genre), Game)
key_index("ix_game_year", plain(Game.year), Game)
key_index("ix_game_creationdate", plain(Game.creationdate), Game)
key_index("ix_game_lastmodificationdate", plain(Game.lastmodificationdate), Game)
trigram_index("ix_game_name_trgm", Game.name)
