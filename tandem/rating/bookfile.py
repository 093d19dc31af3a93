"""The rating-book cache file (:mod:`tandem.rating.bookcache`) read and checked with the
standard library and ``xxhash`` alone, so that ``tandem rate`` can start reading it on a
thread before it imports numpy, pyarrow and the pricing code (:class:`BookPrefetch`).

Reading the cache of a 2 x 150,000-prefix store is one read of some 50 MB and its checksum
(XXH3-128): tens of milliseconds in which the interpreter, holding the GIL, is importing
modules anyway. File reads and hashing release the GIL, so on a thread the two overlap.

The checksum guards against a corrupt or truncated file (a torn copy, a bad disk, a file
of another Tandem), not against a forger: whoever can write the cache beside the store
can write the store itself. XXH3-128 (the ``xxhash`` package) checks the 53 MB of a
2 x 150,000-prefix book in about 3.5 ms where SHA-256 took 47-77 ms, which ``tandem
rate`` waited for before it could price (the digest's 128 bits make an accidental match
as unlikely as SHA-256's does for this purpose).

Everything here is as :mod:`tandem.rating.bookcache` describes (the layout, the store
fingerprint, the checks); that module turns the checked bytes into rating books.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import threading
from pathlib import Path
from typing import Any

import xxhash

from tandem.files import anonymous_map

__all__ = [
    "CACHE_SUFFIX",
    "DIGEST_FIELD",
    "FORMAT",
    "MAGIC",
    "BookPrefetch",
    "cache_path",
    "digest",
    "read_book_file",
    "sqlite_path",
    "store_fingerprint",
]

#: The cache file of store ``X`` is ``X`` + this suffix.
CACHE_SUFFIX = ".ratebook"
#: The cache file's first bytes.
MAGIC = b"TANDEM-RATEBOOK\n"
#: Every array of the body starts at a multiple of this many bytes.
ALIGN = 64
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _code_version() -> str:
    """The cache format and a digest of the code that gives its arrays their meaning (the
    book compiler, the number keys, the money scale, the cache's reader and writer): a
    cache written by other code is stale."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    names = ("book.py", "bookcache.py", "bookfile.py", "keys.py", "../money.py", "../numbers.py")
    for f in (here / name for name in names):
        with contextlib.suppress(OSError):
            h.update(f.read_bytes())
    return "tandem-ratebook-3:" + h.hexdigest()[:16]


#: The cache file format, with the code version (see :func:`_code_version`).
FORMAT = _code_version()


def sqlite_path(db: str | os.PathLike[str] | None) -> Path | None:
    """The file of a SQLite store location (a path or ``sqlite:///`` URL), else None."""
    if db is None:
        db = os.environ.get("TANDEM_DB") or "tandem.db"
    text = os.fspath(db)
    if "://" in text:
        if not text.startswith("sqlite:///") or text == "sqlite:///":
            return None
        text = text[len("sqlite:///") :]
        if text.startswith(":memory:") or "?" in text:
            return None
    return Path(text).expanduser().resolve()


def cache_path(db_file: Path) -> Path:
    """Where the book of the store file ``db_file`` is cached."""
    return db_file.with_name(db_file.name + CACHE_SUFFIX)


def store_fingerprint(db_file: Path) -> list[int] | None:
    """The fingerprint of a SQLite store file (see :mod:`tandem.rating.bookcache`), or None
    when the file has none that can be trusted (not SQLite, WAL mode, a hot journal,
    unreadable)."""
    try:
        with open(db_file, "rb") as fh:
            st = os.fstat(fh.fileno())
            header = fh.read(100)
        if (
            Path(os.fspath(db_file) + "-journal").exists()
            or Path(os.fspath(db_file) + "-wal").exists()
        ):
            return None
    except OSError:
        return None
    if len(header) < 100 or header[:16] != _SQLITE_MAGIC or header[18] != 1 or header[19] != 1:
        return None  # not SQLite, or not rollback-journal mode
    counter = int.from_bytes(header[24:28], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    return [counter, valid_for, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


#: The header field holding the checksum (:func:`digest`).
DIGEST_FIELD = "xxh3_128"


def digest(meta: dict[str, Any], body: memoryview | bytes | bytearray | mmap.mmap) -> str:
    """XXH3-128 (hex) of the header (without its checksum) and every array byte."""
    h = xxhash.xxh3_128(json.dumps(meta, sort_keys=True).encode())
    h.update(body)
    return h.hexdigest()


def read_book_file(
    path: Path, db_file: Path, fingerprint: list[int]
) -> tuple[dict[str, Any], mmap.mmap | bytearray] | None:
    """``(header, body)`` of the cache file ``path`` of store ``db_file`` when it is this
    code's format, of that store at ``fingerprint``, whole and its checksum
    (:func:`digest`) right; else None (missing, stale, corrupt or foreign). The body is
    page-aligned (every array in it is aligned for its type); the header no longer holds
    its checksum."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(MAGIC) + 8)
            if len(head) != len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
                return None
            size = int.from_bytes(head[len(MAGIC) :], "big")
            if size > 1 << 24:
                return None
            meta = json.loads(fh.read(size))
            if (
                not isinstance(meta, dict)
                or meta.get("format") != FORMAT
                or meta.get("store") != os.fspath(db_file)
                or meta.get("fingerprint") != fingerprint
            ):
                return None
            total = int(meta["body"])
            if not 0 <= total <= os.fstat(fh.fileno()).st_size:
                return None
            body: mmap.mmap | bytearray = anonymous_map(total, huge=True) if total else bytearray()
            if fh.readinto(body) != total or fh.read(1):
                return None
        if meta.pop(DIGEST_FIELD, None) != digest(meta, body):
            return None
        return meta, body
    except Exception:  # noqa: BLE001 - any unreadable cache is rebuilt, never trusted
        return None


class BookPrefetch:
    """The cache file of the store at ``db`` read and checked (:func:`read_book_file`) on a
    thread, started when this is made; :meth:`take` hands the result over."""

    def __init__(self, db: str | os.PathLike[str] | None) -> None:
        self.db_file = sqlite_path(db)
        self._done = threading.Event()
        self._result: tuple[list[int], tuple[dict[str, Any], Any] | None] | None = None
        if self.db_file is None:
            self._done.set()
            return
        threading.Thread(target=self._read, name="ratebook", daemon=True).start()

    def _read(self) -> None:
        try:
            assert self.db_file is not None
            fingerprint = store_fingerprint(self.db_file)
            if fingerprint:
                path = cache_path(self.db_file)
                self._result = fingerprint, read_book_file(path, self.db_file, fingerprint)
        finally:
            self._done.set()

    def take(
        self, db_file: Path, fingerprint: list[int]
    ) -> tuple[dict[str, Any], mmap.mmap | bytearray] | None:
        """What was read for store ``db_file``, if it was read at the same ``fingerprint``
        (else None: the caller reads the file itself). Once only."""
        self._done.wait()
        result, self._result = self._result, None
        if result is None or db_file != self.db_file or result[0] != fingerprint:
            return None
        return result[1]
