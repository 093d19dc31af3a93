"""``tandem account``: customers' credit accounts (balance and credit limit) in the store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.options import INSTANT, INSTANT_FORMS

if TYPE_CHECKING:
    from tandem.store import CreditAccount

__all__ = ["account_group"]


@click.group("account")
def account_group() -> None:
    """Customers' credit accounts: balance and credit limit (the credit-limit rule of
    the call lifecycle blocks a customer at its limit)."""


def _currency_of(ctx: CliContext, customer: str) -> str | None:
    """The currency of the customer's latest deck, or None when it has none."""
    decks = ctx.store.decks(account=customer, kind="customer")
    return decks[-1].currency if decks else None


@global_options
@account_group.command("set")
@click.argument("customer")
@click.option("--balance", metavar="AMOUNT", help="The balance (may be negative: owed).")
@click.option(
    "--limit", "limit", metavar="AMOUNT",
    help="The credit limit: how far below zero the balance may go (>= 0).",
)  # fmt: skip
@click.option(
    "--currency", metavar="CODE",
    help="ISO 4217 currency of a new account (default: the customer's deck currency).",
)  # fmt: skip
@click.option(
    "--now", type=INSTANT, metavar="TIME",
    help=f"Pin the instant recorded as the change: {INSTANT_FORMS} (default: the clock).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def account_set(
    ctx: CliContext,
    customer: str,
    balance: str | None,
    limit: str | None,
    currency: str | None,
    now: int | None,
    as_json: bool,
) -> None:
    """Set CUSTOMER's balance and/or credit limit (exact decimal amounts, e.g. 250.75).

    A new account takes the currency of the customer's deck (or --currency); a bad amount
    is refused and nothing is written.
    """
    from tandem.errors import ConfigError
    from tandem.instant import now_instant
    from tandem.money import to_scaled

    if balance is None and limit is None:
        raise ConfigError("say what to set: --balance AMOUNT and/or --limit AMOUNT")
    b = None if balance is None else to_scaled(balance, field="--balance")
    lim = None if limit is None else to_scaled(limit, field="--limit")
    if currency is not None:
        currency = currency.strip().upper()
    elif ctx.store.credit_account(customer) is None:
        currency = _currency_of(ctx, customer)
    t = now_instant() if now is None else now
    account = ctx.store.set_credit(customer, balance=b, credit_limit=lim, currency=currency, at=t)
    if as_json:
        click.echo(json.dumps(account.to_dict()))
    elif not ctx.quiet:
        click.echo(_line(account))


@global_options
@account_group.command("show")
@click.argument("customer", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def account_show(ctx: CliContext, customer: str | None, as_json: bool) -> None:
    """Show CUSTOMER's credit account (every account without CUSTOMER)."""
    from tandem.errors import ConfigError

    if customer is not None:
        found = ctx.store.credit_account(customer)
        if found is None:
            raise ConfigError(
                f"customer {customer!r} has no credit account: set one with "
                f"'tandem account set {customer} --balance X --limit Y'"
            )
        accounts = [found]
    else:
        accounts = ctx.store.credit_accounts()
    if as_json:
        if customer is not None:
            click.echo(json.dumps(accounts[0].to_dict()))
        else:
            click.echo(json.dumps({"accounts": [a.to_dict() for a in accounts]}))
        return
    if not accounts:
        click.echo("no credit accounts yet: set one with 'tandem account set CUSTOMER --limit Y'")
        return
    for a in accounts:
        click.echo(_line(a))


def _line(a: CreditAccount) -> str:
    d = a.to_dict()
    return (
        f"{a.customer}: balance {d['balance']} {a.currency}, credit limit {d['credit_limit']}, "
        f"available {d['available']}, charged {d['charged']} (updated {d['updated']})"
    )
