"""Review events keep the content's text at import and approval (for the review diff)

Revision ID: 9c1d2e3f4a5b
Revises: 7e40c2379096
Create Date: 2026-12-01 08:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9c1d2e3f4a5b"
down_revision = "7e40c2379096"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("review_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("review_events", schema=None) as batch_op:
        batch_op.drop_column("snapshot")
