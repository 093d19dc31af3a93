"""The router: one call in (number, customer or source IP, instant), one :class:`Decision` out.

Per call: identify the customer (by name, or its trunk by source IP), translate the dialed
number to E.164, ask the number lookup (ENUM / number portability) when one is configured,
find the longest stored prefix of the number to route on (one trie probe), read the
customer's sell rate and the carriers pre-sorted by cost for that prefix (a slice of flat
arrays), apply the customer's plan (:mod:`tandem.lcr.policy`) and return the ordered
routes with a reason for every carrier left out.

``Router.swap(table)`` replaces the table atomically: each decision reads the table
reference once, so no decision ever mixes two tables.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import numpy as np

from tandem.enum.types import LookupKind, NumberInfo, NumberLookup
from tandem.errors import UnknownCustomerError
from tandem.instant import InstantLike, format_instant, parse_instant
from tandem.lcr.counters import Counters, carrier_calls_key
from tandem.lcr.policy import CarrierPolicy, Plan, RoutingConfig, weighted_order
from tandem.lcr.table import RoutingTable
from tandem.lcr.translate import DEFAULT_RULES, normalize
from tandem.money import format_money
from tandem.money import from_scaled as _from_scaled
from tandem.numbers import MAX_DIGITS as E164_MAX_DIGITS

__all__ = ["Route", "Dropped", "Decision", "Router", "ON_NET"]

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
    """What a decision needs to materialise its routes and drop reasons on demand."""

    table: RoutingTable
    policies: tuple[CarrierPolicy, ...]
    picked: list | tuple  # [(rate, carrier index, buy row), ...] or a span (a, b)
    why: list | None  # reason per picked route (None: "cheapest remaining")
    dropped: list  # [(carrier index, reason), ...] decided while routing
    rest: tuple[int, int] | None  # route-array slice never examined (fast path)
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
        for i, (rate, c, row) in enumerate(_picked(raw)):
            pol = raw.policies[c]
            why = raw.why[i] if raw.why is not None else _cheapest(i)
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
        if raw.rest is not None:
            for rate, c, _row in raw.table.entries(*raw.rest):
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
    if isinstance(raw.picked, tuple):
        return raw.table.entries(*raw.picked)
    return raw.picked


def _cheapest(i: int) -> str:
    return "cheapest buy rate" if i == 0 else f"cheapest remaining (#{i + 1} by buy rate)"


def _margin_reason(rate: int, sell: int | None) -> str:
    return (
        f"buy rate {format_money(rate)} above sell rate {format_money(sell or 0)} "
        "(margin protection)"
    )


class Router:
    """Routes calls over a compiled :class:`~tandem.lcr.table.RoutingTable`.

    ``plan`` is a :class:`~tandem.lcr.policy.RoutingConfig` (plans per customer, carriers,
    translation rules, trunks; see :func:`~tandem.lcr.policy.load_config`) or one
    :class:`~tandem.lcr.policy.Plan` for every customer (default: least cost).
    ``lookup`` is any :class:`~tandem.enum.types.NumberLookup` (ENUM / number
    portability); ``counters`` backs carrier capacity limits.
    """

    def __init__(
        self,
        table: RoutingTable,
        plan: RoutingConfig | Plan | None = None,
        lookup: NumberLookup | None = None,
        counters: Counters | None = None,
    ) -> None:
        if plan is None:
            plan = RoutingConfig()
        elif isinstance(plan, Plan):
            plan = RoutingConfig.single(plan)
        self.config: RoutingConfig = plan
        self.lookup = lookup
        self.counters = counters
        self._state = self._prepare(table)

    def _prepare(self, table: RoutingTable) -> tuple:
        policies = tuple(self.config.carrier(name) for name in table.carriers)
        caps = tuple(
            (p.max_concurrent, carrier_calls_key(p.name))
            if p.max_concurrent is not None and self.counters is not None
            else None
            for p in policies
        )
        return (
            table,
            policies,
            caps,
            any(c is not None for c in caps),
            table.customer_index,
            table._iter_prefixes,
            table.offsets,
            table.quote_customer,
            table.route_rate,
            table.valid_from,
            table.valid_until,
            {},  # customer -> (index, plan, rules, fast-path limits), filled on first call
            {},  # customer -> express-path state (see route()), filled on first call
        )

    def _customer(self, state: tuple, customer: str | None) -> tuple:
        """Resolve a customer once per table: its index, plan, rules and fast-path flags."""
        if customer is None:
            raise UnknownCustomerError("no customer: give a customer name or a source IP")
        table, any_caps, customer_index, per_customer = state[0], state[3], state[4], state[-2]
        cidx = customer_index.get(customer, -1)
        config = self.config
        if cidx < 0 and not config.knows(customer):
            raise UnknownCustomerError(
                f"unknown customer {customer!r}: it has no sell deck in the routing table "
                "and no entry in the routing config"
            )
        plan = config.plan_for(customer)
        fast = None
        if plan.simple and table.single_currency and not any_caps:
            fast = (plan.max_loss if plan.allow_loss else 0, plan.max_routes)
        rules = config.rules_for(customer)
        known = (cidx, plan, rules, fast)
        express = state[-1]
        if fast is not None and cidx >= 0 and rules is _NO_RULES and not plan.blocked:
            # Everything route() needs for this customer in one tuple, read by one unpack.
            indexed = sum(1 for e in express.values() if e[1] is not None)
            budget = (indexed + 1) * 16 * table.prefix_count <= _EXPRESS_SELL_BYTES
            sells = _sell_index(table, cidx) if budget else None
            express[customer] = (
                cidx, sells, fast[0], fast[1], table, state[1], table._iter_prefixes,
                table.offsets, table.route_rate, table.quote_customer, table.quote_rate,
                table.quote_plen, table.valid_from, table.valid_until,
            )  # fmt: skip
        per_customer[customer] = known  # one dict store: safe under concurrent readers
        return known

    @property
    def table(self) -> RoutingTable:
        """The table decisions are made on now."""
        return self._state[0]

    def swap(self, table: RoutingTable) -> RoutingTable:
        """Replace the table atomically (one reference assignment); return the old one."""
        old = self._state[0]
        self._state = self._prepare(table)
        return old

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
        # One read of the state: a decision never mixes two tables (see swap()).
        state = self._state
        express = state[12].get(customer)
        if express is None or source_ip is not None or type(at) is not int:
            return self._route(state, number, customer, source_ip, at, call_id, _UNSET)
        # Express path: a customer on plain least cost (default translation rules, no
        # blocked prefixes, one currency, no capacity limits) and a plain E.164 number.
        # Anything else (a lookup that ports the number, no sell rate, outside the
        # table's validity...) continues on the general path with the lookup answer.
        (
            cidx, sells, loss, maxr, table, policies, iter_prefixes, offsets, route_rate,
            quote_customer, quote_rate, quote_plen, valid_from, valid_until,
        ) = express  # fmt: skip
        digits = number[1:] if type(number) is str and number[:1] == "+" else number
        if not (
            type(digits) is str
            and digits.isdigit()
            and digits.isascii()
            and len(digits) <= _E164_MAX
            and digits[0] != "0"
        ):
            return self._route(state, number, customer, None, at, call_id, _UNSET)
        lookup = self.lookup
        info = None
        if lookup is not None:
            info = lookup.lookup(digits)
            kind = info.kind
            if kind is not _NOT_FOUND and kind is not _NOT_PORTED:
                return self._route(state, number, customer, None, at, call_id, info)
        if not valid_from <= at < valid_until:
            return self._route(
                state, number, customer, None, at, call_id, _UNSET if lookup is None else info
            )
        uid = -1
        for _key, uid in iter_prefixes(digits):  # noqa: B007
            pass
        plen = -1
        if uid >= 0:
            if sells is not None:  # [sell rate, its prefix length] per prefix: one cache line
                sell = sells[2 * uid]
                plen = sells[2 * uid + 1]
            else:
                sa, sb = offsets[2 * uid + 1], offsets[2 * uid + 3]
                quoted = quote_customer[sa:sb].tolist()
                if cidx in quoted:
                    i = sa + quoted.index(cidx)
                    sell = quote_rate[i]
                    plen = quote_plen[i]
        if plen < 0:
            return self._route(
                state, number, customer, None, at, call_id, _UNSET if lookup is None else info
            )
        a = offsets[2 * uid]
        b = offsets[2 * uid + 2]
        limit = sell + loss
        end = a + maxr
        # Entries are sorted by buy rate: the routes are those up to the first rate above
        # the limit, at most max routes of them.
        pos = bisect_right(route_rate, limit, a, end if end < b else b)
        if pos > a:
            blocked, reason = False, ""
        elif a == b:
            blocked, reason = True, f"no carrier has a prefix of {digits}"
        else:
            blocked, reason = True, f"no carrier may take {digits}: see dropped"
        d = _new(Decision)
        _setattr(
            d,
            "__dict__",
            {
                "number": number,
                "normalized": digits,
                "customer": customer,
                "at": at,
                "sell_prefix": digits[:plen],
                "sell_rate_scaled": sell,
                "blocked": blocked,
                "reason": reason,
                # routing_number, trunk, tech_prefix, on_net and notes keep their
                # defaults (class attributes of the dataclass): fewer keys to store.
                "lookup": info,
                "_raw": (table, policies, (a, pos), None, [], (pos, b), limit, maxr),
            },
        )
        return d

    def _route(
        self,
        state: tuple,
        number: str,
        customer: str | None,
        source_ip: str | None,
        at: InstantLike,
        call_id: str | None,
        pre: Any,
    ) -> Decision:
        """The general path of :meth:`route`; ``pre`` is the number-lookup answer when the
        express path already asked (``_UNSET`` when it did not)."""
        (
            table, policies, caps, any_caps, customer_index, iter_prefixes, offsets,
            quote_customer, route_rate, valid_from, valid_until, per_customer, _express,
        ) = state  # fmt: skip
        t = at if type(at) is int else parse_instant(at)
        trunk_name = None
        if source_ip is not None:
            trunk = self.config.trunks.identify(source_ip)
            trunk_name = trunk.name
            if customer is not None and customer != trunk.customer:
                raise UnknownCustomerError(
                    f"source IP {source_ip} belongs to trunk {trunk.name!r} of customer "
                    f"{trunk.customer!r}, not {customer!r}"
                )
            customer = trunk.customer
        known = per_customer.get(customer)
        if known is None:
            known = self._customer(state, customer)
        cidx, plan, rules, fast = known
        # Inline the common case of normalize(): E.164 digits, maybe with "+", default rules.
        digits = number[1:] if type(number) is str and number[:1] == "+" else number
        if (
            rules is _NO_RULES
            and type(digits) is str
            and digits.isdigit()
            and digits.isascii()
            and len(digits) <= _E164_MAX
            and digits[0] != "0"
        ):
            normalized, tech = digits, ""
        else:
            normalized, tech = normalize(number, rules)
        route_number = normalized
        routing_number = info = on_net = None
        notes: tuple[str, ...] = ()
        if pre is _UNSET and self.lookup is not None:
            pre = self.lookup.lookup(normalized)
        if pre is not _UNSET:
            info = pre
            kind = info.kind
            if kind is _NOT_FOUND or kind is _NOT_PORTED:
                pass
            elif kind.failed:
                notes = (
                    f"number lookup failed ({kind}: {info.detail}); routed on the dialed number",
                )
            elif kind is LookupKind.PORTED and info.routing_number:
                route_number = routing_number = info.routing_number
            elif kind is LookupKind.ON_NET and info.sip_uri:
                if plan.allow_on_net:
                    on_net = info.sip_uri
                else:
                    notes = ("on-net destination ignored: the plan does not allow on-net",)
        if not valid_from <= t < valid_until:
            return _blocked(
                (number, normalized, customer, t, routing_number, trunk_name, tech, info),
                notes,
                f"the routing table is valid {table.validity_text()}, not at {format_instant(t)}: "
                "recompile it for that instant (tandem compile --at ...)",
            )
        if plan.blocked:
            hit = plan.blocked_prefix(normalized, route_number)
            if hit is not None:
                return _blocked(
                    (number, normalized, customer, t, routing_number, trunk_name, tech, info),
                    notes,
                    f"destination prefix {hit} is blocked by the plan of {customer}",
                )
        uid = -1
        for _key, uid in iter_prefixes(route_number):  # noqa: B007
            pass
        sell = -1
        if uid >= 0 and cidx >= 0:
            a, sa, b, sb = offsets[2 * uid : 2 * uid + 4].tolist()
            quoted = quote_customer[sa:sb].tolist()
            if cidx in quoted:
                i = sa + quoted.index(cidx)
                sell = table.quote_rate[i]
                sell_prefix = route_number[: table.quote_plen[i]]
        if sell < 0:
            head = (number, normalized, customer, t, routing_number, trunk_name, tech, info)
            if uid < 0:
                reason = f"no carrier or customer prefix matches {route_number}"
            else:
                reason = f"customer {customer} has no sell rate for {route_number}"
            return _blocked(head, notes, reason)
        if fast and on_net is None:
            # Fastest path (plain least cost, one currency, no capacity limits): entries
            # are sorted by buy rate, so the first rate above the limit ends the scan,
            # and so does reaching max routes.
            limit = sell + fast[0]
            end = a + fast[1]
            pos = a
            for rate in route_rate[a : end if end < b else b].tolist():
                if rate > limit:
                    break
                pos += 1
            if pos > a:
                blocked, reason = False, ""
            elif a == b:
                blocked, reason = True, f"no carrier has a prefix of {route_number}"
            else:
                blocked, reason = True, f"no carrier may take {route_number}: see dropped"
            d = _new(Decision)
            _setattr(
                d,
                "__dict__",
                {
                    "number": number,
                    "normalized": normalized,
                    "customer": customer,
                    "at": t,
                    "sell_prefix": sell_prefix,
                    "sell_rate_scaled": sell,
                    "blocked": blocked,
                    "reason": reason,
                    "routing_number": routing_number,
                    "trunk": trunk_name,
                    "tech_prefix": tech,
                    "lookup": info,
                    "on_net": None,
                    "notes": notes,
                    "_raw": (table, policies, (a, pos), None, [], (pos, b), limit, fast[1]),
                },
            )
            return d
        head = (number, normalized, customer, t, routing_number, trunk_name, tech, info)
        limit = sell + plan.max_loss if plan.allow_loss else sell
        maxr = plan.max_routes
        if on_net is not None:
            maxr -= 1
        picked: list = []
        dropped: list = []
        why = None
        rest = None
        check_cur = not table.single_currency
        if plan.simple and not check_cur and not any_caps:
            # Fastest path: entries are sorted by buy rate, so the first rate above the
            # limit ends the scan, and so does reaching max routes.
            pos = a
            if maxr > 0:
                for rate in route_rate[a : min(b, a + maxr)].tolist():
                    if rate > limit:
                        break
                    pos += 1
            # A span of the route arrays, materialised on demand (see _Raw.picked).
            picked = (a, pos)  # type: ignore[assignment]
            rest = (pos, b)
        elif plan.simple:
            counters = self.counters
            cust_cur = table.customer_currency[cidx]
            pos = a
            done = maxr <= 0
            while pos < b and not done:
                for rate, c, row in table.entries(pos, min(b, pos + maxr + 2)):
                    if rate > limit:
                        done = True
                        break
                    pos += 1
                    if check_cur and table.carrier_currency[c] != cust_cur:
                        dropped.append((c, _currency_reason(table, c, cust_cur)))
                        continue
                    if any_caps and caps[c] is not None:
                        full = _capacity_reason(counters, caps[c])
                        if full:
                            dropped.append((c, full))
                            continue
                    picked.append((rate, c, row))
                    if len(picked) >= maxr:
                        done = True
                        break
            rest = (pos, b)
        else:
            counters = self.counters
            cust_cur = table.customer_currency[cidx]
            entries = table.entries(a, b)
            ordered, why_all, excluded = _order(
                entries, plan, table, route_number, call_id or normalized
            )
            dropped.extend(excluded)
            why = []
            for (rate, c, row), reason in zip(ordered, why_all, strict=True):
                if rate > limit:
                    dropped.append((c, _margin_reason(rate, sell)))
                elif check_cur and table.carrier_currency[c] != cust_cur:
                    dropped.append((c, _currency_reason(table, c, cust_cur)))
                elif any_caps and caps[c] is not None and _capacity_reason(counters, caps[c]):
                    dropped.append((c, _capacity_reason(counters, caps[c])))
                elif len(picked) >= maxr:
                    dropped.append((c, f"max routes ({plan.max_routes}) reached"))
                else:
                    picked.append((rate, c, row))
                    why.append(reason)
        if (len(picked) if type(picked) is list else picked[1] - picked[0]) or on_net is not None:
            is_blocked, reason = False, ""
        elif a == b:
            is_blocked, reason = True, f"no carrier has a prefix of {route_number}"
        else:
            is_blocked, reason = True, f"no carrier may take {route_number}: see dropped"
        return _decision(
            head, sell_prefix, sell, is_blocked, reason, on_net, notes,
            (table, policies, picked, why, dropped, rest, limit, plan.max_routes),
        )  # fmt: skip


_new = object.__new__
_setattr = object.__setattr__
_UNSET = object()  # no number-lookup answer yet
#: Memory per router and table for the express path's dense sell-rate indexes (16 bytes
#: per prefix per customer); customers beyond it scan the prefix's quotes instead.
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


def _decision(
    head: tuple, sell_prefix: str | None, sell: int | None, blocked: bool, reason: str,
    on_net: str | None, notes: tuple[str, ...], raw: tuple | None,
) -> Decision:  # fmt: skip
    """Build a frozen :class:`Decision` without the per-field frozen-setattr cost (hot path)."""
    number, normalized, customer, t, routing_number, trunk, tech, info = head
    d = _new(Decision)
    _setattr(
        d,
        "__dict__",
        {
            "number": number,
            "normalized": normalized,
            "customer": customer,
            "at": t,
            "sell_prefix": sell_prefix,
            "sell_rate_scaled": sell,
            "blocked": blocked,
            "reason": reason,
            "routing_number": routing_number,
            "trunk": trunk,
            "tech_prefix": tech,
            "lookup": info,
            "on_net": on_net,
            "notes": notes,
            "_raw": raw,
        },
    )
    return d


def _blocked(head: tuple, notes: tuple[str, ...], reason: str) -> Decision:
    return _decision(head, None, None, True, reason, None, notes, None)


_NO_RULES = DEFAULT_RULES
_E164_MAX = E164_MAX_DIGITS


def _currency_reason(table: RoutingTable, c: int, cust_cur: str) -> str:
    return (
        f"rates in {table.carrier_currency[c]}, the customer is billed in {cust_cur} "
        "(no currency conversion)"
    )


def _capacity_reason(counters: Counters | None, cap: tuple[int, str]) -> str:
    limit, key = cap
    now = counters.current(key) if counters is not None else 0
    if now >= limit:
        return f"at capacity ({now}/{limit} concurrent calls)"
    return ""


def _order(
    entries: list, plan: Plan, table: RoutingTable, number: str, call_id: str
) -> tuple[list, list[str], list]:
    """Order the carriers covering a prefix by the plan; return (ordered, why, excluded)."""
    names = table.carriers
    excluded: list = []
    forced = plan.forced_for(number)
    head: list = []
    if forced is not None:
        by_name = {names[e[1]]: e for e in entries}
        for name in forced.carriers:
            if name in by_name:
                head.append(by_name.pop(name))
        kept = set(id(e) for e in head)
        tail = [e for e in entries if id(e) not in kept]
        if forced.exclusive:
            excluded = [
                (e[1], f"not in the exclusive forced route for prefix {forced.prefix}")
                for e in tail
            ]
            tail = []
        entries = tail
    s = plan.strategy
    if s == "least-cost":
        ordered = list(entries)
        why = [f"{s}: rank {i + 1} by buy rate" for i in range(len(ordered))]
    elif s == "priority":
        ordered = sorted(entries, key=lambda e: (_prio(plan, names[e[1]]), e[0]))
        why = [f"priority {_prio_text(plan, names[e[1]])}, then cost" for e in ordered]
    elif s == "quality":
        q = plan.quality

        def cost(e: tuple) -> Decimal:
            return Decimal(e[0]) / q.get(names[e[1]], Decimal(1))

        ordered = sorted(entries, key=lambda e: (cost(e), e[0]))
        why = [
            f"quality-adjusted cost {format_money(int(cost(e)))} "
            f"(rate / answer probability {q.get(names[e[1]], Decimal(1))})"
            for e in ordered
        ]
    else:  # weighted
        groups: dict[int, list] = {}
        for e in entries:
            groups.setdefault(_prio(plan, names[e[1]]), []).append(e)
        ordered, why = [], []
        for prio in sorted(groups):
            group = groups[prio]
            by_name = {names[e[1]]: e for e in group}
            for name in weighted_order([names[e[1]] for e in group], plan.weights, call_id):
                ordered.append(by_name[name])
                w = plan.weights.get(name, 0)
                why.append(
                    f"weighted split: weight {w} of {sum(plan.weights.get(n, 0) for n in by_name)} "
                    f"at priority {_prio_text(plan, name)} (call id {call_id!r})"
                    if w
                    else "no weight: after the weighted carriers, by cost"
                )
    if forced is not None and head:
        why = [f"forced route for prefix {forced.prefix}" for _ in head] + why
        ordered = head + ordered
    return ordered, why, excluded


def _prio(plan: Plan, name: str) -> int:
    return plan.priority.get(name, 1_000_000)


def _prio_text(plan: Plan, name: str) -> str:
    return str(plan.priority[name]) if name in plan.priority else "unlisted"
