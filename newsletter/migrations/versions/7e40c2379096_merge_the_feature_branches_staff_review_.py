"""merge the feature branches (staff/review, tracking, subscribers, send variants)

Revision ID: 7e40c2379096
Revises: 5e1f7a2c9d44, 7d3e1a9c5b20, b8c9f72120a1, c0cee4562e25
Create Date: 2026-11-26 01:48:21.855669

"""

# revision identifiers, used by Alembic.
revision = "7e40c2379096"
down_revision = ("5e1f7a2c9d44", "7d3e1a9c5b20", "b8c9f72120a1", "c0cee4562e25")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
