"""The object a proxy holds for a call's life: route, admit, answer, end."""

from tandem.calls.credit import CreditBook, SellTerms, max_duration, max_tariff_duration
from tandem.calls.lifecycle import (
    LOCAL_COUNTERS_NOTE,
    UNREACHABLE_CREDIT_NOTE,
    Call,
    CallDecision,
    CallEnd,
    Calls,
    Caps,
    credit_spent_key,
)

__all__ = [
    "Call",
    "CallDecision",
    "CallEnd",
    "Calls",
    "Caps",
    "CreditBook",
    "LOCAL_COUNTERS_NOTE",
    "SellTerms",
    "UNREACHABLE_CREDIT_NOTE",
    "credit_spent_key",
    "max_duration",
    "max_tariff_duration",
]
