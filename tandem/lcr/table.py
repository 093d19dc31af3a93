"""The compiled routing table: every rate in force at one instant, ready for microsecond lookups.

:func:`compile_table` (``compile_table(store, T)``) reads the carrier (buy) and customer
(sell) rates in force at instant ``T`` (:meth:`tandem.store.Store.in_force`) and turns
them into an immutable :class:`RoutingTable`:

* one prefix index (a marisa-trie) over the **union** of every carrier's and customer's
  prefixes; a dialed number needs one longest-prefix probe;
* for every union prefix, every carrier that covers it, quoted at **that carrier's own**
  longest prefix (a carrier with ``44`` and another with ``4420`` both compete for
  ``+44 20 ...``), pre-sorted by rate (ties by carrier name), in flat numpy arrays
  (offsets + entries, CSR style);
* for every union prefix, every customer's sell rate at its own longest prefix, likewise.

Why one probe suffices: every carrier prefix that is a prefix of the number is in the
union and is itself a prefix of the longest union prefix ``u`` that matches, so each
carrier's longest match for the number equals its longest match for ``u``, which the
compiler pre-computes by inheriting down the prefix tree.

The table knows its validity window ``[valid_from, valid_until)``: the instants at which
a stored rate or the stored routing plan last changed and next changes. The routing plan
in force at ``T`` (:mod:`tandem.lcr.plans`) is compiled into the table as its text
(``routing_plan``), so a table and the plan it was compiled with travel together.
:meth:`RoutingTable.save` writes one memory-mappable file (:mod:`tandem.lcr.snapshot`);
:meth:`RoutingTable.load` opens it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import marisa_trie
import numpy as np
import pandas as pd

from tandem.errors import SnapshotError
from tandem.instant import OPEN_END, InstantLike, format_instant, parse_instant
from tandem.lcr.snapshot import read_snapshot, write_snapshot
from tandem.lcr.verify import (
    ROW_FIELDS,
    check_arrays,
    check_meta,
    check_sections,
    prefix_index,
)
from tandem.money import from_scaled

if TYPE_CHECKING:
    from tandem.store import Store, StoredPlan

__all__ = [
    "OPEN_END",
    "RoutingTable",
    "compile_table",
    "compile_rates",
]

#: Fields of a buy or sell row, in order, and their dtypes (one list: the loader checks them).
_ROW_DTYPES = ROW_FIELDS
_ROW_FIELDS = tuple(ROW_FIELDS)
_CHUNK = 32768  # union prefixes per argsort chunk (bounds compile memory)


class RoutingTable:
    """An immutable compiled routing table (see the module docstring).

    Build one with :func:`compile_table` (``compile_table(store, T)``) or
    :meth:`RoutingTable.load`. Attributes: ``compiled_at``, ``valid_from``,
    ``valid_until`` (UTC epoch seconds; ``valid_until`` is :data:`OPEN_END` when no
    stored change is pending), ``carriers`` and ``customers`` (names, sorted),
    ``currencies`` (account name -> ISO currency), ``routing_plan`` (the stored routing
    plan version in force at the compile instant, or None).
    """

    def __init__(
        self,
        *,
        trie: marisa_trie.Trie,
        compiled_at: int,
        valid_from: int,
        valid_until: int,
        carriers: Sequence[str],
        customers: Sequence[str],
        currencies: dict[str, str],
        arrays: dict[str, np.ndarray],
        keepalive: Any = None,
        source: str = "",
        routing_plan: StoredPlan | None = None,
    ) -> None:
        self.trie = trie
        self.compiled_at = int(compiled_at)
        self.valid_from = int(valid_from)
        self.valid_until = int(valid_until)
        self.carriers: tuple[str, ...] = tuple(carriers)
        self.customers: tuple[str, ...] = tuple(customers)
        self.currencies = dict(currencies)
        self.arrays = arrays
        self.source = source
        self.routing_plan = routing_plan
        self._keepalive = keepalive  # the mmap the arrays view (kept open while in use)
        # Memoryviews (``ndarray.data``): indexing and slicing them yields plain Python ints,
        # cheaper than numpy scalars on the per-call path.
        self.offsets = arrays["offsets"].data  # [2u]: carriers, [2u+1]: customers
        self.route_rate = arrays["route_rate"].data
        self.route_carrier = arrays["route_carrier"].data
        self.route_row = arrays["route_row"].data
        self.quote_customer = arrays["quote_customer"].data
        self.quote_plen = arrays["quote_plen"].data
        self.quote_rate = arrays["quote_rate"].data
        self.quote_row = arrays["quote_row"].data
        self.buy_columns = {c: arrays[f"buy_{c}"].data for c in _ROW_FIELDS}
        self.customer_index = {name: i for i, name in enumerate(self.customers)}
        self.carrier_index = {name: i for i, name in enumerate(self.carriers)}
        self.carrier_currency = tuple(self.currencies.get(c, "") for c in self.carriers)
        self.customer_currency = tuple(self.currencies.get(c, "") for c in self.customers)
        self.single_currency = len(set(self.carrier_currency) | set(self.customer_currency)) <= 1
        self._iter_prefixes = trie.iter_prefixes_with_ids

    # -- size and validity -------------------------------------------------------------
    @property
    def prefix_count(self) -> int:
        """Number of distinct prefixes (carriers' and customers' together)."""
        return len(self.trie)

    @property
    def route_count(self) -> int:
        """Number of (prefix, carrier) entries."""
        return len(self.route_rate)

    def is_valid_at(self, at: int) -> bool:
        """True when ``valid_from <= at < valid_until``."""
        return self.valid_from <= at < self.valid_until

    def validity_text(self) -> str:
        """The validity window as ISO text, e.g. ``[2026-01-01T00:00:00Z, open)``."""
        return f"[{format_instant(self.valid_from)}, {format_instant(self.valid_until)})"

    # -- lookups (the hot path uses these inline; they are also the readable API) -------
    def longest_prefix(self, digits: str) -> int:
        """Union-prefix id of the longest stored prefix of ``digits``, or -1."""
        found = -1
        for _key, found in self._iter_prefixes(digits):  # noqa: B007
            pass
        return found

    def prefix_of(self, uid: int) -> str:
        """The prefix digits of union id ``uid``."""
        return self.trie.restore_key(uid)

    def entries(self, a: int, b: int) -> list[tuple[int, int, int]]:
        """``(rate, carrier index, buy row)`` of route-array positions ``a:b``."""
        return list(
            zip(
                self.route_rate[a:b].tolist(),
                self.route_carrier[a:b].tolist(),
                self.route_row[a:b].tolist(),
                strict=True,
            )
        )

    def carriers_for(self, uid: int) -> list[tuple[int, int, int]]:
        """``(rate, carrier index, buy row)`` for every carrier covering ``uid``, cheapest first."""
        a, b = self.offsets[2 * uid], self.offsets[2 * uid + 2]
        return self.entries(a, b)

    def sell_row(self, uid: int, customer: int) -> int:
        """The sell-row index of ``customer`` at union prefix ``uid``, or -1."""
        a, b = self.offsets[2 * uid + 1], self.offsets[2 * uid + 3]
        for i in range(a, b):
            if self.quote_customer[i] == customer:
                return self.quote_row[i]
        return -1

    def buy_row(self, row: int) -> tuple[str, int, int, int, int, int]:
        """``(prefix, rate, connect_fee, initial_increment, next_increment, min_duration)``."""
        return self._row("buy", row)

    def sell_row_values(self, row: int) -> tuple[str, int, int, int, int, int]:
        """Like :meth:`buy_row` for a sell row."""
        return self._row("sell", row)

    def _row(self, side: str, row: int) -> tuple[str, int, int, int, int, int]:
        a = self.arrays
        return (
            self.trie.restore_key(int(a[f"{side}_prefix"][row])),
            int(a[f"{side}_rate"][row]),
            int(a[f"{side}_connect_fee"][row]),
            int(a[f"{side}_initial_increment"][row]),
            int(a[f"{side}_next_increment"][row]),
            int(a[f"{side}_min_duration"][row]),
        )

    def quote(self, number: str) -> dict[str, Decimal]:
        """Every carrier's rate for ``number`` at its own longest prefix (for inspection)."""
        uid = self.longest_prefix(number)
        if uid < 0:
            return {}
        return {self.carriers[c]: from_scaled(r) for r, c, _row in self.carriers_for(uid)}

    # -- file ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, key: bytes | None = None) -> None:
        """Write the table to one snapshot file (atomic rename; see :mod:`tandem.lcr.snapshot`).

        With ``key`` (bytes, e.g. :func:`~tandem.lcr.snapshot.load_key`) the file is signed
        (HMAC-SHA256), so :meth:`load` with the same key accepts it and no other file.
        """
        meta = {
            "kind": "tandem-routing-table",
            "compiled_at": self.compiled_at,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "carriers": list(self.carriers),
            "customers": list(self.customers),
            "currencies": self.currencies,
            "routing_plan": _plan_meta(self.routing_plan),
        }
        keys = [self.trie.restore_key(i) for i in range(len(self.trie))]
        sections: dict[str, Any] = {
            "trie": self.trie.tobytes(),
            "prefixes": json.dumps(keys).encode(),
        }
        sections.update(self.arrays)
        write_snapshot(path, meta, sections, key=key)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, verify: bool = True, key: bytes | None = None
    ) -> RoutingTable:
        """Open a snapshot written by :meth:`save`; arrays are memory-mapped, not copied.

        Raises :class:`~tandem.errors.SnapshotError` for a missing, truncated, corrupt,
        foreign, other-version or inconsistent file, or anything but a regular file.
        ``verify=False`` skips the whole-file checksum (the header, sizes, layout and the
        consistency of every section are still checked: :mod:`tandem.lcr.verify`).
        With ``key`` the file must be signed with that key (:meth:`save`); an unsigned,
        wrongly signed or altered file is refused.
        """
        name = str(path)
        snap = read_snapshot(path, verify=verify, key=key)
        try:
            meta, sections = snap.meta, snap.sections
            check_meta(name, meta)
            check_sections(name, sections)
            trie, tree = prefix_index(
                name, sections.pop("trie"), sections.pop("prefixes"), trusted=snap.signed
            )
            carriers, customers = len(meta["carriers"]), len(meta["customers"])
            check_arrays(name, sections, len(trie), carriers, customers)
            if tree is not None:
                _check_derived(name, sections, *tree, carriers, customers)
            return cls(
                trie=trie,
                compiled_at=meta["compiled_at"],
                valid_from=meta["valid_from"],
                valid_until=meta["valid_until"],
                carriers=meta["carriers"],
                customers=meta["customers"],
                currencies=meta["currencies"],
                arrays=sections,
                keepalive=snap.mm,
                source=name,
                routing_plan=_plan_from_meta(meta.get("routing_plan")),
            )
        except BaseException:
            snap.sections.clear()
            with contextlib.suppress(BufferError):
                snap.mm.close()
            raise

    def __repr__(self) -> str:
        return (
            f"RoutingTable({self.prefix_count} prefixes, {len(self.carriers)} carriers, "
            f"{len(self.customers)} customers, valid {self.validity_text()})"
        )


def _check_derived(
    name: str,
    arrays: dict[str, np.ndarray],
    lengths: np.ndarray,
    parent: np.ndarray,
    carriers: int,
    customers: int,
) -> None:
    """Derive the route and quote arrays afresh from the rows (as :func:`build_table`
    does) and refuse the file unless they equal the stored ones. Only rows that some
    entry points to take part (a row superseded at compile time points nowhere)."""
    n = len(lengths)
    levels = [np.flatnonzero(lengths == L) for L in range(1, int(lengths.max(initial=0)) + 1)]
    expect: dict[str, np.ndarray] = {}
    offsets = []
    for side, who, entries, count in (
        ("buy", "carrier", "route_row", carriers),
        ("sell", "customer", "quote_row", customers),
    ):
        used = np.zeros(len(arrays[f"{side}_rate"]), dtype=bool)
        used[arrays[entries]] = True
        live = np.flatnonzero(used)
        uid = arrays[f"{side}_prefix"][live].astype(np.int64)
        acct = arrays[f"{side}_{who}"][live].astype(np.int64)
        # Two live rows of one account at one prefix cannot both be right: ordering them
        # by a constant start leaves one, and the comparison below refuses the file.
        starts = functools.partial(np.zeros, len(live), np.int64)
        best = _inherit(n, count, uid, acct, starts, parent, levels)
        best = np.where(best >= 0, live[np.maximum(best, 0)], -1).astype(np.int32)
        if side == "buy":
            offsets.append(_routes(best, arrays["buy_rate"], expect))
        else:
            plen = lengths[arrays["sell_prefix"]]
            offsets.append(_sells(best, arrays["sell_rate"], plen, expect))
    same = np.array_equal(arrays["offsets"][0::2], offsets[0]) and np.array_equal(
        arrays["offsets"][1::2], offsets[1]
    )
    if not same or not all(np.array_equal(arrays[k], v) for k, v in expect.items()):
        raise SnapshotError(
            f"{name!r} is not a consistent routing table (its routes are not those its "
            "rates compile to); recompile it"
        )


# -- compiling ---------------------------------------------------------------------------
def compile_table(store: Store, at: InstantLike) -> RoutingTable:
    """Compile the rates and the routing plan in force in ``store`` at instant ``at`` into
    a :class:`RoutingTable` (valid while neither changes)."""
    from tandem.lcr.plans import plan_window
    from tandem.lcr.reader import read_in_force

    t = parse_instant(at)
    frame, valid_from, valid_until = read_in_force(store, t)
    plan, plan_from, plan_until = plan_window(store, "routing", t)
    if plan_from is not None:
        valid_from = max(valid_from, plan_from)
    if plan_until is not None:
        valid_until = min(valid_until, plan_until)
    return build_table(frame, t, valid_from, valid_until, routing_plan=plan)


def _plan_meta(plan: StoredPlan | None) -> dict[str, Any] | None:
    """A stored plan version as snapshot metadata (JSON): its fields, the import instant
    as epoch seconds (:func:`_plan_from_meta` reads it back)."""
    if plan is None:
        return None
    return dict(asdict(plan), imported_at=int(plan.imported_at.timestamp()))


def _plan_from_meta(meta: dict[str, Any] | None) -> StoredPlan | None:
    from tandem.store import StoredPlan

    if meta is None:
        return None
    return StoredPlan(**dict(meta, imported_at=datetime.fromtimestamp(meta["imported_at"], UTC)))


def compile_rates(rates: pd.DataFrame, at: InstantLike) -> RoutingTable:
    """Compile from a rate frame shaped like :meth:`Store.rates` (full history or not).

    Rows in force at ``at`` (``effective_from <= at < effective_until``) are used; the
    validity window is derived from every row's boundaries.
    """
    t = parse_instant(at)
    starts = rates["effective_from"].to_numpy(dtype=np.int64)
    ends = rates["effective_until"].to_numpy(dtype=np.int64)
    live = ends > starts
    starts, ends = starts[live], ends[live]
    valid_from, valid_until = _window(starts, ends, t)
    in_force = rates[live][(starts <= t) & (t < ends)]
    return build_table(in_force, t, valid_from, valid_until)


def _window(starts: np.ndarray, ends: np.ndarray, t: int) -> tuple[int, int]:
    bounds = np.concatenate([starts, ends[ends < OPEN_END]])
    before = bounds[bounds <= t]
    after = bounds[bounds > t]
    valid_from = int(before.max()) if before.size else -OPEN_END
    valid_until = int(after.min()) if after.size else OPEN_END
    return valid_from, valid_until


def build_table(
    frame: pd.DataFrame | Mapping[str, Any],
    at: int,
    valid_from: int,
    valid_until: int,
    *,
    routing_plan: StoredPlan | None = None,
) -> RoutingTable:
    """Build a table from the rows in force (columns as :data:`tandem.lcr.reader.IN_FORCE_COLUMNS`)
    and the routing plan version it carries (see :func:`compile_table`).

    ``prefix`` and ``account`` may be object or categorical columns; everything per row
    is vectorised (a store of millions of rows compiles in seconds).
    """
    if isinstance(frame, pd.DataFrame):
        frame = {c: frame[c].to_numpy() for c in frame.columns}
    rows = len(frame["prefix"])
    codes, uniques = _factorize(frame["prefix"])
    keys = [str(k) for k in uniques]
    trie = marisa_trie.Trie(keys)
    n = len(trie)
    key_uid = np.fromiter(map(trie.key_id, keys), dtype=np.int64, count=len(keys))
    row_uid = key_uid[codes] if len(codes) else np.zeros(0, dtype=np.int64)

    # Parent of every union prefix: its longest proper prefix in the union (-1 at a root).
    # Walk the keys in lexicographic order with a stack of open ancestors: a key's parent
    # is the deepest stacked key that is a prefix of it.
    parent_of = [-1] * n
    length = np.zeros(n, dtype=np.int64)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    uids = key_uid.tolist()
    stack: list[tuple[str, int]] = []
    for i in order:
        key, uid = keys[i], uids[i]
        while stack and not key.startswith(stack[-1][0]):
            stack.pop()
        if stack:
            parent_of[uid] = stack[-1][1]
        stack.append((key, uid))
    parent = np.array(parent_of, dtype=np.int64)
    length[key_uid] = [len(k) for k in keys]
    levels = [np.flatnonzero(length == L) for L in range(1, int(length.max(initial=0)) + 1)]

    account = frame["account"]
    if isinstance(account, pd.Categorical):  # the store reader's codes: no re-factorising
        acct_codes, acct_names = account.codes, [str(a) for a in account.categories]
    else:
        acct_codes, uniq = pd.factorize(account, sort=False)
        acct_names = [str(a) for a in uniq]
    used, firsts = np.unique(acct_codes, return_index=True)  # first row of each account
    kinds_of = {acct_names[c]: str(frame["kind"][r]) for c, r in zip(used, firsts, strict=True)}
    currencies = {
        acct_names[c]: str(frame["currency"][r]) for c, r in zip(used, firsts, strict=True)
    }
    row_kind = (
        np.array([kinds_of.get(a) == "carrier" for a in acct_names], dtype=bool)[acct_codes]
        if rows
        else np.zeros(0, dtype=bool)
    )
    arrays: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    for side, is_carrier in (("buy", True), ("sell", False)):
        idx = _select(row_kind, is_carrier)
        uid = row_uid[idx]
        # Start instants are needed only to order duplicates: taken lazily.
        eff = functools.partial(_take, frame["effective_from"], idx, np.int64)
        accounts = sorted(a for a in kinds_of if (kinds_of[a] == "carrier") == is_carrier)
        names[side] = accounts
        local = np.full(len(acct_names), -1, dtype=np.int64)
        for i, a in enumerate(acct_names):
            if a in accounts:
                local[i] = accounts.index(a)
        acct = local[acct_codes[idx]]
        arrays[f"{side}_prefix"] = uid.astype("<i4")
        # The account of every row: redundant with the route/quote entries, so that a
        # loaded file can be checked against itself (tandem.lcr.verify).
        arrays[f"{side}_{'carrier' if is_carrier else 'customer'}"] = acct.astype("<i4")
        for col in _ROW_FIELDS[1:]:
            arrays[f"{side}_{col}"] = _take(frame[col], idx, _ROW_DTYPES[col])
        best = _inherit(n, len(accounts), uid, acct, eff, parent, levels)
        if side == "buy":
            route_off = _routes(best, arrays["buy_rate"], arrays)
        else:
            quote_off = _sells(best, arrays["sell_rate"], length[uid], arrays)
    offsets = np.empty(2 * n + 2, dtype="<i8")
    offsets[0::2] = route_off
    offsets[1::2] = quote_off
    arrays["offsets"] = offsets
    return RoutingTable(
        trie=trie,
        compiled_at=at,
        valid_from=valid_from,
        valid_until=valid_until,
        carriers=names["buy"],
        customers=names["sell"],
        currencies=currencies,
        arrays=arrays,
        routing_plan=routing_plan,
    )


def _factorize(prefix: Any) -> tuple[np.ndarray, Any]:
    """``(codes, uniques)`` of the prefix column.

    A categorical column whose categories are all used and whose codes are all set (the
    store reader's) already is that factorisation: its codes are reused, not re-hashed.
    """
    if isinstance(prefix, pd.Categorical):
        codes = np.asarray(prefix.codes)
        cats = prefix.categories
        if codes.size and int(codes.min()) >= 0:
            seen = np.zeros(len(cats), dtype=bool)
            seen[codes] = True
            if seen.all():  # the trie numbers keys itself: their order does not matter
                return codes, cats
    return pd.factorize(prefix, sort=False)


def _select(row_kind: np.ndarray, want: bool) -> np.ndarray | slice:
    """Rows of one side: a slice when they are contiguous (no gathers), else their indices."""
    idx = np.flatnonzero(row_kind == want)
    if idx.size == 0:
        return slice(0, 0)
    if int(idx[-1]) - int(idx[0]) + 1 == idx.size:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _take(column: Any, idx: np.ndarray | slice, dtype: Any) -> np.ndarray:
    """``column[idx]`` as ``dtype`` (a fresh array); a broadcast constant (stride 0) is filled,
    not gathered."""
    values = np.asarray(column, dtype=np.int64)
    if values.ndim == 1 and values.strides[0] == 0 and len(values):
        count = len(range(*idx.indices(len(values)))) if isinstance(idx, slice) else len(idx)
        return np.full(count, values[0], dtype=dtype)
    return values[idx].astype(dtype, copy=True)


def _inherit(
    n: int,
    accounts: int,
    uid: np.ndarray,
    acct: np.ndarray,
    eff: Callable[[], np.ndarray],
    parent: np.ndarray,
    levels: list[np.ndarray],
) -> np.ndarray:
    """``best[u, a]``: row of account ``a``'s longest prefix that is a prefix of union ``u``.

    Should an account have two rows for one prefix in force, the later
    ``effective_from`` wins (the store's supersession never leaves two).
    """
    best = np.full((n, accounts), -1, dtype=np.int32)
    if accounts == 0 or n == 0:
        return best
    rows = np.arange(uid.shape[0], dtype=np.int32)
    best[uid, acct] = rows
    # Every row landed in its own cell unless two share (prefix, account): one cheap count
    # over the matrix spares the per-row histogram when (as from the store) none do.
    dup = np.zeros(0, dtype=np.int64)
    if np.count_nonzero(best >= 0) != uid.shape[0]:
        flat = uid * accounts + acct
        counts = np.bincount(flat, minlength=n * accounts)
        dup = np.flatnonzero(counts[flat] > 1)
    if dup.size:
        starts = eff()
        order = dup[np.lexsort((dup, starts[dup], flat[dup]))]  # last per (prefix, account) wins
        best[uid[order], acct[order]] = rows[order]
        last = np.ones(order.size, dtype=bool)
        last[:-1] = flat[order][1:] != flat[order][:-1]
        best[uid[order[last]], acct[order[last]]] = rows[order[last]]
    for ids in levels:
        par = parent[ids]
        has = par >= 0
        if not has.any():
            continue
        ids, par = ids[has], par[has]
        own = best[ids]
        best[ids] = np.where(own >= 0, own, best[par])
    return best


def _routes(best: np.ndarray, buy_rate: np.ndarray, arrays: dict) -> np.ndarray:
    n, c = best.shape
    counts = (best >= 0).sum(axis=1, dtype=np.int64)
    off = np.zeros(n + 1, dtype="<i8")
    np.cumsum(counts, out=off[1:])
    total = int(off[-1])
    out = {
        "rate": np.empty(total, dtype="<i8"),
        "carrier": np.empty(total, dtype="<i4"),
        "row": np.empty(total, dtype="<i4"),
    }
    for key, value in out.items():
        arrays[f"route_{key}"] = value
    if c == 0 or n == 0:
        return off
    big = np.iinfo(np.int64).max
    carrier_ids = np.arange(c, dtype=np.int32)
    for start in range(0, n, _CHUNK):
        blk = best[start : start + _CHUNK]
        rates = np.where(blk >= 0, buy_rate[np.maximum(blk, 0)], big)
        order = np.argsort(rates, axis=1, kind="stable")  # ties: carrier name order
        srows = np.take_along_axis(blk, order, axis=1)
        srates = np.take_along_axis(rates, order, axis=1)
        valid = srows >= 0
        a, b = int(off[start]), int(off[min(start + _CHUNK, n)])
        out["rate"][a:b] = srates[valid]
        out["carrier"][a:b] = carrier_ids[order][valid]
        out["row"][a:b] = srows[valid]
    return off


def _sells(best: np.ndarray, sell_rate: np.ndarray, plen: np.ndarray, arrays: dict) -> np.ndarray:
    """Per union prefix, every customer's sell quote (customer order): CSR arrays."""
    n, c = best.shape
    valid = best >= 0
    off = np.zeros(n + 1, dtype="<i8")
    np.cumsum(valid.sum(axis=1, dtype=np.int64), out=off[1:])
    if c and n:
        rows = best[valid]
        customer = np.broadcast_to(np.arange(c, dtype=np.int32), (n, c))[valid]
    else:
        rows = np.zeros(0, dtype=np.int64)
        customer = rows
    arrays["quote_customer"] = customer.astype("<i4")
    arrays["quote_plen"] = plen[rows].astype("<i4")
    arrays["quote_rate"] = sell_rate[rows].astype("<i8")
    arrays["quote_row"] = rows.astype("<i4")
    return off
