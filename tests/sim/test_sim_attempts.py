"""The attempt walker (failover codes, capacity over simulated time) against a plain
one-call-at-a-time reference, and capacity caps checked over time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.sim.attempts import CAPACITY, CARRIED, EXHAUSTED, FAILED, UNANSWERED, play_attempts


def reference(routes, start, duration, answered, code, failover, caps):
    """Every call walked in start order; a capped carrier's channels are the carried calls
    whose [start, start + duration) holds the instant."""
    n, width = routes.shape
    ends, carriers = [], []
    held: list[tuple[int, int, int]] = []  # (carrier, from, until)
    attempted = np.zeros(routes.shape, bool)
    for i in range(n):
        t = int(start[i])
        result, last, full = EXHAUSTED if routes[i, 0] >= 0 else 5, -1, False
        for k in range(width):
            c = int(routes[i, k])
            if c < 0:
                break
            if c in caps and sum(1 for h in held if h[0] == c and h[1] <= t < h[2]) >= caps[c]:
                full = True
                continue
            attempted[i, k] = True
            last = c
            if code[i, k] and failover[i, k]:
                full = False
                continue
            if code[i, k]:
                result = FAILED
            elif answered[i]:
                result = CARRIED
                held.append((c, t, t + int(duration[i])))
            else:
                result = UNANSWERED
            break
        if result == EXHAUSTED and full:
            result = CAPACITY
        ends.append(result)
        carriers.append(last)
    return np.array(ends), np.array(carriers), attempted


@st.composite
def calls(draw):
    n = draw(st.integers(1, 40))
    width = draw(st.integers(1, 4))
    carriers = 4
    rows = []
    for _ in range(n):
        k = draw(st.integers(0, width))
        chosen = draw(st.permutations(range(carriers)))[:k]
        rows.append(list(chosen) + [-1] * (width - k))
    routes = np.array(rows, dtype=np.int32).reshape(n, width)
    start = np.sort(np.array(draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))))
    duration = np.array(draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)))
    answered = duration > 0
    code = np.array(
        draw(st.lists(st.sampled_from([0, 0, 0, 503, 486]), min_size=n * width, max_size=n * width))
    ).reshape(n, width)
    code[routes < 0] = 0
    failover = code == 503
    caps = draw(st.dictionaries(st.integers(0, carriers - 1), st.integers(0, 3), max_size=3))
    return routes, start, duration, answered, code, failover, caps


@settings(max_examples=150, deadline=None)
@given(calls())
def test_walk_equals_reference(case):
    routes, start, duration, answered, code, failover, caps = case
    got = play_attempts(routes, start, duration, answered, code, failover, caps)
    ends, carriers, attempted = reference(*case)
    blocked = routes[:, 0] < 0
    assert (got.end[~blocked] == ends[~blocked]).all()
    assert (got.carrier == carriers).all()
    assert (got.attempted == attempted).all()
    assert (got.failed_over == (attempted & (code > 0) & failover)).all()


def test_capacity_never_exceeded_over_time():
    rng = np.random.default_rng(7)
    n = 3000
    routes = np.tile(np.array([[0, 1, 2]], dtype=np.int32), (n, 1))
    start = np.sort(rng.integers(0, 20_000, n))
    duration = rng.integers(1, 400, n)
    code = np.zeros(routes.shape, dtype=np.int32)
    caps = {0: 5, 1: 3}
    got = play_attempts(routes, start, duration, duration > 0, code, code > 0, caps)
    carried = got.end == CARRIED
    for c, cap in caps.items():
        mine = carried & (got.carrier == c)
        s, e = start[mine], start[mine] + duration[mine]
        for t in start:
            assert int(((s <= t) & (t < e)).sum()) <= cap
        assert mine.sum() > 0
    # the uncapped third carrier took what the capped ones could not
    assert (got.carrier[carried] == 2).sum() > 0
    assert got.skipped[:, 0].sum() > 0
