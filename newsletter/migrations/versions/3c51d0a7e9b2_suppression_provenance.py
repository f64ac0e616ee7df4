"""suppression provenance: verdict, send, delivery and the subscriber's previous status

Revision ID: 3c51d0a7e9b2
Revises: b4d2f6a8c012
Create Date: 2026-12-01 08:45:00

"""

from alembic import op
import sqlalchemy as sa


revision = "3c51d0a7e9b2"
down_revision = "b4d2f6a8c012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verdict", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("send_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delivery_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("previous_status", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_suppressions_send_id"), ["send_id"], unique=False)


def downgrade():
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppressions_send_id"))
        batch_op.drop_column("previous_status")
        batch_op.drop_column("delivery_id")
        batch_op.drop_column("send_id")
        batch_op.drop_column("verdict")
