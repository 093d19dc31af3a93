"""The local number-portability / ENUM table (``ported_numbers``): read and replace entries.

An entry is a number or number-block prefix (E.164 digits) with a routing number and/or
an on-net SIP URI. Importing never deletes: a superseded entry is kept and marked
inactive, so the table keeps its history; lookups read the active entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from tandem.errors import StoreError
from tandem.store.models import PortedNumber
from tandem.store.safety import describe_db_error

__all__ = [
    "PortedEntry",
    "PortedImport",
    "StoredPortedNumber",
    "ported_numbers",
    "write_ported_numbers",
]

#: Rows written per INSERT (bounds memory), and prefixes per deactivating UPDATE.
_INSERT_ROWS = 10_000
_UPDATE_PREFIXES = 500


class PortedEntry(Protocol):
    """What the store needs of one entry to write it (``tandem.enum.PortEntry`` is one)."""

    @property
    def number_prefix(self) -> str: ...

    @property
    def routing_number(self) -> str | None: ...

    @property
    def sip_uri(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StoredPortedNumber:
    """One active entry as stored, with the file it came from (``source``)."""

    number_prefix: str
    routing_number: str | None
    sip_uri: str | None
    source: str


@dataclass(frozen=True, slots=True)
class PortedImport:
    """What a write did: rows written, earlier rows deactivated, active rows now."""

    imported: int
    deactivated: int
    active: int


def ported_numbers(engine: Engine) -> list[StoredPortedNumber]:
    """The active entries, in the order they were written."""
    t = PortedNumber
    stmt = (
        select(t.number_prefix, t.routing_number, t.sip_uri, t.source)
        .where(t.active.is_(True))
        .order_by(t.id)
    )
    with engine.connect() as conn:
        return [StoredPortedNumber(*row) for row in conn.execute(stmt)]


def write_ported_numbers(
    engine: Engine,
    entries: Sequence[PortedEntry],
    *,
    source: str,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> PortedImport:
    """Write ``entries`` atomically (one transaction: all or nothing).

    Without ``replace`` an entry supersedes the active row of the same prefix (kept,
    marked inactive); with ``replace`` every active row is deactivated first (the file is
    the whole table). ``on_progress(n)`` is called as rows are written.
    """
    t = PortedNumber
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "number_prefix": e.number_prefix,
            "routing_number": e.routing_number,
            "sip_uri": e.sip_uri,
            "source": source[:512],
            "imported_at": now,
            "active": True,
        }
        for e in entries
    ]
    try:
        with engine.begin() as conn:
            if replace:
                deactivated = conn.execute(
                    update(t).where(t.active.is_(True)).values(active=False)
                ).rowcount
            else:
                deactivated = 0
                prefixes = [e.number_prefix for e in entries]
                for i in range(0, len(prefixes), _UPDATE_PREFIXES):
                    chunk = prefixes[i : i + _UPDATE_PREFIXES]
                    deactivated += conn.execute(
                        update(t)
                        .where(t.active.is_(True), t.number_prefix.in_(chunk))
                        .values(active=False)
                    ).rowcount
            for i in range(0, len(rows), _INSERT_ROWS):
                block = rows[i : i + _INSERT_ROWS]
                conn.execute(insert(t), block)
                if on_progress is not None:
                    on_progress(len(block))
            active = conn.execute(
                select(func.count()).select_from(t).where(t.active.is_(True))
            ).scalar_one()
    except SQLAlchemyError as exc:
        raise StoreError(
            f"could not store the portability table: {describe_db_error(exc)}"
        ) from exc
    return PortedImport(len(rows), int(deactivated), int(active))
