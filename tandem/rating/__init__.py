"""Rating: tariff arithmetic and exact CDR pricing (decks live in :mod:`tandem.decks`).

CDR pricing: :func:`price_cdrs` (a DataFrame, Arrow table or file), :func:`price_call`
(one call), :class:`Rater` (compiled decks; a pure function of a CDR batch),
:func:`load_plan` (tariff plans: grace, tiers, peak/off-peak), :class:`PlanSchedule`
(the stored tariff plan versions, each CDR priced by the one in force at its start),
:func:`rate_file`
(streaming), :class:`RatingReport`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.lazy import lazy_exports

# The names below load on first use (PEP 562): importing one module of the package (the
# stdlib-only tandem.rating.bookfile that ``tandem rate`` starts with) does not import
# numpy, pyarrow and the pricing code with it.
_LAZY: dict[str, str] = {
    "CdrReader": "tandem.rating.cdr",
    "TariffPlan": "tandem.rating.plan",
    "load_plan": "tandem.rating.plan",
    "REASONS": "tandem.rating.price",
    "CallPrice": "tandem.rating.price",
    "Rater": "tandem.rating.price",
    "RatingResult": "tandem.rating.price",
    "RatingSummary": "tandem.rating.price",
    "price_call": "tandem.rating.price",
    "price_cdrs": "tandem.rating.price",
    "RatingReport": "tandem.rating.report",
    "PlanSchedule": "tandem.rating.schedule",
    "rate_file": "tandem.rating.stream",
    "Interval": "tandem.rating.tariff",
    "Tariff": "tandem.rating.tariff",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from tandem.rating.cdr import CdrReader
    from tandem.rating.plan import TariffPlan, load_plan
    from tandem.rating.price import (
        REASONS,
        CallPrice,
        Rater,
        RatingResult,
        RatingSummary,
        price_call,
        price_cdrs,
    )
    from tandem.rating.report import RatingReport
    from tandem.rating.schedule import PlanSchedule
    from tandem.rating.stream import rate_file
    from tandem.rating.tariff import Interval, Tariff


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "REASONS",
    "CallPrice",
    "CdrReader",
    "Interval",
    "PlanSchedule",
    "Rater",
    "RatingReport",
    "RatingResult",
    "RatingSummary",
    "Tariff",
    "TariffPlan",
    "load_plan",
    "price_call",
    "price_cdrs",
    "rate_file",
]
