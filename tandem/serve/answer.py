"""What a routing decision says to a SIP proxy: a ``302 Moved Temporarily`` whose Contacts
are the routes in order, or the blocked code with the reason in a ``Reason`` header.

The redirect server, the HTTP API (``format=rtjson``, ``format=sip``) and the Kamailio
module answer alike, from these functions:

* :func:`contacts`: one Contact per route, in order: ``<sip:NUMBER@HOST>`` where NUMBER
  is the E.164 number routed (digits) and HOST the carrier's outbound trunk (the host
  part of a ``sip:`` trunk, else the trunk as written); an on-net route's trunk is the
  SIP URI the number lookup gave and is used as is. Parameters: ``q`` (descending, RFC
  3261 20.10), ``carrier``, ``rate`` (buy rate per minute, a decimal string) and
  ``decision`` (the decision id, also in the log line).
* :func:`block_answer`: the SIP code of a blocked decision, matched to why it is blocked
  (:data:`BLOCK_CODES`), and a ``Reason`` header (RFC 3326) carrying the reason text.
* :func:`redirect_text` / :func:`refusal_text`: the same answers as text, the SIP status
  line's code and phrase then the header lines (the HTTP API's ``format=sip``: a proxy
  copies them into its own reply without parsing anything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tandem.lcr.router import ON_NET
from tandem.money import format_money, to_scaled

if TYPE_CHECKING:
    from tandem.calls import CallDecision
    from tandem.lcr.router import Decision

__all__ = [
    "BLOCK_CODES",
    "PHRASES",
    "BlockAnswer",
    "RedirectTexts",
    "block_answer",
    "block_kind",
    "contact_params",
    "contact_uri",
    "contacts",
    "error_answer",
    "q_values",
    "reason_header",
    "redirect_text",
    "refusal_text",
    "route_items",
]

#: SIP reason phrases of the codes Tandem answers with.
PHRASES: dict[int, str] = {
    200: "OK",
    302: "Moved Temporarily",
    403: "Forbidden",
    404: "Not Found",
    484: "Address Incomplete",
    500: "Server Internal Error",
    503: "Service Unavailable",
}

#: Why a call is blocked -> the SIP code answered. ``kind`` is also the ``reason`` label of
#: the ``tandem_blocks_total`` metric.
BLOCK_CODES: dict[str, int] = {
    "plan": 403,  # the customer's plan blocks the destination prefix
    "fraud": 403,  # a fraud rule blocked the call
    "credit": 403,  # the customer's credit limit is reached
    "unknown_customer": 403,  # no customer of that name / no trunk for the source IP
    "no_rate": 404,  # the customer has no sell rate for the number
    "no_prefix": 404,  # no carrier (or customer) prefix covers the number
    "bad_number": 484,  # the number is malformed or not E.164 after translation
    "no_carrier": 503,  # carriers cover it, every one was dropped (margin, capacity...)
    "table_stale": 503,  # the routing table is not valid at the call's instant
    "error": 500,  # an unexpected failure (logged; never expected)
}

#: Reason-text beginnings of the router's and the lifecycle's blocked decisions.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("blocked by fraud rule", "fraud"),
    ("blocked by the credit limit", "credit"),
    ("destination prefix ", "plan"),
    ("the routing table is valid", "table_stale"),
    ("no carrier may take", "no_carrier"),
    ("no carrier has a prefix", "no_prefix"),
    ("no carrier or customer prefix", "no_prefix"),
)


@dataclass(frozen=True, slots=True)
class BlockAnswer:
    """A blocked call's SIP answer: code, reason phrase, the block kind and the reason."""

    code: int
    phrase: str
    kind: str
    reason: str

    @property
    def header(self) -> tuple[str, str]:
        """The ``Reason`` header field (RFC 3326) as ``(name, value)``."""
        return ("Reason", reason_header(self.code, self.reason))


def block_kind(decision: Decision | CallDecision) -> str:
    """Why ``decision`` is blocked, as a key of :data:`BLOCK_CODES`."""
    reason = decision.reason
    for start, kind in _PREFIXES:
        if reason.startswith(start):
            return kind
    if " has no sell rate for " in reason:
        return "no_rate"
    if "blocked by the plan" in reason:
        return "plan"
    return "fraud" if getattr(decision, "verdicts", ()) else "no_carrier"


def block_answer(decision: Decision | CallDecision) -> BlockAnswer:
    """The SIP answer of a blocked decision (see :data:`BLOCK_CODES`)."""
    kind = block_kind(decision)
    code = BLOCK_CODES[kind]
    return BlockAnswer(code, PHRASES[code], kind, decision.reason)


def error_answer(kind: str, reason: str) -> BlockAnswer:
    """The SIP answer of a call that could not be decided: ``kind`` is ``bad_number``
    (:class:`~tandem.errors.NumberError`), ``unknown_customer``
    (:class:`~tandem.errors.UnknownCustomerError`) or ``error``."""
    code = BLOCK_CODES[kind]
    return BlockAnswer(code, PHRASES[code], kind, reason)


def reason_header(code: int, text: str) -> str:
    """A ``Reason`` header value (RFC 3326): ``SIP ;cause=CODE ;text="TEXT"``, the text
    with quotes and backslashes escaped and line breaks removed."""
    clean = " ".join(text.replace("\\", "\\\\").replace('"', '\\"').split())
    return f'SIP ;cause={code} ;text="{clean}"'


@lru_cache(maxsize=256)
def q_values(n: int) -> tuple[str, ...]:
    """``n`` strictly descending q-values (RFC 3261 20.10, at most 3 decimals), the first
    1.0: ``1 - i/n`` for n <= 1000."""
    if n <= 1:
        return ("1.0",) * n
    out = []
    for i in range(n):
        q = (1000 * (n - i) + n // 2) // n  # thousandths, rounded
        out.append("1.0" if q >= 1000 else f"0.{q:03d}".rstrip("0").ljust(3, "0"))
    return tuple(out)


def contact_uri(number: str, carrier: str, trunk: str) -> str:
    """``sip:NUMBER@HOST`` of a route: HOST is the host (and port) of a ``sip:`` /
    ``sips:`` trunk or the trunk as written; an on-net route's trunk is a whole SIP URI."""
    if carrier == ON_NET and ":" in trunk:
        return trunk
    scheme = "sip"
    host = trunk
    low = trunk.lower()
    if low.startswith("sip:") or low.startswith("sips:"):
        scheme, _, host = trunk.partition(":")
        scheme = scheme.lower()
        host = host.rsplit("@", 1)[-1]
    host = host.split(";", 1)[0].split(">", 1)[0].strip("<> ")
    return f"{scheme}:{number}@{host}"


def _param(value: str) -> str:
    """A Contact parameter value: a token as is, else a quoted string (RFC 3261 25.1)."""
    if value and all(c.isalnum() or c in "-.!%*_+`'~" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_IDENT = re.compile(r"[0-9A-Za-z.!%*_+`'~-]+")
#: (carrier, trunk, rate scaled) -> the pieces of its Contact around the number and q.
_PARTS: dict[tuple[str, str, int], tuple[str, str, str]] = {}


def _parts(carrier: str, trunk: str, rate: int) -> tuple[str, str, str]:
    """``("<sip:", "@HOST>;q=")``-like pieces and ``";carrier=...;rate=...;decision="``."""
    key = (carrier, trunk, rate)
    parts = _PARTS.get(key)
    if parts is None:
        head, tail = contact_uri("\0", carrier, trunk).split("\0", 1)
        parts = (
            f"<{head}",
            f"{tail}>;q=",
            f";carrier={_param(carrier)};rate={format_money(rate)};decision=",
        )
        if len(_PARTS) < 65536:
            _PARTS[key] = parts
    return parts


def route_items(decision: Decision | CallDecision) -> list[tuple[str, str, int]]:
    """``(carrier, trunk, rate scaled)`` of each route of ``decision``, in order: the
    routes' carriers and rates read straight from the compiled table, without building
    :class:`~tandem.lcr.Route` objects (the order and content of ``decision.routes``: a
    property test holds them equal)."""
    raw = decision._raw
    if raw is None or decision.on_net is not None:
        return [(r.carrier, r.trunk, to_scaled(r.rate)) for r in decision.routes]
    # raw = (table, policies, picked, why, dropped, start, examined, ...)
    table, policies, picked = raw[0], raw[1], raw[2]
    entries = picked if picked is not None else table.entries(raw[5], raw[6])
    return [(policies[c].name, policies[c].trunk, rate) for rate, c, _row in entries]


def contacts(decision: Decision | CallDecision, decision_id: str) -> list[str]:
    """One Contact value per route of ``decision``, in order (see the module docstring)."""
    number = decision.normalized
    items = route_items(decision)
    qs = q_values(len(items))
    ident = decision_id if _IDENT.fullmatch(decision_id) else _param(decision_id)
    out = []
    for (carrier, trunk, rate), q in zip(items, qs, strict=True):
        head, tail, params = _parts(carrier, trunk, rate)
        out.append(f"{head}{number}{tail}{q}{params}{ident}")
    return out


def contact_params(value: str) -> dict[str, Any]:
    """The URI and parameters of one Contact value made by :func:`contacts` (for tests and
    for proxies' helpers): ``{"uri": ..., "q": ..., "carrier": ..., ...}``."""
    uri_end = value.index(">")
    out: dict[str, Any] = {"uri": value[1:uri_end]}
    for part in value[uri_end + 1 :].split(";")[1:]:
        name, _, val = part.partition("=")
        if val.startswith('"'):
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[name.strip()] = val
    return out


_REDIRECT = f"302 {PHRASES[302]}\r\n"
#: (carrier, trunk, rate scaled) -> :func:`_parts` with ``Contact: `` before the first.
_LINE_PARTS: dict[tuple[str, str, int], tuple[str, str, str]] = {}


def redirect_text(decision: Decision | CallDecision, decision_id: str) -> str:
    """A routed call's answer as text: ``302 Moved Temporarily`` and one ``Contact:`` line
    per route (the values of :func:`contacts`), each line ending in CRLF. (A server keeps
    the text of a plain least-cost decision per route span: :class:`RedirectTexts`.)"""
    number = decision.normalized
    end = (decision_id if _IDENT.fullmatch(decision_id) else _param(decision_id)) + "\r\n"
    items = route_items(decision)
    qs = q_values(len(items))
    lines = [_REDIRECT]
    for item, q in zip(items, qs, strict=True):
        parts = _LINE_PARTS.get(item)
        if parts is None:
            head, tail, params = _parts(*item)
            parts = ("Contact: " + head, tail, params)
            if len(_LINE_PARTS) < 65536:
                _LINE_PARTS[item] = parts
        lines.append(parts[0] + number + parts[1] + q + parts[2] + end)
    return "".join(lines)


#: Route spans :class:`RedirectTexts` keeps at most (then it starts again, empty).
MAX_TEMPLATES = 65_536


class RedirectTexts:
    """:func:`redirect_text` with the text of each route span kept as a template: a plain
    least-cost decision's routes are the table's route entries ``a:b`` (the candidates
    the decision lands on), so its text differs from another decision's on the same span
    only by the number and the decision id. The first decision on a span renders its
    lines from the table's route arrays with placeholders (:func:`_template`); the next
    ones fill the template in (one ``%`` of a tuple). The decision itself is made on every request.

    Each template holds the table and the carrier policies it was rendered from and is
    used only for those very objects; the owner also empties the cache (:meth:`clear`)
    on every table swap and routing-config reload. At most :data:`MAX_TEMPLATES` spans
    are kept (then the cache is emptied and fills again). A decision of any other shape
    (carriers picked apart by the plan, on-net) is rendered by :func:`redirect_text`. A
    property test holds the two to the same text."""

    __slots__ = ("_spans",)

    def __init__(self) -> None:
        #: (a, b) -> (table, policies, template, the number of routes)
        self._spans: dict[tuple[int, int], tuple[Any, Any, str, int]] = {}

    def __len__(self) -> int:
        return len(self._spans)

    def clear(self) -> None:
        """Forget every template (a table swap or a config reload: the text may change)."""
        self._spans.clear()

    def text(self, decision: Decision | CallDecision, decision_id: str) -> str:
        """:func:`redirect_text` ``(decision, decision_id)``."""
        raw = decision._raw
        if raw is None or raw[2] is not None or decision.on_net is not None:
            return redirect_text(decision, decision_id)
        # raw = (table, policies, picked, why, dropped, start, examined, ...)
        table, policies, a, b = raw[0], raw[1], raw[5], raw[6]
        spans = self._spans
        found = spans.get((a, b))
        if found is None or found[0] is not table or found[1] is not policies:
            template = _template(table, policies, a, b)
            if len(spans) >= MAX_TEMPLATES:
                spans.clear()
            found = spans[(a, b)] = (table, policies, template, b - a)
        ident = decision_id if _IDENT.fullmatch(decision_id) else _param(decision_id)
        return found[2] % ((decision.normalized, ident) * found[3])


def _template(table: Any, policies: Any, a: int, b: int) -> str:
    """The text of route entries ``a:b`` with ``%s`` for each number and decision id."""
    rates = table.route_rate[a:b].tolist()
    carriers = table.route_carrier[a:b].tolist()
    lines = [_REDIRECT]
    for c, rate, q in zip(carriers, rates, q_values(len(rates)), strict=True):
        policy = policies[c]
        head, tail, params = (
            piece.replace("%", "%%") for piece in _parts(policy.name, policy.trunk, rate)
        )
        lines.append("Contact: " + head + "%s" + tail + q + params + "%s\r\n")
    return "".join(lines)


def refusal_text(block: BlockAnswer) -> str:
    """A refused call's answer as text: ``CODE PHRASE`` and its ``Reason:`` line, each line
    ending in CRLF."""
    return f"{block.code} {block.phrase}\r\nReason: {reason_header(block.code, block.reason)}\r\n"
