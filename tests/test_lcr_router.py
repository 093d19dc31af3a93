"""Router and routing plans: every policy rule, number lookups, hot swap, bad input."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.enum.types import LookupKind, NumberInfo
from tandem.errors import ConfigError, NumberError, UnknownCustomerError
from tandem.lcr import router as router_module
from tandem.lcr.policy import Plan, config_from_mapping, load_config
from tandem.lcr.router import ON_NET, Router
from tandem.lcr.table import OPEN_END, compile_rates
from tandem.lcr.translate import translate
from tandem.money import UNIT
from tandem.state import MemoryCounters, carrier_calls_key

MILLI = UNIT // 1000
COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
CUSTOMER = "acme-telecom"


def rows(spec, until=OPEN_END, start=0):
    """spec: [(account, kind, prefix, rate in thousandths)]."""
    return pd.DataFrame(
        [(a, k, "USD", p, r * MILLI, 0, 60, 60, 0, start, until) for a, k, p, r in spec],
        columns=COLUMNS,
    )


BASE = [
    ("atlas", "carrier", "44", 10),
    ("atlas", "carrier", "4420", 8),
    ("borealis", "carrier", "4420", 5),
    ("cygnus", "carrier", "4", 6),
    ("cygnus", "carrier", "33", 25),
    ("atlas", "carrier", "33", 20),
    ("borealis", "carrier", "881", 1),
    (CUSTOMER, "customer", "44", 12),
    (CUSTOMER, "customer", "33", 30),
    (CUSTOMER, "customer", "881", 90),
]


@pytest.fixture
def table():
    return compile_rates(rows(BASE), 0)


def route(table, number="442079460000", plan=None, **kw):
    kw.setdefault("customer", CUSTOMER)
    kw.setdefault("at", 100)
    lookup = kw.pop("lookup", None)
    counters = kw.pop("counters", None)
    router = Router(table, plan=plan, lookup=lookup, counters=counters)
    first = router.route(number, **kw)  # general path (the customer is resolved once)
    again = router.route(number, **kw)  # the express path where the plan allows it
    assert again == first and again.routes == first.routes and again.dropped == first.dropped
    assert again.to_dict() == first.to_dict() and again.explain() == first.explain()
    return again


def carriers(decision):
    return [r.carrier for r in decision.routes]


def customer_plan(**plan):
    return config_from_mapping({"customers": {CUSTOMER: plan}})


# -- least cost, margin, max routes --------------------------------------------------------
def test_least_cost_each_at_own_prefix(table):
    d = route(table)
    assert [(r.carrier, r.prefix) for r in d.routes] == [
        ("borealis", "4420"),
        ("cygnus", "4"),
        ("atlas", "4420"),
    ]
    assert [int(r.rate * UNIT) for r in d.routes] == [5 * MILLI, 6 * MILLI, 8 * MILLI]
    assert d.sell_prefix == "44" and d.sell_rate_scaled == 12 * MILLI
    assert [int(r.margin * UNIT) for r in d.routes] == [7 * MILLI, 6 * MILLI, 4 * MILLI]
    assert not d.blocked and d.dropped == ()


def test_margin_protection_drops_routes_above_sell(table):
    d = route(table, "4430")  # atlas 44 @10, cygnus 4 @6; sell 44 @12
    assert carriers(d) == ["cygnus", "atlas"]
    d = route(table, "33123")  # sell 30: atlas 20, cygnus 25 (and 4 @6 is shadowed by 33)
    assert carriers(d) == ["atlas", "cygnus"]
    t2 = compile_rates(rows(BASE + [("cygnus", "carrier", "4420", 13)]), 0)
    d = route(t2)
    assert carriers(d) == ["borealis", "atlas"]
    assert [(x.carrier, x.reason) for x in d.dropped] == [
        ("cygnus", "buy rate 0.013 above sell rate 0.012 (margin protection)")
    ]


def test_allow_loss_up_to_cap(table):
    t2 = compile_rates(rows(BASE + [("cygnus", "carrier", "4420", 13)]), 0)
    d = route(t2, plan=customer_plan(allow_loss=True, max_loss="0.001"))
    assert carriers(d) == ["borealis", "atlas", "cygnus"]
    assert d.routes[-1].margin * UNIT == -1 * MILLI
    d = route(t2, plan=customer_plan(allow_loss=True, max_loss="0.0009"))
    assert carriers(d) == ["borealis", "atlas"]
    d = route(t2, plan=customer_plan(allow_loss=False, max_loss="0.01"))
    assert carriers(d) == ["borealis", "atlas"]


def test_max_routes(table):
    d = route(table, plan=Plan(max_routes=2))
    assert carriers(d) == ["borealis", "cygnus"]
    assert [(x.carrier, x.reason) for x in d.dropped] == [("atlas", "max routes (2) reached")]


def test_no_sell_rate_blocks(table):
    d = route(table, "1555")
    assert d.blocked and "no carrier or customer prefix matches 1555" in d.reason
    t2 = compile_rates(rows(BASE + [("atlas", "carrier", "1", 1)]), 0)
    d = route(t2, "1555")
    assert d.blocked and d.reason == "customer acme-telecom has no sell rate for 1555"
    assert d.routes == ()


def test_every_route_above_sell_blocks(table):
    t2 = compile_rates(rows([("atlas", "carrier", "44", 50), (CUSTOMER, "customer", "44", 12)]), 0)
    d = route(t2)
    assert d.blocked and "see dropped" in d.reason
    assert [x.carrier for x in d.dropped] == ["atlas"]


# -- other strategies -----------------------------------------------------------------------
def test_priority_then_cost(table):
    d = route(table, plan=customer_plan(strategy="priority", priority={"atlas": 1, "cygnus": 2}))
    assert carriers(d) == ["atlas", "cygnus", "borealis"]
    assert "priority 1" in d.routes[0].why and "unlisted" in d.routes[2].why


def test_quality_adjusted_cost(table):
    # borealis 0.005/0.5 = 0.010; cygnus 0.006/1 = 0.006; atlas 0.008/0.9 = 0.00889
    plan = customer_plan(strategy="quality", quality={"borealis": "0.5", "atlas": "0.9"})
    d = route(table, plan=plan)
    assert carriers(d) == ["cygnus", "atlas", "borealis"]
    assert "quality-adjusted cost" in d.routes[0].why


def test_weighted_split_is_stable_per_call_id_and_follows_weights(table):
    plan = customer_plan(strategy="weighted", weights={"borealis": 70, "atlas": 30})
    router = Router(table, plan=plan)
    firsts = Counter()
    for i in range(2000):
        d = router.route("442079460000", customer=CUSTOMER, at=100, call_id=f"call-{i}")
        again = router.route("442079460000", customer=CUSTOMER, at=100, call_id=f"call-{i}")
        assert carriers(d) == carriers(again)
        assert carriers(d)[2] == "cygnus"  # no weight: after the weighted carriers
        firsts[carriers(d)[0]] += 1
    assert 1300 < firsts["borealis"] < 1500, firsts  # 70 % of 2000 = 1400
    assert firsts["borealis"] + firsts["atlas"] == 2000


def test_blocked_destination(table):
    d = route(table, "881612345", plan=customer_plan(blocked=["881"]))
    assert d.blocked and d.reason == "destination prefix 881 is blocked by the plan of acme-telecom"
    assert d.routes == ()
    assert carriers(route(table, "881612345")) == ["borealis"]


def test_forced_routes(table):
    plan = customer_plan(forced=[{"prefix": "4420", "carriers": ["atlas"]}])
    d = route(table, plan=plan)
    assert carriers(d) == ["atlas", "borealis", "cygnus"]
    assert d.routes[0].why == "forced route for prefix 4420"
    plan = customer_plan(forced=[{"prefix": "44", "carriers": ["atlas"], "exclusive": True}])
    d = route(table, plan=plan)
    assert carriers(d) == ["atlas"]
    assert {x.carrier: x.reason for x in d.dropped} == {
        "borealis": "not in the exclusive forced route for prefix 44",
        "cygnus": "not in the exclusive forced route for prefix 44",
    }


def test_capacity_and_failover_codes(table):
    config = config_from_mapping(
        {
            "carriers": {
                "borealis": {
                    "max_concurrent": 2,
                    "trunk": "sip:b.example",
                    "failover_codes": [503],
                },
            },
        }
    )
    counters = MemoryCounters()
    counters.incr(carrier_calls_key("borealis"), 2)
    d = route(table, plan=config, counters=counters)
    assert carriers(d) == ["cygnus", "atlas"]
    assert ("borealis", "at capacity (2/2 concurrent calls)") in [
        (x.carrier, x.reason) for x in d.dropped
    ]
    counters.decr(carrier_calls_key("borealis"))
    d = route(table, plan=config, counters=counters)
    assert d.routes[0].carrier == "borealis" and d.routes[0].trunk == "sip:b.example"
    assert d.routes[0].failover_codes == (503,)
    assert 486 in d.routes[0].stop_codes and 503 in d.routes[1].failover_codes


def test_counters_are_thread_safe():
    counters = MemoryCounters()

    def work():
        for _ in range(2000):
            counters.incr("k")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counters.current("k") == 8000
    assert counters.decr("k", 10_000) == 0


# -- number lookups -------------------------------------------------------------------------
class FakeLookup:
    def __init__(self, info: NumberInfo):
        self.info = info
        self.asked: list[str] = []

    def lookup(self, number: str) -> NumberInfo:
        self.asked.append(number)
        return self.info


def test_ported_number_routes_on_routing_number(table):
    lookup = FakeLookup(NumberInfo("442079460000", LookupKind.PORTED, routing_number="3312345"))
    d = route(table, "+442079460000", lookup=lookup)
    assert lookup.asked == ["442079460000"] * 2  # once per decision (the helper routes twice)
    assert d.normalized == "442079460000" and d.routing_number == "3312345"
    assert carriers(d) == ["atlas", "cygnus"] and d.sell_prefix == "33"
    assert d.to_dict()["routing_number"] == "3312345"


def test_failed_lookup_falls_back_to_dialed_number(table):
    lookup = FakeLookup(NumberInfo("442079460000", LookupKind.TIMEOUT, detail="no answer in 50ms"))
    d = route(table, lookup=lookup)
    assert carriers(d) == ["borealis", "cygnus", "atlas"]
    assert d.routing_number is None
    assert d.notes == ("number lookup failed (timeout: no answer in 50ms); routed on the dialed "
                       "number",)  # fmt: skip


def test_on_net_route_first_when_allowed(table):
    info = NumberInfo("442079460000", LookupKind.ON_NET, sip_uri="sip:+442079460000@pbx.example")
    d = route(table, lookup=FakeLookup(info))
    assert carriers(d) == [ON_NET, "borealis", "cygnus", "atlas"]
    assert d.routes[0].trunk == "sip:+442079460000@pbx.example" and d.routes[0].rate == 0
    d = route(table, lookup=FakeLookup(info), plan=Plan(max_routes=2))
    assert carriers(d) == [ON_NET, "borealis"]
    d = route(table, lookup=FakeLookup(info), plan=customer_plan(allow_on_net=False))
    assert carriers(d) == ["borealis", "cygnus", "atlas"]
    assert "does not allow on-net" in d.notes[0]


def test_express_path_asks_the_lookup_once_per_decision(table):
    lookup = FakeLookup(NumberInfo("", LookupKind.NOT_FOUND))
    router = Router(table, lookup=lookup)
    for n in ["+442079460000", "442079460000", "33123", "99", "+8810"]:
        lookup.asked.clear()
        first = router.route(n, customer=CUSTOMER, at=1)
        again = router.route(n, customer=CUSTOMER, at=1)
        assert lookup.asked == [n.lstrip("+")] * 2
        assert again.to_dict() == first.to_dict() and again.explain() == first.explain()


def test_many_customers_route_alike_with_and_without_a_sell_index(monkeypatch):
    # Beyond the memory budget for dense sell-rate indexes, the router scans quotes.
    spec = [c for c in BASE if c[1] == "carrier"]
    names = [f"cust{i:03d}" for i in range(80)]
    spec += [(name, "customer", "44" if i % 3 else "4420", 5 + i % 9) for i, name in
             enumerate(names)]  # fmt: skip
    table = compile_rates(rows(spec), 0)
    monkeypatch.setattr(router_module, "_EXPRESS_SELL_BYTES", 16 * table.prefix_count * 10)
    router = Router(table)
    for name in names:
        for n in ["442079460000", "4413", "33"]:
            first = router.route(n, customer=name, at=1)
            again = router.route(n, customer=name, at=1)
            fresh = Router(table).route(n, customer=name, at=1)
            assert again.to_dict() == first.to_dict() == fresh.to_dict()
            assert again.explain() == fresh.explain()
    express = router._state[-1]
    assert len(express) == len(names)
    assert sum(e[1] is not None for e in express.values()) == 10


# -- time, table validity, hot swap ---------------------------------------------------------
def test_instant_outside_table_window_is_refused():
    history = pd.concat(
        [rows(BASE, until=1000), rows([(CUSTOMER, "customer", "44", 99)], start=1000)]
    )
    table = compile_rates(history, 500)
    assert (table.valid_from, table.valid_until) == (0, 1000)
    assert not route(table, at=999).blocked
    d = route(table, at=1000)
    assert d.blocked and "not at 1970-01-01T00:16:40Z" in d.reason and "recompile" in d.reason
    with pytest.raises(TypeError):
        Router(table).route("4420", customer=CUSTOMER)  # `at` is required


def test_hot_swap_never_mixes_tables():
    cheap = compile_rates(
        rows([("atlas", "carrier", "44", 1), (CUSTOMER, "customer", "44", 50)]), 0
    )
    dear = compile_rates(
        rows([("borealis", "carrier", "44", 40), (CUSTOMER, "customer", "44", 45)]), 0
    )
    router = Router(cheap)
    seen: list[tuple] = []
    stop = threading.Event()

    def work():
        while not stop.is_set():
            d = router.route("4420", customer=CUSTOMER, at=1)
            seen.append((d.sell_rate_scaled, tuple((r.carrier, r.rate) for r in d.routes)))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        router.swap(dear if i % 2 == 0 else cheap)
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join()
    kinds = {(s, rs[0][0]) for s, rs in seen}
    assert kinds <= {(50 * MILLI, "atlas"), (45 * MILLI, "borealis")}, kinds
    assert len(kinds) == 2


# -- customers, trunks, bad input -----------------------------------------------------------
def test_unknown_customer_and_missing_customer(table):
    with pytest.raises(UnknownCustomerError, match="unknown customer 'nobody'"):
        route(table, customer="nobody")
    with pytest.raises(UnknownCustomerError, match="give a customer name or a source IP"):
        Router(table).route("4420", at=0)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "empty number"),
        ("   ", "empty number"),
        ("44x2079", "contains 'x'"),
        ("+44#20", "contains '#'"),
        ("4420794600001234", "16 digits; E.164 allows at most 15"),
        ("0207946000", "starts with 0"),
        ("+", "no digits left"),
        ("٤٤٢٠", "contains"),
    ],
)
def test_malformed_numbers(table, number, message):
    with pytest.raises(NumberError, match=message):
        route(table, number)


def test_source_ip_identifies_trunk_and_customer(table):
    config = load_config("data/routing.toml")
    router = Router(table, plan=config)
    d = router.route("00442079460000", source_ip="192.0.2.44", at=0, call_id="x")
    assert d.customer == CUSTOMER and d.trunk == "acme-lon-1"
    d = router.route("#123442079460000", source_ip="2001:db8:ac3e::1", at=0, call_id="x")
    assert d.tech_prefix == "#123" and d.normalized == "442079460000"
    with pytest.raises(UnknownCustomerError, match="matches no customer trunk"):
        router.route("442079460000", source_ip="203.0.113.9", at=0)
    with pytest.raises(UnknownCustomerError, match="not an IPv4 or IPv6 address"):
        router.route("442079460000", source_ip="300.1.1.1", at=0)
    with pytest.raises(UnknownCustomerError, match="not 'other'"):
        router.route("442079460000", source_ip="192.0.2.1", customer="other", at=0)


def test_json_shape(table):
    d = route(table, "4430", plan=Plan(max_routes=1))
    out = json.loads(d.to_json())
    assert set(out) >= {"number", "normalized", "customer", "sell", "routes", "blocked",
                        "reason", "dropped"}  # fmt: skip
    assert out["sell"] == {"prefix": "44", "rate": "0.012"}
    assert out["routes"][0] == {
        "carrier": "cygnus", "trunk": "cygnus", "prefix": "4", "rate": "0.006",
        "connect_fee": "0", "margin": "0.006", "initial_increment": 60, "next_increment": 60,
        "min_duration": 0, "failover_codes": [408, 480, 500, 502, 503, 504],
        "stop_codes": [403, 404, 484, 486, 600, 603, 604],
    }  # fmt: skip
    assert out["dropped"] == [
        {"carrier": "atlas", "reason": "max routes (1) reached"},
        {"carrier": "borealis", "reason": "no prefix of 4430 in its deck"},
    ]
    assert "1. cygnus" in d.explain() and "dropped atlas: max routes (1) reached" in d.explain()


# -- config files ---------------------------------------------------------------------------
def test_sample_config_loads():
    config = load_config("data/routing.toml")
    plan = config.plan_for(CUSTOMER)
    assert plan.strategy == "weighted" and plan.max_routes == 3 and plan.max_loss == 500_000
    assert config.carrier("atlas").max_concurrent == 300
    assert config.plan_for("someone-else").blocked == ("881", "882")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[customers.a]\nstrategy = 'cheapest'", "strategy must be one of"),
        ("[customers.a]\nmax_loss = 0.5", "not a TOML float"),
        ("[customers.a]\nmax_routes = 0", "max_routes must be a whole number >= 1"),
        ("[customers.a]\ncolour = 'red'", "unknown key"),
        ("[customers.a]\nstrategy = 'weighted'", "needs a `weights` table"),
        ("[customers.a]\nblocked = ['88x']", "list of digit strings"),
        ("[customers.a.translate]\ncountry_code = 'x'", "string of digits"),
        ("[customers.a.translate]\nnational_prefix = '0'", "need a country_code"),
        ("[customers.a.trunks.t]\nips = ['10.0.0.0/33']", "not an IP address"),
        ("[carriers.x]\nfailover_codes = [200]", "SIP codes"),
        ("[routes]\n", "unknown top-level"),
        ("this is = not toml [", "not valid TOML"),
        ("[customers.a]\nquality = { x = 1.5 }", "probability"),
    ],
)
def test_bad_config(tmp_path, text, message):
    path = tmp_path / "routing.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="cannot read routing config"):
        load_config(tmp_path / "absent.toml")


@given(st.text(alphabet="+0123456789 #x٤", max_size=18))
def test_router_normalises_like_translate(number):
    table = compile_rates(rows(BASE), 0)
    router = Router(table)
    try:
        expected = translate(number).normalized
    except NumberError:
        with pytest.raises(NumberError):
            router.route(number, customer=CUSTOMER, at=0)
        return
    assert router.route(number, customer=CUSTOMER, at=0).normalized == expected
