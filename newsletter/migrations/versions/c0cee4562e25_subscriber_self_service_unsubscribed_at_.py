"""subscriber self-service: unsubscribed_at, source, group+subscriber index, CSV imports

Revision ID: c0cee4562e25
Revises: 2984725344ac
Create Date: 2026-11-26 00:27:16.420692

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c0cee4562e25"
down_revision = "2984725344ac"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsubscribed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=32), nullable=False, server_default="")
        )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memberships_group_subscriber", ["group_id", "subscriber_id"], unique=False
        )
    op.create_table(
        "subscriber_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("default_group", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("unchanged_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("mailed_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("subscriber_imports")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_group_subscriber")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("source")
        batch_op.drop_column("unsubscribed_at")
