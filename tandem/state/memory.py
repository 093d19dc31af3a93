"""In-process counters for one node: :class:`MemoryCounters`."""

from __future__ import annotations

import heapq
import math
import os
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from tandem.state.batch import EagerBatch, Op
from tandem.state.windows import (
    check_fields,
    check_ttl,
    series_cutoff,
    series_start,
    window_buckets,
)

__all__ = ["DEFAULT_NATIVE", "MemoryCounters", "NATIVE"]

try:  # the loop of run_program in C (setup.py builds it when it can; optional)
    from tandem.state import _fastwin  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - without a compiler the Python loop runs
    _fastwin = None
#: Whether the C loop of :meth:`MemoryCounters.run_program` is built (same answers).
NATIVE = _fastwin is not None
#: Whether new counters run the C loop by default: built, and not turned off by
#: ``TANDEM_NATIVE=0`` in the environment (the one switch of every C extension).
DEFAULT_NATIVE = NATIVE and os.environ.get("TANDEM_NATIVE", "1") != "0"


class _Slots:
    """The live slots under one key: call id -> expiry, and a heap of (expiry, call id)
    that finds the expired ones without a scan (stale heap entries are skipped)."""

    __slots__ = ("expiry", "heap")

    def __init__(self) -> None:
        self.expiry: dict[str, float] = {}
        self.heap: list[tuple[float, str]] = []

    def put(self, call_id: str, expires: float) -> None:
        self.expiry[call_id] = expires
        heapq.heappush(self.heap, (expires, call_id))

    def purge(self, at: float) -> None:
        """Drop the slots expired at ``at`` (expiry <= at)."""
        heap, expiry = self.heap, self.expiry
        while heap and heap[0][0] <= at:
            expires, call_id = heapq.heappop(heap)
            if expiry.get(call_id) == expires:
                del expiry[call_id]
        if len(heap) > 2 * len(expiry) + 16:  # mostly released calls: rebuild
            self.heap = [(e, c) for c, e in expiry.items()]
            heapq.heapify(self.heap)

    def live(self, at: float) -> int:
        """Slots live at ``at``, counted without dropping anything (``at`` may lie before
        the latest instant seen)."""
        heap = self.heap
        if not heap or heap[0][0] > at:
            return len(self.expiry)
        return sum(1 for e in self.expiry.values() if e > at)


# One sliding window is a flat list, the fewest objects (a window is often cold in the
# caches: fewer objects, fewer misses): [sum, first, last, due, bucket, amount, bucket,
# amount...] with its buckets ascending; ``first`` is at or below its oldest bucket,
# ``last`` its latest (when it holds one), ``due`` the instant its latest bucket leaves
# the window (-inf until it held one).
_SUM, _FIRST, _LAST, _DUE = range(4)
_HEAD = 4


def _new_window(b: int) -> list[Any]:
    return [0, b, b, -math.inf]


def _evict(w: list[Any], oldest: int) -> None:
    """Drop the buckets before ``oldest``."""
    if w[_FIRST] >= oldest:
        return
    i, end = _HEAD, len(w)
    gone = 0
    while i < end and w[i] < oldest:
        gone += w[i + 1]
        i += 2
    if i > _HEAD:
        w[_SUM] -= gone
        del w[_HEAD:i]
    w[_FIRST] = oldest


def _add(w: list[Any], b: int, amount: int) -> bool:
    """Add to bucket ``b``; True when ``b`` is a new latest bucket."""
    w[_SUM] += amount
    end = len(w)
    if end == _HEAD or b > w[_LAST]:
        w.append(b)
        w.append(amount)
        w[_LAST] = b
        if b < w[_FIRST]:
            w[_FIRST] = b
        return True
    i = end - 2  # an earlier bucket: from the latest down
    while i >= _HEAD and w[i] > b:
        i -= 2
    if i >= _HEAD and w[i] == b:
        w[i + 1] += amount
        return False
    w[i + 2 : i + 2] = [b, amount]
    if b < w[_FIRST]:
        w[_FIRST] = b
    return False


def _total(w: list[Any], b: int) -> int:
    """The sum of the buckets up to ``b`` (those after it are left out)."""
    total: int = w[_SUM]
    i = len(w) - 2
    if i < _HEAD or w[_LAST] <= b:
        return total
    while i >= _HEAD and w[i] > b:
        total -= w[i + 1]
        i -= 2
    return total


class _Table:
    """The windows of one shape (``window`` seconds in buckets of ``step``: ``n`` of them),
    by key."""

    __slots__ = ("n", "reader", "step", "window", "windows")

    def __init__(self, window: int, step: int) -> None:
        self.n = window_buckets(window, step)
        self.window = window
        self.step = step
        #: key -> the window: a flat list (see above), or in counters running the C loop
        #: a ``_fastwin.Window`` with the same items (``list(w)``)
        self.windows: dict[str, Any] = {}
        #: the program that reads one window's total (run_program)
        self.reader = ((2, self, 0),)


class _Series:
    """One series: fields per bucket start; ``due`` is the instant its latest bucket is
    dropped (``keep`` seconds after it started)."""

    __slots__ = ("buckets", "due", "keep", "last")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.buckets: dict[int, dict[str, int]] = {}
        self.last = -math.inf
        self.due = -math.inf


# What an entry of MemoryCounters._due frees when its instant has passed.
_CALL, _WINDOW, _SERIES, _MARK = range(4)


class MemoryCounters:
    """Thread-safe in-process counters (one node): every operation of
    :class:`~tandem.state.protocol.Counters` under one lock.

    Memory stays bounded by live state, without pauses: expired slots are dropped when
    their key is touched, window buckets when they leave their window, series buckets when
    they are older than ``keep``; and one heap of due instants frees, as the instants given
    pass them, the calls, windows, series and marks that expired on keys nobody touches any
    more (a few entries per operation, never a scan of everything). Time is expected to
    move forward: state expired at the latest instant seen may be freed even if a later
    call asks about an earlier instant.
    """

    def __init__(self, *, native: bool | None = None) -> None:
        """``native``: run :meth:`run_program`'s loop in C (the default when it is built
        and ``TANDEM_NATIVE=0`` is not set: :data:`DEFAULT_NATIVE`); False: in Python (the
        same answers, slower)."""
        if native and _fastwin is None:
            raise ValueError("the C loop of MemoryCounters is not built (setup.py build_ext)")
        use = DEFAULT_NATIVE if native is None else native
        self._native = _fastwin.run if use and _fastwin else None
        #: the C key maker of the compiled fraud rules (tandem.fraud.compiled) when the C
        #: loop runs, else None
        self.native_keys = _fastwin.keys if self._native is not None else None
        self._hooks = (self._new_window, _evict, _add, _total, self._push, self._counted)
        #: id(program) -> (program, its operations as the C loop takes them)
        self._prepared: dict[int, tuple[Any, Any]] = {}
        self._lock = threading.RLock()
        self._values: dict[str, int] = {}
        self._slots: dict[str, _Slots] = {}
        self._calls: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._tables: dict[tuple[int, int], _Table] = {}  # (window, step) -> its windows
        self._window_count = 0
        self._series: dict[str, _Series] = {}
        self._marks: dict[str, tuple[float, str]] = {}
        #: (instant, what, key): a heap; the same list object for the counters' life
        self._due: list[tuple[float, int, Any]] = []

    # -- plain counters ------------------------------------------------------------------
    def current(self, key: str) -> int:
        """The plain counter's value (0 when never set)."""
        return self._values.get(key, 0)

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta``; return the new value (never below zero). A counter back at zero
        takes no memory."""
        with self._lock:
            value = self._values.get(key, 0) + delta
            if value > 0:
                self._values[key] = value
                return value
            self._values.pop(key, None)
            return 0

    def decr(self, key: str, delta: int = 1) -> int:
        """Subtract ``delta``; return the new value (never below zero)."""
        return self.incr(key, -delta)

    # -- slots -------------------------------------------------------------------------------
    def acquire(
        self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float
    ) -> str | None:
        """Take a slot under every key of ``limits`` for ``call_id``, all or nothing; see
        :meth:`tandem.state.protocol.Counters.acquire`."""
        ttl = check_ttl(ttl)
        for k, cap in limits.items():
            if type(cap) is not int or cap < 0:
                raise ValueError(f"cap of {k!r} must be a whole number >= 0, not {cap!r}")
        with self._lock:
            if self._due and self._due[0][0] <= at:
                self._expire(at)
            held: tuple[str, ...] = ()
            expires = at + ttl
            record = self._calls.get(call_id)
            if record is not None:
                if record[0] > at:
                    held = record[1]
                    expires = max(expires, record[0])
                else:
                    self._drop_call(call_id)
            slots = self._slots
            new: list[str] = []
            for k, cap in limits.items():
                if k in held or k in new:
                    continue
                s = slots.get(k)
                if s is not None:
                    s.purge(at)
                    if len(s.expiry) >= cap:
                        return k
                elif cap <= 0:
                    return k
                new.append(k)
            keys = held + tuple(new)
            if not keys:  # no limits and no slots held: nothing to take
                return None
            for k in keys:
                s = slots.get(k)
                if s is None:
                    s = slots[k] = _Slots()
                s.put(call_id, expires)
            self._calls[call_id] = (expires, keys)
            if record is None or record[0] != expires:
                self._push((expires, _CALL, call_id))
            return None

    def release(self, call_id: str, *, at: float | None = None) -> bool:
        """Free the slots of ``call_id``; idempotent. True when it freed slots still live
        (at ``at`` when given)."""
        with self._lock:
            record = self._calls.get(call_id)
            if record is None:
                return False
            self._drop_call(call_id)
            return at is None or record[0] > at

    def _drop_call(self, call_id: str) -> None:
        expires, keys = self._calls.pop(call_id)
        slots = self._slots
        for k in keys:
            s = slots.get(k)
            if s is not None and s.expiry.get(call_id) == expires:
                del s.expiry[call_id]
                if not s.expiry:
                    del slots[k]

    def in_use(self, key: str, *, at: float) -> int:
        """Live slots under ``key`` at ``at``."""
        with self._lock:
            s = self._slots.get(key)
            return 0 if s is None else s.live(at)

    def occupied(self, key: str, *, at: float) -> int:
        """The plain counter plus the live slots under ``key``."""
        with self._lock:
            s = self._slots.get(key)
            return self._values.get(key, 0) + (0 if s is None else s.live(at))

    def calls(self) -> int:
        """How many calls hold slots (live or expired but not yet swept)."""
        return len(self._calls)

    # -- windows -------------------------------------------------------------------------------
    def table(self, window: int, step: int) -> _Table:
        """The windows of one shape (made, and the shape checked, on first use); the
        same object for the life of these counters (see :meth:`run_program`)."""
        t = self._tables.get((window, step))
        if t is None:
            t = _Table(window, step)
            with self._lock:
                t = self._tables.setdefault((window, step), t)
        return t

    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> int:
        """Add ``amount`` to the window; the total at ``at`` including it."""
        return self.run_program(((1, self.table(window, step), amount),), [key], at)[0]

    def total(self, key: str, *, window: int, step: int, at: float) -> int:
        """The window total at ``at``."""
        table = self.table(window, step)
        w = table.windows.get(key)
        if w is None:
            return 0
        if type(w) is not list:  # a window of the C loop: read there
            return self.run_program(table.reader, [key], at)[0]
        b = math.floor(at / step)
        with self._lock:
            w = table.windows.get(key)
            if w is None:
                return 0
            if type(w) is not list:
                return self.run_program(table.reader, [key], at)[0]
            _evict(w, b - table.n + 1)
            return _total(w, b)

    def run_fused(self, ops: list[tuple[int, Any, int, int, int]], at: float) -> list[int]:
        """Window adds, window totals and slot counts at one instant ``at``, in order, under
        one lock: what ``batch()`` with :meth:`add`, :meth:`total` and :meth:`in_use`
        answers, without a batch object.

        Each op is ``(kind, key, amount, window, step)``: kind 1 adds ``amount`` to the
        window of ``key`` (its total, as :meth:`add`), 2 reads its total (:meth:`total`), 0
        counts the live slots under ``key`` (:meth:`in_use`; ``amount``, ``window`` and
        ``step`` unused). See :meth:`run_program`.
        """
        table = self.table
        program = tuple(
            (kind, None if kind == 0 else table(window, step), amount)
            for kind, _key, amount, window, step in ops
        )
        return self.run_program(program, [op[1] for op in ops], at)

    def run_program(
        self, program: tuple[tuple[int, _Table | None, int], ...], keys: Any, at: float
    ) -> list[int]:
        """The in-process fast path of a decision's counter operations: ``program[i]`` is
        ``(kind, table, amount)`` (``table`` from :meth:`table`, made once) applied to
        ``keys[i]`` at ``at``, all under one lock: kind 1 adds ``amount`` to the key's window
        in ``table`` and answers its total (as :meth:`add`), 2 answers its total
        (:meth:`total`), 0 the live slots under the key (:meth:`in_use`; ``table`` and
        ``amount`` unused). A program built once per rule set, with only the keys made per
        decision, saves building (and parsing) a tuple per operation.

        When there is an add, expired state is freed once before the ops (as the first
        :meth:`add` would), which changes no answer: everything it frees reads as gone at
        ``at`` anyway.
        """
        return self._execute(program, keys, at, None)  # type: ignore[return-value]

    def run_graded(
        self,
        program: tuple[tuple[int, _Table | None, int], ...],
        keys: Any,
        at: float,
        bounds: tuple[Any, ...],
    ) -> tuple[list[int], bool]:
        """:meth:`run_program`, and whether an answer is above its bound (``bounds``: one
        per operation), found in the same pass."""
        native = self._native
        if native is not None and type(keys) is list and type(program) is tuple:
            # (the C loop refuses a program and keys of different lengths before anything)
            prepared = self._prepared.get(id(program))
            if prepared is None or prepared[0] is not program:
                prepared = self._prepare(program)
            with self._lock:  # the C loop, unless the instant is one it leaves to Python
                due = self._due
                if due and due[0][0] <= at:
                    self._expire_before(program, at)
                done = native(prepared[1], keys, at, self._slots, self._hooks, bounds)
                if done is not None:
                    return done
        return self._execute(program, keys, at, bounds)  # type: ignore[return-value]

    def graded_runner(
        self, program: tuple[tuple[int, _Table | None, int], ...], bounds: tuple[Any, ...]
    ) -> Callable[[Any, float], tuple[list[int], bool]]:
        """``run(keys, at)``: :meth:`run_graded` of ``program`` and ``bounds`` (made once,
        e.g. per compiled rule set and variant), with the C loop's operations prepared
        once and nothing looked up per call; the same answers and state as
        :meth:`run_graded` (which it falls back to for what the C loop leaves to Python)."""
        native = self._native
        if native is None or type(program) is not tuple:
            return partial(_graded, self.run_graded, program, bounds)
        prepared = self._prepare(program, keep=False)[1]
        adds = any(op[0] == 1 for op in program)
        lock, slots, hooks, execute = self._lock, self._slots, self._hooks, self._execute

        def run(keys: Any, at: float) -> tuple[list[int], bool]:
            if type(keys) is list:
                with lock:  # run_graded's steps, with its lookups done once
                    due = self._due
                    if adds and due and due[0][0] <= at:
                        self._expire(at)
                    done = native(prepared, keys, at, slots, hooks, bounds)
                    if done is not None:
                        return done
            return execute(program, keys, at, bounds)  # type: ignore[return-value]

        return run

    def native_parts(
        self, program: tuple[tuple[int, _Table | None, int], ...], bounds: tuple[Any, ...]
    ) -> tuple[Any, ...] | None:
        """What ``_fastwin.decide`` takes of a program to run it as :meth:`graded_runner`'s
        runner does (the same steps, in C): ``(prepared operations, bounds, whether it
        adds, slots, hooks)``; None when the C loop does not run."""
        if self._native is None or type(program) is not tuple:
            return None
        adds = any(op[0] == 1 for op in program)
        prepared = self._prepare(program, keep=False)[1]
        return (prepared, bounds, adds, self._slots, self._hooks)

    def native_decider(
        self,
        spec: tuple[Any, ...],
        fallback: Callable[..., Any],
        programs: dict[int, Any],
        settle: tuple[Any, ...] | None = None,
    ) -> Callable[[Any, Any], Any] | None:
        """``decide(facts, K)``: the compiled fraud rules' keys (``spec``, the C recipe, and
        ``fallback``, its Python function) and, under this lock, the variant's program of
        ``programs`` (``Compiled.programs``, entries with :meth:`native_parts`) in one C
        call; it answers ``(answers, over, first-call index)``, or ``(variant, keys)`` when
        the Python steps must run, or with ``settle`` (``(first_rate, risky, lengths,
        allowed)``) ``allowed`` itself when nothing fires (see ``decide`` in
        ``_fastwin.c``). None without the C loop."""
        if self._native is None or _fastwin is None:
            return None
        lock = self._lock
        bound = (spec, fallback, programs, self._due, lock.acquire, lock.release, settle)
        return partial(_fastwin.decide, bound)

    def _prepare(
        self, program: tuple[tuple[int, _Table | None, int], ...], keep: bool = True
    ) -> tuple[Any, Any]:
        """``(program, what the C loop takes)``: each operation with its table's parts
        read once, ``(kind, windows, amount, n, step, window)``; kept per program when
        ``keep`` (:meth:`run_graded`: a rule set's programs are made once, a few entries;
        bounded all the same)."""
        ops = []
        for kind, table, amount in program:
            if kind == 0:
                ops.append((0, None, amount, 1, 1, 0))
            else:
                t: Any = table
                ops.append((kind, t.windows, amount, t.n, t.step, t.window))
        entry = (program, tuple(ops))
        if not keep:
            return entry
        cache = self._prepared
        if len(cache) >= 256:
            cache.clear()
        cache[id(program)] = entry
        return entry

    def _expire_before(
        self, program: tuple[tuple[int, _Table | None, int], ...], at: float
    ) -> None:
        """Expire the calls due at ``at`` when ``program`` adds (as its first add would);
        called under the lock, when some call is due."""
        for op in program:
            if op[0] == 1:
                self._expire(at)
                break

    def _new_window(self, windows: dict[str, list[Any]], key: str, b: int) -> list[Any]:
        w = windows[key] = _new_window(b)
        self._window_count += 1
        return w

    def _counted(self) -> None:
        """The C loop made a window (a ``_fastwin.Window``)."""
        self._window_count += 1

    def _execute(
        self,
        program: tuple[tuple[int, _Table | None, int], ...],
        keys: Any,
        at: float,
        bounds: tuple[Any, ...] | None,
    ) -> list[int] | tuple[list[int], bool]:
        if len(program) != len(keys):
            raise ValueError("one key per operation")
        with self._lock:
            due = self._due
            if due and due[0][0] <= at:
                self._expire_before(program, at)
            native = self._native
            if native is not None and type(keys) is list and type(program) is tuple:
                prepared = self._prepared.get(id(program))
                if prepared is None or prepared[0] is not program:  # not kept: add() and
                    prepared = self._prepare(program, keep=False)  # total() make their own
                done = native(prepared[1], keys, at, self._slots, self._hooks, bounds)
                if done is not None:  # None: an instant the C loop leaves to Python
                    return done
            out = self._loop(program, keys, at)
        if bounds is None:
            return out
        return out, any(value > bound for value, bound in zip(out, bounds, strict=True))

    def _loop(
        self, program: tuple[tuple[int, _Table | None, int], ...], keys: Any, at: float
    ) -> list[int]:
        """run_program's loop in Python (the reference of the C one); under the lock."""
        out: list[int] = []
        append = out.append
        # floor(at / step) for every step: whole seconds (the usual case) divide exactly
        exact = type(at) is int and -(2**53) < at < 2**53
        floor = math.floor
        inf = -math.inf
        slots = self._slots
        for (kind, table, amount), key in zip(program, keys, strict=True):
            if kind == 0:
                s = slots.get(key)
                append(0 if s is None else s.live(at))
                continue
            step = table.step  # type: ignore[union-attr]  # a table for kinds 1 and 2
            b: int = at // step if exact else floor(at / step)  # type: ignore[assignment]
            windows = table.windows  # type: ignore[union-attr]
            w: list[Any] | None = windows.get(key)
            if w is not None and type(w) is not list:  # a window of the C loop: as a list
                w = windows[key] = list(w)
            if w is None:
                if kind == 2:
                    append(0)
                    continue
                w = windows[key] = _new_window(b)
                self._window_count += 1
            n = table.n  # type: ignore[union-attr]
            if w[1] <= b - n:  # _FIRST: a bucket may have left the window
                _evict(w, b - n + 1)
            if kind == 1:
                if w[2] == b and len(w) > 4:  # _LAST: the latest bucket, the common case
                    w[-1] += amount
                    w[0] += amount
                    append(w[0])
                    continue
                if _add(w, b, amount):
                    fresh = w[3] == inf  # _DUE
                    w[3] = (b + n) * step  # bucket(t) >= b + n from then on: b is out
                    if fresh:  # one due entry per window, moved on when it comes
                        self._push((w[3], _WINDOW, (key, table.window, step)))  # type: ignore[union-attr]
            append(w[0] if w[2] <= b else _total(w, b))
        return out

    # -- series --------------------------------------------------------------------------------
    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None:
        """Add ``fields`` to the series bucket holding ``at``; drop buckets older than
        ``keep`` seconds."""
        start = series_start(at, bucket)
        cutoff = series_cutoff(at, keep)
        check_fields(fields)
        with self._lock:
            if self._due and self._due[0][0] <= at:
                self._expire(at)
            s = self._series.get(key)
            if s is None:
                s = self._series[key] = _Series(keep)
            s.keep = keep
            buckets = s.buckets
            if buckets and next(iter(buckets)) < cutoff:
                for old in [b for b in buckets if b < cutoff]:
                    del buckets[old]
            if start < cutoff:
                return
            values = buckets.get(start)
            if values is None:
                values = buckets[start] = {}
                if start > s.last:
                    s.last = start
                    s.due = start + keep
                    self._push((s.due, _SERIES, key))
            for name, amount in fields.items():
                values[name] = values.get(name, 0) + amount

    def series(self, key: str, *, since: float, until: float) -> list[tuple[int, dict[str, int]]]:
        """``[(bucket start, fields)]`` with ``since <= start <= until``, oldest first."""
        with self._lock:
            s = self._series.get(key)
            if s is None:
                return []
            return sorted(
                (start, dict(values))
                for start, values in s.buckets.items()
                if since <= start <= until
            )

    # -- marks -----------------------------------------------------------------------------------
    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> bool:
        """Set the mark until ``at + ttl`` unless it is live; True when this call set it."""
        ttl = check_ttl(ttl)
        with self._lock:
            if self._due and self._due[0][0] <= at:
                self._expire(at)
            held = self._marks.get(key)
            if held is not None and held[0] > at:
                return False
            self._marks[key] = (at + ttl, value)
            self._push((at + ttl, _MARK, key))
            return True

    def marked(self, key: str, *, at: float) -> str | None:
        """The mark's value when live at ``at``."""
        held = self._marks.get(key)
        return held[1] if held is not None and held[0] > at else None

    # -- batches -----------------------------------------------------------------------------------
    def batch(self) -> EagerBatch:
        """A batch: in process there is no round trip to save, so each call runs at once
        (atomic on its own) and ``execute()`` returns the results."""
        return EagerBatch(self)

    def _run(self, ops: list[Op]) -> list[Any]:
        """Run queued calls in order (a fallback batch that found the primary down)."""
        with self._lock:
            return [getattr(self, name)(*args, **kwargs) for name, args, kwargs in ops]

    # -- memory ------------------------------------------------------------------------
    def size(self) -> dict[str, int]:
        """How many entries each kind of state holds (to watch memory): plain counters,
        slot keys, calls, windows, series, marks."""
        with self._lock:
            return {
                "counters": len(self._values),
                "slot_keys": len(self._slots),
                "calls": len(self._calls),
                "windows": self._window_count,
                "series": len(self._series),
                "marks": len(self._marks),
            }

    def _push(self, entry: tuple[float, int, Any]) -> None:
        """Add a due entry; when most entries are stale (released calls: their entries
        stay until their instant), rebuild the heap from the live state."""
        due = self._due
        heapq.heappush(due, entry)
        live = len(self._calls) + self._window_count + len(self._series) + len(self._marks)
        if len(due) > 2 * live + 1024:
            self._rebuild()

    def _rebuild(self) -> None:
        entries: list[tuple[float, int, Any]] = [
            (expires, _CALL, c) for c, (expires, _) in self._calls.items()
        ]
        entries += [
            (w[_DUE], _WINDOW, (k, t.window, t.step))
            for t in self._tables.values()
            for k, w in t.windows.items()
        ]
        entries += [(s.due, _SERIES, k) for k, s in self._series.items()]
        entries += [(expires, _MARK, k) for k, (expires, _) in self._marks.items()]
        heapq.heapify(entries)
        self._due[:] = entries  # the same list: native_decider's decide holds it

    def _expire(self, at: float) -> None:
        """Free what the due entries up to ``at`` name, if it has really expired (an entry
        is stale when its call was extended or its window, series or mark renewed)."""
        due = self._due
        while due and due[0][0] <= at:
            when, what, key = heapq.heappop(due)
            if what == _CALL:
                record = self._calls.get(key)
                if record is not None and record[0] <= at:
                    self._drop_call(key)
            elif what == _WINDOW:
                table = self._tables[key[1:]]
                w = table.windows.get(key[0])
                if w is not None:  # its one due entry
                    if w[_DUE] <= when:
                        del table.windows[key[0]]
                        self._window_count -= 1
                    else:  # its latest bucket moved on since: due later
                        heapq.heappush(due, (w[_DUE], _WINDOW, key))
            elif what == _SERIES:
                s = self._series.get(key)
                if s is not None and s.due == when:
                    if s.last < at - s.keep:
                        del self._series[key]
                    else:  # at the very instant: its last bucket is dropped just after
                        s.due = math.nextafter(at, math.inf)
                        heapq.heappush(due, (s.due, _SERIES, key))
            else:
                mark = self._marks.get(key)
                if mark is not None and mark[0] <= at:
                    del self._marks[key]

    def sweep(self, at: float) -> None:
        """Free everything expired at ``at`` now (it is freed as time passes anyway), and
        rebuild the heap of due instants."""
        with self._lock:
            self._expire(at)
            self._rebuild()
            for k in list(self._slots):
                s = self._slots[k]
                s.purge(at)
                if not s.expiry:
                    del self._slots[k]


def _graded(
    run_graded: Callable[..., tuple[list[int], bool]],
    program: Any,
    bounds: tuple[Any, ...],
    keys: Any,
    at: float,
) -> tuple[list[int], bool]:
    """:meth:`MemoryCounters.run_graded` with its arguments in runner order."""
    return run_graded(program, keys, at, bounds)
