"""Helpers for the hostile-input tests: run the CLI, expect one error line, store unchanged.

Every row of a table-driven hostile test does the same three checks:

* the command exits with status 2 (never 1 with a traceback, never 0);
* stderr is exactly one line, ``tandem: error: ...``, and it names the problem;
* the store the command was pointed at is byte-for-byte the same data as before.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli

DECKS = Path(__file__).resolve().parents[2] / "data" / "decks"


def store_fingerprint(db: Path | str) -> str:
    """A digest of every row of every table of a SQLite store ("" when there is no file,
    or for a database URL); of the file's bytes when it is not a readable SQLite file."""
    if isinstance(db, str) or not db.exists():
        return ""
    if not db.is_file():
        return "not a file"
    digest = hashlib.sha256()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for line in conn.iterdump():
                digest.update(line.encode())
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return "bytes:" + hashlib.sha256(db.read_bytes()).hexdigest()
    return digest.hexdigest()


@dataclass(frozen=True)
class Refusal:
    """What a refused command printed."""

    exit_code: int
    stderr: str
    stdout: str


def run_refused(args: Sequence[str], db: Path | str, *, names: Sequence[str] = ()) -> Refusal:
    """Run ``tandem ARGS --db DB``; assert exit 2, one error line naming ``names``, store kept.

    ``db`` is a SQLite path, or a database URL given as a string (nothing on disk to
    compare then)."""
    before = store_fingerprint(db)
    result = CliRunner().invoke(cli, [*args, "--db", str(db)], catch_exceptions=True)
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"tandem {' '.join(args)} raised instead of refusing:\n{tb}")
    assert result.exit_code == 2, (result.exit_code, err, result.stdout)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    assert lines[0].startswith("tandem: error: "), lines[0]
    assert "Traceback" not in err
    for name in names:
        assert name.lower() in lines[0].lower(), f"{name!r} not named in: {lines[0]}"
    assert store_fingerprint(db) == before, "a refused command changed the store"
    return Refusal(result.exit_code, err, result.stdout)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a SQLite store holding one carrier deck (atlas) and one customer deck (acme)."""
    path = tmp_path / "tandem.db"
    for args in (
        ["deck", "import", str(DECKS / "atlas.csv"), "--carrier", "atlas"],
        ["deck", "import", str(DECKS / "acme-telecom.csv"), "--customer", "acme"],
    ):
        result = CliRunner().invoke(
            cli,
            [*args, "--effective", "2026-11-01", "--now", "2026-11-01", "--db", str(path), "-q"],
        )
        assert result.exit_code == 0, result.output
    return path
