"""group aliases: other names for a group, confirmed on the import page

Revision ID: 9a61c3e5d2b7
Revises: 9c1d2e3f4a5b
Create Date: 2026-12-01 09:05:00

"""

from alembic import op
import sqlalchemy as sa


revision = "9a61c3e5d2b7"
down_revision = "9c1d2e3f4a5b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "group_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alias"),
    )
    with op.batch_alter_table("group_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_aliases_group_id"), ["group_id"], unique=False)


def downgrade():
    with op.batch_alter_table("group_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_aliases_group_id"))
    op.drop_table("group_aliases")
