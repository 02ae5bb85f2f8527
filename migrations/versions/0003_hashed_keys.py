"""Hashed API keys: a public prefix and a SHA-256 digest instead of the key; expiry, revoke, rotate.

Every existing key keeps working: its row gets the digest of the whole key, and a prefix derived from
that digest (see phoenix.auth.legacy_prefix), and the plaintext column is dropped. No copy of a
plaintext key is left in the table's file either: PostgreSQL rewrites the table (CLUSTER), SQLite
rebuilds it with secure_delete on, which overwrites freed pages with zeros.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import hashlib
import logging
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

# sqlite_autoincrement is not reflected by batch mode's copy of the table: say it again.
TABLE_KWARGS = {"sqlite_autoincrement": True}
USERNAME_INDEX = "uq_authenticationkey_username_lower"


def legacy_prefix_and_digest(key):
    """The prefix and digest a pre-0003 key is stored under. Kept in step with phoenix.auth by hand:
    a migration must go on meaning what it meant when it ran."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return "legacy_" + digest[:16], digest


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        # Pages freed by the table rebuild below are zeroed, so the old keys do not linger in the file.
        op.execute("PRAGMA secure_delete = ON")

    # Batch mode on SQLite does not carry an expression index over: drop it here, make it again below.
    op.drop_index(USERNAME_INDEX, table_name="authenticationkey")
    with op.batch_alter_table("authenticationkey", table_kwargs=TABLE_KWARGS) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("secret_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True))

    keys = sa.table(
        "authenticationkey",
        sa.column("id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("prefix", sa.String),
        sa.column("secret_hash", sa.String),
    )
    rows = bind.execute(sa.select(keys.c.id, keys.c.key)).all()
    for row_id, key in rows:
        prefix, digest = legacy_prefix_and_digest(key)
        bind.execute(keys.update().where(keys.c.id == row_id).values(prefix=prefix, secret_hash=digest))
    logger.info("Hashed %d API key(s); the plaintext column goes now.", len(rows))

    with op.batch_alter_table("authenticationkey", recreate="auto", table_kwargs=TABLE_KWARGS) as batch_op:
        batch_op.drop_constraint("uq_authenticationkey_key", type_="unique")
        batch_op.drop_column("key")
        batch_op.alter_column("prefix", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("secret_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_authenticationkey_prefix", ["prefix"])

    if dialect == "postgresql":
        # DROP COLUMN only hides the values; a rewrite of the table (in this transaction) removes them,
        # with the dead row versions that the UPDATE above left behind.
        op.execute("CLUSTER authenticationkey USING pk_authenticationkey")

    op.create_index(
        USERNAME_INDEX,
        "authenticationkey",
        [sa.text("lower(username)")],
        unique=True,
        sqlite_where=sa.text("replaced_at IS NULL"),
        postgresql_where=sa.text("replaced_at IS NULL"),
    )

    if dialect == "sqlite":
        # In WAL mode the old pages also sit in the -wal file until a checkpoint: commit, copy them
        # into the (zeroed) main file and truncate the log, so no plaintext key is left on disk.
        with op.get_context().autocommit_block():
            op.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def downgrade():
    # The keys cannot be had back from their digests: every key stops working, and each username keeps
    # its current row with a fresh random value that nobody holds. Rotated-away rows go.
    bind = op.get_bind()
    logger.warning("Downgrading below 0003: every API key stops working and must be issued again.")
    op.drop_index(USERNAME_INDEX, table_name="authenticationkey")
    op.execute("DELETE FROM authenticationkey WHERE replaced_at IS NOT NULL")
    with op.batch_alter_table("authenticationkey", table_kwargs=TABLE_KWARGS) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=128), nullable=True))
    keys = sa.table("authenticationkey", sa.column("id", sa.Integer), sa.column("key", sa.String))
    for (row_id,) in bind.execute(sa.select(keys.c.id)).all():
        bind.execute(keys.update().where(keys.c.id == row_id).values(key=secrets.token_urlsafe(24)))
    with op.batch_alter_table("authenticationkey", table_kwargs=TABLE_KWARGS) as batch_op:
        batch_op.drop_constraint("uq_authenticationkey_prefix", type_="unique")
        for name in ("replaced_at", "revoked_at", "last_used_at", "expires_at", "secret_hash", "prefix"):
            batch_op.drop_column(name)
        batch_op.alter_column("key", existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint("uq_authenticationkey_key", ["key"])
    op.create_index(USERNAME_INDEX, "authenticationkey", [sa.text("lower(username)")], unique=True)
