"""Compiled routing tables: per-carrier longest prefix vs a brute-force reference, validity
windows, snapshot files (round trip, corrupt, truncated, foreign, other version), store."""

from __future__ import annotations

import contextlib
import struct

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.errors import SnapshotError, TandemError, UnknownCustomerError
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.reader import IN_FORCE_COLUMNS
from tandem.lcr.router import Router
from tandem.lcr.snapshot import FORMAT_VERSION
from tandem.lcr.table import OPEN_END, RoutingTable, compile_rates, compile_table
from tandem.money import UNIT

COLUMNS = [*IN_FORCE_COLUMNS, "effective_until"]
CARRIERS = ["atlas", "borealis", "cygnus", "draco"]
WINDOWS = [[(0, OPEN_END)], [(0, 10)], [(10, OPEN_END)], [(10, 20)], [(0, 10), (10, OPEN_END)]]
INSTANTS = [0, 5, 9, 10, 11, 19, 20, 21]


def frame(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


@st.composite
def histories(draw):
    """Random rate histories: carriers and one customer over prefixes of digits 1-3."""
    prefix = st.text("123", min_size=1, max_size=4)
    rows = []
    for account, kind in [(c, "carrier") for c in CARRIERS] + [("acme", "customer")]:
        for p in draw(st.sets(prefix, max_size=8)):
            for start, end in draw(st.sampled_from(WINDOWS)):
                rate = draw(st.integers(1, 40)) * UNIT // 1000
                rows.append((account, kind, "USD", p, rate, 0, 60, 60, 0, start, end))
    return frame(rows)


def reference(rates: pd.DataFrame, number: str, t: int, max_routes: int):
    """Brute force: scan every row for each carrier's longest prefix in force at t."""
    best: dict[str, tuple[int, int]] = {}
    for r in rates.itertuples():
        live = r.effective_from <= t < r.effective_until and number.startswith(r.prefix)
        if live and (r.account not in best or len(r.prefix) > best[r.account][0]):
            best[r.account] = (len(r.prefix), r.rate)
    if "acme" not in best:
        return None
    sell = best.pop("acme")[1]
    ranked = sorted((rate, name) for name, (_l, rate) in best.items())
    return sell, [(name, rate) for rate, name in ranked if rate <= sell][:max_routes]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rates=histories(),
    number=st.text("123", min_size=1, max_size=7),
    compiled_at=st.sampled_from(INSTANTS),
    at=st.sampled_from(INSTANTS),
    max_routes=st.integers(1, 5),
)
def test_route_matches_brute_force(rates, number, compiled_at, at, max_routes):
    table = compile_rates(rates, compiled_at)
    config = config_from_mapping({"customers": {"acme": {"max_routes": max_routes}}})
    router = Router(table, plan=config)
    first = router.route(number, customer="acme", at=at)  # general path: resolves "acme"
    decision = router.route(number, customer="acme", at=at)  # express path from now on
    assert decision.to_dict() == first.to_dict() and decision.explain() == first.explain()
    bounds = sorted(
        {int(x) for x in rates["effective_from"]}
        | {int(x) for x in rates["effective_until"] if x < OPEN_END}
    )
    lo = max([b for b in bounds if b <= compiled_at], default=-OPEN_END)
    hi = min([b for b in bounds if b > compiled_at], default=OPEN_END)
    assert (table.valid_from, table.valid_until) == (lo, hi)
    if not lo <= at < hi:
        assert decision.blocked and "valid" in decision.reason
        return
    expected = reference(rates, number, at, max_routes)
    if expected is None:
        assert decision.blocked
        return
    sell, routes = expected
    assert decision.sell_rate_scaled == sell
    got = [(r.carrier, int(r.rate * UNIT)) for r in decision.routes]
    assert got == routes
    assert decision.blocked == (not routes)
    # Every carrier is either a route or dropped, never both, never missing.
    dropped = [d.carrier for d in decision.dropped]
    assert sorted(dropped + [c for c, _ in got]) == sorted(table.carriers)


def _simple():
    return frame(
        [
            ("atlas", "carrier", "USD", "44", 100, 0, 60, 60, 0, 0, OPEN_END),
            ("borealis", "carrier", "USD", "4420", 50, 7, 1, 1, 0, 0, OPEN_END),
            ("acme", "customer", "USD", "44", 200, 0, 60, 60, 0, 0, OPEN_END),
        ]
    )


def test_each_carrier_quoted_at_its_own_longest_prefix():
    table = compile_rates(_simple(), 0)
    quote = {name: rate * UNIT for name, rate in table.quote("442079460000").items()}
    assert quote == {"borealis": 50, "atlas": 100}
    d = Router(table).route("442079460000", customer="acme", at=0)
    assert [(r.carrier, r.prefix) for r in d.routes] == [("borealis", "4420"), ("atlas", "44")]
    assert d.routes[0].connect_fee * UNIT == 7
    assert list(table.quote("4430")) == ["atlas"]


def test_snapshot_round_trip(tmp_path):
    table = compile_rates(_simple(), 0)
    path = tmp_path / "routes.tdm"
    table.save(path)
    loaded = RoutingTable.load(path)
    assert loaded.carriers == table.carriers and loaded.customers == table.customers
    assert (loaded.valid_from, loaded.valid_until) == (table.valid_from, table.valid_until)
    for n in ["44", "4420", "442079", "4430", "1"]:
        assert loaded.quote(n) == table.quote(n)
    a = Router(table).route("442079", customer="acme", at=0).to_dict()
    b = Router(loaded).route("442079", customer="acme", at=0).to_dict()
    assert a == b


def _saved(tmp_path) -> bytes:
    path = tmp_path / "good.tdm"
    compile_rates(_simple(), 0).save(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-10], "truncated"),
        (lambda b: b[:40], "truncated"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b"hello", "not a Tandem routing table"),
        (lambda b: b"", "not a Tandem routing table"),
        (lambda b: b"PK\x03\x04" + b[4:], "bad magic"),
        (lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:], "checksum"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum"),
        (lambda b: b[:8] + struct.pack("<I", FORMAT_VERSION + 1) + b[12:], "format version"),
    ],
)
def test_bad_snapshot_files_are_refused(tmp_path, mutate, message):
    bad = tmp_path / "bad.tdm"
    bad.write_bytes(mutate(_saved(tmp_path)))
    with pytest.raises(SnapshotError, match=message):
        RoutingTable.load(bad)


def test_missing_snapshot_file(tmp_path):
    with pytest.raises(SnapshotError, match="cannot open"):
        RoutingTable.load(tmp_path / "nope.tdm")


def test_empty_table_blocks_with_reason():
    table = compile_rates(frame([]), 0)
    assert table.prefix_count == 0
    assert (table.valid_from, table.valid_until) == (-OPEN_END, OPEN_END)
    with pytest.raises(UnknownCustomerError, match="unknown customer"):
        Router(table).route("4420", customer="acme", at=0)
    config = config_from_mapping({"customers": {"acme": {}}})
    d = Router(table, plan=config).route("4420", customer="acme", at=0)
    assert d.blocked and "no carrier or customer prefix matches 4420" in d.reason


def _deck(rows):
    return pd.DataFrame(rows, columns=["prefix", "rate", "connect_fee", "effective_from"])


def test_store_compile_matches_frame_compile(store):
    store.write_deck(
        "atlas", "carrier", _deck([("44", 100, 0, 0), ("1", 10, 0, 0)]),
        currency="USD", effective_from=0,
    )  # fmt: skip
    store.write_deck(
        "atlas", "carrier", _deck([("44", 90, 0, 100)]),
        currency="USD", effective_from=100, mode="delta",
    )  # fmt: skip
    borealis = _deck([("4420", 50, 3, 0)]).assign(initial_increment=[1], next_increment=[6])
    store.write_deck("borealis", "carrier", borealis, currency="USD", effective_from=0)
    store.write_deck(
        "acme", "customer", _deck([("4", 200, 0, 0)]), currency="USD", effective_from=0
    )
    for at in (0, 99, 100, 150):
        table = compile_table(store, at)
        ref = compile_rates(store.rates(), at)
        assert (table.valid_from, table.valid_until) == (ref.valid_from, ref.valid_until)
        for n in ["442071", "4430", "1555", "4"]:
            assert table.quote(n) == ref.quote(n)
            mine = Router(table).route(n, customer="acme", at=at)
            assert mine.to_dict() == Router(ref).route(n, customer="acme", at=at).to_dict()
        if at < 100:
            borealis_route = Router(table).route("442071", customer="acme", at=at).routes[0]
            assert borealis_route.carrier == "borealis"
            assert (borealis_route.initial_increment, borealis_route.next_increment) == (1, 6)
            assert borealis_route.connect_fee * UNIT == 3
    assert compile_table(store, 50).valid_until == 100
    assert compile_table(store, 100).valid_until == OPEN_END
    assert compile_table(store, 50).quote("4430")["atlas"] * UNIT == 100
    assert compile_table(store, 100).quote("4430")["atlas"] * UNIT == 90


def test_store_compile_odd_prefixes_and_leading_zeros(store):
    """Leading zeros and non-digit prefixes are detected and read row by row."""
    s = store
    s.write_deck("atlas", "carrier", _deck([("0044", 5, 0, 0), ("44", 7, 0, 0)]),
                 currency="USD", effective_from=0)  # fmt: skip
    s.write_deck("acme", "customer", _deck([("0", 9, 0, 0), ("4", 9, 0, 0)]),
                 currency="USD", effective_from=0)  # fmt: skip
    table = compile_table(s, 0)
    assert sorted(table.prefix_of(i) for i in range(table.prefix_count)) == ["0", "0044", "4", "44"]
    assert table.quote("00441234")["atlas"] * UNIT == 5
    assert table.quote("441234")["atlas"] * UNIT == 7
    s.write_deck("borealis", "carrier", _deck([("44A", 1, 0, 0)]), currency="EUR", effective_from=0)
    table = compile_table(s, 0)
    assert "44A" in [table.prefix_of(i) for i in range(table.prefix_count)]
    assert table.currencies == {"atlas": "USD", "acme": "USD", "borealis": "EUR"}


def test_currency_mismatch_is_dropped_with_reason():
    rates = frame(
        [
            ("atlas", "carrier", "EUR", "44", 1, 0, 60, 60, 0, 0, OPEN_END),
            ("borealis", "carrier", "USD", "44", 2, 0, 60, 60, 0, 0, OPEN_END),
            ("acme", "customer", "USD", "44", 9, 0, 60, 60, 0, 0, OPEN_END),
        ]
    )
    d = Router(compile_rates(rates, 0)).route("4420", customer="acme", at=0)
    assert [r.carrier for r in d.routes] == ["borealis"]
    assert d.dropped[0].carrier == "atlas" and "rates in EUR" in d.dropped[0].reason


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), keep=st.integers(0, 2000))
def test_fuzz_snapshot_loader(tmp_path_factory, data, keep):
    """Random bytes, or a real snapshot cut and spliced with them: SnapshotError only."""
    path = tmp_path_factory.mktemp("fuzz") / "x.tdm"
    good = _good_snapshot_bytes()
    for blob in (data, good[:keep] + data, good[:64] + data + good[64 + len(data) :]):
        path.write_bytes(blob)
        with contextlib.suppress(SnapshotError):
            RoutingTable.load(path, verify=False)


def _good_snapshot_bytes(cache={}) -> bytes:  # noqa: B006 - memo
    if "b" not in cache:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "g.tdm"
            compile_rates(_simple(), 0).save(p)
            cache["b"] = p.read_bytes()
    return cache["b"]


def test_empty_store_compiles_to_empty_table(store, tmp_path):
    table = compile_table(store, 0)
    assert (table.prefix_count, table.carriers, table.customers) == (0, (), ())
    table.save(tmp_path / "empty.tdm")
    loaded = RoutingTable.load(tmp_path / "empty.tdm")
    assert loaded.prefix_count == 0 and loaded.quote("4420") == {}
    with pytest.raises(UnknownCustomerError, match="no sell deck in the routing table"):
        Router(loaded).route("4420", customer="acme", at=0)


def test_duplicate_rows_in_force_later_effective_from_wins():
    rates = frame(
        [
            ("atlas", "carrier", "USD", "44", 30, 0, 60, 60, 0, 5, OPEN_END),
            ("atlas", "carrier", "USD", "44", 10, 0, 60, 60, 0, 0, OPEN_END),
            ("atlas", "carrier", "USD", "44", 20, 0, 60, 60, 0, 3, OPEN_END),
            ("borealis", "carrier", "USD", "44", 40, 0, 60, 60, 0, 0, OPEN_END),
        ]
    )
    quote = compile_rates(rates, 9).quote("4420")
    assert {k: v * UNIT for k, v in quote.items()} == {"atlas": 30, "borealis": 40}
    quote = compile_rates(rates, 4).quote("4420")
    assert quote["atlas"] * UNIT == 20


def _decide(table, number, at):
    """A decision as a dict, or the error (a customer may have no rate in force at ``at``)."""
    try:
        return Router(table).route(number, customer="acme", at=at).to_dict()
    except TandemError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    decks=st.lists(
        st.tuples(
            st.sampled_from(["atlas", "borealis", "acme"]),
            st.sampled_from(["full", "delta"]),
            st.sampled_from([0, 10, 20, 30]),
            st.lists(
                st.tuples(st.sampled_from(["4", "44", "4420", "33"]), st.integers(1, 9),
                          st.integers(0, 2), st.sampled_from([None, 5, 15, 25])),
                min_size=1, max_size=4, unique_by=lambda r: r[0],
            ),
        ),
        min_size=1, max_size=5,
    ),
)  # fmt: skip
def test_store_compile_matches_frame_compile_on_random_histories(tmp_path_factory, decks):
    """Validity window, rates and per-row columns read per deck agree with the frame path."""
    from tandem.store import Store

    store = Store(tmp_path_factory.mktemp("hist") / "t.db")
    sells = pd.DataFrame({"prefix": ["4", "33"], "rate": [50 * UNIT // 1000] * 2})
    store.write_deck("acme", "customer", sells, currency="USD", effective_from=0)
    try:
        for name, mode, start, spec in decks:
            kind = "customer" if name == "acme" else "carrier"
            deck = pd.DataFrame(
                [(p, r * UNIT // 1000, fee, start if row_from is None else max(row_from, start))
                 for p, r, fee, row_from in spec],
                columns=["prefix", "rate", "connect_fee", "effective_from"],
            )  # fmt: skip
            store.write_deck(name, kind, deck, currency="USD", effective_from=start, mode=mode)
        for at in (0, 14, 15, 20, 25, 40):
            table = compile_table(store, at)
            ref = compile_rates(store.rates(), at)
            assert (table.valid_from, table.valid_until) == (ref.valid_from, ref.valid_until)
            for n in ["442071", "4430", "4", "331"]:
                assert table.quote(n) == ref.quote(n)
                assert _decide(table, n, at) == _decide(ref, n, at)
    finally:
        store.close()
