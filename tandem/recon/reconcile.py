"""Reconciling a vendor's CDRs with ours for one carrier: read, match, price, classify.

:func:`reconcile` is a pure function of both sides' records and a :class:`~tandem.rating.Rater`
(our buy decks); :class:`Reconciliation` holds one line per outcome
(:func:`tandem.recon.classify.classify`) and the summary the command prints.

Our side is the CDRs to the carrier: those naming it in their carrier column, and those
naming no carrier; calls of 0 billable seconds (unanswered attempts, which no vendor
bills) are left out. The vendor's side is every record of its file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import CdrError, UnknownCarrierError
from tandem.money import format_money
from tandem.rating.price import Rater
from tandem.recon.classify import CLASSES, Tolerances, classify, exact_sum
from tandem.recon.deck import deck_view, scaled_amounts
from tandem.recon.match import match_sides
from tandem.recon.read import CdrSide

__all__ = ["Reconciliation", "our_calls_to", "reconcile"]


@dataclass(frozen=True)
class Reconciliation:
    """The outcome: ``lines`` (one per pair, lone record or copy), the counts of both
    sides, and our CDRs left out (to other carriers, unanswered)."""

    carrier: str
    ours: int
    theirs: int
    lines: pa.Table
    other_carriers: int = 0
    unanswered: int = 0

    def counts(self) -> dict[str, int]:
        """Lines per class, every class named."""
        codes = self.lines.column("class").combine_chunks().indices.to_numpy()
        found = np.bincount(codes, minlength=len(CLASSES))
        return {name: int(found[i]) for i, name in enumerate(CLASSES)}

    def disputed_scaled(self) -> dict[str, int]:
        """Disputed amount per class, scaled integers (exact)."""
        codes = self.lines.column("class").combine_chunks().indices.to_numpy()
        amounts, _ = scaled_amounts(self.lines.column("disputed"))
        return {name: exact_sum(amounts[codes == i]) for i, name in enumerate(CLASSES)}

    def as_json(self) -> dict:
        """``{"ours", "theirs", "classes": {CLASS: count}, "disputed": {CLASS: amount}}``
        (amounts as exact decimal strings)."""
        return {
            "ours": self.ours,
            "theirs": self.theirs,
            "classes": self.counts(),
            "disputed": {k: format_money(v) for k, v in self.disputed_scaled().items()},
        }

    def disputes(self) -> pa.Table:
        """The lines to put before the vendor: every class but ``exact`` and
        ``within_tolerance``, in the order of :data:`CLASSES`, then by start."""
        cls = pc.cast(self.lines.column("class"), pa.string())
        keep = pc.invert(pc.is_in(cls, pa.array(["exact", "within_tolerance"])))
        out = self.lines.filter(keep)
        code = out.column("class").combine_chunks().indices
        out = out.append_column("_code", code).sort_by(
            [("_code", "ascending"), ("their_start", "ascending"), ("our_start", "ascending")]
        )
        return out.drop_columns(["_code"])


def our_calls_to(side: CdrSide, carrier: str) -> tuple[np.ndarray, int, int]:
    """``(rows, other_carriers, unanswered)``: our records to ``carrier`` (or naming no
    carrier) with billable seconds, and how many were left out for each reason."""
    named = side.carrier.is_valid().to_numpy(zero_copy_only=False)
    if named.any():
        mine = pc.fill_null(pc.equal(side.carrier, carrier), False).to_numpy(zero_copy_only=False)
        to_carrier = mine | ~named
    else:
        to_carrier = np.ones(len(side), dtype=bool)
    unanswered = to_carrier & (side.problem == 0) & (side.duration == 0)
    rows = np.flatnonzero(to_carrier & ~unanswered)
    return rows, int((~to_carrier).sum()), int(unanswered.sum())


def reconcile(
    ours: CdrSide,
    theirs: CdrSide,
    carrier: str,
    rater: Rater,
    tolerances: Tolerances | None = None,
) -> Reconciliation:
    """Match ``theirs`` (the vendor's records) with ``ours`` for ``carrier`` and classify
    every record (module docstring). Raises :class:`~tandem.errors.UnknownCarrierError`
    when we have no buy deck for ``carrier``."""
    tol = tolerances or Tolerances()
    if carrier not in rater.buy.accounts:
        known = ", ".join(sorted(rater.buy.accounts)[:10]) or "none"
        raise UnknownCarrierError(
            f"no buy deck for carrier {carrier!r} in the store (carriers: {known}); import "
            "it with 'tandem deck import FILE --carrier NAME'"
        )
    rows, other, unanswered = our_calls_to(ours, carrier)
    if not len(rows) and len(ours):
        raise CdrError(
            f"none of our {len(ours)} CDRs is a billable call to carrier {carrier!r} "
            f"({other} name another carrier, {unanswered} have 0 billable seconds)"
        )
    mine = ours.take(rows)
    matching = match_sides(
        mine.key, mine.start, mine.duration, mine.call_id, mine.usable,
        theirs.key, theirs.start, theirs.duration, theirs.call_id, theirs.usable,
        tol.window,
    )  # fmt: skip
    lines = classify(
        mine,
        theirs,
        matching,
        deck_view(rater, mine, carrier),
        deck_view(rater, theirs, carrier),
        tol,
    )
    return Reconciliation(
        carrier=carrier,
        ours=len(mine),
        theirs=len(theirs),
        lines=lines,
        other_carriers=other,
        unanswered=unanswered,
    )
