"""The changes feed: history entries carry their transaction id and the key's prefix (via); the feed's
indexes; a created entry for every item that has no history yet (seeded, imported, or older than 0004).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

Self-contained: it keeps its own copies of the fields and of the SQL that spells a created entry, so that
later changes to the models cannot change what it does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The client-visible fields of each collection's items, as created entries list them; booleans apart
# (SQLite stores them as 0 and 1, and JSON must say true and false).
FIELDS = {
    "records": ("record", ("timestamp", "value1", "value2", "value3"), ("value3",)),
    "games": ("game", ("name", "platform", "publisher", "genre", "year"), ()),
}
# PostgreSQL: the writing transaction's id, 64 bits (no wraparound), as a bigint.
CURRENT_XID = "(pg_current_xact_id()::text::bigint)"


def created_changes(dialect, fields, booleans):
    """SQL for a created entry's changes: {field: [null, value]} for each field that has a value."""
    if dialect == "postgresql":
        pairs = ", ".join(f"'{name}', {name}" for name in fields)
        return (
            "(SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(NULL, value)), '{}'::jsonb)"
            f" FROM jsonb_each(jsonb_strip_nulls(jsonb_build_object({pairs}))))"
        )
    pairs = ", ".join(
        f"'{name}', CASE {name} WHEN 1 THEN json('true') WHEN 0 THEN json('false') END"
        if name in booleans
        else f"'{name}', {name}"
        for name in fields
    )
    value = "CASE type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END"
    return (
        f"(SELECT coalesce(json_group_object(key, json_array(NULL, {value})), '{{}}')"
        f" FROM json_each(json_object({pairs})) WHERE type != 'null')"
    )


def upgrade():
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("history") as batch:
        batch.add_column(sa.Column("via", sa.String(length=32), nullable=True))
        # 0 for every entry so far: all committed, and in id order for each item.
        batch.add_column(sa.Column("xid", sa.BigInteger(), nullable=False, server_default="0"))

    for collection, (table, fields, booleans) in FIELDS.items():
        op.execute(
            sa.text(
                "INSERT INTO history (collection, item_id, version, action, changed_by, changed_at, changes)"
                f" SELECT :collection, t.id, t.version, 'created', t.lastmodifiedby, t.creationdate,"
                f" {created_changes(dialect, fields, booleans)} FROM {table} AS t"
                " WHERE NOT EXISTS (SELECT 1 FROM history AS h"
                " WHERE h.collection = :collection AND h.item_id = t.id)"
                " ORDER BY t.id"
            ).bindparams(collection=collection)
        )

    if dialect == "postgresql":
        # From now on each entry takes its transaction's id (after the backfill, which keeps 0).
        op.alter_column("history", "xid", server_default=sa.text(CURRENT_XID))
    op.create_index("ix_history_feed", "history", ["xid", "id"])
    op.create_index("ix_history_collection_feed", "history", ["collection", "xid", "id"])


def downgrade():
    op.drop_index("ix_history_collection_feed", table_name="history")
    op.drop_index("ix_history_feed", table_name="history")
    # The backfilled created entries stay: they are true history.
    op.drop_column("history", "xid")
    op.drop_column("history", "via")
