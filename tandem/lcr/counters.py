"""Concurrent-call counters for carrier capacity (and later fraud limits).

The router only *reads* counters (``current``); the proxy that sets up and tears down
calls moves them (``incr`` on answer/seizure, ``decr`` on hangup). One node uses
:class:`MemoryCounters`; many proxy nodes share one Redis (a Redis-backed implementation
satisfies the same :class:`Counters` protocol).
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

__all__ = ["Counters", "MemoryCounters", "carrier_calls_key"]


def carrier_calls_key(carrier: str) -> str:
    """The counter key of a carrier's concurrent calls: ``carrier:NAME:calls``."""
    return f"carrier:{carrier}:calls"


@runtime_checkable
class Counters(Protocol):
    """Named integer counters shared by every thread (or node) that routes calls."""

    def current(self, key: str) -> int:
        """The counter's value (0 when never set)."""
        ...

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` (may be negative); return the new value."""
        ...


class MemoryCounters:
    """Thread-safe in-process counters (one node)."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._lock = threading.Lock()

    def current(self, key: str) -> int:
        """The counter's value (0 when never set)."""
        return self._values.get(key, 0)

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta``; return the new value (never below zero)."""
        with self._lock:
            value = max(0, self._values.get(key, 0) + delta)
            self._values[key] = value
            return value

    def decr(self, key: str, delta: int = 1) -> int:
        """Subtract ``delta``; return the new value (never below zero)."""
        return self.incr(key, -delta)
