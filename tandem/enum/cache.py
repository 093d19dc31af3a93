"""Bounded TTL caches and single-flight for lookups on the call path.

* :class:`TtlCache`: an LRU cache whose entries expire after their own TTL (the DNS
  record's TTL for positive answers; for NXDOMAIN / NODATA the negative TTL of RFC 2308
  section 5, ``min(SOA TTL, SOA MINIMUM)``). Bounded: the least recently used entry goes
  when full. Thread-safe.
* :class:`SingleFlight`: concurrent lookups of the same key share one query; followers
  wait (bounded) for the leader's result.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["TtlCache", "SingleFlight", "CacheStats"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one cache."""

    size: int
    maxsize: int
    hits: int
    misses: int
    expired: int
    evicted: int


class TtlCache(Generic[V]):
    """LRU cache of at most ``maxsize`` entries, each valid for its own TTL (seconds).

    ``clock`` is a monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, maxsize: int, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 0:
            raise ValueError("cache size must be >= 0")
        self.maxsize = int(maxsize)
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._expired = self._evicted = 0

    def get(self, key: Hashable) -> tuple[V, float] | None:
        """``(value, seconds left)`` for a live entry, else None (expired entries go)."""
        now = self._clock()
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self._misses += 1
                return None
            expires, value = item
            if expires <= now:
                del self._data[key]
                self._expired += 1
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return value, expires - now

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds; a TTL <= 0 stores nothing (RFC 1035: TTL 0
        means "use only for the transaction in progress")."""
        if ttl <= 0 or self.maxsize == 0:
            return
        expires = self._clock() + ttl
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
                self._evicted += 1

    def discard(self, key: Hashable) -> None:
        """Forget one entry."""
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> CacheStats:
        """Size and hit/miss/expiry/eviction counters."""
        with self._lock:
            return CacheStats(
                len(self._data),
                self.maxsize,
                self._hits,
                self._misses,
                self._expired,
                self._evicted,
            )


class _Call(Generic[V]):
    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None


class SingleFlight(Generic[V]):
    """Run ``fn`` once per key at a time; callers arriving meanwhile share its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[V]] = {}

    def do(self, key: Hashable, fn: Callable[[], V], wait: float) -> tuple[V | None, bool]:
        """``(result, shared)``: ``shared`` is True when another caller's query answered.

        A follower waits at most ``wait`` seconds and gets ``(None, True)`` if the leader
        has not finished by then. The leader's exceptions propagate to the leader only
        (followers then get None).
        """
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = _Call()
        assert call is not None
        if not leader:
            call.done.wait(max(wait, 0.0))
            return call.value, True
        try:
            call.value = fn()
            return call.value, False
        finally:
            with self._lock:
                self._calls.pop(key, None)
            call.done.set()

    def in_flight(self) -> int:
        """How many keys are being looked up right now."""
        with self._lock:
            return len(self._calls)
