"""Counter key names: built here so every node (and every helper) spells them alike.

A key is ``part:part:...``; :func:`key` escapes ``%`` and ``:`` inside each part, so a part
that holds a colon (an IPv6 source address, a SIP URI) never runs into the next one.
"""

from __future__ import annotations

__all__ = ["carrier_calls_key", "key"]


def _part(value: object) -> str:
    text = str(value)
    if "%" in text or ":" in text:
        text = text.replace("%", "%25").replace(":", "%3A")
    return text


def key(*parts: object) -> str:
    """A counter key from its parts, joined by ``:`` with ``%`` and ``:`` in each part
    escaped (``%25``, ``%3A``): ``key("cps", "ip", "2001:db8::1")`` is
    ``"cps:ip:2001%3Adb8%3A%3A1"``. At least one part."""
    if not parts:
        raise ValueError("a counter key needs at least one part")
    return ":".join(_part(p) for p in parts)


def carrier_calls_key(carrier: str) -> str:
    """The counter key of a carrier's concurrent calls: ``carrier:NAME:calls``. The router's
    capacity check reads it (the plain counter plus the live slots under it), so a proxy
    that ``acquire``\\ s a slot under this key for each call it sends to the carrier is what
    ``max_concurrent`` sees."""
    return key("carrier", carrier, "calls")
