"""MemoryCounters frees what has expired (OpenSIPS fraud_detection's per-user state was
never freed, #3411): lost calls, old windows, series and marks leave nothing behind."""

from __future__ import annotations

import threading

from tandem.state import MemoryCounters


def test_expired_state_is_freed():
    c = MemoryCounters()
    t = 1_700_000_000.0
    for i in range(5000):
        at = t + i * 0.01
        c.acquire(f"call-{i}", {f"cust-{i % 97}": 5, "carrier": 10_000}, ttl=30, at=at)
        c.add(f"cps:{i % 89}", 1, window=1, step=1, at=at)
        c.record(f"q:{i % 13}", {"att": 1}, at=at, bucket=5, keep=60)
        c.mark(f"first:{i}", ttl=20, at=at)
        if i % 3:
            c.release(f"call-{i}", at=at)
    assert c.size()["calls"] > 0 and c.size()["marks"] > 0
    # an hour later one operation is enough to free everything else
    c.incr("other")
    c.add("cps:x", 1, window=1, step=1, at=t + 3600)
    assert c.size() == {
        "counters": 1, "slot_keys": 0, "calls": 0, "windows": 1, "series": 0, "marks": 0,
    }  # fmt: skip
    assert c.in_use("carrier", at=t + 3600) == 0


def test_slots_stay_exact_across_threads_with_expiry():
    c = MemoryCounters()
    t = 1_000.0

    def work(n: int) -> None:
        for i in range(2000):
            call = f"{n}-{i}"
            c.acquire(call, {"k": 1_000_000}, ttl=5, at=t + i)
            if i % 2:
                c.release(call, at=t + i)
                c.release(call, at=t + i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # live at the end: the unreleased calls of the last 5 seconds, 4 threads
    assert c.in_use("k", at=t + 1999) == 4 * len([i for i in range(1995, 2000) if i % 2 == 0])


def test_released_calls_leave_no_due_entries_behind():
    """Released calls keep no memory until their expiry: the heap of due instants is
    rebuilt once most of its entries are stale."""
    c = MemoryCounters()
    for i in range(50_000):
        at = 1_000.0 + i * 0.001
        assert c.acquire(f"call-{i}", {"k": 10}, ttl=3 * 3600, at=at) is None
        assert c.release(f"call-{i}", at=at)
    assert c.size()["calls"] == 0 and c.size()["slot_keys"] == 0
    assert len(c._due) <= 1024 + 1
