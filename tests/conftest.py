"""Shared fixtures: a fresh store on SQLite and on PostgreSQL (127.0.0.1:5432, db ``test``).

PostgreSQL tests get a schema of their own, dropped afterwards. Outside CI a missing
server skips them; in CI (``CI=true``) it is a failure.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tandem.store import Store

PG_URL = os.environ.get("TANDEM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        return f"PostgreSQL at {PG_URL} not reachable: {exc}"


def pg_schema_url() -> tuple[str, str]:
    """A URL whose search_path is a fresh schema, and that schema's name."""
    import psycopg

    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"tandem_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_URL}?options=-csearch_path%3D{schema}", schema


def drop_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A fresh, migrated store on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        s = Store(tmp_path / "tandem.db")
        yield s
        s.close()
        return
    url, schema = pg_schema_url()
    s = Store(url)
    try:
        yield s
    finally:
        s.close()
        drop_pg_schema(schema)


@pytest.fixture
def sqlite_store(tmp_path):
    """A fresh SQLite store only (for tests that look at the file itself)."""
    s = Store(tmp_path / "tandem.db")
    yield s
    s.close()
