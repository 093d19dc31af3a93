"""Traffic replay: every call routed at its own instant, worked through its routes, priced.

:func:`replay` takes canonical CDRs (:mod:`tandem.rating.cdr`: ``start``, ``duration``,
``number``, ``customer``, optional ``call_id``), a :class:`~tandem.sim.world.World` (the
rates and tables in force) and a :class:`~tandem.sim.scenario.Scenario`, and:

1. routes the calls in batches with :func:`tandem.lcr.batch.route_batch`, each run of
   calls with the table in force at their start (:meth:`World.segments`);
2. gives every attempt its failure code from the scenario: an outage's code while its
   carrier is down; a quality collapse's code with probability ``1 - asr`` (a seeded draw
   per call and route position: :func:`uniform_draws`, the same for a call whatever
   table routes it, so a what-if compares like with like);
3. works each call through its routes (:func:`tandem.sim.attempts.play_attempts`:
   failover codes, capacity over simulated time);
4. prices the carried calls on both sides with the world's
   :class:`~tandem.rating.Rater` (answered calls only; the CDR's own duration).

**Outcome model.** A call's own outcome is its CDR's: answered (duration > 0) or not.
An attempt on a healthy carrier gets that outcome: an answered call is carried for its
duration, an unanswered one ends there unanswered (the callee's busy or no answer; no
failover). Only scripted events make attempts fail. For generated traffic
(:func:`tandem.sim.generate_traffic`) the outcomes are the profile's seeded draws
(answered with the carrier's ASR on the destination, durations around its ACD).

Nothing is lost: every call ends ``carried``, ``unanswered``, ``failed``,
``routes_exhausted``, ``capacity`` or blocked with the router's reason (or
``bad_time`` / ``bad_duration`` when the CDR has no usable start or duration).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import ConfigError
from tandem.sim.attempts import BLOCKED, CARRIED, Attempts, play_attempts
from tandem.sim.scenario import Scenario
from tandem.sim.world import World

__all__ = ["Replay", "replay", "uniform_draws", "destination_keys"]

_MASK64 = (1 << 64) - 1


@dataclass
class Replay:
    """The replayed calls, in start order (bad rows last).

    ``carriers``: every carrier name met (the index space of ``routes`` and
    ``attempts.carrier``); ``reason``: per call, the block reason (``""`` unless blocked);
    ``dest_key``/``dest_len``: the customer's sell prefix (digits as an integer, and its
    length; 0 when none); ``priced``: the carried calls priced by the rating module, with
    ``row`` (their position here)."""

    start: np.ndarray
    duration: np.ndarray
    customer: pa.Array
    carriers: tuple[str, ...]
    routes: np.ndarray
    attempts: Attempts
    reason: np.ndarray
    dest_key: np.ndarray
    dest_len: np.ndarray
    priced: pa.Table
    count: int


def uniform_draws(seed: int, calls: np.ndarray, width: int) -> np.ndarray:
    """Uniform [0, 1) draws for (call, route position): splitmix64 of ``seed``, the call's
    number and the position; the same for a call whatever its segment or table."""
    with np.errstate(over="ignore"):
        x = (
            np.uint64(seed & _MASK64) * np.uint64(0x9E3779B97F4A7C15)
            + calls.astype(np.uint64)[:, None] * np.uint64(64)
            + np.arange(width, dtype=np.uint64)[None, :]
        )
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def destination_keys(normalized: pa.Array, length: np.ndarray) -> np.ndarray:
    """The first ``length[i]`` digits of each normalized number as an integer (0 where
    ``length`` is 0), vectorised: the number cast to an integer, divided by the power of
    ten of the digits past the prefix."""
    n = len(normalized)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    has = length > 0
    text = pc.if_else(pa.array(has), pc.fill_null(normalized, "0"), "0")
    value = pc.cast(text, pa.int64()).to_numpy()
    digits = pc.utf8_length(text).to_numpy().astype(np.int64)
    drop = np.clip(digits - length, 0, 18)
    return np.where(has, value // 10**drop, 0)


class _Texts(Sequence[str | None]):
    """A string array as a sequence of Python strings, converted one item at a time when
    read (batch routing reads the call ids of the few calls it hands to the router)."""

    def __init__(self, array: pa.Array) -> None:
        self._array = array

    def __len__(self) -> int:
        return len(self._array)

    @overload
    def __getitem__(self, i: int) -> str | None: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str | None]: ...
    def __getitem__(self, i: int | slice) -> str | None | Sequence[str | None]:
        if isinstance(i, slice):
            return self._array[i].to_pylist()
        value = self._array[i].as_py()
        return value if isinstance(value, str) else None


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _pad(parts: list[np.ndarray], width: int, fill: int) -> np.ndarray:
    out = []
    for p in parts:
        if p.shape[1] < width:
            extra = np.full((p.shape[0], width - p.shape[1]), fill, dtype=p.dtype)
            p = np.concatenate([p, extra], axis=1)
        out.append(p)
    return np.concatenate(out) if out else np.zeros((0, width), dtype=np.int32)


def replay(
    cdrs: pa.Table,
    world: World,
    scenario: Scenario | None = None,
    *,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> Replay:
    """Replay canonical CDRs in ``world`` under ``scenario`` (see the module docstring)."""
    from tandem.lcr.batch import REASON_KINDS, route_batch
    from tandem.lcr.router import Router

    scenario = scenario or Scenario()
    n_all = cdrs.num_rows
    start_col = _column(cdrs, "start")
    dur_col = _column(cdrs, "duration")
    ok = pc.and_(pc.is_valid(start_col), pc.is_valid(dur_col))
    ok = pc.and_(ok, pc.greater_equal(pc.fill_null(dur_col, 0), 0)).to_numpy(zero_copy_only=False)
    bad_time = ~start_col.is_valid().to_numpy(zero_copy_only=False)
    good = np.flatnonzero(ok)
    start_all = pc.fill_null(start_col, 0).to_numpy().astype(np.int64)
    order = good[np.argsort(start_all[good], kind="stable")]
    rows = np.concatenate([order, np.flatnonzero(~ok)])
    n = len(order)
    start = start_all[rows]
    duration = pc.fill_null(dur_col, 0).to_numpy().astype(np.int64)[rows]
    numbers = _column(cdrs, "number").take(pa.array(order))
    customer = pc.fill_null(_column(cdrs, "customer").cast(pa.string()), "").take(pa.array(rows))
    call_ids = None
    if "call_id" in cdrs.column_names:
        call_ids = pc.fill_null(_column(cdrs, "call_id").cast(pa.string()), "").take(
            pa.array(order)
        )

    names: dict[str, int] = {}
    route_parts: list[np.ndarray] = []
    reasons: list[np.ndarray] = []
    normalized: list[pa.Array] = []
    sell_len: list[np.ndarray] = []
    caps: dict[int, int] = {}
    failover_sets: dict[int, set[int]] = {}
    routers: dict[int, Router] = {}
    kinds = np.asarray(REASON_KINDS, dtype=object)
    for seg in world.segments(start[:n]):
        table = seg.table
        router = routers.get(id(table))
        if router is None:
            router = routers[id(table)] = Router(table, plan=world.config)
        at = start[seg.lo : seg.hi]
        if seg.fixed:  # a table file (or --at) routes every call as if in force then
            at = np.clip(at, table.valid_from, max(table.valid_from, table.valid_until - 1))
        dec = route_batch(
            router,
            numbers.slice(seg.lo, seg.hi - seg.lo),
            customers=customer.slice(seg.lo, seg.hi - seg.lo),
            at=at,
            call_ids=None if call_ids is None else _Texts(call_ids.slice(seg.lo, seg.hi - seg.lo)),
        )
        to_global = np.asarray([names.setdefault(c, len(names)) for c in dec.carriers] + [-1])
        rc = np.asarray(dec.route_carrier, dtype=np.int64)
        route_parts.append(to_global[np.where(rc >= 0, rc, -1)].astype(np.int32))
        reason = kinds[np.asarray(dec.reason_kind, dtype=np.int64)]
        reason[~np.asarray(dec.blocked, dtype=bool)] = ""
        reasons.append(reason)
        normalized.append(pa.array(dec.normalized, pa.string()))
        sell_len.append(np.asarray(dec.sell_prefix_len, dtype=np.int64))
        config = router.config
        for c in dec.carriers:
            policy = config.carrier(c)
            g = names[c]
            if policy.max_concurrent is not None:
                caps[g] = int(policy.max_concurrent)
            failover_sets[g] = set(policy.failover_codes)
        if on_progress is not None:
            on_progress(seg.hi - seg.lo)

    carriers = tuple(names)
    width = max([p.shape[1] for p in route_parts] + [1])
    routes = _pad(route_parts, width, -1)
    norm = pa.concat_arrays(normalized) if normalized else pa.array([], pa.string())
    lengths = np.concatenate(sell_len) if sell_len else np.zeros(0, np.int64)
    fail_code = _fail_codes(scenario, carriers, routes, start[:n], norm, seed, order)
    failover = np.zeros(routes.shape, dtype=bool)
    for code in np.unique(fail_code[fail_code > 0]).tolist():
        ok_carrier = np.asarray(
            [code in failover_sets.get(g, ()) for g in range(len(carriers))] + [False]
        )
        hit = fail_code == code
        failover[hit] = ok_carrier[routes[hit]]
    answered = duration[:n] > 0
    attempts = play_attempts(routes, start[:n], duration[:n], answered, fail_code, failover, caps)
    # the rows the reader could not use: blocked with their reason, never routed
    extra = n_all - n
    if extra:
        attempts = Attempts(
            np.concatenate([attempts.end, np.full(extra, BLOCKED, np.int8)]),
            np.concatenate([attempts.carrier, np.full(extra, -1, np.int32)]),
            np.concatenate([attempts.final, np.full(extra, -1, np.int64)]),
            *(
                np.concatenate([m, np.zeros((extra, width), bool)])
                for m in (attempts.attempted, attempts.failed_over, attempts.skipped)
            ),
        )
        routes = np.concatenate([routes, np.full((extra, width), -1, np.int32)])
    bad = np.where(bad_time[rows[n:]], "bad_time", "bad_duration").astype(object)
    reason = np.concatenate([*reasons, bad]) if reasons else bad
    dest_len = np.concatenate([lengths, np.zeros(extra, np.int64)])
    dest_key = np.concatenate([destination_keys(norm, lengths), np.zeros(extra, np.int64)])
    priced = _price(world, attempts, carriers, start, duration, norm, customer, call_ids)
    return Replay(
        start, duration, customer, carriers, routes, attempts, reason, dest_key, dest_len,
        priced, n_all,
    )  # fmt: skip


def _fail_codes(
    scenario: Scenario,
    carriers: tuple[str, ...],
    routes: np.ndarray,
    start: np.ndarray,
    normalized: pa.Array,
    seed: int,
    call_numbers: np.ndarray,
) -> np.ndarray:
    """Each attempt's SIP failure code from the scripted outages and quality collapses."""
    index = {c: i for i, c in enumerate(carriers)}
    named = [o.carrier for o in scenario.outages] + [d.carrier for d in scenario.drops]
    for name in named:
        if name not in index:
            raise ConfigError(
                f"the scenario names carrier {name!r}, which routes none of the calls "
                f"(carriers: {', '.join(carriers) or 'none'})"
            )
    code = np.zeros(routes.shape, dtype=np.int32)
    for o in scenario.outages:
        when = ((start >= o.down_from) & (start < o.down_until))[:, None]
        code[(code == 0) & when & (routes == index[o.carrier])] = o.code
    if scenario.drops:
        draws = uniform_draws(seed, call_numbers, routes.shape[1])
        for d in scenario.drops:
            when = (start >= d.start) & (start < d.until)
            under = pc.starts_with(pc.fill_null(normalized, ""), d.prefix)
            rows = (when & under.to_numpy(zero_copy_only=False))[:, None]
            hit = (code == 0) & rows & (routes == index[d.carrier]) & (draws >= d.asr)
            code[hit] = d.code
    return code


def _price(
    world: World,
    attempts: Attempts,
    carriers: tuple[str, ...],
    start: np.ndarray,
    duration: np.ndarray,
    normalized: pa.Array,
    customer: pa.Array,
    call_ids: pa.Array | None,
) -> pa.Table:
    """The carried calls priced on both sides by the rating module, with their ``row``."""
    carried = np.flatnonzero(attempts.end == CARRIED)
    idx = pa.array(carried)
    names = pa.array(list(carriers) or [""], pa.string())
    table = pa.table(
        {
            "row": pa.array(carried, pa.int64()),
            "start": pa.array(start[carried], pa.int64()),
            "duration": pa.array(duration[carried], pa.int64()),
            "number": normalized.take(idx),
            "customer": customer.take(idx),
            "carrier": names.take(pa.array(attempts.carrier[carried].astype(np.int64))),
        }
    )
    if call_ids is not None:
        table = table.append_column("call_id", call_ids.take(idx))
    return world.rater().price(table)
