"""CDRs as the fraud scan reads them: canonical CDR columns into numpy arrays in replay
order, and the CDRs that cannot be read, counted by reason.

A CDR is readable when it has a start, a duration of 0 to 10^8 seconds, a customer, and
a dialled number that is an E.164 number (1-15 digits, not starting with 0; a leading ``+``
is dropped). The others are counted in ``unreadable`` by reason, never dropped silently.
Optional columns: ``trunk``, ``source_ip``, ``destination`` (the matched prefix, which
keys velocity and first calls; else the number's first ``prefix_length`` digits), ``group``
(the destination group of the concurrent-call limit; else the destination, else the
number's first ``concurrent.group_prefix_length`` digits), the call's cost at the
customer's sell rate (``sell_amount``, ``cost`` or ``sell_cost``: decimals, integers or
decimal text) and its sell rate per minute (``sell_rate``; above 90 per minute it is not
read). Without a cost column a call
costs its sell rate × its billed seconds / 60 (per-second billing, rounded down to the 9th
decimal: :func:`cost_of`); without either, spend is not evaluated.
"""

from __future__ import annotations

from bisect import bisect_left
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import MoneyError
from tandem.fraud.columns import COST_COLUMNS, RATE_COLUMNS, SCAN_COLUMNS
from tandem.fraud.windows import digit_values
from tandem.money import SCALE, to_scaled
from tandem.rating.arrays import from_numpy, scalar, strings, to_numpy

__all__ = [
    "COST_COLUMNS",
    "RATE_COLUMNS",
    "SCAN_COLUMNS",
    "RowNames",
    "ScanRows",
    "Sparse",
    "cost_of",
    "scan_rows",
]


def cost_of(sell_rate: int, duration: int) -> int:
    """A call's cost when the CDR names none: ``sell_rate`` (scaled, per minute) × billed
    seconds / 60, rounded down (per-second billing)."""
    return sell_rate * duration // 60


#: Longest duration read (seconds, about three years): a longer one is not a call.
MAX_DURATION = 10**8
#: Highest sell rate read (scaled, 90 per minute): rate x duration stays inside int64.
MAX_RATE = 90 * 10**SCALE
# Arrow values passed to compute functions as scalars made here: pyarrow imports pandas
# (a third of a second) on the first plain Python value it is given, or the first
# to_numpy; the scan converts through tandem.rating.arrays instead.
_ZERO = scalar(0, pa.int64())
_FALSE = scalar(False, pa.bool_())
_POW10 = np.array([10**k for k in range(19)], dtype=np.int64)


@dataclass
class ScanRows:
    """Readable CDRs in replay order (start, then file order)."""

    rows_in: int
    unreadable: dict[str, int]
    record: np.ndarray
    start: np.ndarray
    duration: np.ndarray
    number: np.ndarray  # int64: the E.164 number
    length: np.ndarray  # its digits
    customer: np.ndarray  # codes into customers
    customers: list[str]
    trunk: np.ndarray | None = None  # codes (-1: none)
    source_ip: np.ndarray | None = None
    group: np.ndarray | None = None
    group_name: RowNames = field(default_factory=lambda: RowNames(np.zeros(0, np.int64)))
    trunk_names: list[str] = field(default_factory=list)
    ip_names: list[str] = field(default_factory=list)
    cost: np.ndarray | None = None  # scaled int64 (0 where missing)
    rate: np.ndarray | None = None  # scaled int64
    rate_valid: np.ndarray | None = None
    cost_from_rate: bool = False
    digits: pa.Array | None = None  # the numbers as text, replay order
    destination: pa.Array | None = None  # the destination column (text, dictionary): replay order
    _destinations: dict[int, tuple[np.ndarray, RowNames]] = field(default_factory=dict)
    _part: bool = False  # made by take (no texts)
    _all_named: tuple[pa.Array, np.ndarray, list[Any]] | None = None

    @property
    def size(self) -> int:
        """How many readable CDRs."""
        return len(self.record)

    def prefix(self, length: int) -> np.ndarray:
        """The first ``length`` digits of every number, as integers (the whole number
        when shorter): equal integers are equal digit strings (no leading zeros)."""
        cut = np.maximum(self.length - length, 0)
        return self.number // _POW10[cut]

    def destinations(self, length: int) -> tuple[np.ndarray, RowNames]:
        """Dense codes of every call's destination, and the name of row ``i``'s: its
        ``destination`` column where the CDR names one, else the number's first
        ``length`` digits (as :meth:`tandem.fraud.FraudEngine.check` takes
        ``facts.destination or number[:length]``)."""
        hit = self._destinations.get(length)
        if hit is None:
            if self._part:
                raise ValueError(f"destinations({length}) of a part: not taken with it")
            hit = self._destinations[length] = self._named_or_prefix(self.destination, length)
        return hit

    def _named_or_prefix(self, names: pa.Array | None, length: int) -> tuple[np.ndarray, RowNames]:
        if names is None:
            prefix = self.prefix(length)
            # dense codes in order of first appearance
            enc = pc.dictionary_encode(from_numpy(prefix))
            codes = to_numpy(enc.indices).astype(np.int64)
            return codes, RowNames(prefix)
        if pa.types.is_dictionary(names.type):
            hit = self._all_named
            if hit is None or hit[0] is not names:
                found = _every_one_named(names)
                if found is not None:
                    hit = self._all_named = (names, *found)
            if hit is not None and hit[0] is names:
                return hit[1], RowNames(hit[1], hit[2])
            names = names.dictionary_decode()  # some CDRs name none: by the text
        assert self.digits is not None
        named = pc.fill_null(pc.not_equal(names, scalar("", names.type)), _FALSE)
        if named.false_count == 0:
            # every CDR names it: the same codes for every length, encoded once
            hit = self._all_named
            if hit is None or hit[0] is not names:
                enc = pc.dictionary_encode(names)
                codes = to_numpy(enc.indices).astype(np.int64)
                hit = self._all_named = (names, codes, enc.dictionary.to_pylist())
            return hit[1], RowNames(hit[1], hit[2])
        digits = pc.utf8_slice_codeunits(self.digits, 0, length)
        text = pc.if_else(named, names, digits)
        enc = pc.dictionary_encode(text)
        values = enc.dictionary.to_pylist()
        codes = to_numpy(enc.indices).astype(np.int64)
        return codes, RowNames(codes, values)

    def take(
        self, idx: np.ndarray, *, destinations: tuple[int, ...] = (), keys: bool = True
    ) -> ScanRows:
        """The rows at positions ``idx`` (ascending: replay order kept), with the same
        name tables (codes keep their meaning) and the :meth:`destinations` of the
        ``destinations`` prefix lengths (made once over every row); without the number and
        destination texts, so another length is refused. ``keys=False`` leaves out the
        trunk, source IP and group codes (None) and the records (zeros)."""

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        def pick_key(a: np.ndarray | None) -> np.ndarray | None:
            return pick(a) if keys else None

        sub = ScanRows(
            rows_in=len(idx),
            unreadable={},
            record=self.record[idx] if keys else np.zeros(len(idx), np.int64),
            start=self.start[idx],
            duration=self.duration[idx],
            number=self.number[idx],
            length=self.length[idx],
            customer=self.customer[idx],
            customers=self.customers,
            trunk=pick_key(self.trunk),
            source_ip=pick_key(self.source_ip),
            group=pick_key(self.group),
            trunk_names=self.trunk_names,
            ip_names=self.ip_names,
            cost=pick(self.cost),
            rate=pick(self.rate),
            rate_valid=pick(self.rate_valid),
            cost_from_rate=self.cost_from_rate,
        )
        group_keys = self.group_name.keys
        if keys and isinstance(group_keys, np.ndarray) and len(group_keys) == self.size:
            sub.group_name = RowNames(group_keys[idx], self.group_name.names)
        for length in destinations:
            codes, names = self.destinations(length)
            name_keys = names.keys
            assert isinstance(name_keys, np.ndarray)
            sub_codes = codes[idx]
            # the names keyed by the codes themselves (every CDR names it): one gather
            sub_keys = sub_codes if name_keys is codes else name_keys[idx]
            sub._destinations[length] = (sub_codes, RowNames(sub_keys, names.names))
        sub._part = True
        return sub

    def block(self, digits: int) -> tuple[np.ndarray, np.ndarray]:
        """Every number without its last ``digits`` digits, and whether it has more."""
        ok = self.length > digits
        return self.number // _POW10[digits], ok


def _every_one_named(names: pa.DictionaryArray) -> tuple[np.ndarray, list[str]] | None:
    """Dense codes of a dictionary column of names (trimmed texts, maybe repeated in the
    dictionary) and the names, when every row has a name (not null, not empty); else
    None. Read from the dictionary, once per distinct name, not per CDR.

    The dictionary was trimmed by Arrow (``utf8_trim_whitespace``, :func:`_names_text`),
    :func:`_names` trims with Python's ``str.strip``: the two remove the same characters
    (every code point; a property test holds them to it), so both give the same names."""
    if names.null_count:
        return None
    uniq: dict[str, int] = {}
    remap = [
        -1 if v is None or v == "" else uniq.setdefault(v, len(uniq))
        for v in names.dictionary.to_pylist()
    ]
    table = np.asarray(remap + [-1], dtype=np.int64)
    codes = table[to_numpy(names.indices).astype(np.intp)]
    if len(codes) and int(codes.min()) < 0:
        return None
    return codes, list(uniq)


class Sparse:
    """``values[i]`` of the rows ``i`` in ``rows`` (sorted positions) alone: what a rule's
    evidence keeps of a column-sized array once its hits are known."""

    __slots__ = ("rows", "values")

    rows: np.ndarray
    values: np.ndarray

    def __init__(self, rows: np.ndarray, values: np.ndarray | Sparse) -> None:
        self.rows = rows
        self.values = (
            values.values[np.searchsorted(values.rows, rows)]
            if isinstance(values, Sparse)
            else values[rows]
        )

    def __getitem__(self, i: int) -> Any:
        # Python ints: a search without numpy's per-call cost
        rows = memoryview(self.rows.data)
        k = bisect_left(rows, i)
        if k >= len(rows) or rows[k] != i:
            raise KeyError(i)
        return self.values[k]


class RowNames:
    """The name of row ``i``: ``str(int(keys[i]))`` (digits) or ``names[keys[i]]``;
    :meth:`only` keeps those of a few rows."""

    __slots__ = ("keys", "names")

    def __init__(self, keys: np.ndarray | Sparse, names: list[str] | None = None) -> None:
        self.keys = keys
        self.names = names

    def __call__(self, i: int) -> str:
        key = int(self.keys[i])
        return str(key) if self.names is None else str(self.names[key])

    def only(self, rows: np.ndarray) -> RowNames:
        """The names of ``rows`` alone (sorted positions)."""
        return RowNames(Sparse(rows, self.keys), self.names)

    def at(self, rows: np.ndarray) -> RowNames:
        """The names of ``rows`` (sorted positions), read by their number in ``rows``:
        name ``k`` is that of row ``rows[k]``."""
        return RowNames(Sparse(rows, self.keys).values, self.names)


def _column(
    table: pa.Table, names: tuple[str, ...], *, dictionary: bool = False
) -> pa.Array | None:
    """The first of ``names`` the table has (any case), as one array; a dictionary column
    decoded, unless ``dictionary`` (names: :func:`_names` reads the codes, one dictionary
    for every batch's)."""
    lower = {c.lower(): c for c in table.column_names}
    for name in names:
        if name in lower:
            col = table.column(lower[name])
            if not isinstance(col, pa.ChunkedArray):
                return col
            if pa.types.is_dictionary(col.type) and dictionary:
                return col.unify_dictionaries().combine_chunks()
            if pa.types.is_dictionary(col.type):  # batches with their own dictionaries
                return pa.chunked_array(
                    [c.dictionary_decode() for c in col.chunks], col.type.value_type
                ).combine_chunks()
            return col.combine_chunks()
    return None


def _plain_numbers(col: pa.Array) -> np.ndarray | None:
    """Which numbers of a text column are E.164 numbers, when every byte of the column is
    an ASCII digit (so trimming spaces and ``+`` changes nothing): a length of 1-15 and
    no leading 0, checked on the bytes at once. None for any other column (the general
    path trims and matches each text)."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    n = len(col)
    buffers = col.buffers()
    if buffers[1] is None:
        return None
    kind = np.int32 if pa.types.is_string(col.type) else np.int64
    offsets = np.frombuffer(buffers[1], dtype=kind)[col.offset : col.offset + n + 1]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    if n == 0 or len(data) == 0:
        return None
    body = data[int(offsets[0]) : int(offsets[-1])]
    if len(body) and (int(body.min()) < 48 or int(body.max()) > 57):  # a byte but 0-9
        return None
    lengths = np.diff(offsets)
    first = data[np.minimum(offsets[:-1], len(data) - 1)]
    good = (lengths >= 1) & (lengths <= 15) & (first != 48)
    if col.null_count:
        good &= _valid(col)
    return good


def _valid(col: pa.Array) -> np.ndarray:
    """Which values of ``col`` are not null (booleans)."""
    return to_numpy(col.is_valid())


def _names_text(col: pa.Array) -> pa.Array:
    """:func:`_text` of a name column, a dictionary of texts kept as one (its dictionary
    trimmed, once per distinct name: :meth:`ScanRows.destinations` reads the codes)."""
    if pa.types.is_dictionary(col.type) and (
        pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type)
    ):
        return pa.DictionaryArray.from_arrays(
            col.indices, pc.utf8_trim_whitespace(col.dictionary), safe=False
        )
    return _text(col)


def _filled(col: pa.Array, value: pa.Scalar) -> pa.Array:
    """``col`` with its nulls replaced by ``value`` (no copy when it has none)."""
    return pc.fill_null(col, value) if col.null_count else col


def _text(col: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        try:
            col = pc.cast(col, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return strings([None if v is None else str(v) for v in col.to_pylist()])
    return pc.utf8_trim_whitespace(col)


def _names(col: pa.Array | None, n: int) -> tuple[np.ndarray, list[str]]:
    """Dense codes of a name column (``-1`` for null or empty) and the names."""
    if col is None:
        return np.full(n, -1, dtype=np.int64), []
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_dictionary(col.type):
        is_text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        col = pc.dictionary_encode(col if is_text else _text(col))
        # text trimmed once per distinct value, not per CDR
        values = _text(col.dictionary) if is_text else col.dictionary
    else:
        values = col.dictionary
    # the work is done once per distinct name, not per CDR
    names: dict[str, int] = {}
    remap = []
    for v in values.to_pylist():
        name = str(v).strip() if v is not None else ""
        remap.append(names.setdefault(name, len(names)) if name else -1)
    indices = col.indices
    if indices.null_count == 0 and remap == list(range(len(remap))):
        # every name distinct and non-empty: the codes are the indices
        return to_numpy(indices).astype(np.int64), list(names)
    table = np.asarray(remap + [-1], dtype=np.int64)
    idx = to_numpy(pc.fill_null(indices, scalar(len(remap), indices.type)))
    return table[idx.astype(np.int64)], list(names)


def money_column(col: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """A money column as scaled integers and a validity mask; None for a type money is
    never read from (binary floats)."""
    n = len(col)
    t = col.type
    if pa.types.is_decimal(t):
        if t.scale > SCALE:
            return None
        if pa.types.is_decimal128(t) and t.precision - t.scale + SCALE <= 38:
            return _decimal_words(col, SCALE - t.scale)
        try:
            scaled = pc.cast(col, pa.decimal128(38, SCALE))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        # decimal128 values are 16-byte little-endian two's complement integers (unscaled)
        words = np.frombuffer(scaled.buffers()[1], dtype=np.int64)
        words = words[2 * scaled.offset : 2 * (scaled.offset + n)]
        low, high = words[0::2], words[1::2]
        valid = _valid(scaled) & (high == (low >> 63))
        return np.where(valid, low, 0), valid
    if pa.types.is_integer(t):
        vals = to_numpy(_filled(col, scalar(0, t))).astype(np.int64)
        valid = _valid(col) & (np.abs(vals) < 9 * 10**9)
        return np.where(valid, vals, 0) * 10**SCALE, valid
    if pa.types.is_floating(t):
        return None
    text = _text(col)
    enc = pc.dictionary_encode(text)
    scaled = []
    ok = []
    for v in enc.dictionary.to_pylist():
        try:
            s = to_scaled(str(v))
            good = abs(s) < 2**62
        except MoneyError:
            s, good = 0, False
        scaled.append(s if good else 0)
        ok.append(good)
    idx = to_numpy(pc.fill_null(enc.indices, scalar(-1, enc.indices.type))).astype(np.int64)
    table = np.asarray(scaled + [0], dtype=np.int64)
    good_table = np.asarray(ok + [False], dtype=bool)
    return table[idx], good_table[idx]


def _decimal_words(col: pa.Array, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """A decimal128 column as integers scaled up by ``10**shift``, read from its 16-byte
    words: what the cast to ``decimal128(38, SCALE)`` gives (it cannot overflow), valid
    where the value is not null and fits in int64."""
    n = len(col)
    # 16-byte little-endian two's complement integers (unscaled)
    words = np.frombuffer(col.buffers()[1], dtype=np.int64)[2 * col.offset : 2 * (col.offset + n)]
    low, high = words[0::2], words[1::2]
    factor = 10**shift
    valid = (high == (low >> 63)) & (low >= -(2**63 // factor)) & (low <= (2**63 - 1) // factor)
    if col.null_count:
        valid &= _valid(col)
    return np.where(valid, low, 0) * factor, valid


def _replay_order(start: np.ndarray, keep: np.ndarray, n: int) -> np.ndarray:
    """The positions ``keep`` in replay order: by start, then file order. Most files are
    written in time order: one pass checks it, and only a file out of order is sorted."""
    st = start[keep]
    if len(st) < 2 or bool(np.all(st[1:] >= st[:-1])):
        return keep
    # unique keys (start, position): any sort is stable
    return keep[np.argsort((st - st.min()) * max(n, 1) + keep)]


def scan_rows(
    table: pa.Table, *, group_prefix_length: int, workers: int = 1
) -> tuple[ScanRows, dict[str, str]]:
    """The readable CDRs of a canonical CDR table (:func:`tandem.rating.canonical_table`)
    in replay order, and notes on optional columns that could not be used; ``workers=2``
    reads the name and money columns in a second thread."""
    n = table.num_rows

    # the name and money columns (read whatever the rows' order) in a thread meanwhile:
    # Arrow and numpy release the GIL over whole columns
    pool = ThreadPoolExecutor(max_workers=1) if workers > 1 and n >= _PARALLEL_ROWS else None
    side = pool.submit(_side_columns, table, n) if pool is not None else None
    try:
        return _scan_rows(table, group_prefix_length, n, side)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


#: Fewer CDRs than this are read in one thread.
_PARALLEL_ROWS = 50_000

_Money = tuple[np.ndarray, np.ndarray] | None
_Side = tuple[
    tuple[np.ndarray, list[str]],
    tuple[np.ndarray, list[str]],
    tuple[pa.Array | None, _Money],
    tuple[pa.Array | None, _Money],
]


def _side_columns(table: pa.Table, n: int) -> _Side:
    """The trunk and source IP codes and names, the sell rate and cost columns (file
    order) with their scaled values (None: a type money is never read from)."""
    rate_col = _column(table, RATE_COLUMNS)
    cost_col = _column(table, COST_COLUMNS)
    return (
        _names(_column(table, ("trunk",), dictionary=True), n),
        _names(_column(table, ("source_ip",), dictionary=True), n),
        (rate_col, money_column(rate_col) if rate_col is not None else None),
        (cost_col, money_column(cost_col) if cost_col is not None else None),
    )


def _scan_rows(
    table: pa.Table, group_prefix_length: int, n: int, side: Future[_Side] | None
) -> tuple[ScanRows, dict[str, str]]:
    notes: dict[str, str] = {}
    reasons: dict[str, int] = {}
    ok = np.ones(n, dtype=bool)

    def refuse(mask: np.ndarray, reason: str) -> None:
        bad = mask & ok
        count = int(bad.sum())
        if count:
            reasons[reason] = count
            ok[bad] = False

    raw = _column(table, ("raw",))
    if raw is not None:
        refuse(_valid(raw), "bad_record")
    start_col = _column(table, ("start",))
    dur_col = _column(table, ("duration",))
    num_col = _column(table, ("number",))
    if start_col is None or dur_col is None or num_col is None:
        refuse(np.ones(n, dtype=bool), "missing_columns")
        start = duration = np.zeros(n, dtype=np.int64)
        text = pa.nulls(n, pa.string())
    else:
        start_col = pc.cast(start_col, pa.int64())
        dur_col = pc.cast(dur_col, pa.int64())
        refuse(~_valid(start_col), "no_start")
        start = to_numpy(_filled(start_col, _ZERO))
        duration = to_numpy(_filled(dur_col, _ZERO))
        bad = ~_valid(dur_col) | (duration < 0)
        refuse(bad | (duration > MAX_DURATION), "bad_duration")
        text = num_col
    plain = _plain_numbers(text)
    if plain is not None:
        good_number = plain
    else:
        text = pc.utf8_ltrim(_text(text), characters="+")
        match = pc.match_substring_regex(text, r"^[1-9][0-9]{0,14}$")
        good_number = to_numpy(pc.fill_null(match, _FALSE))
    refuse(~good_number, "bad_number")
    customer, customers = _names(_column(table, ("customer",), dictionary=True), n)
    refuse(customer < 0, "no_customer")

    keep = np.flatnonzero(ok)
    order = _replay_order(start, keep, n)
    # every row readable and in time order: the columns as they are, no gathers
    whole = len(order) == n and bool(np.array_equal(order, np.arange(n)))

    def at(a: np.ndarray) -> np.ndarray:
        return a if whole else a[order]

    pick = from_numpy(order.astype(np.int64, copy=False))

    def take(a: pa.Array) -> pa.Array:
        return a if whole else pc.take(a, pick)

    digits = take(text)
    parsed = digit_values(digits)  # in C when built (the same values)
    if parsed is not None:
        number, length = parsed
    else:
        number = to_numpy(pc.cast(digits, pa.int64()))
        # the numbers read are ASCII digits: bytes are characters
        length = to_numpy(pc.binary_length(digits)).astype(np.int64)
    record_col = _column(table, ("record",))
    record = (
        at(to_numpy(_filled(record_col, scalar(0, record_col.type))).astype(np.int64))
        if record_col is not None
        else order.astype(np.int64) + 1
    )
    rows = ScanRows(
        rows_in=n,
        unreadable=reasons,
        record=record,
        start=at(start).astype(np.int64, copy=False),
        duration=at(duration).astype(np.int64, copy=False),
        number=number,
        length=length,
        customer=at(customer),
        customers=customers,
    )
    rows.digits = digits
    dest_col = _column(table, ("destination",), dictionary=True)
    if dest_col is not None:
        rows.destination = take(_names_text(dest_col))
    group_col = _column(table, ("group",), dictionary=True)
    groups = take(_names_text(group_col)) if group_col is not None else rows.destination
    rows.group, rows.group_name = rows._named_or_prefix(groups, group_prefix_length)
    (trunk, rows.trunk_names), (ip, rows.ip_names), (rate_col, rate), (cost_col, cost) = (
        side.result() if side is not None else _side_columns(table, n)
    )
    rows.trunk = at(trunk)
    rows.source_ip = at(ip)
    if rate_col is not None:
        money = rate
        if money is None:
            notes["first_call"] = f"the sell_rate column is {rate_col.type}: not evaluated"
        else:
            rows.rate = at(money[0])
            rows.rate_valid = at(money[1]) & (np.abs(rows.rate) <= MAX_RATE)
    else:
        notes["first_call"] = "no sell_rate column: not evaluated"
    if cost_col is not None:
        money = cost
        if money is None:
            notes["spend"] = f"the cost column is {cost_col.type}, not exact money: not evaluated"
        else:
            rows.cost = at(np.where(money[1], money[0], 0))
    elif rows.rate is not None and rows.rate_valid is not None:
        # cost_of, vectorised
        rows.cost = np.where(rows.rate_valid, rows.rate * rows.duration // 60, 0)
        rows.cost_from_rate = True
    else:
        notes["spend"] = f"no cost column ({', '.join(COST_COLUMNS)}) nor sell_rate: not evaluated"
    return rows, notes
