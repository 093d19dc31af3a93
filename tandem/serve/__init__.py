"""Serving Tandem to SIP proxies (HTTP route API, proxy adapters)."""

from tandem.serve.answer import (
    PHRASES,
    SipAnswer,
    answer,
    contact_uri,
    error_answer,
    reason_header,
    refusal_code,
    rtjson,
)
from tandem.serve.kamailio import KamailioSettings, TandemKemi

__all__ = [
    "KamailioSettings",
    "PHRASES",
    "SipAnswer",
    "TandemKemi",
    "answer",
    "contact_uri",
    "error_answer",
    "reason_header",
    "refusal_code",
    "rtjson",
]
