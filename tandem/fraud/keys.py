"""Counter keys of the fraud rules, and the parts of a number they count under.

The live engine and the scan derive every key part from the dialled number the same way:
a *prefix* of ``n`` digits is ``number[:n]`` (the whole number when it is shorter), a
*block* of consecutive numbers is the number without its last ``d`` digits.
"""

from __future__ import annotations

from functools import lru_cache

from tandem.state.keys import key

# Keys are built on every decision: those made of names (customers, trunks, addresses,
# destinations) are cached (bounded); digit strings need no escaping.
_cached = lru_cache(maxsize=65536)

__all__ = [
    "block_of",
    "concurrent_key",
    "cps_key",
    "first_call_key",
    "prefix_of",
    "sequential_key",
    "spend_key",
    "velocity_key",
    "wangiri_key",
]


def prefix_of(number: str, length: int) -> str:
    """The first ``length`` digits of ``number`` (all of it when shorter)."""
    return number[:length]


def block_of(number: str, digits: int) -> str:
    """``number`` without its last ``digits`` digits: the block of consecutive numbers it
    belongs to ('' when it has no more digits than that)."""
    return number[:-digits] if len(number) > digits else ""


@_cached
def concurrent_key(scope: str, name: str) -> str:
    """Slots of calls in progress: ``fraud:cc:customer:NAME`` (scopes customer, trunk,
    group). The lifecycle acquires under these keys; the rule reads them."""
    return key("fraud", "cc", scope, name)


@_cached
def cps_key(scope: str, name: str) -> str:
    """Call attempts per customer / source IP."""
    return key("fraud", "cps", scope, name)


@_cached
def spend_key(customer: str) -> str:
    """Money spent by a customer (hour and day windows under their own steps)."""
    return key("fraud", "spend", customer)


@_cached
def velocity_key(kind: str, prefix: str) -> str:
    """Calls to a destination prefix: ``kind`` is ``w`` (the window) or ``b`` (the
    baseline)."""
    return key("fraud", "vel", kind, prefix)


def sequential_key(scope: str, customer: str, part: str) -> str:
    """Calls of a customer to one number (scope ``s``) or one block (``b``): ``part`` is
    digits."""
    return f"{_customer_part(scope, customer)}:{part}"


@_cached
def _customer_part(scope: str, customer: str) -> str:
    return key("fraud", "seq", scope, customer)


def wangiri_key(customer: str, prefix: str) -> str:
    """Short calls of a customer into one range (``prefix``: digits)."""
    return f"{_wangiri_part(customer)}:{prefix}"


@_cached
def _wangiri_part(customer: str) -> str:
    return key("fraud", "wan", customer)


@_cached
def first_call_key(customer: str, prefix: str) -> str:
    """Calls of a customer to a destination (the first one in ``remember`` seconds)."""
    return key("fraud", "first", customer, prefix)
