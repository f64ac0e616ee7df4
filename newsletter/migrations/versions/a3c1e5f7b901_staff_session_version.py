"""staff: session_version (server-side session invalidation)

Revision ID: a3c1e5f7b901
Revises: 9c1d2e3f4a5b
Create Date: 2026-12-01 08:40:00

"""

from alembic import op
import sqlalchemy as sa


revision = "a3c1e5f7b901"
down_revision = "9c1d2e3f4a5b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("session_version")
