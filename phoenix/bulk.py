"""Bulk loading: many rows into a table at once, by COPY on PostgreSQL and batched INSERTs elsewhere.

The seed and import commands (phoenix/cli.py) load through here. Rows are tuples in the order of
`columns`; they skip the ORM and the schemas, so callers validate first (the CSV import does) or make
only valid rows (the seeders do).
"""

import io
from datetime import datetime
from itertools import islice

from sqlalchemy import Boolean, Float, Integer, String, func, insert, select, text

from phoenix.extensions import db
from phoenix.history import LOADED, record_loaded_creations
from phoenix.models import primary_key_last

BATCH_SIZE = 20_000
COPY_CHUNK = 1 << 20  # characters handed to the driver at a time
# A load of at least this many rows, and at least as many as the table holds, rebuilds the indexes.
REBUILD_AT = 50_000
# COPY's text format: a tab between values, \N for NULL, backslash escapes inside strings.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class CountedBatches:
    """rows in lists of at most size, counted, with on_batch(n) told of each."""

    def __init__(self, rows, size, on_batch=None):
        self.rows, self.size, self.on_batch = iter(rows), size, on_batch
        self.total = 0

    def __iter__(self):
        while batch := list(islice(self.rows, self.size)):
            yield batch
            self.total += len(batch)
            if self.on_batch:
                self.on_batch(len(batch))


class CopySource(io.TextIOBase):
    """A readable text stream over an iterator of strings, for COPY ... FROM STDIN to pull from."""

    def __init__(self, parts):
        self.parts = iter(parts)
        self.buffer = ""
        self.failure = None  # what the parts raised, if they did

    def next_part(self):
        try:
            return next(self.parts, None)
        except Exception as error:  # kept to re-raise as itself once the driver has cancelled the COPY
            self.failure = error
            raise

    def readable(self):
        return True

    def read(self, size=-1):
        while size < 0 or len(self.buffer) < size:
            part = self.next_part()
            if part is None:
                break
            self.buffer += part
        if size < 0:
            size = len(self.buffer)
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk


def copy_formatter(column):
    """How one column's values are spelt in COPY's text format."""
    column_type = column.type
    if isinstance(column_type, Boolean):
        return lambda value: "t" if value else "f"
    if isinstance(column_type, Float):
        return repr  # the shortest text that reads back as the same float
    if isinstance(column_type, Integer):
        return str
    if isinstance(column_type, String):
        return lambda value: value.translate(COPY_ESCAPES)
    return lambda value: value.isoformat() if isinstance(value, datetime) else str(value)


def copy_text(batch, formatters):
    """A batch of rows as the body of COPY ... FROM STDIN."""
    lines = (
        "\t".join(
            "\\N" if value is None else spell(value) for spell, value in zip(formatters, row, strict=True)
        )
        for row in batch
    )
    return "\n".join(lines) + "\n"


def insert_rows(model, columns, rows, on_batch=None, batch_size=BATCH_SIZE, expected=None):
    """Insert rows (tuples of values for columns) into model's table, with their created history entries (so
    that the changes feed has them too), in the session's transaction, which the caller (a CLI command)
    commits; return how many.

    on_batch(n) is called after each batch of n rows, for a progress bar. expected, the number of rows
    coming if known, lets a large load into PostgreSQL set the table's indexes aside and build them
    again at the end, which is several times faster than updating them row by row; the table is then
    locked until the load commits, so this is for seeding, not for a table in use.
    """
    table = model.__table__
    chosen = [table.c[name] for name in columns]
    connection = db.session.connection()
    copy = connection.dialect.name == "postgresql"
    if copy:
        without_statement_timeout(connection)
    rebuild = copy and expected is not None and expected >= REBUILD_AT and expected >= row_count(table)
    if rebuild:
        for index in table.indexes:
            index.drop(connection)
    # The rows loaded get their created history entries in this same transaction (phoenix.history).
    above_id = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    counted = CountedBatches(rows, batch_size, on_batch)
    if copy:
        formatters = [copy_formatter(column) for column in chosen]
        source = CopySource(copy_text(batch, formatters) for batch in counted)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            # One COPY for the whole load: the server stores one part while this process makes the next.
            cursor.copy_expert(
                f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", source, size=COPY_CHUNK
            )
        except connection.dialect.loaded_dbapi.Error:
            if source.failure is not None:
                raise source.failure from None  # the rows' own error, not the driver's wrapping of it
            raise
    else:
        for batch in counted:
            connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in batch])
    if table.name in LOADED:
        record_loaded_creations(connection, table, above_id)
    if rebuild:
        # The indexes as the models define them (which a test holds equal to the migrations').
        connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for index in sorted(table.indexes, key=lambda index: index.name):
            index.create(connection)
        primary_key_last(connection, table)
    return counted.total


def analyze(model):
    """After a committed load into PostgreSQL, fresh statistics (in a transaction of their own, which the
    caller commits), so that the planner knows the table's new size and spread at once. None on SQLite."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return
    without_statement_timeout(connection)
    connection.execute(text(f"ANALYZE {model.__table__.name}"))


def without_statement_timeout(connection):
    """Lift PHOENIX_DB_STATEMENT_TIMEOUT_MS for this transaction: it guards requests, and a load of a
    million rows is one long statement by design."""
    connection.execute(text("SET LOCAL statement_timeout = 0"))


def row_count(table):
    """How many rows table holds now."""
    return db.session.execute(select(func.count()).select_from(table)).scalar_one()
