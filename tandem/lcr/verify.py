"""Checks that a routing-table snapshot read from disk means what a compiled table means.

:func:`tandem.lcr.snapshot.read_snapshot` proves the file's *shape* (a regular file, the
header's lengths, sections tiling the file, the CRC or the signature). This module proves
its *sense*, before a :class:`~tandem.lcr.table.RoutingTable` is built over it, so that no
file can make a later lookup index out of bounds, crash the process or quote a rate the
table does not hold:

* :func:`check_meta`: the kind, instants inside the calendar, carrier and customer names
  (sorted, unique, each with a currency), the routing plan's fields;
* :func:`check_sections`: exactly the sections a compiled table has, each of its dtype;
* :func:`prefix_index`: the prefix trie. An unsigned file's trie blob is never handed to
  marisa-trie (its loader trusts its input and can crash on a crafted blob): the trie is
  rebuilt from the file's own prefix list and must come out byte for byte equal to the
  blob, so prefix ids mean what the arrays assume. A file whose signature was checked
  with the operator's key is the operator's own: its blob is loaded directly;
* :func:`check_arrays`: counts agree between sections, every index is in range, every
  route and quote repeats the rate and the account of the row it points to.

:meth:`~tandem.lcr.table.RoutingTable.load` then derives the route and quote arrays of an
unsigned file afresh from its rows (what :func:`~tandem.lcr.table.compile_table` does)
and refuses the file unless they are equal to the stored ones: each carrier at its own
longest prefix, cheapest first, each customer's quote at its own longest prefix.

Every failure is a :class:`~tandem.errors.SnapshotError` naming the file and the check.
"""

from __future__ import annotations

import json
from typing import Any

import marisa_trie
import numpy as np

from tandem.errors import InstantError, SnapshotError
from tandem.instant import OPEN_END, parse_instant

__all__ = [
    "ROW_FIELDS",
    "SECTION_DTYPES",
    "check_arrays",
    "check_meta",
    "check_sections",
    "prefix_index",
]

#: Fields of a buy (carrier) or sell (customer) row, and their dtypes.
ROW_FIELDS = {
    "prefix": "<i4",
    "rate": "<i8",
    "connect_fee": "<i8",
    "initial_increment": "<i4",
    "next_increment": "<i4",
    "min_duration": "<i4",
}
#: Every section of a compiled table and its dtype (``bytes``: a blob).
SECTION_DTYPES: dict[str, str] = {
    "trie": "bytes",
    "prefixes": "bytes",
    "offsets": "<i8",
    "route_rate": "<i8",
    "route_carrier": "<i4",
    "route_row": "<i4",
    "quote_customer": "<i4",
    "quote_plen": "<i4",
    "quote_rate": "<i8",
    "quote_row": "<i4",
    **{f"{side}_{f}": d for side in ("buy", "sell") for f, d in ROW_FIELDS.items()},
    "buy_carrier": "<i4",
    "sell_customer": "<i4",
}
_PLAN_FIELDS = {
    "id": int,
    "kind": str,
    "version": int,
    "source_name": str,
    "source_sha256": str,
    "text": str,
    "imported_at": int,
    "effective_from": int,
}


def _bad(name: str, why: str) -> SnapshotError:
    return SnapshotError(f"{name!r} is not a consistent routing table ({why}); recompile it")


def _instant(name: str, field: str, value: Any, *, open_ends: bool = True) -> int:
    if type(value) is not int:
        raise _bad(name, f"{field} is not an instant")
    if open_ends and value in (OPEN_END, -OPEN_END):
        return value
    try:
        return parse_instant(value)
    except InstantError:
        raise _bad(name, f"{field} {value} is outside the calendar") from None


def _names(name: str, field: str, value: Any) -> list[str]:
    if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        raise _bad(name, f"{field} is not a list of names")
    if value != sorted(set(value)):
        raise _bad(name, f"{field} are not sorted and unique")
    return value


def check_meta(name: str, meta: dict[str, Any]) -> None:
    """Check the metadata block of a routing table (see the module docstring)."""
    if meta.get("kind") != "tandem-routing-table":
        raise SnapshotError(f"{name!r} is a Tandem file but not a routing table")
    for field in ("compiled_at", "valid_from", "valid_until"):
        if field not in meta:
            raise _bad(name, f"no {field}")
    _instant(name, "compiled_at", meta["compiled_at"], open_ends=False)
    start = _instant(name, "valid_from", meta["valid_from"])
    end = _instant(name, "valid_until", meta["valid_until"])
    if start > end:
        raise _bad(name, "validity window ends before it starts")
    carriers = _names(name, "carriers", meta.get("carriers"))
    customers = _names(name, "customers", meta.get("customers"))
    currencies = meta.get("currencies")
    if not (
        isinstance(currencies, dict)
        and all(isinstance(c, str) and c for c in currencies.values())
        and set(currencies) == set(carriers) | set(customers)
        and len(currencies) == len(carriers) + len(customers)
    ):
        raise _bad(name, "currencies do not name every carrier and customer once")
    plan = meta.get("routing_plan")
    if plan is None:
        return
    if not isinstance(plan, dict) or set(plan) != {*_PLAN_FIELDS, "effective_until"}:
        raise _bad(name, "routing plan fields")
    for field, kind in _PLAN_FIELDS.items():
        if type(plan[field]) is not kind:
            raise _bad(name, f"routing plan {field}")
    _instant(name, "routing plan imported_at", plan["imported_at"], open_ends=False)
    if plan["effective_until"] is not None and type(plan["effective_until"]) is not int:
        raise _bad(name, "routing plan effective_until")


def check_sections(name: str, sections: dict[str, Any]) -> None:
    """Exactly the sections of a compiled table, each of its dtype."""
    missing = sorted(set(SECTION_DTYPES) - set(sections))
    extra = sorted(set(sections) - set(SECTION_DTYPES))
    if missing or extra:
        raise _bad(name, f"sections missing {missing}, unknown {extra}")
    for sec, want in SECTION_DTYPES.items():
        value = sections[sec]
        got = "bytes" if isinstance(value, bytes) else value.dtype.str
        if got != want:
            raise _bad(name, f"section {sec} is {got}, expected {want}")


def prefix_index(
    name: str, blob: bytes, prefixes: bytes, *, trusted: bool
) -> tuple[marisa_trie.Trie, tuple[np.ndarray, np.ndarray] | None]:
    """The prefix trie, and the length and parent id of every prefix by id (None when
    ``trusted``: the checks that need them are skipped for the operator's own file).

    ``trusted`` (the file's signature was checked): the blob is loaded as it is.
    Otherwise the trie is built from the prefix list and must equal the blob.
    """
    if trusted:
        try:
            return marisa_trie.Trie().frombytes(blob), None
        except (RuntimeError, ValueError) as exc:
            raise _bad(name, f"prefix index: {exc}") from None
    try:
        keys = json.loads(prefixes.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _bad(name, "prefix list is not JSON") from None
    if not (isinstance(keys, list) and all(isinstance(k, str) and k for k in keys)):
        raise _bad(name, "prefix list is not a list of prefixes")
    try:
        trie = marisa_trie.Trie(keys)
    except (ValueError, TypeError) as exc:  # e.g. a lone surrogate cannot be UTF-8
        raise _bad(name, f"prefix list: {exc}") from None
    if len(trie) != len(keys):
        raise _bad(name, "prefix list repeats a prefix")
    if trie.tobytes() != blob:
        raise _bad(name, "prefix index does not match the prefix list")
    ids = np.fromiter(map(trie.key_id, keys), dtype=np.int64, count=len(keys))
    lengths = np.zeros(len(keys), dtype=np.int64)
    lengths[ids] = [len(k) for k in keys]
    return trie, (lengths, _parents(trie, keys, ids))


def _in_range(name: str, field: str, values: np.ndarray, high: int) -> None:
    if values.size and (int(values.min()) < 0 or int(values.max()) >= high):
        raise _bad(name, f"{field} out of range")


def _csr(name: str, field: str, starts: np.ndarray, count: int) -> None:
    """Check CSR offsets: from 0, non-decreasing, ending at ``count``."""
    if starts[0] != 0 or starts[-1] != count or np.any(np.diff(starts) < 0):
        raise _bad(name, f"{field} offsets")


def _parents(trie: marisa_trie.Trie, keys: list[str], ids: np.ndarray) -> np.ndarray:
    """Parent of every prefix id: the id of its longest proper prefix in the trie, or -1."""
    parent = np.full(len(keys), -1, dtype=np.int64)
    prefixes, key_id = trie.prefixes, trie.key_id
    parent[ids] = [key_id(found[-2]) if len(found := prefixes(k)) > 1 else -1 for k in keys]
    return parent


def check_arrays(
    name: str,
    arrays: dict[str, np.ndarray],
    n: int,
    carriers: int,
    customers: int,
) -> None:
    """Counts agree, every index is in range, every route and quote repeats the rate and
    the account of the row it points to."""
    a = arrays
    sizes = {
        side: {len(a[f"{side}_{f}"]) for f in (*ROW_FIELDS, who)}
        for side, who in (("buy", "carrier"), ("sell", "customer"))
    } | {
        "route": {len(a[f"route_{f}"]) for f in ("rate", "carrier", "row")},
        "quote": {len(a[f"quote_{f}"]) for f in ("customer", "plen", "rate", "row")},
    }
    for group, lens in sizes.items():
        if len(lens) != 1:
            raise _bad(name, f"{group} sections differ in length")
    if len(a["offsets"]) != 2 * n + 2:
        raise _bad(name, f"{len(a['offsets'])} offsets for {n} prefixes")
    _csr(name, "route", a["offsets"][0::2], len(a["route_rate"]))
    _csr(name, "quote", a["offsets"][1::2], len(a["quote_rate"]))
    buys, sells = len(a["buy_rate"]), len(a["sell_rate"])
    for field, high in (
        ("buy_prefix", n), ("sell_prefix", n), ("buy_carrier", carriers),
        ("sell_customer", customers), ("route_carrier", carriers), ("route_row", buys),
        ("quote_customer", customers), ("quote_row", sells),
    ):  # fmt: skip
        _in_range(name, field.replace("_", " "), a[field], high)
    route_row, quote_row = a["route_row"], a["quote_row"]
    if not np.array_equal(a["route_rate"], a["buy_rate"][route_row]):
        raise _bad(name, "a route's rate differs from its carrier row's")
    if not np.array_equal(a["route_carrier"], a["buy_carrier"][route_row]):
        raise _bad(name, "a route's carrier differs from its row's")
    if not np.array_equal(a["quote_rate"], a["sell_rate"][quote_row]):
        raise _bad(name, "a quote's rate differs from its customer row's")
    if not np.array_equal(a["quote_customer"], a["sell_customer"][quote_row]):
        raise _bad(name, "a quote's customer differs from its row's")
