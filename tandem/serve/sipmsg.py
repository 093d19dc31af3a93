"""SIP messages (RFC 3261): parse a request, frame a byte stream, build a stateless
response. Pure functions over bytes and values: no sockets, no clock.

What is read (RFC 3261 section 7): the request line (``METHOD Request-URI SIP/2.0``),
header fields in their long or compact forms (section 7.3.3: ``v`` Via, ``f`` From,
``t`` To, ``i`` Call-ID, ``m`` Contact, ``l`` Content-Length, ``c`` Content-Type, ...),
folded header lines (a line starting with a space or a tab continues the previous one,
section 7.3.1), and the body, whose length ``Content-Length`` gives (section 18.3: on a
datagram a shorter body than announced is an error and bytes after it are ignored; on a
stream the header frames the next message). A message that is not a well-formed request
with ``Via``, ``From``, ``To``, ``Call-ID`` and ``CSeq`` raises :class:`SipParseError`
(the server drops it and counts it; it never answers what it cannot read).

What is written (section 8.2.6): a response copying every ``Via`` (in order, the top one
with ``received`` / ``rport`` filled in as RFC 3261 18.2.1 and RFC 3581 say), ``From``,
``To`` (a tag added when it has none), ``Call-ID`` and ``CSeq``, then the given header
fields and ``Content-Length: 0``.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple
from urllib.parse import unquote

from tandem.errors import TandemError

__all__ = [
    "COMPACT_FORMS",
    "MAX_MESSAGE",
    "SipParseError",
    "SipRequest",
    "frame",
    "parse_request",
    "request_user",
    "response",
    "to_tag",
    "via_received",
]

#: Largest message (headers and body) read, in bytes; a bigger one is malformed.
MAX_MESSAGE = 65_535

#: RFC 3261 section 7.3.3 and later RFCs' compact header names -> long names, lower case.
COMPACT_FORMS: dict[str, str] = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "e": "content-encoding",
    "k": "supported",
    "s": "subject",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}
#: How the copied header fields are spelled in a response.
#: An ``rport`` parameter without a value (RFC 3581).
_EMPTY_RPORT = re.compile(r";[ \t]*rport[ \t]*(?=;|$)", re.IGNORECASE)
_SPELLING = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}
_REQUIRED = ("from", "to", "call-id", "cseq")
_METHODS = frozenset(("INVITE", "ACK", "CANCEL", "OPTIONS", "BYE", "REGISTER", "INFO"))
_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


class SipParseError(TandemError, ValueError):
    """Bytes that are not a well-formed SIP request (the reason says what is wrong)."""


class SipRequest(NamedTuple):
    """One parsed SIP request. ``headers`` holds every header field in order as
    ``(lower-case long name, value)``; ``vias`` the ``Via`` values in order (each header
    line's value as received: a line listing several is not split)."""

    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]
    vias: tuple[str, ...]
    from_: str
    to: str
    call_id: str
    cseq: str
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (long or compact form, any case), or None."""
        name = name.lower()
        name = COMPACT_FORMS.get(name, name)
        for key, value in self.headers:
            if key == name:
                return value
        return None


#: Header names as received -> lower-case long name (memo of :func:`_header_name`).
_NAMES: dict[str, str] = {}


def _header_name(raw: str) -> str:
    """The lower-case long name of a header name as received (trailing blanks allowed:
    RFC 3261 HCOLON); SipParseError when it is not a token."""
    name = _NAMES.get(raw)
    if name is not None:
        return name
    name = raw.rstrip(" \t").lower()
    if not name or not _TOKEN.issuperset(name):
        raise SipParseError(f"header name {raw[:40]!r} is not a token")
    name = COMPACT_FORMS.get(name, name)
    if len(_NAMES) < 4096:
        _NAMES[raw] = name
    return name


def parse_request(data: bytes, *, stream: bool = False) -> SipRequest:
    """Parse one SIP request. ``stream``: ``data`` was framed by :func:`frame` (its body is
    exactly ``Content-Length`` bytes); otherwise it is one datagram (RFC 3261 18.3)."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes, above {MAX_MESSAGE}")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head_bytes, body = data[:end], data[end + 4 :]
    else:
        end = data.find(b"\n\n")
        if end < 0:
            raise SipParseError("no end of the header fields (empty line)")
        head_bytes, body = data[:end], data[end + 2 :]
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header bytes are not UTF-8 (at byte {exc.start})") from None
    if "\r\n" in head:
        lines = head.split("\r\n")
        breaks = len(lines) - 1
        if head.count("\n") != breaks or head.count("\r") != breaks:
            raise SipParseError("a bare CR or LF inside the header fields")
    else:
        lines = head.split("\n")
        if "\r" in head:
            raise SipParseError("a bare CR inside the header fields")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise SipParseError(f"request line {lines[0][:80]!r} is not 'METHOD URI SIP/2.0'")
    method, uri, version = parts
    if version != "SIP/2.0":
        if method.startswith("SIP/"):
            raise SipParseError("a response, not a request")
        raise SipParseError(f"version {version[:20]!r} is not SIP/2.0")
    if method not in _METHODS and (not method or not _TOKEN.issuperset(method)):
        raise SipParseError(f"method {method[:20]!r} is not a token")
    if ":" not in uri:
        raise SipParseError(f"Request-URI {uri[:80]!r} has no scheme")
    headers: list[tuple[str, str]] = []
    found: dict[str, str] = {}
    vias: list[str] = []
    names = _NAMES
    folded = False
    for i in range(1, len(lines)):
        line = lines[i]
        if not line:
            raise SipParseError("an empty line inside the header fields")
        first = line[0]
        if first == " " or first == "\t":  # folded: continues the previous field (7.3.1)
            if not headers:
                raise SipParseError("a continuation line before any header field")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            folded = True
            continue
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError(f"header line {line[:80]!r} has no name and colon")
        raw = line[:colon]
        name = names.get(raw) or _header_name(raw)
        value = line[colon + 1 :].strip()
        headers.append((name, value))
        if name == "via":
            vias.append(value)
        elif name not in found:
            found[name] = value
    if folded:  # the first value of each field, as unfolded
        found, vias = {}, []
        for name, value in headers:
            if name == "via":
                vias.append(value)
            elif name not in found:
                found[name] = value
    for name in _REQUIRED:
        if not found.get(name):
            raise SipParseError(f"no {_SPELLING[name]} header field")
    if not vias or not vias[0]:
        raise SipParseError("no Via header field")
    cseq = found["cseq"]
    number, _, cseq_method = cseq.partition(" ")
    if not number.isdigit() or len(number) > 10 or int(number) >= 2**31:
        raise SipParseError(f"CSeq {cseq[:40]!r} has no sequence number below 2**31")
    if cseq_method.strip() != method:
        raise SipParseError(f"CSeq method {cseq_method.strip()[:20]!r} is not {method}")
    length_text = found.get("content-length")
    if length_text is not None:
        if not length_text.isdigit() or len(length_text) > 6:
            raise SipParseError(f"Content-Length {length_text[:20]!r} is not a number")
        length = int(length_text)
        if length > len(body):
            raise SipParseError(f"body of {len(body)} bytes, Content-Length says {length}")
        if length < len(body):
            body = body[:length]
    elif stream:
        body = b""
    return SipRequest(
        method, uri, tuple(headers), tuple(vias), found["from"], found["to"], found["call-id"],
        cseq, body,
    )  # fmt: skip


def frame(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """The next message of a stream (RFC 3261 18.3): ``(start, end)`` byte offsets in
    ``buffer``, or None when it is not complete yet. Leading empty lines (keep-alives,
    RFC 5626 section 3.5.1) are skipped; the body is ``Content-Length`` bytes (0 when
    the header is missing). Raises :class:`SipParseError` for a header section above
    :data:`MAX_MESSAGE` bytes or an unreadable ``Content-Length``: the stream cannot be
    framed any more (close it)."""
    start = 0
    n = len(buffer)
    while start < n and buffer[start] in (13, 10):
        start += 1
    if start == n:
        return None
    end = buffer.find(b"\r\n\r\n", start)
    sep = 4
    if end < 0:
        end = buffer.find(b"\n\n", start)
        sep = 2
        if end < 0:
            if n - start > MAX_MESSAGE:
                raise SipParseError(f"no end of the header fields in {MAX_MESSAGE} bytes")
            return None
    if end - start > MAX_MESSAGE:
        raise SipParseError(f"header fields longer than {MAX_MESSAGE} bytes")
    length = _content_length(bytes(buffer[start:end]))
    stop = end + sep + length
    if stop - start > MAX_MESSAGE:
        raise SipParseError(f"message longer than {MAX_MESSAGE} bytes")
    if stop > n:
        return None
    return start, stop


def _content_length(head: bytes) -> int:
    """``Content-Length`` (or ``l``) of a header section; 0 when absent."""
    for raw in head.split(b"\n")[1:]:
        colon = raw.find(b":")
        if colon <= 0:
            continue
        name = raw[:colon].strip().lower()
        if name in (b"content-length", b"l"):
            value = raw[colon + 1 :].strip()
            if not value.isdigit() or len(value) > 6:
                raise SipParseError(f"Content-Length {value[:20]!r} is not a number")
            return int(value)
    return 0


def request_user(uri: str) -> str:
    """The user part of a ``sip:`` / ``sips:`` Request-URI (without user parameters such as
    ``;npdi`` or ``;rn=``, percent-decoded: RFC 3261 19.1.2) or the number of a ``tel:``
    URI (RFC 3966); "" when the URI has none."""
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "tel":
        user = rest
    elif scheme in ("sip", "sips"):
        at = rest.rfind("@")
        if at < 0:
            return ""
        user = rest[:at]
        colon = user.find(":")  # user:password
        if colon >= 0:
            user = user[:colon]
    else:
        return ""
    semi = user.find(";")
    if semi >= 0:
        user = user[:semi]
    return unquote(user) if "%" in user else user


def to_tag(request: SipRequest, salt: str = "") -> str:
    """A To-tag for a stateless answer: the same for a retransmission of the request
    (RFC 3261 8.2.7: Call-ID, From tag and top Via branch), different across requests."""
    text = f"{request.call_id}|{request.from_}|{request.vias[0]}|{request.cseq}|{salt}"
    data = text.encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def via_received(via: str, host: str, port: int) -> str:
    """The top Via value as a response carries it back (RFC 3261 18.2.1, RFC 3581):
    ``;received=HOST`` added when the sent-by host is not the packet's source address or
    the client asked for ``rport``, whose empty value is filled with ``PORT``."""
    first, comma, others = via.partition(",")
    semi = first.find(";")
    sent = (first if semi < 0 else first[:semi]).split()
    sent_by = sent[-1] if len(sent) >= 2 else ""
    if sent_by.startswith("["):
        by_host = sent_by[1 : sent_by.find("]")] if "]" in sent_by else sent_by
    else:
        by_host = sent_by.rsplit(":", 1)[0] if sent_by.count(":") == 1 else sent_by
    filled = False
    if semi >= 0 and "rport" in first.lower():
        first, n = _EMPTY_RPORT.subn(f";rport={port}", first, count=1)
        filled = n > 0
    if (filled or by_host != host) and "received=" not in first.lower():
        first = f"{first};received={host}"
    return f"{first},{others}" if comma else first


def response(
    request: SipRequest,
    code: int,
    phrase: str,
    *,
    tag: str,
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    top_via: str | None = None,
) -> bytes:
    """A response to ``request`` (RFC 3261 8.2.6): status line, the request's Via values in
    order (the top one replaced by ``top_via`` when given), From, To with ``;tag=TAG``
    added when it has no tag, Call-ID, CSeq, then ``headers`` and ``Content-Length: 0``."""
    vias = request.vias
    out = [f"SIP/2.0 {code} {phrase}"]
    out.append(f"Via: {top_via if top_via is not None else vias[0]}")
    out.extend(f"Via: {v}" for v in vias[1:])
    to = request.to
    if ";tag=" not in to.lower().replace(" ", ""):
        to = f"{to};tag={tag}"
    out.append(f"From: {request.from_}")
    out.append(f"To: {to}")
    out.append(f"Call-ID: {request.call_id}")
    out.append(f"CSeq: {request.cseq}")
    out.extend(f"{name}: {value}" for name, value in headers)
    out.append("Content-Length: 0")
    out.append("\r\n")
    return "\r\n".join(out).encode("utf-8", "surrogateescape")
