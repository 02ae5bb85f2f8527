"""Housekeeping: stored idempotent answers past their 24 hours are deleted, in bounded batches.

No operator has to remember it: after a request that stored an answer (and committed), its worker sweeps
one batch, at most once every PHOENIX_HOUSEKEEPING_INTERVAL_S (60), in a short transaction of its own.
`flask housekeeping` sweeps everything on demand. The table so holds about one day of answers.
"""

import time

import click
from flask import current_app
from sqlalchemy import delete, select

from phoenix.extensions import db
from phoenix.idempotency import LIFETIME
from phoenix.models import IdempotentRequest, utcnow

BATCH = 500  # rows a sweep deletes at most: a short transaction, whatever the backlog


def delete_expired_answers(limit=BATCH):
    """Delete up to limit expired idempotent answers, oldest first, in a transaction of their own: how many."""
    table = IdempotentRequest.__table__
    oldest = (
        select(table.c.id)
        .where(table.c.created_at <= utcnow() - LIFETIME)
        .order_by(table.c.created_at)
        .limit(limit)
    )
    with db.engine.begin() as connection:
        return connection.execute(delete(table).where(table.c.id.in_(oldest))).rowcount


def sweep_now_and_then(state):
    """After a request that stored an answer (state: its flask.g; phoenix.hooks calls it): one batch,
    unless this worker swept less than PHOENIX_HOUSEKEEPING_INTERVAL_S ago."""
    if not state.get("stored_idempotent_answer"):  # set by phoenix.idempotency
        return
    swept = current_app.extensions.setdefault("housekeeping", {"last": None})
    now = time.monotonic()
    interval = current_app.config["PHOENIX_HOUSEKEEPING_INTERVAL_S"]
    if swept["last"] is None or now - swept["last"] >= interval:
        swept["last"] = now
        delete_expired_answers()


def register_housekeeping_command(app):
    """`flask housekeeping`: delete every expired idempotent answer now, batch by batch."""

    @app.cli.command("housekeeping")
    def housekeeping():
        """Delete stored idempotent answers older than 24 hours."""
        total = 0
        while deleted := delete_expired_answers():
            total += deleted
        click.echo(f"Deleted {total} expired idempotent answers.")
