"""What the store lets out: database URLs without their password, driver errors without
SQL or parameters, and the checks made before a database is opened.

* :func:`masked_url`: ``postgresql+psycopg://user:***@host/db`` (the form every message,
  log line, ``--json`` field and ``repr`` shows; the password never leaves the engine);
* :func:`describe_db_error`: one line from a SQLAlchemy / driver exception: the driver's
  own message (``UNIQUE constraint failed: decks.account_id, decks.version``), never the
  statement or its parameters, with any secret of the URL blanked out;
* :func:`check_url`: a PostgreSQL URL must name its database (without one the server's
  default database would silently receive Tandem's tables); a SQLite file must be a
  regular file that is empty or starts with the SQLite header, read before SQLite opens
  it, so that a text file, an image or a FIFO is refused and left untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from tandem.errors import StoreError

__all__ = ["SQLITE_HEADER", "check_url", "describe_db_error", "masked_url", "url_secrets"]

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#\s]*:)[^@\s]*@")


def _parse(url: str) -> URL | None:
    try:
        return make_url(url)
    except (ArgumentError, ValueError, TypeError):
        return None


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (also when it does not parse)."""
    parsed = _parse(url)
    if parsed is not None and parsed.password is not None:
        return parsed.render_as_string(hide_password=True)
    return _USERINFO.sub(r"\g<head>***@", url)


def url_secrets(url: str) -> tuple[str, ...]:
    """The password of ``url`` as it may appear in a message: raw, URL-quoted, as given."""
    parsed = _parse(url)
    found: set[str] = set()
    if parsed is not None and parsed.password:
        password = str(parsed.password)
        found.update({password, quote(password, safe=""), quote(password)})
    match = _USERINFO.search(url)
    if match is not None:
        given = url[match.end("head") : match.end() - 1]
        if given:
            found.update({given, unquote(given)})
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def describe_db_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """One line saying what the database refused, without SQL, parameters or password."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        raw = str(exc.orig) or type(exc.orig).__name__
    elif isinstance(exc, SQLAlchemyError):
        # Not a driver error: the message may carry "[SQL: ...]" and parameters after it.
        raw = str(exc.args[0]) if exc.args else type(exc).__name__
    else:
        raw = str(exc) or type(exc).__name__
    raw = raw.split("[SQL:", 1)[0]
    parts = [p.strip() for p in raw.splitlines() if p.strip()]
    # psycopg adds the statement after "LINE n:" and a caret line: keep what precedes.
    kept: list[str] = []
    for part in parts:
        if part.startswith(("LINE ", "^", "[SQL", "[parameters", "(Background")):
            break
        kept.append(part)
    return scrub(" ".join(kept) or type(exc).__name__, secrets)


def check_url(url: str, shown: str) -> None:
    """Refuse (:class:`StoreError`) a URL Tandem must not open; ``shown`` is the masked
    form used in the message."""
    parsed = _parse(url)
    if parsed is None:
        raise StoreError(
            f"cannot open database {shown!r}: not a database URL "
            "(give a SQLite file or postgresql://USER@HOST/DATABASE)"
        )
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if not parsed.database and not parsed.query.get("dbname"):
            raise StoreError(
                f"database URL {shown!r} names no database: add it "
                "(postgresql://USER@HOST/DATABASE); Tandem does not create its tables in "
                "the server's default database"
            )
    elif backend == "sqlite" and _is_file_database(parsed.database, url):
        _check_sqlite_file(Path(str(parsed.database)).expanduser())


def _is_file_database(database: str | None, url: str) -> bool:
    return database not in (None, "", ":memory:") and "mode=memory" not in url


def _check_sqlite_file(path: Path) -> None:
    """A SQLite store is a new name, an empty file, or a file with the SQLite header."""
    try:
        if not path.exists():
            return
        if not path.is_file():
            raise StoreError(
                f"{path}: not a regular file; give a SQLite file (or a database URL) as --db"
            )
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror or exc}") from exc
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"{path} is not a SQLite database (it does not start with the SQLite header); "
            "give a Tandem store or a new file name as --db"
        )
