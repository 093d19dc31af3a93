"""The C loop of MemoryCounters.run_program (tandem/state/_fastwin.c, optional) answers
exactly what the Python loop answers and leaves exactly the same state, on the same random
operations: adds and totals on several window shapes, slot counts, instants going back a
little as well as on (float and whole seconds), huge amounts, and the graded variant
(run_graded, and graded_runner's runners)."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.state import MemoryCounters
from tandem.state.memory import NATIVE

pytestmark = pytest.mark.skipif(not NATIVE, reason="C loop not built (setup.py build_ext)")

T0 = 1_700_000_000
_SHAPES = [(1, 1), (10, 1), (60, 10), (3600, 60), (8, 2), (86400, 60)]
_op = st.tuples(
    st.sampled_from([0, 1, 1, 1, 2]),
    st.sampled_from(["a", "b", "c"]),
    st.one_of(st.integers(0, 5), st.integers(-(10**30), 10**30)),
    st.sampled_from(_SHAPES),
)
_step = st.tuples(
    st.one_of(st.integers(-40, 40), st.integers(0, 5000), st.floats(-5.0, 100.0)),
    st.lists(_op, max_size=8),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 9)), max_size=2),
    st.one_of(st.none(), st.integers(-1, 6)),
)


def _state(c: MemoryCounters) -> tuple:
    tables = {shape: {k: list(w) for k, w in t.windows.items()} for shape, t in c._tables.items()}
    due = sorted(c._due, key=repr)
    return tables, due, c.size()


@settings(max_examples=400, deadline=None)
@given(st.lists(_step, max_size=40))
def test_c_loop_equals_python_loop(steps):
    # the third runs graded programs through graded_runner (made once per program)
    fast, slow, ran = (MemoryCounters(native=n) for n in (True, False, True))
    t: float = T0
    for dt, raw, calls, bound in steps:
        t = max(T0, t + dt)
        for key, n in calls:  # slots for the slot counts, some expiring
            for c in (fast, slow, ran):
                c.acquire(f"{key}{n}", {key: 100}, ttl=float(n + 1), at=t)
        keys = [key for _kind, key, _amount, _shape in raw]
        answers = []
        for c in (fast, slow, ran):
            program = tuple(
                (kind, None if kind == 0 else c.table(*shape), amount)
                for kind, _key, amount, shape in raw
            )
            if bound is None:
                answers.append(c.run_program(program, keys, t))
            else:
                bounds = tuple(math.inf if i % 3 == 2 else bound for i in range(len(raw)))
                if c is ran:
                    answers.append(c.graded_runner(program, bounds)(list(keys), t))
                else:
                    answers.append(c.run_graded(program, keys, t, bounds))
        assert answers[0] == answers[1] == answers[2]
        assert _state(fast) == _state(slow) == _state(ran)


def test_c_loop_leaves_odd_instants_to_python():
    """An instant the C loop does not take (beyond 2**53 whole seconds, not a number type
    it knows) runs the Python loop: the same answers."""
    for at in (2**60, 2**53, float(T0) + 0.5):
        fast, slow = MemoryCounters(native=True), MemoryCounters(native=False)
        for c in (fast, slow):
            c.add("k", 3, window=60, step=10, at=at)
        assert fast.total("k", window=60, step=10, at=at) == 3
        assert _state(fast) == _state(slow)


def test_native_switch():
    """Built, the C loop is the default unless ``TANDEM_NATIVE=0`` turns it off (this
    test passes either way: the suite may run with the switch set)."""
    off = os.environ.get("TANDEM_NATIVE", "1") == "0"
    assert (MemoryCounters()._native is None) is off
    assert MemoryCounters(native=False)._native is None


def _same(fast: MemoryCounters, slow: MemoryCounters) -> None:
    assert _state(fast) == _state(slow)


def test_windows_of_the_c_loop_are_window_objects_read_as_lists():
    """The C loop keeps its windows as ``_fastwin.Window`` objects (numbers inline) whose
    items are the Python loop's flat list; ``total`` reads them; the state equals the
    Python loop's, bucket by bucket and due entry by due entry."""
    from tandem.state import _fastwin  # type: ignore[attr-defined]

    fast, slow = MemoryCounters(native=True), MemoryCounters(native=False)
    for c in (fast, slow):
        for i in range(7):  # new buckets, the latest bucket again, a bucket leaving
            c.add("k", i + 1, window=60, step=10, at=T0 + 7 * i)
        c.add("q", 5, window=3600, step=60, at=T0)
    w = fast._tables[(60, 10)].windows["k"]
    assert type(w) is _fastwin.Window
    assert type(slow._tables[(60, 10)].windows["k"]) is list
    assert list(w) == slow._tables[(60, 10)].windows["k"]
    for at in (T0 + 42, T0 + 30, T0 + 1000):  # now, a later bucket left out, all gone
        assert fast.total("k", window=60, step=10, at=at) == slow.total(
            "k", window=60, step=10, at=at
        )
    _same(fast, slow)
    assert fast.size() == slow.size()
    fast.sweep(T0 + 10_000)
    slow.sweep(T0 + 10_000)
    assert fast.size() == slow.size() == {
        "counters": 0, "slot_keys": 0, "calls": 0, "windows": 0, "series": 0, "marks": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "amounts",
    [
        [2**62, 2**62],  # the sum leaves 64 bits
        [2**63 - 1, 1],  # the bucket's amount leaves 64 bits
        [-(2**63), -2],
        [10**30, 1],  # an amount beyond 64 bits from the start
        [True, 2],  # not a plain int
    ],
)
def test_a_window_beyond_64_bits_goes_on_as_a_list(amounts):
    fast, slow = MemoryCounters(native=True), MemoryCounters(native=False)
    got = []
    for c in (fast, slow):
        c.add("k", 1, window=60, step=10, at=T0)
        got.append([c.add("k", a, window=60, step=10, at=T0 + 1) for a in amounts])
        got[-1].append(c.add("k", 1, window=60, step=10, at=T0 + 20))
        got[-1].append(c.total("k", window=60, step=10, at=T0 + 75))
    assert got[0] == got[1]
    assert type(fast._tables[(60, 10)].windows["k"]) is list
    _same(fast, slow)


def test_an_earlier_bucket_and_an_odd_instant_turn_a_window_into_a_list():
    """What only the Python helpers do (an add to an earlier bucket; an instant the C loop
    leaves to Python) runs on the window turned into its list: the same answers."""
    fast, slow = MemoryCounters(native=True), MemoryCounters(native=False)
    for c in (fast, slow):
        c.add("a", 1, window=600, step=60, at=T0 + 300)
        c.add("b", 1, window=600, step=60, at=T0 + 300)
    assert all(type(w) is not list for w in fast._tables[(600, 60)].windows.values())
    answers = []
    for c in (fast, slow):
        answers.append(
            (
                c.add("a", 2, window=600, step=60, at=T0 + 100),  # an earlier bucket
                c.add("b", 2, window=600, step=60, at=2**53 + 7),  # the Python loop
                c.total("a", window=600, step=60, at=T0 + 301),
            )
        )
    assert answers[0] == answers[1]
    assert all(type(w) is list for w in fast._tables[(600, 60)].windows.values())
    _same(fast, slow)


def test_a_bucket_leaving_a_window_beyond_64_bits():
    """Buckets whose sum fits 64 bits only with the oldest one: when it leaves the window
    the window goes on as a list, exact."""
    fast, slow = MemoryCounters(native=True), MemoryCounters(native=False)
    got = []
    for c in (fast, slow):
        got.append(
            [
                c.add("k", -(2**62), window=30, step=10, at=T0),
                c.add("k", 2**62, window=30, step=10, at=T0 + 10),
                c.add("k", 2**62, window=30, step=10, at=T0 + 20),
                c.add("k", 1, window=30, step=10, at=T0 + 30),  # the first bucket leaves
            ]
        )
    assert got[0] == got[1] == [-(2**62), 0, 2**62, 2**63 + 1]
    _same(fast, slow)
