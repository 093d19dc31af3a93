"""Credit accounts: each customer's balance and credit limit (scaled money), for the
credit-limit rule of the call lifecycle (``tandem account``, :mod:`tandem.calls`).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("credit_limit", sa.BigInteger, nullable=False),
        sa.Column("charged", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("customer", name="uq_credit_accounts_customer"),
        sa.CheckConstraint("credit_limit >= 0", name="ck_credit_accounts_limit"),
        sa.CheckConstraint("charged >= 0", name="ck_credit_accounts_charged"),
    )


def downgrade() -> None:
    op.drop_table("credit_accounts")
