"""Batch routing (tandem.lcr.batch): every row equals Router.route on the same call, on
every field, over random tables, plans, customers, numbers and instants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tandem
from tandem.enum.types import LookupKind, NumberInfo
from tandem.errors import NumberError, TandemError, UnknownCustomerError
from tandem.lcr import BatchDecisions, route_batch
from tandem.lcr.batch import REASON_KINDS
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import ON_NET, Router
from tandem.lcr.table import OPEN_END, compile_rates
from tandem.money import UNIT, to_scaled
from tandem.state import MemoryCounters

COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
CARRIERS = ["atlas", "borealis", "cygnus", "draco", "eridanus"]
CUSTOMERS = ["acme", "bolt"]
#: What each reason's wording says, written out independently of the module.
WORDING = [
    ("the routing table is valid ", "outside_table"),
    ("destination prefix ", "blocked_prefix"),
    ("no carrier or customer prefix matches ", "no_prefix"),
    ("no carrier has a prefix of ", "no_carrier"),
    ("no carrier may take ", "no_route"),
    ("customer ", "no_sell_rate"),
]


def kind_of(reason: str) -> str:
    if not reason:
        return ""
    return next(kind for start, kind in WORDING if reason.startswith(start))


@st.composite
def tables(draw):
    """Carriers and two customers over prefixes of digits 1-3, rates with ties; sometimes
    a carrier billing in EUR; rows valid [0, 1000) or [0, open)."""
    prefix = st.text("123", min_size=1, max_size=4)
    euro = draw(st.sampled_from([None, *CARRIERS]))
    until = draw(st.sampled_from([1000, OPEN_END]))
    rows = []
    for account, kind in [(c, "carrier") for c in CARRIERS] + [(c, "customer") for c in CUSTOMERS]:
        currency = "EUR" if account == euro else "USD"
        for p in draw(st.sets(prefix, max_size=8)):
            rate = draw(st.integers(1, 12)) * UNIT // 1000
            rows.append((account, kind, currency, p, rate, 0, 60, 60, 0, 0, until))
    return compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)


@st.composite
def plans(draw):
    plan: dict = {
        "strategy": draw(st.sampled_from(["least-cost", "least-cost", "priority", "weighted"])),
        "max_routes": draw(st.integers(1, 5)),
    }
    if draw(st.booleans()):
        plan["allow_loss"] = True
        plan["max_loss"] = draw(st.sampled_from(["0", "0.002", "0.005"]))
    if draw(st.booleans()):
        plan["blocked"] = draw(st.lists(st.text("123", min_size=1, max_size=3), max_size=3))
    if plan["strategy"] in ("priority", "weighted") or draw(st.booleans()):
        listed = draw(st.lists(st.sampled_from(CARRIERS), unique=True, max_size=4))
        plan["priority"] = {c: draw(st.integers(0, 3)) for c in listed}
    if plan["strategy"] == "weighted":
        plan["weights"] = {c: draw(st.integers(0, 5)) for c in CARRIERS[:3]}
    if draw(st.booleans()):
        plan["forced"] = [
            {
                "prefix": draw(st.text("123", min_size=1, max_size=3)),
                "carriers": draw(
                    st.lists(st.sampled_from([*CARRIERS, "nobody"]), min_size=1, max_size=3)
                ),
                "exclusive": draw(st.booleans()),
            }
            for _ in range(draw(st.integers(1, 3)))
        ]
    return plan


RULES = {"tech_prefixes": ["9#"], "national_prefix": "0", "country_code": "1",
         "international_prefixes": ["+", "00"]}  # fmt: skip


class Lookup:
    """Ports numbers beginning with 2 (to 3 + the rest), finds those beginning with 31
    on-net, fails on 32, and answers "not ported" for the rest."""

    def lookup(self, number: str) -> NumberInfo:
        if number.startswith("2"):
            return NumberInfo(number, LookupKind.PORTED, routing_number="3" + number[1:])
        if number.startswith("31"):
            return NumberInfo(number, LookupKind.ON_NET, sip_uri="sip:x@example.net")
        if number.startswith("32"):
            return NumberInfo(number, LookupKind.ERROR, detail="timeout")
        return NumberInfo(number, LookupKind.NOT_PORTED, source="cache")


def config(draw_plans, rules, caps):
    customers = {c: dict(p) for c, p in zip(CUSTOMERS, draw_plans, strict=True)}
    if rules:
        customers["bolt"]["translate"] = RULES
    data: dict = {"customers": customers}
    if caps:
        data["carriers"] = {"borealis": {"max_concurrent": 1}}
    return config_from_mapping(data)


numbers = st.one_of(
    st.text("0123+", min_size=1, max_size=8),
    st.text("123", min_size=1, max_size=8).map(lambda s: "9#0" + s),
    st.sampled_from(["", "abc", "+", "0", "1234567890123456", "+1 2-3", "0044 1"]),
)


def reference(router, number, customer, at, call_id):
    try:
        return router.route(number, customer=customer, at=at, call_id=call_id), None
    except TandemError as exc:
        return None, exc


def check_row(res: BatchDecisions, i: int, decision, error, table) -> None:
    """Row ``i`` of the batch equals the router's decision (or refusal) on every field."""
    if error is not None:
        assert isinstance(error, NumberError | UnknownCustomerError)
        assert res.blocked[i] and res.reason(i) == str(error)
        kind = "bad_number" if isinstance(error, NumberError) else "unknown_customer"
        assert REASON_KINDS[res.reason_kind[i]] == kind
        assert res.route_count[i] == 0 and not res.has_sell[i] and res.prefix_id[i] == -1
        assert res.decision(i)["reason"] == str(error)
        return
    assert res.decision(i) == decision.to_dict()
    assert bool(res.blocked[i]) == decision.blocked
    assert res.reason(i) == decision.reason
    assert REASON_KINDS[res.reason_kind[i]] == kind_of(decision.reason)
    assert res.normalized[i].as_py() == decision.normalized
    assert bool(res.has_sell[i]) == (decision.sell_rate_scaled is not None)
    if decision.sell_rate_scaled is not None:
        assert res.sell_rate[i] == decision.sell_rate_scaled
        assert res.sell_prefix_len[i] == len(decision.sell_prefix)
    else:
        assert res.sell_prefix_len[i] == -1
    routes = decision.routes
    assert res.route_count[i] == len(routes)
    assert res.route_carriers(i) == [r.carrier for r in routes]
    prefix = table.buy_columns["prefix"]
    for k, r in enumerate(routes):
        assert res.route_rate[i, k] == to_scaled(r.rate)
        assert res.rate(i, k) == r.rate
        row = int(res.route_row[i, k])
        if r.carrier == ON_NET:
            assert row == -1
        else:
            assert table.trie.restore_key(prefix[row]) == r.prefix
    assert (res.route_carrier[i, len(routes) :] == -1).all()
    if decision.sell_rate_scaled is not None:
        assert res.prefix_id[i] == table.longest_prefix(
            decision.routing_number or decision.normalized
        )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    two_plans=st.tuples(plans(), plans()),
    rules=st.booleans(),
    caps=st.sampled_from([False, False, False, True]),
    lookup=st.sampled_from([False, False, True]),
    calls=st.lists(
        st.tuples(
            numbers,
            st.sampled_from([*CUSTOMERS, *CUSTOMERS, "ghost", None]),
            st.sampled_from([-5, 0, 500, 999, 1000]),
            st.text("ab", max_size=3),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_every_row_equals_route(table, two_plans, rules, caps, lookup, calls):
    cfg = config(two_plans, rules, caps)
    counters = MemoryCounters() if caps else None
    if counters is not None:
        counters.incr("carrier:borealis:calls")  # at its limit: dropped for capacity
    batch_router = Router(table, plan=cfg, counters=counters, lookup=Lookup() if lookup else None)
    ref_router = Router(table, plan=cfg, counters=counters, lookup=Lookup() if lookup else None)
    nums = [c[0] for c in calls]
    customers = [c[1] for c in calls]
    at = np.array([c[2] for c in calls], dtype=np.int64)
    ids = [c[3] for c in calls]
    res = route_batch(batch_router, nums, customers=customers, at=at, call_ids=ids)
    assert len(res) == len(calls)
    for i, (number, customer, t, call_id) in enumerate(calls):
        decision, error = reference(ref_router, number, customer, int(t), call_id)
        check_row(res, i, decision, error, table)
        # The vector path serves every row but those it names (weighted, capacity,
        # a lookup answer that changes the route).
        known = customer in CUSTOMERS
        plan = cfg.plan_for(customer) if known else None
        special = (
            lookup and decision is not None and decision.normalized.startswith(("2", "31", "32"))
        )
        capped = caps and "borealis" in table.carriers
        expect = known and error is None and (plan.strategy == "weighted" or capped or special)
        assert bool(res.fallback[i]) == bool(expect), (i, number, customer)


def test_arrow_and_numpy_inputs_and_one_customer():
    rows = [
        ("atlas", "carrier", "USD", "44", 10, 0, 60, 60, 0, 0, OPEN_END),
        ("borealis", "carrier", "USD", "4420", 5, 0, 60, 60, 0, 0, OPEN_END),
        ("acme", "customer", "USD", "44", 12, 0, 60, 60, 0, 0, OPEN_END),
    ]
    table = compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)
    router = Router(table)
    nums = ["442079460000", "+441", "4420", "33"]
    for given_numbers in (
        nums,
        pa.array(nums),
        pa.chunked_array([nums[:2], nums[2:]]),
        np.array(nums),
    ):
        res = route_batch(router, given_numbers, customers="acme", at=100)
        assert [res.route_carriers(i) for i in range(4)] == [
            ["borealis", "atlas"],
            ["atlas"],
            ["borealis", "atlas"],
            [],
        ]
        assert res.reason(3) == "no carrier or customer prefix matches 33"
        assert res.decision(0) == router.route("442079460000", customer="acme", at=100).to_dict()
        assert not res.fallback.any()
    assert tandem.route_batch is route_batch and tandem.BatchDecisions is BatchDecisions


def test_empty_batch_and_bad_shapes():
    rows = [("atlas", "carrier", "USD", "44", 10, 0, 60, 60, 0, 0, OPEN_END)]
    router = Router(compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0))
    res = route_batch(router, [], customers="x", at=0)
    assert len(res) == 0 and res.route_carrier.shape[0] == 0
    with pytest.raises(ValueError, match="at has 2 entries for 1 numbers"):
        route_batch(router, ["44"], customers="x", at=[1, 2])
    with pytest.raises(ValueError, match="customers has 2 entries"):
        route_batch(router, ["44"], customers=["x", "y"], at=1)
    with pytest.raises(TypeError, match="epoch seconds"):
        route_batch(router, ["44"], customers="x", at=1.5)


def test_routers_with_other_plans_on_one_table_never_share_routes():
    """Routes computed once per prefix are kept with the table: a router with another
    plan (max routes, loss, priority, currency) on the same table gets its own."""
    rows = []
    for c, (p, r) in enumerate([("4", 9), ("44", 7), ("4420", 5), ("44", 12), ("4", 3)]):
        rows.append((CARRIERS[c], "carrier", "EUR" if c == 4 else "USD", p, r * UNIT // 1000))
    rows += [("acme", "customer", "USD", "44", 10 * UNIT // 1000)]
    frame = pd.DataFrame([(*r, 0, 60, 60, 0, 0, OPEN_END) for r in rows], columns=COLUMNS)
    table = compile_rates(frame, 0)
    nums = ["442079460000", "4412", "4", "4420"]
    plans = [
        {},
        {"max_routes": 1},
        {"allow_loss": True, "max_loss": "0.003"},
        {"strategy": "priority", "priority": {"cygnus": 0, "draco": 1}},
        {"strategy": "priority", "priority": {"atlas": 0}, "allow_loss": True, "max_loss": "1"},
    ]
    for _ in range(2):
        for plan in plans:
            router = Router(table, plan=config_from_mapping({"customers": {"acme": plan}}))
            res = route_batch(router, nums, customers="acme", at=5)
            for i, number in enumerate(nums):
                decision, error = reference(router, number, "acme", 5, None)
                check_row(res, i, decision, error, table)


@settings(max_examples=200, deadline=None)
@given(
    prefixes=st.lists(st.text("0129", min_size=0, max_size=5), max_size=12),
    numbers=st.lists(st.text("0129", min_size=1, max_size=15), min_size=1, max_size=20),
)
def test_prefix_trie_finds_the_longest_listed_prefix(prefixes, numbers):
    """The key trie (tandem.rating.keytrie, shared with the rating module) against a
    brute-force longest prefix, first listing of equal prefixes, "" beginning everything."""
    from tandem.lcr.batch import _longest_listed
    from tandem.rating.keys import number_keys

    found = _longest_listed(tuple(prefixes), number_keys(pa.array(numbers, pa.string())))
    for number, got in zip(numbers, found.tolist(), strict=True):
        best = -1
        for j, p in enumerate(prefixes):
            if number.startswith(p) and (best < 0 or len(p) > len(prefixes[best])):
                best = j
        assert got == best, (number, prefixes)
