"""Exports a full disk cannot truncate, CSV cells a spreadsheet cannot run, and deck
versions that can be deleted (issue 10 items 5, 11 and 8, second half)."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.csvcells import FORMULA_STARTS
from tests.hostile.conftest import run_refused, store_fingerprint

EXPORT = ["deck", "export", "atlas", "--carrier", "--at", "2026-11-15"]


def _export(db: Path, out: Path) -> None:
    result = CliRunner().invoke(cli, [*EXPORT, "-o", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output


class _FullDisk:
    """A file whose disk fills after ``room`` characters: part is written, then ENOSPC."""

    def __init__(self, fh: Any, room: int) -> None:
        self._fh = fh
        self._room = room

    def write(self, data: Any) -> int:
        if len(data) > self._room:
            self._fh.write(data[: self._room])
            self._fh.flush()
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Every file opened for writing from here on runs out of space after ``room`` chars."""
    real_open = io.open

    def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(file, mode, *args, **kwargs)
        return _FullDisk(fh, room) if ("w" in mode or "a" in mode) else fh

    monkeypatch.setattr(io, "open", full_open)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- item 5: deck export writes whole or not at all ------------------------------------------


def test_a_full_disk_leaves_the_previous_export_intact(db, tmp_path, monkeypatch):
    out = tmp_path / "out" / "atlas.csv"
    out.parent.mkdir()
    _export(db, out)
    before = out.read_bytes()
    assert before.count(b"\n") > 10
    _fill_disk_after(monkeypatch, 200)
    run_refused([*EXPORT, "-o", str(out)], db, names=["atlas.csv", "No space left"])
    assert out.read_bytes() == before
    assert _leftovers(out.parent) == []


def test_a_full_disk_on_a_first_export_leaves_no_file(db, tmp_path, monkeypatch):
    out = tmp_path / "atlas.csv"
    _fill_disk_after(monkeypatch, 200)
    run_refused([*EXPORT, "-o", str(out)], db, names=["atlas.csv", "No space left"])
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_an_export_is_flushed_to_the_disk_before_it_replaces_the_file(db, tmp_path, monkeypatch):
    # A disk that reports ENOSPC only when the data is flushed (delayed allocation, NFS).
    out = tmp_path / "atlas.csv"
    _export(db, out)
    before = out.read_bytes()
    synced: list[int] = []

    def fsync_full(fd: int) -> None:
        synced.append(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync_full)
    run_refused([*EXPORT, "-o", str(out)], db, names=["atlas.csv", "No space left"])
    assert synced and out.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_plan_export_to_a_full_disk_leaves_the_previous_file(db, tmp_path, monkeypatch):
    plan = Path(__file__).resolve().parents[2] / "data" / "routing.toml"
    imported = CliRunner().invoke(cli, ["plan", "import", str(plan), "--db", str(db), "-q"])
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "exported.toml"
    out.write_text("previous\n")
    _fill_disk_after(monkeypatch, 10)
    run_refused(["plan", "export", "-o", str(out)], db, names=["exported.toml", "No space"])
    assert out.read_text() == "previous\n"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ("/proc/tandem-export.csv", ["/proc/tandem-export.csv"]),  # the kernel refuses files
        ("/sys/tandem-export.csv", ["/sys/tandem-export.csv"]),
        ("{tmp}/no/such/dir/atlas.csv", ["atlas.csv"]),
    ],
)
def test_export_to_a_place_that_refuses_files_is_one_line(db, tmp_path, where, names):
    target = where.format(tmp=tmp_path)
    run_refused([*EXPORT, "-o", target], db, names=names)
    assert _leftovers(tmp_path) == []


def test_an_export_keeps_the_permissions_of_the_file_it_replaces(db, tmp_path):
    out = tmp_path / "atlas.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    _export(db, out)
    assert (out.stat().st_mode & 0o777) == 0o640
    assert out.read_text().startswith("Code,Destination")


# -- item 11: CSV formula injection ------------------------------------------------------------

HOSTILE_NAMES = [
    "=cmd|' /C calc'!A0",
    '+HYPERLINK("http://x","y")',
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "'=already quoted",
    "''+twice",
    "'plain quote",
    "Mobile - Premium",
]


def _deck_with(destinations: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Code", "Destination", "Rate"])
    for i, name in enumerate(destinations):
        w.writerow([f"44{i:04d}", name, "0.0100"])
    return buf.getvalue().encode("utf-8")


def _import(db: Path, path: Path, account: str, kind: str = "carrier") -> None:
    result = CliRunner().invoke(
        cli,
        ["deck", "import", str(path), f"--{kind}", account, "--effective", "2026-11-01",
         "--now", "2026-11-01", "--db", str(db), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def _stored_destinations(db: Path, account: str) -> dict[str, str]:
    from tandem.store import Store

    with Store(db) as store:
        frame = store.rates(kind="carrier", accounts=[account])
    return dict(zip(frame["prefix"], frame["destination"], strict=True))


def _text_cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return [row[1] for row in rows[1:]]


def test_deck_export_neutralises_formulas_and_import_gives_the_names_back(tmp_path):
    db = tmp_path / "t.db"
    deck = tmp_path / "hostile.csv"
    deck.write_bytes(_deck_with(HOSTILE_NAMES))
    _import(db, deck, "evil")
    stored = _stored_destinations(db, "evil")
    assert stored["440000"] == "=cmd|' /C calc'!A0"
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(
        cli, ["deck", "export", "evil", "--at", "2026-11-02", "-o", str(out), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    cells = _text_cells(out)
    assert len(cells) == len(HOSTILE_NAMES)
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)], cells
    assert "'=cmd|' /C calc'!A0" in cells and "Mobile - Premium" in cells
    _import(db, out, "evil-again")
    assert _stored_destinations(db, "evil-again") == stored


def test_deck_export_to_stdout_neutralises_too(tmp_path):
    db = tmp_path / "t.db"
    deck = tmp_path / "hostile.csv"
    deck.write_bytes(_deck_with(["=1+1"]))
    _import(db, deck, "evil")
    result = CliRunner().invoke(
        cli, ["deck", "export", "evil", "--at", "2026-11-02", "-o", "-", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert "'=1+1" in result.stdout and "\n=1+1" not in result.stdout


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: Any text: control characters, line breaks and formula characters included.
_ANY_NAME = st.text(
    alphabet=st.one_of(
        st.sampled_from(["=", "+", "-", "@", "'", "\t", "\r", "\n", '"', ",", ";", " ", "|"]),
        st.characters(blacklist_categories=("Cs",)),
    ),
    min_size=1,
    max_size=30,
)

#: Names a CSV deck can carry back: no line break (the deck reader reads one row per line)
#: and no surrounding spaces (it trims them), but a leading tab that would start a formula.
_CSV_NAME = st.builds(
    lambda tab, core: tab + core.strip(),
    st.sampled_from(["", "\t"]),
    st.text(
        alphabet=st.one_of(
            st.sampled_from(["=", "+", "-", "@", "'", '"', ",", ";", " ", "|", "!"]),
            st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
        ),
        min_size=1,
        max_size=30,
    ),
).filter(lambda name: name.strip() != "")


class _Stores:
    """One store per property test, shared by its examples (a new store is migrated
    first, which costs more than an example); each example writes fresh accounts."""

    def __init__(self) -> None:
        self.made: dict[str, Any] = {}
        self.count = 0

    def get(self, factory: pytest.TempPathFactory, key: str) -> Any:
        from tandem.store import Store

        if key not in self.made:
            self.made[key] = Store(factory.mktemp(key) / "t.db")
        self.count += 1
        return self.made[key]


_STORES = _Stores()


def _write_names(store: Any, account: str, names: list[str]) -> dict[str, str]:
    """Store ``names`` as ``account``'s destinations (the library's writer: any text)."""
    import pandas as pd

    prefixes = [f"44{i:04d}" for i in range(len(names))]
    frame = pd.DataFrame({"prefix": prefixes, "destination": names, "rate": 100})
    store.write_deck(account, "carrier", frame, currency="USD", effective_from="2026-11-01")
    return dict(zip(prefixes, names, strict=True))


def _db_of(store: Any) -> Path:
    return Path(store.url.removeprefix("sqlite:///"))


def _export_cells(db: Path, account: str, out: Path) -> list[str]:
    result = CliRunner().invoke(
        cli, ["deck", "export", account, "--at", "2026-11-02", "-o", str(out), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    return _text_cells(out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_ANY_NAME, min_size=1, max_size=8))
def test_no_exported_text_cell_starts_a_formula(tmp_path_factory, names):
    store = _STORES.get(tmp_path_factory, "formula")
    account = f"src{_STORES.count}"
    _write_names(store, account, names)
    out = _db_of(store).with_name(f"{account}.csv")
    cells = _export_cells(_db_of(store), account, out)
    assert len(cells) == len(names)
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)], cells


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_CSV_NAME, min_size=1, max_size=8))
def test_any_destination_survives_export_and_import(tmp_path_factory, names):
    store = _STORES.get(tmp_path_factory, "roundtrip")
    account = f"src{_STORES.count}"
    stored = _write_names(store, account, names)
    db = _db_of(store)
    out = db.with_name(f"{account}.csv")
    cells = _export_cells(db, account, out)
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)], cells
    _import(db, out, f"copy-{account}")
    assert _stored_destinations(db, f"copy-{account}") == stored


def test_report_csvs_neutralise_names_but_not_numbers(tmp_path):
    import pyarrow as pa

    from tandem.decks.importer import import_deck
    from tandem.rating.cdr import CdrReader
    from tandem.rating.price import Rater
    from tandem.rating.report import RatingReport
    from tandem.store import Store

    buy = b"Code,Destination,Rate\n44,@SUM(1+1)*cmd|' /C calc'!A0,0.0500\n"
    sell = b'Code,Destination,Rate\n44,=HYPERLINK("http://x"),0.0100\n'
    with Store(tmp_path / "t.db") as store:
        for body, account, kind in ((buy, "+carrier", "carrier"), (sell, "-cust", "customer")):
            import_deck(store, body, account=account, kind=kind, now="2026-11-01",
                        options=None, source_name="d.csv")  # fmt: skip
        rater = Rater.from_store(store)
        cdrs = pa.table(
            {
                "start": pa.array([1_794_000_000], pa.int64()),
                "duration": pa.array([120], pa.int64()),
                "number": ["442071234567"],
                "customer": ["-cust"],
                "carrier": ["+carrier"],
            }
        )
        report = RatingReport()
        report.add(rater.price(next(CdrReader().batches(cdrs))))
    written = report.write(tmp_path / "rep")
    csvs = [p for p in written if p.suffix == ".csv"]
    assert len(csvs) == 4
    margins, names = [], set()
    for path in csvs:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows, path
        for row in rows:
            margins.append(row["margin"])
            for column in ("customer", "carrier", "destination", "currency", "day"):
                if column in row:
                    assert not row[column].startswith(FORMULA_STARTS), (path.name, row)
                    names.add(row[column])
    assert {"'-cust", "'+carrier", '\'=HYPERLINK("http://x")'} <= names, names
    assert all(m.startswith("-") for m in margins), margins  # a loss stays a number
    import pyarrow.parquet as pq

    names = pq.read_table(tmp_path / "rep" / "by_customer.parquet").column("customer")
    assert names.to_pylist() == ["-cust"]  # Parquet keeps the names as they are


@settings(max_examples=500, deadline=None)
@given(text=st.text())
def test_restore_undoes_neutralise_for_every_string(text):
    from tandem.csvcells import is_neutralised, neutralise_cell, restore_cell

    safe = neutralise_cell(text)
    assert not safe.startswith(FORMULA_STARTS)
    assert restore_cell(safe) == text
    assert is_neutralised(safe) == (safe != text)


# -- item 8 (second half): tandem deck delete ---------------------------------------------------

_LATER = "Code,Destination,Rate\n1,United States/Canada,0.0040\n44,United Kingdom,0.0100\n"


def _import_later(db: Path, tmp_path: Path) -> None:
    deck = tmp_path / "atlas-v2.csv"
    deck.write_text(_LATER)
    result = CliRunner().invoke(
        cli,
        ["deck", "import", str(deck), "--carrier", "atlas", "--effective", "2026-12-01",
         "--now", "2026-11-20", "--db", str(db), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


DELETE_REFUSALS = [
    # (args, names the error line must hold, whether a second atlas version is imported first)
    (["deck", "delete", "atlas", "--version", "1"], ["atlas", "in force since", "--force"], False),
    (["deck", "delete", "atlas", "--version", "1", "--dry-run"], ["in force since"], False),
    (["deck", "delete", "atlas", "--version", "1", "--json"], ["in force since"], False),
    (["deck", "delete", "acme", "--customer", "--version", "1"], ["acme", "in force"], False),
    (["deck", "delete", "atlas", "--version", "9"], ["no deck version 9", "versions: 1"], False),
    (["deck", "delete", "atlas", "--customer", "--version", "1"], ["no customer 'atlas'"], False),
    (["deck", "delete", "nobody", "--version", "1"], ["nobody"], False),
    (
        ["deck", "delete", "atlas", "--version", "1", "--now", "2026-10-01"],
        ["later version(s) 2", "--force"],
        True,
    ),
    (
        ["deck", "delete", "atlas", "--version", "2", "--now", "2026-12-02"],
        ["version 2", "in force since 2026-12-01"],
        True,
    ),
]


@pytest.mark.parametrize(("args", "names", "later"), DELETE_REFUSALS)
def test_deck_delete_refusals(db, tmp_path, args, names, later):
    if later:
        _import_later(db, tmp_path)
    refusal = run_refused(args, db, names=names)
    if "--json" in args:
        doc = json.loads(refusal.stdout)
        assert doc["refused"] is True and doc["written"] is False


def _run(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result


def test_deck_delete_latest_gives_back_the_rates_before_it(db, tmp_path):
    export_before = tmp_path / "before.csv"
    _run(db, "deck", "export", "atlas", "--at", "2026-12-15", "-o", str(export_before))
    _import_later(db, tmp_path)
    export_during = tmp_path / "during.csv"
    _run(db, "deck", "export", "atlas", "--at", "2026-12-15", "-o", str(export_during))
    assert export_during.read_bytes() != export_before.read_bytes()
    fingerprint = store_fingerprint(db)
    dry = _run(db, "deck", "delete", "atlas", "--version", "2", "--dry-run", "--json",
               "--now", "2026-11-25")  # fmt: skip
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] is True and doc["written"] is False
    assert doc["rates_deleted"] == 2 and doc["later_versions"] == []
    assert doc["rates_restored"] > 2  # the full deck closed every other atlas code
    assert store_fingerprint(db) == fingerprint
    done = _run(db, "deck", "delete", "atlas", "--version", "2", "--now", "2026-11-25")
    assert "rates deleted 2" in done.stdout and "deleted" in done.stdout.splitlines()[-1]
    export_after = tmp_path / "after.csv"
    _run(db, "deck", "export", "atlas", "--at", "2026-12-15", "-o", str(export_after))
    assert export_after.read_bytes() == export_before.read_bytes()
    listed = json.loads(_run(db, "deck", "list", "--carrier", "--json").stdout)
    assert [d["version"] for d in listed["decks"]] == [1]


def test_deck_delete_force_removes_the_last_version_and_the_account(db):
    done = _run(db, "deck", "delete", "acme", "--version", "1", "--force", "--json")
    doc = json.loads(done.stdout)
    assert doc["forced"] is True and doc["account_deleted"] is True and doc["written"] is True
    listed = json.loads(_run(db, "deck", "list", "--json").stdout)
    assert [(d["account"], d["kind"]) for d in listed["decks"]] == [("atlas", "carrier")]
