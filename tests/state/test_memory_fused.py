"""MemoryCounters.run_fused (the fraud engine's in-process fast path) answers exactly what
the same adds, totals and slot counts made one by one answer, and leaves the same state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.state import MemoryCounters

T0 = 1_700_000_000.0
_SHAPES = [(1, 1), (10, 1), (60, 10), (3600, 60), (8, 2)]
_op = st.tuples(
    st.sampled_from([0, 1, 1, 2]),
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 5),
    st.sampled_from(_SHAPES),
)
_step = st.tuples(
    st.one_of(st.floats(-5.0, 25.0), st.floats(0.0, 4000.0)),  # back a little, or on
    st.lists(_op, max_size=6),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 9)), max_size=2),
)


def _one_by_one(c: MemoryCounters, ops: list, at: float) -> list[int]:
    out = []
    for kind, key, amount, window, step in ops:
        if kind == 0:
            out.append(c.in_use(key, at=at))
        elif kind == 1:
            out.append(c.add(key, amount, window=window, step=step, at=at))
        else:
            out.append(c.total(key, window=window, step=step, at=at))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, max_size=40))
def test_fused_equals_one_by_one(steps):
    fused, plain = MemoryCounters(), MemoryCounters()
    t = T0
    for dt, raw, calls in steps:
        t = max(T0, t + dt)
        for key, n in calls:  # slots for the in_use reads, some expiring
            for c in (fused, plain):
                c.acquire(f"{key}{n}", {key: 100}, ttl=float(n + 1), at=t)
        ops = [(kind, key, amount, w, s) for kind, key, amount, (w, s) in raw]
        assert fused.run_fused(ops, t) == _one_by_one(plain, ops, t)
        assert fused.size() == plain.size()
    for key in ("a", "b", "c"):
        for w, s in _SHAPES:
            assert fused.total(key, window=w, step=s, at=t) == plain.total(
                key, window=w, step=s, at=t
            )
