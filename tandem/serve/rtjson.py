"""A decision in Kamailio's ``rtjson`` routing format (the ``rtjson`` module's
``rtjson_init_routes()`` reads it; ``http_async_client`` fetches it from ``tandem serve
http``, ``GET /route?...&format=rtjson``).

::

    {"version": "1.0", "routing": "serial",
     "routes": [{"uri": "sip:442079460000@gw1.atlas.example.net",
                 "dst_uri": "sip:gw1.atlas.example.net",
                 "headers": {"extra": "X-Tandem-Carrier: atlas\\r\\nX-Tandem-Decision: 1f-2\\r\\n"},
                 "fr_timer": 2000, "fr_inv_timer": 60000}, ...]}

``routing`` is ``serial``: Kamailio tries the routes in order (``rtjson_next_route()`` in
``failure_route`` on the carriers' failover codes). ``uri`` is the route's Contact URI
(:func:`tandem.serve.answer.contact_uri`), ``dst_uri`` the carrier's trunk as a SIP URI,
``fr_timer`` / ``fr_inv_timer`` the milliseconds to wait for a provisional / final answer
before the next route. A blocked call has no routes and says why: ``"blocked": {"code":
403, "reason": "..."}`` (the code of :data:`tandem.serve.answer.BLOCK_CODES`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tandem.lcr.router import ON_NET
from tandem.serve.answer import BlockAnswer, block_answer, contact_uri, route_items

if TYPE_CHECKING:
    from tandem.calls import CallDecision
    from tandem.lcr.router import Decision

__all__ = ["FR_INV_TIMER_MS", "FR_TIMER_MS", "rtjson", "rtjson_blocked", "rtjson_text"]

#: Milliseconds to wait for a provisional answer from a carrier before the next route.
FR_TIMER_MS = 2000
#: Milliseconds to wait for the final answer of a carrier (after a provisional one).
FR_INV_TIMER_MS = 60000


def rtjson(decision: Decision | CallDecision, decision_id: str) -> dict[str, Any]:
    """The ``rtjson`` object of a decision (see the module docstring)."""
    if decision.blocked:
        return rtjson_blocked(block_answer(decision))
    number = decision.normalized
    routes = [
        _route_dict(contact_uri(number, carrier, trunk), carrier, decision_id)
        for carrier, trunk, _rate in route_items(decision)
    ]
    return {"version": "1.0", "routing": "serial", "routes": routes}


def rtjson_blocked(block: BlockAnswer) -> dict[str, Any]:
    """The ``rtjson`` object of a call that gets no route: no routes, and the SIP code and
    reason to answer with."""
    return {
        "version": "1.0",
        "routing": "serial",
        "routes": [],
        "blocked": {"code": block.code, "kind": block.kind, "reason": block.reason},
    }


_HEAD = '{"version": "1.0", "routing": "serial", "routes": ['
_TAIL = "]}"
#: (carrier, trunk) -> the three pieces of its route's JSON text around the number and
#: the decision id (a route's text is ``a + NUMBER + b + DECISION_ID + c``)
_PIECES: dict[tuple[str, str], tuple[str, str, str] | None] = {}
_SAFE = frozenset("0123456789abcdefABCDEF-+*#")


def _pieces(carrier: str, trunk: str) -> tuple[str, str, str] | None:
    """The JSON text of a route to ``carrier`` split around its two varying parts (None for
    an on-net route, whose URI is the trunk itself: built the slow way)."""
    key = (carrier, trunk)
    found = _PIECES.get(key, _PIECES)
    if found is not _PIECES:
        return found  # type: ignore[return-value]
    out: tuple[str, str, str] | None = None
    if not (carrier == ON_NET and ":" in trunk):
        marker = "\x00"
        uri = contact_uri(marker, carrier, trunk)
        scheme, host = uri.split(marker + "@", 1)
        route = _route_dict(f"{scheme}{marker}@{host}", carrier, marker)
        split = json.dumps(route).split(json.dumps(marker)[1:-1])
        if len(split) == 3:  # else (no host: the number twice) built the slow way
            out = (split[0], split[1], split[2])
    if len(_PIECES) < 4096:
        _PIECES[key] = out
    return out


def _route_dict(uri: str, carrier: str, decision_id: str) -> dict[str, Any]:
    host = uri.partition("@")[2]
    scheme = uri.partition(":")[0]
    return {
        "uri": uri,
        "dst_uri": f"{scheme}:{host}" if host else uri,
        "headers": {
            "extra": f"X-Tandem-Carrier: {carrier}\r\nX-Tandem-Decision: {decision_id}\r\n"
        },
        "fr_timer": FR_TIMER_MS,
        "fr_inv_timer": FR_INV_TIMER_MS,
    }


def rtjson_text(decision: Decision | CallDecision, decision_id: str) -> str:
    """``json.dumps(rtjson(decision, decision_id))``, built from each carrier's route text
    cached once (the number and the decision id are the only parts of a route that vary):
    the HTTP API's answer to every ``?format=rtjson`` request."""
    if decision.blocked:
        return json.dumps(rtjson(decision, decision_id))
    number = decision.normalized
    if not _SAFE.issuperset(number) or not _SAFE.issuperset(decision_id):
        return json.dumps(rtjson(decision, decision_id))
    parts = []
    for carrier, trunk, _rate in route_items(decision):
        pieces = _pieces(carrier, trunk)
        if pieces is None:
            parts.append(json.dumps(_route_dict(contact_uri(number, carrier, trunk), carrier,
                                                decision_id)))  # fmt: skip
        else:
            a, b, c = pieces
            parts.append(a + number + b + decision_id + c)
    return _HEAD + ", ".join(parts) + _TAIL
