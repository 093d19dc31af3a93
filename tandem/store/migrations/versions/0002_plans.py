"""Plans: routing and tariff plans, versioned with effective dates like decks.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source_name", sa.String(512), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime, nullable=False),
        sa.Column("effective_from", sa.BigInteger, nullable=False),
        sa.Column("effective_until", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("kind", "version", name="uq_plans_kind_version"),
        sa.CheckConstraint("kind IN ('routing', 'tariff')", name="ck_plans_kind"),
    )
    op.create_index("ix_plans_kind_effective_from", "plans", ["kind", "effective_from"])


def downgrade() -> None:
    op.drop_table("plans")
