"""A least-cost plan with quality floors routes as plain least cost while its floor leaves
every candidate (the express path, and the general path's shortcut): the decisions equal
those of the plan applied carrier by carrier (``order_routes``), on random tables, scores,
floors and timelines (instants going back now and then too), cooldowns included."""

from __future__ import annotations

import gc
import math
import os
from array import array

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.lcr.scores import EMPTY_FLOOR_SLOT, QualityConfig
from tandem.lcr.table import OPEN_END, compile_rates
from tandem.money import UNIT
from tandem.quality import QualityBoard
from tandem.state import MemoryCounters

MILLI = UNIT // 1000
COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
CARRIERS = ["atlas", "borealis", "cygnus", "draco", "eridanus"]
PREFIXES = ["4", "44", "442", "4420", "447", "33", "331"]
NUMBERS = ["442079460000", "447700900123", "443001234567", "33123456789", "331234567890"]


class Slow(Router):
    """The reference: every floor applied carrier by carrier (no shortcut)."""

    def _floors_clear(self, known, a, b, number, t, looks):  # noqa: ANN001, ANN202
        return False, looks


def build(spec, cls, floors, max_routes, refresh, digits=3):
    rows = [(c, "carrier", "USD", p, r * MILLI, 0, 60, 60, 0, 0, OPEN_END) for c, p, r in spec]
    rows += [("acme", "customer", "USD", p, 40 * MILLI, 0, 60, 60, 0, 0, OPEN_END)
             for p in ("4", "33")]  # fmt: skip
    table = compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)
    board = QualityBoard(
        MemoryCounters(),
        QualityConfig(min_attempts=3, refresh=refresh, group_digits=digits, half_life=None),
    )
    config = config_from_mapping({"defaults": {"floors": floors, "max_routes": max_routes}})
    return cls(table, config, scores=board), board


def slots_agree(router, at):
    """Every group's floor slot that holds an answer holds the kept dict answer: clear,
    deciding its floor, live, the same interval rounded up; a group whose kept answer is
    not clear has an empty slot (one plan, one table here)."""
    slots = router._express["acme"][17] if "acme" in router._express else None
    if slots is None:
        return
    cut = router._group_cut
    for g in range(10 ** (cut - 1), 10**cut):
        lo, hi = slots[2 * g], slots[2 * g + 1]
        if (lo, hi) == EMPTY_FLOOR_SLOT:
            continue
        seen = router._group_clear[str(g)]
        assert seen[6][0] and seen[8] and not seen[2], g
        assert (lo, hi) == (math.ceil(seen[4]), math.ceil(seen[5])), g
    for group, seen in router._group_clear.items():  # and a group not clear has none
        if len(group) == cut and (seen[2] or not seen[8]):
            assert (slots[2 * int(group)], slots[2 * int(group) + 1]) == EMPTY_FLOOR_SLOT


@settings(max_examples=int(os.environ.get("TANDEM_FLOOR_EXAMPLES", "60")), deadline=None)
@given(
    spec=st.lists(
        st.tuples(st.sampled_from(CARRIERS), st.sampled_from(PREFIXES), st.integers(1, 50)),
        min_size=1, max_size=14, unique_by=lambda x: (x[0], x[1]),
    ),
    floors=st.lists(
        st.fixed_dictionaries({
            "prefix": st.sampled_from(["", "44", "442", "4420", "33"]),  # 4420: longer than a group
            "min_asr": st.sampled_from(["0.2", "0.5", "0.8"]),
            "cooldown": st.sampled_from([0, 3, 60]),
            "probe_share": st.sampled_from(["0", "0.3"]),
        }),
        min_size=1, max_size=3, unique_by=lambda f: f["prefix"],
    ),
    max_routes=st.integers(1, 4),
    refresh=st.sampled_from([0, 5]),
    digits=st.sampled_from([3, 3, 2, 6]),  # 2: floors longer than groups; 6: no slots
    events=st.lists(
        st.tuples(
            st.sampled_from(NUMBERS), st.integers(-3, 8), st.sampled_from(CARRIERS),
            st.integers(0, 6), st.integers(0, 4),
        ),
        min_size=1, max_size=30,
    ),
)  # fmt: skip
def test_floor_shortcut_equals_the_plan_carrier_by_carrier(
    spec, floors, max_routes, refresh, digits, events
):
    fast, fast_board = build(spec, Router, floors, max_routes, refresh, digits)
    slow, slow_board = build(spec, Slow, floors, max_routes, refresh, digits)
    at = 1_000
    for i, (number, step, carrier, answered, failed) in enumerate(events):
        at += step
        for board in (fast_board, slow_board):  # the same outcomes on both
            for k in range(answered + failed):
                code = 200 if k < answered else 503
                board.attempt(carrier, number[:digits], at=at, sip_code=code, duration=30)
        a = fast.route("+" + number, customer="acme", at=at, call_id=f"c{i}")
        b = slow.route("+" + number, customer="acme", at=at, call_id=f"c{i}")
        assert a.to_dict() == b.to_dict()
        assert a.explain() == b.explain()
        slots_agree(fast, at)


def test_a_carrier_cooling_down_after_it_recovered_stays_dropped():
    spec = [("atlas", "44", 5), ("borealis", "44", 9)]
    floors = [{"min_asr": "0.5", "cooldown": 600, "probe_share": "0"}]
    for cls in (Router, Slow):
        router, board = build(spec, cls, floors, 3, 0)
        for _ in range(10):
            board.attempt("atlas", "442", at=100, sip_code=503)
        d = router.route("+442079460000", customer="acme", at=101, call_id="a")
        assert [r.carrier for r in d.routes] == ["borealis"]
        for _ in range(40):  # atlas recovers while its cooldown runs
            board.attempt("atlas", "442", at=102, sip_code=200, duration=30)
        d = router.route("+442079460000", customer="acme", at=103, call_id="b")
        assert [r.carrier for r in d.routes] == ["borealis"], cls
        assert "the score may have recovered" in d.explain()
        d = router.route("+442079460000", customer="acme", at=701, call_id="c")
        assert [r.carrier for r in d.routes] == ["atlas", "borealis"]
        assert "least-cost: rank 1 by buy rate" in d.explain()


def test_floor_slots_serve_the_express_path_and_empty_when_the_board_drops_a_group():
    spec = [("atlas", "44", 5), ("borealis", "44", 9)]
    floors = [{"min_asr": "0.5", "cooldown": 600, "probe_share": "0"}]
    router, board = build(spec, Router, floors, 3, 5)
    d = router.route("+442079460000", customer="acme", at=100, call_id="a")
    slots = router._express["acme"][17]
    assert isinstance(slots, array) and len(slots) == 2000
    assert (slots[884], slots[885]) == (100, 105)  # group 442: kept for refresh
    # served from the slot: the kept dict answer is not consulted
    router._group_clear.clear()
    d = router.route("+442079460000", customer="acme", at=101, call_id="b")
    assert [r.carrier for r in d.routes] == ["atlas", "borealis"]
    assert not router._group_clear
    # a cooldown drops the group's lists: its slot is emptied at once
    board.cool("atlas", "442", seconds=600, at=102)
    assert (slots[884], slots[885]) == EMPTY_FLOOR_SLOT
    d = router.route("+442079460000", customer="acme", at=102, call_id="c")
    assert [r.carrier for r in d.routes] == ["borealis"]
    assert (slots[884], slots[885]) == EMPTY_FLOOR_SLOT  # not clear: not kept


def test_watch_groups_checks_its_slots_and_holds_them_weakly():
    board = QualityBoard(MemoryCounters(), QualityConfig(group_digits=2))
    try:
        board.watch_groups(array("q", [0]) * 100, 2)
    except ValueError as e:
        assert "200" in str(e)
    else:
        raise AssertionError("slots of the wrong size taken")
    slots = array("q", [1, 2]) * 100
    board.watch_groups(slots, 2)
    board._live["44"] = [True]
    board._drop_memo("44")
    assert (slots[88], slots[89]) == EMPTY_FLOOR_SLOT
    assert (slots[86], slots[87]) == (1, 2)
    board._live["4"] = [True]
    board._drop_memo("4")  # not a group of 2 digits: no slot
    assert (slots[8], slots[9]) == (1, 2)
    del slots
    gc.collect()
    board._live["44"] = [True]
    board._drop_memo("44")  # a watcher gone: nothing to empty
    board.watch_groups(array("q", [0]) * 200, 2)
    assert len(board._watchers) == 1
