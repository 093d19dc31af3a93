"""``--db`` as a hostile or careless operator gives it (issue 10 items 13 and 15, and the
``--db`` tracebacks): one error line, no password, no SQL, nothing written.

* a PostgreSQL URL's password never appears: not in errors, not in ``--json`` output,
  not in ``Store.url`` or ``repr(store)``;
* a PostgreSQL URL without a database is refused before connecting (the server's
  default database would otherwise receive Tandem's tables);
* a ``--db`` file that is not a SQLite database (text, PNG, truncated store, FIFO,
  directory) is refused on one line and left byte-for-byte as it was;
* a database error met after opening comes out as one line without the statement.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.errors import StoreError
from tandem.store import Store
from tests.conftest import PG_URL, drop_pg_schema, pg_schema_url
from tests.hostile.conftest import run_refused

SECRET = "s3cr3t-Pa55"
SQL_WORDS = ("SELECT", "INSERT", "UPDATE", "[SQL", "[parameters")


def _no_leak(text: str) -> None:
    assert SECRET not in text, text
    for word in SQL_WORDS:
        assert word not in text, text


# -- database URLs ------------------------------------------------------------------------

URL_CASES = {
    # Nothing listens on port 1: the connection error names the host, not the password.
    "password, server down": (f"postgresql://tandem:{SECRET}@127.0.0.1:1/test", ["127.0.0.1"]),
    "password in postgres:// form": (f"postgres://tandem:{SECRET}@127.0.0.1:1/test", ["***"]),
    "password with URL escapes": (
        f"postgresql://tandem:{SECRET}%40x@127.0.0.1:1/test",
        ["***"],
    ),
    "no database": ("postgresql://postgres@127.0.0.1:1", ["no database"]),
    "no database, trailing slash": ("postgres://postgres@127.0.0.1:1/", ["no database"]),
    "no database, with password": (f"postgresql://tandem:{SECRET}@127.0.0.1:1", ["no database"]),
}


@pytest.mark.parametrize("url, names", URL_CASES.values(), ids=URL_CASES.keys())
@pytest.mark.parametrize(
    "command",
    [["deck", "list"], ["deck", "list", "--json"], ["db", "upgrade"]],
    ids=["list", "list-json", "upgrade"],
)
def test_url_refused_without_password(url, names, command):
    refusal = run_refused(command, url, names=names)
    _no_leak(refusal.stderr + refusal.stdout)


@pytest.mark.postgres
def test_wrong_role_on_a_live_server_hides_the_password():
    """The server answers (role unknown or password wrong): still no password."""
    pytest.importorskip("psycopg")
    from tests.conftest import _pg_available

    if _pg_available():
        pytest.skip("PostgreSQL not reachable")
    refusal = run_refused(
        ["deck", "list", "--json"],
        f"postgresql://no_such_role:{SECRET}@127.0.0.1:5432/test",
        names=["no_such_role"],
    )
    _no_leak(refusal.stderr + refusal.stdout)


def test_store_url_and_repr_mask_the_password(tmp_path):
    with pytest.raises(StoreError) as info:
        Store(f"postgresql://tandem:{SECRET}@127.0.0.1:1/test")
    _no_leak(str(info.value))
    assert "tandem:***@127.0.0.1:1/test" in str(info.value)


@pytest.mark.postgres
def test_live_store_shows_the_url_masked():
    """With trust authentication the password is ignored by the server, so the store
    opens: its url, repr and the CLI's output show ``***``."""
    url, schema = pg_schema_url()
    with_password = url.replace("postgres@", f"postgres:{SECRET}@", 1)
    assert SECRET in with_password
    try:
        store = Store(with_password)
        try:
            assert SECRET not in store.url and "postgres:***@" in store.url
            assert SECRET not in repr(store) and "***" in repr(store)
            assert SECRET not in repr(store.engine)
        finally:
            store.close()
        result = CliRunner().invoke(cli, ["db", "upgrade", "--db", with_password])
        assert result.exit_code == 0, result.output
        assert "postgres:***@" in result.output
        _no_leak(result.output)
    finally:
        drop_pg_schema(schema)


@pytest.mark.postgres
def test_error_after_opening_is_one_line_without_sql_or_password():
    url, schema = pg_schema_url()
    with_password = url.replace("postgres@", f"postgres:{SECRET}@", 1)
    store = Store(with_password)
    try:
        drop_pg_schema(schema)  # the tables vanish under the open store
        with pytest.raises(StoreError) as info:
            store.decks()
        message = str(info.value)
        assert "\n" not in message and "decks" in message
        _no_leak(message)
    finally:
        store.close()


def test_sqlite_error_after_opening_is_one_line_without_sql(tmp_path):
    db = tmp_path / "t.db"
    store = Store(db)
    try:
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE rates")
            conn.execute("DROP TABLE decks")
        with pytest.raises(StoreError) as info:
            store.decks()
        message = str(info.value)
        assert "\n" not in message and "no such table: decks" in message
        _no_leak(message)
    finally:
        store.close()


def test_no_database_is_refused_before_connecting():
    """A live server would accept the connection: the URL is refused first anyway."""
    with pytest.raises(StoreError, match="no database"):
        Store(PG_URL.rsplit("/", 1)[0])


# -- --db files that are not SQLite stores -------------------------------------------------


def _text(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("carrier,prefix,rate\natlas,44,0.01\n")
    return path


def _png(tmp: Path) -> Path:
    path = tmp / "logo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    return path


def _truncated(tmp: Path, size: int) -> Path:
    whole = tmp / "whole.db"
    Store(whole).close()
    result = CliRunner().invoke(
        cli,
        ["deck", "import", str(Path(__file__).parents[2] / "data/decks/atlas.csv")]
        + ["--carrier", "atlas", "--effective", "2026-11-01", "--db", str(whole), "-q"],
    )
    assert result.exit_code == 0, result.output
    path = tmp / f"cut{size}.db"
    path.write_bytes(whole.read_bytes()[:size])
    return path


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.db"
    os.mkfifo(path)
    return path


def _directory(tmp: Path) -> Path:
    path = tmp / "store.d"
    path.mkdir()
    return path


FILE_CASES = {
    "text file": (_text, ["notes.txt", "not a SQLite database"]),
    "png": (_png, ["logo.png", "not a SQLite database"]),
    "sqlite header cut short": (lambda t: _truncated(t, 10), ["cut10.db"]),
    "truncated store": (lambda t: _truncated(t, 5000), ["cut5000.db"]),
    "fifo": (_fifo, ["pipe.db", "not a regular file"]),
    "directory": (_directory, ["store.d", "not a regular file"]),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make, names", FILE_CASES.values(), ids=FILE_CASES.keys())
@pytest.mark.parametrize(
    "command",
    [
        ["deck", "list"],
        ["deck", "import", "data/decks/atlas.csv", "--carrier", "atlas"],
        ["db", "upgrade"],
    ],
    ids=["list", "import", "upgrade"],
)
def test_db_file_that_is_not_a_store_is_refused_untouched(tmp_path, make, names, command):
    path = make(tmp_path)
    command = [str(Path(__file__).parents[2] / c) if c.endswith(".csv") else c for c in command]
    before = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    siblings = sorted(p.name for p in tmp_path.iterdir())
    run_refused(command, path, names=names)
    if before is not None:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no -journal left
