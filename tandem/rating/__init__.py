"""Rating: tariff arithmetic and exact CDR pricing (decks live in :mod:`tandem.decks`).

CDR pricing: :func:`price_cdrs` (a DataFrame, Arrow table or file), :func:`price_call`
(one call), :class:`Rater` (compiled decks; a pure function of a CDR batch),
:func:`load_plan` (tariff plans: grace, tiers, peak/off-peak), :class:`PlanSchedule`
(the stored tariff plan versions, each CDR priced by the one in force at its start),
:func:`rate_file`
(streaming), :class:`RatingReport`.
"""

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
