"""How requests use the database: each request's one transaction boundary (autocommit or
write_transaction, named where the request is handled), connections pinged when stale, and SQLite's
locking set for several workers.

Both rules cut round trips from the hot paths. A request whose statements each stand alone (a read, or a
create that is one INSERT, atomic by itself) needs no BEGIN before them and no COMMIT or ROLLBACK after
(PostgreSQL runs each statement in a snapshot and a transaction of its own), nor the ORM session's
bookkeeping: it runs on a connection of its own in autocommit mode (@autocommit). A change of several
statements goes through the ORM session, in one transaction that @write_transaction commits when the
handler returns and rolls back when it raises: helpers add, flush and lock, and never commit. And a connection that served a request a moment ago is
alive: pinging it on every checkout (SQLAlchemy's pool_pre_ping) would cost one more round trip per
request, so only a connection left idle for a while is pinged first.

The timeouts travel with the work. A transaction pooler (PgBouncer in transaction mode) refuses startup
options and hands each transaction to whichever server connection is free, so a session-wide SET would
leak to other clients or be lost. Each transaction's first statement is sent as "SET LOCAL ...; <the
statement>" in one message instead: no extra round trip, and nothing outlives the transaction.

And a transaction opens with its first statement. psycopg2, left to itself, sends BEGIN in a round trip
of its own before a transaction's first statement. On PostgreSQL Phoenix keeps the driver in autocommit
mode and opens each transaction itself: its first statement goes as "BEGIN; SET LOCAL ...; <the
statement>", one message, and the dialect's commit and rollback send COMMIT and ROLLBACK when the server
has a transaction open (and nothing when it has none).

And a statement whose answer nobody reads waits for the next. A history entry's INSERT returns nothing,
and nothing in its transaction reads it back: Prepared(..., later=True) keeps it, and it goes in the same
message as the transaction's next statement, or its COMMIT (a ROLLBACK drops it). A create is so three
round trips, not five: the key's SELECT (standing alone), the item's INSERT (with BEGIN), and its history's
INSERT with the COMMIT.

And a request keeps its connection (PostgreSQL). Checking a connection out of the pool and back, with the
Connection object SQLAlchemy makes for each checkout, cost a read by id 65 to 85 us of CPU, a sixth of
the app's (measured in-process, time.process_time over 2,000 reads). So the connections that @autocommit
reads used wait for the next read in the worker's KeptConnections (at most KEPT_CONNECTIONS): taken and
given back with a list's pop and append. A create, whose statements are all Core, does the same with
its transaction (@core_transaction): on a kept connection, begun and committed by SQLAlchemy Core,
without the ORM session, whose transaction bookkeeping was a third of a create's CPU (py-spy). One idle
for IDLE_PING_SECONDS is pinged before use, as the pool would; one lost under a read is not kept; all
are closed with the engine (engine.dispose()).
"""

import os
import time
import weakref
from collections import namedtuple
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError

from phoenix.extensions import db

# A connection idle for longer than this is pinged before use; one in steady use never is.
IDLE_PING_SECONDS = 5.0
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The execution option that marks an @autocommit view's Connection: its statements each stand alone.
STANDALONE = "phoenix_standalone"
# The statements that wait for a driver connection's next message (Prepared's later=True), as SQL text.
LATER = weakref.WeakKeyDictionary()
# How many connections a worker keeps for its reads, and how many for its creates (PostgreSQL): as many
# as it works on requests at once (phoenix/turns.py, PHOENIX_ACTIVE_REQUESTS' default). A request beyond
# them checks one out of the pool.
KEPT_CONNECTIONS = 4
# The connection of the request's statements while an @autocommit view, a @core_transaction or a
# standalone_read runs (connection()). A context variable, as Flask's own request context is (one a
# greenlet): read on every statement, where a lookup through flask.g costs some 8,000 instructions.
OWN_CONNECTION = ContextVar("phoenix_own_connection", default=None)
# The app's KeptConnections (app.extensions), PostgreSQL only: for reads (STANDALONE), for creates.
READ_CONNECTIONS = "phoenix.read_connections"
WRITE_CONNECTIONS = "phoenix.write_connections"


def autocommit(view):
    """Run a view whose statements each stand alone on a connection of its own, in autocommit mode: one
    round trip a statement, no BEGIN, no COMMIT or ROLLBACK, no ORM session. connection() hands it out:
    on PostgreSQL one of the connections kept for reads (KeptConnections; the driver is in autocommit
    mode always), on SQLite one from the pool, its driver switched to autocommit for the view."""

    @wraps(view)
    def run(*args, **kwargs):
        kept = current_app.extensions.get(READ_CONNECTIONS)
        if kept is not None:
            with standalone_read(kept):
                return view(*args, **kwargs)
        with db.engine.connect() as own:
            restore = sqlite_autocommit(own)
            token = OWN_CONNECTION.set(own)
            try:
                return view(*args, **kwargs)
            finally:
                OWN_CONNECTION.reset(token)
                restore()

    return run


@contextmanager
def standalone_read(kept=None):
    """A block of statements that each stand alone (the key check, before a request's own work): on the
    request's own connection if it has one, else on a kept read connection (PostgreSQL; kept: the app's
    KeptConnections, when the caller has them already), else (SQLite) on the ORM session's."""
    kept = kept or current_app.extensions.get(READ_CONNECTIONS)
    if kept is None or OWN_CONNECTION.get() is not None:
        yield
        return
    own = kept.take()
    token = OWN_CONNECTION.set(own)
    try:
        yield
    finally:
        OWN_CONNECTION.reset(token)
        kept.give_back(own)


def core_transaction(needs_session):
    """A decorator: run a write whose statements are all Core (a create: Prepared INSERTs on connection())
    in one transaction on a kept connection, without the ORM session; committed when the view returns,
    rolled back when it raises. Where it cannot (SQLite; a request for which needs_session() is true, as
    one with an Idempotency-Key, whose stored answer is an ORM object in a savepoint), @write_transaction."""

    def decorator(view):
        in_session = write_transaction(view)

        @wraps(view)
        def run(*args, **kwargs):
            kept = current_app.extensions.get(WRITE_CONNECTIONS)
            if kept is None or needs_session():
                return in_session(*args, **kwargs)
            own = kept.take()
            token = OWN_CONNECTION.set(own)
            try:
                with own.begin():  # BEGIN goes with the first statement; the COMMIT, or ROLLBACK
                    result = view(*args, **kwargs)
                    if db.session.registry.has() and db.session().in_transaction():
                        raise RuntimeError("@core_transaction: the view used the ORM session")
                return result
            finally:
                OWN_CONNECTION.reset(token)
                kept.give_back(own)

        return run

    return decorator


class KeptConnections:
    """The connections that an engine's reads (standalone) or creates keep between them (see the module's
    docstring): each a Connection checked out of the pool, a read's marked STANDALONE, with the time it
    was last given back."""

    def __init__(self, engine, standalone, keep=KEPT_CONNECTIONS):
        self.engine, self.standalone, self.keep = engine, standalone, keep
        self.idle = []  # [(Connection, monotonic time given back)], the last given back last
        self.pid = os.getpid()
        event.listen(engine, "engine_disposed", self.close_all)
        event.listen(engine, "invalidate", self.drop_all)

    def take(self):
        """A connection for one request: the last one given back, else a new one from the pool."""
        if self.pid != os.getpid():  # a forked child: the parent's connections are not its own
            self.idle, self.pid = [], os.getpid()
        while self.idle:
            own, given_back = self.idle.pop()
            if time.monotonic() - given_back < IDLE_PING_SECONDS or self.alive(own):
                return own
        own = self.engine.connect()
        if self.standalone:
            # Marked on this Connection (guard_transactions reads it), never on the pooled driver
            # connection, so that nothing of it outlives the read's use once the connection goes back.
            own.execution_options(**{STANDALONE: True})
        return own

    def alive(self, own):
        """Ping own, idle for a while; a lost one is closed (the pool drops it)."""
        try:
            self.engine.dialect.do_ping(own.connection.dbapi_connection)
            return True
        except self.engine.dialect.loaded_dbapi.Error as error:
            own.invalidate(error)
            own.close()
            return False

    def give_back(self, own):
        """Keep own for the next request, unless it was lost, is in a transaction still, or enough are
        kept: then back to the pool."""
        lost = own.invalidated or (own.in_transaction() and not self.standalone)
        if lost or len(self.idle) >= self.keep or self.pid != os.getpid() or self.crowded():
            own.close()
        else:
            self.idle.append((own, time.monotonic()))

    def crowded(self):
        """Whether the pool is lending overflow connections (opened for one use, closed when given
        back): the kept ones then make room in it for the session's writes."""
        pool = self.engine.pool
        return pool.checkedout() > pool.size()

    def close_all(self, engine=None):
        """Close every kept connection (the engine is disposed of: its pool, already replaced, would keep
        what is given back open; an invalidated connection is closed at once)."""
        self.drop_all()

    def drop_all(self, dbapi_connection=None, record=None, error=None):
        """A connection was lost: so, likely, were the kept ones (a server restart). The pool replaces
        those it holds on their next checkout; the kept ones are invalidated now, so that the next reads
        get fresh ones instead of an error each."""
        idle, self.idle = self.idle, []  # invalidating one fires this again: with nothing left to do
        for own, _ in idle:
            own.invalidate(error)
            own.close()


def sqlite_autocommit(own):
    """Turn sqlite3's autocommit (isolation_level None) on for own; return what turns it back. Set on the
    driver's connection rather than through SQLAlchemy's isolation_level option, which would restore the
    level with a statement."""
    driver = own.connection.dbapi_connection
    before, driver.isolation_level = driver.isolation_level, None

    def restore():
        # Not after a lost connection: it is invalidated, and the pool will not hand it out again.
        if not own.invalidated and own.connection.dbapi_connection is driver:
            driver.isolation_level = before

    return restore


def write_transaction(view):
    """Run a view in one transaction of the ORM session: committed when it returns, rolled back when it
    raises. The only commit of a request's writes; whatever the view calls only adds, flushes and locks."""

    @wraps(view)
    def run(*args, **kwargs):
        try:
            result = view(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        return result

    return run


def connection():
    """The connection for a request's statements: its own (an @autocommit view's, a @core_transaction's,
    a standalone_read's), else the ORM session's."""
    return OWN_CONNECTION.get() or db.session.connection()


class Prepared:
    """A statement made once and run on every request (an item by id, a list's first page, a feed page, a
    key by prefix, a create's INSERTs): rows(parameters) runs it on the request's connection().

    On PostgreSQL it skips Core's execution machinery (its cache lookup, execution context and result
    objects), which costs more CPU than the rest of a read's own work: some 80 us a statement, measured by
    python -m bench.profile. Its SQL is compiled once (for an INSERT, once for each set of columns
    given); the driver's cursor runs it, after the same before_cursor_execute listeners as Core's (the
    timeouts' SET LOCAL, and whatever a test listens with). Parameters and columns go through their
    types' bind and result processors, as Core's would, and a row is a named tuple (by position, or by
    column name). A driver error is raised as SQLAlchemy's (a disconnect invalidates the connection), so
    the error path answers it as it answers Core's. On SQLite, whose values need more of SQLAlchemy's
    conversions, for several rows of parameters at once (executemany), and for a statement with a
    parameter rendered at execution, rows() is Core's.
    """

    def __init__(self, statement, later=False):
        self.statement = statement
        self.is_dml = statement.is_dml
        self.later = later  # an INSERT that returns nothing: it may wait for the transaction's next message
        self.plans = {}  # (dialect, the columns an INSERT is given) -> DriverPlan, or None: through Core

    def rows(self, parameters):
        """The rows that the statement selects or returns ([] if none), run with parameters (a dict; a
        list of them for several rows)."""
        conn = connection()
        if isinstance(parameters, list) and len(parameters) == 1:
            parameters = parameters[0]
        if isinstance(parameters, dict):
            key = (conn.dialect, tuple(parameters) if self.is_dml else None)
            if key not in self.plans:
                self.plans[key] = DriverPlan.of(self.statement, conn.dialect, key[1], self.later)
            plan = self.plans[key]
            if plan is not None:
                return plan.rows(conn, parameters)
        result = conn.execute(self.statement, parameters)
        return result.all() if result.returns_rows else []

    def first(self, parameters):
        """The first row, or None."""
        rows = self.rows(parameters)
        return rows[0] if rows else None


class DriverPlan:
    """How Prepared runs a statement on the driver's cursor: its SQL, its Row type, the processors of its
    parameters and of its columns (these known after the first run, from the cursor's description, as
    Core finds them)."""

    def __init__(self, compiled, dialect, later=False):
        self.sql, self.dialect, self.later = compiled.string, dialect, later
        self.columns = list(compiled.statement.exported_columns)
        # rename: a label such as _key0 is no valid field name; it stays readable by position.
        self.row_type = namedtuple("Row", [column.key for column in self.columns], rename=True)
        # The values the statement binds itself (a literal in a WHERE), and the parameters to convert.
        self.fixed = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self.converted = [
            (name, processor)
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        self.processors = None
        self.in_transaction = dialect.loaded_dbapi.extensions.TRANSACTION_STATUS_INTRANS

    @classmethod
    def of(cls, statement, dialect, column_keys, later=False):
        """The plan of statement on dialect (an INSERT given column_keys), or None to go through Core;
        later: the statement may wait for the transaction's next message (see the module's docstring)."""
        if dialect.name != "postgresql":
            return None
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.positional or "POSTCOMPILE" in compiled.string:
            return None
        if column_keys is not None and not set(compiled.binds) <= set(column_keys):
            return None  # an INSERT whose Python-side column defaults Core fills in
        return cls(compiled, dialect, later)

    def rows(self, conn, parameters):
        sql, driver = self.sql, conn.connection.dbapi_connection
        if self.fixed or self.converted:
            parameters = {**self.fixed, **parameters}
            for name, convert in self.converted:
                if name in parameters:
                    parameters[name] = convert(parameters[name])
        cursor = driver.cursor()
        try:
            for listener in conn.dispatch.before_cursor_execute:  # as Core calls them (no context)
                sql, parameters = listener(conn, cursor, sql, parameters, None, False)
            if self.later and driver.info.transaction_status == self.in_transaction:
                send_later(driver, cursor.mogrify(sql, parameters).decode())
                return []
            self.dialect.do_execute(cursor, sql, parameters, None)
            fetched = cursor.fetchall() if cursor.description else []
            if self.processors is None and cursor.description:
                self.processors = self.result_processors(cursor.description)
        except self.dialect.loaded_dbapi.Error as error:
            invalidated = self.dialect.is_disconnect(error, driver, cursor)
            if invalidated:  # as Core's error handling does: the pool's older connections are as likely gone
                conn.engine.pool._invalidate(conn.connection, error)
                conn.invalidate(error)
            raise DBAPIError.instance(
                sql, parameters, error, self.dialect.loaded_dbapi.Error, invalidated, self.dialect
            ) from error
        finally:
            cursor.close()
        make = self.row_type._make
        if not self.processors:
            return [make(row) for row in fetched]
        rows = []
        for row in fetched:
            values = list(row)
            for position, process in self.processors:
                values[position] = process(values[position])
            rows.append(make(values))
        return rows

    def result_processors(self, description):
        """[(position, processor)] for the columns whose type converts what the driver gives."""
        if len(description) != len(self.columns):  # an implicit RETURNING: the statement wants .inline()
            raise RuntimeError(f"Prepared: {len(description)} columns came back from {self.sql!r}")
        found = []
        for position, (column, described) in enumerate(zip(self.columns, description, strict=True)):
            processor = column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
            if processor is not None:
                found.append((position, processor))
        return found


def send_later(driver, sql):
    """Keep sql (text, its parameters in it) to go with driver's next message (see the module's docstring)."""
    LATER[driver] = LATER.get(driver, "") + sql + "; "


def sent_later(driver):
    """What waits for driver's next message ("" if nothing), taken off."""
    return LATER.pop(driver, "")


def ping_idle_connections(engine):
    """Ping a pooled connection before use when it has been idle, replacing it if the server is gone."""
    if engine.dialect.name == "sqlite":
        return  # a file, not a server: nothing to lose between two requests

    @event.listens_for(engine, "checkin")
    def note_checkin(dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

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


def timeout_prefix(statement_timeout_ms, idle_in_transaction_timeout_ms):
    """The SET LOCAL statements that start a transaction, and those that guard one autocommit statement."""
    statement = f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}; "
    idle = f"SET LOCAL idle_in_transaction_session_timeout = {int(idle_in_transaction_timeout_ms)}; "
    return statement + idle, statement


def guard_transactions(engine, statement_timeout_ms, idle_in_transaction_timeout_ms):
    """Open each transaction with its first statement, the timeouts with it (see the module's docstring);
    a statement that stands alone (an @autocommit view's) carries its statement timeout."""
    # psycopg2 interpolates parameters itself and sends one simple Query: PostgreSQL runs the BEGIN, the
    # SETs and the statement in order, and answers with the statement's result and row count.
    in_transaction, in_autocommit = timeout_prefix(statement_timeout_ms, idle_in_transaction_timeout_ms)
    opening = "BEGIN; " + in_transaction
    driver_error, extensions = engine.dialect.loaded_dbapi.Error, engine.dialect.loaded_dbapi.extensions
    idle, failed = extensions.TRANSACTION_STATUS_IDLE, extensions.TRANSACTION_STATUS_INERROR

    @event.listens_for(engine, "connect")
    def driver_autocommit(dbapi_connection, record):
        dbapi_connection.rollback()  # what the dialect's first queries on connecting left open, if any
        dbapi_connection.autocommit = True  # psycopg2 sends no BEGIN of its own: Phoenix does

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def open_transactions(conn, cursor, statement, parameters, context, executemany):
        if cursor.connection.info.transaction_status != idle:
            return statement, parameters  # within the open transaction
        if not conn.in_transaction() or conn.get_execution_options().get(STANDALONE):
            return in_autocommit + statement, parameters
        if executemany:  # the driver sends the statement once for each row: BEGIN goes alone before
            cursor.execute(opening)
            return statement, parameters
        return opening + statement, parameters

    def end_transaction(command):
        def end(connection):
            # A connection from the pool's reset is a wrapper (_ConnectionFairy) of the driver's.
            driver = getattr(connection, "dbapi_connection", connection)
            waiting = sent_later(driver)  # sent with a COMMIT; dropped by a ROLLBACK
            if not driver.autocommit:  # not yet set up (connecting): psycopg2 ends its own transaction
                getattr(driver, command.lower())()
            elif driver.info.transaction_status != idle:
                with driver.cursor() as cursor:
                    if command == "ROLLBACK" or not waiting:
                        cursor.execute(command)
                        return
                    try:
                        cursor.execute(waiting + command)
                    except driver_error:
                        # What waited failed, so the COMMIT behind it never ran: the transaction ends
                        # here, as a failed COMMIT's does (SQLAlchemy will not roll it back).
                        if not driver.closed and driver.info.transaction_status == failed:
                            cursor.execute("ROLLBACK")
                        raise

        return end

    engine.dialect.do_commit = end_transaction("COMMIT")
    engine.dialect.do_rollback = end_transaction("ROLLBACK")
    send_what_waits(engine.dialect)


def send_what_waits(dialect):
    """Send the statements that wait for a connection's next message (Prepared's later=True) in front of
    it: after every before_cursor_execute listener, as the driver's cursor runs it."""
    execute, executemany, execute_no_params = (
        dialect.do_execute, dialect.do_executemany, dialect.do_execute_no_params
    )  # fmt: skip

    def do_execute(cursor, statement, parameters, context=None):
        if waiting := sent_later(cursor.connection):
            # One text, its parameters put in by the driver as it would (none read in what waits).
            execute_no_params(cursor, waiting + cursor.mogrify(statement, parameters).decode(), context)
        else:
            execute(cursor, statement, parameters, context)

    def do_executemany(cursor, statement, parameters, context=None):
        if waiting := sent_later(cursor.connection):
            cursor.execute(waiting)  # once, not once for each row
        executemany(cursor, statement, parameters, context)

    def do_execute_no_params(cursor, statement, context=None):
        execute_no_params(cursor, sent_later(cursor.connection) + statement, context)

    dialect.do_execute, dialect.do_executemany = do_execute, do_executemany
    dialect.do_execute_no_params = do_execute_no_params


def sqlite_on_connect(dbapi_connection, connection_record):
    """WAL lets readers and a writer work at once; SQLAlchemy, not pysqlite, opens transactions."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def sqlite_on_begin(connection):
    """A write request takes the write lock at BEGIN, so two workers never deadlock upgrading a read."""
    writing = has_request_context() and request.method not in READ_METHODS
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def read_body_first(current):
    """Read the whole body of a write, the request current, before anything touches the database (the key
    check included; phoenix.hooks calls it before any other hook).

    A client that sends its body slowly, or stalls halfway, then holds a worker but no row lock, and on
    SQLite no write lock (a write's first statement takes it, BEGIN IMMEDIATE). Over MAX_CONTENT_LENGTH,
    werkzeug raises 413 here, before any query.
    """
    if current.method not in READ_METHODS:
        current.get_data(cache=True)


def register_database(app):
    """Apply the connection rules above to the app's engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_on_connect)
        event.listen(engine, "begin", sqlite_on_begin)
    else:
        app.extensions[READ_CONNECTIONS] = KeptConnections(engine, standalone=True)
        app.extensions[WRITE_CONNECTIONS] = KeptConnections(engine, standalone=False)
        ping_idle_connections(engine)
        guard_transactions(
            engine,
            app.config["PHOENIX_DB_STATEMENT_TIMEOUT_MS"],
            app.config["PHOENIX_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS"],
        )
