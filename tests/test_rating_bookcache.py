"""The compiled rating book cached beside a SQLite store: reused while the store is
unchanged, never when it changed, and a corrupt or foreign cache file is rebuilt."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
import xxhash
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.cli.main import cli
from tandem.rating.bookcache import cache_path, load_rater, store_fingerprint
from tandem.rating.bookfile import DIGEST_FIELD, MAGIC, read_book_file
from tandem.rating.cdr import canonical_table
from tandem.rating.price import Rater
from tandem.store import Store

DECKS = Path(__file__).resolve().parents[1] / "data" / "decks"
START = 1_793_577_600  # 2026-11-02


def _import(db: Path, deck: Path, *account: str, effective: str = "2026-11-01") -> None:
    result = CliRunner().invoke(
        cli,
        [
            "deck",
            "import",
            str(deck),
            *account,
            "--effective",
            effective,
            "--now",
            effective,
            "--db",
            str(db),
            "-q",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "tandem.db"
    _import(path, DECKS / "atlas.csv", "--carrier", "atlas")
    _import(path, DECKS / "acme-telecom.csv", "--customer", "acme")
    return path


CDRS = canonical_table(
    pa.table(
        {
            "start": [START + i for i in range(6)],
            "duration": [0, 1, 59, 61, 600, 3601],
            "number": [
                "12125550100",
                "13105550100",
                "14165550100",
                "447700900000",
                "12125550101",
                "999",
            ],  # fmt: skip
            "customer": ["acme"] * 6,
            "carrier": ["atlas"] * 6,
        }
    )
)


class Opens:
    """``open_store`` for :func:`load_rater` that counts the opens (cache misses)."""

    def __init__(self, db: Path) -> None:
        self.db, self.count = db, 0

    def __call__(self) -> Store:
        self.count += 1
        return Store(str(self.db))


def _prices(rater: Rater) -> list:
    return rater.price(CDRS).to_pylist()


def test_the_cached_book_prices_as_the_compiled_one_and_skips_the_store(db):
    expected = _prices(Rater.from_store(Store(str(db))))
    opens = Opens(db)
    first, _ = load_rater(db, opens)
    assert opens.count == 1 and cache_path(db).exists()
    second, schedule = load_rater(db, opens)
    assert opens.count == 1, "an unchanged store was opened again"
    assert schedule is None
    assert _prices(first) == _prices(second) == expected


def test_a_changed_store_is_never_priced_from_the_old_cache(db, tmp_path):
    opens = Opens(db)
    before = _prices(load_rater(db, opens)[0])
    # a new customer deck version: every rate changes
    deck = tmp_path / "acme2.csv"
    text = (DECKS / "acme-telecom.csv").read_text().replace(",0.00", ",0.09")
    deck.write_text(text)
    _import(db, deck, "--customer", "acme", effective="2026-11-01")
    after, _ = load_rater(db, opens)
    assert opens.count == 2
    assert _prices(after) == _prices(Rater.from_store(Store(str(db))))
    assert _prices(after) != before
    # a write by hand through SQLite (no Tandem code) is seen too
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE rates SET rate = rate + 1")
    con.close()
    third, _ = load_rater(db, opens)
    assert opens.count == 3
    assert _prices(third) == _prices(Rater.from_store(Store(str(db))))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "other store"])
def test_a_corrupt_or_foreign_cache_is_rebuilt_not_trusted(db, tmp_path, damage):
    expected = _prices(Rater.from_store(Store(str(db))))
    opens = Opens(db)
    load_rater(db, opens)
    path = cache_path(db)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 3]
    elif damage == "garbage":
        data = bytearray(b"PK\x03\x04" + b"\x00" * 200)
    else:  # the cache of a copy of the store, at another path, with other rates
        other = tmp_path / "other" / "tandem.db"
        other.parent.mkdir()
        other.write_bytes(db.read_bytes())
        con = sqlite3.connect(other)
        with con:
            con.execute("UPDATE rates SET rate = rate * 3")
        con.close()
        load_rater(other, Opens(other))
        data = bytearray(cache_path(other).read_bytes())
    path.write_bytes(bytes(data))
    rater, _ = load_rater(db, opens)
    assert opens.count == 2, "a damaged or foreign cache was used"
    assert _prices(rater) == expected
    load_rater(db, opens)  # rebuilt: used again
    assert opens.count == 2


@given(where=st.floats(0, 1), bit=st.integers(0, 7))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_one_flipped_bit_anywhere_in_the_body_is_refused(db, where, bit):
    """The checksum (XXH3-128) covers every byte of the arrays: one bit changed anywhere,
    first byte to last, and the file is not used."""
    load_rater(db, Opens(db))
    path = cache_path(db)
    data = bytearray(path.read_bytes())
    meta, _body = read_book_file(path, db.resolve(), store_fingerprint(db))
    body_start = len(data) - meta["body"]
    at = body_start + min(int(where * meta["body"]), meta["body"] - 1)
    data[at] ^= 1 << bit
    path.write_bytes(bytes(data))
    assert read_book_file(path, db.resolve(), store_fingerprint(db)) is None


def test_the_header_carries_an_xxh3_128_checksum_of_header_and_body(db):
    load_rater(db, Opens(db))
    path = cache_path(db)
    raw = path.read_bytes()
    size = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 8], "big")
    meta = json.loads(raw[len(MAGIC) + 8 : len(MAGIC) + 8 + size])
    body = raw[len(MAGIC) + 8 + size :]
    assert len(body) == meta["body"]
    checksum = meta.pop(DIGEST_FIELD)
    assert DIGEST_FIELD == "xxh3_128" and "sha256" not in meta
    expected = xxhash.xxh3_128(json.dumps(meta, sort_keys=True).encode() + body).hexdigest()
    assert checksum == expected


def test_a_write_ahead_log_store_gets_no_cache(db):
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    assert store_fingerprint(db) is None
    opens = Opens(db)
    load_rater(db, opens)
    load_rater(db, opens)
    assert opens.count == 2 and not cache_path(db).exists()


def test_tandem_rate_uses_the_cache_and_gives_the_same_results(db, tmp_path):
    import pyarrow.parquet as pq

    src = tmp_path / "cdrs.parquet"
    pq.write_table(CDRS.drop_columns(["record"]), src)
    outs = []
    for k in range(2):
        out = tmp_path / f"rated{k}.parquet"
        result = CliRunner().invoke(cli, ["rate", str(src), "-o", str(out), "--db", str(db), "-q"])
        assert result.exit_code == 0, result.output
        outs.append(pq.read_table(out))
        assert cache_path(db).exists()
    assert outs[0].equals(outs[1])


_CACHED_RUN = """
import json, os, runpy, subprocess, sys
spawned = []
class Popen(subprocess.Popen):
    def __init__(self, args, *a, **k):
        spawned.append(args)
        super().__init__(args, *a, **k)
subprocess.Popen = Popen
def report():
    loaded = {m.split(".")[0] for m in sys.modules}
    print(json.dumps(sorted(loaded | ({"spawned"} if spawned else set()))), flush=True)
exit_now = os._exit
def _exit(code):  # tandem rate ends with os._exit: report the modules first
    assert code == 0, code
    report()
    exit_now(code)
os._exit = _exit
sys.argv = ["tandem", "--db", sys.argv[1], "rate", sys.argv[2], "-o", sys.argv[3], "--json", "-q"]
try:
    runpy.run_module("tandem", run_name="__main__")
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
report()
"""


def test_a_cached_run_loads_no_sql_stack_and_the_book_in_one_read(db, tmp_path):
    import json
    import subprocess
    import sys

    import pyarrow.parquet as pq

    from tandem.rating import bookcache

    src = tmp_path / "cdrs.parquet"
    pq.write_table(CDRS.drop_columns(["record"]), src)
    root = Path(__file__).resolve().parents[1]
    runs = []
    for k in range(2):  # the first run compiles and writes the cache, the second reads it
        done = subprocess.run(
            [sys.executable, "-c", _CACHED_RUN, str(db), str(src), str(tmp_path / f"r{k}.parquet")],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        runs.append(set(json.loads(done.stdout.strip().splitlines()[-1])))
    assert "sqlalchemy" in runs[0]  # compiled from the store
    # The cached run loads no SQL stack, nor pandas (pyarrow's pandas shim loads it on the
    # first pa.array, pa.scalar or to_numpy: a third of a second in, as much again at exit;
    # tandem.rating.arrays does not), and starts no process (ctypes.util.find_library runs
    # ldconfig: 30 ms)
    assert runs[1].isdisjoint({"sqlalchemy", "alembic", "rich", "pandas", "spawned"}), runs[1]
    assert cache_path(db).read_bytes().startswith(bookcache._MAGIC)
    books, _plans = bookcache._load(cache_path(db), db.resolve(), store_fingerprint(db.resolve()))
    for book in books.values():
        assert book.rows is None  # the rate rows are not kept, only what pricing reads
        codes, names, _, _ = book.strings()
        assert len(codes) == len(book.rate) and len(names) <= len(book.rate)


_EXIT_RUN = """
import atexit, runpy, sys
atexit.register(lambda: print("teardown", file=sys.stderr))
sys.argv = ["tandem", *sys.argv[1:]]
runpy.run_module("tandem", run_name="__main__")
"""


def test_tandem_rate_ends_without_teardown_after_its_output_is_complete(db, tmp_path):
    # tandem rate skips Python's teardown (os._exit) once its files are committed: its
    # piped output is complete all the same; other commands and failures end as usual.
    import json
    import subprocess
    import sys

    import pyarrow.parquet as pq

    src = tmp_path / "cdrs.parquet"
    pq.write_table(CDRS.drop_columns(["record"]), src)
    root = Path(__file__).resolve().parents[1]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _EXIT_RUN, "--db", str(db), *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )

    for extra in (["--json"], []):
        out = tmp_path / f"rated{len(extra)}.parquet"
        done = run("rate", str(src), "-o", str(out), *extra)
        assert done.returncode == 0, done.stderr
        assert "teardown" not in done.stderr
        if extra:
            assert json.loads(done.stdout)["rows_in"] == len(CDRS)
        else:
            assert done.stdout.startswith(f"{len(CDRS)} CDRs: ")
        assert pq.read_table(out).num_rows + pq.read_table(
            out.with_name(out.stem + ".unrated.parquet")
        ).num_rows == len(CDRS)
    failed = run("rate", str(tmp_path / "missing.parquet"), "-o", str(tmp_path / "x.parquet"))
    assert failed.returncode == 2 and "teardown" in failed.stderr
    listed = run("deck", "list")
    assert listed.returncode == 0 and "teardown" in listed.stderr


def test_a_prefetched_cache_prices_as_the_cache_read_in_place(db):
    # tandem rate reads the cache file on a thread while it imports; the rater built from
    # what the thread read prices as the one built from the file read in place.
    from tandem.rating.bookfile import BookPrefetch

    opens = Opens(db)
    expected = _prices(load_rater(db, opens)[0])  # compiles and writes the cache
    prefetched = BookPrefetch(db)
    rater, _ = load_rater(db, opens, prefetched=prefetched)
    assert opens.count == 1
    assert _prices(rater) == expected
    assert prefetched.take(db.resolve(), store_fingerprint(db.resolve())) is None  # once only


def test_a_prefetch_from_before_a_store_change_is_not_used(db, tmp_path):
    # The store changes after the thread read the cache (its fingerprint with it): the
    # run must price with the new rates, from neither what was read nor the stale cache.
    from tandem.rating.bookfile import BookPrefetch

    opens = Opens(db)
    load_rater(db, opens)
    prefetched = BookPrefetch(db)
    before = store_fingerprint(db.resolve())
    assert prefetched.take(db.resolve(), before) is not None  # read whole and checked
    prefetched = BookPrefetch(db)
    prefetched._done.wait()
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE rates SET rate = rate + 1")
    con.close()
    assert store_fingerprint(db.resolve()) != before
    rater, _ = load_rater(db, opens, prefetched=prefetched)
    assert opens.count == 2  # compiled again from the store
    assert _prices(rater) == _prices(Rater.from_store(Store(str(db))))


def test_the_cache_file_is_read_without_numpy_or_pyarrow():
    # What tandem rate starts on its thread before the heavy imports must not import them.
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; import tandem.rating.bookfile;"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint({"numpy", "pyarrow", "pandas", "sqlalchemy"}), loaded


def test_skip_teardown_keeps_what_it_is_given_until_the_next_request():
    # tandem rate hands its rating book to skip_teardown: the book is not freed (its
    # mapping unmapped) when the command returns, but with the process; the next
    # command's reset lets it go, so at most one command's objects are kept.
    import gc
    import weakref

    from tandem.cli import context

    class Book:
        pass

    book = Book()
    gone = weakref.ref(book)
    context.skip_teardown(book)
    del book
    gc.collect()
    assert gone() is not None
    assert context.teardown_skipped()  # the request: the process ends now, book kept
    gc.collect()
    assert gone() is not None
    assert not context.teardown_skipped()  # the next command's reset lets it go
    gc.collect()
    assert gone() is None
