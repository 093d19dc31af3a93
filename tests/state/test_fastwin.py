"""The C loop of MemoryCounters.run_program (tandem/state/_fastwin.c, optional) answers
exactly what the Python loop answers and leaves exactly the same state, on the same random
operations: adds and totals on several window shapes, slot counts, instants going back a
little as well as on (float and whole seconds), huge amounts, and the graded variant."""

from __future__ import annotations

import math

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
    fast, slow = MemoryCounters(native=True), MemoryCounters(native=False)
    t: float = T0
    for dt, raw, calls, bound in steps:
        t = max(T0, t + dt)
        for key, n in calls:  # slots for the slot counts, some expiring
            for c in (fast, slow):
                c.acquire(f"{key}{n}", {key: 100}, ttl=float(n + 1), at=t)
        keys = [key for _kind, key, _amount, _shape in raw]
        answers = []
        for c in (fast, slow):
            program = tuple(
                (kind, None if kind == 0 else c.table(*shape), amount)
                for kind, _key, amount, shape in raw
            )
            if bound is None:
                answers.append(c.run_program(program, keys, t))
            else:
                bounds = tuple(math.inf if i % 3 == 2 else bound for i in range(len(raw)))
                answers.append(c.run_graded(program, keys, t, bounds))
        assert answers[0] == answers[1]
        assert _state(fast) == _state(slow)


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
    assert MemoryCounters()._native is not None  # built: the default
    assert MemoryCounters(native=False)._native is None
