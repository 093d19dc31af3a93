"""Local counters when the shared ones cannot be reached: :class:`FallbackCounters`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tandem.errors import StateUnavailableError
from tandem.state.batch import Op, QueuedBatch
from tandem.state.memory import MemoryCounters
from tandem.state.protocol import Counters

__all__ = ["FALLBACK_NOTE", "FallbackCounters"]

FALLBACK_NOTE = "shared state unreachable: local counters"
"""The note a decision carries when its counters fell back to local ones."""


class FallbackCounters:
    """``primary`` (a :class:`~tandem.state.RedisCounters`), or ``local`` (a
    :class:`~tandem.state.MemoryCounters`, a fresh one by default) while the primary is
    unreachable: never raises :class:`~tandem.errors.StateUnavailableError`.

    When an operation (or a batch) finds the primary unreachable, it runs on ``local``
    instead, and so does everything for the next ``retry_after`` seconds (of the process's
    monotonic clock: an operational delay, not a call instant); then the primary is tried
    again. After each operation or batch, :attr:`last_fell_back` says whether it ran on the
    local counters (for the calling thread); :attr:`fallbacks` counts the operations and
    batches that did, and :attr:`outages` the times the primary was found unreachable.
    Whether a rule then fails open or closed is the rule's decision, not this class's.

    Local counters only see this node's traffic during an outage, and start from what they
    held when the last outage ended (slots taken locally are released locally: a release
    goes to both backends).
    """

    def __init__(
        self,
        primary: Counters,
        local: MemoryCounters | None = None,
        *,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.local = local if local is not None else MemoryCounters()
        self.retry_after = float(retry_after)
        self._clock = clock
        self._retry_at = -float("inf")
        self._count = threading.Lock()
        self._thread = threading.local()
        self.fallbacks = 0
        self.outages = 0
        self.last_error = ""

    @property
    def last_fell_back(self) -> bool:
        """Whether the calling thread's last operation or batch ran on the local counters
        (per thread, so that a decision reads its own, whatever other threads do)."""
        fell_back: bool = getattr(self._thread, "fell_back", False)
        return fell_back

    @last_fell_back.setter
    def last_fell_back(self, value: bool) -> None:
        self._thread.fell_back = value

    @property
    def note(self) -> str:
        """:data:`FALLBACK_NOTE` when the last operation fell back, else ``""``."""
        return FALLBACK_NOTE if self.last_fell_back else ""

    @property
    def down(self) -> bool:
        """Whether the primary is treated as unreachable now (until the next retry)."""
        return self._clock() < self._retry_at

    def _fell_back(self, error: Exception | None) -> None:
        with self._count:
            self.fallbacks += 1
            if error is not None:
                self.outages += 1
                self.last_error = str(error)
                self._retry_at = self._clock() + self.retry_after
        self.last_fell_back = True

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if not self.down:
            try:
                result = getattr(self.primary, name)(*args, **kwargs)
            except StateUnavailableError as exc:
                self._fell_back(exc)
            else:
                self.last_fell_back = False
                return result
        else:
            self._fell_back(None)
        return getattr(self.local, name)(*args, **kwargs)

    def _run(self, ops: list[Op]) -> list[Any]:
        if not self.down:
            batch = self.primary.batch()
            for name, args, kwargs in ops:
                getattr(batch, name)(*args, **kwargs)
            try:
                results = batch.execute()
            except StateUnavailableError as exc:
                self._fell_back(exc)
            else:
                self.last_fell_back = False
                for i, (name, args, kwargs) in enumerate(ops):
                    if name == "release":  # the call may have been admitted in an outage
                        results[i] = self.local.release(*args, **kwargs) or results[i]
                return results
        else:
            self._fell_back(None)
        return self.local._run(ops)

    # -- the Counters protocol ---------------------------------------------------------------
    def current(self, key: str) -> int:
        """See :meth:`tandem.state.protocol.Counters.current`."""
        result: int = self._call("current", key)
        return result

    def incr(self, key: str, delta: int = 1) -> int:
        """See :meth:`tandem.state.protocol.Counters.incr`."""
        result: int = self._call("incr", key, delta)
        return result

    def decr(self, key: str, delta: int = 1) -> int:
        """Subtract ``delta``; the new value, never below zero."""
        return self.incr(key, -delta)

    def acquire(
        self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float
    ) -> str | None:
        """See :meth:`tandem.state.protocol.Counters.acquire`."""
        result: str | None = self._call("acquire", call_id, limits, ttl=ttl, at=at)
        return result

    def release(self, call_id: str, *, at: float | None = None) -> bool:
        """Release on the primary (or the local counters when it is down) and on the local
        counters too, since the call may have been admitted during an outage."""
        result: bool = self._call("release", call_id, at=at)
        if not self.last_fell_back:
            result = self.local.release(call_id, at=at) or result
        return result

    def in_use(self, key: str, *, at: float) -> int:
        """See :meth:`tandem.state.protocol.Counters.in_use`."""
        result: int = self._call("in_use", key, at=at)
        return result

    def occupied(self, key: str, *, at: float) -> int:
        """See :meth:`tandem.state.protocol.Counters.occupied`."""
        result: int = self._call("occupied", key, at=at)
        return result

    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> int:
        """See :meth:`tandem.state.protocol.Counters.add`."""
        result: int = self._call("add", key, amount, window=window, step=step, at=at)
        return result

    def total(self, key: str, *, window: int, step: int, at: float) -> int:
        """See :meth:`tandem.state.protocol.Counters.total`."""
        result: int = self._call("total", key, window=window, step=step, at=at)
        return result

    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None:
        """See :meth:`tandem.state.protocol.Counters.record`."""
        self._call("record", key, fields, at=at, bucket=bucket, keep=keep)

    def series(self, key: str, *, since: float, until: float) -> list[tuple[int, dict[str, int]]]:
        """See :meth:`tandem.state.protocol.Counters.series`."""
        result: list[tuple[int, dict[str, int]]] = self._call(
            "series", key, since=since, until=until
        )
        return result

    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> bool:
        """See :meth:`tandem.state.protocol.Counters.mark`."""
        result: bool = self._call("mark", key, ttl=ttl, at=at, value=value)
        return result

    def marked(self, key: str, *, at: float) -> str | None:
        """See :meth:`tandem.state.protocol.Counters.marked`."""
        result: str | None = self._call("marked", key, at=at)
        return result

    def batch(self) -> QueuedBatch:
        """A batch: one round trip to the primary, or run on the local counters."""
        return QueuedBatch(self._run)
