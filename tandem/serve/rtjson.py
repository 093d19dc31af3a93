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

from typing import TYPE_CHECKING, Any

from tandem.serve.answer import BlockAnswer, block_answer, contact_uri, route_items

if TYPE_CHECKING:
    from tandem.calls import CallDecision
    from tandem.lcr.router import Decision

__all__ = ["FR_INV_TIMER_MS", "FR_TIMER_MS", "rtjson", "rtjson_blocked"]

#: Milliseconds to wait for a provisional answer from a carrier before the next route.
FR_TIMER_MS = 2000
#: Milliseconds to wait for the final answer of a carrier (after a provisional one).
FR_INV_TIMER_MS = 60000


def rtjson(decision: Decision | CallDecision, decision_id: str) -> dict[str, Any]:
    """The ``rtjson`` object of a decision (see the module docstring)."""
    if decision.blocked:
        return rtjson_blocked(block_answer(decision))
    number = decision.normalized
    routes = []
    for carrier, trunk, _rate in route_items(decision):
        uri = contact_uri(number, carrier, trunk)
        host = uri.partition("@")[2]
        scheme = uri.partition(":")[0]
        routes.append(
            {
                "uri": uri,
                "dst_uri": f"{scheme}:{host}" if host else uri,
                "headers": {
                    "extra": f"X-Tandem-Carrier: {carrier}\r\nX-Tandem-Decision: {decision_id}\r\n"
                },
                "fr_timer": FR_TIMER_MS,
                "fr_inv_timer": FR_INV_TIMER_MS,
            }
        )
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
