"""Batch routing: a whole array of calls routed at once, equal to :meth:`Router.route` call
by call.

:func:`route_batch` takes numbers, customers and instants as arrays and returns a
:class:`BatchDecisions` of arrays: the routes of every call in order (carrier index,
buy rate, buy row), the sell rate, whether the call is blocked and why. Row ``i`` is
what ``router.route(numbers[i], customer=customers[i], at=at[i], call_id=call_ids[i])``
decides, on every field (a property test holds the two together).

The stages of a decision (:mod:`tandem.lcr.router`) run over the whole batch:

1. **identify**: each distinct customer is resolved once, by the router itself
   (plan, translation rules, sell index);
2. **translate**: plain E.164 numbers of customers without rules of their own in Arrow
   (:func:`tandem.rating.keys.e164_digits_array`, held to the single-call rules by a
   property test); a customer's own rules through :func:`~tandem.lcr.translate.normalize`;
3. **refuse**: the table's validity window and the plan's blocked prefixes, as masks;
4. **probe**: the longest union prefix of every number from a key trie
   (:mod:`tandem.lcr.unionindex`, the rating module's technique), the sell rate from the
   customer's dense sell index;
5. **plan**: the candidates are spans of the table's cost-ordered route arrays. Plain
   least cost takes, per row, the first entries up to the first rate above the margin
   limit, at most ``max_routes``: a ``(rows, max_routes)`` gather. Priority, forced routes
   and carriers billing in another currency order every candidate of a row by one integer
   key (forced rank, priority, cost position), then keep the first ``max_routes`` the
   margin and the currency allow.

Rows the vector path does not serve are decided by the router itself for those rows
only (its general path, on the same table; never a second implementation): a number
lookup that ports the number, finds it on-net or fails; ``weighted`` and ``quality``
strategies; quality floors (with a score source); carrier capacity limits (live
counters).

Errors never stop a batch: a number :meth:`Router.route` refuses with
:class:`~tandem.errors.NumberError` is a blocked row of reason kind ``bad_number``, an
unknown customer (:class:`~tandem.errors.UnknownCustomerError`) one of kind
``unknown_customer``; their :meth:`BatchDecisions.reason` is the exception's message.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from tandem.enum.types import LookupKind, NumberInfo
from tandem.errors import NumberError, UnknownCustomerError
from tandem.instant import format_instant
from tandem.lcr.policy import UNLISTED_PRIORITY, Plan
from tandem.lcr.router import (
    _UNSET,
    ON_NET,
    Decision,
    Router,
    _Customer,
    _decision,
    _margin_reason,
    _no_route,
    _picked,
    _Raw,
    _refusal,
    _sell_index,
    _TableState,
)
from tandem.lcr.table import RoutingTable
from tandem.lcr.translate import DEFAULT_RULES, normalize
from tandem.lcr.unionindex import union_index
from tandem.money import UNIT, from_scaled
from tandem.rating.keys import e164_digits_array, number_keys
from tandem.rating.keytrie import PrefixTrie

__all__ = ["REASON_KINDS", "BatchDecisions", "route_batch"]

#: Short labels of why a row is blocked (``reason_kind`` indexes this tuple; "" = routed).
REASON_KINDS: tuple[str, ...] = (
    "",
    "unknown_customer",  # the customer is unknown (route() raises UnknownCustomerError)
    "bad_number",  # the number cannot be normalised (route() raises NumberError)
    "outside_table",  # the instant is outside the table's validity window
    "blocked_prefix",  # the customer's plan blocks the destination
    "no_prefix",  # no carrier or customer prefix matches the number
    "no_sell_rate",  # the customer has no sell rate for the number
    "no_carrier",  # no carrier has a prefix of the number
    "no_route",  # every carrier covering it was dropped (margin, currency, capacity...)
    "other",  # any other reason (none today)
)
_KIND = {k: i for i, k in enumerate(REASON_KINDS)}
_OK, _UNKNOWN, _BAD, _OUTSIDE, _BLOCKED, _NO_PREFIX, _NO_SELL, _NO_CARRIER, _NO_ROUTE = range(9)
_PLAIN_LOOKUPS = (LookupKind.NOT_FOUND, LookupKind.NOT_PORTED)


@dataclass(frozen=True)
class BatchDecisions:
    """The decisions of a batch (see :func:`route_batch`): arrays of length ``n``; row
    ``i`` is the decision of call ``i``.

    Routes: ``route_count[i]`` routes (0 when blocked); ``route_carrier[i, k]`` is the
    index in :attr:`carriers` of route ``k`` (-1 past the last), ``route_rate[i, k]`` its
    buy rate per minute and ``route_row[i, k]`` its buy row in the table's
    ``buy_columns`` (connect fee, increments, the carrier's prefix; -1 for an on-net
    route). Money is scaled integers (:data:`scale` per unit; :meth:`rate` gives a
    Decimal). ``sell_rate`` holds the customer's sell rate where ``has_sell``;
    ``sell_prefix_len`` the length of the customer's matched sell prefix (-1: none);
    ``prefix_id`` the table's longest union prefix of the number routed on (-1: none or
    not probed). ``blocked`` rows have a ``reason_kind`` (index into
    :data:`REASON_KINDS`); :meth:`reason` gives the exact text of
    :attr:`Decision.reason`. ``fallback`` marks the rows the router decided one by one.
    """

    table: RoutingTable
    carriers: tuple[str, ...]
    route_count: np.ndarray
    route_carrier: np.ndarray
    route_rate: np.ndarray
    route_row: np.ndarray
    sell_rate: np.ndarray
    has_sell: np.ndarray
    sell_prefix_len: np.ndarray
    prefix_id: np.ndarray
    normalized: pa.Array
    blocked: np.ndarray
    reason_kind: np.ndarray
    fallback: np.ndarray
    at: np.ndarray
    scale: int = UNIT
    _ctx: _Context | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.blocked)

    def rate(self, i: int, k: int) -> Any:
        """The buy rate of route ``k`` of row ``i`` as a Decimal (None past the last)."""
        if k >= int(self.route_count[i]):
            return None
        return from_scaled(int(self.route_rate[i, k]))

    def route_carriers(self, i: int) -> list[str]:
        """The carriers of row ``i``'s routes, in order."""
        return [self.carriers[c] for c in self.route_carrier[i, : self.route_count[i]].tolist()]

    def reason(self, i: int) -> str:
        """Exactly :attr:`Decision.reason` of row ``i`` ("" when routed); for an unknown
        customer or a bad number, the message :meth:`Router.route` raises."""
        return self._ctx_().reason(self, i)

    def decision(self, i: int) -> dict[str, Any]:
        """Row ``i`` as :meth:`Decision.to_dict` (``tandem route --json``); for a row
        :meth:`Router.route` would raise on, ``{"number", "customer", "at", "blocked",
        "reason", "error"}`` with the exception's class name as ``error``."""
        return self._ctx_().decision(self, i)

    def _ctx_(self) -> _Context:
        assert self._ctx is not None
        return self._ctx


def route_batch(
    router: Router,
    numbers: Sequence[str] | pa.Array | pa.ChunkedArray | np.ndarray,
    *,
    customers: str | Sequence[str | None] | pa.Array | pa.ChunkedArray | np.ndarray,
    at: int | np.ndarray | Sequence[int],
    call_ids: Sequence[str | None] | None = None,
) -> BatchDecisions:
    """Route every call of a batch on ``router``'s current table (read once: the whole
    batch is decided on one table). ``customers`` is one name for every call or one per
    call; ``at`` one instant (UTC epoch seconds) or one per call; ``call_ids`` seeds
    the weighted split and quality probes as in :meth:`Router.route`. See the module
    docstring."""
    state = router._state
    nums = _strings(numbers)
    n = len(nums)
    t = _instants(at, n)
    cust_codes, cust_names = _customers(customers, n)
    if call_ids is not None and len(call_ids) != n:
        raise ValueError(f"call_ids has {len(call_ids)} entries for {n} numbers")
    ctx = _Context(router, state, numbers, nums, cust_codes, cust_names, t, call_ids)
    return ctx.run()


# -- inputs --------------------------------------------------------------------------------
def _strings(numbers: Any) -> pa.Array:
    if isinstance(numbers, pa.ChunkedArray):
        numbers = numbers.combine_chunks()
    if isinstance(numbers, pa.Array):
        if pa.types.is_large_string(numbers.type) or pa.types.is_dictionary(numbers.type):
            numbers = numbers.cast(pa.string())
        return numbers
    try:
        return pa.array(numbers, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: each row normalised alone
        return pa.array([x if type(x) is str else None for x in numbers], pa.string())


def _instants(at: Any, n: int) -> np.ndarray:
    arr = np.asarray(at)
    if arr.dtype.kind not in "iu":
        raise TypeError("at must be UTC epoch seconds: an int or an integer array")
    if arr.ndim == 0:
        return np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        raise ValueError(f"at has {arr.shape[0]} entries for {n} numbers")
    return arr.astype(np.int64, copy=False)


def _customers(customers: Any, n: int) -> tuple[np.ndarray, list[str | None]]:
    """(code per row, distinct names): code -1 is a row without a customer."""
    if customers is None or isinstance(customers, str):
        return np.zeros(n, dtype=np.int64), [customers]
    if isinstance(customers, pa.ChunkedArray):
        customers = customers.combine_chunks()
    arr = customers if isinstance(customers, pa.Array) else pa.array(customers, pa.string())
    if len(arr) != n:
        raise ValueError(f"customers has {len(arr)} entries for {n} numbers")
    enc = arr.dictionary_encode() if not pa.types.is_dictionary(arr.type) else arr
    codes = enc.indices.to_numpy(zero_copy_only=False)
    codes = np.where(np.asarray(enc.is_null()), -1, codes).astype(np.int64)
    return codes, [str(x) for x in enc.dictionary.to_pylist()]


# -- the work ------------------------------------------------------------------------------
class _Context:
    """One batch's inputs and the per-customer state its rows share."""

    def __init__(
        self,
        router: Router,
        state: _TableState,
        given: Any,
        nums: pa.Array,
        cust_codes: np.ndarray,
        cust_names: list[str | None],
        t: np.ndarray,
        call_ids: Sequence[str | None] | None,
    ) -> None:
        self.router = router
        self.state = state
        self.table = state.table
        self.given = given
        self.nums = nums
        self.codes = cust_codes
        self.names = cust_names
        self.t = t
        self.call_ids = call_ids
        self.known: list[_Customer | None] = []
        self.errors: dict[int, str] = {}  # customer code -> UnknownCustomerError message
        for name in cust_names:
            try:
                if name is None:
                    raise UnknownCustomerError("no customer: give a customer name or a source IP")
                k = state.customers.get(name)
                self.known.append(k if k is not None else router._customer(state, name))
            except UnknownCustomerError as exc:
                self.known.append(None)
                self.errors[len(self.known) - 1] = str(exc)
        self.bad: dict[int, str] = {}  # row -> NumberError message
        self.infos: dict[int, NumberInfo] = {}  # row -> number lookup answer
        self.tech: dict[int, str] = {}  # row -> tech prefix removed
        self.scalar: dict[int, Decision] = {}  # row -> the router's own decision
        arrays = self.table.arrays
        self.offsets = np.asarray(arrays["offsets"])
        self.rr = np.asarray(arrays["route_rate"])
        self.rc = np.asarray(arrays["route_carrier"])
        self.rw = np.asarray(arrays["route_row"])
        self._sells: dict[int, np.ndarray] = {}

    def number(self, i: int) -> Any:
        g = self.given
        if isinstance(g, pa.ChunkedArray | pa.Array):
            return g[i].as_py()
        v = g[i]
        return v.item() if isinstance(v, np.generic) else v

    def customer_of(self, i: int) -> _Customer | None:
        c = int(self.codes[i])
        return self.known[c] if c >= 0 else None

    def error_of(self, i: int) -> str:
        c = int(self.codes[i])
        return (
            self.errors.get(c, "") if c >= 0 else "no customer: give a customer name or a source IP"
        )

    def sells(self, c: int) -> np.ndarray:
        """Customer code ``c``'s dense ``[rate, prefix length]`` per union prefix."""
        found = self._sells.get(c)
        if found is None:
            known = self.known[c]
            assert known is not None and known.index >= 0
            view = known.sell_index
            if view is None:
                view = _sell_index(self.table, known.index)
            found = np.frombuffer(view, dtype=np.int64)
            self._sells[c] = found
        return found

    # -- stage by stage --------------------------------------------------------------------
    def run(self) -> BatchDecisions:
        n = len(self.nums)
        table = self.table
        codes = self.codes
        kind = np.zeros(n, dtype=np.int8)
        known_ok = np.array([k is not None for k in self.known] + [False], dtype=bool)
        kind[~known_ok[codes]] = _UNKNOWN  # code -1 reads the trailing False
        digits = self._translate(kind)
        keys = number_keys(digits)  # base-11 match keys (tandem.rating.keys); null: 0
        # look up (ENUM / number portability): only plain answers stay on the vector path
        scalar = np.zeros(n, dtype=bool)
        vector_ok = np.array(
            [k is not None and _vectorisable(k, self.state) for k in self.known] + [False]
        )
        scalar |= (kind == _OK) & ~vector_ok[codes]
        if self.router.lookup is not None:
            self._look_up(digits, kind, scalar)
        live = (kind == _OK) & ~scalar
        # refuse: validity window, blocked prefixes
        outside = (self.t < table.valid_from) | (self.t >= table.valid_until)
        kind[live & outside] = _OUTSIDE
        live &= ~outside
        for c, known in enumerate(self.known):
            if known is not None and known.plan.blocked:
                rows = np.flatnonzero(live & (codes == c))
                if len(rows):
                    hit = _longest_listed(known.plan.blocked, keys[rows]) >= 0
                    kind[rows[hit]] = _BLOCKED
                    live[rows[hit]] = False
        # probe: the longest union prefix, the customer's sell rate there
        uid = union_index(table).lookup(keys) if n else np.zeros(0, dtype=np.int64)
        uid[~live] = -1
        kind[live & (uid < 0)] = _NO_PREFIX
        live &= uid >= 0
        sell = np.zeros(n, dtype=np.int64)
        plen = np.full(n, -1, dtype=np.int64)
        for c, known in enumerate(self.known):
            if known is None or known.index < 0:
                continue
            rows = (
                np.flatnonzero(live & (codes == c)) if len(self.known) > 1 else np.flatnonzero(live)
            )
            if len(rows):
                si = self.sells(c)
                u2 = 2 * uid[rows]
                sell[rows] = si[u2]
                plen[rows] = si[u2 + 1]
        has_sell = plen >= 0
        kind[live & ~has_sell] = _NO_SELL
        live &= has_sell
        # plan
        rows = np.flatnonzero(live)
        out = _Routes(n, self._width())
        for c, known in enumerate(self.known):
            if known is None:
                continue
            mine = rows if len(self.known) == 1 else rows[codes[rows] == c]
            if len(mine):
                self._plan(known, c, mine, uid[mine], sell[mine], keys, out)
        counted = np.zeros(n, dtype=bool)
        counted[rows] = True
        none = counted & (out.count == 0)
        if none.any():
            span = (self.offsets[2 * uid + 2] - self.offsets[2 * uid])[none]
            kind[np.flatnonzero(none)] = np.where(span == 0, _NO_CARRIER, _NO_ROUTE)
        carriers = self.table.carriers
        # the router itself, row by row, where the vector path does not serve
        if scalar.any():
            carriers = self._scalar_rows(np.flatnonzero(scalar), kind, out, sell, plen, uid)
        uid[(kind == _BAD) | (kind == _UNKNOWN) | (kind == _OUTSIDE) | (kind == _BLOCKED)] = -1
        has = plen >= 0
        width = int(out.count.max(initial=0))
        return BatchDecisions(
            table=table,
            carriers=carriers,
            route_count=out.count.astype(np.int16),
            route_carrier=_first_columns(out.carrier, width),
            route_rate=_first_columns(out.rate, width),
            route_row=_first_columns(out.row, width),
            sell_rate=np.where(has, sell, 0),
            has_sell=has,
            sell_prefix_len=plen.astype(np.int8),
            prefix_id=uid.astype(np.int32),
            normalized=digits,
            blocked=kind != _OK,
            reason_kind=kind,
            fallback=scalar,
            at=self.t,
            _ctx=self,
        )

    def _width(self) -> int:
        widest = max((k.plan.max_routes for k in self.known if k is not None), default=0)
        return widest + (1 if self.router.lookup is not None else 0)

    def _translate(self, kind: np.ndarray) -> pa.Array:
        """Normalised digits per row (null where not normalised); sets ``bad_number``."""
        codes = self.codes
        n = len(self.nums)
        digits = e164_digits_array(self.nums) if n else pa.array([], pa.string())
        own = [
            c for c, k in enumerate(self.known) if k is not None and k.rules is not DEFAULT_RULES
        ]
        if own:
            rows = np.flatnonzero(np.isin(codes, own))
            values: list[str | None] = []
            for i in rows.tolist():
                known = self.known[int(codes[i])]
                assert known is not None
                try:
                    norm, tech = normalize(self.number(i), known.rules)
                except NumberError as exc:
                    self.bad[i] = str(exc)
                    norm = None
                else:
                    if tech:
                        self.tech[i] = tech
                values.append(norm)
            index = np.arange(n, dtype=np.int64)
            index[rows] = n + np.arange(len(rows))
            digits = pa.concat_arrays([digits, pa.array(values, pa.string())]).take(pa.array(index))
        null = np.asarray(digits.is_null()) & (kind == _OK)
        for i in np.flatnonzero(null).tolist():
            if i in self.bad:
                continue
            known = self.customer_of(i)
            assert known is not None
            try:
                normalize(self.number(i), known.rules)
            except NumberError as exc:
                self.bad[i] = str(exc)
            else:  # pragma: no cover - the Arrow rules are held to the scalar ones
                raise AssertionError(f"row {i}: Arrow and scalar normalisation disagree")
        kind[null] = _BAD
        return digits

    def _look_up(self, digits: pa.Array, kind: np.ndarray, scalar: np.ndarray) -> None:
        """Ask the router's number lookup for every row still routed (as route() does);
        an answer other than "not found" / "not ported" sends the row to the router."""
        lookup = self.router.lookup
        assert lookup is not None
        rows = np.flatnonzero(kind == _OK)
        for i, number in zip(rows.tolist(), digits.take(pa.array(rows)).to_pylist(), strict=True):
            info = lookup.lookup(number)
            self.infos[i] = info
            if info.kind not in _PLAIN_LOOKUPS:
                scalar[i] = True

    def _plan(
        self,
        known: _Customer,
        c: int,
        rows: np.ndarray,
        uid: np.ndarray,
        sell: np.ndarray,
        keys: np.ndarray,
        out: _Routes,
    ) -> None:
        """Plan the rows of customer code ``c``. Without a forced route for the number,
        a row's routes depend on its union prefix alone (the sell rate is the customer's
        there): they are computed once per prefix of the table (:meth:`per_prefix`) and
        gathered; rows with a forced route are ordered one by one."""
        plan = known.plan
        free: slice | np.ndarray = slice(None)
        if plan.forced:
            fid = _forced_ids(plan, keys[rows])
            held = fid >= 0
            if held.any():
                hr = rows[held]
                a = self.offsets[2 * uid[held]]
                b = self.offsets[2 * uid[held] + 2]
                limit = sell[held] + known.loss
                order, status = self.order(
                    known, a, b, limit, fid[held], self._same_currency(known)
                )
                out.put_ordered(hr, order, status, self)
                free = ~held
        rows, uid = rows[free], uid[free]
        if len(rows):
            routes = self.per_prefix(known, c)
            out.put_prefix(
                rows,
                routes.count[uid],
                np.take(routes.carrier, uid, axis=0),
                np.take(routes.rate, uid, axis=0),
                np.take(routes.row, uid, axis=0),
            )

    def per_prefix(self, known: _Customer, c: int) -> _Routes:
        """The routes of customer code ``c``'s calls for every union prefix of the table
        (no forced route): kept with the table (a few per table), keyed by what they
        depend on."""
        plan = known.plan
        same = self._same_currency(known)
        prio = _priorities(plan, self.table.carriers)
        key = (known.index, known.loss, plan.max_routes, plan.strategy, same.tobytes(),
               prio.tobytes())  # fmt: skip
        found = _prefix_routes(self.table).get(key)
        if found is not None:
            return found
        prefixes = self.table.prefix_count
        a = self.offsets[0 : 2 * prefixes : 2]
        b = self.offsets[2 : 2 * prefixes + 2 : 2]
        limit = self.sells(c)[0::2] + known.loss  # no sell rate: no call gets here
        routes = _Routes(prefixes, plan.max_routes)
        if plan.strategy == "least-cost" and same.all():
            # Entries are cost-ordered: the routes are those up to the first rate above
            # the limit, at most max routes of them.
            k = np.arange(plan.max_routes, dtype=np.int64)
            pos = a[:, None] + k
            rate = np.take(self.rr, pos, mode="clip")  # past the span: masked below
            ok = rate <= limit[:, None]
            ok &= k < (b - a)[:, None]
            every = np.arange(prefixes)
            routes.put_prefix(
                every,
                np.count_nonzero(ok, axis=1),
                np.where(ok, np.take(self.rc, pos, mode="clip"), -1),
                np.where(ok, rate, 0),
                np.where(ok, np.take(self.rw, pos, mode="clip"), -1),
            )
        else:
            for lo in range(0, prefixes, _CHUNK):
                hi = min(prefixes, lo + _CHUNK)
                order, status = self.order(known, a[lo:hi], b[lo:hi], limit[lo:hi], None, same)
                routes.put_ordered(np.arange(lo, hi), order, status, self)
        _remember(self.table, key, routes)
        return routes

    def _same_currency(self, known: _Customer) -> np.ndarray:
        table = self.table
        currency = table.customer_currency[known.index] if known.index >= 0 else ""
        if table.single_currency:
            return np.ones(len(table.carriers), dtype=bool)
        return np.array([cc == currency for cc in table.carrier_currency], dtype=bool)

    def order(
        self,
        known: _Customer,
        a: np.ndarray,
        b: np.ndarray,
        limit: np.ndarray,
        forced: np.ndarray | None,
        same: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every candidate of each row in the plan's order: ``(position in the route
        arrays, status)``, ``(rows, widest span)``, position -1 past the last. One integer
        key orders them: the forced rank (forced carriers in their listed order first),
        then the priority (``priority`` plans), then the cost position."""
        plan = known.plan
        span = b - a
        width = int(span.max(initial=0))
        k = np.arange(width, dtype=np.int64)
        valid = k < span[:, None]
        pos = np.where(valid, a[:, None] + k, 0)
        carrier = self.rc[pos]
        names = self.table.carriers
        ncar = len(names)
        prank = _priorities(plan, names)
        levels = int(prank.max(initial=0)) + 1
        fr = np.zeros((1, ncar), dtype=np.int64)
        exclusive = np.zeros(1, dtype=bool)
        nforced = 0
        if forced is not None:
            ranks, exclusive, nforced = _forced_ranks(plan, names)
            fr = np.vstack([ranks, np.full((1, ncar), nforced, dtype=np.int64)])
            exclusive = np.append(exclusive, False)
            fid = np.where(forced >= 0, forced, len(plan.forced))
        else:
            fid = np.zeros(len(a), dtype=np.int64)
        frank = fr[fid[:, None], carrier]
        key = (frank * levels + prank[carrier]) * max(width, 1) + k
        key = np.where(valid, key, np.iinfo(np.int64).max)
        perm = np.argsort(key, axis=1, kind="stable")
        pos = np.take_along_axis(pos, perm, axis=1)
        valid = np.take_along_axis(valid, perm, axis=1)
        carrier = np.take_along_axis(carrier, perm, axis=1)
        frank = np.take_along_axis(frank, perm, axis=1)
        rate = self.rr[pos]
        status = np.full(pos.shape, _PAST, dtype=np.int8)
        excluded = exclusive[fid][:, None] & (frank >= nforced) & valid
        margin = valid & ~excluded & (rate > limit[:, None])
        currency = valid & ~excluded & ~margin & ~same[carrier]
        eligible = valid & ~excluded & ~margin & ~currency
        rank = np.cumsum(eligible, axis=1)
        status[excluded] = _EXCLUDED
        status[margin] = _MARGIN
        status[currency] = _CURRENCY
        status[eligible & (rank <= known.plan.max_routes)] = _PICKED
        status[eligible & (rank > known.plan.max_routes)] = _MAX_ROUTES
        return np.where(valid, pos, -1), status

    def _scalar_rows(
        self,
        rows: np.ndarray,
        kind: np.ndarray,
        out: _Routes,
        sell: np.ndarray,
        plen: np.ndarray,
        uid: np.ndarray,
    ) -> tuple[str, ...]:
        """The router decides these rows itself (general path, this batch's table)."""
        router, state, table = self.router, self.state, self.table
        carriers = table.carriers
        on_net = len(carriers)
        ids = self.call_ids
        for i in rows.tolist():
            known = self.customer_of(i)
            assert known is not None
            pre = self.infos.get(i, _UNSET)
            d = router._route(
                state, self.number(i), known.name, None, int(self.t[i]),
                None if ids is None else ids[i], pre,
            )  # fmt: skip
            self.scalar[i] = d
            kind[i] = _kind_of(d.reason)
            if d.sell_rate_scaled is not None:
                sell[i] = d.sell_rate_scaled
                plen[i] = len(d.sell_prefix or "")
            uid[i] = table.longest_prefix(d.routing_number or d.normalized)
            routes: list[tuple[int, int, int]] = []
            if d.on_net is not None:
                routes.append((0, on_net, -1))
            if d._raw is not None:
                routes += [(r, c, w) for r, c, w in _picked(_Raw(*d._raw))]
            if len(routes) > out.carrier.shape[1]:  # pragma: no cover - max_routes bounds it
                raise AssertionError("more routes than max_routes")
            out.count[i] = len(routes)
            for k, (r, c, w) in enumerate(routes):
                out.rate[i, k], out.carrier[i, k], out.row[i, k] = r, c, w
        if (out.carrier == on_net).any():
            return (*carriers, ON_NET)
        return carriers

    # -- one row, on demand ----------------------------------------------------------------
    def reason(self, res: BatchDecisions, i: int) -> str:
        kind = int(res.reason_kind[i])
        if i in self.scalar:
            return self.scalar[i].reason
        if kind == _OK:
            return ""
        if kind == _UNKNOWN:
            return self.error_of(i)
        if kind == _BAD:
            return self.bad[i]
        number = res.normalized[i].as_py()
        known = self.customer_of(i)
        assert known is not None
        if kind in (_OUTSIDE, _BLOCKED):
            return _refusal(known, int(self.t[i]), number, number)
        if kind == _NO_PREFIX:
            return f"no carrier or customer prefix matches {number}"
        if kind == _NO_SELL:
            return f"customer {known.name} has no sell rate for {number}"
        uid = int(res.prefix_id[i])
        return _no_route(int(self.offsets[2 * uid]), int(self.offsets[2 * uid + 2]), number)

    def decision(self, res: BatchDecisions, i: int) -> dict[str, Any]:
        if i in self.scalar:
            return self.scalar[i].to_dict()
        kind = int(res.reason_kind[i])
        t = int(self.t[i])
        if kind in (_UNKNOWN, _BAD):
            name = self.names[int(self.codes[i])] if self.codes[i] >= 0 else None
            return {
                "number": self.number(i),
                "customer": name,
                "at": format_instant(t),
                "blocked": True,
                "reason": self.reason(res, i),
                "error": "UnknownCustomerError" if kind == _UNKNOWN else "NumberError",
            }
        known = self.customer_of(i)
        assert known is not None
        number = res.normalized[i].as_py()
        info = self.infos.get(i)
        tech = self.tech.get(i, "")
        if kind in (_OUTSIDE, _BLOCKED, _NO_PREFIX, _NO_SELL):
            d = _decision(self.number(i), number, known.name, t, info, None, None,
                          self.reason(res, i), None, None, None, tech)  # fmt: skip
            return d.to_dict()
        uid = int(res.prefix_id[i])
        a = int(self.offsets[2 * uid])
        b = int(self.offsets[2 * uid + 2])
        sell = int(res.sell_rate[i])
        plan = known.plan
        limit = sell + known.loss
        policies = known.policies
        raw: tuple[Any, ...]
        if known.span:
            pos = a + int(res.route_count[i])
            raw = (self.table, policies, None, None, (), a, pos, b, limit, plan.max_routes)
        else:
            forced = None
            if plan.forced:
                forced = _forced_ids(plan, number_keys(pa.array([number], pa.string())))
            one = np.array([a]), np.array([b]), np.array([limit])
            order, status = self.order(known, *one, forced, self._same_currency(known))
            entries = [
                (int(self.rr[p]), int(self.rc[p]), int(self.rw[p]), int(s), p)
                for p, s in zip(order[0].tolist(), status[0].tolist(), strict=True)
                if p >= 0
            ]
            picked = [(r, c, w) for r, c, w, s, _p in entries if s == _PICKED]
            currency = self.table.customer_currency[known.index]
            dropped: list[tuple[int, str]] = []
            if plan.simple:  # least cost, scanned in cost order up to the limit
                stop, taken = b, 0
                for _r, _c, _w, s, p in entries:
                    if s == _MARGIN:
                        stop = p
                        break
                    taken += s == _PICKED
                    if taken == plan.max_routes:
                        stop = p + 1
                        break
                for _r, c, _w, s, p in entries:
                    if p < stop and s == _CURRENCY:
                        dropped.append((c, self.router._capacity(known, c, currency, t)))
                raw = (self.table, policies, picked, None, dropped, a, stop, b, limit,
                       plan.max_routes)  # fmt: skip
            else:
                fr = plan.forced[int(forced[0])] if forced is not None and forced[0] >= 0 else None
                for _r, c, _w, s, _p in sorted(entries, key=lambda e: e[4]):  # cost order
                    if s == _EXCLUDED:
                        assert fr is not None
                        dropped.append((c, _DROP_NOT_FORCED.format(prefix=fr.prefix)))
                for r, c, _w, s, _p in entries:
                    if s == _MARGIN:
                        dropped.append((c, _margin_reason(r, sell)))
                    elif s == _CURRENCY:
                        dropped.append((c, self.router._capacity(known, c, currency, t)))
                    elif s == _MAX_ROUTES:
                        dropped.append((c, _DROP_MAX_ROUTES.format(max_routes=plan.max_routes)))
                why = [""] * len(picked)
                raw = (self.table, policies, picked, why, dropped, a, b, b, limit, plan.max_routes)
        sell_prefix = number[: int(res.sell_prefix_len[i])]
        d = _decision(self.number(i), number, known.name, t, info, sell_prefix, sell,
                      self.reason(res, i), raw, None, None, tech)  # fmt: skip
        return d.to_dict()


#: Status of a candidate in :meth:`_Context.order`.
_PICKED, _MARGIN, _CURRENCY, _MAX_ROUTES, _EXCLUDED, _PAST = range(6)
#: Drop reasons of the router's general path (:meth:`Router._plan`,
#: :func:`~tandem.lcr.policy.order_routes`), for the rows the vector path decides.
_DROP_MAX_ROUTES = "max routes ({max_routes}) reached"
_DROP_NOT_FORCED = "not in the exclusive forced route for prefix {prefix}"


class _Routes:
    """The batch's route arrays, filled group by group."""

    def __init__(self, n: int, width: int) -> None:
        self.count = np.zeros(n, dtype=np.int64)
        self.carrier = np.full((n, width), -1, dtype=np.int32)
        self.rate = np.zeros((n, width), dtype=np.int64)
        self.row = np.full((n, width), -1, dtype=np.int32)

    def put_prefix(
        self,
        rows: np.ndarray,
        count: np.ndarray,
        carrier: np.ndarray,
        rate: np.ndarray,
        row: np.ndarray,
    ) -> None:
        """Write each row's routes, given as its first columns (-1 / 0 past the last)."""
        w = carrier.shape[1]
        if len(rows) == len(self.count) and w == self.carrier.shape[1]:  # every row: no copy
            self.count, self.carrier, self.rate, self.row = count, carrier, rate, row
            return
        self.count[rows] = count
        self.carrier[rows, :w] = carrier
        self.rate[rows, :w] = rate
        self.row[rows, :w] = row

    def put_ordered(
        self, rows: np.ndarray, order: np.ndarray, status: np.ndarray, ctx: _Context
    ) -> None:
        """Write the picked candidates of :meth:`_Context.order`'s answer, in order."""
        picked = status == _PICKED
        pos = np.where(order >= 0, order, 0)
        self.put(rows, picked.sum(axis=1), ctx.rc[pos], ctx.rr[pos], ctx.rw[pos], picked)

    def put(
        self,
        rows: np.ndarray,
        count: np.ndarray,
        carrier: np.ndarray,
        rate: np.ndarray,
        row: np.ndarray,
        picked: np.ndarray,
    ) -> None:
        """Write the picked entries of each row (in order) to its first columns."""
        self.count[rows] = count
        if not len(rows):
            return
        r, col = np.nonzero(picked)
        dest = np.cumsum(picked, axis=1)[r, col] - 1
        self.carrier[rows[r], dest] = carrier[r, col]
        self.rate[rows[r], dest] = rate[r, col]
        self.row[rows[r], dest] = row[r, col]


def _priorities(plan: Plan, names: tuple[str, ...]) -> np.ndarray:
    """Each carrier's rank by the plan's priority (dense; all 0 unless ``priority``)."""
    if plan.strategy != "priority":
        return np.zeros(len(names), dtype=np.int64)
    prio = np.array([plan.priority.get(c, UNLISTED_PRIORITY) for c in names], dtype=np.int64)
    return np.unique(prio, return_inverse=True)[1].astype(np.int64)


_CHUNK = 16384  # prefixes per ordering pass (bounds memory: widest span x this)
_KEEP = 8  # per-prefix route sets kept per table (each ~16 bytes x routes x prefixes)
_PER_PREFIX: weakref.WeakKeyDictionary[RoutingTable, dict[tuple[Any, ...], _Routes]] = (
    weakref.WeakKeyDictionary()
)
_PER_PREFIX_LOCK = threading.Lock()


def _prefix_routes(table: RoutingTable) -> dict[tuple[Any, ...], _Routes]:
    return _PER_PREFIX.get(table) or {}


def _remember(table: RoutingTable, key: tuple[Any, ...], routes: _Routes) -> None:
    with _PER_PREFIX_LOCK:
        kept = dict(_PER_PREFIX.get(table) or {})
        while len(kept) >= _KEEP:
            kept.pop(next(iter(kept)))
        kept[key] = routes
        _PER_PREFIX[table] = kept  # a new dict: readers never see one being changed


def _first_columns(values: np.ndarray, width: int) -> np.ndarray:
    """``values[:, :width]`` as a contiguous array (no copy when that is all of it)."""
    return values if values.shape[1] == width else np.ascontiguousarray(values[:, :width])


def _vectorisable(known: _Customer, state: _TableState) -> bool:
    """Whether the vector path decides this customer's calls: least cost or priority,
    forced routes allowed; no quality floors and no capacity limits (live state)."""
    plan: Plan = known.plan
    return plan.strategy in ("least-cost", "priority") and not plan.floors and not state.any_caps


@lru_cache(maxsize=256)
def _prefix_trie(prefixes: tuple[str, ...]) -> tuple[PrefixTrie, int]:
    """``(trie, default)``: the trie of ``prefixes`` whose value is the index of each
    prefix's first listing, and the value of a number none of them begins (the first
    listing of ``""``, which begins every number, else -1)."""
    first: dict[str, int] = {}
    for j, p in enumerate(prefixes):
        first.setdefault(p, j)
    texts = list(first)
    trie = PrefixTrie.build(texts, np.array([first[p] for p in texts], dtype=np.int64))
    return trie, first.get("", -1)


def _longest_listed(prefixes: tuple[str, ...], keys: np.ndarray) -> np.ndarray:
    """Per match key, the index in ``prefixes`` of its longest listed prefix (the first
    listing of it), -1 for none."""
    trie, default = _prefix_trie(prefixes)
    found = trie.lookup(keys)
    if default >= 0:
        found[found < 0] = default
    return found


def _forced_ids(plan: Plan, keys: np.ndarray) -> np.ndarray:
    """Per number, the index in ``plan.forced`` of the forced route with the longest
    prefix of it, -1 for none: :meth:`Plan.forced_for` (first of equal length)."""
    return _longest_listed(tuple(fr.prefix for fr in plan.forced), keys)


def _forced_ranks(plan: Plan, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per forced route: each carrier's place in its list (first listing; ``width``, the
    longest list's length, for the others), whether it is exclusive, and ``width``."""
    width = max(len(fr.carriers) for fr in plan.forced)
    ranks = np.full((len(plan.forced), len(names)), width, dtype=np.int64)
    index = {n: c for c, n in enumerate(names)}
    for j, fr in enumerate(plan.forced):
        for place, name in reversed(list(enumerate(fr.carriers))):
            if name in index:
                ranks[j, index[name]] = place
    return ranks, np.array([fr.exclusive for fr in plan.forced], dtype=bool), width


def _kind_of(reason: str) -> int:
    """The reason kind of a decision the router made (its reason's wording)."""
    if not reason:
        return _OK
    for start, kind in (
        ("the routing table is valid ", _OUTSIDE),
        ("destination prefix ", _BLOCKED),
        ("no carrier or customer prefix matches ", _NO_PREFIX),
        ("no carrier has a prefix of ", _NO_CARRIER),
        ("no carrier may take ", _NO_ROUTE),
    ):
        if reason.startswith(start):
            return kind
    if reason.startswith("customer ") and " has no sell rate for " in reason:
        return _NO_SELL
    return _KIND["other"]
