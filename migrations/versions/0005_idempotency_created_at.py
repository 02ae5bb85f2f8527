"""An index on idempotency.created_at, so that housekeeping finds expired answers without a scan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_idempotency_created_at", "idempotency", ["created_at"])


def downgrade():
    op.drop_index("ix_idempotency_created_at", table_name="idempotency")
