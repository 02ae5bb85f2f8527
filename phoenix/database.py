"""How requests use the database: reads outside transactions, and connections checked only when stale.

Both rules cut round trips from the hot paths. A read that is one SELECT needs no BEGIN before it and no
ROLLBACK after it (PostgreSQL runs each statement in a snapshot of its own), nor the ORM session's
bookkeeping: it runs on a connection of its own. And a connection that served a request a moment ago
is alive: pinging it on every checkout (SQLAlchemy's pool_pre_ping) would cost one more round trip per
request, so only a connection left idle for a while is pinged first.
"""

import time
from functools import wraps

from flask import g
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

from phoenix.extensions import db

# A connection idle for longer than this is pinged before use; one in steady use never is.
IDLE_PING_SECONDS = 5.0


def without_transaction(view):
    """Run a read-only view on a connection of its own, in autocommit mode: each SELECT is one round trip,
    no BEGIN, no ROLLBACK, no ORM session. reading() hands the view that connection."""

    @wraps(view)
    def read(*args, **kwargs):
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Flipped on the driver's connection rather than through SQLAlchemy's isolation_level
                # option, which would send a SET to restore the level when the connection goes back to
                # the pool; the checkin listener below turns it off again without a round trip.
                connection.connection.dbapi_connection.autocommit = True
            g.read_connection = connection
            try:
                return view(*args, **kwargs)
            finally:
                g.read_connection = None

    return read


def reading():
    """The connection to read with: a without_transaction view's own, else the ORM session's."""
    return g.get("read_connection") or db.session.connection()


def ping_idle_connections(engine):
    """Ping a pooled connection before use when it has been idle, replacing it if the server is gone."""
    if engine.dialect.name == "sqlite":
        return  # a file, not a server: nothing to lose between two requests

    @event.listens_for(engine, "checkin")
    def note_checkin(dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()
        if dbapi_connection is not None:
            dbapi_connection.autocommit = False  # a read's autocommit must not reach the next request

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, proxy):
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool drops this connection and checks out a fresh one (after a server restart, say).
            raise DisconnectionError(f"stale connection: {error}") from error


def register_database(app):
    """Apply the connection rules above to the app's engine."""
    with app.app_context():
        ping_idle_connections(db.engine)
