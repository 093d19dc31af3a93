"""The router: one call in (number, customer or source IP, instant), one :class:`Decision` out.

A decision goes through these stages, each a function of this module:

1. **identify** (:meth:`Router._identify`): the customer, by name or by the trunk its
   source IP belongs to; its plan and translation rules are resolved once per table;
2. **translate** (:func:`~tandem.lcr.translate.normalize`): the dialed number to E.164
   digits, with the customer's tech prefix removed;
3. **look up** (:meth:`Router._look_up`, then :func:`_probe`): the number lookup (ENUM /
   number portability) when one is configured, which may give a routing number or an
   on-net destination; the table's validity and the plan's blocked prefixes
   (:func:`_refusal`); then one trie probe for the longest stored prefix of the number to
   route on and the customer's sell rate there;
4. **candidates** (:func:`_candidates`): the carriers covering that prefix, each at its own
   longest prefix, cheapest first: a slice of the table's flat arrays;
5. **plan** (:meth:`Router._plan`, :func:`~tandem.lcr.policy.order_routes`): the customer's
   plan orders them (forced routes, strategy: least cost, priority, weighted split,
   quality) and margin protection drops those above the sell rate;
6. **capacity** (:meth:`Router._capacity`): a carrier at its concurrent-call limit, or
   billing in another currency than the customer, is dropped; at most ``max_routes`` remain;

and :func:`_decision` builds the :class:`Decision` of every outcome: the ordered routes
with a reason for every carrier left out, or the reason the call is blocked.
:meth:`Router.route` first tries the **express path**, the same stages in one piece for
the common case (plain least cost, a plain E.164 number), and hands anything else to the
general path :meth:`Router._route`.

``Router.swap(table)`` replaces the table atomically: each decision reads its table once
(the general path the router's state, the express path one entry that holds its table),
so no decision ever mixes two tables.
"""

from __future__ import annotations

import json
import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import numpy as np

from tandem.enum.types import LookupKind, NumberInfo, NumberLookup
from tandem.errors import UnknownCustomerError
from tandem.instant import InstantLike, format_instant, parse_instant
from tandem.lcr.policy import CarrierPolicy, Plan, RoutingConfig, order_routes
from tandem.lcr.scores import (
    EMPTY_FLOOR_SLOT,
    CarrierLook,
    ScoreSource,
    empty_floor_slot,
    floor_slot_index,
)
from tandem.lcr.table import RoutingTable
from tandem.lcr.translate import DEFAULT_RULES, TranslationRules, normalize
from tandem.money import format_money
from tandem.money import from_scaled as _from_scaled
from tandem.numbers import MAX_DIGITS as _E164_MAX
from tandem.state import Counters, Gather, carrier_calls_key

__all__ = ["Route", "Dropped", "Decision", "PendingDecision", "Router", "ON_NET"]

#: Scaled integer -> Decimal, memoised: rates repeat across routes and calls.
from_scaled = lru_cache(maxsize=1 << 16)(_from_scaled)

#: Carrier name of the zero-cost route to an on-net SIP URI found by the number lookup.
ON_NET = "on-net"


class Route(NamedTuple):
    """One route to try, in order: carrier, its outbound trunk, the carrier's own matched
    prefix, its rate per minute and connect fee, billing increments (seconds), the margin
    per minute against the customer's sell rate, and the SIP codes that mean "try the
    next route" (``failover_codes``) or "stop" (``stop_codes``). A named tuple: immutable
    and cheap to build per call."""

    carrier: str
    trunk: str
    prefix: str
    rate: Decimal
    connect_fee: Decimal
    initial_increment: int
    next_increment: int
    min_duration: int
    margin: Decimal | None
    failover_codes: tuple[int, ...]
    stop_codes: tuple[int, ...]
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; money as decimal strings."""
        return {
            "carrier": self.carrier,
            "trunk": self.trunk,
            "prefix": self.prefix,
            "rate": format_money(self.rate),
            "connect_fee": format_money(self.connect_fee),
            "margin": None if self.margin is None else format_money(self.margin),
            "initial_increment": self.initial_increment,
            "next_increment": self.next_increment,
            "min_duration": self.min_duration,
            "failover_codes": list(self.failover_codes),
            "stop_codes": list(self.stop_codes),
        }


class Dropped(NamedTuple):
    """A carrier that is not among the routes, and why."""

    carrier: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready dict."""
        return {"carrier": self.carrier, "reason": self.reason}


class _Raw(NamedTuple):
    """What a decision needs to build its routes and drop reasons on demand. A decision
    keeps these fields as a plain tuple (one allocation per call) and reads them through
    this class. The candidates are the route entries ``start:end``, cheapest first."""

    table: RoutingTable
    policies: tuple[CarrierPolicy, ...]
    #: ``[(rate, carrier index, buy row), ...]`` in route order; None: the routes are the
    #: entries ``start:examined`` (plain least cost).
    picked: list | None
    #: reason per picked route (None: "cheapest remaining"; a function: of the rank)
    why: list | Callable[[int], str] | None
    dropped: list | tuple  # [(carrier index, reason), ...] decided while routing
    start: int
    examined: int  # entries from here to ``end`` were never examined (plain least cost)
    end: int
    limit: int  # highest acceptable buy rate (scaled)
    max_routes: int


@dataclass(frozen=True)
class Decision:
    """The answer for one call.

    ``routes`` (ordered :class:`Route` objects) and ``dropped`` (:class:`Dropped`, one per
    carrier left out, with the reason) are built on first access from the compiled table
    the decision was made on. ``blocked`` is True (with ``reason``) when no route may be
    offered. ``routing_number`` is set when number portability gave one; ``lookup`` is the
    raw :class:`~tandem.enum.types.NumberInfo`; ``notes`` lists fallbacks taken.
    """

    number: str
    normalized: str
    customer: str
    at: int
    sell_prefix: str | None
    sell_rate_scaled: int | None
    blocked: bool
    reason: str
    routing_number: str | None = None
    trunk: str | None = None
    tech_prefix: str = ""
    lookup: NumberInfo | None = None
    on_net: str | None = None
    notes: tuple[str, ...] = ()
    _raw: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def sell_rate(self) -> Decimal | None:
        """The customer's sell rate per minute for this number (None when it has none)."""
        return None if self.sell_rate_scaled is None else from_scaled(self.sell_rate_scaled)

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        """The routes to try, in order."""
        raw = _Raw(*self._raw) if self._raw is not None else None
        out: list[Route] = []
        sell = self.sell_rate_scaled
        if self.on_net is not None:
            out.append(
                Route(
                    ON_NET,
                    self.on_net,
                    "",
                    Decimal(0),
                    Decimal(0),
                    1,
                    1,
                    0,
                    None if sell is None else from_scaled(sell),
                    (),
                    (),
                    "on-net destination from the number lookup (zero cost)",
                )
            )
        if raw is None:
            return tuple(out)
        col = raw.table.buy_columns
        prefix, fee = col["prefix"], col["connect_fee"]
        first, nxt, least = col["initial_increment"], col["next_increment"], col["min_duration"]
        restore = raw.table.trie.restore_key
        reasons = raw.why
        reason = _cheapest if reasons is None else reasons if callable(reasons) else None
        for i, (rate, c, row) in enumerate(_picked(raw)):
            pol = raw.policies[c]
            why = reason(i) if reason is not None else reasons[i]  # type: ignore[index]
            out.append(
                Route(
                    pol.name,
                    pol.trunk,
                    restore(prefix[row]),
                    from_scaled(rate),
                    from_scaled(fee[row]),
                    first[row],
                    nxt[row],
                    least[row],
                    None if sell is None else from_scaled(sell - rate),
                    pol.failover_codes,
                    pol.stop_codes,
                    why,
                )
            )
        return tuple(out)

    @cached_property
    def dropped(self) -> tuple[Dropped, ...]:
        """Every carrier of the table that is not a route, with the reason."""
        if self._raw is None:
            return ()
        raw = _Raw(*self._raw)
        names = raw.table.carriers
        out = [Dropped(names[c], reason) for c, reason in raw.dropped]
        seen = {c for _r, c, _row in _picked(raw)} | {c for c, _ in raw.dropped}
        for rate, c, _row in raw.table.entries(raw.examined, raw.end):
            seen.add(c)
            if rate > raw.limit:
                out.append(Dropped(names[c], _margin_reason(rate, self.sell_rate_scaled)))
            else:
                out.append(Dropped(names[c], f"max routes ({raw.max_routes}) reached"))
        number = self.routing_number or self.normalized
        for c, name in enumerate(names):
            if c not in seen:
                out.append(Dropped(name, f"no prefix of {number} in its deck"))
        return tuple(out)

    # -- output -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The decision as the JSON object of ``tandem route --json``."""
        sell = self.sell_rate_scaled
        out: dict[str, Any] = {
            "number": self.number,
            "normalized": self.normalized,
            "customer": self.customer,
            "at": format_instant(self.at),
            "sell": {
                "prefix": self.sell_prefix,
                "rate": None if sell is None else format_money(sell),
            },
            "routes": [r.to_dict() for r in self.routes],
            "blocked": self.blocked,
            "reason": self.reason,
            "dropped": [d.to_dict() for d in self.dropped],
        }
        if self.routing_number is not None:
            out["routing_number"] = self.routing_number
        if self.trunk is not None:
            out["trunk"] = self.trunk
        if self.tech_prefix:
            out["tech_prefix"] = self.tech_prefix
        if self.lookup is not None:
            out["lookup"] = {"kind": str(self.lookup.kind), "detail": self.lookup.detail}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def to_json(self) -> str:
        """One JSON object (see :meth:`to_dict`); money as decimal strings."""
        return json.dumps(self.to_dict())

    def explain(self) -> str:
        """Why each carrier is where it is, in plain text."""
        lines = [
            f"number {self.number!r} -> {self.normalized}"
            + (f" (ported, routing number {self.routing_number})" if self.routing_number else "")
            + f"; customer {self.customer}"
            + (f" via trunk {self.trunk}" if self.trunk else "")
            + f"; at {format_instant(self.at)}"
        ]
        if self.tech_prefix:
            lines.append(f"tech prefix {self.tech_prefix!r} removed")
        lines.extend(f"note: {n}" for n in self.notes)
        if self.sell_rate_scaled is not None:
            lines.append(
                f"sell rate {format_money(self.sell_rate_scaled)}/min at prefix {self.sell_prefix}"
            )
        if self.blocked:
            lines.append(f"BLOCKED: {self.reason}")
        for i, r in enumerate(self.routes, 1):
            margin = "" if r.margin is None else f", margin {format_money(r.margin)}"
            lines.append(
                f"{i}. {r.carrier} via {r.trunk}: prefix {r.prefix or '-'} at "
                f"{format_money(r.rate)}/min{margin} - {r.why}"
            )
        for d in self.dropped:
            lines.append(f"dropped {d.carrier}: {d.reason}")
        return "\n".join(lines)


def _picked(raw: _Raw) -> list:
    if raw.picked is None:
        return raw.table.entries(raw.start, raw.examined)
    return raw.picked


def _cheapest(i: int) -> str:
    return "cheapest buy rate" if i == 0 else f"cheapest remaining (#{i + 1} by buy rate)"


def _ranked(i: int) -> str:
    """The reason of route ``i`` under ``strategy = "least-cost"`` through the plan (as
    :func:`~tandem.lcr.policy.order_routes` words it)."""
    return f"least-cost: rank {i + 1} by buy rate"


def _margin_reason(rate: int, sell: int | None) -> str:
    return (
        f"buy rate {format_money(rate)} above sell rate {format_money(sell or 0)} "
        "(margin protection)"
    )


class _TableState(NamedTuple):
    """Everything decisions read from one table, prepared once per table (see
    :meth:`Router.swap`): the general path reads this reference once per decision, so it
    never mixes tables."""

    table: RoutingTable
    #: The routing config these decisions follow: the router's own, or the routing plan
    #: compiled into ``table`` (see :class:`Router`).
    config: RoutingConfig
    #: Per carrier index: its trunk, capacity and SIP codes from the routing config.
    policies: tuple[CarrierPolicy, ...]
    #: Per carrier index: ``(max concurrent calls, counter key)`` or None (no limit).
    caps: tuple[tuple[int, str] | None, ...]
    any_caps: bool
    #: (start, end) of a candidate span -> its carriers' names, filled as spans are seen.
    span_names: dict[tuple[int, int], tuple[str, ...]]
    #: Customer name -> :class:`_Customer`, filled on the customer's first call.
    customers: dict[str, _Customer]
    #: id(plan) -> (plan, its floor slots): see _Customer.floor_slots (one per plan: the
    #: kept answers depend on the plan and the table only)
    floor_slots: dict[int, tuple[Plan, array]]
    #: Customer name -> the fields of its :class:`_Express` as a plain tuple, for the
    #: customers the express path serves (CPython unpacks an exact tuple fastest); read
    #: with the ``customer`` argument as given (None finds nothing).
    express: dict[str | None, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class _Customer:
    """One customer resolved on one table (see :meth:`Router._customer`): what the general
    path reads for its calls."""

    name: str
    table: RoutingTable
    policies: tuple[CarrierPolicy, ...]  # as in _TableState
    caps: tuple[tuple[int, str] | None, ...]  # as in _TableState
    index: int  # in the table's customers; -1 when it has no sell deck
    #: ``[2u]``: the customer's sell rate at union prefix ``u``, ``[2u+1]``: the length of
    #: its matched prefix (-1: none); None beyond the memory budget (quotes are scanned).
    sell_index: memoryview | None
    plan: Plan
    rules: TranslationRules
    loss: int  # scaled loss per minute the plan accepts (``max_loss`` when ``allow_loss``)
    #: Plain least cost, one currency, no capacity limits: the routes are a span of the
    #: table's cost-ordered entries (no per-carrier check).
    span: bool
    #: Least cost with quality floors (and a score source), one currency, no capacity
    #: limits, no forced routes: while no candidate is below its floor or cooling down,
    #: the routes are the same span (see :meth:`Router._floors_clear`).
    floor_span: bool
    #: (start, end) of a candidate span -> its carriers' names (shared by the customers of
    #: one table; see :meth:`Router._span_names`)
    span_names: dict[tuple[int, int], tuple[str, ...]]
    #: The floor's kept group answers in one flat array (a customer with floor_span, a
    #: score source with group_digits and watch_groups; else None): a group ``g`` of
    #: exactly group_digits digits (as an int) clears its floor at every whole-second
    #: instant in ``[slots[2g], slots[2g+1])`` (an ``array("q")``; the kept interval's
    #: ends rounded up, see _keep_slot): its whole kept answer (the looks of every carrier
    #: clear the floor, the group decides its floor, the score source hands back the same
    #: looks) in one slot, which the express path reads instead of the kept dict entry.
    #: The score source empties a group's slot whenever it would hand back other looks
    #: (see QualityBoard.watch_groups); shared by the customers of one plan and table.
    floor_slots: array | None = None


class _Front(NamedTuple):
    """A general-path decision up to its candidates (see :meth:`Router._front`)."""

    known: _Customer
    number: str
    normalized: str
    t: int
    info: NumberInfo | None
    sell_prefix: str | None
    sell: int
    a: int  # candidates: the route entries a:b
    b: int
    route_number: str
    call_id: str  # seeds the weighted split and the probe share
    routing_number: str | None
    trunk: str | None
    tech: str
    on_net: str | None
    notes: tuple[str, ...]


class _Prefetch(NamedTuple):
    """What the plan and capacity stages read, gathered beforehand (see
    :meth:`Router.prepare`): each candidate's quality look (None: the plan reads none, or
    its score source cannot gather), each capped carrier's concurrent calls (None:
    unreachable, read them now), and the cooldown to start (the score source's
    ``cool_later``)."""

    looks: list[CarrierLook] | None  # in the order of Router._span_names
    occupied: dict[str, int] | None
    cool: Callable[..., float] | None


class PendingDecision:
    """A decision made in two halves around one round trip (:meth:`Router.prepare`).

    ``decision`` is the finished :class:`Decision` when nothing is left to read (the
    express path, a refused call, a plan that reads no counters); else None until
    :meth:`finish`. ``draft`` is the decision without its routes (customer, numbers,
    trunk, sell prefix and rate: what the fraud rules' facts need) before the routes are
    ordered.
    """

    __slots__ = ("decision", "_router", "_front", "_looks", "_carriers", "_caps", "_start")

    def __init__(self, router: Router, decision: Decision | None, front: _Front | None) -> None:
        self._router = router
        self.decision = decision
        self._front = front
        self._looks: Any = None
        self._carriers: tuple[str, ...] = ()
        self._caps: list[str] = []
        self._start = 0

    @property
    def draft(self) -> Decision:
        """The decision's identity before its routes: the finished decision when there
        is one, else one without routes (not blocked) built from the stages done."""
        if self.decision is not None:
            return self.decision
        f = self._front
        assert f is not None
        return _decision(
            f.number, f.normalized, f.known.name, f.t, f.info, f.sell_prefix, f.sell, "",
            None, f.routing_number, f.trunk, f.tech, f.on_net, f.notes,
        )  # fmt: skip

    def queue(self, gather: Gather) -> None:
        """Queue on ``gather`` what the plan and capacity stages read: the candidates'
        live quality on the destination group (with a score source that can gather, when
        the plan has quality floors or ``strategy = "quality"``) and the concurrent calls
        of every capped candidate."""
        f = self._front
        if f is None or f.known.span:  # decided, or plain least cost: nothing to read
            return
        router, known = self._router, f.known
        table = known.table
        entries = table.entries(f.a, f.b)
        plan = known.plan
        scores = router.scores
        if scores is not None and (plan.floors or plan.strategy == "quality"):
            queue_look = getattr(scores, "queue_look", None)
            if queue_look is not None:
                self._carriers = router._span_names(known, f.a, f.b)
                group = scores.group_of(f.route_number)
                self._looks = queue_look(self._carriers, group, at=f.t, gather=gather)
        counters = router.counters
        if counters is not None:
            currency = table.customer_currency[known.index]  # as _plan compares it
            keys = []
            for _rate, c, _row in entries:
                cap = known.caps[c]
                if cap is not None and table.carrier_currency[c] == currency:
                    keys.append(cap[1])
            if keys:
                batch = gather.batch(counters)
                self._start = len(batch)  # type: ignore[arg-type]  # both kinds have __len__
                for key in keys:
                    batch.occupied(key, at=f.t)
                self._caps = keys

    def finish(self, gather: Gather) -> Decision:
        """The decision, with the answers of the executed ``gather``."""
        if self.decision is not None:
            return self.decision
        f = self._front
        assert f is not None
        router = self._router
        looks = None
        cool = None
        if self._looks is not None:
            scores: Any = router.scores
            looks = scores.finish_look(self._looks, gather)  # in the order of _carriers
            cool = scores.cool_later
        occupied = None
        if self._caps:
            answers = gather.results(router.counters)  # type: ignore[arg-type]  # not None
            if answers is not None:
                start = self._start
                occupied = dict(zip(self._caps, answers[start : start + len(self._caps)],
                                    strict=True))  # fmt: skip
        decision = router._back(f, _Prefetch(looks, occupied, cool))
        self.decision = decision
        return decision


class _Express(NamedTuple):
    """What the express path of :meth:`Router.route` reads for one customer on one table,
    in the order it unpacks them."""

    customer_index: int  # _Customer.index
    sell_index: memoryview | None  # as in _Customer
    customer: str  # its name
    loss: int
    max_routes: int
    table: RoutingTable
    policies: tuple[CarrierPolicy, ...]
    # The table's arrays and the trie's prefix iterator, one unpack away.
    iter_prefixes: Callable[[str], Iterator[tuple[str, int]]]
    offsets: memoryview
    route_rate: memoryview
    quote_customer: memoryview
    quote_rate: memoryview
    quote_plen: memoryview
    valid_from: int
    valid_until: int
    #: a customer with quality floors (see _Customer.floor_span): the express path checks
    #: that its floor leaves every candidate; None: plain least cost
    floors: _Customer | None
    why: Callable[[int], str] | None  # the routes' reasons (None: "cheapest remaining")
    slots: array | None  # floors.floor_slots
    cut: int  # the score source's group_digits (with slots)


class Router:
    """Routes calls over a compiled :class:`~tandem.lcr.table.RoutingTable`.

    ``plan`` is a :class:`~tandem.lcr.policy.RoutingConfig` (plans per customer, carriers,
    translation rules, trunks; see :func:`~tandem.lcr.policy.load_config`) or one
    :class:`~tandem.lcr.policy.Plan` for every customer. Without one, the router follows
    the routing plan compiled into each table it routes on (the stored plan in force at
    the compile instant, see :func:`~tandem.lcr.table.compile_table`; least cost for
    every customer when the table has none), so :meth:`swap` to a table compiled after a
    plan change takes the new plan with it.
    ``lookup`` is any :class:`~tandem.enum.types.NumberLookup` (ENUM / number
    portability); ``counters`` backs carrier capacity limits; ``scores`` is a live quality
    source (:class:`~tandem.lcr.scores.ScoreSource`, e.g. a
    :class:`tandem.quality.QualityBoard`) that quality floors and ``strategy = "quality"``
    read (without one, floors are inert and ``quality`` uses the plan's static map).
    """

    def __init__(
        self,
        table: RoutingTable,
        plan: RoutingConfig | Plan | None = None,
        lookup: NumberLookup | None = None,
        counters: Counters | None = None,
        scores: ScoreSource | None = None,
    ) -> None:
        if isinstance(plan, Plan):
            plan = RoutingConfig.single(plan)
        self._own_config: RoutingConfig | None = plan  # None: each table's own routing plan
        self.lookup = lookup
        self.counters = counters
        self.scores = scores
        self._state = self._prepare(table)
        self._express = self._state.express  # see swap()
        #: candidate span -> (looks, floor, whether the floor leaves them all): the answer
        #: for the last list of looks the score source gave for it (see _floors_clear)
        self._clear: dict[tuple[int, int], tuple[Any, Any, bool]] = {}
        #: destination group -> (the looks of every carrier, floor, whether one of them is
        #: cooling down or below the floor, the carriers looked at, and from, until and
        #: live: where the score source hands back the same looks; the plan, and whether
        #: the group decides its floor): see _floors_clear
        self._group_clear: dict[str, tuple[Any, ...]] = {}
        #: the score source's group_digits (see ScoreSource), else None
        cut = getattr(scores, "group_digits", None)
        self._group_cut: int | None = cut if type(cut) is int and cut > 0 else None

    @property
    def config(self) -> RoutingConfig:
        """The routing config decisions follow now: the one given, or the current table's
        routing plan."""
        return self._state.config

    def _prepare(self, table: RoutingTable) -> _TableState:
        """The state decisions read for ``table``: its routing config, carrier policies and
        capacity limits."""
        config = self._own_config
        if config is None:
            from tandem.lcr.plans import table_routing_config

            config = table_routing_config(table)
        policies = tuple(config.carrier(name) for name in table.carriers)
        caps = tuple(
            (p.max_concurrent, carrier_calls_key(p.name))
            if p.max_concurrent is not None and self.counters is not None
            else None
            for p in policies
        )
        return _TableState(
            table, config, policies, caps, any(c is not None for c in caps), {}, {}, {}, {}
        )

    def _customer(self, state: _TableState, customer: str) -> _Customer:
        """Resolve a customer once per table: its index, plan, rules and whether the
        express path can serve it."""
        table, config = state.table, state.config
        index = table.customer_index.get(customer, -1)
        if index < 0 and not config.knows(customer):
            raise UnknownCustomerError(
                f"unknown customer {customer!r}: it has no sell deck in the routing table "
                "and no entry in the routing config"
            )
        plan = config.plan_for(customer)
        if plan.floors and self.scores is None:  # floors read live scores: inert without
            plan = replace(plan, floors=())
        rules = config.rules_for(customer)
        span = plan.simple and table.single_currency and not state.any_caps
        floor_span = (
            plan.strategy == "least-cost"
            and not plan.forced
            and bool(plan.floors)
            and table.single_currency
            and not state.any_caps
        )
        sells = None
        if index >= 0:
            # list(): one atomic copy, as other threads may resolve customers meanwhile
            indexed = sum(c.sell_index is not None for c in list(state.customers.values()))
            if (indexed + 1) * 16 * table.prefix_count <= _EXPRESS_SELL_BYTES:
                sells = _sell_index(table, index)
        slots = self._floor_slots(state, plan) if floor_span else None
        known = _Customer(
            customer, table, state.policies, state.caps, index, sells, plan, rules,
            plan.max_loss if plan.allow_loss else 0, span, floor_span, state.span_names,
            slots,
        )  # fmt: skip
        if (span or floor_span) and index >= 0 and rules is _NO_RULES and not plan.blocked:
            entry = _Express(
                index, sells, customer, known.loss, plan.max_routes, table, state.policies,
                table._iter_prefixes, table.offsets, table.route_rate, table.quote_customer,
                table.quote_rate, table.quote_plen, table.valid_from, table.valid_until,
                None if span else known, None if span else _ranked, None if span else slots,
                self._group_cut or 0,
            )  # fmt: skip
            state.express[customer] = tuple(entry)
        state.customers[customer] = known  # one dict store: safe under concurrent readers
        return known

    def _floor_slots(self, state: _TableState, plan: Plan) -> array | None:
        """The floor slots of ``plan`` on ``state``'s table (see _Customer.floor_slots),
        made and handed to the score source on the plan's first customer; None when the
        score source gives no group_digits (at most _FLOOR_SLOT_DIGITS) or cannot watch."""
        cut = self._group_cut
        watch = getattr(self.scores, "watch_groups", None)
        if cut is None or cut > _FLOOR_SLOT_DIGITS or watch is None:
            return None
        kept = state.floor_slots.get(id(plan))
        if kept is not None and kept[0] is plan:
            return kept[1]
        slots = array("q", EMPTY_FLOOR_SLOT) * 10**cut
        watch(slots, cut)
        state.floor_slots[id(plan)] = (plan, slots)
        return slots

    @property
    def table(self) -> RoutingTable:
        """The table decisions are made on now."""
        return self._state.table

    def swap(self, table: RoutingTable) -> RoutingTable:
        """Replace the table atomically; return the old one. The general path reads
        ``_state`` once per decision, the express path one entry of ``_express`` (which
        holds its own table), so no decision mixes two tables, whichever of the two
        assignments a concurrent decision sees."""
        old = self._state.table
        state = self._prepare(table)
        self._state = state
        self._express = state.express
        return old

    def reconfigure(self, plan: RoutingConfig | Plan | None) -> None:
        """Follow another routing config (a reload of the routing config file) from the
        next decision on, on the same table; None: each table's own routing plan. Atomic
        as :meth:`swap`."""
        if isinstance(plan, Plan):
            plan = RoutingConfig.single(plan)
        self._own_config = plan
        state = self._prepare(self._state.table)
        self._state = state
        self._express = state.express

    def route(
        self,
        number: str,
        *,
        customer: str | None = None,
        source_ip: str | None = None,
        at: InstantLike,
        call_id: str | None = None,
    ) -> Decision:
        """Decide the routes for one call at instant ``at`` (required: never "now" implicitly).

        Give ``customer`` or ``source_ip`` (or both, which must agree). Raises
        :class:`~tandem.errors.NumberError` for a number that cannot be normalised and
        :class:`~tandem.errors.UnknownCustomerError` for an unknown customer or IP.
        """
        # A decision never mixes two tables (see swap()).
        trunk = None
        if source_ip is None:
            express = self._express.get(customer)
            if express is None or type(at) is not int:
                return self._route(self._state, number, customer, None, at, call_id, _UNSET)
        else:
            # identify by source IP, then the express path of the trunk's customer (the
            # trunk's name goes into the decision, as the general path puts it)
            state = self._state
            if type(at) is not int:
                return self._route(state, number, customer, source_ip, at, call_id, _UNSET)
            found = state.config.trunks.identify(source_ip)  # raises as _identify does
            express = state.express.get(found.customer)
            if express is None or (customer is not None and customer != found.customer):
                return self._route(state, number, customer, source_ip, at, call_id, _UNSET)
            trunk = found.name
        # Express path: the stages of _route() in one piece for a customer on plain least
        # cost (default translation rules, no blocked prefixes, one currency, no capacity
        # limits; or least cost with quality floors that leave every candidate) and a plain
        # E.164 number. Anything else (a lookup that ports the number, no sell rate, outside
        # the table's validity, a carrier below its floor...) continues on the general path
        # with the lookup answer. One unpack reads the customer's _Express (stored as a plain
        # tuple): the fastest read of its 17 fields; the names are its field names, in order.
        (
            customer_index, sell_index, customer, loss, max_routes, table, policies,
            iter_prefixes, offsets, route_rate, quote_customer, quote_rate, quote_plen,
            valid_from, valid_until, floors, why, slots, cut,
        ) = express  # fmt: skip
        # translate: "+" and E.164 digits, nothing to normalise
        digits = number[1:] if type(number) is str and number[:1] == "+" else number
        if not (
            type(digits) is str
            and digits.isdigit()
            and digits.isascii()
            and len(digits) <= _E164_MAX
            and digits[0] != "0"
        ):
            return self._route(self._state, number, customer, source_ip, at, call_id, _UNSET)
        # look up: an answer that neither ports the number nor finds it on-net changes nothing
        lookup = self.lookup
        info = None
        if lookup is not None:
            info = lookup.lookup(digits)
            kind = info.kind
            if kind is not _NOT_FOUND and kind is not _NOT_PORTED:
                return self._route(self._state, number, customer, source_ip, at, call_id, info)
        pre = _UNSET if lookup is None else info  # what the general path takes
        if not valid_from <= at < valid_until:
            return self._route(self._state, number, customer, source_ip, at, call_id, pre)
        # probe: the longest stored prefix, and the customer's sell rate there
        uid = -1
        for _key, uid in iter_prefixes(digits):  # noqa: B007
            pass
        plen = -1
        if uid >= 0:
            if sell_index is not None:  # [sell rate, prefix length] per prefix: one cache line
                sell = sell_index[2 * uid]
                plen = sell_index[2 * uid + 1]
            else:
                sa, sb = offsets[2 * uid + 1], offsets[2 * uid + 3]
                quoted = quote_customer[sa:sb].tolist()
                if customer_index in quoted:
                    i = sa + quoted.index(customer_index)
                    sell = quote_rate[i]
                    plen = quote_plen[i]
        if plen < 0:
            return self._route(self._state, number, customer, source_ip, at, call_id, pre)
        # candidates: every carrier at its own longest prefix, cheapest first
        a = offsets[2 * uid]
        b = offsets[2 * uid + 2]
        if (
            floors is not None
            and not (
                # the group's kept answer in its slot (see _Customer.floor_slots; a number
                # shorter than a group reads a slot never set)
                slots is not None and slots[(g := 2 * int(digits[:cut]))] <= at < slots[g + 1]
            )
            and not self._floors_clear(floors, a, b, digits, at, None)[0]
        ):
            # a carrier below its quality floor or cooling down: the general path
            return self._route(self._state, number, customer, source_ip, at, call_id, pre)
        # plan: the routes are the entries up to the first buy rate above the limit, at
        # most max routes of them
        limit = sell + loss
        end = a + max_routes
        pos = bisect_right(route_rate, limit, a, end if end < b else b)
        return _decision(
            number, digits, customer, at, info, digits[:plen], sell,
            "" if pos > a else _no_route(a, b, digits),
            (table, policies, None, why, (), a, pos, b, limit, max_routes), None, trunk,
        )  # fmt: skip

    def _route(
        self,
        state: _TableState,
        number: str,
        customer: str | None,
        source_ip: str | None,
        at: InstantLike,
        call_id: str | None,
        pre: Any,
    ) -> Decision:
        """The general path of :meth:`route`: each stage in turn (see the module docstring);
        ``pre`` is the number-lookup answer when the express path already asked
        (``_UNSET`` when it did not)."""
        front = self._front(state, number, customer, source_ip, at, call_id, pre)
        if type(front) is Decision:
            return front
        return self._back(front, None)  # type: ignore[arg-type]  # a _Front

    def _front(
        self,
        state: _TableState,
        number: str,
        customer: str | None,
        source_ip: str | None,
        at: InstantLike,
        call_id: str | None,
        pre: Any,
    ) -> Decision | _Front:
        """The stages up to the candidates (identify, translate, look up, probe): a
        :class:`Decision` when the call is refused before them, else a :class:`_Front`
        for :meth:`_back` (plan and capacity)."""
        t = at if type(at) is int else parse_instant(at)
        trunk = None
        known = None if source_ip is not None or customer is None else state.customers.get(customer)
        if known is None:  # not named and resolved on an earlier call
            trunk, known = self._identify(state, customer, source_ip)
        normalized, tech = normalize(number, known.rules)  # translate
        route_number, routing_number, info, on_net, notes = self._look_up(
            normalized, known.plan, pre
        )
        reason = _refusal(known, t, normalized, route_number)
        if not reason:
            uid, sell, sell_prefix, reason = _probe(known, route_number)
        if reason:
            return _decision(
                number, normalized, known.name, t, info, None, None, reason, None,
                routing_number, trunk, tech, None, notes,
            )  # fmt: skip
        a, b = _candidates(known.table, uid)
        return _Front(
            known, number, normalized, t, info, sell_prefix, sell, a, b, route_number,
            call_id or normalized, routing_number, trunk, tech, on_net, notes,
        )  # fmt: skip

    def _back(self, f: _Front, pre: _Prefetch | None) -> Decision:
        """The stages after the candidates (plan, capacity) and the decision; ``pre``: the
        counters' answers gathered beforehand (:meth:`prepare`), None to read them now."""
        raw, routes = self._plan(
            f.known, f.a, f.b, f.sell, f.route_number, f.call_id, f.on_net is not None, f.t, pre
        )
        return _decision(
            f.number, f.normalized, f.known.name, f.t, f.info, f.sell_prefix, f.sell,
            "" if routes or f.on_net is not None else _no_route(f.a, f.b, f.route_number), raw,
            f.routing_number, f.trunk, f.tech, f.on_net, f.notes,
        )  # fmt: skip

    def prepare(
        self,
        number: str,
        *,
        customer: str | None = None,
        source_ip: str | None = None,
        at: InstantLike,
        call_id: str | None = None,
    ) -> PendingDecision:
        """:meth:`route` in two halves around one round trip that other parts of the
        decision share (the call lifecycle's fraud rules and credit limit): the stages up
        to the candidates now; then :meth:`PendingDecision.queue` queues on a
        :class:`~tandem.state.Gather` what the plan and capacity stages read (the live
        quality of the candidates on the destination group, the carriers' concurrent
        calls), and :meth:`PendingDecision.finish` orders the candidates with the
        gather's answers. The decision is the one :meth:`route` makes (a quality cooldown
        it starts goes to shared state with the score source's next round trip:
        :meth:`~tandem.quality.QualityBoard.cool_later`). Raises what :meth:`route`
        raises."""
        express = self._express.get(customer)
        if source_ip is None and express is not None and express[-2] is None:
            # a customer the express path serves without floors reads no counters: now
            return PendingDecision(
                self, self.route(number, customer=customer, at=at, call_id=call_id), None
            )
        front = self._front(self._state, number, customer, source_ip, at, call_id, _UNSET)
        if type(front) is Decision:
            return PendingDecision(self, front, None)
        return PendingDecision(self, None, front)  # type: ignore[arg-type]  # a _Front

    # -- the stages of a decision (general path) --------------------------------------------
    def _identify(
        self, state: _TableState, customer: str | None, source_ip: str | None
    ) -> tuple[str | None, _Customer]:
        """Identify: ``(trunk name, customer resolved on this table)``. The customer is the
        one named, or the owner of the trunk the source IP belongs to (both given: they
        must agree); :class:`~tandem.errors.UnknownCustomerError` otherwise."""
        trunk_name = None
        if source_ip is not None:
            trunk = state.config.trunks.identify(source_ip)
            trunk_name = trunk.name
            if customer is not None and customer != trunk.customer:
                raise UnknownCustomerError(
                    f"source IP {source_ip} belongs to trunk {trunk.name!r} of customer "
                    f"{trunk.customer!r}, not {customer!r}"
                )
            customer = trunk.customer
        if customer is None:
            raise UnknownCustomerError("no customer: give a customer name or a source IP")
        known = state.customers.get(customer)
        if known is None:
            known = self._customer(state, customer)
        return trunk_name, known

    def _look_up(
        self, normalized: str, plan: Plan, pre: Any
    ) -> tuple[str, str | None, NumberInfo | None, str | None, tuple[str, ...]]:
        """Look up (ENUM / number portability), when a lookup is configured:
        ``(number to route on, routing number, lookup answer, on-net SIP URI, notes)``.
        A ported number is routed on its routing number; an on-net one gets a zero-cost
        first route if the plan allows it; a failed lookup routes on the dialed number,
        with a note. ``pre`` is the answer when the express path already asked."""
        if pre is not _UNSET:
            info = pre
        elif self.lookup is not None:
            info = self.lookup.lookup(normalized)
        else:
            return normalized, None, None, None, ()
        kind = info.kind
        if kind is _NOT_FOUND or kind is _NOT_PORTED:
            return normalized, None, info, None, ()
        if kind.failed:
            note = f"number lookup failed ({kind}: {info.detail}); routed on the dialed number"
            return normalized, None, info, None, (note,)
        if kind is LookupKind.PORTED and info.routing_number:
            return info.routing_number, info.routing_number, info, None, ()
        if kind is LookupKind.ON_NET and info.sip_uri:
            if plan.allow_on_net:
                return normalized, None, info, info.sip_uri, ()
            note = "on-net destination ignored: the plan does not allow on-net"
            return normalized, None, info, None, (note,)
        return normalized, None, info, None, ()

    def _plan(
        self,
        known: _Customer,
        a: int,
        b: int,
        sell: int,
        number: str,
        call_id: str,
        on_net: bool,
        t: int,
        pre: _Prefetch | None = None,
    ) -> tuple[tuple[Any, ...], int]:
        """Plan: the customer's plan over the candidates (route entries ``a:b``), with
        margin protection, capacity and max routes; returns (the decision's raw routes,
        see :class:`_Raw`; how many carriers were picked). An on-net route counts
        against max routes. Quality floors and live quality read the score source at
        ``t``; ``pre`` holds the scores and capacity counts read beforehand (None: read
        them now)."""
        occupied = None if pre is None else pre.occupied
        table, policies, plan = known.table, known.policies, known.plan
        limit = sell + known.loss
        maxr = plan.max_routes - 1 if on_net else plan.max_routes
        raw: tuple[Any, ...]
        looks: Any = None if pre is None else pre.looks
        if known.floor_span and self.scores is not None:
            clear, looks = self._floors_clear(known, a, b, number, t, looks)
            if clear:  # the routes of plain least cost, with its reasons
                end = a + maxr
                pos = bisect_right(table.route_rate, limit, a, end if end < b else b)
                raw = (table, policies, None, _ranked, (), a, pos, b, limit, plan.max_routes)
                return raw, pos - a
        if known.span:
            # Plain least cost: entries are sorted by buy rate, so the routes are those up
            # to the first rate above the limit, at most max routes of them; the rest is
            # never examined (its drop reasons are found when asked for).
            end = a + maxr
            pos = bisect_right(table.route_rate, limit, a, end if end < b else b)
            raw = (table, policies, None, None, (), a, pos, b, limit, plan.max_routes)
            return raw, pos - a
        currency = table.customer_currency[known.index]
        picked: list = []
        dropped: list = []
        if plan.simple:
            # Least cost with per-carrier checks: scan in cost order until the limit or
            # max routes, checking each carrier's currency and capacity.
            pos = a
            done = maxr <= 0
            while pos < b and not done:
                for rate, c, row in table.entries(pos, min(b, pos + maxr + 2)):
                    if rate > limit:
                        done = True
                        break
                    pos += 1
                    refused = self._capacity(known, c, currency, t, occupied)
                    if refused:
                        dropped.append((c, refused))
                        continue
                    picked.append((rate, c, row))
                    if len(picked) >= maxr:
                        done = True
                        break
            raw = (table, policies, picked, None, dropped, a, pos, b, limit, plan.max_routes)
            return raw, len(picked)
        # Any other plan: order every candidate by the plan (forced routes, strategy),
        # then keep each in turn unless margin, currency, capacity or max routes refuse it.
        by_name = None
        if looks is not None:
            by_name = dict(zip(self._span_names(known, a, b), looks, strict=True))
        ordered, why_all, excluded = order_routes(
            plan, table.entries(a, b), table.carriers, number, call_id, self.scores, t,
            looks=by_name, cool=None if pre is None else pre.cool,
        )  # fmt: skip
        dropped.extend(excluded)
        why = []
        for (rate, c, row), reason in zip(ordered, why_all, strict=True):
            if rate > limit:
                dropped.append((c, _margin_reason(rate, sell)))
            elif refused := self._capacity(known, c, currency, t, occupied):
                dropped.append((c, refused))
            elif len(picked) >= maxr:
                dropped.append((c, f"max routes ({plan.max_routes}) reached"))
            else:
                picked.append((rate, c, row))
                why.append(reason)
        raw = (table, policies, picked, why, dropped, a, b, b, limit, plan.max_routes)
        return raw, len(picked)

    def _span_names(self, known: _Customer, a: int, b: int) -> tuple[str, ...]:
        """The carriers' names of the candidates ``a:b``, in their order (one tuple per span
        and table, so that a score source can tell a span it has seen by identity)."""
        names = known.span_names.get((a, b))
        if names is None:
            table = known.table
            carriers = table.carriers
            names = tuple(carriers[e[1]] for e in table.entries(a, b))
            if len(known.span_names) >= 65536:
                known.span_names.clear()
            known.span_names[(a, b)] = names
        return names

    def _floors_clear(
        self, known: _Customer, a: int, b: int, number: str, t: int, looks: Any
    ) -> tuple[bool, Any]:
        """Whether the plan's quality floor for ``number`` leaves every candidate ``a:b``
        in place (no floor for it; or none of them cooling down or below it), so that the
        routes are those of plain least cost; and the candidates' looks (``looks``: read
        beforehand, else read now from the score source). The answer for one list of
        looks and one floor is kept per span (the board hands back the same list while
        nothing it holds changed), so a decision pays for the check once per refresh."""
        scores = self.scores
        assert scores is not None
        plan = known.plan
        if looks is None:
            # The group's kept answer, when it is clear and the group decides the floor
            # (no floor prefix longer than the group: the same floor for every number in
            # it): see below for when an answer is kept.
            group = scores.group_of(number)
            seen = self._group_clear.get(group)
            if (
                seen is not None
                and seen[7] is plan
                and seen[8]
                and not seen[2]
                and seen[3] is known.table.carriers
                and seen[4] <= t < seen[5]
                and seen[6][0]
                and number.startswith(group)
            ):
                return True, None
        floor = plan.floor_for(number)
        if floor is None:
            return True, looks
        below = floor.below
        if looks is not None:  # read beforehand: a list of its own
            return all(x.cooling_until is None and not below(x.score) for x in looks), looks
        # First the whole destination group: the looks of every carrier of the table (one
        # list the score source hands back while nothing in it changed) and, per floor,
        # whether any of them is cooling down or below it, kept per group. None is: every
        # candidate clears the floor, whatever the span (no per-span work).
        group = scores.group_of(number)
        carriers = known.table.carriers
        seen = self._group_clear.get(group)
        # The answer kept for the group stands, without asking the score source, while
        # its list of looks would be handed back unchanged (a source with look_memo: its
        # live flag still set, an instant inside the list's interval) for the same floor
        # and table.
        if (
            seen is None
            or seen[1] is not floor
            or seen[3] is not carriers
            or not seen[4] <= t < seen[5]
            or not seen[6][0]
        ):
            look_memo = getattr(scores, "look_memo", None)
            if look_memo is not None:
                every, since, until, live = look_memo(carriers, group, at=t)
            else:
                every, since, until, live = scores.look(carriers, group, at=t), t, t, _DEAD
            if seen is None or seen[0] is not every or seen[1] is not floor:
                trouble = any(x.cooling_until is not None or below(x.score) for x in every)
            else:
                trouble = seen[2]
            if len(self._group_clear) >= 65536:
                self._group_clear.clear()
            wide = len(group) >= max(len(f.prefix) for f in plan.floors) and number.startswith(
                group
            )
            seen = self._group_clear[group] = (
                every, floor, trouble, carriers, since, until, live, plan, wide
            )  # fmt: skip
            slots = known.floor_slots
            if slots is not None and (trouble or not wide):  # the slot mirrors this answer
                empty_floor_slot(slots, group)
        if not seen[2]:
            slots = known.floor_slots
            if slots is not None and seen[8] and seen[6] is not _DEAD:
                _keep_slot(slots, group, seen[4], seen[5], seen[6])
            return True, None
        looks = scores.look(self._span_names(known, a, b), group, at=t)
        span = (a, b)
        memo = self._clear.get(span)
        if memo is not None and memo[0] is looks and memo[1] is floor:
            return memo[2], looks
        clear = all(x.cooling_until is None and not below(x.score) for x in looks)
        if len(self._clear) >= 65536:
            self._clear.clear()
        self._clear[span] = (looks, floor, clear)  # one entry per span: bounded
        return clear, looks

    def _capacity(
        self,
        known: _Customer,
        c: int,
        currency: str,
        t: int,
        occupied: dict[str, int] | None = None,
    ) -> str:
        """Capacity: why carrier ``c`` cannot take the call at ``t``, or "" when it can. It
        cannot when it bills in another currency than the customer (no conversion) or
        when it is at its ``max_concurrent`` calls: the counters' plain counter plus the
        slots live at ``t`` under ``carrier:NAME:calls``
        (:meth:`~tandem.state.Counters.occupied`)."""
        table = known.table
        if table.carrier_currency[c] != currency:
            return (
                f"rates in {table.carrier_currency[c]}, the customer is billed in {currency} "
                "(no currency conversion)"
            )
        cap = known.caps[c]
        if cap is None:
            return ""
        limit, key = cap
        if occupied is not None and key in occupied:
            now = occupied[key]
        else:
            now = self.counters.occupied(key, at=t) if self.counters is not None else 0
        return f"at capacity ({now}/{limit} concurrent calls)" if now >= limit else ""


def _keep_slot(slots: array, group: str, since: Any, until: Any, live: list[bool]) -> None:
    """Keep a group's clear answer in its floor slot (see _Customer.floor_slots): valid in
    ``[since, until)`` while ``live[0]``. Only a group of exactly the slots' digits (no
    leading zero) has a slot; its ends are kept rounded up to whole seconds (the express
    path reads it for whole-second instants only), within an int64. Written
    first, then ``live`` read again: a score source that drops the group meanwhile sets
    ``live[0]`` to False before it empties the slot, so either it empties this answer or
    this reads False and empties it here."""
    g = floor_slot_index(slots, group)
    if g < 0:
        return
    lo, hi = _ceiling(since), _ceiling(until)
    if lo is None or hi is None or not lo < hi:
        return
    slots[g] = lo
    slots[g + 1] = hi
    if not live[0]:
        slots[g] = EMPTY_FLOOR_SLOT[0]
        slots[g + 1] = EMPTY_FLOOR_SLOT[1]


def _ceiling(x: Any) -> int | None:
    """The least whole second at or after instant ``x`` (for a whole-second instant t,
    ``x <= t`` is ``ceiling(x) <= t`` and ``t < x`` is ``t < ceiling(x)``), when an int64
    holds it; else None."""
    if type(x) is float:
        if not math.isfinite(x):
            return None
        x = math.ceil(x)
    elif type(x) is not int:
        return None
    return x if _SLOT_MIN < x < _SLOT_MAX else None


def _refusal(known: _Customer, t: int, normalized: str, route_number: str) -> str:
    """Why the call is refused before the table is probed ("" when it is not): the table
    is not valid at the call's instant, or the customer's plan blocks the destination
    (the dialed number or the routing number a lookup gave)."""
    table, plan = known.table, known.plan
    if not table.valid_from <= t < table.valid_until:
        return (
            f"the routing table is valid {table.validity_text()}, not at {format_instant(t)}: "
            "recompile it for that instant (tandem compile --at ...)"
        )
    if plan.blocked:
        hit = plan.blocked_prefix(normalized, route_number)
        if hit is not None:
            return f"destination prefix {hit} is blocked by the plan of {known.name}"
    return ""


def _probe(known: _Customer, number: str) -> tuple[int, int, str | None, str]:
    """Probe: ``(uid, sell rate, sell prefix, reason)``. ``uid`` is the longest stored
    prefix of ``number`` (one trie probe; -1: none); the sell rate is the one of the
    customer's own longest prefix there; ``reason`` says why there is none ("" when
    found)."""
    table = known.table
    uid = -1
    for _key, uid in table._iter_prefixes(number):  # noqa: B007
        pass
    if uid < 0:
        return uid, -1, None, f"no carrier or customer prefix matches {number}"
    sells = known.sell_index
    if sells is not None:  # [sell rate, prefix length] per prefix: one cache line
        plen = sells[2 * uid + 1]
        if plen >= 0:
            return uid, sells[2 * uid], number[:plen], ""
    elif known.index >= 0:
        sa, sb = table.offsets[2 * uid + 1], table.offsets[2 * uid + 3]
        quoted = table.quote_customer[sa:sb].tolist()
        if known.index in quoted:
            i = sa + quoted.index(known.index)
            return uid, table.quote_rate[i], number[: table.quote_plen[i]], ""
    return uid, -1, None, f"customer {known.name} has no sell rate for {number}"


def _candidates(table: RoutingTable, uid: int) -> tuple[int, int]:
    """Candidates: the span ``a:b`` of the route arrays holding every carrier that covers
    union prefix ``uid``, each at its own longest prefix, cheapest first (the compiled
    table holds them so: longest prefix per carrier is decided at compile time)."""
    return table.offsets[2 * uid], table.offsets[2 * uid + 2]


def _no_route(a: int, b: int, number: str) -> str:
    """The reason of a decision without routes: no carrier covers the number (an empty
    span of candidates), or every one of them was dropped."""
    if a == b:
        return f"no carrier has a prefix of {number}"
    return f"no carrier may take {number}: see dropped"


def _decision(
    number: str,
    normalized: str,
    customer: str,
    at: int,
    lookup: NumberInfo | None,
    sell_prefix: str | None,
    sell: int | None,
    reason: str,
    raw: tuple | None,
    routing_number: str | None = None,
    trunk: str | None = None,
    tech_prefix: str = "",
    on_net: str | None = None,
    notes: tuple[str, ...] = (),
) -> Decision:
    """Every :class:`Decision` is made here. ``reason`` says why the call is blocked (""
    when it is not); ``raw`` is what the routes and drop reasons are built from on demand
    (None: no routes). Built without the frozen dataclass's per-field ``__setattr__``
    (the hot path): one ``__dict__``, where optional fields left at their default are not
    stored (the dataclass's class attributes give them)."""
    values = {
        "number": number,
        "normalized": normalized,
        "customer": customer,
        "at": at,
        "sell_prefix": sell_prefix,
        "sell_rate_scaled": sell,
        "blocked": reason != "",
        "reason": reason,
        "lookup": lookup,
        "_raw": raw,
    }
    if routing_number is not None:
        values["routing_number"] = routing_number
    if trunk is not None:
        values["trunk"] = trunk
    if tech_prefix:
        values["tech_prefix"] = tech_prefix
    if on_net is not None:
        values["on_net"] = on_net
    if notes:
        values["notes"] = notes
    d = _new(Decision)
    _setattr(d, "__dict__", values)
    return d


_new = object.__new__
_setattr = object.__setattr__
_UNSET = object()  # no number-lookup answer yet
_DEAD = [False]  # the live flag of looks a score source does not keep
#: an empty floor slot (see _Customer.floor_slots): no instant is inside
_SLOT_MIN, _SLOT_MAX = EMPTY_FLOOR_SLOT[1], EMPTY_FLOOR_SLOT[0]
#: the most group digits the floor slots serve (2 x 10**digits int64s per plan)
_FLOOR_SLOT_DIGITS = 5
#: Memory per router and table for the customers' dense sell-rate indexes (16 bytes per
#: prefix per customer); customers beyond it scan the prefix's quotes instead.
_EXPRESS_SELL_BYTES = 64 << 20


def _sell_index(table: RoutingTable, cidx: int) -> memoryview:
    """Per union prefix ``u``: ``[2u]`` customer ``cidx``'s sell rate there and ``[2u+1]``
    the length of its matched prefix (-1: no sell rate)."""
    quoted = np.flatnonzero(np.asarray(table.arrays["quote_customer"]) == cidx)
    starts = np.asarray(table.arrays["offsets"])[1::2]
    uid = np.searchsorted(starts, quoted, side="right") - 1
    out = np.full(2 * table.prefix_count, -1, dtype=np.int64)
    out[2 * uid] = np.asarray(table.arrays["quote_rate"])[quoted]
    out[2 * uid + 1] = np.asarray(table.arrays["quote_plen"])[quoted]
    return out.data


_NOT_FOUND = LookupKind.NOT_FOUND
_NOT_PORTED = LookupKind.NOT_PORTED
_NO_RULES = DEFAULT_RULES
