"""Serving Tandem to SIP proxies: a SIP redirect server (``tandem serve sip``), an HTTP route
API (``tandem serve http``), and the pieces every adapter shares: a decision as a SIP answer
(Contacts, block codes, ``Reason``), as Kamailio ``rtjson``, and a pure SIP parser; and
Tandem inside Kamailio (``app_python3``: :mod:`tandem.serve.kamailio`)."""

from tandem.serve.answer import (
    BLOCK_CODES,
    BlockAnswer,
    block_answer,
    block_kind,
    contact_params,
    contact_uri,
    contacts,
    error_answer,
    q_values,
    reason_header,
    route_items,
)
from tandem.serve.http import HttpApi, MetricsApi, start_http
from tandem.serve.kamailio import KamailioSettings, TandemKemi
from tandem.serve.metrics import Metrics
from tandem.serve.openapi import openapi_schema
from tandem.serve.rtjson import rtjson, rtjson_blocked
from tandem.serve.runner import Listen, parse_listen, run
from tandem.serve.service import Outcome, RouteService
from tandem.serve.sip import SipServer, TrustedSources, start_sip
from tandem.serve.sipmsg import SipParseError, SipRequest, frame, parse_request, response

__all__ = [
    "KamailioSettings",
    "TandemKemi",
    "BLOCK_CODES",
    "BlockAnswer",
    "HttpApi",
    "Listen",
    "Metrics",
    "MetricsApi",
    "Outcome",
    "RouteService",
    "SipParseError",
    "SipRequest",
    "SipServer",
    "TrustedSources",
    "block_answer",
    "block_kind",
    "contact_params",
    "contact_uri",
    "contacts",
    "error_answer",
    "frame",
    "openapi_schema",
    "parse_listen",
    "parse_request",
    "q_values",
    "reason_header",
    "response",
    "route_items",
    "rtjson",
    "rtjson_blocked",
    "run",
    "start_http",
    "start_sip",
]
