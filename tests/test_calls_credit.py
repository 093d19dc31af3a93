"""max_duration: the seconds a remaining credit buys, exact against a brute-force scan of the
rating module's own cost function (hypothesis), and the credit arithmetic around it."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.calls.credit import CreditBook, SellTerms, max_duration, round_limit
from tandem.money import Rounding, round_scaled
from tandem.rating.tariff import Tariff, cost_scaled
from tandem.store import CreditAccount

CAP = 4_000


def brute(terms: SellTerms, credit: int, cap: int) -> int:
    """The longest d in [0, cap] whose cost (cost_scaled, one call at a time) <= credit."""
    tariff = Tariff.flat(
        terms.rate,
        initial_increment=terms.initial_increment,
        next_increment=terms.next_increment,
        connect_fee=terms.connect_fee,
        min_duration=terms.min_duration,
        grace=terms.grace,
        decimals=terms.decimals,
        rounding=terms.rounding,
    )
    best = 0
    for d in range(cap + 1):
        if cost_scaled(tariff, d)[1] <= credit:
            best = d
    return best if credit >= 0 else 0


terms_st = st.builds(
    SellTerms,
    rate=st.one_of(st.integers(0, 10**9), st.integers(0, 5 * 10**9)),
    connect_fee=st.one_of(st.just(0), st.integers(0, 10**8)),
    initial_increment=st.sampled_from([0, 1, 6, 30, 60, 61]),
    next_increment=st.sampled_from([0, 1, 6, 30, 60]),
    min_duration=st.sampled_from([0, 0, 10, 30, 90]),
    grace=st.sampled_from([0, 0, 3, 5]),
    decimals=st.integers(0, 9),
    rounding=st.sampled_from(list(Rounding)),
)


@settings(max_examples=300, deadline=None)
@given(terms=terms_st, credit=st.integers(-(10**8), 10**10))
def test_max_duration_equals_brute_force(terms, credit):
    assert max_duration(terms, credit, cap=CAP) == brute(terms, credit, CAP)


@settings(max_examples=300, deadline=None)
@given(
    ceiling=st.integers(0, 10**12),
    decimals=st.integers(0, 9),
    rounding=st.sampled_from(list(Rounding)),
)
def test_round_limit_is_the_largest_value_rounding_to_at_most_the_ceiling(
    ceiling, decimals, rounding
):
    step = 60 * 10 ** (9 - decimals)
    x = round_limit(ceiling, step, rounding)
    assert round_scaled(x, step, rounding) <= ceiling
    assert round_scaled(x + 1, step, rounding) > ceiling


def test_worked_example():
    """0.06/min billed 30/6 with a 0.01 connect fee: 1.00 of credit buys 16 min 30 s."""
    terms = SellTerms(rate=60_000_000, connect_fee=10_000_000, initial_increment=30,
                      next_increment=6)  # fmt: skip
    # (1.00 - 0.01) / 0.001 per second = 990 s, on the 30 + 6k grid: 990
    assert max_duration(terms, 10**9) == 990
    assert terms.cost(990) == 10**9
    assert terms.cost(991) > 10**9
    assert max_duration(terms, 10**9 - 1) == 984
    assert max_duration(SellTerms(rate=0), 1) == 10**6  # free calls: as long as rated
    assert max_duration(terms, 0) == 0 and max_duration(terms, -5) == 0


def acct(balance, limit, charged=0):
    return CreditAccount("acme", "USD", balance, limit, charged, 0)


def test_remaining_credit_counts_uncharged_spend_once():
    book = CreditBook([acct(100, 50, charged=30)])
    a = book.get("acme")
    assert CreditBook.remaining(a, 30) == 150  # every spend charged
    assert CreditBook.remaining(a, 42) == 138  # 12 ended but not charged in this copy
    assert CreditBook.remaining(a, 10) == 150  # the counter lost history: nothing pending
    # a newer copy after the charge of those 12: same answer
    assert CreditBook.remaining(acct(88, 50, charged=42), 42) == 138
    assert book.get("other") is None
