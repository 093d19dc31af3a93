"""tel URIs (RFC 3966) with number portability parameters (RFC 4694).

A number portability answer (ENUM service ``E2U+pstn:tel``, RFC 4769) is a tel URI::

    tel:+1-202-555-0100;npdi;rn=+1-202-555-9999     ported: route on +12025559999
    tel:+1-202-555-0100;npdi                         dipped, not ported
    tel:+12025550100;rn=2025559999;rn-context=+1     local routing number and its context

or, for ``E2U+pstn:sip``, the same telephone-subscriber as the user part of a SIP URI
(``sip:+12025550100;npdi;rn=+12025559999@gw.example.net;user=phone``).

Visual separators (``-``, ``.``, ``(``, ``)``) are dropped from numbers, which have at
most :data:`tandem.numbers.MAX_DIGITS` digits; parameter names are case-insensitive.
A tel URI is an answer in RFC 3966 syntax, not a number someone dialed, so it is read by
that grammar (no spaces, ``+`` for a global number, no ``00``/``011``) rather than by
:func:`tandem.numbers.e164_digits`. Anything that is not a valid tel URI raises
:class:`~tandem.errors.EnumLookupError` (a malformed answer), never another exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tandem.errors import EnumLookupError
from tandem.numbers import MAX_DIGITS

__all__ = ["TelUri", "parse_tel_uri", "parse_sip_tel_user"]

_SEPARATORS = re.compile(r"[-.()]")
_GLOBAL = re.compile(r"\+[0-9.()-]*[0-9][0-9.()-]*")
_LOCAL = re.compile(r"[0-9A-Fa-f*#.()-]*[0-9A-Fa-f*#][0-9A-Fa-f*#.()-]*")
_PNAME = re.compile(r"[A-Za-z0-9-]+")
_PVALUE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+")


@dataclass(frozen=True, slots=True)
class TelUri:
    """A parsed tel URI.

    ``number`` is the global number's digits (no ``+``); ``rn`` the routing number's
    digits (no ``+``) or None; ``npdi`` whether the number portability dip indicator is
    present; ``params`` every parameter by lower-cased name (value "" for flags).
    """

    number: str
    rn: str | None = None
    npdi: bool = False
    params: dict[str, str] = field(default_factory=dict)

    @property
    def ported(self) -> bool:
        """True when a routing number other than the number itself is given."""
        return self.rn is not None and self.rn != self.number


def _digits(text: str, what: str, uri: str) -> str:
    digits = _SEPARATORS.sub("", text)
    if not digits.isascii() or not digits.isdigit():
        raise EnumLookupError(f"{what} {text!r} in {uri!r} is not a telephone number")
    if len(digits) > MAX_DIGITS:
        raise EnumLookupError(f"{what} {text!r} in {uri!r} has more than {MAX_DIGITS} digits")
    return digits


def _global_digits(text: str, what: str, uri: str) -> str:
    if not _GLOBAL.fullmatch(text):
        raise EnumLookupError(f"{what} {text!r} in {uri!r} is not a global number (+digits)")
    return _digits(text[1:], what, uri)


def _parse_subscriber(subscriber: str, uri: str) -> TelUri:
    if not subscriber:
        raise EnumLookupError(f"{uri!r} has no telephone number")
    head, *raw_params = subscriber.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, sep, value = raw.partition("=")
        if not _PNAME.fullmatch(name) or (sep and not _PVALUE.fullmatch(value)):
            raise EnumLookupError(f"bad parameter {raw!r} in {uri!r}")
        key = name.lower()
        if key in params:
            raise EnumLookupError(f"parameter {key!r} repeated in {uri!r}")
        params[key] = value
    if head.startswith("+"):
        number = _global_digits(head, "number", uri)
    else:
        context = params.get("phone-context", "")
        if not context.startswith("+") or not _LOCAL.fullmatch(head):
            raise EnumLookupError(
                f"{uri!r} holds a local number without a global phone-context (+digits)"
            )
        number = _global_digits(context, "phone-context", uri) + _digits(head, "number", uri)
        if len(number) > MAX_DIGITS:
            raise EnumLookupError(
                f"{uri!r}: number with its phone-context exceeds {MAX_DIGITS} digits"
            )
    rn: str | None = None
    if "rn" in params:
        value = params["rn"]
        if value.startswith("+"):
            rn = _global_digits(value, "rn", uri)
        else:
            context = params.get("rn-context", "")
            if not context.startswith("+"):
                raise EnumLookupError(
                    f"{uri!r}: local rn={value!r} needs a global rn-context (+digits) (RFC 4694)"
                )
            rn = _global_digits(context, "rn-context", uri) + _digits(value, "rn", uri)
            if len(rn) > MAX_DIGITS:
                raise EnumLookupError(
                    f"{uri!r}: rn with its rn-context exceeds {MAX_DIGITS} digits"
                )
        if not rn:
            raise EnumLookupError(f"{uri!r}: empty rn")
    npdi = "npdi" in params
    if npdi and params["npdi"]:
        raise EnumLookupError(f"{uri!r}: npdi takes no value")
    return TelUri(number=number, rn=rn, npdi=npdi, params=params)


def parse_tel_uri(uri: str) -> TelUri:
    """Parse ``tel:+...;npdi;rn=...`` (RFC 3966, RFC 4694)."""
    if not isinstance(uri, str) or uri[:4].lower() != "tel:":
        raise EnumLookupError(f"{uri!r} is not a tel URI")
    return _parse_subscriber(uri[4:], uri)


def parse_sip_tel_user(uri: str) -> TelUri:
    """Parse the telephone-subscriber user part of a SIP URI (RFC 4769 ``E2U+pstn:sip``).

    ``sip:+12025550100;npdi;rn=+12025559999@gw.example.net;user=phone`` gives the same
    :class:`TelUri` as ``tel:+12025550100;npdi;rn=+12025559999``.
    """
    if not isinstance(uri, str):
        raise EnumLookupError(f"{uri!r} is not a SIP URI")
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips"):
        raise EnumLookupError(f"{uri!r} is not a SIP URI")
    user, at, host = rest.rpartition("@")
    if not at or not user or not host:
        raise EnumLookupError(f"{uri!r} has no telephone-subscriber user part")
    return _parse_subscriber(user, uri)
