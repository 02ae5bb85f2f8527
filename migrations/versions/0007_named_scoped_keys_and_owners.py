"""Named keys with scopes, lineages and rotation grace; items remember who created them.

Every existing key becomes its username's `default` key with the three self-service scopes, so every
client keeps working unchanged; the rows of one username (its current key and those rotated away)
form one lineage, the founding one that keeps the username taken. Records and games get `createdby`:
the username of their `created` history entry where there is one, else their `lastmodifiedby`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Copies of what this migration means, kept here so that it goes on meaning it.
DEFAULT_SCOPES = "records:write games:write keys:manage"
TABLE_KWARGS = {"sqlite_autoincrement": True}
USERNAME_INDEX = "uq_authenticationkey_username_lower"
NAME_INDEX = "uq_authenticationkey_username_name"
LINEAGE_INDEX = "ix_authenticationkey_lineage"


def upgrade():
    bind = op.get_bind()
    # Batch mode on SQLite does not carry an expression index over: drop it here, make it again below.
    op.drop_index(USERNAME_INDEX, table_name="authenticationkey")
    with op.batch_alter_table("authenticationkey", table_kwargs=TABLE_KWARGS) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(64), nullable=False, server_default="default"))
        batch_op.add_column(
            sa.Column("scopes", sa.String(255), nullable=False, server_default=DEFAULT_SCOPES)
        )
        batch_op.add_column(sa.Column("lineage", sa.String(80), nullable=True))
        batch_op.add_column(sa.Column("founding", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True))
    # One username, one lineage (until now a username had one key at a time).
    bind.execute(sa.text("UPDATE authenticationkey SET lineage = 'u:' || lower(username)"))
    with op.batch_alter_table("authenticationkey", table_kwargs=TABLE_KWARGS) as batch_op:
        batch_op.alter_column("lineage", existing_type=sa.String(80), nullable=False)
        # New rows say what they are: the defaults above were for the rows already there.
        batch_op.alter_column("scopes", existing_type=sa.String(255), server_default=None)
        batch_op.alter_column("founding", existing_type=sa.Boolean(), server_default=None)
    op.create_index(
        USERNAME_INDEX,
        "authenticationkey",
        [sa.text("lower(username)")],
        unique=True,
        sqlite_where=sa.text("replaced_at IS NULL AND founding"),
        postgresql_where=sa.text("replaced_at IS NULL AND founding"),
    )
    op.create_index(
        NAME_INDEX,
        "authenticationkey",
        [sa.text("lower(username)"), "name"],
        unique=True,
        sqlite_where=sa.text("replaced_at IS NULL AND revoked_at IS NULL"),
        postgresql_where=sa.text("replaced_at IS NULL AND revoked_at IS NULL"),
    )
    op.create_index(LINEAGE_INDEX, "authenticationkey", ["lineage"])

    for table, collection in (("record", "records"), ("game", "games")):
        # A plain ADD COLUMN: batch mode would rebuild the table and lose 0002's expression indexes.
        op.add_column(table, sa.Column("createdby", sa.String(64), nullable=True))
        bind.execute(
            sa.text(
                f"UPDATE {table} SET createdby = COALESCE("
                f"(SELECT h.changed_by FROM history h WHERE h.collection = :collection"
                f" AND h.item_id = {table}.id AND h.action = 'created' ORDER BY h.id LIMIT 1),"
                f" lastmodifiedby)"
            ),
            {"collection": collection},
        )


def downgrade():
    for table in ("game", "record"):
        op.drop_column(table, "createdby")
    bind = op.get_bind()
    op.drop_index(LINEAGE_INDEX, table_name="authenticationkey")
    op.drop_index(NAME_INDEX, table_name="authenticationkey")
    op.drop_index(USERNAME_INDEX, table_name="authenticationkey")
    # Before 0007 a username had one current key: its other keys (not of the founding lineage) go.
    bind.execute(sa.text("DELETE FROM authenticationkey WHERE NOT founding"))
    with op.batch_alter_table("authenticationkey", table_kwargs=TABLE_KWARGS) as batch_op:
        for name in ("grace_until", "founding", "lineage", "scopes", "name"):
            batch_op.drop_column(name)
    op.create_index(
        USERNAME_INDEX,
        "authenticationkey",
        [sa.text("lower(username)")],
        unique=True,
        sqlite_where=sa.text("replaced_at IS NULL"),
        postgresql_where=sa.text("replaced_at IS NULL"),
    )
