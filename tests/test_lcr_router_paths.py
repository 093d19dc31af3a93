"""The router's paths agree: the express path, and the general path's three ways of
applying a plan (a span of the cost-ordered entries, a scan with per-carrier checks, an
order by the plan), give the same routes and drop reasons wherever the plan lets them."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.enum.types import LookupKind, NumberInfo
from tandem.errors import TandemError
from tandem.lcr import router as router_module
from tandem.lcr.policy import ForcedRoute, Plan, config_from_mapping, order_routes
from tandem.lcr.router import Router
from tandem.lcr.table import compile_rates
from tandem.money import UNIT
from tandem.state import MemoryCounters

COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
CARRIERS = ["atlas", "borealis", "cygnus", "draco"]


@st.composite
def tables(draw):
    """Random tables: four carriers and one customer over prefixes of digits 1-3; a
    validity window that some instants fall outside."""
    prefix = st.text("123", min_size=1, max_size=4)
    rows = []
    for account, kind in [(c, "carrier") for c in CARRIERS] + [("acme", "customer")]:
        for p in draw(st.sets(prefix, max_size=8)):
            rate = draw(st.integers(1, 40)) * UNIT // 1000
            rows.append((account, kind, "USD", p, rate, 0, 60, 60, 0, 0, 1000))
    return compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)


class Lookup:
    """A number lookup that answers "not ported" for every number."""

    def lookup(self, number: str) -> NumberInfo:
        return NumberInfo(number, LookupKind.NOT_PORTED, source="cache")


def outcome(decision) -> tuple:
    """Everything but each route's ``why`` (which names the way the plan was applied)."""
    assert decision.blocked == (decision.reason != "")
    routes = [(r.carrier, r.prefix, r.rate, r.margin, r.trunk) for r in decision.routes]
    return (
        decision.blocked,
        decision.reason,
        decision.sell_prefix,
        decision.sell_rate_scaled,
        routes,
        decision.dropped,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    number=st.text("0123+", min_size=1, max_size=8),
    at=st.sampled_from([0, 999, 1000]),
    max_routes=st.integers(1, 5),
    allow_loss=st.booleans(),
    lookup=st.booleans(),
)
def test_every_path_decides_alike(table, number, at, max_routes, allow_loss, lookup):
    plan = {"max_routes": max_routes, "allow_loss": allow_loss, "max_loss": "0.005"}
    capacity = {c: {"max_concurrent": 10} for c in CARRIERS}
    routers = {
        # express path from the second call on (the first resolves the customer)
        "express": Router(table, plan=config_from_mapping({"customers": {"acme": plan}})),
        # a blocked prefix no number starts with: the general path, routes a span
        "span": Router(
            table, plan=config_from_mapping({"customers": {"acme": {**plan, "blocked": ["0"]}}})
        ),
        # capacity limits nobody reaches: every carrier is checked in cost order
        "scan": Router(
            table,
            plan=config_from_mapping({"carriers": capacity, "customers": {"acme": plan}}),
            counters=MemoryCounters(),
        ),
        # a forced route no number takes: the candidates are ordered by the plan
        "ordered": Router(
            table,
            plan=config_from_mapping(
                {"customers": {"acme": {**plan, "forced": [{"prefix": "0", "carriers": ["x"]}]}}}
            ),
        ),
    }
    outcomes = {}
    for name, router in routers.items():
        router.lookup = Lookup() if lookup else None
        try:
            first = router.route(number, customer="acme", at=at)
        except TandemError as exc:  # a malformed number: every path refuses it alike
            outcomes[name] = (type(exc), str(exc))
            continue
        again = router.route(number, customer="acme", at=at)
        assert again.to_dict() == first.to_dict() and again.explain() == first.explain()
        outcomes[name] = outcome(again)
    assert len(set(map(repr, outcomes.values()))) == 1, outcomes


def test_express_path_unpacks_its_fields_by_name():
    # The express path reads its per-customer entry with one unpack (the fastest read);
    # the names it binds must be the entry's field names, in their order.
    source = textwrap.dedent(inspect.getsource(Router.route))
    unpacks = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Tuple)
        and isinstance(node.value, ast.Name)
        and node.value.id == "express"
    ]
    assert len(unpacks) == 1
    names = tuple(t.id for t in unpacks[0].targets[0].elts)
    assert names == router_module._Express._fields


def test_order_routes_forced_first_then_the_strategy():
    names = ("atlas", "borealis", "cygnus")
    entries = [(5, 1, 10), (6, 2, 11), (8, 0, 12)]  # borealis 5, cygnus 6, atlas 8 (cost order)
    weighted = Plan(
        strategy="weighted",
        weights={"borealis": 1, "atlas": 3},
        forced=(ForcedRoute("44", ("cygnus",)),),
    )
    ordered, why, excluded = order_routes(weighted, entries, names, "4420", "call-1")
    assert ordered[0] == (6, 2, 11) and why[0] == "forced route for prefix 44"
    assert sorted(ordered[1:]) == [(5, 1, 10), (8, 0, 12)] and excluded == []
    assert all(w.startswith("weighted split: weight ") for w in why[1:])
    assert order_routes(weighted, entries, names, "4420", "call-1") == (ordered, why, excluded)

    exclusive = Plan(forced=(ForcedRoute("44", ("atlas",), exclusive=True),))
    ordered, why, excluded = order_routes(exclusive, entries, names, "4420", "call-1")
    assert ordered == [(8, 0, 12)] and why == ["forced route for prefix 44"]
    assert excluded == [
        (1, "not in the exclusive forced route for prefix 44"),
        (2, "not in the exclusive forced route for prefix 44"),
    ]
    # no forced route for the number: the strategy alone (least cost keeps the cost order)
    ordered, why, excluded = order_routes(exclusive, entries, names, "33", "call-1")
    assert ordered == entries and excluded == []
    assert why == [f"least-cost: rank {i} by buy rate" for i in (1, 2, 3)]
    priority = Plan(strategy="priority", priority={"atlas": 1})
    ordered, why, _ = order_routes(priority, entries, names, "33", "call-1")
    assert ordered == [(8, 0, 12), (5, 1, 10), (6, 2, 11)]
    assert why == ["priority 1, then cost"] + ["priority unlisted, then cost"] * 2


#: Trunks of the source-IP test: acme (plain least cost: the express path), acme's /32
#: inside another customer's /24 (longest match), a customer on the general path (a
#: blocked prefix) and one without a sell deck.
_TRUNKS = {
    "acme": {"trunks": {"acme-a": {"ips": ["10.0.0.0/24", "2001:db8::/64"]}}},
    "blocky": {"blocked": ["3"], "trunks": {"blocky-a": {"ips": ["10.0.1.0/24", "10.0.0.9"]}}},
    "nodeck": {"trunks": {"nodeck-a": {"ips": ["10.0.2.0/24"]}}},
}
_IPS = ["10.0.0.1", "10.0.0.9", "10.0.1.7", "10.0.2.3", "10.9.9.9", "2001:db8::5",
        "::ffff:10.0.0.2", "300.1.1.1", "[2001:db8::6]", "nonsense"]  # fmt: skip


def _general_or_error(router, number, customer, source_ip, at):
    try:
        return router._route(
            router._state, number, customer, source_ip, at, None, router_module._UNSET
        )
    except TandemError as exc:
        return (type(exc), str(exc))


def _express_or_error(router, number, customer, source_ip, at):
    try:
        return router.route(number, customer=customer, source_ip=source_ip, at=at)
    except TandemError as exc:
        return (type(exc), str(exc))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    calls=st.lists(
        st.tuples(
            st.text("0123+", min_size=1, max_size=8),
            st.sampled_from([None, "acme", "blocky", "nodeck"]),
            st.sampled_from(_IPS),
            st.sampled_from([0, 999, 1000, "1970-01-01T00:00:01Z"]),
        ),
        min_size=1,
        max_size=12,
    ),
    max_routes=st.integers(1, 5),
    lookup=st.booleans(),
)
def test_source_ip_express_path_decides_as_the_general_path(table, calls, max_routes, lookup):
    # Calls identified by source IP take the express path of the trunk's customer (from its
    # second call on); every answer, the trunk and every error included, is the general
    # path's for the same call.
    customers = {name: {**body, "max_routes": max_routes} for name, body in _TRUNKS.items()}
    router = Router(table, plan=config_from_mapping({"customers": customers}))
    router.lookup = Lookup() if lookup else None
    for number, customer, source_ip, at in calls + calls:
        general = _general_or_error(router, number, customer, source_ip, at)
        got = _express_or_error(router, number, customer, source_ip, at)
        if isinstance(general, tuple):
            assert got == general
            continue
        assert not isinstance(got, tuple), got
        assert got.trunk == general.trunk and got.customer == general.customer
        assert got.to_dict() == general.to_dict()
        assert got.explain() == general.explain()
        assert outcome(got) == outcome(general)


def test_source_ip_calls_take_the_express_path():
    # A plain least-cost customer's call by source IP is decided by the express path: the
    # general path is not called once the customer is resolved.
    rows = [("atlas", "carrier", "USD", "44", 10_000, 0, 60, 60, 0, 0, 1000),
            ("acme", "customer", "USD", "44", 20_000, 0, 60, 60, 0, 0, 1000)]  # fmt: skip
    table = compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)
    router = Router(table, plan=config_from_mapping({"customers": _TRUNKS}))
    first = router.route("+4420", source_ip="10.0.0.1", at=5)
    calls = []
    general = router._route
    router._route = lambda *a: calls.append(a) or general(*a)  # type: ignore[method-assign]
    again = router.route("+4420", source_ip="10.0.0.1", at=5)
    assert calls == [] and again.trunk == "acme-a" == first.trunk
    assert again.to_dict() == first.to_dict() and [r.carrier for r in again.routes] == ["atlas"]
    router.route("+4420", source_ip="10.0.0.9", at=5, customer="blocky")  # general path
    assert len(calls) == 1
