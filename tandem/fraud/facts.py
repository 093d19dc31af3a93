"""What a fraud decision is about (:class:`CallFacts`) and what it answers
(:class:`Verdict`, :class:`FraudResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from tandem.fraud.thresholds import Action

__all__ = ["CallFacts", "FraudResult", "Verdict"]


class CallFacts(NamedTuple):
    """One call attempt as the rules see it (an immutable named tuple: made on every
    decision, so it is cheap to make).

    ``number`` is the dialled E.164 number (digits, no ``+``); ``at`` the instant of the
    attempt (UTC epoch seconds, always passed explicitly); ``destination`` the matched
    prefix of the routing table ('' when none); ``group`` the destination group key the
    concurrent-call limit counts under ('' for none); ``sell_rate`` the customer's rate per
    minute as a scaled integer (:mod:`tandem.money`), None when unknown.
    """

    call_id: str
    customer: str
    number: str
    at: float
    trunk: str | None = None
    source_ip: str | None = None
    destination: str = ""
    group: str = ""
    sell_rate: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's answer: ``allow``, ``flag`` or ``block``, with the evidence (window,
    count, threshold, prefix... as strings)."""

    rule: str
    action: Action
    evidence: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {"rule": self.rule, "action": self.action, "evidence": dict(self.evidence)}


@dataclass(frozen=True, slots=True)
class FraudResult:
    """A decision's fraud answer: the most severe action of its verdicts (``allow`` when
    none), the verdicts that flagged or blocked, and notes (e.g. shared state unreachable)."""

    action: Action
    verdicts: tuple[Verdict, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        """Whether a rule blocked the call."""
        return self.action == "block"

    def blocked_by(self) -> Verdict | None:
        """The first verdict that blocked the call (None when allowed or only flagged)."""
        for v in self.verdicts:
            if v.action == "block":
                return v
        return None
