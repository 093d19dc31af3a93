"""The compiled rating book, cached on disk beside a SQLite store and reused while the store
has not changed.

Compiling both sides' books from a store of 2 x 150,000 rates (reading the rows through
SQL, then the trie) takes longer than pricing a million CDRs; a month-end run over many
files, or a rerun, compiles the same book again and again. :func:`load_rater` keeps the
plan-free books (:func:`tandem.rating.book.compile_book` with no plan) and the stored
tariff plan versions in one file, ``STORE.ratebook`` beside the SQLite file ``STORE``,
and builds the :class:`Rater` from it while the store is unchanged, without opening the
store at all.

**It can never be stale.** The file is keyed on the store's *fingerprint*: SQLite's file
change counter (bytes 24-27 of the database header, which SQLite increments on every
committed write transaction in rollback-journal mode, whoever writes: Tandem, the
``sqlite3`` shell, a migration), with the file's device, inode, size and modification
time. A store whose header says write-ahead-log mode (where the counter is not kept), a
pending hot journal, or a PostgreSQL store gets no cache: its book is compiled every run.
The fingerprint is read before the rates and again after them, and the cache is written
only when both agree (no write went in between).

**It is never trusted blindly.** The file holds only numbers, text and JSON (no pickle: a
foreign file can at worst be refused), a format version with a digest of the code that
compiled it (another Tandem's cache is stale), the store's absolute path and
fingerprint, and a checksum (XXH3-128) of everything else; a file that does not match in
every respect (corrupt, truncated, foreign, from another store or another Tandem book
format) is ignored and replaced. A cache that cannot be written (a read-only directory) is skipped.

**It loads in one read.** A JSON header, then the books' arrays as raw bytes at 64-byte
aligned offsets: loading is one read into one buffer, the checksum, and a numpy view
per array (no parsing, no per-row Python, no pandas). The books keep what pricing reads
(the trie, the per-row numbers, the prefix and destination texts dictionary-encoded), not
the store's rate rows themselves (``RateBook.rows`` is None in a cached book).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from tandem.rating.book import RateBook, compile_book
from tandem.rating.bookfile import (
    ALIGN,
    CACHE_SUFFIX,
    DIGEST_FIELD,
    FORMAT,
    MAGIC,
    BookPrefetch,
    cache_path,
    digest,
    read_book_file,
    sqlite_path,
    store_fingerprint,
)
from tandem.rating.price import Rater
from tandem.rating.schedule import PlanSchedule

if TYPE_CHECKING:
    from tandem.rating.plan import TariffPlan
    from tandem.store import Store, StoredPlan

__all__ = ["CACHE_SUFFIX", "cache_path", "load_rater", "sqlite_path", "store_fingerprint"]

#: RateBook fields that are not stored: rebuilt by ``with_plan`` (plans, grace, interval
#: sets) or a memo.
_REBUILT = {
    "plans",
    "grace",
    "row_sets",
    "set_start",
    "set_rate",
    "set_inc",
    "_uniform",
    "_native",
    "rows",
}


# -- writing ---------------------------------------------------------------------------------
# The file: MAGIC, the length of the JSON header (8 bytes, big-endian), the header, then
# every array's bytes at the offset the header gives (a multiple of 64 from the start), so
# that loading is one read and a view per array, no parsing and no per-row Python.


def _array_blobs(name: str, value: np.ndarray | pa.Array) -> dict[str, np.ndarray]:
    """The raw arrays a book field is kept as: itself, or an Arrow string array's offsets
    and bytes. ValueError for anything else (then nothing is cached)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise ValueError(f"{name}: object array")
        return {name: np.ascontiguousarray(value)}
    if value.type != pa.string() or value.null_count or value.offset:
        raise ValueError(f"{name}: {value.type} array")
    offsets, data = value.buffers()[1:]
    return {
        f"{name}@offsets": np.frombuffer(offsets, np.int32, len(value) + 1),
        f"{name}@data": np.zeros(0, np.uint8) if data is None else np.frombuffer(data, np.uint8),
    }


def _book_parts(book: RateBook) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON fields, arrays) of a plan-free book; ValueError when a field has a type this
    format does not keep (then nothing is cached)."""
    book.strings()
    meta: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for f in fields(book):
        if f.name in _REBUILT:
            continue
        value = getattr(book, f.name)
        if isinstance(value, np.ndarray | pa.Array):
            arrays.update(_array_blobs(f.name, value))
        elif value is None or isinstance(value, str | int | float | bool | list | dict):
            json.dumps(value)  # plain JSON or a TypeError
            meta[f.name] = value
        else:
            raise ValueError(f"{f.name}: {type(value).__name__}")
    return meta, arrays


def _plan_json(v: StoredPlan) -> dict[str, Any]:
    """A stored plan version as JSON: the fields :class:`_CachedPlan` reads back."""
    record = {f.name: getattr(v, f.name) for f in fields(_CachedPlan)}
    record["imported_at"] = v.imported_at.isoformat()
    return record


_MAGIC, _ALIGN, _digest = MAGIC, ALIGN, digest


def _save(
    path: Path,
    db_file: Path,
    fingerprint: list[int],
    books: dict[str, RateBook],
    plans: list[StoredPlan],
) -> None:
    meta: dict[str, Any] = {
        "format": FORMAT,
        "store": os.fspath(db_file),
        "fingerprint": fingerprint,
        "plans": [_plan_json(v) for v in plans],
    }
    arrays: dict[str, np.ndarray] = {}
    for side, book in books.items():
        m, a = _book_parts(book)
        meta[side] = m
        arrays.update({f"{side}/{k}": v for k, v in a.items()})
    layout: list[list[Any]] = []
    offsets: list[int] = []
    at = 0
    for name, arr in arrays.items():
        layout.append([name, arr.dtype.str, list(arr.shape), at, arr.nbytes])
        offsets.append(at)
        at += -(-arr.nbytes // _ALIGN) * _ALIGN
    meta["arrays"] = layout
    meta["body"] = at
    body = bytearray(at)
    for offset, arr in zip(offsets, arrays.values(), strict=True):
        body[offset : offset + arr.nbytes] = arr.tobytes()
    meta[DIGEST_FIELD] = _digest(meta, bytes(body))
    head = json.dumps(meta).encode()
    start = len(_MAGIC) + 8 + len(head)
    pad = -start % _ALIGN
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(_MAGIC + (len(head) + pad).to_bytes(8, "big") + head + b" " * pad)
            fh.write(body)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# -- reading ---------------------------------------------------------------------------------


def _book_from(side: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RateBook:
    values: dict[str, Any] = {"rows": None}
    for f in fields(RateBook):
        if f.name in _REBUILT or f.name == "rows":
            continue
        key = f"{side}/{f.name}"
        if key in arrays:
            values[f.name] = arrays[key]
        elif f"{key}@offsets" in arrays:
            offsets, data = arrays[f"{key}@offsets"], arrays[f"{key}@data"]
            values[f.name] = pa.Array.from_buffers(
                pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
            )
            values[f.name].validate(full=True)
        else:
            values[f.name] = meta[f.name]
    book = RateBook(**values, grace=np.zeros(len(values["accounts"]), dtype=np.int64), plans=[])
    return book.with_plan(None)


@dataclass(frozen=True)
class _CachedPlan:
    """A stored tariff plan version as the cache keeps it: the fields of
    :class:`tandem.store.StoredPlan` (imported without the store, so that pricing from the
    cache does not load SQLAlchemy)."""

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
        """As :attr:`StoredPlan.voided`."""
        return self.effective_until is not None and self.effective_until <= self.effective_from


def _load(
    path: Path, db_file: Path, fingerprint: list[int], prefetched: BookPrefetch | None = None
) -> tuple[dict, list] | None:
    """The cached books and plan versions, or None when the file is missing, stale,
    corrupt or foreign (:func:`tandem.rating.bookfile.read_book_file`; what ``prefetched``
    read already, when it read the same file at the same fingerprint)."""
    found = prefetched.take(db_file, fingerprint) if prefetched is not None else None
    if found is None:
        found = read_book_file(path, db_file, fingerprint)
    if found is None:
        return None
    meta, buffer = found
    try:
        body = np.frombuffer(buffer, dtype=np.uint8)
        arrays = {}
        for name, dtype, shape, offset, n in meta["arrays"]:
            arr = body[offset : offset + n].view(np.dtype(dtype))
            arrays[name] = arr.reshape(shape)
        books = {side: _book_from(side, meta[side], arrays) for side in ("sell", "buy")}
        plans = [
            _CachedPlan(**{**p, "imported_at": datetime.fromisoformat(p["imported_at"])})
            for p in meta["plans"]
        ]
        return books, plans
    except Exception:  # noqa: BLE001 - any unreadable cache is rebuilt, never trusted
        return None


# -- the rater -------------------------------------------------------------------------------


def load_rater(
    db: str | os.PathLike[str] | None,
    open_store: Callable[[], Store],
    *,
    plan: TariffPlan | None = None,
    grace: int = 0,
    workers: int = 2,
    prefetched: BookPrefetch | None = None,
) -> tuple[Rater, PlanSchedule | None]:
    """The :class:`Rater` of the store at ``db`` (as :meth:`Rater.from_store` builds it),
    from the cache when the store is unchanged, and the store's tariff plan schedule.

    ``open_store`` opens the store (only called on a cache miss). With ``plan`` every CDR
    is priced under that plan (the schedule is then still returned, for the summary);
    without it, each by the stored plan in force at its start. ``prefetched``: the cache
    file already being read (:class:`tandem.rating.bookfile.BookPrefetch`).
    """
    db_file = sqlite_path(db)
    fingerprint = store_fingerprint(db_file) if db_file is not None else None
    path = cache_path(db_file) if db_file is not None else None
    found = None
    if path is not None and db_file is not None and fingerprint and path.exists():
        found = _load(path, db_file, fingerprint, prefetched)
    if found is not None:
        books, versions = found
    else:
        store = open_store()
        before = store_fingerprint(db_file) if db_file is not None else None
        rates = store.rates()
        versions = store.plan_history("tariff")
        books = {
            "sell": compile_book(rates, "customer", None),
            "buy": compile_book(rates, "carrier", None),
        }
        del rates
        after = store_fingerprint(db_file) if db_file is not None else None
        if path is not None and db_file is not None and before is not None and before == after:
            # no cache this time (read-only directory, a field not kept): compiled again
            with contextlib.suppress(OSError, ValueError, TypeError):
                _save(path, db_file, before, books, versions)
    schedule = PlanSchedule.from_versions(cast("list[StoredPlan]", versions)) if versions else None
    rater = Rater.from_books(
        books["sell"],
        books["buy"],
        plan if plan is not None else schedule,
        grace=grace,
        workers=workers,
    )
    return rater, schedule
