"""MemoryCounters' sliding windows (flat bucket lists in per-shape tables) against a
brute-force reference: every amount ever added, summed over the buckets of the window."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.state import MemoryCounters

_SHAPES = [(1, 1), (10, 1), (60, 10), (3600, 60), (8, 2), (86400, 60)]
_op = st.tuples(
    st.one_of(st.integers(0, 3), st.integers(0, 400), st.floats(0.0, 90.0)),  # time moves on
    st.sampled_from([1, 1, 2, 3]),  # 1 add, 2 total, 3 add through run_program
    st.sampled_from(["a", "b"]),
    st.integers(-2, 10**20),  # huge amounts stay exact
    st.sampled_from(_SHAPES),
)


def _reference(added: list, key: str, shape: tuple[int, int], at: float) -> int:
    window, step = shape
    b = math.floor(at / step)
    n = window // step
    return sum(a for k, s, bb, a in added if k == key and s == shape and b - n < bb <= b)


@settings(max_examples=300, deadline=None)
@given(st.integers(1_700_000_000, 1_700_100_000), st.lists(_op, max_size=60))
def test_windows_equal_brute_force(t0: int, ops: list) -> None:
    c = MemoryCounters()
    added: list = []
    t: float = t0
    for dt, kind, key, amount, (window, step) in ops:
        t = t + dt
        b = math.floor(t / step)
        if kind == 2:
            got = c.total(key, window=window, step=step, at=t)
        else:
            added.append((key, (window, step), b, amount))
            if kind == 1:
                got = c.add(key, amount, window=window, step=step, at=t)
            else:
                program = ((1, c.table(window, step), amount),)
                got = c.run_program(program, [key], t)[0]
        assert got == _reference(added, key, (window, step), t)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_SHAPES),
    st.lists(
        st.tuples(st.one_of(st.integers(-30, 30), st.floats(-5.0, 200.0)),
                  st.booleans(), st.integers(0, 9)),
        max_size=60,
    ),
)  # fmt: skip
def test_window_with_instants_back_and_forth(shape: tuple[int, int], ops: list) -> None:
    """One window, instants going back as well as forward: the buckets held are those of
    the reference that keeps every amount and drops, at each operation, the buckets that
    left the window at that operation's instant (a later bucket is left out of an earlier
    instant's total)."""
    window, step = shape
    n = window // step
    c = MemoryCounters()
    live: list[tuple[int, int]] = []
    t: float = 1_700_000_000
    for dt, is_add, amount in ops:
        t = t + dt
        b = math.floor(t / step)
        live = [(bb, a) for bb, a in live if bb >= b - n + 1]
        if is_add:
            live.append((b, amount))
            got = c.add("k", amount, window=window, step=step, at=t)
        else:
            got = c.total("k", window=window, step=step, at=t)
        assert got == sum(a for bb, a in live if bb <= b)
