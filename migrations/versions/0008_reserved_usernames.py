"""Reserved usernames: the names the operator's commands stamp rows with, refused to self-service.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

Filled with the names of rows already stamped by no key's username: only `flask seed` and
`flask games import --as` write those, so they are the operator's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reserved_username",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_reserved_username")),
    )
    op.execute(
        "INSERT INTO reserved_username (username, reserved_at)"
        " SELECT DISTINCT lower(stamped.lastmodifiedby), CURRENT_TIMESTAMP FROM"
        " (SELECT lastmodifiedby FROM record UNION SELECT lastmodifiedby FROM game) AS stamped"
        " WHERE NOT EXISTS (SELECT 1 FROM authenticationkey AS k"
        " WHERE lower(k.username) = lower(stamped.lastmodifiedby))"
    )


def downgrade():
    op.drop_table("reserved_username")
