"""sends: idempotency key (one send per double click or retried request) and only_new

Revision ID: a1d5e0c3f9b2
Revises: 3c51d0a7e9b2, 9a61c3e5d2b7
Create Date: 2026-12-01 08:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a1d5e0c3f9b2"
down_revision = ("3c51d0a7e9b2", "9a61c3e5d2b7")  # also joins main's two heads
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("only_new", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_unique_constraint("uq_sends_idempotency_key", ["idempotency_key"])


def downgrade():
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sends_idempotency_key", type_="unique")
        batch_op.drop_column("only_new")
        batch_op.drop_column("idempotency_key")
