"""The indexes of the lists' orders hold the searched text: a search reads its window from the index alone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

A substring search (`name` on games, `q` on records) that no short window fills reads up to 10,000 rows in
the list's order (phoenix/listing.py, bounded probing). Each was a heap fetch: a word in 0.7% of a million
records, sorted by -timestamp, took 7.9 ms, and 1.4 ms read from an index that holds the text (pgbench).
So each sort's index holds the searched text folded (lower(), after id, which changes no order) and as it
is (INCLUDE, with the column behind an expression key: PostgreSQL's planner takes an index-only scan only
when each column a query names is in the index as it is). Two new indexes do the same for the default
order, by id. A B-tree entry must fit 2,704 bytes, so an index takes only what fits for text of 4-byte
characters at the columns' lengths: without the folded text (the records' value1, the games' platform
and genre), or nothing (the games' publisher). phoenix/models.py (order_index) says the same in code; the
expressions here must be exactly its.

The primary keys are made again last. An item by id (a read, a change, a page's rows after its window) is
found through the narrow primary key, not the new id-order index four times its size; PostgreSQL prices
both alike for one row and keeps the newest of equals (measured: after this upgrade without it,
`WHERE id = 12345` took ix_record_id_value1). A test checks the plan.

The indexes are built again under a lock on the tables: 19 s with a million rows in each (timed). The upgrade
needs ownership of the tables, as the earlier ones do. SQLite gets the same keys, without INCLUDE (which it
does not have).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def nulls_last(column):
    empty = "''" if column == "value1" else "0"
    return [sa.text(f'CAST("{column}" IS NULL AS INTEGER)'), sa.text(f'coalesce("{column}", {empty})')]


def folded(column):
    return [sa.text(f'lower("{column}")')]


# name: (table, keys then id, extra keys, INCLUDE)
INDEXES = {
    "ix_record_id_value1": ("record", ["id"], folded("value1"), ["value1"]),
    "ix_record_timestamp": ("record", [*nulls_last("timestamp"), "id"], folded("value1"), ["timestamp", "value1"]),
    "ix_record_value1": ("record", [*nulls_last("value1"), "id"], [], ["value1"]),
    "ix_record_value2": ("record", [*nulls_last("value2"), "id"], folded("value1"), ["value2", "value1"]),
    "ix_record_lastmodifiedby": (
        "record", [*folded("lastmodifiedby"), "id"], folded("value1"), ["lastmodifiedby", "value1"]
    ),
    "ix_record_creationdate": ("record", ["creationdate", "id"], folded("value1"), ["value1"]),
    "ix_record_lastmodificationdate": ("record", ["lastmodificationdate", "id"], folded("value1"), ["value1"]),
    "ix_game_id_name": ("game", ["id"], folded("name"), ["name"]),
    "ix_game_name": ("game", [*folded("name"), "id"], [], ["name"]),
    "ix_game_platform": ("game", [*folded("platform"), "id"], [], ["platform", "name"]),
    "ix_game_genre": ("game", [*folded("genre"), "id"], [], ["genre", "name"]),
    "ix_game_year": ("game", ["year", "id"], folded("name"), ["name"]),
    "ix_game_creationdate": ("game", ["creationdate", "id"], folded("name"), ["name"]),
    "ix_game_lastmodificationdate": ("game", ["lastmodificationdate", "id"], folded("name"), ["name"]),
}  # fmt: skip
NEW = ("ix_record_id_value1", "ix_game_id_name")


def upgrade():
    for name, (table, keys, extra, include) in INDEXES.items():
        if name not in NEW:
            op.drop_index(name, table_name=table)
        op.create_index(name, table, [*keys, *extra], postgresql_include=include)
    if op.get_bind().dialect.name == "postgresql":
        for table in ("record", "game"):
            op.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, ADD CONSTRAINT pk_{table} PRIMARY KEY (id)"
            )


def downgrade():
    for name, (table, keys, _, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
        if name not in NEW:
            op.create_index(name, table, keys)
