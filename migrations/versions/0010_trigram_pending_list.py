"""The trigram indexes keep a short pending list (PostgreSQL): a search never reads more than 128 kB of it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

A GIN index (fastupdate, PostgreSQL's default) puts new entries in a pending list, merged into the index
when the list outgrows gin_pending_list_limit (4 MB by default) or at a vacuum. Every search through the
index reads the whole list: after a few thousand creates, 467 pages, and a search for a word in one
record in a million took 6.9 ms instead of 0.6 ms (EXPLAIN ANALYZE at 1,000,000 records). At 128 kB the
list holds 16 pages at most: a search reads 0.1 ms more at worst, and the create that fills the list
merges 16 pages (measured: 3,000 single-row INSERTs cost about a tenth more each than with 4 MB, and less
than with fastupdate off). The list pending at the upgrade is merged into the index then. SQLite has no
such index and gets nothing.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = ("ix_record_value1_trgm", "ix_game_name_trgm")
PENDING_LIST_KB = 128  # as phoenix.models.trigram_index makes them


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGRAM_INDEXES:
            op.execute(f"ALTER INDEX {name} SET (gin_pending_list_limit = {PENDING_LIST_KB})")
            op.execute(f"SELECT gin_clean_pending_list('{name}')")  # what is pending now goes in at once


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGRAM_INDEXES:
            op.execute(f"ALTER INDEX {name} RESET (gin_pending_list_limit)")
