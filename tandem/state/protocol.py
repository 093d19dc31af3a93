"""The interface every counters backend offers: :class:`Counters` (and its :class:`CountersBatch`).

Instants (``at``) are epoch seconds UTC, always given by the caller; nothing here reads the
clock. Amounts are integers (money as scaled integers, see :mod:`tandem.money`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Counters", "CountersBatch"]


@runtime_checkable
class CountersBatch(Protocol):
    """Operations queued for one round trip: the methods of :class:`Counters` (each returns
    ``None`` and only queues), then :meth:`execute` runs them in order and returns their
    results, one per queued call."""

    def current(self, key: str) -> None: ...
    def incr(self, key: str, delta: int = 1) -> None: ...
    def acquire(
        self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float
    ) -> None: ...
    def release(self, call_id: str, *, at: float | None = None) -> None: ...
    def in_use(self, key: str, *, at: float) -> None: ...
    def occupied(self, key: str, *, at: float) -> None: ...
    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> None: ...
    def total(self, key: str, *, window: int, step: int, at: float) -> None: ...
    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None: ...
    def series(self, key: str, *, since: float, until: float) -> None: ...
    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> None: ...
    def marked(self, key: str, *, at: float) -> None: ...

    def execute(self) -> list[Any]:
        """Run the queued operations in order (one round trip to a shared backend); their
        results, one per queued call. The batch is empty afterwards."""
        ...


@runtime_checkable
class Counters(Protocol):
    """Counters shared by every thread (:class:`~tandem.state.MemoryCounters`) or every
    proxy node (:class:`~tandem.state.RedisCounters`).

    Four kinds of state, each under string keys (build them with :func:`tandem.state.key`):
    plain counters, concurrent-call slots that expire, sliding-window counts and sums, and
    bucketed series; plus marks with an expiry.
    """

    # -- plain counters ----------------------------------------------------------------
    def current(self, key: str) -> int:
        """The plain counter's value (0 when never set)."""
        ...

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` (may be negative) to the plain counter; the new value, never below
        zero."""
        ...

    # -- concurrent-call slots -----------------------------------------------------------
    def acquire(
        self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float
    ) -> str | None:
        """Take one slot under every key of ``limits`` (key -> cap) for ``call_id``, in one
        atomic step: ``None`` when admitted, else the first key (in ``limits`` order) whose
        live slots already reach its cap, and then nothing is taken.

        The slots live until ``at + ttl`` unless released: a call whose end never arrives
        frees them then. Acquiring again for a call that holds live slots never counts it
        twice: keys it holds pass, new keys are checked and taken, and every slot of the
        call lives until ``max(its expiry, at + ttl)`` (a keepalive for long calls)."""
        ...

    def release(self, call_id: str, *, at: float | None = None) -> bool:
        """Free every slot of ``call_id``. Idempotent: a second (or late) release frees
        nothing and never takes another call's slot. True when it freed slots that were
        still live (at ``at``, when given; without ``at``: not yet reclaimed)."""
        ...

    def in_use(self, key: str, *, at: float) -> int:
        """Live slots under ``key`` at ``at`` (a slot expired at ``at`` never counts)."""
        ...

    def occupied(self, key: str, *, at: float) -> int:
        """What a capacity limit compares with its cap: the plain counter plus the live
        slots under ``key`` (the router reads this for ``carrier:NAME:calls``)."""
        ...

    # -- sliding windows -------------------------------------------------------------------
    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> int:
        """Add ``amount`` (1 for a count, scaled-integer money for a sum) to the window's
        bucket of ``at``; the window total at ``at`` including it (see
        :mod:`tandem.state.windows` for the exact bucket semantics)."""
        ...

    def total(self, key: str, *, window: int, step: int, at: float) -> int:
        """The window total at ``at``: amounts added with a bucket in
        ``(bucket(at) - window // step, bucket(at)]``."""
        ...

    # -- series ------------------------------------------------------------------------------
    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None:
        """Add each of ``fields`` (name -> integer) to the series bucket of ``bucket``
        seconds holding ``at``; buckets starting more than ``keep`` seconds before ``at``
        are dropped."""
        ...

    def series(self, key: str, *, since: float, until: float) -> list[tuple[int, dict[str, int]]]:
        """``[(bucket start, fields)]`` of the buckets with ``since <= start <= until``,
        oldest first. Read at most the last ``keep`` seconds: a series nobody recorded
        into for ``keep`` seconds may be freed whole."""
        ...

    # -- marks ---------------------------------------------------------------------------------
    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> bool:
        """Set the mark to ``value`` until ``at + ttl`` unless it is already set (live at
        ``at``); True when this call set it."""
        ...

    def marked(self, key: str, *, at: float) -> str | None:
        """The mark's value when it is live at ``at``, else None."""
        ...

    # -- batches ---------------------------------------------------------------------------------
    def batch(self) -> CountersBatch:
        """A batch: queue any of the operations above, then ``execute()`` them in one round
        trip (one lock for :class:`~tandem.state.MemoryCounters`)."""
        ...
