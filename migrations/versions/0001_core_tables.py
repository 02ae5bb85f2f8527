"""Core tables: record, game, authenticationkey.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# sqlite_autoincrement: ids are never reused, so a removed item's id (and its history) stays its own.


def stamp_columns():
    """creationdate, lastmodificationdate, lastmodifiedby: set by the server on every write."""
    return [
        sa.Column("creationdate", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lastmodificationdate", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lastmodifiedby", sa.String(length=64), nullable=False),
    ]


def upgrade():
    op.create_table(
        "authenticationkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authenticationkey")),
        sa.UniqueConstraint("key", name=op.f("uq_authenticationkey_key")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_authenticationkey_username_lower",
        "authenticationkey",
        [sa.text("lower(username)")],
        unique=True,
    )
    op.create_table(
        "record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=True),
        sa.Column("value1", sa.String(length=255), nullable=True),
        sa.Column("value2", sa.Float(), nullable=True),
        sa.Column("value3", sa.Boolean(), nullable=True),
        *stamp_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "game",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("publisher", sa.String(length=255), nullable=False),
        sa.Column("genre", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        *stamp_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game")),
        sqlite_autoincrement=True,
    )


def downgrade():
    op.drop_table("game")
    op.drop_table("record")
    op.drop_index("uq_authenticationkey_username_lower", table_name="authenticationkey")
    op.drop_table("authenticationkey")
