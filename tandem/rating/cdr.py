"""CDR files in, canonical Arrow batches out: Parquet, CSV, Asterisk, FreeSWITCH, Kamailio.

Every reader yields *canonical* batches, the only input :class:`tandem.rating.Rater`
prices:

==================  =========================================================
``record``          int64, 1-based record number in the source, in file order: the
                    Nth record of the file is record N, malformed ones counted where
                    they stand (a CSV header and blank lines are no records)
``line``            int64, text formats only: the line of the file the record starts
                    on (the header is line 1); what an auditor opens the file at
``raw``             string, text formats only: the text of a record that could not be
                    read (wrong number of fields, an unbalanced quote running to the end
                    of the file), null for the others; such a record has no values and
                    is unrated ``bad_record``
``time_note``       string: null, or why the start needs a second look (local times
                    around a DST change, below)
``start``           int64, call start (Asterisk ``start``), UTC epoch seconds; null when
                    missing or unparseable
``duration``        int64, billable seconds (Asterisk ``billsec``); fractions are rounded
                    up; null when missing or not a number
``number``          string, the dialed number as written
``customer``        string, the customer (sell side) account
``carrier``         string, the carrier (buy side) account
``routing_number``  string, optional: an LNP routing number to rate on instead
``call_id``         string, optional: uniqueid / uuid / Call-ID
``disposition``     string, optional: ANSWERED, NORMAL_CLEARING, 200...
==================  =========================================================

Formats:

* ``parquet`` / ``csv`` (with a header): columns found by the usual names (``start``,
  ``start_time``, ``calldate``..., see :data:`COLUMN_ALIASES`) or named with a column map
  (``{"number": "called_party"}``). Read in Arrow record batches: constant memory.
* ``asterisk``: ``Master.csv`` of ``cdr_csv`` (no header): accountcode, src, dst,
  dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration,
  billsec, disposition, amaflags, uniqueid, userfield (extra trailing fields are ignored).
  ``billsec`` is billed; the customer is ``accountcode`` and the carrier the endpoint of
  ``dstchannel`` (``PJSIP/twilio-na-us-0000a1b2`` → ``twilio-na-us``; SIP/ and IAX2/ alike).
* ``freeswitch``: ``mod_cdr_csv``'s default template (no header): caller_id_name,
  caller_id_number, destination_number, context, start_stamp, answer_stamp, end_stamp,
  duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode, read_codec, write_codec.
  The template names no carrier: pass ``carrier=`` (``--carrier``).
* ``kamailio``: a CSV export (with header) of the ``acc_cdrs`` table that ``acc`` writes
  with ``cdr_enable=1``: ``start_time``, ``end_time``, ``duration`` (fractional seconds)
  and the ``cdr_extra`` columns; the dialed number is ``dst_user`` (or ``callee``,
  ``dst_ouser``, ``ruri``), the customer ``src_account`` / ``customer``, the carrier
  ``dst_gw`` / ``carrier``. An export of the plain ``acc`` table (one row per SIP
  transaction: ``method``, ``callid``, ``sip_code``, ``time``) is recognised too, and its
  INVITE and BYE rows are paired into calls (:func:`kamailio_acc_calls`).

``asterisk`` records need the 16 fields ``cdr_csv`` always writes (through ``amaflags``),
``freeswitch`` records the template's 15; a shorter record is malformed (kept, ``raw``).

Times without a zone (Asterisk, FreeSWITCH and Kamailio write local time; naive Parquet
timestamps) are read in ``timezone`` (an IANA name, default UTC),
:mod:`tandem.rating.localtime`. A start in the repeated hour when DST ends is decided by
the CDR's end time (``end``, ``end_time``, ``end_stamp``...) and call length
(``duration``, Asterisk's and FreeSWITCH's total duration): the occurrence whose start +
length is the end, ``time_note = "ambiguous_local_time_resolved"``; when they cannot
decide, the first (DST) occurrence, ``time_note = "ambiguous_local_time"``. A start in
the skipped hour is not shifted: no start (``bad_time``), ``time_note =
"nonexistent_local_time"``. Times with a zone (``2026-11-02T09:15:03+01:00``, ``Z``) and
all-digit epoch seconds are read as such; a time that names no instant (a naive year-9999
timestamp east of UTC, an infinite float, a uint64 beyond int64) is no start.

A file that cannot be read at all raises :class:`tandem.errors.CdrError` (a binary or
compressed file, an empty one, a header without a start column: naming the file and the
line); a record that cannot be read becomes a canonical row with nulls and its ``raw``
text, and is unrated with a reason.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tandem.errors import CdrError, ConfigError
from tandem.rating.arrays import from_numpy, scalar, strings, to_numpy
from tandem.rating.cdrtext import BOM, binary_problem, one_record_per_line, text_records
from tandem.rating.localtime import Localized, disambiguate, localize

if TYPE_CHECKING:  # pandas is imported where a frame is read, not by the Parquet path
    import pandas as pd

    from tandem.rating.parquetprefetch import ParquetPrefetch

__all__ = [
    "FORMATS",
    "ASTERISK_FIELDS",
    "FREESWITCH_FIELDS",
    "COLUMN_ALIASES",
    "CdrReader",
    "projected_columns",
    "dictionary_columns",
    "parquet_read_as",
    "CdrSource",
    "detect_format",
    "carrier_from_channel",
    "canonical_table",
    "load_account_map",
    "kamailio_acc_calls",
]

FORMATS = ("auto", "parquet", "csv", "asterisk", "freeswitch", "kamailio")

#: What CDRs can be read from: a DataFrame, an Arrow table, or a file path.
CdrSource: TypeAlias = "pd.DataFrame | pa.Table | str | os.PathLike[str]"


def is_frame(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame (without importing pandas: when pandas is
    not loaded, nothing is a DataFrame)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame)


ASTERISK_FIELDS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield",
)  # fmt: skip
FREESWITCH_FIELDS = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
    "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
    "accountcode", "read_codec", "write_codec",
)  # fmt: skip

#: Source column names tried, in order, for each canonical column of a CSV/Parquet file.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "start": ("start", "start_time", "start_stamp", "calldate", "setup_time", "start_epoch"),
    "duration": ("billsec", "billable_seconds", "billed_seconds", "duration", "seconds"),
    "number": ("number", "dialed", "dst", "destination_number", "called", "callee", "dst_user",
               "dst_ouser", "ruri"),
    "customer": ("customer", "accountcode", "account", "src_account"),
    "carrier": ("carrier", "vendor", "trunk", "dst_gw", "gateway"),
    "routing_number": ("routing_number", "lrn"),
    "call_id": ("call_id", "callid", "uniqueid", "uuid"),
    "disposition": ("disposition", "hangup_cause", "sip_code"),
}  # fmt: skip
_KAMAILIO_DURATION = ("duration",)
_CANONICAL = ("record", "start", "duration", "number", "customer", "carrier")
_CHANNEL = re.compile(r"^(?:PJSIP|SIP|IAX2)/(?P<endpoint>.+)-[0-9A-Fa-f]+(?:;\d+)?$")
_TZ_SUFFIX = r"(?:Z|[+-]\d\d:?\d\d)$"
#: What a CDR time must look like (years 1970-2259, inside pandas' nanosecond range).
_TIME_SHAPE = (
    r"(?:19[7-9]\d|2[01]\d\d|22[0-5]\d)-\d\d-\d\d"
    r"(?:[ T]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d\d:?\d\d)?"
)


def carrier_from_channel(channel: str | None) -> str | None:
    """The endpoint of an Asterisk channel name (``PJSIP/atlas-0000a1b2`` → ``atlas``)."""
    if not channel:
        return None
    m = _CHANNEL.match(channel.strip())
    return m.group(1) if m else None


def load_account_map(path: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Read an account map TOML: ``[customer]`` and ``[carrier]`` tables of
    ``"name in the CDR" = "Tandem account"``. Returns ``(customer_map, carrier_map)``."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read account map {os.fspath(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"account map {os.fspath(path)!r} is not valid TOML: {exc}") from None
    extra = set(data) - {"customer", "carrier"}
    if extra:
        raise ConfigError(f"account map: only [customer] and [carrier] tables, not {sorted(extra)}")
    out = []
    for kind in ("customer", "carrier"):
        table = data.get(kind, {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"account map: [{kind}] must map names to names (strings)")
        out.append({str(k): v for k, v in table.items()})
    return out[0], out[1]


def _check_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {tz!r}: use an IANA name such as Europe/London"
        ) from None
    return tz


# -- column conversions (vectorised) --------------------------------------------------------


def _strings(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if not pa.types.is_string(col.type):
        if pa.types.is_large_string(col.type):
            return pc.cast(col, pa.string())
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            ok = pc.utf8_is_printable(pc.cast(col, pa.string(), safe=False))
            return pc.if_else(ok, pc.cast(col, pa.string(), safe=False), None)
        try:
            return pc.cast(col, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
    return col


def time_text_flags(
    trimmed: pa.Array, s: pd.Series, *, arrow: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(epoch digits, time shaped, with a zone)`` masks of trimmed CDR time texts
    (``s``: the same texts as an object Series, nulls as ""). ``arrow``: with Arrow's RE2,
    vectorised, for ASCII text: on ASCII, Python's ``\\d`` and RE2's are both [0-9] and no
    trimmed text ends in a newline for Python's ``$`` to stop before, so the answers are
    those of the pandas (Python ``re``) path, which any other text takes."""
    if arrow:
        filled = pc.fill_null(trimmed, "")

        def flags(pattern: str) -> np.ndarray:
            found = pc.match_substring_regex(filled, pattern)
            return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

        return flags(r"^\d{9,11}$"), flags(f"^(?:{_TIME_SHAPE})$"), flags(_TZ_SUFFIX)
    return (
        s.str.fullmatch(r"\d{9,11}").to_numpy(dtype=bool),
        s.str.fullmatch(_TIME_SHAPE).to_numpy(dtype=bool),
        s.str.contains(_TZ_SUFFIX, regex=True).to_numpy(dtype=bool),
    )


def _wall_from_strings(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seconds, present, aware)`` of CDR time texts: epoch seconds of texts with a
    zone and of all-digit epochs (``aware``), *wall seconds* (the clock reading as if in
    UTC, :mod:`tandem.rating.localtime`) of texts without a zone; ``present`` masks the
    readable ones."""
    n = len(text)
    secs = np.zeros(n, dtype=np.int64)
    present = np.zeros(n, dtype=bool)
    aware_out = np.zeros(n, dtype=bool)
    if n == 0:
        return secs, present, aware_out
    import pandas as pd

    trimmed = pc.utf8_trim_whitespace(text)
    s = pd.Series(trimmed.to_pandas(), dtype=object)
    s = s.where(s.notna(), "")
    digits, shaped, has_zone = time_text_flags(
        trimmed, s, arrow=pc.all(pc.string_is_ascii(trimmed)).as_py() is not False
    )
    if digits.any():
        secs[digits] = s[digits].astype("int64").to_numpy()
        present[digits] = True
        aware_out[digits] = True
    aware = has_zone & ~digits & shaped
    naive = ~has_zone & ~digits & shaped

    def parse(part: pd.Series, utc: bool) -> pd.Series:
        try:
            return pd.to_datetime(part, utc=utc, errors="coerce", format="ISO8601")
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            one = [pd.to_datetime(v, utc=utc, errors="coerce", format="ISO8601") for v in part]
            return pd.Series(one, index=part.index)

    for mask, utc in ((aware, True), (naive, False)):
        if not mask.any():
            continue
        ts = parse(s[mask], utc)
        if utc:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        ok = ts.notna().to_numpy(dtype=bool)
        rows = np.flatnonzero(mask)[ok]
        secs[rows] = np.asarray(ts[ok], dtype="datetime64[s]").astype(np.int64)
        present[rows] = True
        aware_out[rows] = utc
    return secs, present, aware_out


def _localized(col: pa.Array | pa.ChunkedArray, tz: str) -> Localized:
    """A CDR time column read as UTC instants with each value's DST ambiguity
    (:func:`tandem.rating.localtime.localize`); never raises on odd values: what cannot
    be read is not ``valid``."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    n = len(col)
    none = np.zeros(n, dtype=bool)
    if pa.types.is_integer(t):
        vals = col.to_numpy(zero_copy_only=False) if col.null_count == 0 else None
        if vals is None:
            vals = pc.fill_null(col, 0).to_numpy(zero_copy_only=False)
        ok = col.is_valid().to_numpy(zero_copy_only=False)
        if vals.dtype == np.uint64:
            ok &= vals <= np.uint64(2**62)
        vals = np.where(ok, vals, 0).astype(np.int64)
        return Localized(vals, ok, np.zeros(n, np.int8), np.zeros(n, np.int64))
    if pa.types.is_floating(t):
        vals = pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
        ok = np.isfinite(vals) & (np.abs(vals) < 2.0**62)
        secs = np.floor(np.where(ok, vals, 0.0)).astype(np.int64)
        return Localized(secs, ok, np.zeros(n, np.int8), np.zeros(n, np.int64))
    if pa.types.is_timestamp(t):
        per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
        raw = pc.fill_null(col.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
        ok = col.is_valid().to_numpy(zero_copy_only=False) & (raw > -(2**63) + per)
        secs = np.floor_divide(raw, per)
        if t.tz is not None:  # an instant
            return Localized(secs, ok, np.zeros(n, np.int8), np.zeros(n, np.int64))
        return localize(secs, ok, tz)
    if pa.types.is_date(t):
        days = pc.fill_null(pc.cast(col, pa.date32()).view(pa.int32()), 0)
        secs = days.to_numpy(zero_copy_only=False).astype(np.int64) * 86_400
        return localize(secs, col.is_valid().to_numpy(zero_copy_only=False), tz)
    if not _is_text(t):  # durations, decimals, lists, structs...: no time
        return Localized(np.zeros(n, np.int64), none, np.zeros(n, np.int8), np.zeros(n, np.int64))
    secs, present, aware = _wall_from_strings(_strings(col))
    out = localize(secs, present & ~aware, tz)
    out.utc[aware] = secs[aware]
    out.valid[aware] = True
    return out


def _is_text(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` holds text (read by the string parsers)."""
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_dictionary(t)
    )


def _seconds(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t):
        if t == pa.uint64():  # beyond int64: no duration
            vals = pc.fill_null(col, 0).to_numpy(zero_copy_only=False)
            ok = col.is_valid().to_numpy(zero_copy_only=False) & (vals <= np.uint64(2**62))
            return pa.array(np.where(ok, vals, 0).astype(np.int64), mask=~ok)
        return pc.cast(col, pa.int64())
    if pa.types.is_floating(t):
        ok = pc.and_(pc.is_finite(col), pc.less(pc.abs(col), 1e15))
        return pc.cast(pc.ceil(pc.if_else(ok, col, None)), pa.int64())
    if pa.types.is_decimal(t):
        try:
            return pc.cast(pc.ceil(col), pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # beyond int64: none
            values = col.to_pylist()
            return pa.array(
                [None if v is None or abs(v) > 10**15 else int(-(-v // 1)) for v in values],
                pa.int64(),
            )
    if pa.types.is_duration(t):
        per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
        ticks = pc.fill_null(col.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
        return pa.array(-np.floor_divide(-ticks, per), mask=~col.is_valid().to_numpy(False))
    if not _is_text(t):  # timestamps, lists, structs...: no number of seconds
        return pa.nulls(len(col), pa.int64())
    s = pc.utf8_trim_whitespace(_strings(col))
    is_int = pc.match_substring_regex(s, r"^-?\d{1,15}$")
    ints = pc.cast(pc.if_else(is_int, s, None), pa.int64())
    is_dec = pc.match_substring_regex(s, r"^-?\d{1,15}\.\d{1,9}$")
    decs = pc.cast(pc.ceil(pc.cast(pc.if_else(is_dec, s, None), pa.float64())), pa.int64())
    return pc.coalesce(ints, decs)


def _account_column(
    col: pa.Array | pa.ChunkedArray | None,
    n: int,
    default: str | None,
    mapping: dict[str, str] | None,
) -> pa.DictionaryArray:
    """Account names as a dictionary array: trimmed, empty → ``default``, then mapped.

    The work is done once per distinct name (a CDR file names few accounts), not per CDR.
    """
    if col is None:
        enc = pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), strings([]))
    else:
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        is_dict = pa.types.is_dictionary(col.type)
        enc = col if is_dict else pc.dictionary_encode(_strings(col))
    values = []
    for v in enc.dictionary.to_pylist():
        name = str(v).strip() if v is not None else ""
        name = name or default or ""
        values.append((mapping or {}).get(name, name) if name else None)
    fallback = (mapping or {}).get(default, default) if default else None
    values.append(fallback)  # where the CDR has no name at all
    uniq = sorted({v for v in values if v is not None})
    code = {v: i for i, v in enumerate(uniq)}
    remap = np.asarray([code.get(v, -1) if v is not None else -1 for v in values], np.int32)
    indices = pc.cast(enc.indices, pa.int32())
    if not indices.null_count and np.array_equal(remap[:-1], np.arange(len(values) - 1)):
        # every name kept as it is and already in order (the usual file): the same codes
        return pa.DictionaryArray.from_arrays(indices, strings(uniq), safe=False)
    if indices.null_count:
        indices = pc.fill_null(indices, scalar(len(values) - 1, pa.int32()))
    new = remap[to_numpy(indices)]
    missing = new < 0
    return pa.DictionaryArray.from_arrays(
        from_numpy(np.maximum(new, 0), mask=missing if missing.any() else None),
        strings(uniq),
        safe=False,  # every code indexes uniq by construction: no bounds check
    )


def _find(names: list[str], canon: str, column_map: dict[str, str]) -> str | None:
    if canon in column_map:
        if column_map[canon] not in names:
            raise CdrError(
                f"column map names {column_map[canon]!r} for {canon}, but the CDRs have "
                f"no such column (they have: {', '.join(names[:20])})"
            )
        return column_map[canon]
    lower = {n.lower(): n for n in names}
    for alias in COLUMN_ALIASES.get(canon, ()):
        if alias in lower:
            return lower[alias]
    return None


#: Columns tried for a CDR's end time and for its call length (start to end, seconds),
#: which decide a start in the repeated hour of a DST change.
END_ALIASES = ("end", "end_time", "end_stamp", "enddate", "end_date")
LENGTH_ALIASES = ("duration_total", "duration")


def _start_times(
    table: pa.Table, col: pa.Array | pa.ChunkedArray, tz: str
) -> tuple[pa.Array | pa.ChunkedArray, pa.Array]:
    """The ``start`` (UTC epoch seconds) and ``time_note`` columns of a CDR table: starts
    in the repeated hour of a DST change are decided with the CDR's end time and call
    length where it has them (:func:`tandem.rating.localtime.disambiguate`)."""
    if pa.types.is_integer(col.type) and col.type != pa.uint64():  # epoch seconds: no copy
        return pc.cast(col, pa.int64()), pa.nulls(len(col), pa.string())
    start = _localized(col, tz)
    n = len(start.utc)
    if not (start.kind != 0).any():
        return pa.array(start.utc, mask=~start.valid), pa.nulls(n, pa.string())
    lower = {c.lower(): c for c in table.column_names}
    end = length = length_ok = None
    for alias in END_ALIASES:
        if alias in lower:
            end = _localized(table.column(lower[alias]), tz)
            break
    for alias in LENGTH_ALIASES:
        if alias in lower:
            secs = _seconds(table.column(lower[alias]))
            length_ok = secs.is_valid().to_numpy(zero_copy_only=False)
            length = pc.fill_null(secs, 0).to_numpy(zero_copy_only=False)
            break
    utc, notes = disambiguate(start, end, length, length_ok)
    return pa.array(utc, mask=~start.valid), pa.array(notes, pa.string())


def canonical_table(
    table: pa.Table,
    *,
    timezone: str = "UTC",
    column_map: dict[str, str] | None = None,
    customer: str | None = None,
    carrier: str | None = None,
    customer_map: dict[str, str] | None = None,
    carrier_map: dict[str, str] | None = None,
    first_record: int = 1,
) -> pa.Table:
    """Turn any table of CDRs into a canonical batch (see the module docstring)."""
    column_map = dict(column_map or {})
    unknown = set(column_map) - set(COLUMN_ALIASES)
    if unknown:
        raise CdrError(
            f"column map: unknown field(s) {sorted(unknown)}; map {', '.join(COLUMN_ALIASES)}"
        )
    names = table.column_names
    n = table.num_rows
    cols: dict[str, pa.Array] = {
        "record": from_numpy(np.arange(first_record, first_record + n, dtype=np.int64))
    }
    used: set[str] = set()
    time_note: pa.Array = pa.nulls(n, pa.string())
    for canon in ("start", "duration", "number"):
        src = _find(names, canon, column_map)
        if src is None:
            raise CdrError(
                f"CDRs have no {canon} column (looked for {', '.join(COLUMN_ALIASES[canon])}); "
                f"name it with a column map, e.g. --map-column {canon}=YOUR_COLUMN"
            )
        used.add(src)
        col = table.column(src)
        if canon == "start":
            cols["start"], time_note = _start_times(table, col, timezone)
        elif canon == "duration":
            cols["duration"] = _seconds(col)
        else:
            cols["number"] = _strings(col)
    for canon, default, mapping in (
        ("customer", customer, customer_map),
        ("carrier", carrier, carrier_map),
    ):
        src = _find(names, canon, column_map)
        if src is not None:
            used.add(src)
        cols[canon] = _account_column(
            table.column(src) if src is not None else None, n, default, mapping
        )
    for canon in ("routing_number", "call_id", "disposition"):
        src = _find(names, canon, column_map)
        if src is not None:
            used.add(src)
            cols[canon] = _strings(table.column(src))
    if "time_note" in names and time_note.null_count == n:  # noted when first read
        time_note = _strings(table.column("time_note"))
    cols["time_note"] = time_note
    for name in names:
        if name not in used and name not in cols:
            cols[name] = table.column(name)
    return pa.table(cols)


# -- format detection -----------------------------------------------------------------------


def _head(path: Path) -> bytes:
    """The first 64 KiB of a CDR file; a binary file is refused here, by name."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise CdrError(f"cannot read CDR file {os.fspath(path)!r}: {exc.strerror}") from None
    problem = binary_problem(head)
    if problem is not None:
        raise CdrError(f"{path.name}: not a CDR CSV file: {problem}")
    return head


def _first_rows(path: Path, count: int = 3) -> list[list[str]]:
    """The first ``count`` non-blank records of a CSV text file (a UTF-8 BOM skipped)."""
    head = _head(path)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    rows = []
    try:
        for row in csv.reader(io.StringIO(head.decode("utf-8", errors="replace"), newline="")):
            if row:
                rows.append(row)
            if len(rows) >= count:
                break
    except csv.Error:
        pass
    return rows


_TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
#: Fields every record of a headerless format has (Asterisk's cdr_csv writes 16 without
#: ``loguniqueid`` and ``loguserfield``; FreeSWITCH's default template 15).
MIN_FIELDS = {"asterisk": 16, "freeswitch": 15}


def _headerless_kind(row: list[str]) -> str | None:
    if len(row) >= MIN_FIELDS["asterisk"] and (
        _TIME_TEXT.match(row[9] or "") is not None or row[9] == ""
    ):
        return "asterisk"
    if len(row) >= MIN_FIELDS["freeswitch"] and _TIME_TEXT.match(row[4] or "") is not None:
        return "freeswitch"
    return None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess a CDR file's format from its name and first records."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise CdrError(f"cannot read CDR file {os.fspath(path)!r}: {exc.strerror}") from None
    if magic == b"PAR1":
        return "parquet"
    rows = _first_rows(p, 5)
    if not rows:
        raise CdrError(f"{p.name}: empty file, no CDRs")
    first = [c.strip().lower() for c in rows[0]]
    if "start_time" in first and "duration" in first and "end_time" in first:
        return "kamailio"
    if {"method", "callid", "sip_code", "time"} <= set(first):  # Kamailio acc transactions
        return "kamailio"
    kind = _headerless_kind(rows[0])
    if kind is not None:
        return kind
    if set(first) & set(COLUMN_ALIASES["start"]):  # a header naming a start column
        return "csv"
    # no header: a first record too short to tell is judged by the records after it
    kinds = {k for k in map(_headerless_kind, rows[1:]) if k is not None}
    return kinds.pop() if len(kinds) == 1 else "csv"


# -- Kamailio acc transactions ------------------------------------------------------------


def kamailio_acc_calls(path: str | os.PathLike[str], timezone: str = "UTC") -> pa.Table:
    """Pair the rows of a Kamailio ``acc`` table export (one row per SIP transaction:
    ``method``, ``callid``, ``sip_code``, ``time`` and the ``log_extra`` columns) into one
    call per Call-ID.

    The call starts at its INVITE's ``time`` (answered with ``sip_code`` 2xx) and lasts
    until its BYE's ``time`` (fractions round up); a failed INVITE is an unanswered call
    (0 s); an answered INVITE without a BYE has no duration (``bad_duration``); a BYE
    without an INVITE has no start (``bad_time``). The INVITE row's other columns are kept.
    Reads the whole file (pairs can be far apart); use ``acc_cdrs`` for streaming.
    """
    import pandas as pd

    p = Path(path)
    header = [c.strip() for c in (_first_rows(p, 1) or [[]])[0]]
    table = _read_whole_csv(p, header)
    frame = table.to_pandas()
    frame.columns = [c.lower() for c in frame.columns]
    broken = frame[frame["raw"].notna()].copy()  # malformed records: kept, unrated
    frame = frame[frame["raw"].isna()]
    method = frame["method"].fillna("").str.strip().str.upper()
    code = pd.to_numeric(frame["sip_code"], errors="coerce")
    local = _localized(pa.array(frame["time"], pa.string()), timezone)
    when = pd.Series(
        pa.array(local.utc, mask=~local.valid).to_pandas(), index=frame.index, dtype="Float64"
    )
    notes = pd.Series(disambiguate(local, None, None, None)[1], index=frame.index)
    frac = pd.to_datetime(frame["time"], errors="coerce", format="ISO8601")
    frac = (frac - frac.dt.floor("s")).dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
    exact = pd.Series(
        when.to_numpy(dtype="float64", na_value=np.nan) + np.nan_to_num(frac), index=frame.index
    )
    invites = frame[method == "INVITE"].copy()
    invites["_start"] = exact[method == "INVITE"]
    invites["_code"] = code[method == "INVITE"]
    invites["time_note"] = notes[method == "INVITE"]
    invites = invites.drop_duplicates("callid", keep="last")  # final answer of re-sent INVITEs
    byes = pd.Series(exact[method == "BYE"].to_numpy(), index=frame.loc[method == "BYE", "callid"])
    byes = byes[~byes.index.duplicated()]
    answered = (invites["_code"] >= 200) & (invites["_code"] < 300)
    end = pd.to_numeric(invites["callid"].map(byes), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    begin = pd.to_numeric(invites["_start"], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    seconds = np.ceil(end - begin)
    duration = np.where(answered, seconds, 0.0)
    invites["duration"] = pd.array([None if d != d else int(d) for d in duration], dtype="Int64")
    starts = when.loc[invites.index]
    invites["start"] = pd.array([None if pd.isna(v) else int(v) for v in starts], dtype="Int64")
    orphans = frame[(method == "BYE") & ~frame["callid"].isin(invites["callid"])].copy()
    for part in (orphans, broken):
        part["start"] = pd.array([None] * len(part), dtype="Int64")
        part["duration"] = pd.array([None] * len(part), dtype="Int64")
    calls = pd.concat(
        [
            invites.drop(columns=["_start", "_code", "time"]),
            orphans.drop(columns=["time"]),
            broken.drop(columns=["time"]),
        ],
        ignore_index=True,
    )
    calls = calls.sort_values("line", kind="stable", ignore_index=True)
    return pa.Table.from_pandas(calls, preserve_index=False)


# -- CSV text ---------------------------------------------------------------------------

#: Values the CSV readers read as missing (Arrow's defaults, so both readers agree).
_NULLS = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"]
)  # fmt: skip


def _csv_header(path: Path) -> list[str]:
    rows = _first_rows(path, 1)
    if not rows:
        raise CdrError(f"{path.name}: empty file, no CDRs")
    header = [c.strip() for c in rows[0]]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise CdrError(f"{path.name}: the header has empty or repeated column names")
    return header


def _arrow_csv(path: Path, header: list[str], batch_size: int) -> Iterator[pa.Table]:
    """Arrow's CSV reader over a file whose every line is one record: a record with the
    wrong number of fields raises (the caller then reads the rest record by record)."""
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 22),
        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "error"),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            null_values=sorted(_NULLS),
        ),
    )
    for batch in reader:
        table = pa.Table.from_batches([batch])
        for start in range(0, max(table.num_rows, 1), batch_size):
            part = table.slice(start, batch_size)
            if part.num_rows:
                yield part


def _add_source(table: pa.Table, header: list[str], lines: np.ndarray, raw: pa.Array) -> pa.Table:
    """``line`` (where each record starts in the file) and ``raw`` (the text of a
    malformed record, null for the others), unless the file has such columns itself."""
    if "line" not in header:
        table = table.append_column("line", pa.array(lines, pa.int64()))
    if "raw" not in header:
        table = table.append_column("raw", raw)
    return table


def _chunks(
    records: Iterator[tuple[int, list[str] | None, str]], size: int
) -> Iterator[list[tuple[int, list[str] | None, str]]]:
    chunk: list[tuple[int, list[str] | None, str]] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _records_table(chunk: list[tuple[int, list[str] | None, str]], header: list[str]) -> pa.Table:
    """Records of a CSV file with a header as a table of strings, in file order; a record
    with another number of fields than the header has no values and keeps its text."""
    width = len(header)
    values: list[list[str | None]] = [[] for _ in header]
    raws: list[str | None] = []
    for _line, row, raw in chunk:
        good = row is not None and len(row) == width
        for i, col in enumerate(values):
            col.append(None if not good or row[i] in _NULLS else row[i])  # type: ignore[index]
        raws.append(None if good else raw)
    table = pa.table({h: pa.array(v, pa.string()) for h, v in zip(header, values, strict=True)})
    lines = np.asarray([r[0] for r in chunk], dtype=np.int64)
    return _add_source(table, header, lines, pa.array(raws, pa.string()))


def _read_whole_csv(path: Path, header: list[str]) -> pa.Table:
    """A whole CSV file with a header (after its header line) as strings, with ``line``
    and ``raw`` (:func:`_records_table`)."""
    width = len(header)
    records = text_records(path, good=lambda row: len(row) == width)
    next(records, None)
    parts = [_records_table(c, header) for c in _chunks(records, 262_144)]
    return pa.concat_tables(parts) if parts else _records_table([], header)


# -- readers --------------------------------------------------------------------------------


def projected_columns(
    names: list[str], wanted: frozenset[str], column_map: dict[str, str] | None = None
) -> list[str]:
    """The source columns of ``names`` to read for the ``wanted`` columns (canonical fields
    and other columns, lowercase), such that :func:`canonical_table` makes the same wanted
    columns from them as from every column: the source of each wanted canonical field, the
    wanted other columns, what decides a start (end time, call length, ``time_note``,
    ``raw``), every column the column map names, and the source of an unwanted canonical
    field whose aliases include a kept column (so that it does not take that column)."""
    colmap = dict(column_map or {})
    keep = {n for n in names if n.lower() in wanted}
    keep |= {n for n in names if n.lower() in (*END_ALIASES, *LENGTH_ALIASES, "time_note", "raw")}
    keep |= {v for v in colmap.values() if v in names}
    for canon in COLUMN_ALIASES:
        src = _find(names, canon, colmap)
        if src is not None and canon in wanted:
            keep.add(src)
    changed = True
    while changed:
        changed = False
        for canon, aliases in COLUMN_ALIASES.items():
            src = _find(names, canon, colmap)
            if src is None or src in keep:
                continue
            if any(n != src and n.lower() in aliases for n in keep):
                keep.add(src)
                changed = True
    return [n for n in names if n in keep]


#: Canonical fields never read from a dictionary column (their conversions read text).
_NOT_DICTIONARY = ("start", "duration", "number")


def dictionary_columns(
    schema: pa.Schema,
    names: list[str] | None,
    wanted: frozenset[str] | None,
    column_map: dict[str, str] | None = None,
) -> list[str]:
    """The text columns of ``names`` (None: every column of ``schema``) that are the
    source of a ``wanted`` account field (``customer``, ``carrier``) or a wanted other
    column (lowercase name), and the source of no start, duration or number: those a
    Parquet file is read with as Arrow dictionaries (:attr:`CdrReader.dictionary`). A
    column of few distinct names decodes several times faster so, and every conversion
    reads the same values from it."""
    if not wanted:
        return []
    colmap = dict(column_map or {})
    pool = names if names is not None else schema.names
    texts = {
        n
        for n in pool
        if n in schema.names
        and (
            pa.types.is_string(schema.field(n).type)
            or pa.types.is_large_string(schema.field(n).type)
        )
    }
    barred = {_find(pool, canon, colmap) for canon in _NOT_DICTIONARY}
    picked = {n for n in pool if n.lower() in wanted and n.lower() not in COLUMN_ALIASES}
    for canon in ("customer", "carrier"):
        if canon in wanted:
            picked.add(_find(pool, canon, colmap) or "")
    return [n for n in pool if n in picked and n in texts and n not in barred]


def parquet_read_as(
    schema: pa.Schema,
    columns: frozenset[str] | None,
    dictionary: frozenset[str] | None,
    column_map: dict[str, str] | None = None,
) -> tuple[list[str] | None, list[str]]:
    """What a :class:`CdrReader` with these ``columns``, ``dictionary`` and ``column_map``
    reads of a Parquet file of ``schema``: its source columns (None: every one,
    :func:`projected_columns`) and those read as dictionaries (:func:`dictionary_columns`).
    The reader and its prefetch (:class:`~tandem.rating.parquetprefetch.ParquetPrefetch`)
    both ask this, so that the prefetched batches are the ones the reader would read."""
    if columns is None and not dictionary:
        return None, []
    names = None if columns is None else projected_columns(schema.names, columns, column_map)
    return names, dictionary_columns(schema, names, dictionary, column_map)


@dataclass
class CdrReader:
    """Reads CDRs of one format into canonical batches of at most ``batch_size`` rows."""

    format: str = "auto"
    timezone: str = "UTC"
    column_map: dict[str, str] | None = None
    customer: str | None = None
    carrier: str | None = None
    customer_map: dict[str, str] | None = None
    carrier_map: dict[str, str] | None = None
    batch_size: int = 262_144
    #: The columns a caller reads (canonical fields such as ``start``, and other columns
    #: by lowercase name); None reads every column. A Parquet file is then read with only
    #: the source columns they come from (:func:`projected_columns`).
    columns: frozenset[str] | None = None
    #: The file's first batches already being decoded on a thread
    #: (:class:`~tandem.rating.parquetprefetch.ParquetPrefetch`, made by ``tandem rate``
    #: before its imports): taken over by :meth:`batches` when they are the batches it
    #: would read.
    prefetch: ParquetPrefetch | None = field(default=None, repr=False, compare=False)
    #: Names (as in :attr:`columns`) whose text source columns a Parquet file is read
    #: with as Arrow dictionaries (:func:`dictionary_columns`): the same values, decoded
    #: faster where a column names few accounts, trunks or addresses.
    dictionary: frozenset[str] | None = None
    _record: int = field(default=1, repr=False)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise CdrError(f"unknown CDR format {self.format!r}: use one of {', '.join(FORMATS)}")
        _check_timezone(self.timezone)

    def _canonical(self, table: pa.Table, column_map: dict[str, str] | None = None) -> pa.Table:
        out = canonical_table(
            table,
            timezone=self.timezone,
            column_map=column_map if column_map is not None else self.column_map,
            customer=self.customer,
            carrier=self.carrier,
            customer_map=self.customer_map,
            carrier_map=self.carrier_map,
            first_record=self._record,
        )
        self._record += table.num_rows
        return out

    def resolve_format(self, source: CdrSource) -> str:
        """The format a source will be read as."""
        if isinstance(source, pa.Table) or is_frame(source):
            return "table"
        return self.format if self.format != "auto" else detect_format(source)

    def batches(self, source: CdrSource) -> Iterator[pa.Table]:
        """Canonical batches from a DataFrame, Arrow table or file path."""
        self._record = 1
        if is_frame(source):
            try:
                table = pa.Table.from_pandas(source, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise CdrError(f"cannot read the CDR frame: {exc}") from None
            yield from self._table_batches(table)
            return
        if isinstance(source, pa.Table):
            yield from self._table_batches(source)
            return
        fmt = self.resolve_format(source)
        path = Path(source)
        if fmt == "parquet":
            yield from self._parquet(path)
        elif fmt == "csv":
            yield from self._csv(path)
        elif fmt == "kamailio":
            header = [c.strip().lower() for c in (_first_rows(path, 1) or [[]])[0]]
            if {"method", "callid", "sip_code", "time"} <= set(header):
                yield self._canonical(kamailio_acc_calls(path, self.timezone), self.column_map)
            else:
                yield from self._csv(path, kamailio=True)
        else:
            yield from self._headerless(path, fmt)

    def _table_batches(self, table: pa.Table) -> Iterator[pa.Table]:
        for batch in table.to_batches(max_chunksize=self.batch_size):
            yield self._canonical(pa.Table.from_batches([batch]))
        if table.num_rows == 0:
            yield self._canonical(table)

    def _parquet(self, path: Path) -> Iterator[pa.Table]:
        try:
            prefetch, self.prefetch = self.prefetch, None
            read_as: tuple[list[str] | None, list[str]] = (None, [])
            if self.columns is not None or self.dictionary:
                read_as = parquet_read_as(
                    pq.read_schema(path), self.columns, self.dictionary, self.column_map
                )
            # the same batches, if it read the same ones
            it = prefetch.take(path, self.batch_size, read_as) if prefetch is not None else None
            if it is None:
                pf = pq.ParquetFile(path, pre_buffer=False, read_dictionary=read_as[1] or None)
                it = pf.iter_batches(batch_size=self.batch_size, columns=read_as[0])
            for batch in it:
                yield self._canonical(pa.Table.from_batches([batch]))
        except (OSError, pa.ArrowException) as exc:
            raise CdrError(f"{path.name}: not a readable Parquet file: {exc}") from None
        finally:
            if prefetch is not None:  # stopped with the read, even when stopped early
                prefetch.close()

    def _csv(self, path: Path, kamailio: bool = False) -> Iterator[pa.Table]:
        """A CSV file with a header: the fast Arrow reader when every line is one
        well-formed record (:func:`~tandem.rating.cdrtext.one_record_per_line`), else
        record by record; either way each record keeps its ``line``."""
        header = _csv_header(path)
        colmap = self.column_map
        if kamailio and colmap is None:
            colmap = {}
        self._check_header(path, header, colmap)
        width = len(header)

        def well_formed(row: list[str]) -> bool:
            return len(row) == width

        done = 0
        if one_record_per_line(path, len(header)):
            try:
                for table in _arrow_csv(path, header, self.batch_size):
                    lines = np.arange(2 + done, 2 + done + table.num_rows, dtype=np.int64)
                    table = _add_source(table, header, lines, pa.nulls(len(lines), pa.string()))
                    out = self._canonical(table, colmap)
                    done += table.num_rows
                    yield out
                return
            except pa.ArrowException:
                pass  # e.g. undecodable bytes: the rest is read record by record
            records = text_records(path, skip_lines=1 + done, good=well_formed)
        else:
            records = text_records(path, good=well_formed)
            next(records, None)  # the header
        for chunk in _chunks(records, self.batch_size):
            yield self._canonical(_records_table(chunk, header), colmap)

    def _check_header(self, path: Path, header: list[str], colmap: dict[str, str] | None) -> None:
        """Refuse, before any record is read, a header without the columns rating needs."""
        empty = pa.table({h: pa.array([], pa.string()) for h in header})
        try:
            canonical_table(empty, timezone=self.timezone, column_map=colmap)
        except CdrError as exc:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            raise CdrError(
                f"{path.name}: the header on line 1 ({shown}) is not usable: {exc}; "
                "a file without a header needs --format asterisk or freeswitch"
            ) from None

    def _headerless(self, path: Path, fmt: str) -> Iterator[pa.Table]:
        fields = ASTERISK_FIELDS if fmt == "asterisk" else FREESWITCH_FIELDS
        _head(path)
        try:
            least = MIN_FIELDS[fmt]
            records = text_records(path, good=lambda row: len(row) >= least)
            for chunk in _chunks(records, self.batch_size):
                yield self._headerless_table(chunk, fields, fmt)
        except OSError as exc:
            raise CdrError(f"cannot read CDR file {os.fspath(path)!r}: {exc.strerror}") from None
        if self._record == 1:
            yield self._headerless_table([], fields, fmt)

    def _headerless_table(
        self, chunk: list[tuple[int, list[str] | None, str]], fields: tuple[str, ...], fmt: str
    ) -> pa.Table:
        """A batch of Asterisk or FreeSWITCH records; one with fewer fields than the format
        writes (:data:`MIN_FIELDS`) is kept with its text in ``raw`` and no values."""
        width = len(fields)
        least = MIN_FIELDS[fmt]
        pad = [""] * width
        nothing: list[str | None] = [None] * width
        rows: list[list[str] | list[str | None]] = []
        raws: list[str | None] = []
        lines: list[int] = []
        for line, row, raw in chunk:
            lines.append(line)
            if row is not None and len(row) >= least:
                rows.append(row if len(row) == width else (row + pad)[:width])
                raws.append(None)
            else:
                rows.append(nothing)
                raws.append(raw)
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
        table = pa.table({f: pa.array(c, pa.string()) for f, c in zip(fields, cols, strict=True)})
        table = table.append_column("line", pa.array(lines, pa.int64()))
        table = table.append_column("raw", pa.array(raws, pa.string()))
        if fmt == "asterisk":
            carriers = pc.extract_regex(table.column("dstchannel"), _CHANNEL.pattern)
            carrier = pc.struct_field(carriers, [0]) if len(table) else pa.array([], pa.string())
            table = table.append_column("carrier", carrier)
            colmap = {
                "start": "start",
                "duration": "billsec",
                "number": "dst",
                "customer": "accountcode",
                "carrier": "carrier",
                "call_id": "uniqueid",
                "disposition": "disposition",
            }
            table = table.rename_columns(
                [("duration_total" if c == "duration" else c) for c in table.column_names]
            )
            table = table.rename_columns(
                [("start_local" if c == "start" else c) for c in table.column_names]
            )
            colmap["start"] = "start_local"
        else:
            colmap = {
                "start": "start_stamp",
                "duration": "billsec",
                "number": "destination_number",
                "customer": "accountcode",
                "call_id": "uuid",
                "disposition": "hangup_cause",
            }
            table = table.rename_columns(
                [("duration_total" if c == "duration" else c) for c in table.column_names]
            )
        colmap.update(self.column_map or {})
        return self._canonical(table, colmap)
