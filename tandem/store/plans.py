"""Plan versions in the store: routing and tariff plans, kept as text with effective dates.

A plan is stored as the TOML text it was imported from (verbatim, so an export gives the
same bytes back), with its source file name and SHA-256, the import instant and the
window ``[effective_from, effective_until)`` in which it is in force (UTC epoch seconds;
``effective_until`` is NULL while the version is open-ended). The store does not read
the text: validating it is the job of the layers that use it (:mod:`tandem.lcr.plans`).

Supersession follows the rates' rule (:mod:`tandem.store.windows`): a new version
effective from E voids every stored version of its kind that begins at or after E (its
window becomes empty) and ends the version in force at E at E. So at any instant at most
one version of each kind is in force.

The functions here take an open :class:`~sqlalchemy.engine.Connection`;
:class:`tandem.store.Store` exposes them as ``write_plan``, ``plan_versions``,
``plan_in_force`` and ``plan_history``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TextualSelect, text
from sqlalchemy.engine import Connection

from tandem.errors import StoreError
from tandem.store.windows import CUT_SET, CUT_WHERE

__all__ = [
    "PLAN_KINDS",
    "StoredPlan",
    "check_plan_kind",
    "insert_plan",
    "select_plan_versions",
    "select_plan_in_force",
    "select_plan_history",
]

#: The kinds of plan the store keeps.
PLAN_KINDS = ("routing", "tariff")

_COLUMNS = (
    "id, kind, version, source_name, source_sha256, text, imported_at, effective_from, "
    "effective_until"
)
#: A version whose window is not empty (voided versions have ``until == from``).
_LIVE = "(effective_until IS NULL OR effective_until > effective_from)"


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """One stored plan version.

    ``effective_from`` and ``effective_until`` are UTC epoch seconds (``effective_until``
    None while open-ended; equal to ``effective_from`` when a later import voided the
    version before it began). ``text`` is the TOML exactly as imported.
    """

    id: int
    kind: str
    version: int
    source_name: str
    source_sha256: str
    text: str
    imported_at: datetime
    effective_from: int
    effective_until: int | None

    @property
    def voided(self) -> bool:
        """True when a later import superseded this version before it began."""
        return self.effective_until is not None and self.effective_until <= self.effective_from

    def in_force_at(self, at: int) -> bool:
        """Whether ``effective_from <= at < effective_until``."""
        until = self.effective_until
        return self.effective_from <= at and (until is None or at < until)


def check_plan_kind(kind: str) -> None:
    """Refuse a kind other than ``routing`` or ``tariff`` (:class:`StoreError`)."""
    if kind not in PLAN_KINDS:
        raise StoreError(f"plan kind must be 'routing' or 'tariff', got {kind!r}")


def _select(sql: str) -> TextualSelect:
    """A ``SELECT`` of :data:`_COLUMNS`, typed so that SQLite returns datetimes too."""
    return text(sql).columns(imported_at=DateTime)


def _stored(row: Any) -> StoredPlan:
    return StoredPlan(
        id=int(row.id),
        kind=row.kind,
        version=int(row.version),
        source_name=row.source_name,
        source_sha256=row.source_sha256,
        text=row.text,
        imported_at=row.imported_at.replace(tzinfo=UTC),
        effective_from=int(row.effective_from),
        effective_until=None if row.effective_until is None else int(row.effective_until),
    )


def insert_plan(
    conn: Connection,
    kind: str,
    plan_text: str,
    *,
    effective_from: int,
    source_name: str,
    imported_at: datetime,
) -> StoredPlan:
    """Store ``plan_text`` as the next version of ``kind`` (in the caller's transaction).

    Cuts the versions it supersedes (see the module docstring) and returns the new one;
    its SHA-256 is that of the text's UTF-8 bytes.
    """
    check_plan_kind(kind)
    version = 1 + int(
        conn.execute(
            text("SELECT COALESCE(MAX(version), 0) FROM plans WHERE kind = :k"), {"k": kind}
        ).scalar_one()
    )
    conn.execute(
        text(
            f"UPDATE plans SET {CUT_SET.format(r='', c=':e')} "
            f"WHERE kind = :k AND {CUT_WHERE.format(r='', c=':e')}"
        ),
        {"k": kind, "e": int(effective_from)},
    )
    conn.execute(
        text(
            "INSERT INTO plans (kind, version, source_name, source_sha256, text, imported_at, "
            "effective_from, effective_until) VALUES (:k, :v, :n, :s, :t, :i, :e, NULL)"
        ),
        {
            "k": kind,
            "v": version,
            "n": source_name,
            "s": hashlib.sha256(plan_text.encode("utf-8")).hexdigest(),
            "t": plan_text,
            "i": imported_at.astimezone(UTC).replace(tzinfo=None),
            "e": int(effective_from),
        },
    )
    row = conn.execute(
        _select(f"SELECT {_COLUMNS} FROM plans WHERE kind = :k AND version = :v"),
        {"k": kind, "v": version},
    ).one()
    return _stored(row)


def select_plan_versions(conn: Connection, kind: str | None = None) -> list[StoredPlan]:
    """Every stored version (voided ones too), by kind, then version."""
    where = ""
    params: dict[str, object] = {}
    if kind is not None:
        check_plan_kind(kind)
        where, params = " WHERE kind = :k", {"k": kind}
    rows = conn.execute(
        _select(f"SELECT {_COLUMNS} FROM plans{where} ORDER BY kind, version"), params
    ).all()
    return [_stored(r) for r in rows]


def select_plan_in_force(conn: Connection, kind: str, at: int) -> StoredPlan | None:
    """The version of ``kind`` in force at ``at`` (UTC epoch seconds), or None."""
    check_plan_kind(kind)
    row = conn.execute(
        _select(
            f"SELECT {_COLUMNS} FROM plans WHERE kind = :k AND effective_from <= :at "
            "AND (effective_until IS NULL OR effective_until > :at) ORDER BY version DESC"
        ),
        {"k": kind, "at": int(at)},
    ).first()
    return None if row is None else _stored(row)


def select_plan_history(
    conn: Connection, kind: str, since: int | None = None, until: int | None = None
) -> list[StoredPlan]:
    """The versions of ``kind`` in force at some instant of ``[since, until)`` (either
    bound may be None: unbounded), by effective date; voided versions are left out."""
    check_plan_kind(kind)
    clauses = ["kind = :k", _LIVE]
    params: dict[str, object] = {"k": kind}
    if since is not None:
        clauses.append("(effective_until IS NULL OR effective_until > :since)")
        params["since"] = int(since)
    if until is not None:
        clauses.append("effective_from < :until")
        params["until"] = int(until)
    rows = conn.execute(
        _select(
            f"SELECT {_COLUMNS} FROM plans WHERE {' AND '.join(clauses)} "
            "ORDER BY effective_from, version"
        ),
        params,
    ).all()
    return [_stored(r) for r in rows]
