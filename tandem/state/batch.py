"""A :class:`~tandem.state.protocol.CountersBatch` that queues calls and hands them to its
backend's runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EagerBatch", "Op", "QueuedBatch"]

Op = tuple[str, tuple[Any, ...], dict[str, Any]]
"""One queued call: (method name, positional arguments, keyword arguments)."""


class QueuedBatch:
    """Queues :class:`~tandem.state.protocol.Counters` calls; :meth:`execute` gives them to
    ``runner`` (the backend's one-round-trip executor) and empties the queue."""

    __slots__ = ("_ops", "_runner")

    def __init__(self, runner: Callable[[list[Op]], list[Any]]) -> None:
        self._runner = runner
        self._ops: list[Op] = []

    @property
    def ops(self) -> list[Op]:
        """The calls queued so far."""
        return self._ops

    def __len__(self) -> int:
        return len(self._ops)

    def current(self, key: str) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.current`."""
        self._ops.append(("current", (key,), {}))

    def incr(self, key: str, delta: int = 1) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.incr`."""
        self._ops.append(("incr", (key, delta), {}))

    def acquire(self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.acquire`."""
        self._ops.append(("acquire", (call_id, dict(limits)), {"ttl": ttl, "at": at}))

    def release(self, call_id: str, *, at: float | None = None) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.release`."""
        self._ops.append(("release", (call_id,), {"at": at}))

    def in_use(self, key: str, *, at: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.in_use`."""
        self._ops.append(("in_use", (key,), {"at": at}))

    def occupied(self, key: str, *, at: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.occupied`."""
        self._ops.append(("occupied", (key,), {"at": at}))

    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.add`."""
        self._ops.append(("add", (key, amount), {"window": window, "step": step, "at": at}))

    def total(self, key: str, *, window: int, step: int, at: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.total`."""
        self._ops.append(("total", (key,), {"window": window, "step": step, "at": at}))

    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.record`."""
        self._ops.append(
            ("record", (key, dict(fields)), {"at": at, "bucket": bucket, "keep": keep})
        )

    def series(self, key: str, *, since: float, until: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.series`."""
        self._ops.append(("series", (key,), {"since": since, "until": until}))

    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.mark`."""
        self._ops.append(("mark", (key,), {"ttl": ttl, "at": at, "value": value}))

    def marked(self, key: str, *, at: float) -> None:
        """Queue :meth:`~tandem.state.protocol.Counters.marked`."""
        self._ops.append(("marked", (key,), {"at": at}))

    def execute(self) -> list[Any]:
        """Run the queued calls in order, in one round trip; their results. The queue is
        empty afterwards (also when the run raised)."""
        ops, self._ops = self._ops, []
        if not ops:
            return []
        return self._runner(ops)


class EagerBatch:
    """A :class:`~tandem.state.protocol.CountersBatch` for in-process counters, where a
    round trip costs nothing: each call runs at once (each atomic on its own, like the
    commands of a Redis pipeline) and :meth:`execute` hands back the results collected."""

    __slots__ = ("_counters", "_results")

    def __init__(self, counters: Any) -> None:
        self._counters = counters
        self._results: list[Any] = []

    def __len__(self) -> int:
        return len(self._results)

    def current(self, key: str) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.current`."""
        self._results.append(self._counters.current(key))

    def incr(self, key: str, delta: int = 1) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.incr`."""
        self._results.append(self._counters.incr(key, delta))

    def acquire(self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.acquire`."""
        self._results.append(self._counters.acquire(call_id, limits, ttl=ttl, at=at))

    def release(self, call_id: str, *, at: float | None = None) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.release`."""
        self._results.append(self._counters.release(call_id, at=at))

    def in_use(self, key: str, *, at: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.in_use`."""
        self._results.append(self._counters.in_use(key, at=at))

    def occupied(self, key: str, *, at: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.occupied`."""
        self._results.append(self._counters.occupied(key, at=at))

    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.add`."""
        self._results.append(self._counters.add(key, amount, window=window, step=step, at=at))

    def total(self, key: str, *, window: int, step: int, at: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.total`."""
        self._results.append(self._counters.total(key, window=window, step=step, at=at))

    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.record`."""
        self._results.append(self._counters.record(key, fields, at=at, bucket=bucket, keep=keep))

    def series(self, key: str, *, since: float, until: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.series`."""
        self._results.append(self._counters.series(key, since=since, until=until))

    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> None:
        """Run :meth:`~tandem.state.protocol.Counters.mark`."""
        self._results.append(self._counters.mark(key, ttl=ttl, at=at, value=value))

    def marked(self, key: str, *, at: float) -> None:
        """Run :meth:`~tandem.state.protocol.Counters.marked`."""
        self._results.append(self._counters.marked(key, at=at))

    def execute(self) -> list[Any]:
        """The results of the calls made since the last execute, in order."""
        results, self._results = self._results, []
        return results
