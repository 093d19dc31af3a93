"""The contract of :class:`tandem.state.Counters`, the same tests for MemoryCounters and
RedisCounters (the ``counters`` fixture is each in turn)."""

from __future__ import annotations

import pytest

from tandem.state import Counters, CountersBatch, carrier_calls_key, key

T = 1_700_000_000.0


def test_both_backends_satisfy_the_protocol(counters):
    assert isinstance(counters, Counters)
    assert isinstance(counters.batch(), CountersBatch)


def test_plain_counters_never_go_below_zero(counters):
    assert counters.current("k") == 0
    assert counters.incr("k", 3) == 3
    assert counters.incr("k", -5) == 0
    assert counters.current("k") == 0
    assert counters.incr("k") == 1


def test_acquire_is_all_or_nothing(counters):
    limits = {"cust": 2, "carrier": 1}
    assert counters.acquire("c1", limits, ttl=60, at=T) is None
    # the carrier is full: nothing is taken under the customer either
    assert counters.acquire("c2", limits, ttl=60, at=T) == "carrier"
    assert counters.in_use("cust", at=T) == 1
    assert counters.in_use("carrier", at=T) == 1
    # the first full key in the limits' order is the one named
    counters.acquire("c3", {"cust": 2}, ttl=60, at=T)
    assert counters.acquire("c4", {"cust": 2, "carrier": 1}, ttl=60, at=T) == "cust"
    assert counters.acquire("c4", {"carrier": 1, "cust": 2}, ttl=60, at=T) == "carrier"


def test_no_limits_take_nothing_but_keep_a_call_alive(counters):
    assert counters.acquire("c1", {}, ttl=60, at=T) is None
    assert counters.release("c1", at=T) is False
    counters.acquire("c2", {"k": 1}, ttl=10, at=T)
    assert counters.acquire("c2", {}, ttl=10, at=T + 5) is None  # a keepalive
    assert counters.in_use("k", at=T + 12) == 1
    assert counters.release("c2", at=T + 12) is True


def test_a_cap_of_zero_admits_nobody(counters):
    assert counters.acquire("c1", {"k": 0}, ttl=60, at=T) == "k"
    assert counters.in_use("k", at=T) == 0


def test_acquiring_again_never_counts_a_call_twice(counters):
    assert counters.acquire("c1", {"k": 1}, ttl=10, at=T) is None
    assert counters.acquire("c1", {"k": 1}, ttl=10, at=T + 5) is None
    assert counters.in_use("k", at=T + 5) == 1
    # the second acquire was a keepalive: the slot lives until T + 15 now
    assert counters.in_use("k", at=T + 14.9) == 1
    assert counters.in_use("k", at=T + 15) == 0
    # a new key for the call is checked and taken, the held one passes
    assert counters.acquire("c2", {"j": 1}, ttl=10, at=T) is None
    assert counters.acquire("c1", {"k": 1, "j": 1}, ttl=10, at=T + 6) == "j"
    assert counters.acquire("c1", {"k": 1, "i": 1}, ttl=10, at=T + 6) is None
    assert counters.in_use("i", at=T + 6) == 1
    # releasing frees every key the call holds
    assert counters.release("c1", at=T + 7)
    assert [counters.in_use(k, at=T + 7) for k in "kij"] == [0, 0, 1]


def test_release_is_idempotent_and_never_frees_another_call(counters):
    counters.acquire("c1", {"k": 5}, ttl=60, at=T)
    counters.acquire("c2", {"k": 5}, ttl=60, at=T)
    assert counters.release("c1", at=T + 1) is True
    assert counters.release("c1", at=T + 1) is False  # duplicate end
    assert counters.release("never", at=T + 1) is False
    assert counters.in_use("k", at=T + 1) == 1


def test_a_lost_call_end_frees_its_slots_after_ttl(counters):
    assert counters.acquire("lost", {"k": 1}, ttl=30, at=T) is None
    assert counters.acquire("next", {"k": 1}, ttl=30, at=T + 29.9) == "k"
    assert counters.in_use("k", at=T + 30) == 0
    assert counters.acquire("next", {"k": 1}, ttl=30, at=T + 30) is None
    # the late end of the lost call frees nothing: the new call keeps its slot
    assert counters.release("lost", at=T + 31) is False
    assert counters.in_use("k", at=T + 31) == 1


def test_an_expired_call_acquires_afresh(counters):
    counters.acquire("c1", {"k": 1}, ttl=5, at=T)
    assert counters.acquire("c1", {"j": 1}, ttl=5, at=T + 6) is None
    assert counters.in_use("k", at=T + 6) == 0
    assert counters.in_use("j", at=T + 6) == 1


def test_occupied_adds_the_plain_counter_to_live_slots(counters):
    k = carrier_calls_key("borealis")
    counters.incr(k, 2)
    counters.acquire("c1", {k: 10}, ttl=60, at=T)
    assert counters.occupied(k, at=T) == 3
    assert counters.occupied(k, at=T + 60) == 2


def test_bad_caps_and_ttls_are_refused(counters):
    with pytest.raises(ValueError, match="cap of 'k'"):
        counters.acquire("c1", {"k": -1}, ttl=60, at=T)
    with pytest.raises(ValueError, match="ttl"):
        counters.acquire("c1", {"k": 1}, ttl=0, at=T)
    with pytest.raises(ValueError, match="ttl"):
        counters.mark("m", ttl=float("nan"), at=T)
    with pytest.raises(ValueError, match="multiple of its step"):
        counters.add("w", 1, window=90, step=60, at=T)
    with pytest.raises(ValueError, match="step"):
        counters.total("w", window=60, step=0, at=T)


def test_window_bucket_boundaries(counters):
    # window 60 s of 10 s buckets: at t, buckets (b - 6, b] count
    w = {"window": 60, "step": 10}
    assert counters.add("w", 1, at=T + 0.0, **w) == 1  # bucket b0
    assert counters.add("w", 2, at=T + 9.99, **w) == 3  # same bucket
    assert counters.add("w", 4, at=T + 10.0, **w) == 7  # b0 + 1
    assert counters.total("w", at=T + 59.99, **w) == 7  # b0 + 5: b0 still in
    assert counters.total("w", at=T + 60.0, **w) == 4  # b0 + 6: b0 out
    assert counters.total("w", at=T + 70.0, **w) == 0
    assert counters.add("w", 5, at=T + 70.0, **w) == 5


def test_window_sums_of_money_are_exact(counters):
    big = 9_007_199_254_740_993  # 2**53 + 1: a double would round it
    w = {"window": 86400, "step": 3600}
    counters.add("spend", big, at=T, **w)
    assert counters.add("spend", big, at=T + 1, **w) == 2 * big
    assert counters.total("spend", at=T + 2, **w) == 2 * big


def test_windows_of_one_key_with_other_shapes_are_separate(counters):
    counters.add("w", 1, window=60, step=60, at=T)
    counters.add("w", 1, window=1, step=1, at=T)
    assert counters.total("w", window=60, step=60, at=T) == 1
    assert counters.total("w", window=1, step=1, at=T + 1) == 0


def test_series_buckets_and_keep(counters):
    r = {"bucket": 5, "keep": 20}
    start = 1_700_000_000  # a multiple of 5
    counters.record("q", {"att": 1, "ans": 1}, at=start + 1, **r)
    counters.record("q", {"att": 1}, at=start + 4.5, **r)
    counters.record("q", {"att": 1, "pdd": 1200}, at=start + 5, **r)
    assert counters.series("q", since=0, until=start + 100) == [
        (start, {"att": 2, "ans": 1}),
        (start + 5, {"att": 1, "pdd": 1200}),
    ]
    assert counters.series("q", since=start + 1, until=start + 5) == [
        (start + 5, {"att": 1, "pdd": 1200})
    ]
    # 21 s after the first bucket started, it is dropped
    counters.record("q", {"att": 1}, at=start + 21, **r)
    assert [s for s, _ in counters.series("q", since=0, until=start + 100)] == [
        start + 5,
        start + 20,
    ]
    assert counters.series("other", since=0, until=start) == []


def test_marks_expire(counters):
    assert counters.marked("m", at=T) is None
    assert counters.mark("m", ttl=10, at=T, value="first") is True
    assert counters.mark("m", ttl=10, at=T + 9, value="second") is False
    assert counters.marked("m", at=T + 9.99) == "first"
    assert counters.marked("m", at=T + 10) is None
    assert counters.mark("m", ttl=10, at=T + 10, value="again|x") is True
    assert counters.marked("m", at=T + 11) == "again|x"


def test_a_batch_runs_every_operation_in_order(counters):
    b = counters.batch()
    b.incr("n", 2)
    b.current("n")
    b.acquire("c1", {"k": 1}, ttl=60, at=T)
    b.acquire("c2", {"k": 1}, ttl=60, at=T)
    b.in_use("k", at=T)
    b.occupied("k", at=T)
    b.add("w", 3, window=60, step=60, at=T)
    b.total("w", window=60, step=60, at=T)
    b.record("s", {"a": 1}, at=T, bucket=5, keep=60)
    b.series("s", since=T - 5, until=T)
    b.mark("m", ttl=5, at=T)
    b.marked("m", at=T)
    b.release("c1", at=T)
    b.release("c1", at=T)
    assert b.execute() == [
        2, 2, None, "k", 1, 1, 3, 3, None, [(int(T), {"a": 1})], True, "1", True, False,
    ]  # fmt: skip
    assert b.execute() == []  # the queue is empty after a run
    assert counters.in_use("k", at=T) == 0


def test_keys_escape_colons():
    assert key("cps", "ip", "2001:db8::1") == "cps:ip:2001%3Adb8%3A%3A1"
    assert key("a%3A", "b") == "a%253A:b"
    assert key("a:b") != key("a", "b")
    assert carrier_calls_key("borealis") == "carrier:borealis:calls"
    with pytest.raises(ValueError):
        key()
