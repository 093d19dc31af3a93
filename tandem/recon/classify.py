"""Sorting every record into a reconciliation class, with the amount in dispute.

Classes (:data:`CLASSES`), for a pair of matched records:

``duration_mismatch``  the billable seconds differ by more than the duration tolerance;
``rate_mismatch``      the vendor's rate differs from our buy deck's rate in force at the
                       call's start, or its amount differs from what our deck charges for
                       the duration it billed by more than the amount tolerance, or our
                       deck cannot price the call at all (no rate for the number then);
``exact``              same start to the second, same duration, same amount;
``within_tolerance``   any other pair: the differences are within the tolerances.

and for a record left alone: ``missing_ours`` (the vendor bills a call we have no record
of, or a line that cannot be read: see its ``note``), ``missing_theirs`` (a call we sent
that the vendor does not bill) and ``duplicate`` (a copy of a record on the same side).

The **disputed** amount of a line is what the vendor bills minus what our records and
deck say: ``their amount - our amount`` for a pair, the vendor's amount for
``missing_ours`` and for a vendor copy, minus our amount for ``missing_theirs`` and for a
copy of ours. Positive: the vendor over-bills. Over all lines it adds up to the vendor's
total minus ours. The vendor's amount is its ``amount`` column, or, when its file bills
no amount, what our deck charges for the duration it billed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.money import UNIT
from tandem.rating.price import REASONS
from tandem.recon.deck import DeckView
from tandem.recon.match import Matching
from tandem.recon.read import PROBLEMS, CdrSide

__all__ = ["CLASSES", "Tolerances", "classify", "exact_sum"]

CLASSES = (
    "exact",
    "within_tolerance",
    "duration_mismatch",
    "rate_mismatch",
    "missing_ours",
    "missing_theirs",
    "duplicate",
)
_C = {name: i for i, name in enumerate(CLASSES)}
_AMOUNT = pa.decimal128(38, 9)
#: Every note a line can carry but a copy's (which names the original record).
_NOTES = (
    "",
    "duration differs",
    "rate differs from our deck",
    "amount differs from our deck's price",
    "our deck cannot price it",
    *PROBLEMS,
    *(f"our deck: {r}" for r in REASONS),
)
_NOTE = {text: i for i, text in enumerate(_NOTES)}


@dataclass(frozen=True)
class Tolerances:
    """What still counts as agreement: ``window`` seconds between the starts of one call
    on both sides (matching), ``duration`` seconds of billable time, ``amount`` (scaled
    integer, :data:`tandem.money.SCALE` places) of money per call."""

    window: int = 60
    duration: int = 1
    amount: int = UNIT // 100


def exact_sum(values: np.ndarray) -> int:
    """The exact sum of int64 values (no overflow: high and low halves apart)."""
    v = np.asarray(values, dtype=np.int64)
    return (int(np.sum(v >> 32, dtype=np.int64)) << 32) + int(
        np.sum(v & 0xFFFFFFFF, dtype=np.int64)
    )


def _decimal(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    from tandem.rating.amounts import amount_array

    ok = np.ones(len(values), dtype=bool) if valid is None else valid
    return amount_array(np.asarray(values, dtype=np.int64), ok, None, _AMOUNT)


def _instants(seconds: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(seconds, mask=~valid).cast(pa.timestamp("s", tz="UTC"))


def _at(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]``, or zeros when ``values`` is empty (a side without records,
    whose rows are all placeholders)."""
    if len(values) == 0:
        return np.zeros(len(rows), dtype=values.dtype)
    return values[rows]


def _problem_notes(side: CdrSide, rows: np.ndarray) -> np.ndarray:
    codes = np.asarray([_NOTE[""], *(_NOTE[p] for p in PROBLEMS)], dtype=np.int32)
    return codes[side.problem[rows]]


def classify(
    ours: CdrSide,
    theirs: CdrSide,
    matching: Matching,
    our_deck: DeckView,
    their_deck: DeckView,
    tolerances: Tolerances,
) -> pa.Table:
    """One line per outcome (a pair, a record alone, a copy) with its class, both sides'
    values, the disputed amount and a note; pairs first (in vendor order), then the
    vendor's records alone, ours alone, and the copies."""
    their_charge = np.where(theirs.has_amount, theirs.amount, their_deck.amount)
    charged = theirs.has_amount | their_deck.priced
    o, t = matching.ours, matching.theirs
    dd = theirs.duration[t] - ours.duration[o]
    ds = theirs.start[t] - ours.start[o]
    rate_differs = theirs.has_rate[t] & (theirs.rate[t] != their_deck.rate[t])
    amount_differs = theirs.has_amount[t] & (
        np.abs(theirs.amount[t] - their_deck.amount[t]) > tolerances.amount
    )
    unpriced = ~their_deck.priced[t]
    cls = np.full(len(t), _C["within_tolerance"], dtype=np.int8)
    exact = (dd == 0) & (ds == 0) & (their_charge[t] == our_deck.amount[o])
    cls[exact] = _C["exact"]
    cls[rate_differs | amount_differs | unpriced] = _C["rate_mismatch"]
    cls[np.abs(dd) > tolerances.duration] = _C["duration_mismatch"]
    # notes as codes into one dictionary (a million lines, a dozen distinct notes)
    note = np.zeros(len(t), dtype=np.int32)
    note[rate_differs] = _NOTE["rate differs from our deck"]
    note[amount_differs & ~rate_differs] = _NOTE["amount differs from our deck's price"]
    if unpriced.any():
        at = np.flatnonzero(unpriced)
        reasons = their_deck.reason.take(pa.array(t[at])).to_pylist()
        note[at] = [_NOTE[f"our deck: {r}"] for r in reasons]
    note[np.abs(dd) > tolerances.duration] = _NOTE["duration differs"]

    paired_t = np.zeros(len(theirs), bool)
    paired_t[t] = True
    paired_t[matching.their_copies] = True
    alone_t = np.flatnonzero(~paired_t)
    paired_o = np.zeros(len(ours), bool)
    paired_o[o] = True
    paired_o[matching.our_copies] = True
    alone_o = np.flatnonzero(~paired_o)
    tc, tc_of = matching.their_copies, matching.their_copy_of
    oc, oc_of = matching.our_copies, matching.our_copy_of

    def cat(*parts: np.ndarray) -> np.ndarray:
        return np.concatenate(parts)

    n_pair, n_t, n_o, n_tc, n_oc = len(t), len(alone_t), len(alone_o), len(tc), len(oc)

    def none(k: int, dtype: type = np.int64) -> np.ndarray:
        return np.full(k, -1, dtype=dtype)

    t_rows = cat(t, alone_t, none(n_o, np.int64), tc, none(n_oc, np.int64))
    o_rows = cat(o, none(n_t, np.int64), alone_o, none(n_tc, np.int64), oc)
    has_t, has_o = t_rows >= 0, o_rows >= 0
    ts, os_ = np.maximum(t_rows, 0), np.maximum(o_rows, 0)
    classes = cat(
        cls,
        np.full(n_t, _C["missing_ours"], np.int8),
        np.full(n_o, _C["missing_theirs"], np.int8),
        np.full(n_tc + n_oc, _C["duplicate"], np.int8),
    )
    side = cat(
        np.full(n_pair, 0, np.int8), np.full(n_t, 1, np.int8), np.full(n_o, 2, np.int8),
        np.full(n_tc, 1, np.int8), np.full(n_oc, 2, np.int8),
    )  # fmt: skip
    their_amount = np.where(has_t, _at(their_charge, ts), 0)
    their_amount_ok = has_t & _at(charged, ts)
    our_amount = np.where(has_o, _at(our_deck.amount, os_), 0)
    our_amount_ok = has_o & _at(our_deck.priced, os_)
    disputed = np.where(has_t, their_amount, 0) - np.where(has_o, our_amount, 0)
    copy_notes = [f"copy of vendor record {r}" for r in theirs.record[tc_of].tolist()]
    copy_notes += [f"copy of our record {r}" for r in ours.record[oc_of].tolist()]
    notes = cat(
        note,
        _problem_notes(theirs, alone_t),
        _problem_notes(ours, alone_o),
        len(_NOTES) + np.arange(n_tc + n_oc, dtype=np.int32),
    )
    lone_unpriced = np.flatnonzero((classes == _C["missing_theirs"]) & has_o & ~our_amount_ok)
    if len(lone_unpriced):
        blank = notes[lone_unpriced] == 0
        notes[lone_unpriced[blank]] = _NOTE["our deck cannot price it"]
    idx_t, idx_o = pa.array(ts), pa.array(os_)
    mask_t, mask_o = pa.array(~has_t), pa.array(~has_o)
    null_str = pa.scalar(None, pa.string())

    def pick(arr: pa.Array, idx: pa.Array, mask: pa.Array) -> pa.Array:
        if len(arr) == 0:
            return pa.nulls(len(idx), pa.string())
        return pc.if_else(mask, null_str, arr.take(idx))

    by = np.zeros(len(classes), dtype=np.int32)
    by[:n_pair] = np.where(matching.by_call_id, 1, 2)
    their_start_ok = has_t & ~np.isin(_at(theirs.problem, ts), [1, 2])
    our_start_ok = has_o & ~np.isin(_at(ours.problem, os_), [1, 2])
    their_dur_ok = has_t & ~np.isin(_at(theirs.problem, ts), [1, 3])
    our_dur_ok = has_o & ~np.isin(_at(ours.problem, os_), [1, 3])
    both_start = their_start_ok & our_start_ok
    both_dur = their_dur_ok & our_dur_ok
    call_id = pc.coalesce(pick(theirs.call_id, idx_t, mask_t), pick(ours.call_id, idx_o, mask_o))
    number = pc.coalesce(pick(theirs.digits, idx_t, mask_t), pick(ours.digits, idx_o, mask_o))
    return pa.table(
        {
            "class": pa.DictionaryArray.from_arrays(
                pa.array(classes.astype(np.int32)), pa.array(CLASSES)
            ),
            "side": pa.DictionaryArray.from_arrays(
                pa.array(side.astype(np.int32)), pa.array(["both", "theirs", "ours"])
            ),
            "matched_by": pa.DictionaryArray.from_arrays(
                pa.array(by), pa.array(["", "call_id", "number_time"])
            ),
            "number": number,
            "call_id": call_id,
            "their_record": pa.array(_at(theirs.record, ts), mask=~has_t),
            "their_line": pa.array(_at(theirs.line, ts), mask=~has_t),
            "their_number": pick(theirs.number, idx_t, mask_t),
            "their_start": _instants(_at(theirs.start, ts), their_start_ok),
            "their_duration": pa.array(_at(theirs.duration, ts), mask=~their_dur_ok),
            "their_rate": _decimal(_at(theirs.rate, ts), has_t & _at(theirs.has_rate, ts)),
            "their_amount": _decimal(their_amount, their_amount_ok),
            "our_record": pa.array(_at(ours.record, os_), mask=~has_o),
            "our_line": pa.array(_at(ours.line, os_), mask=~has_o),
            "our_start": _instants(_at(ours.start, os_), our_start_ok),
            "our_duration": pa.array(_at(ours.duration, os_), mask=~our_dur_ok),
            "deck_rate": _decimal(
                np.where(has_t, _at(their_deck.rate, ts), _at(our_deck.rate, os_)),
                np.where(has_t, _at(their_deck.priced, ts), our_amount_ok),
            ),
            "our_amount": _decimal(our_amount, our_amount_ok),
            "start_offset": pa.array(
                _at(theirs.start, ts) - _at(ours.start, os_), mask=~both_start, type=pa.int64()
            ),
            "duration_difference": pa.array(
                _at(theirs.duration, ts) - _at(ours.duration, os_), mask=~both_dur, type=pa.int64()
            ),
            "disputed": _decimal(disputed),
            "note": pa.DictionaryArray.from_arrays(
                pa.array(notes.astype(np.int32)), pa.array(list(_NOTES) + copy_notes, pa.string())
            ),
        }
    )
