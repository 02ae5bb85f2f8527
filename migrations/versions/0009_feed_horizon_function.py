"""The changes feed's horizon as a function (PostgreSQL): the planner no longer plans its subqueries for every page.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

phoenix_feed_horizon() returns the xid below which no transaction that can write to this database is
still running, as of the calling statement's snapshot (phoenix/resources/changes.py says why the feed
needs it). Inline in the page's statement, its subqueries were planned again for every page: 0.2 ms of
PostgreSQL's time a page, as much as the page's own index read. PL/pgSQL plans its statement once a
session. STABLE: the value holds for the calling statement, so an index condition can use it. SQLite has
no horizon (its writes are serialised) and gets nothing.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The oldest of the snapshot's running transactions that is not known to be another database's, else the
# snapshot's xmax (see the feed's docstring for why a backend_xid of another database can be left out).
HORIZON = """
CREATE OR REPLACE FUNCTION phoenix_feed_horizon() RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(min(running::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
        FROM pg_snapshot_xip(pg_current_snapshot()) AS running
        WHERE NOT EXISTS (
            SELECT 1 FROM pg_stat_activity AS other
            WHERE other.backend_xid = running::xid
            AND other.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
        )
    );
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(HORIZON)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION phoenix_feed_horizon()")
