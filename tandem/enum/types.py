"""What a number lookup (ENUM, number portability) tells the router and the rater.

This is the contract between :mod:`tandem.enum` (which answers) and :mod:`tandem.lcr`
and :mod:`tandem.rating` (which use the answer). Any object with a ``lookup(number)``
method returning :class:`NumberInfo` can be handed to the router.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["LookupKind", "NumberInfo", "NumberLookup"]


class LookupKind(StrEnum):
    """The outcome of one lookup.

    * ``ported``: the number has a routing number (RFC 4769 ``rn=``) other than itself;
    * ``on-net``: the number lives on a SIP URI reachable over IP (``E2U+sip``);
    * ``not-ported``: an answer that says the number is where it was born
      (``npdi`` without ``rn``, or a tel URI of the number itself);
    * ``not-found``: no entry (NXDOMAIN, no matching NAPTR, no local entry);
    * ``timeout``, ``servfail``, ``malformed``, ``error``: the lookup failed; the
      router falls back to the dialed number and says so.
    """

    PORTED = "ported"
    ON_NET = "on-net"
    NOT_PORTED = "not-ported"
    NOT_FOUND = "not-found"
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    MALFORMED = "malformed"
    ERROR = "error"

    @property
    def failed(self) -> bool:
        """True when the lookup could not say where the number lives."""
        return self in (
            LookupKind.TIMEOUT,
            LookupKind.SERVFAIL,
            LookupKind.MALFORMED,
            LookupKind.ERROR,
        )


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """Where an E.164 number lives, as one lookup found it.

    ``number`` is the E.164 digits looked up (no ``+``); ``routing_number`` the digits
    to route and rate on when ported; ``sip_uri`` the on-net destination; ``npdi``
    whether number-portability dip was indicated; ``source`` one of ``local``, ``dns``,
    ``cache``; ``elapsed_ms`` the time the lookup took; ``detail`` a human-readable note
    (which server, which record, why it failed).
    """

    number: str
    kind: LookupKind
    routing_number: str | None = None
    sip_uri: str | None = None
    npdi: bool = False
    source: str = "dns"
    elapsed_ms: float = 0.0
    detail: str = ""

    @property
    def failed(self) -> bool:
        """True when the lookup failed (timeout, SERVFAIL, malformed answer, error)."""
        return self.kind.failed

    @property
    def route_number(self) -> str:
        """The digits to route and rate on: the routing number when ported, else the number."""
        if self.kind is LookupKind.PORTED and self.routing_number:
            return self.routing_number
        return self.number


@runtime_checkable
class NumberLookup(Protocol):
    """Anything that can say where a number lives. Must never raise for DNS trouble and
    must return within its own time budget."""

    def lookup(self, number: str) -> NumberInfo:
        """Look up E.164 digits (no ``+``)."""
        ...
