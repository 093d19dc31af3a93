"""Deck closes: the codes a deck version closed with a Closed status (no rate row stored),
kept so that deleting a deck version can rebuild the account's windows exactly.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deck_closes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deck_id", sa.Integer, sa.ForeignKey("decks.id"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("effective_from", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_deck_closes_deck_id", "deck_closes", ["deck_id"])


def downgrade() -> None:
    op.drop_table("deck_closes")
