"""Listing indexes: one per advertised sort and filter, and trigram search on PostgreSQL.

Each B-tree index is on the keys a list sorts or filters on, then id (phoenix/models.py says which keys
and why), so that a page, the first or the millionth, is a range read of one index. The expressions here
must stay exactly those of phoenix.models: a query uses an index on expressions only when it repeats them.
The trigram GIN indexes (pg_trgm) serve the case-insensitive substring searches (`name` on games, `q` on
records); SQLite has no such index and scans for those.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def nulls_last(column):
    """The two never-NULL keys of a nullable column: is it NULL (0/1), then its value or a placeholder."""
    empty = "''" if column == "value1" else "0"
    return [sa.text(f'CAST("{column}" IS NULL AS INTEGER)'), sa.text(f'coalesce("{column}", {empty})')]


def folded(column):
    """A string column, case-insensitively."""
    return [sa.text(f'lower("{column}")')]


INDEXES = {
    "record": {
        "ix_record_timestamp": nulls_last("timestamp"),
        "ix_record_value1": nulls_last("value1"),
        "ix_record_value2": nulls_last("value2"),
        "ix_record_value3": ["value3"],
        "ix_record_lastmodifiedby": folded("lastmodifiedby"),
        "ix_record_creationdate": ["creationdate"],
        "ix_record_lastmodificationdate": ["lastmodificationdate"],
    },
    "game": {
        "ix_game_name": folded("name"),
        "ix_game_platform": folded("platform"),
        "ix_game_publisher": folded("publisher"),
        "ix_game_genre": folded("genre"),
        "ix_game_year": ["year"],
        "ix_game_creationdate": ["creationdate"],
        "ix_game_lastmodificationdate": ["lastmodificationdate"],
    },
}
TRIGRAM_INDEXES = {"ix_record_value1_trgm": ("record", "value1"), "ix_game_name_trgm": ("game", "name")}


def upgrade():
    for table, indexes in INDEXES.items():
        for name, keys in indexes.items():
            op.create_index(name, table, [*keys, "id"])
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, (table, column) in TRIGRAM_INDEXES.items():
            op.create_index(
                name, table, [column], postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _) in TRIGRAM_INDEXES.items():
            op.drop_index(name, table_name=table)
        # pg_trgm stays: other objects in the database may use it.
    for table, indexes in INDEXES.items():
        for name in indexes:
            op.drop_index(name, table_name=table)
