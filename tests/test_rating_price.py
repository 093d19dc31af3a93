"""Pricing CDRs: both sides, every unrated reason, time edges, scalar == batch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import cdr_frame, deck_frame, rates_frame

from tandem.errors import NumberError
from tandem.money import Rounding, to_scaled
from tandem.numbers import e164_digits
from tandem.rating.cdr import canonical_table
from tandem.rating.plan import parse_plan
from tandem.rating.price import REASONS, Rater, price_call, price_cdrs
from tandem.rating.schedule import PlanSchedule
from tandem.store import OPEN_END

T0 = int(datetime(2026, 11, 2, 12, 0, tzinfo=UTC).timestamp())  # a Monday


def S(text: str) -> int:
    return to_scaled(Decimal(text))


@pytest.fixture
def universe():
    return rates_frame(
        [
            dict(account="acme-telecom", kind="customer", prefix="44", rate="0.02",
                 destination="UK", effective_from=T0 - 3600),
            dict(account="acme-telecom", kind="customer", prefix="447", rate="0.10",
                 destination="UK Mobile", initial_increment=30, next_increment=6,
                 effective_from=T0 - 3600),
            dict(account="acme-telecom", kind="customer", prefix="1212", rate="0.006",
                 initial_increment=6, next_increment=6, effective_from=T0 - 3600,
                 effective_until=T0 + 3600),
            dict(account="acme-telecom", kind="customer", prefix="1212", rate="0.008",
                 initial_increment=6, next_increment=6, effective_from=T0 + 3600),
            dict(account="atlas", kind="carrier", prefix="44", rate="0.01",
                 initial_increment=1, next_increment=1, effective_from=T0 - 3600),
            dict(account="atlas", kind="carrier", prefix="4420", rate="0.004",
                 connect_fee=S("0.001"), effective_from=T0 - 3600),
            dict(account="atlas", kind="carrier", prefix="1", rate="0.003",
                 initial_increment=1, next_increment=1, effective_from=T0 - 3600),
        ]
    )  # fmt: skip


def test_both_sides_hand_computed(universe):
    cdrs = cdr_frame(
        [
            (T0, 61, "+442071234567", "acme-telecom", "atlas"),
            (T0, 40, "00447700900123", "acme-telecom", "atlas"),
            (T0 + 3599, 7, "0111212555", "acme-telecom", "atlas"),
            (T0 + 3600, 7, "1212555", "acme-telecom", "atlas"),
        ]
    )
    res = price_cdrs(cdrs, universe)
    r = res.rated
    assert list(r["sell_amount"]) == [
        Decimal("0.04"),  # 44 at 0.02, 60/60: 120 s
        Decimal("0.07"),  # 447 at 0.10, 30/6: 42 s -> 0.07
        Decimal("0.0012"),  # 1212 at 0.006, 6/6: 12 s -> 0.0012 (old rate until T0+3600)
        Decimal("0.0016"),  # new rate 0.008 from T0+3600: 12 s -> 0.0016
    ]
    assert list(r["buy_amount"]) == [
        Decimal("0.009"),  # 4420: 120 s at 0.004 = 0.008 + fee 0.001
        Decimal("0.0067"),  # 44 at 0.01 per second: 40 s -> 0.006666.. -> 0.0067
        Decimal("0.0004"),  # 1 at 0.003 per second: 7 s -> 0.00035 -> 0.0004 (half-up)
        Decimal("0.0004"),
    ]
    assert list(r["margin"]) == [
        Decimal("0.031"),
        Decimal("0.0633"),
        Decimal("0.0008"),
        Decimal("0.0012"),
    ]
    assert list(r["sell_prefix"]) == ["44", "447", "1212", "1212"]
    assert list(r["buy_prefix"]) == ["4420", "44", "1", "1"]
    assert list(r["rated_number"]) == ["442071234567", "447700900123", "1212555", "1212555"]
    s = res.summary.as_json()
    assert s["rows_in"] == 4 and s["rated"] == 4 and s["unrated"] == {}
    assert s["sell_total"] == "0.1128" and s["buy_total"] == "0.0165"
    assert s["margin"] == "0.0963" and s["currency"] == "USD"


def test_every_unrated_reason(universe):
    cdrs = cdr_frame(
        [
            (None, 60, "442071234567", "acme-telecom", "atlas"),  # bad_time
            (T0, None, "442071234567", "acme-telecom", "atlas"),  # bad_duration (missing)
            (T0, -5, "442071234567", "acme-telecom", "atlas"),  # bad_duration (negative)
            (T0, 60, "020 7123 4567", "acme-telecom", "atlas"),  # bad_number (national)
            (T0, 60, "1234567890123456", "acme-telecom", "atlas"),  # bad_number (16 digits)
            (T0, 60, "442071234567", "nobody", "atlas"),  # unknown_customer
            (T0 - 7200, 60, "442071234567", "acme-telecom", "atlas"),  # no_deck_in_force
            (T0, 60, "33123456789", "acme-telecom", "atlas"),  # no_matching_prefix
            (T0, 60, "442071234567", "acme-telecom", "nobody"),  # buy side: unknown_carrier
            (T0, 60, "442071234567", "acme-telecom", None),  # buy side: unknown_carrier
        ]
    )
    res = price_cdrs(cdrs, universe)
    assert list(res.unrated["reason"]) == [
        "bad_time",
        "bad_duration",
        "bad_duration",
        "bad_number",
        "bad_number",
        "unknown_customer",
        "no_deck_in_force",
        "no_matching_prefix",
    ]
    assert list(res.unrated["record"]) == [1, 2, 3, 4, 5, 6, 7, 8]
    # Sell-side priced, buy side unknown carrier: rated, with a buy reason and no margin.
    assert len(res.rated) == 2
    assert list(res.rated["buy_reason"]) == ["unknown_carrier", "unknown_carrier"]
    assert res.rated["margin"].isna().all()
    assert list(res.rated["sell_amount"]) == [Decimal("0.02")] * 2
    s = res.summary
    assert s.rows_in == 10 == s.rated + s.unrated_count
    assert s.unrated == {
        "bad_time": 1,
        "bad_duration": 2,
        "bad_number": 2,
        "unknown_customer": 1,
        "no_deck_in_force": 1,
        "no_matching_prefix": 1,
    }
    assert s.buy_unrated["unknown_carrier"] == 2
    # A CDR priced on the buy side only: the customer is unknown but the carrier is not.
    assert res.unrated.iloc[5]["buy_amount"] == Decimal("0.005")  # 4420: 0.004 + fee 0.001
    assert set(REASONS) >= set(s.unrated) | set(s.buy_unrated)


def test_effective_edges(universe):
    # The old 1212 rate is in force at T0+3599, the new one from T0+3600 exactly;
    # nothing is in force one second before the first deck.
    cdrs = cdr_frame(
        [
            (T0 - 3601, 6, "1212555", "acme-telecom", "atlas"),
            (T0 - 3600, 6, "1212555", "acme-telecom", "atlas"),
            (T0 + 3599, 6, "1212555", "acme-telecom", "atlas"),
            (T0 + 3600, 6, "1212555", "acme-telecom", "atlas"),
        ]
    )
    res = price_cdrs(cdrs, universe)
    assert list(res.unrated["reason"]) == ["no_deck_in_force"]
    assert list(res.rated["sell_amount"]) == [
        Decimal("0.0006"),
        Decimal("0.0006"),
        Decimal("0.0008"),
    ]


def test_times_with_zones_are_utc(universe):
    frame = pd.DataFrame(
        {
            "start": [
                "2026-11-02T13:00:00+01:00",  # = 12:00 UTC = T0
                "2026-11-02 07:00:00",  # local New York (EST, UTC-5) = 12:00 UTC
                "not a time",
            ],
            "billsec": ["61", "61.2", "61"],
            "dst": ["442071234567"] * 3,
            "accountcode": ["acme-telecom"] * 3,
            "carrier": ["atlas"] * 3,
        }
    )
    canon = canonical_table(pa.Table.from_pandas(frame), timezone="America/New_York")
    assert canon.column("start").to_pylist() == [T0, T0, None]
    assert canon.column("duration").to_pylist() == [61, 62, 61]  # fractions round up
    res = price_cdrs(frame, universe, timezone="America/New_York")
    assert res.summary.rated == 2 and res.summary.unrated == {"bad_time": 1}


def test_dst_edges_are_explicit():
    frame = pa.table(
        {
            "start": [
                "2026-03-08 02:30:00",  # does not exist in New York (clocks jump 2 -> 3)
                "2026-11-01 01:30:00",  # happens twice; taken as the first (EDT, UTC-4)
            ],
            "duration": [1, 1],
            "number": ["1", "1"],
        }
    )
    canon = canonical_table(frame, timezone="America/New_York")
    first = int(datetime(2026, 11, 1, 5, 30, tzinfo=UTC).timestamp())
    assert canon.column("start").to_pylist() == [None, first]


def test_routing_number_and_port_lookup(universe):
    frame = cdr_frame(
        [
            (T0, 60, "12125550100", "acme-telecom", "atlas"),
            (T0, 60, "12125550101", "acme-telecom", "atlas"),
            (T0, 60, "12125550102", "acme-telecom", "atlas"),
        ]
    )
    # A ported number's routing number is what is rated; the dialed number is kept.
    frame["routing_number"] = ["442079460000", "", None]
    calls = []

    def fake_lnp(numbers: pd.Series) -> pd.Series:
        calls.append(list(numbers))
        return numbers.map({"12125550101": "447700900000"})

    res = price_cdrs(frame, universe, port_lookup=fake_lnp)
    r = res.rated
    assert list(r["number"]) == ["12125550100", "12125550101", "12125550102"]
    assert list(r["rated_number"]) == ["442079460000", "447700900000", "12125550102"]
    assert list(r["sell_prefix"]) == ["44", "447", "1212"]
    assert calls == [["12125550101", "12125550102"]]  # row 0 has a routing number already


def test_store_decks_sqlite_and_postgres(store):
    store.write_deck(
        "acme-telecom",
        "customer",
        deck_frame([dict(prefix="44", rate="0.02"), dict(prefix="4420", rate="0.015")]),
        currency="EUR",
        effective_from=T0,
        decimals=2,
        rounding="up",
    )
    store.write_deck(
        "atlas",
        "carrier",
        deck_frame([dict(prefix="44", rate="0.011", initial_increment=1, next_increment=1)]),
        currency="EUR",
        effective_from=T0,
    )
    cdrs = cdr_frame([(T0, 61, "442071234567", "acme-telecom", "atlas")])
    res = price_cdrs(cdrs, store)
    # sell 0.015 * 120/60 = 0.03 (2 decimals, up); buy 0.011 * 61 / 60 = 0.011183 -> 0.0112
    assert list(res.rated["sell_amount"]) == [Decimal("0.03")]
    assert list(res.rated["buy_amount"]) == [Decimal("0.0112")]
    assert res.summary.as_json()["currency"] == "EUR"
    one = price_call("+442071234567", T0, 61, account="acme-telecom", rates=store)
    assert one.amount == Decimal("0.03") and one.prefix == "4420"


def test_plan_periods_and_tiers_batch(universe):
    plan = parse_plan(
        {
            "customer": {
                "acme-telecom": {
                    "grace": 2,
                    "periods": {"weekend": {"days": ["sat", "sun"]}},
                    "tariffs": [
                        {
                            "prefix": "447",
                            "intervals": [
                                {"start": 0, "rate": "0.10", "increment": 60},
                                {"start": 60, "rate": "0.05", "increment": 1},
                            ],
                        },
                        {"prefix": "", "period": "weekend", "rate": "0.004"},
                    ],
                }
            }
        }
    )
    sat = T0 + 5 * 86400  # Saturday 12:00 UTC
    cdrs = cdr_frame(
        [
            (T0, 90, "447700900123", "acme-telecom", "atlas"),  # tiered: 0.10 + 0.025
            (T0, 2, "447700900123", "acme-telecom", "atlas"),  # within grace: free
            (sat, 61, "442071234567", "acme-telecom", "atlas"),  # weekend: 120 s at 0.004
            (T0, 61, "442071234567", "acme-telecom", "atlas"),  # weekday: deck 0.02
        ]
    )
    res = price_cdrs(cdrs, universe, plan=plan)
    assert list(res.rated["sell_amount"]) == [
        Decimal("0.125"),
        Decimal("0"),
        Decimal("0.008"),
        Decimal("0.04"),
    ]
    assert list(res.rated["sell_billed_seconds"]) == [90, 0, 120, 120]
    one = price_call("447700900123", T0, 90, account="acme-telecom", rates=universe, plan=plan)
    assert one.amount == Decimal("0.125")
    wk = price_call("442071234567", sat, 61, account="acme-telecom", rates=universe, plan=plan)
    assert wk.period == "weekend" and wk.amount == Decimal("0.008")


def test_default_grace_option(universe):
    cdrs = cdr_frame([(T0, 3, "442071234567", "acme-telecom", "atlas")])
    res = price_cdrs(cdrs, universe, grace=3)
    assert list(res.rated["sell_amount"]) == [Decimal("0")]
    assert list(res.rated["buy_amount"]) == [Decimal("0")]


def test_parallel_split_gives_the_same_answer(universe):
    rng = np.random.default_rng(7)
    n = 5000
    numbers = rng.choice(["4420", "4477", "1212", "33", "44"], n)
    tails = rng.integers(10**5, 10**6, n).astype(str)
    table = pa.table(
        {
            "start": rng.integers(T0 - 7200, T0 + 7200, n),
            "duration": rng.integers(-1, 400, n),
            "number": np.char.add(numbers, tails).astype(object),
            "customer": ["acme-telecom"] * n,
            "carrier": ["atlas"] * n,
        }
    )
    one = Rater.from_rates(universe, workers=1)
    two = Rater.from_rates(universe, workers=2)
    import tandem.rating.price as price_mod

    whole = one.price(canonical_table(table))
    old = price_mod._PARALLEL_MIN, price_mod._CHUNK
    price_mod._PARALLEL_MIN, price_mod._CHUNK = 100, 700
    try:
        a = one.price(canonical_table(table))  # 8 chunks, one thread
        b = two.price(canonical_table(table))  # 8 chunks, two threads
    finally:
        price_mod._PARALLEL_MIN, price_mod._CHUNK = old
    assert a.equals(b)
    assert a.combine_chunks().equals(whole.combine_chunks())
    assert a.column("sell_prefix").num_chunks == 8


# -- the scalar/batch property -------------------------------------------------------------

_EDGES = [0, 1000, 2000, 1_700_000_000, 1_700_050_000, 1_710_000_000]
_ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]


@st.composite
def decks(draw):
    rows = []
    for kind, accounts in (("customer", ["c1", "c2"]), ("carrier", ["v1"])):
        for account in accounts:
            prefixes = draw(
                st.lists(
                    st.text("1403", min_size=1, max_size=4), min_size=0, max_size=6, unique=True
                )
            )
            decimals = draw(st.integers(0, 6))
            rounding = draw(st.sampled_from([m.value for m in Rounding]))
            tz = draw(st.sampled_from(_ZONES))
            for p in prefixes:
                cuts = sorted(draw(st.sets(st.sampled_from(_EDGES), min_size=1, max_size=3)))
                cuts.append(OPEN_END if draw(st.booleans()) else max(_EDGES) + 10**6)
                for a, b in zip(cuts, cuts[1:], strict=False):
                    if draw(st.integers(0, 4)) == 0:
                        continue  # a gap in the prefix's history
                    rows.append(
                        dict(
                            account=account,
                            kind=kind,
                            prefix=p,
                            destination=f"d{p}",
                            rate=draw(st.integers(0, 10**10)),
                            connect_fee=draw(st.sampled_from([0, 0, 1, 10**7, 123456789])),
                            initial_increment=draw(st.sampled_from([0, 1, 6, 30, 60])),
                            next_increment=draw(st.sampled_from([0, 1, 6, 60])),
                            min_duration=draw(st.sampled_from([0, 0, 10, 90])),
                            effective_from=a,
                            effective_until=b,
                            decimals=decimals,
                            rounding=rounding,
                            timezone=tz,
                            currency="USD",
                        )
                    )
    return rows


@st.composite
def plans(draw):
    data = {}
    for kind, account in (("customer", "c1"), ("carrier", "v1")):
        if draw(st.booleans()):
            continue
        periods = {}
        if draw(st.booleans()):
            periods["weekend"] = {"days": ["sat", "sun"]}
            periods["night"] = {"from": "19:00", "until": "07:00"}
        tariffs = []
        for _ in range(draw(st.integers(0, 3))):
            t = {"prefix": draw(st.text("14", max_size=2))}
            if periods and draw(st.booleans()):
                t["period"] = draw(st.sampled_from(sorted(periods)))
            if draw(st.booleans()):
                t["rate"] = str(Decimal(draw(st.integers(0, 10**6))) / 10**6)
            else:
                k = draw(st.integers(1, 3))
                starts = sorted(draw(st.sets(st.integers(1, 200), min_size=k - 1, max_size=k - 1)))
                t["intervals"] = [
                    {
                        "start": s,
                        "rate": str(Decimal(draw(st.integers(0, 10**6))) / 10**5),
                        "increment": draw(st.sampled_from([1, 6, 30, 60, 7])),
                    }
                    for s in [0, *starts]
                ]
            tariffs.append(t)
        data.setdefault(kind, {})[account] = {
            "grace": draw(st.sampled_from([0, 0, 3, 30])),
            "periods": periods,
            "tariffs": tariffs,
        }
    return parse_plan(data)


_instants = st.one_of(
    st.sampled_from(_EDGES).flatmap(lambda e: st.sampled_from([e - 1, e, e + 1])),
    st.integers(1_699_990_000, 1_710_100_000),
    st.none(),
)
_numbers = st.one_of(
    st.text("1403", min_size=1, max_size=8),
    st.sampled_from(["+14", "0044", "01140", "", "4a", " 14 ", "1" * 16, "+"]),
    st.none(),
)


def _assert_each_call_agrees(cdrs, rows, rates, plan, grace) -> None:
    """Each batch-priced row equals ``price_call`` on its CDR, both sides, to the last unit."""
    for (start, duration, number, customer, carrier), row in zip(cdrs, rows, strict=True):
        for side, kind, account in (("sell", "customer", customer), ("buy", "carrier", carrier)):
            one = price_call(
                number,
                start,
                duration,
                account=account,
                kind=kind,
                rates=rates,
                plan=plan,
                grace=grace,
            )
            got_amount = row[f"{side}_amount"]
            assert row[f"{side}_reason"] == one.reason, (side, row)
            if one.reason is None:
                assert to_scaled(got_amount) == one.amount_scaled, (side, row, one)
                assert row[f"{side}_billed_seconds"] == one.billed_seconds
                assert row[f"{side}_prefix"] == one.prefix
            else:
                assert got_amount is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    decks(),
    plans(),
    st.lists(
        st.tuples(
            _instants,
            st.one_of(st.integers(-2, 400), st.none(), st.sampled_from([10**6, 10**6 + 1])),
            _numbers,
            st.sampled_from(["c1", "c2", "c3", None]),
            st.sampled_from(["v1", "v9", None]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([0, 5]),
)
def test_scalar_and_batch_agree_to_the_last_unit(deck_rows, plan, cdrs, grace):
    rates = rates_frame(deck_rows) if deck_rows else rates_frame([])
    priced = (
        Rater.from_rates(rates, plan, grace=grace)
        .price(canonical_table(pa.Table.from_pandas(cdr_frame(cdrs))))
        .to_pylist()
    )
    _assert_each_call_agrees(cdrs, priced, rates, plan, grace)


def _cdrs(instants: st.SearchStrategy, numbers: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(
        st.tuples(
            instants,
            st.one_of(st.integers(-2, 400), st.none(), st.sampled_from([10**6, 10**6 + 1])),
            numbers,
            st.sampled_from(["c1", "c1", "c2", "c3", None]),
            st.sampled_from(["v1", "v9", None]),
        ),
        min_size=3,
        max_size=16,
    )


@st.composite
def changed_plans(draw):
    """A plan that surely changes c1's price: a flat rate on every prefix, more often
    than not beside the other tariffs a plan may have."""
    plan = draw(plans())
    data = {
        (kind, name): {"grace": acct.grace}
        for (kind, name), acct in plan.accounts.items()
        if (kind, name) != ("customer", "c1")
    }
    rate = str(Decimal(draw(st.integers(1, 10**6))) / 10**5)
    toml: dict = {}
    for (kind, name), spec in data.items():
        toml.setdefault(kind, {})[name] = spec
    toml.setdefault("customer", {})["c1"] = {
        "grace": draw(st.sampled_from([0, 7])),
        "tariffs": [{"prefix": "", "rate": rate}],
    }
    return parse_plan(toml)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    decks(),
    plans(),
    changed_plans(),
    st.sets(st.sampled_from(_EDGES[2:]), min_size=1, max_size=2),
    st.booleans(),
    st.data(),
    st.sampled_from([0, 5]),
)
def test_scalar_and_batch_agree_across_a_plan_change(
    deck_rows, before, after, cuts, plan_first, data, grace
):
    # Tariff plan versions by start instant: (none or `before`) then `after` from the first
    # cut, and none again from the second when there is one (a gap in the plans' history).
    cuts = sorted(cuts)
    near_cuts = st.sampled_from(cuts).flatmap(lambda c: st.sampled_from([c - 1, c, c + 1]))
    # c1 always has a rate for 9 (a digit the drawn decks do not use), and the numbers
    # mostly match a deck prefix: many CDRs near the cut are then rated.
    deck_rows = [
        *deck_rows,
        dict(account="c1", kind="customer", prefix="9", rate=S("0.01"), effective_from=0),
    ]
    dialled = [r["prefix"] + "0" for r in deck_rows]
    numbers = st.one_of(_numbers, st.sampled_from(dialled), st.sampled_from(dialled))
    cdrs = data.draw(_cdrs(st.one_of(_instants, near_cuts, near_cuts), numbers))
    schedule = PlanSchedule(
        cuts=tuple(cuts),
        plans=(before if plan_first else None, after, *([None] * (len(cuts) - 1))),
        versions=(1 if plan_first else None, 2, *([None] * (len(cuts) - 1))),
    )
    rates = rates_frame(deck_rows)
    table = canonical_table(pa.Table.from_pandas(cdr_frame(cdrs)))
    priced = Rater.from_rates(rates, schedule, grace=grace).price(table)
    assert priced.column("record").to_pylist() == table.column("record").to_pylist()
    rows = priced.to_pylist()
    _assert_each_call_agrees(cdrs, rows, rates, schedule, grace)
    # Each CDR is priced exactly as a batch under the one plan in force at its start.
    for k, plan in enumerate(schedule.plans):
        alone = Rater.from_rates(rates, plan, grace=grace).price(table).to_pylist()
        for (start, *_), row, single in zip(cdrs, rows, alone, strict=True):
            if start is not None and schedule.window(start) == k:
                assert row == single


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text("0129", min_size=1, max_size=15), min_size=1, max_size=40, unique=True),
    st.lists(st.text("0129", min_size=1, max_size=15), min_size=1, max_size=30),
)
def test_longest_prefix_at_every_depth(prefixes, numbers):
    # Prefixes up to E.164's 15 digits: the rate book's digit trie runs to its last level.
    rates = rates_frame(
        [
            dict(account="c1", kind="customer", prefix=p, rate="0.01", effective_from=0)
            for p in prefixes
        ]
    )
    priced = Rater.from_rates(rates).price(
        canonical_table(pa.Table.from_pandas(cdr_frame([(T0, 60, n, "c1", "v1") for n in numbers])))
    )
    for number, got in zip(numbers, priced.column("sell_prefix").to_pylist(), strict=True):
        try:  # "00..." and "011..." lose their international prefix; "0..." is refused
            digits = e164_digits(number)
        except NumberError:
            digits = None
        matches = [p for p in prefixes if digits is not None and digits.startswith(p)]
        assert got == (max(matches, key=len) if matches else None), number


@given(st.lists(st.text("0123456789x", min_size=1, max_size=16), max_size=30))
def test_prefix_key_ranges_match_the_scalar_definition(prefixes):
    from tandem.rating.book import _prefix_key_ranges
    from tandem.rating.keys import prefix_key_range

    arr = np.asarray(prefixes, dtype=object)
    usable = np.array([p.isdigit() and len(p) <= 15 for p in prefixes], dtype=bool)
    lo, hi = _prefix_key_ranges(arr, usable)
    for p, ok, a, b in zip(prefixes, usable, lo.tolist(), hi.tolist(), strict=True):
        assert (a, b) == (prefix_key_range(p) if ok else (0, 0))
