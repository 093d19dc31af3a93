"""One table from a call attempt's final answer to its outcome: SIP final responses
(RFC 3261 section 21, with RFC 6432/8197/8688 additions), Asterisk CDR dispositions and
FreeSWITCH hangup causes (ITU-T Q.850 names, as ``hangup_cause`` writes them); Kamailio's
``acc`` writes the SIP code.

Outcomes and the ratios built on them (ITU-T E.411 section 3):

* **ASR** (answer seizure ratio) = answered / attempts;
* **NER** (network effectiveness ratio) = (answered + user busy + no answer + rejected) /
  attempts: the attempts the network delivered to the called user, whatever the user did.
  Network failures, redirections and invalid numbers are not effective.

Classification rules, each in the table below or stated here:

* SIP: ``2xx`` answered; ``486``/``600`` user busy; ``480`` (temporarily unavailable, the
  usual no-answer timeout) and ``487`` (the caller cancelled while it rang; Asterisk writes
  such a call ``NO ANSWER``) no answer; ``603``/``607``/``608`` rejected; ``404``/``410``/
  ``484``/``485``/``604`` invalid number; ``3xx`` redirected; any other ``4xx``, ``5xx`` and
  ``606`` a network failure. A code the table does not list is read as the ``x00`` code of
  its class (RFC 3261 section 8.1.3.2). Provisional (``1xx``) and out-of-range codes are no
  final answer: :class:`ValueError`.
* An attempt with billable seconds was answered, whatever its disposition says
  (:func:`outcome_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "DISPOSITIONS",
    "EFFECTIVE",
    "SIP_OUTCOMES",
    "Outcome",
    "classify",
    "outcome_of",
]


class Outcome(StrEnum):
    """How one call attempt ended."""

    ANSWERED = "answered"
    USER_BUSY = "user_busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"  # the called user or terminal refused (E.411 terminal rejection)
    INVALID_NUMBER = "invalid_number"
    REDIRECTED = "redirected"
    NETWORK_FAILURE = "network_failure"


#: Outcomes that count toward NER (ITU-T E.411: answer, user busy, ring no answer,
#: terminal rejection).
EFFECTIVE: frozenset[Outcome] = frozenset(
    {Outcome.ANSWERED, Outcome.USER_BUSY, Outcome.NO_ANSWER, Outcome.REJECTED}
)

_O = Outcome

#: SIP final responses the table names; any other code of 200-699 is read as its class's
#: ``x00`` (RFC 3261 section 8.1.3.2).
SIP_OUTCOMES: Mapping[int, Outcome] = {
    200: _O.ANSWERED,
    300: _O.REDIRECTED,
    400: _O.NETWORK_FAILURE,
    404: _O.INVALID_NUMBER,  # Not Found
    410: _O.INVALID_NUMBER,  # Gone (number changed)
    480: _O.NO_ANSWER,  # Temporarily Unavailable: the no-answer timeout of most carriers
    484: _O.INVALID_NUMBER,  # Address Incomplete
    485: _O.INVALID_NUMBER,  # Ambiguous
    486: _O.USER_BUSY,  # Busy Here
    487: _O.NO_ANSWER,  # Request Terminated: the caller gave up while it rang
    500: _O.NETWORK_FAILURE,
    600: _O.USER_BUSY,  # Busy Everywhere
    603: _O.REJECTED,  # Decline
    604: _O.INVALID_NUMBER,  # Does Not Exist Anywhere
    606: _O.NETWORK_FAILURE,  # Not Acceptable (media)
    607: _O.REJECTED,  # Unwanted (RFC 8197)
    608: _O.REJECTED,  # Rejected (RFC 8688)
}

#: CDR dispositions by name (upper case): Asterisk's five, FreeSWITCH's hangup causes
#: (Q.850 names and FreeSWITCH's own) - the same outcome as the SIP code they stand for.
DISPOSITIONS: Mapping[str, Outcome] = {
    # Asterisk (cdr disposition)
    "ANSWERED": _O.ANSWERED,
    "NO ANSWER": _O.NO_ANSWER,
    "BUSY": _O.USER_BUSY,
    "FAILED": _O.NETWORK_FAILURE,
    "CONGESTION": _O.NETWORK_FAILURE,
    # Q.850 causes (FreeSWITCH names), normal class
    "NORMAL_CLEARING": _O.ANSWERED,  # 16
    "SUCCESS": _O.ANSWERED,
    "ALLOTTED_TIMEOUT": _O.ANSWERED,  # answered, cut at its allotted time
    "UNALLOCATED_NUMBER": _O.INVALID_NUMBER,  # 1
    "NO_ROUTE_TRANSIT_NET": _O.NETWORK_FAILURE,  # 2
    "NO_ROUTE_DESTINATION": _O.NETWORK_FAILURE,  # 3
    "CHANNEL_UNACCEPTABLE": _O.NETWORK_FAILURE,  # 6
    "USER_BUSY": _O.USER_BUSY,  # 17
    "NO_USER_RESPONSE": _O.NO_ANSWER,  # 18
    "NO_ANSWER": _O.NO_ANSWER,  # 19
    "SUBSCRIBER_ABSENT": _O.REJECTED,  # 20: terminal unavailable (E.411)
    "CALL_REJECTED": _O.REJECTED,  # 21
    "NUMBER_CHANGED": _O.INVALID_NUMBER,  # 22
    "REDIRECTION_TO_NEW_DESTINATION": _O.REDIRECTED,  # 23
    "EXCHANGE_ROUTING_ERROR": _O.NETWORK_FAILURE,  # 25
    "DESTINATION_OUT_OF_ORDER": _O.NETWORK_FAILURE,  # 27
    "INVALID_NUMBER_FORMAT": _O.INVALID_NUMBER,  # 28
    "FACILITY_REJECTED": _O.NETWORK_FAILURE,  # 29
    "NORMAL_UNSPECIFIED": _O.NO_ANSWER,  # 31: RFC 3398 maps it to 480
    # resource unavailable, service unavailable, not implemented, invalid message,
    # protocol error and interworking classes: the network failed
    "NORMAL_CIRCUIT_CONGESTION": _O.NETWORK_FAILURE,  # 34
    "NETWORK_OUT_OF_ORDER": _O.NETWORK_FAILURE,  # 38
    "NORMAL_TEMPORARY_FAILURE": _O.NETWORK_FAILURE,  # 41
    "SWITCH_CONGESTION": _O.NETWORK_FAILURE,  # 42
    "ACCESS_INFO_DISCARDED": _O.NETWORK_FAILURE,  # 43
    "REQUESTED_CHAN_UNAVAIL": _O.NETWORK_FAILURE,  # 44
    "PRE_EMPTED": _O.NETWORK_FAILURE,  # 45
    "FACILITY_NOT_SUBSCRIBED": _O.NETWORK_FAILURE,  # 50
    "OUTGOING_CALL_BARRED": _O.NETWORK_FAILURE,  # 52
    "INCOMING_CALL_BARRED": _O.NETWORK_FAILURE,  # 54
    "BEARERCAPABILITY_NOTAUTH": _O.NETWORK_FAILURE,  # 57
    "BEARERCAPABILITY_NOTAVAIL": _O.NETWORK_FAILURE,  # 58
    "SERVICE_UNAVAILABLE": _O.NETWORK_FAILURE,  # 63
    "BEARERCAPABILITY_NOTIMPL": _O.NETWORK_FAILURE,  # 65
    "CHAN_NOT_IMPLEMENTED": _O.NETWORK_FAILURE,  # 66
    "FACILITY_NOT_IMPLEMENTED": _O.NETWORK_FAILURE,  # 69
    "SERVICE_NOT_IMPLEMENTED": _O.NETWORK_FAILURE,  # 79
    "INVALID_CALL_REFERENCE": _O.NETWORK_FAILURE,  # 81
    "INCOMPATIBLE_DESTINATION": _O.NETWORK_FAILURE,  # 88
    "INVALID_MSG_UNSPECIFIED": _O.NETWORK_FAILURE,  # 95
    "MANDATORY_IE_MISSING": _O.NETWORK_FAILURE,  # 96
    "MESSAGE_TYPE_NONEXIST": _O.NETWORK_FAILURE,  # 97
    "WRONG_MESSAGE": _O.NETWORK_FAILURE,  # 98
    "IE_NONEXIST": _O.NETWORK_FAILURE,  # 99
    "INVALID_IE_CONTENTS": _O.NETWORK_FAILURE,  # 100
    "WRONG_CALL_STATE": _O.NETWORK_FAILURE,  # 101
    "RECOVERY_ON_TIMER_EXPIRE": _O.NETWORK_FAILURE,  # 102
    "MANDATORY_IE_LENGTH_ERROR": _O.NETWORK_FAILURE,  # 103
    "PROTOCOL_ERROR": _O.NETWORK_FAILURE,  # 111
    "INTERWORKING": _O.NETWORK_FAILURE,  # 127
    # FreeSWITCH's own causes
    "ORIGINATOR_CANCEL": _O.NO_ANSWER,  # 487
    "PROGRESS_TIMEOUT": _O.NETWORK_FAILURE,
    "MEDIA_TIMEOUT": _O.NETWORK_FAILURE,
    "GATEWAY_DOWN": _O.NETWORK_FAILURE,
    "INVALID_GATEWAY": _O.NETWORK_FAILURE,
    "NO_PICKUP": _O.NO_ANSWER,
    "BUSY_EVERYWHERE": _O.USER_BUSY,  # 600
    "DECLINE": _O.REJECTED,  # 603
    "DOES_NOT_EXIST_ANYWHERE": _O.INVALID_NUMBER,  # 604
    "NOT_ACCEPTABLE": _O.NETWORK_FAILURE,  # 606
    "UNWANTED": _O.REJECTED,  # 607
}


def _sip(code: int) -> Outcome:
    if not 200 <= code <= 699:
        raise ValueError(f"SIP code {code} is not a final response (200-699)")
    found = SIP_OUTCOMES.get(code)
    if found is not None:
        return found
    if 200 <= code < 300:
        return Outcome.ANSWERED
    return SIP_OUTCOMES[code // 100 * 100]


def classify(answer: int | str) -> Outcome:
    """The outcome of an attempt's final answer: a SIP final response code (an ``int``, or
    digits as text, as Kamailio's ``acc`` writes it), an Asterisk disposition (``NO
    ANSWER``) or a FreeSWITCH hangup cause (``USER_BUSY``), case and surrounding spaces
    ignored. :class:`ValueError` for anything else (a provisional code, an unknown name)."""
    if isinstance(answer, bool):
        raise ValueError(f"not a SIP code or disposition: {answer!r}")
    if isinstance(answer, int):
        return _sip(answer)
    text = str(answer).strip().upper()
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return _sip(int(text))
    found = DISPOSITIONS.get(text)
    if found is None:
        raise ValueError(f"unknown call disposition {answer!r}")
    return found


def outcome_of(answer: int | str, duration: int | None = None) -> Outcome:
    """The outcome of an attempt: answered when it has billable seconds (``duration`` >
    0), else :func:`classify` of its final answer."""
    if duration is not None and duration > 0:
        return Outcome.ANSWERED
    return classify(answer)
