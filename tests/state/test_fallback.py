"""Redis stopped in the middle of a run: FallbackCounters carries on with local counters,
says so, never raises, and goes back to Redis when a server answers on the port again."""

from __future__ import annotations

import threading
import time

import pytest

from tandem.errors import StateUnavailableError
from tandem.state import FALLBACK_NOTE, FallbackCounters, MemoryCounters, RedisCounters

pytestmark = pytest.mark.redis
T = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_operations_go_on_through_an_outage_and_come_back(own_redis):
    primary = RedisCounters(own_redis.url, prefix="fb:", node="n1")
    clock = Clock()
    c = FallbackCounters(primary, retry_after=1.0, clock=clock)
    assert c.acquire("c1", {"k": 2}, ttl=60, at=T) is None
    assert c.add("cps", 1, window=1, step=1, at=T) == 1
    assert not c.last_fell_back and c.note == "" and c.fallbacks == 0

    own_redis.stop()  # Redis dies in the middle of the run
    assert c.acquire("c2", {"k": 2}, ttl=60, at=T + 1) is None  # local counters admit it
    assert c.last_fell_back and c.note == FALLBACK_NOTE
    assert c.fallbacks == 1 and c.outages == 1 and "unreachable" in c.last_error
    assert c.in_use("k", at=T + 1) == 1  # only what this node took during the outage
    b = c.batch()
    b.acquire("c3", {"k": 2}, ttl=60, at=T + 1)
    b.acquire("c4", {"k": 2}, ttl=60, at=T + 1)
    b.add("cps", 1, window=1, step=1, at=T + 1)
    assert b.execute() == [None, "k", 1]
    assert c.last_fell_back and c.fallbacks == 3 and c.outages == 1  # not retried yet
    assert c.release("c1", at=T + 2) is False  # held in Redis: its slot will expire there

    clock.now = 1.5  # past retry_after: Redis is tried again, still down
    assert c.current("x") == 0
    assert c.last_fell_back and c.outages == 2

    own_redis.start()  # a new, empty server on the same port (no scripts loaded)
    clock.now = 3.0
    assert c.acquire("c5", {"k": 2}, ttl=60, at=T + 3) is None
    assert not c.last_fell_back and c.note == ""
    assert primary.in_use("k", at=T + 3) == 1
    # a call admitted during the outage is released locally too
    assert c.release("c2", at=T + 4) is True
    assert c.local.in_use("k", at=T + 4) == 1  # c3 still held locally
    b = c.batch()
    b.release("c3", at=T + 4)
    b.in_use("k", at=T + 4)
    assert b.execute() == [True, 1]
    assert not c.last_fell_back and c.local.in_use("k", at=T + 4) == 0


def test_only_unreachable_errors_fall_back():
    class Broken(MemoryCounters):
        def current(self, key: str) -> int:
            raise StateUnavailableError("down")

        def incr(self, key: str, delta: int = 1) -> int:
            raise ValueError("a bug, not an outage")

    c = FallbackCounters(Broken(), retry_after=0)
    assert c.current("k") == 0 and c.last_fell_back
    with pytest.raises(ValueError):
        c.incr("k")


def test_a_killed_server_mid_run_never_raises(own_redis):
    """Four threads admit and release calls while the server is killed and restarted."""
    c = FallbackCounters(
        RedisCounters(own_redis.url, prefix="fb2:", socket_timeout=0.2), retry_after=0.05
    )
    errors: list[BaseException] = []
    fell_back = []
    stop = threading.Event()

    def work(n: int) -> None:
        i = 0
        try:
            while not stop.is_set():
                at = time.time()
                call = f"{n}-{i}"
                c.acquire(call, {"carrier": 50, f"cust-{n}": 20}, ttl=30, at=at)
                c.add(f"cps:{n}", 1, window=1, step=1, at=at)
                b = c.batch()
                b.total(f"cps:{n}", window=1, step=1, at=at)
                b.release(call, at=at)
                b.execute()
                fell_back.append(c.last_fell_back)
                i += 1
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    own_redis.stop()
    time.sleep(0.3)
    own_redis.start()
    time.sleep(0.5)
    stop.set()
    for th in threads:
        th.join()
    assert not errors
    assert c.outages >= 1 and c.fallbacks >= 1
    assert any(fell_back) and not fell_back[-1]


def test_last_fell_back_is_per_thread():
    class HalfDown(MemoryCounters):
        def total(self, key: str, *, window: int, step: int, at: float) -> int:
            raise StateUnavailableError("down")

    c = FallbackCounters(HalfDown(), retry_after=0)
    seen = {}
    ready, done = threading.Event(), threading.Event()

    def other() -> None:
        c.total("w", window=1, step=1, at=T)  # falls back, in this thread
        ready.set()
        done.wait(5)
        seen["other"] = c.last_fell_back

    th = threading.Thread(target=other)
    th.start()
    ready.wait(5)
    c.current("k")  # the primary answers this thread
    seen["main"] = c.last_fell_back
    done.set()
    th.join()
    assert seen == {"main": False, "other": True}
    assert c.fallbacks == 1
