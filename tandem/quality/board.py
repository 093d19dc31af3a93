"""The live quality board: every attempt's outcome recorded in shared counters, scores
per carrier and destination group read back by every node.

Storage (:meth:`tandem.state.Counters.record`): one bucketed series per carrier and
group (``quality:s:CARRIER:GROUP``) and one per carrier over all groups
(``quality:s:CARRIER:*``), each bucket holding integer fields summed over its attempts:
``attempts``, ``answered``, ``effective`` (the NER numerator), ``seconds`` (billable
seconds of the answered ones) and ``pdd0`` ... ``pdd16`` (the fixed PDD histogram,
:data:`tandem.lcr.scores.PDD_EDGES_MS`). Buckets last ``window`` seconds.

The score of carrier ``c`` on group ``g`` at instant ``t`` (:func:`figures`):

* the buckets of the window: those starting in ``[t - window, t]``;
* decay: a bucket starting at ``b`` weighs ``w = 0.5 ** ((t - b) / half_life)`` (1 without
  a half-life); ``A``, ``S``, ``E``, ``D``, ``H_i`` are the weighted sums of attempts,
  answered, effective, seconds and PDD histogram counts (exactly rounded sums,
  :func:`math.fsum`);
* shrinkage toward the carrier's overall figure (the same sums over all its groups:
  ``A_c``, ``S_c``...), with ``k = prior_weight``::

      ASR = (S + k * S_c / A_c) / (A + k)
      NER = (E + k * E_c / A_c) / (A + k)
      ACD = (D + k * D_c / S_c) / (S + k)          (seconds per answered call)
      H'_i = H_i + k * H_c,i / sum(H_c)            (PDD histogram)

  so a group with few attempts reads close to the carrier's overall figure and one with
  many reads its own (the empirical Bayes estimate with a prior worth ``k`` attempts);
  a prior that is undefined (no answered call for ACD, no PDD sample) adds nothing;
* PDD p50 / p95: the 50th / 95th percentile of ``H'``, linear inside its bucket;
* fewer than ``min_attempts`` attempts (raw count) in the window: the score is unknown
  (``known`` False, no figures); the router never ranks an unknown first.

Each attempt is counted once: give its ``call_id`` and a second report of the same
(call, carrier) - a failure seen on the response and again on the failure callback, as
in OpenSIPS qrouting issue #2684 - is ignored (a mark that lasts the window).
"""

from __future__ import annotations

import math
import threading
import weakref
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from tandem.errors import StateUnavailableError
from tandem.lcr.scores import (
    EMPTY_FLOOR_SLOT,
    PDD_EDGES_MS,
    CarrierLook,
    QualityConfig,
    Score,
    empty_floor_slot,
)
from tandem.quality.outcomes import EFFECTIVE, Outcome, outcome_of
from tandem.state import Counters, Gather
from tandem.state.keys import key

__all__ = [
    "ALL_GROUPS",
    "FIELDS",
    "PDD_FIELDS",
    "QualityBoard",
    "Sums",
    "attempt_fields",
    "decay_weight",
    "figures",
    "pdd_bucket",
    "sums",
]

#: The group name of a carrier's overall series (every group together).
ALL_GROUPS = "*"
PDD_FIELDS: tuple[str, ...] = tuple(f"pdd{i}" for i in range(len(PDD_EDGES_MS) - 1))
#: The integer fields of a series bucket, in the order :class:`Sums` keeps them.
FIELDS: tuple[str, ...] = ("attempts", "answered", "effective", "seconds", *PDD_FIELDS)
_PDD_AT = 4  # index of pdd0 in FIELDS
_INDEX = {name: i for i, name in enumerate(FIELDS)}


def pdd_bucket(pdd_ms: float) -> int:
    """The PDD histogram bucket of a post-dial delay in milliseconds (>= 0)."""
    i = bisect_right(PDD_EDGES_MS, pdd_ms) - 1
    return min(max(i, 0), len(PDD_FIELDS) - 1)


def attempt_fields(outcome: Outcome, duration: int, pdd_ms: float | None) -> dict[str, int]:
    """The series fields one attempt adds (zeros left out)."""
    out = {"attempts": 1}
    if outcome is Outcome.ANSWERED:
        out["answered"] = 1
        if duration > 0:
            out["seconds"] = int(duration)
    if outcome in EFFECTIVE:
        out["effective"] = 1
    if pdd_ms is not None:
        out[PDD_FIELDS[pdd_bucket(pdd_ms)]] = 1
    return out


def decay_weight(age: float, half_life: float | None) -> float:
    """The weight of a bucket that started ``age`` seconds ago: ``0.5 ** (age /
    half_life)`` (1 without a half-life)."""
    if half_life is None:
        return 1.0
    return 0.5 ** (max(age, 0.0) / half_life)


class Sums(NamedTuple):
    """A series reduced at one instant: raw ``attempts`` and ``answered`` counts in the
    window and the decayed sum of every field of :data:`FIELDS` (``decayed``)."""

    attempts: int
    answered: int
    decayed: tuple[float, ...]


_EMPTY = Sums(0, 0, (0.0,) * len(FIELDS))


def sums(
    series: Iterable[tuple[int, Mapping[str, int]]], *, at: float, config: QualityConfig
) -> Sums:
    """Reduce ``[(bucket start, fields)]`` at ``at``: buckets starting in ``[at - window,
    at]`` only, each weighed by :func:`decay_weight` of its age; sums exactly rounded
    (:func:`math.fsum`), so the order of the buckets does not matter."""
    since = at - config.window
    half_life = config.half_life
    cols: list[list[float]] | None = None  # built at the first bucket in the window
    attempts = answered = 0
    for start, fields in series:
        if not since <= start <= at:
            continue
        if cols is None:
            cols = [[] for _ in FIELDS]
        w = decay_weight(at - start, half_life)
        attempts += int(fields.get("attempts", 0))
        answered += int(fields.get("answered", 0))
        for name, x in fields.items():
            i = _INDEX.get(name)
            if i is not None and x:
                cols[i].append(w * float(x))
    if not attempts or cols is None:
        return _EMPTY
    return Sums(attempts, answered, tuple(math.fsum(c) if c else 0.0 for c in cols))


def _percentile(hist: Sequence[float], q: float) -> float | None:
    total = math.fsum(hist)
    if total <= 0:
        return None
    target = q * total
    cum = 0.0
    for i, x in enumerate(hist):
        if x > 0 and cum + x >= target:
            lo, hi = PDD_EDGES_MS[i], PDD_EDGES_MS[i + 1]
            return lo + (hi - lo) * ((target - cum) / x)
        cum += x
    return float(PDD_EDGES_MS[-1])


def _shrunk(x: float, n: float, prior: float | None, k: float) -> float | None:
    if prior is None:
        return x / n if n > 0 else None
    return (x + k * prior) / (n + k) if n + k > 0 else None


def figures(group: Sums, carrier: Sums, config: QualityConfig) -> Score:
    """The :class:`~tandem.lcr.scores.Score` of one group from its sums and the carrier's
    overall sums (the module docstring gives the formula)."""
    if group.attempts < config.min_attempts:
        return Score(group.attempts, group.answered, None, None, None, None, None, False)
    k = config.prior_weight
    a, s, e, d = group.decayed[:4]
    ac, sc, ec, dc = carrier.decayed[:4]
    asr = _shrunk(s, a, sc / ac if ac > 0 else None, k)
    ner = _shrunk(e, a, ec / ac if ac > 0 else None, k)
    acd = _shrunk(d, s, dc / sc if sc > 0 else None, k)
    hist = list(group.decayed[_PDD_AT:])
    prior_hist = carrier.decayed[_PDD_AT:]
    prior_total = math.fsum(prior_hist)
    if k > 0 and prior_total > 0:
        hist = [h + k * p / prior_total for h, p in zip(hist, prior_hist, strict=True)]
    return Score(
        group.attempts,
        group.answered,
        asr,
        ner,
        acd,
        _percentile(hist, 0.5),
        _percentile(hist, 0.95),
        True,
    )


class QualityBoard:
    """Live ASR, NER, ACD and PDD per carrier and destination group, kept in shared
    counters (:class:`tandem.state.Counters`: in memory for one node, Redis for many) so
    every node reads the same picture. A :class:`~tandem.lcr.scores.ScoreSource`: give it
    to the router (``Router(table, plan, scores=board)``) for quality floors and live
    ``strategy = "quality"``.

    ``attempt`` once per attempt, with its final answer; ``score`` reads one carrier and
    group; ``look`` (what the router calls) reads several carriers at once, with their
    cooldowns, in one round trip, and reuses what it read for ``refresh`` seconds. When
    shared state cannot be reached (a bare :class:`~tandem.state.RedisCounters`), ``look``
    answers "unknown" for what it could not read and ``cool`` keeps the cooldown on this
    node only, counting each such event in ``unreachable``: routing never fails for
    quality. ``attempt`` and ``score`` raise :class:`~tandem.errors.StateUnavailableError`
    then (use :class:`~tandem.state.FallbackCounters` to keep recording locally).
    """

    def __init__(
        self, counters: Counters, config: QualityConfig | None = None, *, prefix: str = "quality"
    ) -> None:
        self.counters = counters
        self.config = config if config is not None else QualityConfig()
        #: group_of(number) is number[:group_digits] (the router reads it: ScoreSource)
        self.group_digits: int = self.config.group_digits
        self.prefix = prefix
        #: group -> carrier -> (instant read, what was read)
        self._cache: dict[str, dict[str, tuple[float, CarrierLook]]] = {}
        #: (carrier, group) -> (series key, cooldown key), built once each
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}
        #: group -> id(carriers) -> (carriers, from, until, looks): what look answered for
        #: a tuple of carriers, while every look in it would be reused (see look)
        self._memo: dict[str, dict[int, tuple[tuple[str, ...], float, float, list]]] = {}
        #: carrier -> (instant read, its sums over every group): the prior of each group
        self._overall: dict[str, tuple[float, Sums]] = {}
        #: cooldown mark -> (ttl, instant, end): started by cool_later, sent with this
        #: node's next round trip
        self._pending: dict[str, tuple[float, float, float]] = {}
        #: Reads or cooldown marks that found shared state unreachable (a bare
        #: RedisCounters; a FallbackCounters carries on with local counters instead).
        self.unreachable = 0
        #: group -> [True] while the group's kept lists stand; set to [False] when they
        #: are dropped before their time (a read absorbed, a cooldown started, the memo
        #: cleared): see :meth:`look_memo`
        self._live: dict[str, list[bool]] = {}
        #: the routers' floor slots (see watch_groups), held weakly
        self._watchers: list[weakref.ref] = []

    # -- keys ------------------------------------------------------------------------------
    def _series_key(self, carrier: str, group: str) -> str:
        k = self._keys.get((carrier, group))
        if k is None:
            k = self._remember((carrier, group))
        return k[0]

    def _cool_key(self, carrier: str, group: str) -> str:
        k = self._keys.get((carrier, group))
        if k is None:
            k = self._remember((carrier, group))
        return k[1]

    def _remember(self, pair: tuple[str, str]) -> tuple[str, str]:
        """The series and cooldown keys of (carrier, group), built once (bounded memo)."""
        keys = self._keys
        if len(keys) >= 65536:
            keys.clear()
        k = keys[pair] = (key(self.prefix, "s", *pair), key(self.prefix, "cool", *pair))
        return k

    def group_of(self, number: str) -> str:
        """The destination group of a number: its first ``group_digits`` digits."""
        return number[: self.group_digits]

    # -- writing ---------------------------------------------------------------------------
    def attempt(
        self,
        carrier: str,
        group: str,
        *,
        at: float,
        sip_code: int | str,
        pdd_ms: float | None = None,
        duration: int = 0,
        call_id: str | None = None,
    ) -> Outcome | None:
        """Record one attempt's final outcome: ``sip_code`` is its final SIP response (or a
        CDR disposition, :func:`~tandem.quality.outcomes.classify`), ``duration`` its
        billable seconds, ``pdd_ms`` its post-dial delay. With ``call_id`` a second report
        of the same (call, carrier) within the window is ignored (returns None); else the
        outcome recorded. :class:`ValueError` for an answer that is not final or a
        negative PDD or duration."""
        outcome = outcome_of(sip_code, duration)
        if duration < 0:
            raise ValueError(f"duration must be >= 0 seconds, not {duration!r}")
        if pdd_ms is not None and not (math.isfinite(pdd_ms) and pdd_ms >= 0):
            raise ValueError(f"pdd_ms must be >= 0 milliseconds, not {pdd_ms!r}")
        c = self.config
        if call_id is not None:
            seen = key(self.prefix, "seen", call_id, carrier)
            if not self.counters.mark(seen, ttl=float(c.window), at=at):
                return None
        fields = attempt_fields(outcome, duration, pdd_ms)
        batch = self.counters.batch()
        self._queue_writes(batch)
        for g in (group, ALL_GROUPS) if group != ALL_GROUPS else (group,):
            batch.record(
                self._series_key(carrier, g), fields, at=at, bucket=c.bucket, keep=c.window
            )
        batch.execute()
        return outcome

    # -- reading ---------------------------------------------------------------------------
    def score(self, carrier: str, group: str, *, at: float) -> Score | None:
        """The carrier's score on ``group`` at ``at`` (None: no attempt in the window), read
        from shared state now (no reuse)."""
        batch = self.counters.batch()
        since = at - self.config.window
        batch.series(self._series_key(carrier, group), since=since, until=at)
        batch.series(self._series_key(carrier, ALL_GROUPS), since=since, until=at)
        own, overall = batch.execute()
        return self._score(own, overall, at)

    def _score(self, own: Sequence, overall: Sequence, at: float) -> Score | None:
        g = sums(own, at=at, config=self.config)
        if not g.attempts:
            return None
        return figures(g, sums(overall, at=at, config=self.config), self.config)

    def look(self, carriers: Sequence[str], group: str, *, at: float) -> list[CarrierLook]:
        """Score and cooldown of each carrier on ``group`` (the router's read): what this
        node read less than ``refresh`` seconds before ``at`` is reused, the rest is read in
        one batch (one round trip). Given a tuple of carriers, the list it answers is kept
        and handed back again (the same object: do not modify it) while every look in it
        would be reused, so that a caller can tell by identity that nothing changed."""
        memo = self._memo.get(group)
        if memo is not None:
            hit = memo.get(id(carriers))
            if hit is not None and hit[0] is carriers and hit[1] <= at < hit[2]:
                return hit[3]
        out, missing = self._cached(carriers, group, at)
        if missing:
            batch = self.counters.batch()
            self._queue_writes(batch)
            start = len(batch)  # type: ignore[arg-type]  # both batch kinds have __len__
            stale = self._queue_reads(batch, carriers, missing, group, at)
            try:
                results = batch.execute()
            except StateUnavailableError:
                return self._unreachable(out)
            out = self._absorb(out, missing, stale, results[start:], carriers, group, at)  # type: ignore[assignment]
        if type(carriers) is tuple and self.config.refresh > 0:
            self._keep(carriers, group, out)  # type: ignore[arg-type]  # every entry is set
        return out  # type: ignore[return-value]  # every entry is set

    def look_memo(
        self, carriers: tuple[str, ...], group: str, *, at: float
    ) -> tuple[list[CarrierLook], float, float, list[bool]]:
        """:meth:`look`, and ``(from, until, live)``: :meth:`look` of the same tuple and
        group answers this same list at every instant in ``[from, until)`` while
        ``live[0]`` is True (``from == until``: not kept), so that a caller may keep what
        it derived from the list and skip asking. ``live`` is the group's: a change to
        another group leaves it alone."""
        looks = self.look(carriers, group, at=at)
        memo = self._memo.get(group)
        hit = memo.get(id(carriers)) if memo is not None else None
        live = self._live.get(group)
        if hit is not None and live is not None and hit[0] is carriers and hit[3] is looks:
            return looks, hit[1], hit[2], live
        return looks, at, at, _DEAD

    def watch_groups(self, slots: array, digits: int) -> None:
        """Empty ``slots``' slot of a group whenever the group's kept lists are dropped
        (right after look_memo's ``live[0]`` turns False): ``slots`` (an ``array("q")``)
        holds ``2 * 10**digits`` int64s, the pair at ``2 * int(group)`` for a group of
        exactly ``digits`` digits without a leading zero (the router's floor slots, see
        :class:`~tandem.lcr.router.Router`); an empty slot is ``EMPTY_FLOOR_SLOT``. Held
        weakly: a router's slots go with it."""
        if len(slots) != 2 * 10**digits:
            raise ValueError(f"floor slots of {digits} digits hold {2 * 10**digits} int64s")
        with _WATCH_LOCK:
            self._watchers = [w for w in self._watchers if w() is not None]
            self._watchers.append(weakref.ref(slots))

    def _empty_slots(self, group: str | None) -> None:
        """Empty ``group``'s slot in every watcher's floor slots (None: every slot)."""
        for ref in list(self._watchers):
            slots = ref()
            if slots is None:
                continue
            if group is None:
                slots[:] = _EMPTY_SLOTS * (len(slots) // 2)
            else:
                empty_floor_slot(slots, group)

    def _drop_memo(self, group: str) -> None:
        """Forget the lists kept for ``group`` (and say so to look_memo's callers and the
        watched floor slots)."""
        self._memo.pop(group, None)
        live = self._live.pop(group, None)
        if live is not None:
            live[0] = False
            if self._watchers:
                self._empty_slots(group)

    def _keep(self, carriers: tuple[str, ...], group: str, looks: list[CarrierLook]) -> None:
        """Keep ``looks`` for :meth:`look` while every one of them would be reused: from the
        latest to the earliest read instant plus ``refresh``."""
        cache = self._cache[group]
        instants = [cache[c][0] for c in carriers]
        if not instants:
            return
        memo = self._memo.get(group)
        if memo is None:
            if len(self._memo) >= 65536:
                self._memo.clear()
                for live in self._live.values():
                    live[0] = False
                self._live.clear()
                if self._watchers:
                    self._empty_slots(None)
            memo = self._memo[group] = {}
            self._live[group] = [True]
        elif len(memo) >= 256:
            self._drop_memo(group)
            memo = self._memo[group] = {}
            self._live[group] = [True]
        memo[id(carriers)] = (
            carriers, max(instants), min(instants) + self.config.refresh, looks
        )  # fmt: skip

    def queue_look(
        self, carriers: Sequence[str], group: str, *, at: float, gather: Gather
    ) -> _LookQueued:
        """The first half of :meth:`look` for a decision that gathers every part's reads
        into one round trip (:class:`~tandem.state.Gather`): the cooldowns this node
        started since its last round trip (:meth:`cool_later`) and the reads :meth:`look`
        would make are queued on ``gather``'s batch of this board's counters. Execute the
        gather, then :meth:`finish_look` with what this returned."""
        out, missing = self._cached(carriers, group, at)
        if not missing and not self._pending:
            return _LookQueued(out, missing, [], carriers, group, at, 0)
        batch = gather.batch(self.counters)
        self._queue_writes(batch)
        start = len(batch)  # type: ignore[arg-type]  # both batch kinds have __len__
        stale = self._queue_reads(batch, carriers, missing, group, at) if missing else []
        return _LookQueued(out, missing, stale, carriers, group, at, start)

    def finish_look(self, queued: _LookQueued, gather: Gather) -> list[CarrierLook]:
        """The second half of :meth:`look`: every carrier's score and cooldown, from the
        cache and the executed ``gather``'s answers."""
        out, missing, stale, carriers, group, at, start = queued
        if not missing:
            return out  # type: ignore[return-value]  # every entry was found
        answers = gather.results(self.counters)
        if answers is None:
            return self._unreachable(out)
        return self._absorb(out, missing, stale, answers[start:], carriers, group, at)

    def _cached(
        self, carriers: Sequence[str], group: str, at: float
    ) -> tuple[list[CarrierLook | None], list[int]]:
        """What the cache holds for each carrier (None: to read), and the indexes to read."""
        refresh = self.config.refresh
        cache = self._cache.get(group)
        if cache is None:
            cache = self._cache.setdefault(group, {})
        get = cache.get
        out: list[CarrierLook | None] = []
        missing: list[int] = []
        for carrier in carriers:
            hit = get(carrier)
            if hit is not None and hit[0] <= at < hit[0] + refresh:
                out.append(hit[1])
            else:
                missing.append(len(out))
                out.append(None)
        return out, missing

    def _queue_reads(
        self, batch: Any, carriers: Sequence[str], missing: list[int], group: str, at: float
    ) -> list[str]:
        """Queue the series and cooldown reads of the ``missing`` carriers, then the
        overall series of those whose prior is stale; the stale carriers."""
        refresh = self.config.refresh
        since = at - self.config.window
        overall_get = self._overall.get
        stale: list[str] = []
        for i in missing:
            carrier = carriers[i]
            batch.series(self._series_key(carrier, group), since=since, until=at)
            batch.marked(self._cool_key(carrier, group), at=at)
            prior = overall_get(carrier)
            fresh = prior is not None and prior[0] <= at < prior[0] + refresh
            if not fresh and carrier not in stale:
                stale.append(carrier)
        for carrier in stale:
            batch.series(self._series_key(carrier, ALL_GROUPS), since=since, until=at)
        return stale

    def _absorb(
        self,
        out: list[CarrierLook | None],
        missing: list[int],
        stale: list[str],
        results: Sequence,
        carriers: Sequence[str],
        group: str,
        at: float,
    ) -> list[CarrierLook]:
        """Fill ``out`` from the answers of :meth:`_queue_reads` (and cache them)."""
        config = self.config
        cache = self._cache.setdefault(group, {})
        self._drop_memo(group)
        read = 2 * len(missing)
        for k, carrier in enumerate(stale):
            self._overall[carrier] = (at, sums(results[read + k], at=at, config=config))
        for j, i in enumerate(missing):
            own = sums(results[2 * j], at=at, config=config)
            score = figures(own, self._overall[carriers[i]][1], config) if own.attempts else None
            found = CarrierLook(score, _until(results[2 * j + 1], at))
            cache[carriers[i]] = (at, found)
            out[i] = found
        return out  # type: ignore[return-value]  # every entry is set now

    def _unreachable(self, out: list[CarrierLook | None]) -> list[CarrierLook]:
        # Routing goes on without live quality: unknown scores, no cooldowns (floors
        # inert, strategy "quality" on the plan's map); counted, never raised.
        self.unreachable += 1
        return [o if o is not None else _UNKNOWN for o in out]

    def _queue_writes(self, batch: Any) -> None:
        """Queue the cooldown marks :meth:`cool_later` kept for this node's next round
        trip (their answers are not read)."""
        pending = self._pending
        if pending:
            self._pending = {}
            for mark, (ttl, at, until) in pending.items():
                batch.mark(mark, ttl=ttl, at=at, value=repr(until))

    def cool(self, carrier: str, group: str, *, seconds: float, at: float) -> float:
        """Start a cooldown of ``seconds`` for the carrier on ``group`` (shared by every
        node) unless one runs; return the instant it ends."""
        if seconds <= 0:
            return at
        mark = self._cool_key(carrier, group)
        until = at + seconds
        try:
            if not self.counters.mark(mark, ttl=float(seconds), at=at, value=repr(until)):
                running = _until(self.counters.marked(mark, at=at), at)
                until = running if running is not None else until
        except StateUnavailableError:  # this node still cools the carrier down
            self.unreachable += 1
        self._cooled(carrier, group, until)
        return until

    def cool_later(self, carrier: str, group: str, *, seconds: float, at: float) -> float:
        """:meth:`cool` without a round trip of its own: the cooldown starts on this node
        at once (its cached look says so) and its shared mark goes with this node's next
        round trip (the next gathered decision's, a :meth:`look` miss or an
        :meth:`attempt`); other nodes see it from then on, when their cache of the group
        is refreshed. As with :meth:`cool`, a cooldown another node already started is
        kept (the mark is set only if absent). Return the instant it ends (on this node)."""
        if seconds <= 0:
            return at
        until = at + seconds
        pending = self._pending
        if len(pending) >= 65536:  # bounded: a node that never makes a round trip again
            pending.clear()
        pending[self._cool_key(carrier, group)] = (float(seconds), at, until)
        self._cooled(carrier, group, until)
        return until

    def _cooled(self, carrier: str, group: str, until: float) -> None:
        self._drop_memo(group)
        cache = self._cache.get(group)
        hit = cache.get(carrier) if cache is not None else None
        if cache is not None and hit is not None:
            cache[carrier] = (hit[0], hit[1]._replace(cooling_until=until))


class _LookQueued(NamedTuple):
    """What :meth:`QualityBoard.queue_look` hands to :meth:`QualityBoard.finish_look`."""

    out: list[CarrierLook | None]
    missing: list[int]
    stale: list[str]
    carriers: Sequence[str]
    group: str
    at: float
    start: int


_UNKNOWN = CarrierLook(None, None)
_DEAD = [False]  # look_memo's answer for a list it does not keep
_EMPTY_SLOTS = array("q", EMPTY_FLOOR_SLOT)  # an empty floor slot (see watch_groups)
_WATCH_LOCK = threading.Lock()


def _until(value: str | None, at: float) -> float | None:
    """The end of a cooldown from its mark's value (the mark exists: at least just after
    ``at``)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return at + 1e-9
