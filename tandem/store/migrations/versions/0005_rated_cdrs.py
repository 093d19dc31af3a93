"""The CDR warehouse: rated CDRs (``tandem rate --to-db``), money as scaled integers.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rated_cdrs",
        sa.Column("cdr_id", sa.String(255), nullable=False),
        sa.Column("leg", sa.Integer, nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_epoch", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.BigInteger, nullable=False),
        sa.Column("number", sa.String(64)),
        sa.Column("rated_number", sa.String(64)),
        sa.Column("customer", sa.String(128)),
        sa.Column("carrier", sa.String(128)),
        sa.Column("call_id", sa.String(255)),
        sa.Column("disposition", sa.String(64)),
        sa.Column("sell_prefix", sa.String(16)),
        sa.Column("sell_destination", sa.String(128)),
        sa.Column("sell_billed_seconds", sa.BigInteger),
        sa.Column("sell_amount", sa.BigInteger),
        sa.Column("sell_currency", sa.String(3)),
        sa.Column("buy_prefix", sa.String(16)),
        sa.Column("buy_destination", sa.String(128)),
        sa.Column("buy_billed_seconds", sa.BigInteger),
        sa.Column("buy_amount", sa.BigInteger),
        sa.Column("buy_currency", sa.String(3)),
        sa.Column("margin", sa.BigInteger),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("record", sa.BigInteger, nullable=False),
        sa.Column("loaded_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("cdr_id", "start_epoch", "leg", name="pk_rated_cdrs"),
    )
    op.create_index("ix_rated_cdrs_start", "rated_cdrs", ["start_epoch"])


def downgrade() -> None:
    op.drop_index("ix_rated_cdrs_start", "rated_cdrs")
    op.drop_table("rated_cdrs")
