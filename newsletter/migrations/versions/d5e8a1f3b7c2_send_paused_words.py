"""sends: paused_words, a paused send's reason as data (message id + parameters)

Revision ID: d5e8a1f3b7c2
Revises: c7a2e9d41b05
Create Date: 2026-12-01 12:45:00

"""

from alembic import op
import sqlalchemy as sa


revision = "d5e8a1f3b7c2"
down_revision = "c7a2e9d41b05"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("paused_words", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("paused_words")
