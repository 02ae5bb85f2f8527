"""The tables: records, games and the API keys that sign writes."""

from datetime import UTC, datetime

from sqlalchemy import func
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
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Ids are never reused, SQLite included (sqlite_autoincrement): a removed item's id stays its own.
# Ids are 32-bit on PostgreSQL: a larger one cannot exist, and must not reach the database.
MAX_ID = 2**31 - 1


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
