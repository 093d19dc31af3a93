"""Credit limits: what a customer's remaining credit buys, exactly (CGRateS ``*max_usage``).

A customer's **remaining credit** is ``balance + credit_limit - pending`` (scaled money):
its account in the store (:class:`~tandem.store.CreditAccount`) less the cost of calls that
ended on any node but whose charge the account read here does not hold yet. Every node adds
each ended call's cost to one shared counter, ``credit:CUSTOMER:spent`` (it only grows), and
charges the store, which adds the same cost to the account's ``charged`` total in the same
``UPDATE`` as it lowers the balance. So ``pending = spent - charged`` for whatever copy of
the account a node holds: a node that read the account before another node's charge sees
the old balance and the old ``charged``, and the difference still counts the call, exactly
once. (When the counter reads below ``charged`` the shared state lost its history, e.g. a
flushed Redis: pending reads 0 and the next call end levels the counter again.)

:func:`max_duration` is the longest call the remaining credit pays for at the customer's
sell terms (rate, connect fee, increments, minimum duration, grace, the deck's decimals and
rounding), computed in integers from the rating module's own cost rule
(:func:`tandem.rating.tariff.cost_scaled`), without a loop: see its docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from tandem.money import SCALE, Rounding
from tandem.rating.book import MAX_DURATION
from tandem.rating.tariff import Tariff, cost_scaled
from tandem.store.credit import CreditAccount

__all__ = ["CreditBook", "SellTerms", "max_duration", "max_tariff_duration", "round_limit"]


class SellTerms(NamedTuple):
    """A customer's sell terms for one prefix: the rate per minute and connect fee (scaled),
    the first and next billing increments, the minimum duration and grace (seconds), and
    the deck's decimals and rounding mode. :meth:`tariff` is the rating module's
    :class:`~tandem.rating.tariff.Tariff` of the same terms."""

    rate: int
    connect_fee: int = 0
    initial_increment: int = 60
    next_increment: int = 60
    min_duration: int = 0
    grace: int = 0
    decimals: int = 4
    rounding: Rounding = Rounding.HALF_UP

    def tariff(self) -> Tariff:
        """The terms as a flat :class:`~tandem.rating.tariff.Tariff`."""
        return Tariff.flat(
            self.rate,
            initial_increment=self.initial_increment,
            next_increment=self.next_increment,
            connect_fee=self.connect_fee,
            min_duration=self.min_duration,
            grace=self.grace,
            decimals=self.decimals,
            rounding=self.rounding,
        )

    def cost(self, duration: int) -> int:
        """The exact cost (scaled) of a call of ``duration`` seconds
        (:func:`~tandem.rating.tariff.cost_scaled`)."""
        return cost_scaled(self.tariff(), duration)[1]


def round_limit(ceiling: int, step: int, rounding: Rounding) -> int:
    """The largest integer ``x >= 0`` that ``rounding`` to a multiple of ``step`` takes to
    at most ``ceiling`` (``ceiling >= 0``). With ``M`` the largest multiple of ``step`` not
    above ``ceiling`` and ``x = M + r`` (``0 <= r < step``): truncation keeps every ``r``;
    rounding up (``up``, ``ceiling``) only ``r = 0``; half-up every ``r`` with
    ``2r < step``; half-even those, and ``2r = step`` too when ``M / step`` is even."""
    q = ceiling // step
    m = q * step
    if rounding is Rounding.FLOOR or rounding is Rounding.DOWN:
        return m + step - 1
    if rounding is Rounding.CEILING or rounding is Rounding.UP:
        return m
    if rounding is Rounding.HALF_EVEN and step % 2 == 0 and q % 2 == 0:
        return m + step // 2
    return m + (step - 1) // 2


def max_duration(terms: SellTerms, credit: int, *, cap: int = MAX_DURATION) -> int:
    """The longest call, in whole seconds up to ``cap``, whose cost under ``terms`` is at
    most ``credit`` (scaled); 0 when even one billed second costs more (or ``credit < 0``).

    Exact, in integers: a call of ``d`` seconds costs nothing when ``d <= grace``; else it is
    billed ``b`` seconds, ``b`` on the grid ``initial + k * next`` (the first increment, then
    whole next increments) at or above ``max(d, min_duration)``, and costs
    ``round(60 * fee + rate * b, 60 * 10**(9 - decimals)) / 60`` (rounded once, as
    :func:`~tandem.rating.tariff.cost_scaled`). The cost grows with ``b``, so the answer is
    the largest grid point ``B`` whose numerator is at most :func:`round_limit` of
    ``60 * credit``: one division. A call of ``B`` seconds is billed exactly ``B``.
    """
    if credit < 0:
        return 0
    grace = terms.grace if terms.grace > 0 else 0
    if cap <= grace:
        return cap
    first = terms.initial_increment if terms.initial_increment > 0 else 1
    nxt = terms.next_increment if terms.next_increment > 0 else 1
    seconds = max(grace + 1, terms.min_duration)
    b0 = first if seconds <= first else first + -(-(seconds - first) // nxt) * nxt
    step = 60 * 10 ** (SCALE - terms.decimals)
    room = round_limit(60 * credit, step, terms.rounding) - 60 * terms.connect_fee
    rate = terms.rate
    if rate * b0 > room:  # not even the first billed block
        return grace
    if rate <= 0:
        return cap
    billed = b0 + (room - rate * b0) // (rate * nxt) * nxt
    return billed if billed < cap else cap


def max_tariff_duration(tariff: Tariff, credit: int, *, cap: int = MAX_DURATION) -> int:
    """:func:`max_duration` for any :class:`~tandem.rating.tariff.Tariff` (a tariff plan's
    tiered intervals too): the longest call up to ``cap`` seconds whose
    :func:`~tandem.rating.tariff.cost_scaled` is at most ``credit``, by bisection (the cost
    never falls as a call gets longer); 0 when ``credit < 0``."""
    if credit < 0:
        return 0
    lo, hi = 0, cap  # cost(lo) <= credit always (a 0 s call is free)
    if cost_scaled(tariff, hi)[1] <= credit:
        return hi
    while hi - lo > 1:  # invariant: cost(lo) <= credit < cost(hi)
        mid = (lo + hi) // 2
        if cost_scaled(tariff, mid)[1] <= credit:
            lo = mid
        else:
            hi = mid
    return lo


class CreditBook:
    """The credit accounts one :class:`~tandem.calls.Calls` decides with: a copy of the
    store's accounts by customer (refresh it with :meth:`load`), and what each has left
    given the shared spend counter (see the module docstring)."""

    def __init__(self, accounts: Iterable[CreditAccount] = ()) -> None:
        self._accounts: dict[str, CreditAccount] = {}
        self.load(accounts)

    def load(self, accounts: Iterable[CreditAccount]) -> None:
        """Replace the copy of the accounts (one dict swap: safe under readers)."""
        self._accounts = {a.customer: a for a in accounts}

    def update(self, account: CreditAccount) -> None:
        """Keep one account as a charge or a change returned it."""
        accounts = dict(self._accounts)
        accounts[account.customer] = account
        self._accounts = accounts

    def get(self, customer: str) -> CreditAccount | None:
        """The account of ``customer`` (None: no credit limit applies to it)."""
        return self._accounts.get(customer)

    @property
    def accounts(self) -> Mapping[str, CreditAccount]:
        """Every account held, by customer."""
        return self._accounts

    @staticmethod
    def remaining(account: CreditAccount, spent: int) -> int:
        """``balance + credit_limit - pending`` where ``pending = spent - charged`` (0 when
        the shared counter reads below the account's charged total)."""
        pending = spent - account.charged_scaled
        return account.available_scaled - (pending if pending > 0 else 0)
