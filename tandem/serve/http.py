"""The HTTP route API (``tandem serve http``): HTTP/1.1 on asyncio with httptools' parser.

==============================  ==============================================================
``GET /route``                  ``number``, ``customer`` or ``source_ip`` (or both), ``at``
                                (an instant, default now), ``call_id``, ``format`` (``json``,
                                the default: the decision object of ``tandem route --json``;
                                ``rtjson``: Kamailio's routing document; ``sip``: the SIP
                                answer as text, its code and phrase then its header lines)
``POST /calls/{call_id}/end``   the call's end for the lifecycle: ``at`` (default now),
                                ``duration`` (billed seconds), ``carrier`` (who answered)
``GET /healthz``                200 while the table in use is valid now, else 503
``GET /metrics``                Prometheus text
``GET /openapi.json``           the OpenAPI 3.1 schema of all of the above
==============================  ==============================================================

Every error is a JSON object ``{"error": KIND, "reason": TEXT}`` with a 4xx status:
400 for a bad or unknown parameter, 401 without the bearer token, 404 for an unknown
path, 405 for a wrong method, 413 for a body above 64 KiB, 422 for a call that cannot be
decided (``bad_number``, ``unknown_customer``: with the ``sip_code`` a proxy answers).
A decided call (routed or blocked) is a 200: ``blocked`` and ``reason`` say the rest.
Never a 500 and never a traceback: an unexpected failure is logged and answered 503.

The request a proxy sends on every call, ``GET /route?...`` whole in one read, is answered
straight from its bytes (:class:`_HttpProtocol`'s fast path, :meth:`HttpApi.route`, its
query read with one match when it has Kamailio's shape); every other request goes through
httptools. Both give the same bytes (a property test). ``format=sip`` texts are kept per
route span (:class:`~tandem.serve.answer.RedirectTexts`, emptied on every table swap and
config reload).

:class:`HttpApi` is the whole logic (a request in, a response out); the protocol class
only moves bytes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httptools

from tandem.errors import InstantError
from tandem.instant import format_instant, parse_instant
from tandem.serve.answer import refusal_text
from tandem.serve.openapi import openapi_schema
from tandem.serve.rtjson import rtjson_blocked, rtjson_text
from tandem.serve.service import LOG, RouteService

__all__ = ["HttpApi", "HttpResponse", "MetricsApi", "query_pairs", "start_http"]

MAX_BODY = 65_536
_MAX_FIELDS = 16
_ROUTE_PARAMS = frozenset(("number", "customer", "source_ip", "at", "call_id", "format"))
_END_PARAMS = frozenset(("at", "duration", "carrier"))
_STATUS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}
JSON_TYPE = "application/json"
SIP_TYPE = "text/plain; charset=utf-8"
_FORMATS = ("json", "rtjson", "sip")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: The query string proxies send on every call (Kamailio's http302.cfg):
#: ``format=F&number=N&source_ip=IP`` (or ``customer=NAME``), the number's ``+`` escaped or
#: absent, every value plain (no escape, no ``+``: nothing to decode). :meth:`HttpApi.route`
#: reads it with this one match into what :meth:`HttpApi._params` gives; any other query
#: goes to the general parser (a property test holds the two equal).
_COMMON_QUERY = re.compile(
    r"format=(json|rtjson|sip)&number=(%2[Bb])?([0-9]{1,32})"
    r"&(source_ip|customer)=([0-9A-Za-z_.:\-]{1,128})"
)

#: (status, content type, body, extra header lines)
HttpResponse = tuple[int, str, bytes, tuple[str, ...]]


class _BadRequest(Exception):
    def __init__(self, status: int, kind: str, reason: str, extra: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason, self.extra = status, kind, reason, extra


def _error(status: int, kind: str, reason: str, extra: tuple[str, ...] = ()) -> HttpResponse:
    body = json.dumps({"error": kind, "reason": reason}).encode()
    return status, JSON_TYPE, body, extra


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of a query string: ``urllib.parse.parse_qsl(query,
    keep_blank_values=True, errors="strict", max_num_fields=16)``, with each piece decoded
    only when it holds a ``%`` or a ``+`` (the common request decodes one: a number's
    ``%2B``, read without unquote). Raises
    ValueError past 16 fields, UnicodeDecodeError for an escape that is not UTF-8."""
    if not query:
        return []
    if query.count("&") >= _MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    out = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="strict")
        if "%" in value or "+" in value:
            rest = value[3:]
            if value[:3] in ("%2B", "%2b") and "%" not in rest and "+" not in rest:
                value = "+" + rest  # a number's escaped "+", the one escape of most requests
            elif value[0] == "+" and "%" not in value and "+" not in value[1:]:
                value = " " + value[1:]  # a number's "+" left as is (Kamailio's s.escape.param)
            else:
                value = unquote(value.replace("+", " "), errors="strict")
        out.append((name, value))
    return out


class HttpApi:
    """The API's requests and answers (see the module docstring). ``token``: the bearer
    token every request but ``/healthz`` must carry (None: none needed)."""

    def __init__(
        self,
        service: RouteService,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.metrics = service.metrics
        self.token = token
        self.clock = clock
        self._schema = json.dumps(openapi_schema()).encode()

    #: Whether the protocol may answer ``GET /route?...`` through :meth:`route` (its fast
    #: path); False for an API without that route.
    fast_route = True

    def handle(
        self, method: str, target: str, authorization: str | None, body: bytes = b""
    ) -> HttpResponse:
        """The response to one request (``target``: path and query, as received)."""
        try:
            answer = self._handle(method, target, authorization, body)
        except Exception as exc:  # noqa: BLE001 - never a 500 with a traceback
            answer = _failure(exc, method, target)
        requests = self.metrics.requests
        key = str(answer[0])
        requests[key] = requests.get(key, 0) + 1
        return answer

    def route(self, query: str, authorization: str | None) -> HttpResponse:
        """``handle("GET", "/route?" + query, authorization)``, without the dispatch: the
        request a proxy sends on every call (the protocol's fast path; a property test
        holds the two equal)."""
        try:
            if self.token is not None:
                self._authorize(authorization)
            found = _COMMON_QUERY.fullmatch(query)
            if found is not None:  # the query Kamailio sends: read in one match
                fmt, plus, digits, who, value = found.groups()
                number = "+" + digits if plus else digits
                if who == "source_ip":
                    answer = self._answer(number, None, value, fmt, None, None)
                else:
                    answer = self._answer(number, value, None, fmt, None, None)
            else:
                answer = self._route(self._params(query, _ROUTE_PARAMS))
        except Exception as exc:  # noqa: BLE001 - never a 500 with a traceback
            answer = _failure(exc, "GET", "/route?" + query)
        requests = self.metrics.requests
        key = str(answer[0])
        requests[key] = requests.get(key, 0) + 1
        return answer

    def _handle(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> HttpResponse:
        path, _, query = target.partition("?")
        if "%" in path:
            path = unquote(path, errors="strict")
        if path == "/healthz":
            self._method(method, "GET")
            return self._healthz()
        if self.token is not None:
            self._authorize(authorization)
        if path == "/route":
            self._method(method, "GET")
            return self._route(self._params(query, _ROUTE_PARAMS))
        if path.startswith("/calls/") and path.endswith("/end"):
            call_id = path[len("/calls/") : -len("/end")]
            if not call_id or "/" in call_id:
                raise _BadRequest(404, "not_found", f"no such path {path!r}")
            self._method(method, "POST")
            if len(body) > MAX_BODY:
                raise _BadRequest(413, "too_large", f"a body above {MAX_BODY} bytes")
            return self._end(call_id, self._params(query, _END_PARAMS))
        if path == "/metrics":
            self._method(method, "GET")
            return 200, METRICS_TYPE, self.metrics.render().encode(), ()
        if path == "/openapi.json":
            self._method(method, "GET")
            return 200, JSON_TYPE, self._schema, ()
        raise _BadRequest(404, "not_found", f"no such path {path[:100]!r}: see /openapi.json")

    # -- pieces ---------------------------------------------------------------------------
    @staticmethod
    def _method(method: str, allowed: str) -> None:
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            raise _BadRequest(
                405, "method_not_allowed", f"{method} is not allowed here: use {allowed}",
                (f"Allow: {allowed}",),
            )  # fmt: skip

    def _authorize(self, authorization: str | None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        token = self.token
        assert token is not None
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), token.encode()
        ):
            raise _BadRequest(
                401, "unauthorized", "give the bearer token: Authorization: Bearer TOKEN",
                ('WWW-Authenticate: Bearer realm="tandem"',),
            )  # fmt: skip

    @staticmethod
    def _params(query: str, allowed: frozenset[str]) -> dict[str, str]:
        try:
            pairs = query_pairs(query)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _BadRequest(400, "bad_request", f"unreadable query string: {exc}") from None
        out: dict[str, str] = {}
        for name, value in pairs:
            if name not in allowed:
                raise _BadRequest(
                    400, "bad_request",
                    f"unknown parameter {name[:40]!r}: expected {', '.join(sorted(allowed))}",
                )  # fmt: skip
            if name in out:
                raise _BadRequest(400, "bad_request", f"parameter {name!r} given twice")
            if "\x00" in value:
                raise _BadRequest(400, "bad_request", f"parameter {name!r} holds a NUL")
            out[name] = value
        return out

    def _at(self, params: dict[str, str]) -> int:
        text = params.get("at")
        if text is None or text == "":
            return int(self.clock())
        try:
            return parse_instant(text)
        except InstantError as exc:
            raise _BadRequest(400, "bad_request", f"at: {exc}") from None

    def _route(self, params: dict[str, str]) -> HttpResponse:
        number = params.get("number", "")
        if not number:
            raise _BadRequest(400, "bad_request", "give the number to route: ?number=")
        customer = params.get("customer") or None
        source_ip = params.get("source_ip") or None
        if customer is None and source_ip is None:
            raise _BadRequest(
                400, "bad_request", "say who is calling: customer=NAME or source_ip=IP"
            )
        fmt = params.get("format", "json")
        if fmt not in _FORMATS:
            raise _BadRequest(400, "bad_request", f"format {fmt[:20]!r}: json, rtjson or sip")
        return self._answer(
            number, customer, source_ip, fmt, params.get("at"), params.get("call_id") or None
        )

    def _answer(
        self,
        number: str,
        customer: str | None,
        source_ip: str | None,
        fmt: str,
        at_text: str | None,
        call_id: str | None,
    ) -> HttpResponse:
        """The answer to ``GET /route`` once its parameters are read and checked (``number``
        not empty, ``customer`` or ``source_ip`` given, ``fmt`` one of the formats)."""
        if at_text is None or at_text == "":
            at = int(self.clock())
        else:
            try:
                at = parse_instant(at_text)
            except InstantError as exc:
                raise _BadRequest(400, "bad_request", f"at: {exc}") from None
        outcome = self.service.decide(
            number, customer=customer, source_ip=source_ip, at=at, call_id=call_id
        )
        decision = outcome.decision
        if fmt == "sip":
            # the SIP answer itself: a proxy copies its lines into its reply (no JSON)
            block = outcome.block
            if block is not None:
                status = 200 if decision is not None else 422
                return status, SIP_TYPE, refusal_text(block).encode(), ()
            assert decision is not None
            text = self.service.sip_texts.text(decision, outcome.decision_id)
            return 200, SIP_TYPE, text.encode(), ()
        if fmt == "rtjson":
            if decision is None:
                assert outcome.block is not None
                return 422, JSON_TYPE, json.dumps(rtjson_blocked(outcome.block)).encode(), ()
            return 200, JSON_TYPE, rtjson_text(decision, outcome.decision_id).encode(), ()
        if decision is None:
            block = outcome.block
            assert block is not None
            body = json.dumps(
                {"error": block.kind, "reason": block.reason, "sip_code": block.code}
            ).encode()
            return 422, JSON_TYPE, body, ()
        return (
            200,
            JSON_TYPE,
            outcome.json().encode(),
            (f"X-Tandem-Decision: {outcome.decision_id}",),
        )

    def _end(self, call_id: str, params: dict[str, str]) -> HttpResponse:
        calls = self.service.calls
        if calls is None:  # pragma: no cover - the HTTP server always runs the lifecycle
            raise _BadRequest(404, "not_found", "this server keeps no calls")
        at = self._at(params)
        duration_text = params.get("duration")
        duration = None
        if duration_text is not None and duration_text != "":
            if not duration_text.isdigit() or len(duration_text) > 9:
                raise _BadRequest(
                    400, "bad_request", f"duration {duration_text[:20]!r}: whole seconds >= 0"
                )
            duration = int(duration_text)
        carrier = params.get("carrier") or None
        call = calls.get(call_id)
        if call is not None and carrier is not None:
            start = at - duration if duration is not None else at
            call.answered(carrier, at=start)
        end = calls.end(call_id, at=at, duration=duration)
        self.metrics.ends += 1
        if end is None:
            out: dict[str, Any] = {"call_id": call_id, "known": False}
        else:
            out = {
                "call_id": call_id,
                "known": True,
                "first": end.first,
                "carrier": end.carrier,
                "duration": end.duration,
                "billed": end.billed,
                "cost": None if end.cost is None else _money(end.cost),
                "released": end.released,
            }
        return 200, JSON_TYPE, json.dumps(out).encode(), ()

    def _healthz(self) -> HttpResponse:
        table = self.service.router.table
        now = int(self.clock())
        valid = table.valid_from <= now < table.valid_until
        body = {
            "status": "ok" if valid else "stale",
            "table": {
                "path": str(self.service.table_path),
                "prefixes": table.prefix_count,
                "carriers": len(table.carriers),
                "customers": len(table.customers),
                "validity": table.validity_text(),
                "loaded": format_instant(int(self.service.loaded_at)),
            },
        }
        return (200 if valid else 503), JSON_TYPE, json.dumps(body).encode(), ()


def _failure(exc: Exception, method: str, target: str) -> HttpResponse:
    """The answer to a request that raised ``exc``: its 4xx, else a 503 (logged)."""
    if isinstance(exc, _BadRequest):
        return _error(exc.status, exc.kind, exc.reason, exc.extra)
    LOG.error("HTTP %s %s failed", method, target[:200], exc_info=exc)
    return _error(503, "unavailable", f"the request failed: {type(exc).__name__}")


class MetricsApi(HttpApi):
    """Only ``/metrics`` and ``/healthz`` (the SIP server's ``--metrics`` listener)."""

    fast_route = False

    def _handle(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> HttpResponse:
        path = target.partition("?")[0]
        if path in ("/metrics", "/healthz"):
            return super()._handle(method, path, authorization, body)
        raise _BadRequest(404, "not_found", f"no such path {path[:100]!r}: /metrics, /healthz")


def _money(scaled: int) -> str:
    from tandem.money import format_money

    return format_money(scaled)


def _head(
    status: int, content_type: str, length: int, extra: tuple[str, ...], close: bool
) -> bytes:
    if not extra:
        whole = _WHOLE_HEADS.get((status, content_type, close, length))
        if whole is not None:
            return whole
        key = (status, content_type, close)
        pieces = _HEADS.get(key)
        if pieces is None:
            before, after = _head_text(status, content_type, "\0", (), close).split("\0")
            pieces = _HEADS[key] = (before.encode(), after.encode())
        whole = pieces[0] + str(length).encode() + pieces[1]
        if len(_WHOLE_HEADS) >= 4096:
            _WHOLE_HEADS.clear()
        _WHOLE_HEADS[(status, content_type, close, length)] = whole
        return whole
    return _head_text(status, content_type, str(length), extra, close).encode()


#: (status, content type, close) -> the response head before and after its length
_HEADS: dict[tuple[int, str, bool], tuple[bytes, bytes]] = {}
#: (status, content type, close, length) -> the whole response head (at most 4,096 kept)
_WHOLE_HEADS: dict[tuple[int, str, bool, int], bytes] = {}


def _head_text(
    status: int, content_type: str, length: str, extra: tuple[str, ...], close: bool
) -> str:
    lines = [f"HTTP/1.1 {status} {_STATUS.get(status, 'Error')}"]
    lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {length}")
    lines.extend(extra)
    if close:
        lines.append("Connection: close")
    return "\r\n".join(lines) + "\r\n\r\n"


#: The fast path's requests: ``GET /route?QUERY HTTP/1.1`` whole in one read, nothing after
#: its blank line, a query of plain URL characters, header lines ``NAME: VALUE`` of token
#: names and visible ASCII values (no trailing blanks, no folding). Anything else goes to
#: httptools. Its headers still must not name a connection, a body or an upgrade
#: (:data:`_FAST_SKIP`).
_FAST_ROUTE = re.compile(
    rb"GET /route\?([!$&'()*+,\-./0-9:;=?@A-Z_a-z~%]*) HTTP/1\.1\r\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[ \t]*[!-~]+(?:[ \t]+[!-~]+)*\r\n)*)\r\n"
)
#: The query of :data:`_FAST_ROUTE`, alone (for a request whose header lines are known).
_FAST_QUERY = re.compile(rb"[!$&'()*+,\-./0-9:;=?@A-Z_a-z~%]*")
#: Words that send a request with headers holding them (names or values, any case) to
#: httptools: what decides keep-alive, a body or an upgrade there.
_FAST_SKIP = (b"connection", b"content-length", b"transfer-encoding", b"upgrade")


class _HttpProtocol(asyncio.Protocol):
    """One connection: httptools parses, :class:`HttpApi` answers, in order (pipelined
    requests included).

    **Fast path.** The request a proxy sends on every call, ``GET /route?...`` over a
    kept-alive HTTP/1.1 connection, arrives whole in one read between two requests; when
    it has the plain shape of :data:`_FAST_ROUTE` it is answered straight from the bytes
    (:meth:`HttpApi.route`), without httptools' callbacks. A proxy sends the same header
    lines on every request: once a request was answered so, the next one whose bytes after
    the query are the very same (its ``HTTP/1.1`` and header lines) needs only its query
    checked. Every other request, a split or pipelined one included, goes through
    httptools; a property test holds both paths to the same bytes written for any input."""

    def __init__(self, api: HttpApi, connections: set[asyncio.Transport]) -> None:
        self.api = api
        self.connections = connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.authorization: bytes | None = None
        self.body: list[bytes] = []
        self.size = 0
        #: httptools holds part of a request (the fast path must wait for the next one)
        self.inside = False
        self.fast = api.fast_route
        #: what follows the query in the last request answered by the fast path (its
        #: " HTTP/1.1" and header lines; b"": none yet) and the bearer token read there
        self.tail = b""
        self.tail_authorization: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self.transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.fast and not self.inside:
            # the same header lines as the last fast-path request of this connection (a
            # proxy sends the same every time): only the query is left to check
            end = data.find(b" HTTP/1.1\r\n", 11)
            if (
                end > 0
                and data[end:] == self.tail
                and data[:11] == b"GET /route?"
                and _FAST_QUERY.fullmatch(data, 11, end) is not None
            ):
                self._answer(data[11:end], self.tail_authorization)
                return
            found = _FAST_ROUTE.fullmatch(data)
            if found is not None and self._route(found.group(1), found.group(2)):
                self.tail = data[found.end(1) :]
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")

    def _fail(self, status: int, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        _s, ctype, body, extra = _error(status, "bad_request", reason)
        transport.write(_head(status, ctype, len(body), extra, True) + body)
        transport.close()

    def _route(self, query: bytes, headers: bytes) -> bool:
        """Answer a fast-path request (see the class docstring); False: httptools must."""
        authorization = None
        if headers:
            low = headers.lower()
            for word in _FAST_SKIP:
                if word in low:
                    return False
            if b"authorization" in low:
                for line in headers.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"authorization":  # the last one, as httptools gives
                        authorization = value.lstrip(b" \t").decode("ascii")
        self.tail_authorization = authorization
        self._answer(query, authorization)
        return True

    def _answer(self, query: bytes, authorization: str | None) -> None:
        """Answer a fast-path request of query ``query``."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        status, ctype, body, extra = self.api.route(query.decode("ascii"), authorization)
        transport.write(_head(status, ctype, len(body), extra, False) + body)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.inside = True
        self.url = b""
        self.authorization = None
        self.body = []
        self.size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 13 and name.lower() == b"authorization":
            self.authorization = value

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= MAX_BODY:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.inside = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        method = self.parser.get_method().decode("ascii", "replace")
        try:
            target = self.url.decode("utf-8")
        except UnicodeDecodeError:
            status, ctype, body, extra = _error(400, "bad_request", "the URL is not UTF-8")
        else:
            auth = self.authorization.decode("latin-1") if self.authorization else None
            payload = b"".join(self.body) if self.size <= MAX_BODY else b"\0" * (MAX_BODY + 1)
            status, ctype, body, extra = self.api.handle(method, target, auth, payload)
        close = not self.parser.should_keep_alive()
        head = _head(status, ctype, len(body), extra, close)
        transport.write(head if method == "HEAD" else head + body)
        if close:
            transport.close()


async def start_http(
    api: HttpApi, host: str, port: int
) -> tuple[list[Any], set[asyncio.Transport], int]:
    """Listen on TCP ``host:port``: ``(closables, connections, port)`` (port 0: a free one)."""
    loop = asyncio.get_running_loop()
    connections: set[asyncio.Transport] = set()
    server = await loop.create_server(
        lambda: _HttpProtocol(api, connections), host, port, reuse_address=True, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    return [server], connections, bound
