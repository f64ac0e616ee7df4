"""send variants by edition, format and sections; scheduling; priority gate index

Revision ID: b8c9f72120a1
Revises: 2984725344ac
Create Date: 2026-11-26 00:25:39.570535

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b8c9f72120a1"
down_revision = "2984725344ac"
branch_labels = None
depends_on = None


def _variants_table(unique_cols, name, extra):
    op.create_table(
        "send_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        *extra,
        sa.Column("edition", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(*unique_cols, name=name),
    )


def upgrade():
    # Rendered variants are a per-send cache made at send creation; the table is rebuilt
    # rather than altered because its old unique constraint has no portable name.
    op.drop_table("send_variants")
    _variants_table(
        ["send_id", "key"],
        "uq_send_variants_send_key",
        [
            sa.Column("key", sa.String(length=255), nullable=False),
            sa.Column("format", sa.String(length=8), nullable=False, server_default="html"),
            sa.Column("sections", sa.JSON(), nullable=True),
        ],
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("variant", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.create_index("ix_deliveries_edition_state", ["edition", "state"], unique=False)

    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("created_by", sa.String(length=320), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("scheduled_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("scheduled_at")
        batch_op.drop_column("created_by")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_edition_state")
        batch_op.drop_column("variant")

    op.drop_table("send_variants")
    _variants_table(["send_id", "edition"], None, [])
