"""The router's capacity check sees the slots a proxy acquires under carrier:NAME:calls
(live ones only), in memory and in Redis, besides the plain counter."""

from __future__ import annotations

import pandas as pd

from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.lcr.table import OPEN_END, compile_rates
from tandem.money import UNIT
from tandem.state import carrier_calls_key

COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
ROWS = [
    ("atlas", "carrier", "44", 10),
    ("borealis", "carrier", "4420", 5),
    ("acme", "customer", "44", 12),
]
CONFIG = {"carriers": {"borealis": {"max_concurrent": 2}}}


def _router(counters):
    frame = pd.DataFrame(
        [(a, k, "USD", p, r * UNIT // 1000, 0, 60, 60, 0, 0, OPEN_END) for a, k, p, r in ROWS],
        columns=COLUMNS,
    )
    return Router(compile_rates(frame, 0), plan=config_from_mapping(CONFIG), counters=counters)


def _carriers(router, at):
    d = router.route("442079460000", customer="acme", at=at)
    return [r.carrier for r in d.routes], {x.carrier: x.reason for x in d.dropped}


def test_acquired_slots_count_against_max_concurrent(counters):
    router = _router(counters)
    key = carrier_calls_key("borealis")
    assert _carriers(router, 100)[0] == ["borealis", "atlas"]
    assert counters.acquire("call-1", {key: 2}, ttl=60, at=100) is None
    assert _carriers(router, 100)[0] == ["borealis", "atlas"]
    assert counters.acquire("call-2", {key: 2}, ttl=60, at=100) is None
    routes, dropped = _carriers(router, 100)
    assert routes == ["atlas"]
    assert dropped["borealis"] == "at capacity (2/2 concurrent calls)"
    # the plain counter and the slots add up
    counters.release("call-2", at=110)
    counters.incr(key)
    assert _carriers(router, 110)[0] == ["atlas"]
    counters.decr(key)
    assert _carriers(router, 110)[0] == ["borealis", "atlas"]
    # a slot whose call end was lost stops counting at its expiry
    counters.acquire("call-3", {key: 2}, ttl=60, at=110)
    assert _carriers(router, 159)[0] == ["atlas"]
    assert _carriers(router, 160)[0] == ["borealis", "atlas"]
