"""Validity windows in the store's SQL: one supersession rule for rate rows and plan versions.

A stored rate row (:class:`tandem.store.models.Rate`) and a plan version
(:class:`tandem.store.models.PlanVersion`) are in force over ``[effective_from,
effective_until)`` (UTC epoch seconds; ``effective_until`` NULL while open-ended). Both are
superseded alike, by cutting them at an instant C: rows that begin at or after C are voided
(their window becomes empty, ``until = from``), rows in force at C end at C, and rows
already void, or ending at or before C, are not touched. :meth:`tandem.store.Store.write_deck`
cuts an account's rates, :meth:`tandem.store.Store.write_plan` the versions of a plan kind.

The clauses below take ``{r}``, the table qualifier (``""`` or e.g. ``"rates."``), and
``{c}``, the SQL expression of C (a placeholder or a joined column).
"""

from __future__ import annotations

__all__ = ["CUT_SET", "CUT_WHERE"]

#: The ``SET`` clause that cuts a row at C.
CUT_SET = "effective_until = CASE WHEN {r}effective_from >= {c} THEN {r}effective_from ELSE {c} END"
#: The rows a cut at C changes: not yet void, and beginning at or after C or in force at C.
CUT_WHERE = (
    "({r}effective_until IS NULL OR {r}effective_until > {r}effective_from) "
    "AND ({r}effective_from >= {c} OR {r}effective_until IS NULL OR {r}effective_until > {c})"
)
