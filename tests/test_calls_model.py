"""The lifecycle's slot counts against a reference model, on random event sequences:
admissions, carrier attempts, busy/failed answers, answers, ends, duplicate and late ends,
and time passing beyond the slots' ttl (hypothesis). The counters never read other than the
model's live calls, never below zero."""

from __future__ import annotations

from calls_helpers import CUSTOMER, redis_counters, table
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.calls import Calls, Caps
from tandem.fraud.keys import concurrent_key
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.state import MemoryCounters, carrier_calls_key

T = 1_767_225_600
TTL = 20
CAP = 3
CARRIER_CAP = 2
NUMBER = "442079460000"
KEY = concurrent_key("customer", CUSTOMER)
CARRIER = carrier_calls_key("borealis")

events = st.lists(
    st.tuples(
        st.sampled_from(["admit", "attempt", "failed", "answered", "end", "end", "wait"]),
        st.integers(0, 5),  # which call
        st.integers(0, 12),  # seconds passing before the event
    ),
    max_size=40,
)


def check(counters, steps) -> None:
    config = config_from_mapping({"carriers": {"borealis": {"max_concurrent": CARRIER_CAP}}})
    calls = Calls(Router(table(), plan=config, counters=counters), counters=counters,
                  caps=Caps(customer=CAP), ttl=TTL)  # fmt: skip
    now = T
    made: dict[int, object] = {}
    admitted: dict[int, float] = {}  # model: call -> when its customer slot expires
    on_carrier: dict[int, float] = {}  # model: call -> when its carrier slot expires
    ended: set[int] = set()
    ringing: set[int] = set()  # model: attempted, no answer yet

    def live(slots: dict[int, float]) -> int:
        return sum(1 for i, exp in slots.items() if exp > now and i not in ended)

    for op, i, dt in steps:
        now += dt
        call = made.get(i)
        if call is None:
            call = made[i] = calls.route(NUMBER, customer=CUSTOMER, at=now, call_id=f"m{i}")
        if op == "admit":
            if i in ended:
                pass
            elif i in admitted and admitted[i] > now:
                assert call.admit(at=now) is None  # idempotent while live
                admitted[i] = max(admitted[i], now + TTL)  # the admission slots only
            else:
                ok = live(admitted) < CAP
                assert (call.admit(at=now) is None) == ok
                if ok:
                    admitted[i] = now + TTL
        elif op == "attempt" and i not in ended and i not in on_carrier:
            ok = live(on_carrier) < CARRIER_CAP
            assert call.attempt("borealis", at=now) == ok
            if ok:
                on_carrier[i] = now + TTL
                ringing.add(i)
        elif op == "failed" and i not in ended:
            call.failed("borealis", 503, at=now)
            if i in ringing:  # a failure frees the carrier's slot; otherwise it is ignored
                on_carrier[i] = now
                ringing.discard(i)
        elif op == "answered" and i not in ended:
            call.answered("borealis", at=now)
            ringing.discard(i)
        elif op == "end":
            call.end(at=now)
            ended.add(i)
        assert counters.in_use(KEY, at=now) == live(admitted)
        assert counters.in_use(CARRIER, at=now) == live(on_carrier)
    now += TTL + 1
    assert counters.in_use(KEY, at=now) == 0 and counters.in_use(CARRIER, at=now) == 0


@settings(max_examples=150, deadline=None)
@given(steps=events)
def test_slots_match_the_model_in_memory(steps):
    check(MemoryCounters(), steps)


@settings(max_examples=25, deadline=None)
@given(steps=events)
def test_slots_match_the_model_on_redis(steps):
    counters, cleanup = redis_counters()
    try:
        check(counters, steps)
    finally:
        cleanup()
