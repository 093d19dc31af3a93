"""Quality figures of a CDR batch (``tandem quality``): the live board's table and
formulas, vectorised.

:func:`quality_table` reads canonical CDR batches (:class:`tandem.rating.cdr.CdrReader`:
any format ``tandem rate`` reads), classifies each attempt with the one table of
:mod:`tandem.quality.outcomes` (applied once per distinct answer, then mapped over the
batch), counts each (call id, carrier) once, sums the board's series fields per carrier,
group and bucket with numpy/pandas, and computes each row's :class:`Score` with the very
functions the live board uses (:func:`tandem.quality.board.sums`' arithmetic and
:func:`tandem.quality.board.figures`): a CDR file gives the figures the board would show
had it been fed the same attempts one by one.

The attempt's final answer is the CDR's ``sip_code`` column when it has one (Kamailio),
else its disposition (Asterisk ``disposition``, FreeSWITCH ``hangup_cause``); an attempt
with billable seconds was answered. The PDD is read from a ``pdd_ms`` column
(milliseconds) or a ``pdd`` column (seconds); CDRs without one give no PDD figures. A CDR
without a start, a carrier or a known answer is not counted: :attr:`QualityTable.skipped`
says how many, by reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tandem.lcr.scores import PDD_EDGES_MS, QualityConfig, Score
from tandem.quality.board import ALL_GROUPS, FIELDS, PDD_FIELDS, Sums, decay_weight, figures
from tandem.quality.outcomes import EFFECTIVE, Outcome, classify

__all__ = ["QualityRow", "QualityTable", "quality_table"]

_OUTCOMES = tuple(Outcome)
_ANSWERED = _OUTCOMES.index(Outcome.ANSWERED)
_EFFECTIVE = np.array([o in EFFECTIVE for o in _OUTCOMES])


@dataclass(frozen=True)
class QualityRow:
    """One row of the quality table: a carrier (and group, None for the carrier over all
    its groups) and its :class:`Score`."""

    carrier: str
    group: str | None
    score: Score

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ratios as decimal strings (4 places), ACD as seconds (1 place), PDD
        percentiles as whole milliseconds; None where unknown."""
        s = self.score
        return {
            "carrier": self.carrier,
            "group": self.group,
            "attempts": s.attempts,
            "answered": s.answered,
            "asr": _ratio(s.asr),
            "ner": _ratio(s.ner),
            "acd": None if s.acd is None else f"{s.acd:.1f}",
            "pdd_p50": None if s.pdd_p50 is None else round(s.pdd_p50),
            "pdd_p95": None if s.pdd_p95 is None else round(s.pdd_p95),
            "known": s.known,
        }


def _ratio(x: float | None) -> str | None:
    return None if x is None else f"{x:.4f}"


@dataclass
class QualityTable:
    """What :func:`quality_table` found: the rows (by carrier, then group), how many CDRs
    came in, and how many were not counted, by reason (``no_start``, ``no_carrier``,
    ``no_answer_code`` for an empty or unknown disposition, ``duplicate`` for a second
    CDR of the same call id and carrier)."""

    rows: list[QualityRow]
    rows_in: int
    at: float | None
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``tandem quality --json``."""
        return {
            "rows": [r.to_dict() for r in self.rows],
            "rows_in": self.rows_in,
            "skipped": dict(sorted(self.skipped.items())),
        }


def _text(table: pa.Table, name: str) -> pa.Array | None:
    lower = {c.lower(): c for c in table.column_names}
    if name not in lower:
        return None
    col = table.column(lower[name])
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col


def _answers(table: pa.Table) -> np.ndarray:
    """Outcome index per CDR (-1: no known answer): the ``sip_code`` column where set, else
    the disposition, each distinct value classified once."""
    answer = _text(table, "sip_code")
    disposition = _text(table, "disposition")
    if answer is None:
        answer = disposition
    elif disposition is not None:
        answer = pc.if_else(pc.is_valid(answer), answer, disposition)
    n = table.num_rows
    if answer is None:
        return np.full(n, -1, dtype=np.int64)
    enc = pc.dictionary_encode(pc.utf8_trim_whitespace(answer))
    codes = []
    for value in enc.dictionary.to_pylist():
        try:
            codes.append(_OUTCOMES.index(classify(value)))
        except ValueError:
            codes.append(-1)
    lookup = np.asarray(codes + [-1], dtype=np.int64)
    idx = pc.fill_null(enc.indices, len(codes)).to_numpy(zero_copy_only=False)
    return lookup[idx]


def _pdd_ms(table: pa.Table) -> np.ndarray:
    """PDD in milliseconds per CDR (NaN: none or unreadable)."""
    for name, per in (("pdd_ms", 1.0), ("pdd", 1000.0)):
        lower = {c.lower(): c for c in table.column_names}
        if name in lower:
            col = table.column(lower[name])
            values = pd.to_numeric(pd.Series(col.to_pandas()), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            values = values * per
            values[~np.isfinite(values) | (values < 0)] = np.nan
            return values
    return np.full(table.num_rows, np.nan)


def _frame(batch: pa.Table, config: QualityConfig, destination: str | None) -> pd.DataFrame:
    """One canonical batch as the attempts it holds (one row per CDR): carrier, group,
    bucket start, call id, outcome index, billable seconds, PDD bucket (-1: none)."""
    n = batch.num_rows
    start = batch.column("start").to_numpy(zero_copy_only=False)
    start = pd.to_numeric(pd.Series(start), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    carrier = batch.column("carrier")
    if isinstance(carrier, pa.ChunkedArray):
        carrier = carrier.combine_chunks()
    carrier_s = pc.cast(carrier, pa.string()) if pa.types.is_dictionary(carrier.type) else carrier
    if destination is not None:
        if destination not in batch.column_names:
            from tandem.errors import CdrError

            raise CdrError(
                f"the CDRs have no column {destination!r} to group destinations by "
                f"(they have: {', '.join(batch.column_names[:20])})"
            )
        group = _text(batch, destination.lower())
    else:
        group = pc.utf8_slice_codeunits(
            pc.utf8_trim_whitespace(_strings(batch.column("number"))), 0, config.group_digits
        )
    duration = batch.column("duration").to_numpy(zero_copy_only=False)
    duration = pd.to_numeric(pd.Series(duration), errors="coerce").fillna(0).to_numpy(np.int64)
    pdd = _pdd_ms(batch)
    pdd_bucket = np.full(n, -1, dtype=np.int64)
    ok = ~np.isnan(pdd)
    pdd_bucket[ok] = np.clip(
        np.searchsorted(np.asarray(PDD_EDGES_MS, dtype=np.float64), pdd[ok], side="right") - 1,
        0,
        len(PDD_FIELDS) - 1,
    )
    outcome = _answers(batch)
    outcome = np.where(duration > 0, _ANSWERED, outcome)  # billable seconds: answered
    call_id = _text(batch, "call_id")
    nothing = [None] * n
    return pd.DataFrame(
        {
            "start": start,
            "carrier": pd.Series(carrier_s.to_pandas(), dtype=object),
            "group": pd.Series(group.to_pandas() if group is not None else nothing, dtype=object),
            "call_id": pd.Series(
                call_id.to_pandas() if call_id is not None else nothing, dtype=object
            ),
            "outcome": outcome,
            "duration": np.maximum(duration, 0),
            "pdd": pdd_bucket,
        }
    )


def _strings(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


def _group_sums(frame: pd.DataFrame, keys: list[str], at: float, config: QualityConfig) -> dict:
    """``{key tuple: Sums}``: the board's :func:`~tandem.quality.board.sums` of each group
    of ``frame`` (one row per key and bucket, integer fields), vectorised: bucket weights
    from :func:`decay_weight`, exactly rounded sums per group and field."""
    out: dict[tuple, Sums] = {}
    if frame.empty:
        return out
    if config.half_life is None:  # every weight is 1: the sums are the integer sums
        plain = frame.groupby(keys, sort=True, observed=True)[list(FIELDS)].sum()
        for k, ints in zip(plain.index.tolist(), plain.to_numpy(np.int64).tolist(), strict=True):
            key = k if isinstance(k, tuple) else (k,)
            out[key] = Sums(ints[0], ints[1], tuple(float(x) for x in ints))
        return out
    agg = frame.groupby([*keys, "bucket"], sort=True, observed=True)[list(FIELDS)].sum()
    agg = agg.reset_index()
    starts = agg["bucket"].to_numpy()
    weights = {b: decay_weight(at - b, config.half_life) for b in np.unique(starts).tolist()}
    w = np.fromiter((weights[b] for b in starts.tolist()), dtype=np.float64, count=len(starts))
    values = agg[list(FIELDS)].to_numpy(dtype=np.int64)
    products = w[:, None] * values.astype(np.float64)
    key_frame = agg[keys]
    bounds = np.flatnonzero(
        np.r_[True, (key_frame.iloc[1:].to_numpy() != key_frame.iloc[:-1].to_numpy()).any(axis=1)]
    )
    ends = np.r_[bounds[1:], len(agg)]
    key_rows = key_frame.to_numpy()
    for lo, hi in zip(bounds.tolist(), ends.tolist(), strict=True):
        block = products[lo:hi].T.tolist()
        ints = values[lo:hi]
        out[tuple(key_rows[lo].tolist())] = Sums(
            int(ints[:, 0].sum()), int(ints[:, 1].sum()), tuple(math.fsum(c) for c in block)
        )
    return out


def quality_table(
    batches: Iterable[pa.Table],
    *,
    config: QualityConfig | None = None,
    by: str = "carrier,destination",
    at: float | None = None,
    window: int | None = None,
    destination: str | None = None,
) -> QualityTable:
    """The quality table of canonical CDR batches (see the module docstring).

    ``by``: ``carrier`` (one row per carrier) or ``carrier,destination`` (per carrier and
    destination group: the first ``config.group_digits`` digits of the number, or the
    value of the ``destination`` column when named). Figures are those of a
    :class:`~tandem.quality.board.QualityBoard` with ``config`` read at ``at`` (default:
    the latest CDR start) over the ``window`` seconds before it (a multiple of the
    config's bucket; None: every CDR up to ``at`` counts, whatever the config's window).
    """
    if by not in ("carrier", "carrier,destination"):
        from tandem.errors import ConfigError

        raise ConfigError(f"--by must be 'carrier' or 'carrier,destination', got {by!r}")
    config = config if config is not None else QualityConfig()
    frames = [_frame(b, config, destination) for b in batches]
    frame = pd.concat(frames, ignore_index=True) if frames else _frame_empty()
    rows_in = len(frame)
    skipped: dict[str, int] = {}

    def skip(mask: np.ndarray, reason: str) -> None:
        nonlocal frame
        count = int(mask.sum())
        if count:
            skipped[reason] = skipped.get(reason, 0) + count
            frame = frame[~mask]

    skip(np.isnan(frame["start"].to_numpy(np.float64)), "no_start")
    if frame.empty:
        return QualityTable([], rows_in, at, skipped)
    t = float(frame["start"].max()) if at is None else float(at)
    if window is None:
        first_bucket = math.floor(float(frame["start"].min()) / config.bucket) * config.bucket
        window = (math.ceil(max(t - first_bucket, 0.0) / config.bucket) + 1) * config.bucket
    config = QualityConfig(**{**_fields(config), "window": window})
    skip(frame["carrier"].isna().to_numpy() | (frame["carrier"] == "").to_numpy(), "no_carrier")
    skip((frame["outcome"] < 0).to_numpy(), "no_answer_code")
    if by == "carrier,destination":
        skip(frame["group"].isna().to_numpy() | (frame["group"] == "").to_numpy(), "no_destination")
    frame = frame.sort_values("start", kind="stable")
    skip(_duplicates(frame, config.window), "duplicate")
    bucket = np.floor(frame["start"].to_numpy(np.float64) / config.bucket) * config.bucket
    frame = frame.assign(bucket=bucket)
    frame = frame[(frame["bucket"] >= t - config.window) & (frame["bucket"] <= t)]
    outcome = frame["outcome"].to_numpy()
    answered = outcome == _ANSWERED
    columns: dict[str, Any] = {
        "carrier": frame["carrier"].to_numpy(),
        "group": frame["group"].to_numpy() if by != "carrier" else ALL_GROUPS,
        "bucket": frame["bucket"].to_numpy(),
        "attempts": np.ones(len(frame), dtype=np.int64),
        "answered": answered.astype(np.int64),
        "effective": _EFFECTIVE[outcome].astype(np.int64),
        "seconds": np.where(answered, frame["duration"].to_numpy(), 0).astype(np.int64),
    }
    pdd = frame["pdd"].to_numpy()
    for i, name in enumerate(PDD_FIELDS):
        columns[name] = (pdd == i).astype(np.int64)
    attempts = pd.DataFrame(columns)
    overall = _group_sums(attempts, ["carrier"], t, config)
    own = overall if by == "carrier" else _group_sums(attempts, ["carrier", "group"], t, config)
    rows = []
    for k in sorted(own):
        carrier = k[0]
        score = figures(own[k], overall[(carrier,)], config)
        rows.append(QualityRow(carrier, None if by == "carrier" else k[1], score))
    return QualityTable(rows, rows_in, t, skipped)


def _duplicates(frame: pd.DataFrame, window: int) -> np.ndarray:
    """Which CDRs (in start order) repeat a (call id, carrier) counted less than ``window``
    seconds before: the board's rule (a mark that lasts the window)."""
    dup = np.zeros(len(frame), dtype=bool)
    has_id = frame["call_id"].notna().to_numpy()
    keyed = frame[has_id]
    repeated = keyed.duplicated(["call_id", "carrier"], keep=False).to_numpy()
    if not repeated.any():
        return dup
    sub = keyed[repeated]
    positions = np.flatnonzero(has_id)[repeated]
    last: dict[tuple[str, str], float] = {}
    for pos, call_id, carrier, start in zip(
        positions.tolist(), sub["call_id"], sub["carrier"], sub["start"].tolist(), strict=True
    ):
        prev = last.get((call_id, carrier))
        if prev is not None and start < prev + window:
            dup[pos] = True
        else:
            last[(call_id, carrier)] = start
    return dup


def _fields(config: QualityConfig) -> dict[str, Any]:
    return {f: getattr(config, f) for f in config.__dataclass_fields__}


def _frame_empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": np.array([], np.float64),
            "carrier": pd.Series([], dtype=object),
            "group": pd.Series([], dtype=object),
            "call_id": pd.Series([], dtype=object),
            "outcome": np.array([], np.int64),
            "duration": np.array([], np.int64),
            "pdd": np.array([], np.int64),
        }
    )
