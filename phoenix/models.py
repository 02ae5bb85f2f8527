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
    """An API key: the username it stamps on writes, its public prefix and the digest of its secret.

    The key itself is never stored. A username has one current key at a time: rotating adds a row
    and marks the old one replaced; revoking marks the current one revoked (the name stays taken).
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

    def state(self, now=None):
        """ "active", or why the key no longer works: "replaced", "revoked" or "expired"."""
        if self.replaced_at is not None:
            return "replaced"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


# Usernames are unique whatever their case, so "Admin" cannot pose as "admin". Rows of keys that were
# rotated away are left out, so that a username's current key and its past ones can live side by side.
CURRENT_KEY = AuthenticationKey.replaced_at.is_(None)
db.Index(
    "uq_authenticationkey_username_lower",
    func.lower(AuthenticationKey.username),
    unique=True,
    sqlite_where=CURRENT_KEY,
    postgresql_where=CURRENT_KEY,
)
