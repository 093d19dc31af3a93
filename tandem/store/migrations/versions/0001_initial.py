"""Initial schema: accounts, decks, rates, ported numbers.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("kind", "name", name="uq_accounts_kind_name"),
        sa.CheckConstraint("kind IN ('carrier', 'customer')", name="ck_accounts_kind"),
    )
    op.create_table(
        "decks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("source_name", sa.String(512), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime, nullable=False),
        sa.Column("effective_from", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("decimals", sa.Integer, nullable=False),
        sa.Column("rounding", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.UniqueConstraint("account_id", "version", name="uq_decks_account_version"),
    )
    op.create_index("ix_decks_account_id", "decks", ["account_id"])
    op.create_table(
        "rates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
        ),
        sa.Column("deck_id", sa.Integer, sa.ForeignKey("decks.id"), nullable=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("destination", sa.String(128), nullable=False),
        sa.Column("rate", sa.BigInteger, nullable=False),
        sa.Column("connect_fee", sa.BigInteger, nullable=False),
        sa.Column("initial_increment", sa.Integer, nullable=False),
        sa.Column("next_increment", sa.Integer, nullable=False),
        sa.Column("min_duration", sa.Integer, nullable=False),
        sa.Column("effective_from", sa.BigInteger, nullable=False),
        sa.Column("effective_until", sa.BigInteger, nullable=True),
        sa.Column("change", sa.String(16), nullable=True),
        sa.Column("line", sa.Integer, nullable=True),
    )
    op.create_index("ix_rates_account_prefix", "rates", ["account_id", "prefix"])
    op.create_index("ix_rates_deck_id", "rates", ["deck_id"])
    op.create_table(
        "ported_numbers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number_prefix", sa.String(16), nullable=False),
        sa.Column("routing_number", sa.String(32), nullable=True),
        sa.Column("sip_uri", sa.String(256), nullable=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("imported_at", sa.DateTime, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_ported_numbers_number_prefix", "ported_numbers", ["number_prefix"])


def downgrade() -> None:
    op.drop_table("ported_numbers")
    op.drop_table("rates")
    op.drop_table("decks")
    op.drop_table("accounts")
