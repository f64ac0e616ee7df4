"""tracking: tracked_links (a send's click table) and tracked_events (event index)

Revision ID: 7d3e1a9c5b20
Revises: 2984725344ac
Create Date: 2026-11-26 02:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "7d3e1a9c5b20"
down_revision = "2984725344ac"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracked_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("article", sa.String(length=32), nullable=True),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("send_id", "n", name="uq_tracked_links_send_n"),
    )
    op.create_table(
        "tracked_events",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("link_n", sa.Integer(), nullable=True),
        sa.Column("bot", sa.String(length=32), nullable=False),
        sa.Column("bounce", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["delivery_events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_tracked_events_send_kind", "tracked_events", ["send_id", "kind"])
    op.create_index("ix_tracked_events_delivery", "tracked_events", ["delivery_id"])
    op.create_index("ix_tracked_events_event_id", "tracked_events", ["event_id"])


def downgrade():
    op.drop_index("ix_tracked_events_event_id", table_name="tracked_events")
    op.drop_index("ix_tracked_events_delivery", table_name="tracked_events")
    op.drop_index("ix_tracked_events_send_kind", table_name="tracked_events")
    op.drop_table("tracked_events")
    op.drop_table("tracked_links")
