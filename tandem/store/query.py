"""Rows of a SQL query on any database SQLAlchemy reaches (``tandem rate --query``).

The one place outside the store's own tables where Tandem runs SQL: the query's rows come
back in batches (a server-side cursor on PostgreSQL), and any failure is one
:class:`~tandem.errors.CdrError` line naming the database by its masked URL, never the
password, the statement's parameters or a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from tandem.errors import CdrError
from tandem.store.safety import describe_db_error, masked_url, scrub, url_secrets
from tandem.store.store import database_url

__all__ = ["query_rows"]


def query_rows(
    db: str | os.PathLike[str], sql: str, *, batch_size: int = 100_000
) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    """Run ``sql`` on ``db`` (a URL, or a SQLite file's path) and yield its rows in
    batches of at most ``batch_size``, each with the column names. Raises
    :class:`CdrError` for a database that cannot be opened, a query that fails, one that
    returns no rows (not a SELECT) or names a column twice."""
    url = database_url(db)
    secrets = url_secrets(url)
    shown = masked_url(url)
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
        reason = scrub(describe_db_error(exc, secrets), secrets)
        raise CdrError(f"cannot open the CDR database {shown!r}: {reason}") from None
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(text(sql))
            if not result.returns_rows:
                raise CdrError("--query returned no rows: give a SELECT")
            names = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
            if len(set(names)) != len(names):
                raise CdrError(f"--query names a column twice: {', '.join(names)}")
            yielded = False
            while chunk := result.fetchmany(batch_size):
                yielded = True
                yield names, chunk
            if not yielded:
                yield names, []
    except SQLAlchemyError as exc:
        reason = scrub(describe_db_error(exc, secrets), secrets)
        raise CdrError(f"--query failed on {shown!r}: {reason}") from None
    finally:
        engine.dispose()
