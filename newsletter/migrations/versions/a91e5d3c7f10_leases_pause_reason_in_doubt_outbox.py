"""delivery safety: leases, breaker pause reason, in-doubt and retry window, outbox

Revision ID: a91e5d3c7f10
Revises: a1d5e0c3f9b2
Create Date: 2026-12-01 08:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "a91e5d3c7f10"
down_revision = "a1d5e0c3f9b2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("paused_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("paused_detail", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("paused_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("resume_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("pauses", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("queue_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("first_failed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("in_doubt_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_deliveries_claim_token", ["claim_token"])
    op.create_table(
        "delivery_leases",
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_index("ix_delivery_leases_send_id", "delivery_leases", ["send_id"])
    op.create_index("ix_delivery_leases_expires_at", "delivery_leases", ["expires_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_email", sa.String(length=320), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])


def downgrade():
    op.drop_index("ix_outbox_state_next", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_delivery_leases_expires_at", table_name="delivery_leases")
    op.drop_index("ix_delivery_leases_send_id", table_name="delivery_leases")
    op.drop_table("delivery_leases")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_claim_token")
        batch.drop_column("in_doubt_at")
        batch.drop_column("first_failed_at")
        batch.drop_column("queue_id")
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("pauses")
        batch.drop_column("resume_at")
        batch.drop_column("paused_at")
        batch.drop_column("paused_detail")
        batch.drop_column("paused_reason")
