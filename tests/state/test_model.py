"""Property tests: the counters (in memory and in Redis) against a brute-force reference
model of slots, windows, series and marks, on random operation sequences (time moving
forward, as the implementations expect)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = ["a", "b", "c"]
CALLS = ["c0", "c1", "c2", "c3", "c4", "c5"]


class Reference:
    """Everything recomputed from the full history, the simplest way."""

    def __init__(self) -> None:
        self.calls: dict[str, tuple[float, set[str]]] = {}
        self.adds: dict[tuple[str, int, int], list[tuple[float, int]]] = {}
        self.records: dict[str, list[tuple[float, dict[str, int], int, int]]] = {}
        self.marks: dict[str, tuple[float, str]] = {}

    def live(self, at: float) -> dict[str, set[str]]:
        return {c: keys for c, (exp, keys) in self.calls.items() if exp > at}

    def acquire(self, call: str, limits: dict[str, int], ttl: float, at: float) -> str | None:
        live = self.live(at)
        held = live.get(call, set())
        for k, cap in limits.items():
            if k in held:
                continue
            if sum(1 for c, keys in live.items() if k in keys) >= cap:
                return k
        if call in live:
            exp, keys = self.calls[call]
            self.calls[call] = (max(exp, at + ttl), keys | set(limits))
        else:
            self.calls[call] = (at + ttl, set(limits))
        return None

    def release(self, call: str, at: float) -> bool:
        if call not in self.calls:
            return False
        exp, _ = self.calls.pop(call)
        return exp > at

    def in_use(self, key: str, at: float) -> int:
        return sum(1 for keys in self.live(at).values() if key in keys)

    def total(self, key: str, window: int, step: int, at: float) -> int:
        b = math.floor(at / step)
        n = window // step
        adds = self.adds.get((key, window, step), [])
        return sum(amount for t, amount in adds if b - n < math.floor(t / step) <= b)

    def add(self, key: str, amount: int, window: int, step: int, at: float) -> int:
        self.adds.setdefault((key, window, step), []).append((at, amount))
        return self.total(key, window, step, at)

    def series(self, key: str, since: float, until: float) -> list[tuple[int, dict[str, int]]]:
        recs = self.records.get(key, [])
        if not recs:
            return []
        last, keep = recs[-1][0], recs[-1][3]
        buckets: dict[int, dict[str, int]] = {}
        for t, fields, bucket, _ in recs:
            start = math.floor(t / bucket) * bucket
            if start < last - keep or not since <= start <= until:
                continue
            into = buckets.setdefault(start, {})
            for name, v in fields.items():
                into[name] = into.get(name, 0) + v
        return sorted(buckets.items())

    def mark(self, key: str, ttl: float, at: float, value: str) -> bool:
        held = self.marks.get(key)
        if held is not None and held[0] > at:
            return False
        self.marks[key] = (at + ttl, value)
        return True

    def marked(self, key: str, at: float) -> str | None:
        held = self.marks.get(key)
        return held[1] if held is not None and held[0] > at else None


steps = st.sampled_from([0.0, 0.0, 0.25, 0.5, 1.0, 2.0, 3.5, 7.0])
limits = st.dictionaries(st.sampled_from(KEYS), st.integers(0, 3), min_size=1, max_size=3)
slot_ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), steps, st.sampled_from(CALLS), limits,
                  st.sampled_from([1.0, 2.5, 5.0, 10.0])),
        st.tuples(st.just("release"), steps, st.sampled_from(CALLS)),
        st.tuples(st.just("in_use"), steps, st.sampled_from(KEYS)),
    ),
    max_size=40,
)  # fmt: skip

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(ops=slot_ops, start=st.sampled_from([0.0, 1_700_000_000.25]))
def test_slots_match_the_reference(make_backend, ops, start):
    counters, ref = make_backend(), Reference()
    at = start
    for op in ops:
        at += op[1]
        if op[0] == "acquire":
            _, _, call, lim, ttl = op
            assert counters.acquire(call, lim, ttl=ttl, at=at) == ref.acquire(call, lim, ttl, at)
        elif op[0] == "release":
            assert counters.release(op[2], at=at) == ref.release(op[2], at)
        for k in KEYS:
            assert counters.in_use(k, at=at) == ref.in_use(k, at), (k, at)
            assert counters.in_use(k, at=at) >= 0


window_shapes = st.sampled_from([(1, 1), (10, 1), (60, 10), (60, 60), (3600, 600)])
window_ops = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.1, 0.5, 1.0, 4.9, 10.0, 59.0, 60.0, 600.0]),
        st.sampled_from(["x", "y"]),
        window_shapes,
        st.one_of(st.just(1), st.integers(0, 10**15)),
        st.booleans(),
    ),
    max_size=40,
)


@SETTINGS
@given(ops=window_ops, start=st.sampled_from([0.0, 1_700_000_000.0, 1_700_000_009.95]))
def test_windows_match_the_reference(make_backend, ops, start):
    counters, ref = make_backend(), Reference()
    at = start
    for dt, key, (window, step), amount, read in ops:
        at += dt
        if read:
            got = counters.total(key, window=window, step=step, at=at)
            assert got == ref.total(key, window, step, at)
        else:
            got = counters.add(key, amount, window=window, step=step, at=at)
            assert got == ref.add(key, amount, window, step, at)


series_ops = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.5, 2.0, 5.0, 12.0, 40.0]),
        st.sampled_from(["q1", "q2"]),
        st.dictionaries(st.sampled_from(["att", "ans", "pdd"]), st.integers(0, 5000), max_size=3),
    ),
    max_size=30,
)


@SETTINGS
@given(ops=series_ops, span=st.sampled_from([(60, 0), (60, 100), (30, -10)]))
def test_series_match_the_reference(make_backend, ops, span):
    """Series are read over the last ``keep`` seconds at most (a series nobody recorded
    into for ``keep`` seconds may be freed whole)."""
    counters, ref = make_backend(), Reference()
    at = 1_700_000_000.0
    for dt, key, fields in ops:
        at += dt
        counters.record(key, fields, at=at, bucket=5, keep=60)
        ref.records.setdefault(key, []).append((at, fields, 5, 60))
        since, until = at - span[0], at + span[1]
        for k in ("q1", "q2"):
            assert counters.series(k, since=since, until=until) == ref.series(k, since, until)


mark_ops = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.5, 1.0, 3.0]),
        st.sampled_from(["m1", "m2"]),
        st.sampled_from([0.5, 1.0, 2.0]),
        st.sampled_from(["1", "v|w", "é"]),
    ),
    max_size=30,
)


@SETTINGS
@given(ops=mark_ops)
def test_marks_match_the_reference(make_backend, ops):
    counters, ref = make_backend(), Reference()
    at = 1_000.0
    for dt, key, ttl, value in ops:
        at += dt
        assert counters.mark(key, ttl=ttl, at=at, value=value) == ref.mark(key, ttl, at, value)
        for k in ("m1", "m2"):
            assert counters.marked(k, at=at) == ref.marked(k, at)
            assert counters.marked(k, at=at + 0.75) == ref.marked(k, at + 0.75)
