"""What a SIP element is told about a decision: one mapping for every way Tandem is served
(Kamailio in-process, the SIP redirect server, the HTTP route API).

* A routed call: ``302 Moved Temporarily`` with one ``Contact`` per route, in order, each
  ``sip:NUMBER@HOST`` of the carrier's trunk with a q-value that falls with the rank
  (RFC 3261 section 20.10: the highest q is tried first) and the carrier, its rate and the
  decision id as Contact parameters.
* A refused call: the code of :func:`refusal_code` with the reason in a ``Reason`` header
  (RFC 3326: ``Reason: SIP ;cause=403 ;text="..."``).
* For a proxy that forks and fails over itself: :func:`rtjson`, the routing document of
  Kamailio's ``rtjson`` module (``version``, ``routing``, ``routes[]`` with ``uri``,
  ``dst_uri``, ``headers``, ``fr_timer``).

Pure functions over a decision: no sockets, no clock.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tandem.errors import NumberError, UnknownCustomerError
from tandem.lcr.router import Decision, Route
from tandem.money import format_money

__all__ = [
    "PHRASES",
    "SipAnswer",
    "answer",
    "contact_uri",
    "error_answer",
    "reason_header",
    "refusal_code",
    "rtjson",
]

#: Reason phrases of the codes Tandem answers with (RFC 3261 section 21).
PHRASES = {
    302: "Moved Temporarily",
    403: "Forbidden",
    404: "Not Found",
    500: "Server Internal Error",
    503: "Service Unavailable",
}


class SipAnswer(NamedTuple):
    """A final response to an INVITE: ``code``, ``phrase``, the refusal ``reason`` ("" for a
    302) and the ``contacts`` (full Contact header values, best first; empty unless 302)."""

    code: int
    phrase: str
    reason: str
    contacts: tuple[str, ...]

    def headers(self) -> tuple[str, ...]:
        """The header lines to add to the response (without CRLF): the Contacts of a 302,
        or the ``Reason`` header of a refusal."""
        if self.code == 302:
            return tuple(f"Contact: {c}" for c in self.contacts)
        return (f"Reason: {reason_header(self.code, self.reason)}",)


def refusal_code(decision: Decision) -> int:
    """The SIP code of a call the decision gives no route: 503 when carriers exist but none
    may take it now (capacity, margin) or the table is not valid at the call's instant (a
    proxy may retry elsewhere); 404 when no carrier or sell rate covers the number; 403 for
    a refusal by policy (a blocked prefix, a fraud rule, the credit limit)."""
    reason = decision.reason
    if reason.startswith(("no carrier may take", "the routing table is valid")):
        return 503
    if reason.startswith(("no carrier has a prefix", "no carrier or customer prefix")):
        return 404
    if reason.startswith("customer ") and " has no sell rate " in reason:
        return 404
    return 403


def error_answer(exc: Exception) -> SipAnswer:
    """The answer to a call the router refused with an error: an unknown customer or source
    IP (403), a number that is not E.164 after translation (404), anything else (500)."""
    if isinstance(exc, UnknownCustomerError):
        code = 403
    elif isinstance(exc, NumberError):
        code = 404
    else:
        code = 500
    return SipAnswer(code, PHRASES[code], str(exc), ())


def contact_uri(trunk: str, number: str) -> str:
    """``sip:NUMBER@HOST`` of a carrier's trunk: ``sip:gw.example.net:5060;transport=tcp``
    gives ``sip:NUMBER@gw.example.net:5060;transport=tcp``; a trunk without a scheme is a
    host; a user part in the trunk is replaced by the number."""
    scheme, sep, rest = trunk.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips") or rest.startswith("//"):
        scheme, rest = "sip", trunk
    rest = rest.split("@", 1)[-1]
    return f"{scheme.lower()}:{number}@{rest}"


def _q(rank: int, count: int) -> str:
    """The q-value of the route at ``rank`` (0 first) of ``count``: 1.0 for the first, then
    falling evenly, three decimals (RFC 3261 ``qvalue``), strictly decreasing."""
    if rank == 0:
        return "1.0"
    thousandths = (1000 * (count - rank) + count // 2) // count
    return f"0.{max(thousandths, 1):03d}"


def _number(decision: Decision, plus: bool) -> str:
    digits = decision.routing_number or decision.normalized
    return f"+{digits}" if plus else digits


def answer(decision: Any, *, decision_id: str, plus: bool = False) -> SipAnswer:
    """The final response for ``decision`` (a :class:`~tandem.lcr.Decision` or the
    lifecycle's :class:`~tandem.calls.CallDecision`): a 302 with one Contact per route, or
    the refusal. The number in each Contact is the routing number of a ported number,
    otherwise the normalised E.164 digits (with ``+`` when ``plus``)."""
    routes: tuple[Route, ...] = decision.routes
    if decision.blocked or not routes:
        code = refusal_code(decision)
        return SipAnswer(code, PHRASES[code], decision.reason or "no route", ())
    number = _number(decision, plus)
    count = len(routes)
    contacts = tuple(
        f"<{contact_uri(r.trunk, number)}>;q={_q(i, count)};carrier={_param(r.carrier)}"
        f";rate={format_money(r.rate)};decision={_param(decision_id)}"
        for i, r in enumerate(routes)
    )
    return SipAnswer(302, PHRASES[302], "", contacts)


def rtjson(
    decision: Any, *, plus: bool = False, fr_timer: int | None = None, headers: str = ""
) -> dict[str, Any]:
    """The routes as Kamailio's rtjson routing document, serial forking in the decision's
    order: per route ``uri`` (``sip:NUMBER@HOST`` of the trunk), ``dst_uri`` (the trunk),
    ``headers`` (``extra``: ``headers`` plus ``X-Tandem-Carrier``) and ``fr_timer`` (ms,
    when given)."""
    number = _number(decision, plus)
    routes = []
    for r in decision.routes:
        uri = contact_uri(r.trunk, number)
        scheme, _, rest = uri.partition(":")
        route: dict[str, Any] = {
            "uri": uri,
            "dst_uri": f"{scheme}:{rest.split('@', 1)[1]}",
            "headers": {"extra": f"{headers}X-Tandem-Carrier: {r.carrier}\r\n"},
        }
        if fr_timer is not None:
            route["fr_timer"] = fr_timer
        routes.append(route)
    return {"version": "1.0", "routing": "serial", "routes": routes}


def reason_header(code: int, text: str) -> str:
    """An RFC 3326 Reason header value: ``SIP ;cause=CODE ;text="TEXT"`` (quotes and
    backslashes escaped, control characters dropped)."""
    clean = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    clean = clean.replace("\\", "\\\\").replace('"', '\\"')
    return f'SIP ;cause={code} ;text="{clean}"'


def _param(value: str) -> str:
    """A Contact parameter value: a token as is, anything else quoted."""
    if value and all(ch.isalnum() or ch in "-.!%*_+`'~" for ch in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
