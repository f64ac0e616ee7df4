"""subscribers: subscription_requests (a /subscribe for a known address waits for its owner)

Revision ID: b4d2f6a8c012
Revises: a3c1e5f7b901
Create Date: 2026-12-01 08:50:00

"""

from alembic import op
import sqlalchemy as sa


revision = "b4d2f6a8c012"
down_revision = "a3c1e5f7b901"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "subscription_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscription_requests_subscriber_id", "subscription_requests", ["subscriber_id"]
    )


def downgrade():
    op.drop_index("ix_subscription_requests_subscriber_id", "subscription_requests")
    op.drop_table("subscription_requests")
