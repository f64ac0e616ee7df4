"""grouped sent marks: a lease's reach (the highest delivery it may hand over unwritten)

Revision ID: c7a2e9d41b05
Revises: a91e5d3c7f10
Create Date: 2026-12-01 12:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "c7a2e9d41b05"
down_revision = "a91e5d3c7f10"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("delivery_leases") as batch:
        batch.add_column(sa.Column("reach", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("delivery_leases") as batch:
        batch.drop_column("reach")
