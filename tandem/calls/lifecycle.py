"""The call lifecycle: the one object a proxy holds (:class:`Calls`) and one per call
(:class:`Call`).

::

    calls = Calls(router, counters=counters, fraud=engine, quality=board, store=store)
    call = calls.route("+442071234567", customer="acme", at=t)   # decision + fraud + credit
    if call.admit(at=t) is None:                                  # slots taken, or refused
        for route in call.decision.routes:
            if not call.attempt(route.carrier, at=t):             # carrier at capacity
                continue
            ...                                                   # send the INVITE
            call.failed(route.carrier, 503, at=t1, pdd_ms=900)    # next route...
            call.answered(route.carrier, at=t2, pdd_ms=1200)      # ...or answered
            break
    call.end(at=t3)                                               # release, quality, price

**route** asks the :class:`~tandem.lcr.Router`, then the fraud rules
(:class:`~tandem.fraud.FraudEngine`: block, the decision has no routes and names the rule;
flag, routes with the verdicts), then the credit limit: a customer with a credit account
(:mod:`tandem.calls.credit`) at its limit is blocked (rule ``credit_limit``), otherwise the
decision carries ``max_duration``, the seconds its remaining credit buys at its sell terms.

**admit** takes the call's concurrent-call slots in one atomic step
(:meth:`~tandem.state.Counters.acquire`): customer, customer trunk and destination group,
capped by the fraud rules' ``concurrent`` critical levels (:meth:`FraudEngine.admission_limits`)
or by :class:`Caps`. **attempt** takes a slot of the carrier (capped by its
``max_concurrent``; the router's capacity check reads the same key), **failed** frees it
and records the attempt's outcome for quality, **answered** marks the answer. Slots live
``ttl`` seconds unless released, so a crashed proxy never leaks capacity.

**end** (also for a CANCEL, a busy or a failed call) releases every slot, records the
answered attempt (or the cancelled one, SIP 487) for quality, once, prices the call with
the rating module's exact cost rule (:func:`~tandem.rating.tariff.cost_scaled`), feeds the
spend windows of the fraud rules and charges the credit account, with the sell tariff
:func:`~tandem.rating.price_call` would use (tariff plan grace, tiers and periods too). It
is idempotent: a second or late end changes nothing and says so (``first=False``; on this
node it repeats the first end's figures), whichever node it reaches (a shared mark per
call).

When the shared state fell back to local counters (:class:`~tandem.state.FallbackCounters`)
the decision's notes say so; nothing raises.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tandem.calls.credit import CreditBook, SellTerms, max_duration, max_tariff_duration
from tandem.errors import StateUnavailableError
from tandem.fraud.facts import CallFacts, FraudResult, Verdict
from tandem.fraud.keys import prefix_of
from tandem.instant import format_instant
from tandem.lcr.router import Decision, Router
from tandem.money import Rounding, format_money
from tandem.rating.book import MAX_DURATION
from tandem.rating.tariff import Tariff, cost_scaled, flat_intervals
from tandem.state.fallback import FALLBACK_NOTE
from tandem.state.gather import Gather
from tandem.state.keys import carrier_calls_key, key

if TYPE_CHECKING:
    from tandem.fraud.engine import FraudEngine
    from tandem.lcr.scores import CarrierLook
    from tandem.quality import QualityBoard
    from tandem.state import Counters
    from tandem.store import CreditAccount, Store

__all__ = [
    "Call",
    "CallDecision",
    "CallEnd",
    "Calls",
    "Caps",
    "LOCAL_COUNTERS_NOTE",
    "UNREACHABLE_CREDIT_NOTE",
    "credit_spent_key",
]

#: The note a decision carries when the shared state was unreachable and local counters
#: were used instead (:data:`tandem.state.FALLBACK_NOTE`).
LOCAL_COUNTERS_NOTE = FALLBACK_NOTE
#: The note of a decision whose credit check could not read the shared spend counter.
UNREACHABLE_CREDIT_NOTE = "shared state unreachable: credit from the last spend this node read"
#: SIP code recorded for an attempt that was outstanding when the call ended unanswered
#: (the caller hung up: CANCEL, 487 Request Terminated).
CANCELLED = 487
_NO_VERDICTS: tuple[Verdict, ...] = ()
_READ_NOW = object()  # the credit limit reads the shared spend counter itself
_new_tuple = tuple.__new__  # a CallFacts from its nine fields, without NamedTuple's __new__
_new_object = object.__new__  # a Call or CallDecision whose __init__ _conclude does inline


def credit_spent_key(customer: str) -> str:
    """The shared counter of a customer's ended calls' cost (scaled; only grows)."""
    return key("credit", customer, "spent")


@dataclass(frozen=True)
class Caps:
    """Concurrent calls admitted per customer, per customer trunk and per destination group
    (the first ``group_digits`` digits of the number); None: no cap. Used when no fraud
    engine gives the caps (its ``concurrent`` rule's critical levels)."""

    customer: int | None = None
    trunk: int | None = None
    group: int | None = None
    group_digits: int = 3

    def limits(self, customer: str, trunk: str | None, number: str) -> dict[str, int]:
        """Counter key -> cap, for the slots a call of ``customer`` to ``number`` takes."""
        from tandem.fraud.keys import concurrent_key

        out: dict[str, int] = {}
        if self.customer is not None:
            out[concurrent_key("customer", customer)] = self.customer
        if self.trunk is not None and trunk:
            out[concurrent_key("trunk", trunk)] = self.trunk
        if self.group is not None:
            out[concurrent_key("group", prefix_of(number, self.group_digits))] = self.group
        return out


class CallDecision:
    """A routing :class:`~tandem.lcr.Decision` with what the lifecycle added: the fraud
    ``verdicts`` (flag and block, and ``credit_limit``), ``max_duration`` (seconds the
    customer's remaining credit buys; None without a credit account) and ``notes``. Every
    attribute of the routing decision reads through (``routes``, ``blocked``, ``reason``...);
    a call blocked here has no routes and ``reason`` names the rule."""

    __slots__ = ("decision", "verdicts", "max_duration", "extra_notes", "credit", "_looks")

    # (Calls._conclude makes these without __init__: keep the two in step)

    def __init__(
        self,
        decision: Decision,
        verdicts: tuple[Verdict, ...],
        max_duration: int | None,
        notes: tuple[str, ...],
        credit: int | None,
        looks: Any = None,
    ) -> None:
        self.decision = decision
        self.verdicts = verdicts
        self.max_duration = max_duration
        self.extra_notes = notes
        #: The remaining credit (scaled) the decision was made with (None: no account).
        self.credit = credit
        self._looks = looks

    def __getattr__(self, name: str) -> Any:
        return getattr(self.decision, name)

    @property
    def notes(self) -> tuple[str, ...]:
        """The routing decision's notes, then the lifecycle's."""
        return self.decision.notes + self.extra_notes

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``tandem route --json`` with ``max_duration``, ``fraud`` (the
        verdicts) and ``notes`` added (every field of the routing decision kept)."""
        out = self.decision.to_dict()
        out["max_duration"] = self.max_duration
        out["fraud"] = [v.to_dict() for v in self.verdicts]
        notes = self.notes
        if notes:
            out["notes"] = list(notes)
        if self.credit is not None:
            out["credit"] = format_money(self.credit)
        return out

    def to_json(self) -> str:
        """One JSON object (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict())

    def explain(self) -> str:
        """The routing decision's explanation, then which fraud rule flagged or blocked the
        call, the credit left and what it buys, and each carrier's live quality score."""
        lines = [self.decision.explain()]
        lines.extend(f"note: {n}" for n in self.extra_notes)
        for v in self.verdicts:
            evidence = ", ".join(f"{k}={val}" for k, val in v.evidence.items())
            lines.append(f"fraud rule {v.rule}: {v.action.upper()} ({evidence})")
        if self.credit is not None:
            lines.append(
                f"credit left {format_money(self.credit)}: buys "
                f"{self.max_duration} s at the sell rate (max_duration)"
            )
        if self._looks is not None:
            group, looks = _quality_looks(*self._looks)
            for carrier, look in looks:
                lines.append(f"quality {carrier} on group {group}: {_look_text(look)}")
        return "\n".join(lines)


def _quality_looks(
    board: QualityBoard, decision: Decision, number: str, at: float
) -> tuple[str, list[tuple[str, CarrierLook]]]:
    """For explain: the quality board's look at every carrier of the decision (read when
    explain asks, not on every decision)."""
    group = board.group_of(number)
    names = [r.carrier for r in decision.routes] + [d.carrier for d in decision.dropped]
    return group, list(zip(names, board.look(names, group, at=at), strict=True))


def _look_text(look: CarrierLook) -> str:
    score = look.score
    if score is None:
        text = "no calls in the window"
    elif not score.known:
        text = f"unknown ({score.attempts} attempts, below the minimum)"
    else:
        parts = [f"{score.attempts} attempts", f"ASR {score.asr:.3f}", f"NER {score.ner:.3f}"]
        if score.acd is not None:
            parts.append(f"ACD {score.acd:.0f} s")
        if score.pdd_p50 is not None:
            parts.append(f"PDD p50 {score.pdd_p50:.0f} ms")
        text = ", ".join(parts)
    if look.cooling_until is not None:
        text += f"; cooling down until {format_instant(int(look.cooling_until))}"
    return text


@dataclass(frozen=True, slots=True)
class CallEnd:
    """What :meth:`Call.end` did: the call's billed seconds and cost (scaled, at the
    customer's sell terms; None when unpriced), the carrier that answered (None: never
    answered), whether this end freed slots, and ``first`` (False for a duplicate or late
    end, which changed nothing)."""

    call_id: str
    carrier: str | None
    duration: int
    billed: int
    cost: int | None
    released: bool
    first: bool
    verdicts: tuple[Verdict, ...] = ()


class Call:
    """One call's life (made by :meth:`Calls.route`). ``decision`` is the
    :class:`CallDecision`; ``max_duration`` the seconds the customer's credit buys (None:
    no credit limit). Methods take the instant of the event (``at``, epoch seconds).

    State (read it, do not set it): ``admitted``; ``refused`` (the full counter key, or
    ``"blocked"``; None before admit or when admitted); ``carriers`` (those a slot was
    taken for); ``outstanding`` (the carrier attempted without an answer yet);
    ``answered_by`` / ``answered_at`` / ``pdd_ms``; ``result`` (the :class:`CallEnd`, once
    ended). Unset fields read their class defaults: a call is cheap to make."""

    admitted = False
    refused: str | None = None
    carriers: tuple[str, ...] = ()
    outstanding: str | None = None
    answered_by: str | None = None
    answered_at: float | None = None
    pdd_ms: int | None = None
    result: CallEnd | None = None
    _facts: CallFacts | None = None

    # (Calls._conclude makes calls without __init__: keep the two in step)
    def __init__(
        self,
        calls: Calls,
        call_id: str,
        decision: CallDecision,
        at: float,
        source_ip: str | None,
        facts: CallFacts | None = None,
    ) -> None:
        self.calls = calls
        self.call_id = call_id
        self.decision = decision
        self.started = at
        self.source_ip = source_ip
        if facts is not None:
            self._facts = facts

    @property
    def facts(self) -> CallFacts:
        """The call as the fraud rules see it (made on first use when no rule needed it)."""
        facts = self._facts
        if facts is None:
            facts = self._facts = self.calls.facts_of(
                self.call_id, self.decision.decision, self.started, self.source_ip
            )
        return facts

    @property
    def max_duration(self) -> int | None:
        """Seconds the customer's remaining credit buys (None: no credit limit applies)."""
        return self.decision.max_duration

    def admit(self, *, at: float) -> str | None:
        """Take the call's slots (customer, trunk, destination group) in one atomic step.
        None when admitted; else why not: the full counter key, or ``"blocked"`` when the
        decision is blocked. Admitting twice never counts twice."""
        if self.decision.blocked:
            self.refused = "blocked"
            return self.refused
        calls = self.calls
        limits = calls.limits_for(self.facts)
        full = (
            calls.counters.acquire(self.call_id, limits, ttl=calls.ttl, at=at) if limits else None
        )
        self.refused = full
        self.admitted = full is None
        return full

    def attempt(self, carrier: str, *, at: float) -> bool:
        """The proxy is about to send the call to ``carrier``: take a slot of the carrier
        (its ``max_concurrent``). False when the carrier is full (try the next route)."""
        calls = self.calls
        cap = calls.carrier_cap(carrier)
        if cap is not None:
            full = calls.counters.acquire(
                self._carrier_id(carrier), {carrier_calls_key(carrier): cap}, ttl=calls.ttl, at=at
            )
            if full is not None:
                return False
            self.carriers = (*self.carriers, carrier)
        self.outstanding = carrier
        return True

    def failed(self, carrier: str, sip_code: int, *, at: float, pdd_ms: int | None = None) -> None:
        """The attempt on ``carrier`` failed with final ``sip_code``: record it for quality
        (once) and free the carrier's slot."""
        with self.calls._lock:
            if self.result is not None or self.outstanding != carrier:
                return  # a late or duplicate outcome: counted already
            self.outstanding = None
        self.calls.record_attempt(carrier, self.facts, sip_code=sip_code, at=at,
                                  pdd_ms=pdd_ms, duration=0)  # fmt: skip
        if carrier in self.carriers:
            self.calls.counters.release(self._carrier_id(carrier), at=at)

    def answered(self, carrier: str, *, at: float, pdd_ms: int | None = None) -> None:
        """``carrier`` answered at ``at`` (its outcome is recorded at the end, with the
        call's duration)."""
        with self.calls._lock:
            if self.result is not None:
                return
            self.outstanding = None
            self.answered_by = carrier
            self.answered_at = at
            self.pdd_ms = pdd_ms

    def keepalive(self, *, at: float) -> None:
        """For a call that may outlive the slots' ``ttl``: every slot the call holds
        (admission and carrier) lives ``ttl`` seconds from ``at`` again, in one batch."""
        if not self.admitted or self.result is not None:
            return
        calls = self.calls
        batch = calls.counters.batch()
        limits = calls.limits_for(self.facts)
        if limits:
            batch.acquire(self.call_id, limits, ttl=calls.ttl, at=at)
        for carrier in self.carriers:
            if carrier == self.outstanding or carrier == self.answered_by:
                cap = calls.carrier_cap(carrier)
                if cap is not None:
                    batch.acquire(self._carrier_id(carrier), {carrier_calls_key(carrier): cap},
                                  ttl=calls.ttl, at=at)  # fmt: skip
        batch.execute()

    def running(self, *, at: float) -> tuple[Verdict, ...]:
        """While an answered call runs: the fraud rules' long-call verdict at ``at`` (a call
        to a high-risk range past its minutes is flagged); empty without a fraud engine, an
        answer or such a verdict."""
        fraud = self.calls.fraud
        if fraud is None or self.answered_at is None or self.result is not None:
            return _NO_VERDICTS
        return fraud.running(self.facts, elapsed=max(0, int(at - self.answered_at)), at=at)

    def end(self, *, at: float, duration: int | None = None) -> CallEnd:
        """The call is over (hangup, CANCEL, busy, failure): see :meth:`Calls.end`."""
        return self.calls.finish(self, at=at, duration=duration)

    def _carrier_id(self, carrier: str) -> str:
        return f"{self.call_id}@{carrier}"


class Calls:
    """What a proxy holds (one per process): the router, the shared counters and the
    optional fraud engine, quality board and store, and the calls in progress.

    ``counters`` must be the router's own counters (carrier capacity). ``store`` gives the
    credit accounts, the customers' deck decimals and rounding and the tariff plans' grace
    (read now; :meth:`reload` reads them again) and is charged at each call end;
    ``accounts`` gives credit accounts without a store. ``caps`` caps concurrent calls when
    no fraud engine does; ``ttl`` is how long a call's slots live without an end (the fraud
    engine's ``concurrent.ttl`` when given). ``credit_refresh``: seconds a node reuses its
    read of a customer's shared spend counter (0: read on every decision; the node's own
    call ends are always counted at once). ``gather``: whether :meth:`route` gathers what
    a decision reads and writes in the counters into one round trip (default: yes, but
    for in-process :class:`~tandem.state.MemoryCounters`).
    """

    def __init__(
        self,
        router: Router,
        *,
        counters: Counters,
        fraud: FraudEngine | None = None,
        quality: QualityBoard | None = None,
        store: Store | None = None,
        accounts: Iterable[CreditAccount] | None = None,
        caps: Caps | None = None,
        ttl: float | None = None,
        credit_refresh: float = 1.0,
        node: str | None = None,
        gather: bool | None = None,
    ) -> None:
        self.router = router
        self.counters = counters
        self.fraud = fraud
        self.quality = quality
        self.store = store
        self.caps = caps
        self.ttl = float(ttl if ttl is not None else fraud.slot_ttl if fraud is not None else 7200)
        self.credit_refresh = float(credit_refresh)
        self.node = node or f"{os.getpid()}-{os.urandom(3).hex()}"
        self.credit = CreditBook(accounts or ())
        self._fallible = hasattr(counters, "last_fell_back")  # a FallbackCounters
        #: Whether a decision gathers its counters reads and writes into one round trip
        #: (default: unless the counters are in process, where there is none to save).
        self.gather = (
            getattr(counters, "run_fused", None) is None if gather is None else bool(gather)
        )
        #: customer -> sell prefix (with the rate period when one applies) -> [tariff,
        #: credit, max_duration] (see _sell_entry)
        self._terms: dict[str, dict[str | tuple[str, int], list[Any]]] = {}
        self._terms_table: Any = None
        self._terms_window = 0
        self._sell_cols: tuple[Any, ...] = ()
        #: (connect fee, initial and next increment, minimum duration) when every sell row
        #: of the terms' table has the same (a customer's terms then depend on the rate
        #: alone), else None; and then customer -> sell rate -> the _sell_entry of a
        #: prefix at that rate (the same list: one entry per rate, a small hot dict)
        self._uniform: tuple[int, int, int, int] | None = None
        self._by_rate: dict[str, dict[int, list[Any]]] = {}
        self._money: dict[str, tuple[int, Rounding, str]] = {}
        self._schedule: Any = None
        self._spent: dict[str, tuple[float, int]] = {}  # customer -> (read at, value)
        #: customer -> (account, spend, the credit remaining): CreditBook.remaining kept
        self._credit_of: dict[str, tuple[CreditAccount, int, int]] = {}
        self._group_len: dict[str, int] = {}  # customer -> digits of its destination group
        self._live: dict[str, Call] = {}
        self._sweep_at = 4096
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        #: Decisions and ends that ran on local counters (shared state unreachable).
        self.fell_back = 0
        if store is not None:
            self.reload()

    # -- store -------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the credit accounts, the customers' deck decimals and rounding and the
        tariff plans again from the store."""
        if self.store is None:
            return
        from tandem.rating.schedule import PlanSchedule

        self.credit.load(self.store.credit_accounts())
        money: dict[str, tuple[int, Rounding, str]] = {}
        for deck in self.store.decks(kind="customer"):  # oldest first: the latest wins
            money[deck.account] = (deck.decimals, Rounding.parse(deck.rounding), deck.timezone)
        self._money = money
        self._schedule = PlanSchedule.from_store(self.store)
        self._terms = {}
        self._by_rate = {}

    # -- the decision -------------------------------------------------------------------------
    def router_alone(self) -> bool:
        """Whether :meth:`route` gives :meth:`Router.route`'s decision unchanged and leaves
        nothing behind for a call that is forgotten at once (a call without an id on a
        server that awaits no end): no fraud engine, no credit account, no quality board,
        in-process counters that cannot fall back (no gathering). A caller may then ask the
        router alone (what the HTTP API does for ``GET /route`` without ``call_id``)."""
        return (
            self.fraud is None
            and not self.gather
            and not self._fallible
            and not self.credit._accounts
            and self.quality is None
        )

    def route(
        self,
        number: str,
        *,
        customer: str | None = None,
        source_ip: str | None = None,
        at: int,
        call_id: str | None = None,
    ) -> Call:
        """Decide one call (:meth:`Router.route`, then fraud, then credit) and start its
        life. Raises what the router raises for a bad number or an unknown customer.

        On shared counters (any backend but in-process :class:`~tandem.state.MemoryCounters`,
        unless ``gather`` says otherwise) everything the decision reads or writes in the
        counters goes in **one round trip** (:class:`~tandem.state.Gather`): the router's
        quality scores and carrier capacity counts (:meth:`Router.prepare`), the fraud
        rules' window operations (:meth:`FraudEngine.queue`) and the credit limit's spend
        counter when it is due; then the routes are ordered, the rules graded and the
        credit checked from the answers. In process the parts run one after the other
        (no round trip to save)."""
        if self.gather:
            return self._route_gathered(number, customer, source_ip, at, call_id)
        decision = self.router.route(
            number, customer=customer, source_ip=source_ip, at=at, call_id=call_id
        )
        cid = call_id if call_id is not None else f"{self.node}-{next(self._ids)}"
        fraud = self.fraud
        if fraud is None:
            return self._conclude(decision, cid, at, source_ip, None, None, _READ_NOW)
        # facts_of, inlined (one decision, one tuple)
        name = decision.customer
        digits = decision.routing_number or decision.normalized
        length = self._group_len.get(name)
        group = digits[:length] if length is not None else self._group(name, digits)
        facts = _new_tuple(CallFacts, (
            cid, name, digits, at, decision.trunk, source_ip, decision.sell_prefix or "",
            group, decision.sell_rate_scaled,
        ))  # fmt: skip
        return self._conclude(decision, cid, at, source_ip, facts, fraud.check(facts), _READ_NOW)

    def _route_gathered(
        self,
        number: str,
        customer: str | None,
        source_ip: str | None,
        at: int,
        call_id: str | None,
    ) -> Call:
        """:meth:`route` with one round trip per counters backend (see there)."""
        pending = self.router.prepare(
            number, customer=customer, source_ip=source_ip, at=at, call_id=call_id
        )
        draft = pending.draft
        cid = call_id if call_id is not None else f"{self.node}-{next(self._ids)}"
        gather = Gather()
        pending.queue(gather)
        fraud = self.fraud
        facts = None
        queued = None
        if fraud is not None:
            facts = self.facts_of(cid, draft, at, source_ip)
            queued = fraud.queue(facts, gather)
        name = draft.customer
        accounts = self.credit._accounts
        spent_at = -1
        if accounts and name in accounts:
            seen = self._spent.get(name)
            if seen is None or not at - seen[0] < self.credit_refresh:
                batch = gather.batch(self.counters)
                spent_at = len(batch)  # type: ignore[arg-type]  # both kinds have __len__
                batch.current(credit_spent_key(name))
        gather.execute()
        decision = pending.finish(gather)
        result = fraud.finish(queued, gather) if fraud is not None and queued is not None else None
        spent: Any = _READ_NOW
        if spent_at >= 0:
            answers = gather.results(self.counters)
            if answers is None:  # unreachable (a bare RedisCounters)
                spent = None
            else:
                spent = answers[spent_at]
                self._spent[name] = (at, spent)
        return self._conclude(decision, cid, at, source_ip, facts, result, spent)

    def _conclude(
        self,
        decision: Decision,
        cid: str,
        at: int,
        source_ip: str | None,
        facts: CallFacts | None,
        result: FraudResult | None,
        spent_read: Any,
    ) -> Call:
        """The fraud answer and the credit limit applied to the router's decision: the
        :class:`Call`. ``spent_read``: the customer's shared spend counter read with the
        decision's round trip (None: unreachable), or ``_READ_NOW``."""
        name = decision.customer
        verdicts = _NO_VERDICTS
        notes: tuple[str, ...] = ()
        blocked_by: Verdict | None = None
        fraud = self.fraud
        if result is not None:
            verdicts = result.verdicts
            notes = result.notes
            if result.action == "block":
                blocked_by = result.blocked_by()
        credit = None
        seconds = None
        accounts = self.credit._accounts
        account = accounts.get(name) if accounts else None
        if account is not None and blocked_by is None:
            spent: int | None
            if spent_read is _READ_NOW:  # the last read while fresh (_spent_of, inlined)
                seen = self._spent.get(name)
                if seen is not None and at - seen[0] < self.credit_refresh:
                    spent = seen[1]
                else:
                    spent = self._spent_of(name, at)
            else:
                spent = spent_read
            if spent is None:  # unreachable: the last spend this node read (or its account)
                seen = self._spent.get(name)
                spent = account.charged_scaled if seen is None else seen[1]
                notes = (*notes, UNREACHABLE_CREDIT_NOTE)
            kept = self._credit_of.get(name)  # CreditBook.remaining, kept per account and spend
            if kept is not None and kept[0] is account and kept[1] == spent:
                credit = kept[2]
            else:
                credit = CreditBook.remaining(account, spent)
                if len(self._credit_of) >= 100_000:  # bounded, as the other memos
                    self._credit_of.clear()
                self._credit_of[name] = (account, spent, credit)
            rate = decision.sell_rate_scaled
            if rate is not None:
                # _sell_entry's first lookup, inlined (no tariff plans, the same table): by
                # the rate when the table's sell rows differ in nothing else, else by prefix
                memo = None
                uniform = None
                if self._schedule is None:
                    raw = decision._raw
                    if (raw[0] if raw is not None else self.router.table) is self._terms_table:
                        uniform = self._uniform
                        if uniform is not None:
                            by_rate = self._by_rate.get(name)
                            if by_rate is not None:
                                memo = by_rate.get(rate)
                        else:
                            mine = self._terms.get(name)
                            if mine is not None:
                                memo = mine.get(decision.sell_prefix or "")
                if memo is None:
                    memo = self._sell_entry(decision, at)
                    if self._schedule is None and self._uniform is not None:
                        self._keep_by_rate(name, rate, memo)
                # _max_duration's memo, inlined (on the entry in hand)
                seconds = memo[2] if memo[1] == credit else _duration_on(memo, credit)
            if credit <= 0 or seconds == 0:
                blocked_by = Verdict(
                    "credit_limit", "block", _credit_evidence(account, credit, seconds)
                )
                verdicts = (*verdicts, blocked_by)
        if (self._fallible and self.counters.last_fell_back) or (  # type: ignore[attr-defined]
            fraud is not None and fraud.last_fell_back
        ):
            if LOCAL_COUNTERS_NOTE not in notes:
                notes = (*notes, LOCAL_COUNTERS_NOTE)
            with self._lock:
                self.fell_back += 1
        if blocked_by is not None:
            decision = replace(
                decision, blocked=True, reason=_block_reason(blocked_by), _raw=None, on_net=None
            )
        looks = None
        if self.quality is not None:  # read by explain only
            looks = (self.quality, decision, decision.routing_number or decision.normalized, at)
        # CallDecision(...) and Call(...) with their __init__ steps inlined (no frame each)
        made = _new_object(CallDecision)
        made.decision = decision
        made.verdicts = verdicts
        made.max_duration = seconds
        made.extra_notes = notes
        made.credit = credit
        made._looks = looks
        call = _new_object(Call)
        call.calls = self
        call.call_id = cid
        call.decision = made
        call.started = at
        call.source_ip = source_ip
        if facts is not None:
            call._facts = facts
        if not decision.blocked:  # a blocked call takes nothing: no end is awaited
            live = self._live
            live[cid] = call
            if len(live) > self._sweep_at:
                self._sweep(at)
        return call

    def facts_of(
        self, call_id: str, decision: Decision, at: float, source_ip: str | None
    ) -> CallFacts:
        """The fraud rules' view of a call (:class:`~tandem.fraud.CallFacts`): the number
        routed on, the sell prefix and rate, the destination group of its slots."""
        name = decision.customer
        digits = decision.routing_number or decision.normalized
        return CallFacts(
            call_id, name, digits, at, decision.trunk, source_ip,
            decision.sell_prefix or "", self._group(name, digits), decision.sell_rate_scaled,
        )  # fmt: skip

    def _keep_by_rate(self, customer: str, rate: int, memo: list[Any]) -> None:
        """Keep ``memo`` (a prefix's _sell_entry) under its rate when its terms are the
        table's uniform ones at that rate (any prefix of the customer at that rate has
        the same terms then: no tariff plans, one row shape)."""
        terms = memo[0]
        if (
            type(terms) is SellTerms
            and terms.rate == rate
            and terms.grace == 0
            and (
                terms.connect_fee, terms.initial_increment, terms.next_increment,
                terms.min_duration,
            ) == self._uniform
        ):  # fmt: skip
            mine = self._by_rate.get(customer)
            if mine is None:
                if len(self._by_rate) >= 100_000:  # bounded, as the other memos
                    self._by_rate.clear()
                mine = self._by_rate[customer] = {}
            if len(mine) < 100_000:
                mine[rate] = memo

    def _max_duration(self, decision: Decision, credit: int, at: float) -> int:
        """:func:`~tandem.calls.credit.max_duration` at the decision's sell terms, reused
        while the credit is the one of the last call to the same prefix."""
        memo = self._sell_entry(decision, at)
        seconds: int = memo[2] if memo[1] == credit else _duration_on(memo, credit)
        return seconds

    def _group(self, customer: str, number: str) -> str:
        """The destination group a call's concurrent-call slot counts under."""
        length = self._group_len.get(customer)
        if length is None:
            if self.fraud is not None:
                length = self.fraud.config.rules_for(customer).concurrent.group_prefix_length
            elif self.caps is not None:
                length = self.caps.group_digits
            else:
                length = 0
            if len(self._group_len) < 100_000:  # bounded, as the fraud engine's plans
                self._group_len[customer] = length
        return number[:length]

    def _spent_of(self, customer: str, at: float) -> int | None:
        """The customer's shared spend counter, read at most every ``credit_refresh`` s
        (None: the shared state cannot be reached)."""
        seen = self._spent.get(customer)
        if seen is not None and at - seen[0] < self.credit_refresh:
            return seen[1]
        try:
            value = self.counters.current(credit_spent_key(customer))
        except StateUnavailableError:  # bare RedisCounters (no FallbackCounters) and down
            return None
        self._spent[customer] = (at, value)
        return value

    def sell_tariff(self, decision: Decision, at: float) -> SellTerms | Tariff:
        """The customer's sell tariff for the decision's number, as the rating module prices
        it (:func:`~tandem.rating.price_call`): the deck row's rate, connect fee,
        increments and minimum duration (from the compiled table), the deck's decimals and
        rounding, and the tariff plan in force at ``at`` (grace; a tier or period tariff
        for the prefix, chosen by the call's local time in the deck's time zone). Flat
        terms come as :class:`~tandem.calls.credit.SellTerms`, tiered ones as a
        :class:`~tandem.rating.tariff.Tariff`."""
        tariff: SellTerms | Tariff = self._sell_entry(decision, at)[0]
        return tariff

    def _sell_entry(self, decision: Decision, at: float) -> list[Any]:
        """``[tariff, credit, max_duration]`` of the decision's sell prefix (the last two: a
        memo of :meth:`_max_duration`), cached per table, tariff plan version, customer,
        prefix and rate period."""
        raw = decision._raw
        table = raw[0] if raw is not None else self.router.table
        customer, prefix = decision.customer, decision.sell_prefix or ""
        schedule = self._schedule
        if schedule is None and self._terms_table is table:
            # no tariff plans (one version, no rate periods): the entry of the prefix
            mine = self._terms.get(customer)
            if mine is not None:
                hit = mine.get(prefix)
                if hit is not None:
                    return hit
        window = 0 if schedule is None else schedule.window(int(at))
        if self._terms_table is not table or self._terms_window != window:
            # a swapped table (its rows differ) or another tariff plan version (its grace)
            self._terms_table = table
            self._terms_window = window
            self._terms = {}
            self._by_rate = {}
            self._sell_cols = tuple(
                table.arrays[f"sell_{f}"].data
                for f in ("rate", "connect_fee", "initial_increment", "next_increment",
                          "min_duration")
            )  # fmt: skip
            self._uniform = _uniform_terms(table)
        mine = self._terms.get(customer)
        if mine is None:
            mine = self._terms[customer] = {}
        plan = None if schedule is None else schedule.plan_at(int(at))
        account = None if plan is None else plan.get("customer", customer)
        period = 0
        decimals, rounding, zone = self._money.get(customer, (4, Rounding.HALF_UP, "UTC"))
        if account is not None and account.periods:
            local = datetime.fromtimestamp(int(at), UTC).astimezone(ZoneInfo(zone))
            period = account.period_index(local.weekday(), local.hour * 60 + local.minute)
        slot: str | tuple[str, int] = (prefix, period) if period else prefix
        entry = mine.get(slot)
        if entry is not None:
            return entry
        uid = table.trie.key_id(prefix) if prefix in table.trie else -1
        cidx = table.customer_index.get(customer, -1)
        row = table.sell_row(uid, cidx) if uid >= 0 and cidx >= 0 else -1
        if row >= 0:
            rate, fee, first, nxt, least = (int(col[row]) for col in self._sell_cols)
        else:  # no row (cannot happen with a sell rate): the rate alone, per minute
            rate, fee, first, nxt, least = decision.sell_rate_scaled or 0, 0, 60, 60, 0
        grace = 0 if account is None else account.grace
        chosen = account.tariff_for(prefix, period) if account and account.tariffs else None
        tariff: SellTerms | Tariff
        if chosen is None:
            tariff = SellTerms(rate, fee, first, nxt, least, grace, decimals, rounding)
        else:  # the plan's tariff for this prefix, as price_call chooses it
            if chosen.intervals is not None:
                intervals = chosen.intervals
            else:
                assert chosen.rate is not None  # a plan tariff has a rate or intervals
                intervals = flat_intervals(chosen.rate, first, nxt)
            tariff = Tariff(intervals, connect_fee=fee, min_duration=least, grace=grace,
                            decimals=decimals, rounding=rounding)  # fmt: skip
        entry = [tariff, None, 0]
        if len(mine) < 1_000_000:
            mine[slot] = entry
        return entry

    # -- slots ----------------------------------------------------------------------------------
    def limits_for(self, facts: CallFacts) -> dict[str, int]:
        """The concurrent-call slots a call takes when admitted: counter key -> cap."""
        if self.fraud is not None:
            return self.fraud.admission_limits(facts)
        if self.caps is not None:
            return self.caps.limits(facts.customer, facts.trunk, facts.number)
        return {}

    def carrier_cap(self, carrier: str) -> int | None:
        """The carrier's ``max_concurrent`` in the router's config (None: no cap)."""
        try:
            return self.router.config.carrier(carrier).max_concurrent
        except Exception:  # noqa: BLE001 - an on-net or unknown carrier has no cap
            return None

    def record_attempt(
        self,
        carrier: str,
        facts: CallFacts,
        *,
        sip_code: int,
        at: float,
        pdd_ms: int | None,
        duration: int,
    ) -> None:
        """Feed one attempt's final outcome to the quality board (when there is one)."""
        board = self.quality
        if board is None:
            return
        board.attempt(carrier, board.group_of(facts.number), at=at, sip_code=sip_code,
                      pdd_ms=pdd_ms, duration=duration, call_id=facts.call_id)  # fmt: skip

    # -- the end -------------------------------------------------------------------------------
    def get(self, call_id: str) -> Call | None:
        """The call in progress with this id (None: unknown, ended or expired)."""
        return self._live.get(call_id)

    def forget(self, call_id: str) -> None:
        """Stop keeping the call ``call_id`` on this node, for a caller from which no end
        will come (a redirect server answers and is out of the call). Its slots are left
        to expire with their ttl, as a crashed proxy's are."""
        with self._lock:
            self._live.pop(call_id, None)

    def end(self, call_id: str, *, at: float, duration: int | None = None) -> CallEnd | None:
        """End the call ``call_id`` (for a proxy that only keeps the id); None when this
        node does not know it (its slots are released all the same, carriers' included;
        the node that routed it prices it at its own end)."""
        call = self._live.get(call_id)
        if call is None:
            # Routed on another node, or forgotten: free its admission slots and whatever
            # carrier slot it may hold (one batch: one round trip). Nothing is priced here:
            # the node that holds the call still prices it when its own end comes.
            batch = self.counters.batch()
            batch.release(call_id, at=at)
            for carrier in self.router.table.carriers:
                batch.release(f"{call_id}@{carrier}", at=at)
            batch.execute()
            return None
        return self.finish(call, at=at, duration=duration)

    def finish(self, call: Call, *, at: float, duration: int | None = None) -> CallEnd:
        """The end of ``call`` (see the module docstring). ``duration`` is the billed
        seconds of an answered call (default: from the answer to ``at``)."""
        with self._lock:
            if call.result is not None:
                done = call.result
                return CallEnd(done.call_id, done.carrier, done.duration, done.billed,
                               done.cost, False, False, done.verdicts)  # fmt: skip
            outstanding, answered_by = call.outstanding, call.answered_by
            call.outstanding = None
            if answered_by is None:
                seconds = 0
            elif duration is not None:
                seconds = int(duration)
            else:
                seconds = max(0, int(at - (call.answered_at or at)))
            seconds = min(max(seconds, 0), MAX_DURATION)
            call.result = CallEnd(call.call_id, answered_by, seconds, 0, None, False, False)
        # Every slot freed and the end marked in one batch (one round trip). One end per
        # call across nodes: the first to set the mark prices and charges.
        batch = self.counters.batch()
        batch.release(call.call_id, at=at)
        for carrier in call.carriers:
            batch.release(call._carrier_id(carrier), at=at)
        batch.mark(key("calls", "ended", call.call_id), ttl=self.ttl, at=at)
        *freed, first = batch.execute()
        released = any(freed)
        with self._lock:
            self._live.pop(call.call_id, None)
        billed, cost, verdicts = 0, None, _NO_VERDICTS
        if first:
            if answered_by is not None:
                self.record_attempt(answered_by, call.facts, sip_code=200, at=at,
                                    pdd_ms=call.pdd_ms, duration=seconds)  # fmt: skip
            elif outstanding is not None:
                self.record_attempt(outstanding, call.facts, sip_code=CANCELLED, at=at,
                                    pdd_ms=None, duration=0)  # fmt: skip
            billed, cost = self._price(call, seconds)
            if self.fraud is not None:
                verdicts = self.fraud.ended(call.facts, duration=seconds, cost=cost or 0, at=at)
            if cost:
                self._charge(call.facts.customer, cost, at)
        result = CallEnd(
            call.call_id, answered_by, seconds, billed, cost, released, first, verdicts
        )
        call.result = result
        return result

    def _price(self, call: Call, seconds: int) -> tuple[int, int | None]:
        """``(billed seconds, cost)`` of the call at the customer's sell terms."""
        decision = call.decision.decision
        if decision.sell_rate_scaled is None:
            return 0, None
        tariff = self.sell_tariff(decision, call.started)
        return cost_scaled(tariff.tariff() if isinstance(tariff, SellTerms) else tariff, seconds)

    def _charge(self, customer: str, cost: int, at: float) -> None:
        """Add ``cost`` to the customer's shared spend counter and charge the store."""
        spent = self.counters.incr(credit_spent_key(customer), cost)
        seen = self._spent.get(customer)
        if seen is not None:
            self._spent[customer] = (seen[0], max(seen[1] + cost, spent))
        if self.store is None or self.credit.get(customer) is None:
            return
        account = self.store.charge_credit(customer, cost, at=int(at))
        self.credit.update(account)
        if spent < account.charged_scaled:
            # The counter lost its history (a flushed Redis, local fallback counters): level
            # it with the store once (the mark elects one node per charged total).
            lift = account.charged_scaled - spent
            if self.counters.mark(
                key("credit", customer, "level", account.charged_scaled), ttl=self.ttl, at=at
            ):
                self.counters.incr(credit_spent_key(customer), lift)
                self._spent.pop(customer, None)

    # -- housekeeping ---------------------------------------------------------------------------
    @property
    def in_progress(self) -> int:
        """Calls this node holds (routed, not ended, not expired)."""
        return len(self._live)

    def _sweep(self, at: float) -> None:
        """Forget expired calls when the table of calls in progress has grown (bounded
        memory whatever the proxy forgets to end: OpenSIPS #3411)."""
        self.expire(at=at)
        self._sweep_at = max(4096, 2 * len(self._live))

    def expire(self, *, at: float) -> int:
        """Forget calls routed more than ``ttl`` seconds before ``at`` whose end never came
        (their slots expired in the counters already); returns how many."""
        cutoff = at - self.ttl
        with self._lock:
            old = [cid for cid, c in self._live.items() if c.started < cutoff]
            for cid in old:
                del self._live[cid]
        return len(old)


def _duration_on(memo: list[Any], credit: int) -> int:
    """The seconds ``credit`` buys at the terms of ``memo`` (a ``_sell_entry``: terms,
    credit, seconds), kept on it for the next call with the same credit."""
    terms = memo[0]
    if type(terms) is SellTerms:
        seconds = max_duration(terms, credit)
    else:
        seconds = max_tariff_duration(terms, credit)
    memo[1] = credit
    memo[2] = seconds
    return seconds


def _uniform_terms(table: Any) -> tuple[int, int, int, int] | None:
    """``(connect fee, initial increment, next increment, minimum duration)`` when every
    sell row of ``table`` has the same (then a customer's sell terms depend on the rate
    alone), else None."""
    out = []
    for f in ("connect_fee", "initial_increment", "next_increment", "min_duration"):
        col = table.arrays[f"sell_{f}"]
        if len(col) == 0:
            return None
        low, high = int(col.min()), int(col.max())
        if low != high:
            return None
        out.append(low)
    return (out[0], out[1], out[2], out[3])


def _block_reason(v: Verdict) -> str:
    evidence = ", ".join(f"{k} {val}" for k, val in v.evidence.items())
    if v.rule == "credit_limit":
        return f"blocked by the credit limit ({evidence})"
    return f"blocked by fraud rule {v.rule}" + (f" ({evidence})" if evidence else "")


def _credit_evidence(account: CreditAccount, credit: int, seconds: int | None) -> dict[str, str]:
    out = {
        "balance": format_money(account.balance_scaled),
        "credit_limit": format_money(account.credit_limit_scaled),
        "remaining": format_money(credit),
        "currency": account.currency,
    }
    if seconds is not None:
        out["max_duration"] = str(seconds)
    return out
