"""A store with one carrier's buy deck, and matching CDR files written both ways."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tandem.store import Store
from tests.rating_helpers import deck_frame

T0 = int(datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp())
#: The carrier's deck: prefix -> rate per minute (60/60 increments, no connect fee).
DECK = {"44": "0.0200", "4420": "0.0150", "447": "0.0400", "33": "0.0300", "49": "0.0250"}


def make_store(path: Path, carrier: str = "acme") -> Path:
    """A SQLite store at ``path`` with ``carrier``'s buy deck :data:`DECK`."""
    s = Store(path)
    rows = [
        {"prefix": p, "rate": r, "initial_increment": 1, "next_increment": 1}
        for p, r in DECK.items()
    ]
    s.write_deck(carrier, "carrier", deck_frame(rows), currency="USD", effective_from=0)
    s.write_deck("other", "carrier", deck_frame(rows), currency="USD", effective_from=0)
    s.close()
    return path


def deck_price(number: str, seconds: int) -> Decimal:
    """What :data:`DECK` charges (1/1 increments, 4 decimals half-up)."""
    best = max((p for p in DECK if number.startswith(p)), key=len)
    return (Decimal(DECK[best]) * seconds / 60).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def national(number: str) -> str:
    """A UK number in national format with spaces; others as 00 + digits."""
    if number.startswith("44"):
        rest = "0" + number[2:]
        return f"{rest[:4]} {rest[4:]}"
    return "00" + number


def write_ours(path: Path, calls: list[dict]) -> None:
    """Our CDRs: plain CSV, UTC epoch starts, E.164 numbers with +."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["call_id", "start", "billsec", "number", "customer", "carrier"])
        for c in calls:
            w.writerow(
                [
                    c.get("call_id", ""),
                    c["start"],
                    c["duration"],
                    "+" + c["number"],
                    "cust1",
                    c.get("carrier", "acme"),
                ]
            )


def write_theirs(path: Path, calls: list[dict], tz: str = "Europe/Paris") -> None:
    """The vendor's CDRs: other column names, local time in ``tz`` without a zone,
    national UK numbers, their rate and amount."""
    zone = ZoneInfo(tz)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["CallRef", "Connect Time", "Billed Sec", "Called Number", "Rate/min", "Charge"])
        for c in calls:
            local = datetime.fromtimestamp(c["start"], UTC).astimezone(zone)
            rate = (
                c.get("rate") or DECK[max((p for p in DECK if c["number"].startswith(p)), key=len)]
            )
            amount = c.get("amount") or (Decimal(rate) * c["duration"] / 60).quantize(
                Decimal("0.0001"), ROUND_HALF_UP
            )
            w.writerow(
                [
                    c.get("call_id", ""),
                    local.strftime("%Y-%m-%d %H:%M:%S"),
                    c["duration"],
                    national(c["number"]),
                    rate,
                    amount,
                ]
            )


THEIR_MAP = (
    "--map-column", "start=Connect Time", "--map-column", "duration=Billed Sec",
    "--map-column", "number=Called Number", "--map-column", "rate=Rate/min",
    "--map-column", "amount=Charge",
)  # fmt: skip
