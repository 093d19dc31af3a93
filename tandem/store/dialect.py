"""What the store's hand-written SQL does differently on SQLite and PostgreSQL.

Placeholders (``?`` for sqlite3, ``%s`` for psycopg), planner hints that only SQLite needs,
and the driver's own connection. Each reader and writer of the store that bypasses
SQLAlchemy's compiler for speed uses these, so a statement is written once for both
databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from tandem.errors import StoreError

__all__ = ["account_scan", "driver_connection", "qmark"]


def driver_connection(conn: Connection) -> Any:
    """The DB-API connection under ``conn`` (sqlite3 or psycopg), for bulk statements."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise StoreError("the database connection is closed; open the store again")
    return raw


def qmark(conn: Connection, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, for ``conn``'s driver (``%s`` on psycopg)."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%").replace("?", "%s")
    return sql


def account_scan(conn: Connection, account_id: int) -> str:
    """How to visit one account's rate rows: ``""`` (its index) or ``" NOT INDEXED"``.

    A planner hint for SQLite, appended to ``FROM rates``: when the account holds at
    least half of the table's rows (counted from ``decks.row_count``, a tiny table), a
    sequential scan of the whole table beats fetching the rows one by one in prefix
    order through ``(account_id, prefix)``, which for an account with several stored
    versions jumps between them. Always ``""`` on PostgreSQL, whose planner decides.
    """
    if conn.dialect.name != "sqlite":
        return ""
    mine, every = conn.execute(
        text(
            "SELECT COALESCE(SUM(CASE WHEN account_id = :a THEN row_count END), 0), "
            "COALESCE(SUM(row_count), 0) FROM decks"
        ),
        {"a": account_id},
    ).one()
    return " NOT INDEXED" if every and 2 * int(mine) >= int(every) else ""
