"""What one decision reads and writes, gathered into one round trip per counters backend:
:class:`Gather`.

Several parts of a decision (the router's quality scores and capacity counts, the fraud
rules' windows, the credit limit's spend counter) each queue their operations on the
batch of the backend they use (:meth:`Gather.batch`), remembering where their operations
start; one :meth:`Gather.execute` then sends each backend's batch once (one Redis
pipeline: one round trip when every part shares one backend), and each part reads its
answers back with :meth:`Gather.results`.
"""

from __future__ import annotations

from typing import Any

from tandem.errors import StateUnavailableError
from tandem.state.protocol import Counters, CountersBatch

__all__ = ["Gather", "UNREACHABLE"]

#: What :meth:`Gather.execute` treats as "the backend cannot be reached" (the batch's
#: answers are then None): :class:`~tandem.errors.StateUnavailableError` and any
#: connection error or timeout a backend lets through.
UNREACHABLE: tuple[type[BaseException], ...] = (
    StateUnavailableError,
    ConnectionError,
    TimeoutError,
)
try:  # the redis extra is optional
    import redis.exceptions as _redis_errors

    UNREACHABLE += (_redis_errors.ConnectionError, _redis_errors.TimeoutError)
except ImportError:  # pragma: no cover - without the extra only the builtins are caught
    pass


class Gather:
    """One batch per counters backend (by identity), executed once each.

    ``batch(counters)`` gives the backend's batch (made on first use); parts queue on it
    and note ``len(batch)`` before queueing (their first answer's index). ``execute()``
    runs every batch once; ``results(counters)`` is then that backend's answers in queue
    order, or None when the backend could not be reached (each part then falls back as
    it would on its own). Any other error a backend raises propagates.
    """

    __slots__ = ("_batches", "_results", "sent")

    def __init__(self) -> None:
        self._batches: dict[int, tuple[Counters, CountersBatch]] = {}
        self._results: dict[int, list[Any] | None] = {}
        #: Batches executed (non-empty ones: one round trip each to a shared backend).
        self.sent = 0

    def batch(self, counters: Counters) -> CountersBatch:
        """The batch of ``counters`` in this gather (one per backend)."""
        entry = self._batches.get(id(counters))
        if entry is None:
            entry = self._batches[id(counters)] = (counters, counters.batch())
        return entry[1]

    def execute(self) -> None:
        """Run every backend's batch once (in the order the backends were first asked
        for); a backend that cannot be reached answers None."""
        for ident, (_counters, batch) in self._batches.items():
            if not len(batch):  # type: ignore[arg-type]  # both batch kinds have __len__
                self._results[ident] = []
                continue
            self.sent += 1
            try:
                self._results[ident] = batch.execute()
            except UNREACHABLE:
                self._results[ident] = None

    def results(self, counters: Counters) -> list[Any] | None:
        """The answers of ``counters``' batch after :meth:`execute` (None: unreachable;
        an empty list when nothing was queued for it)."""
        return self._results.get(id(counters), [])
