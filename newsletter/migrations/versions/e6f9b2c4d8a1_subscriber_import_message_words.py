"""subscriber_imports: message_words, a failed import's message as data (message id + parameters)

Revision ID: e6f9b2c4d8a1
Revises: d5e8a1f3b7c2
Create Date: 2026-12-01 18:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "e6f9b2c4d8a1"
down_revision = "d5e8a1f3b7c2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscriber_imports") as batch:
        batch.add_column(sa.Column("message_words", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("subscriber_imports") as batch:
        batch.drop_column("message_words")
