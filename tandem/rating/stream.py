"""Rating files larger than memory: Arrow record batches in, Parquet files out.

:func:`rate_file` reads a CDR file batch by batch (:class:`tandem.rating.cdr.CdrReader`),
prices each batch (:meth:`tandem.rating.price.Rater.price`), and appends the rated and
unrated rows to two Parquet files; memory stays constant whatever the file size.

Memory stays flat as the file grows: the Parquet reader does not pre-buffer (its read
cache would keep every row group read so far), one batch is read ahead
(:func:`read_ahead`) and at most one is being written while the next is priced, and every
:data:`RELEASE_EVERY` batches the memory allocators are asked to hand freed pages back to
the system (:func:`release_memory`), so that fragmentation does not creep up batch after
batch. (Between those calls freed memory is reused as it is, not handed back and touched
afresh: after every batch, the page faults cost about a sixth of a run's CPU time.
``tandem rate`` also sets glibc's allocator to do so, :func:`reuse_freed_memory`.)

**A run's outputs appear together or not at all.** The rated file, the unrated file and
the report tables (``report_dir``) are written to temporary files named
``.NAME.tandem-partial-PID`` beside their targets (the report's in a
``.tandem-partial-PID`` directory inside it). When all are complete they are flushed to
disk (``fsync``), then a commit journal ``.RATED.tandem-commit`` listing every rename is
written (and flushed) beside the rated file, then the earlier outputs are removed and the
new ones renamed in, then the journal is removed: at no moment does a reader find an
earlier run's file beside a new one. A run that fails or is stopped before the journal
leaves the earlier results untouched (its partial files are removed, or, after a kill -9,
by the next run); a run killed after it (during the renames) is completed by the next run
to the same rated output (:func:`recover_outputs`), before that run reads or writes
anything. So rerating the same CDRs replaces the earlier results whole (idempotent), and
no CDR is ever in both outputs. Outputs that would overwrite the input or each other are
refused first (:func:`check_outputs`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tandem.errors import CdrError, OutputError
from tandem.files import DirectWriter, sync_directory, sync_file
from tandem.instant import InstantLike, format_instant, parse_instant
from tandem.rating.amounts import INT64_DECIMAL_DIGITS
from tandem.rating.arrays import empty_table, from_numpy, scalar, to_numpy
from tandem.rating.cdr import CdrReader, is_frame
from tandem.rating.parquet_parallel import ParallelParquetWriter
from tandem.rating.price import PortLookup, Rater, RatingSummary, split_rated
from tandem.rating.report import RatingReport

__all__ = [
    "START_TYPE",
    "ReadAhead",
    "check_outputs",
    "default_unrated_path",
    "journal_path",
    "pid_alive",
    "output_times",
    "rate_file",
    "read_ahead",
    "recover_outputs",
    "release_memory",
    "reuse_freed_memory",
]


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``malloc_trim`` and ``mallopt``), else None.

    Its symbols are looked up among those the process has loaded (``dlopen(NULL)``), not
    by name: ``ctypes.util.find_library`` runs ``ldconfig -p`` in a subprocess, some 30 ms
    of every ``tandem rate``."""
    try:
        lib = ctypes.CDLL(None)
        return lib if lib.malloc_trim and lib.mallopt else None
    except (OSError, AttributeError, TypeError):
        return None


_LIBC = _glibc()
_TRIM: Callable[[int], int] | None = _LIBC.malloc_trim if _LIBC is not None else None
#: Batches between two :func:`release_memory` calls in :func:`rate_file`.
RELEASE_EVERY = 8
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory() -> bool:
    """Set glibc's allocator (process-wide; the ``tandem rate`` command calls it) to keep
    the memory a batch frees for the next batch instead of handing it back at once: blocks
    up to 64 MB come from the heap, not from a fresh ``mmap`` each (a batch's columns are a
    few MB), and the heap is trimmed by :func:`release_memory`, not on every ``free``.
    Returns False where the C library is not glibc (nothing changed)."""
    if _LIBC is None:
        return False
    _LIBC.mallopt(_M_MMAP_THRESHOLD, 64 << 20)
    _LIBC.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
    return True


_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int], int] | None:
    """Linux's ``sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)`` through glibc, or None
    (its result is a hint's: a failure only leaves the work to the commit's ``fsync``)."""
    fn = getattr(_LIBC, "sync_file_range", None) if _LIBC is not None else None
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return lambda fd: int(fn(fd, 0, 0, _SYNC_FILE_RANGE_WRITE))


_WRITEBACK = _sync_file_range()


def start_writeback(fh: BinaryIO) -> None:
    """Start writing ``fh``'s data so far to disk, without waiting (Linux; elsewhere a
    no-op): the commit's ``fsync`` then waits only for what was written since, not for
    the whole file (0.04-0.09 s instead of 0.12-0.15 s for 2-5 M rated CDRs here). What
    is durable, and when, is unchanged: the commit still flushes every file first."""
    if _WRITEBACK is not None:
        fh.flush()
        _WRITEBACK(fh.fileno())


def release_memory(arrow: bool = True) -> None:
    """Hand memory freed since the last call back to the system: Arrow's pool
    (``release_unused``; not with ``arrow=False``) and, with glibc, the C heap
    (``malloc_trim``), where numpy's temporaries live. A few milliseconds; called every
    :data:`RELEASE_EVERY` streamed batches for the C heap alone (Arrow's pool, whose
    freed pages ``tandem rate`` keeps for the next batches, would only fault them in
    again: some 20,000 page faults more at 5,000,000 CDRs), and after the last."""
    if arrow:
        pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)


_END = object()


class ReadAhead:
    """The batches of ``batches``, in order, each next one read on a thread while the
    caller works on the one it was given: reading and decoding the file (Parquet decoding
    releases the GIL) overlaps pricing and writing. The first batch is read from the
    moment this is made (``tandem rate`` makes it before it loads the rating book, so
    that the two overlap). One batch is read ahead, so memory stays bounded; an error
    reading the file is raised by :meth:`__next__`, as the plain loop would. The source is
    closed (its ``close``, if any) when it is exhausted, fails, or :meth:`close` is called.
    """

    def __init__(self, batches: Iterable[pa.Table]) -> None:
        self._it = iter(batches)
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(1, thread_name_prefix="read")
        self._pending: Future[object] | None = self._pool.submit(next, self._it, _END)

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> pa.Table:
        if self._pending is None or self._pool is None:
            raise StopIteration
        try:
            batch = self._pending.result()
        except BaseException:
            self.close()
            raise
        if batch is _END:
            self.close()
            raise StopIteration
        self._pending = self._pool.submit(next, self._it, _END)
        return cast(pa.Table, batch)

    def at_end(self) -> bool:
        """Whether every batch has been handed out. Waits for the read in flight (of the
        next batch, which the caller would wait for next anyway); False when it failed
        (its error is raised by :meth:`__next__`)."""
        pending = self._pending
        if pending is None:
            return True
        try:
            return pending.result() is _END
        except Exception:  # noqa: BLE001 - raised by __next__
            return False

    def close(self) -> None:
        """Stop reading: the read in flight is done (the pool is shut down), then the
        source is closed."""
        pool, self._pool, self._pending = self._pool, None, None
        if pool is None:
            return
        pool.shutdown(wait=True)
        close = getattr(self._it, "close", None)
        if close is not None:
            close()


def read_ahead(batches: Iterable[pa.Table]) -> ReadAhead:
    """:class:`ReadAhead` over ``batches`` (its first batch being read from now on)."""
    return ReadAhead(batches)


def default_unrated_path(output: str | os.PathLike[str]) -> Path:
    """Where unrated CDRs go by default: ``rated.parquet`` → ``rated.unrated.parquet``."""
    p = Path(output)
    return p.with_name(p.stem + ".unrated" + (p.suffix or ".parquet"))


#: Marks the temporary files of a run: ``.NAME.tandem-partial-PID``.
PARTIAL = ".tandem-partial-"
#: Suffix of the commit journal beside the rated output: ``.RATED.tandem-commit``.
JOURNAL = ".tandem-commit"
_PARTIAL_RE = re.compile(r"^\.(?P<name>.*)\.tandem-partial-(?P<pid>\d+)$")


def partial_path(path: Path) -> Path:
    """The temporary file of this process for output ``path``."""
    return path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")


def journal_path(output: str | os.PathLike[str]) -> Path:
    """The commit journal of a run whose rated output is ``output``."""
    p = Path(output)
    return p.with_name(f".{p.name}{JOURNAL}")


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (resolved, or the same inode when both exist)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    source: str | os.PathLike[str] | None,
    output: str | os.PathLike[str],
    unrated: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse (:class:`OutputError`) outputs that would overwrite the input or each other:
    the rated file, the unrated file (default: :func:`default_unrated_path`) and the
    report directory must be distinct paths, none of them the CDR file ``source``."""
    rated = Path(output)
    named = [("the rated output (-o)", rated)]
    named.append(("the unrated output", Path(unrated) if unrated else default_unrated_path(rated)))
    if report_dir is not None:
        named.append(("the report directory", Path(report_dir)))
    if source is not None and not (isinstance(source, pa.Table) or is_frame(source)):
        src = Path(source)
        for what, p in named:
            if _same(p, src):
                raise OutputError(
                    f"{what} {os.fspath(p)} is the CDR file being rated: write the "
                    "results to another file"
                )
    for i, (what, p) in enumerate(named):
        for other, q in named[i + 1 :]:
            if _same(p, q):
                raise OutputError(
                    f"{what} and {other} are the same file {os.fspath(p)}: give each its own"
                )
    for what, p in named:
        if p.exists() and p.is_dir() and what != "the report directory":
            raise OutputError(f"{what} {os.fspath(p)} is a directory: name a file")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is alive (this process is)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _clean_partials(targets: list[Path]) -> None:
    """Remove the temporary files a killed run left for ``targets`` (runs still alive keep
    theirs)."""
    for target in targets:
        folder = target if target.is_dir() else target.parent
        pattern = f".*{PARTIAL}*" if target.is_dir() else f".{target.name}{PARTIAL}*"
        with contextlib.suppress(OSError):
            for leftover in folder.glob(pattern):
                m = _PARTIAL_RE.match(leftover.name)
                if m and not pid_alive(int(m["pid"])):
                    _remove(leftover)


def write_journal(journal: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``journal`` as JSON all at once: a partial file, flushed to the
    disk, renamed over ``journal``, and the rename flushed (its folder synced)."""
    staged = journal.with_name(journal.name + PARTIAL + str(os.getpid()))
    with open(staged, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(staged, journal)
    sync_directory(journal.parent)


def _commit(pairs: list[tuple[Path, Path]], journal: Path) -> None:
    """Flush every temporary file, write the journal, rename each over its target, then
    remove the journal (see the module doc)."""
    for tmp, _ in pairs:
        sync_file(tmp)
    write_journal(
        journal, {"tandem": "rate-commit-1", "renames": [[str(t), str(p)] for t, p in pairs]}
    )
    folders = {journal.parent} | {p.parent for _, p in pairs}
    for folder in folders - {journal.parent}:  # (write_journal synced the journal's)
        sync_directory(folder)
    _finish(pairs)
    for folder in folders:
        sync_directory(folder)
    journal.unlink()
    sync_directory(journal.parent)


def _finish(pairs: list[tuple[Path, Path]]) -> None:
    """Do the renames of a journal that are not done yet (a missing temporary file is one
    already renamed).

    Every earlier output that is to be replaced is removed first, then the new ones are
    renamed in: a reader that comes while this is under way (or after a kill in it) finds
    outputs of one run only, some perhaps missing, never an earlier run's file beside a
    new one (where a CDR could be in both)."""
    todo = [(tmp, target) for tmp, target in pairs if tmp.exists()]
    for _, target in todo:
        if not target.is_dir():
            target.unlink(missing_ok=True)
    if todo:
        sync_directory(todo[0][1].parent)
    for tmp, target in todo:
        os.replace(tmp, target)
    for tmp, _ in pairs:  # the report's temporary directory, now empty
        parent = tmp.parent
        if _PARTIAL_RE.match(parent.name):
            with contextlib.suppress(OSError):
                parent.rmdir()


def recover_outputs(output: str | os.PathLike[str]) -> bool:
    """Complete the commit of a run to rated output ``output`` that was killed during it
    (the renames its journal lists); True when there was one to complete. Called by
    :func:`rate_file` before anything else."""
    journal = journal_path(output)
    if not journal.exists():
        return False
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
        pairs = [(Path(t), Path(p)) for t, p in record["renames"]]
        if record.get("tandem") != "rate-commit-1":
            raise ValueError("not a Tandem commit journal")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(
            f"{journal}: unreadable commit journal of an earlier run ({exc}); remove it and rerun"
        ) from None
    for tmp, target in pairs:  # only renames of a run's own temporary files
        m = _PARTIAL_RE.match(tmp.name) or _PARTIAL_RE.match(tmp.parent.name)
        if m is None or target.name == "" or not target.is_absolute():
            raise OutputError(f"{journal}: not a Tandem commit journal; remove it and rerun")
    _finish(pairs)
    journal.unlink()
    sync_directory(journal.parent)
    return True


class _AtomicParquet:
    """A Parquet writer that aligns every batch to the first one's schema into a temporary
    file (``.NAME.tandem-partial-PID``), encoding batches on both cores
    (:class:`ParallelParquetWriter`); :meth:`close` completes it for the commit."""

    def __init__(self, path: Path, workers: int = 2, direct: bool = False) -> None:
        self.path = path
        self.tmp = partial_path(path)
        self.workers = workers
        self.direct = direct  # written past the page cache (DirectWriter)
        self.writer: ParallelParquetWriter | None = None
        self.file: BinaryIO | None = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table, parts: int = 1) -> None:
        """Append ``table`` (``parts``: see :meth:`ParallelParquetWriter.write_table`)."""
        table = output_times(table)
        if self.writer is None:
            self.schema = table.schema
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # closed by close/abort
            self.file = cast(
                BinaryIO,
                DirectWriter(self.tmp) if self.direct else open(self.tmp, "wb"),  # noqa: SIM115
            )
            plain = _large_dictionaries(table)
            self.writer = ParallelParquetWriter(
                self.file,
                self.schema,
                workers=self.workers,
                prepare=functools.partial(_prepare, plain=plain),
                **writer_options(self.schema, plain),
            )
        else:
            table = _align(table, self.schema)
        self.writer.write_table(table, parts)
        if self.file is not None:
            start_writeback(self.file)

    def close(self, empty_schema: pa.Schema) -> None:
        """Finish the temporary file (an empty table of ``empty_schema`` when nothing
        was written)."""
        if self.writer is None:
            self.schema = empty_schema
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(empty_table(empty_schema), self.tmp, **writer_options(empty_schema))
        else:
            self.writer.close()
            self.writer = None
            assert self.file is not None
            self.file.close()
            self.file = None

    def abort(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.abort()
            self.writer = None
        if self.file is not None:
            with contextlib.suppress(Exception):
                self.file.close()
            self.file = None
        self.tmp.unlink(missing_ok=True)


#: Parquet compression of rated/unrated files: LZ4 encodes about twice as fast as Snappy
#: here for files about 6 % larger (every current Parquet reader decodes it).
COMPRESSION = "lz4"
#: Columns written uncompressed: the E.164 digit strings, which LZ4 shrinks by under a
#: fifth for about a third of the whole write's time (measured on 262,144 rated CDRs:
#: 55 ms instead of 76 ms per batch, the file 9 % larger).
_UNCOMPRESSED = ("number", "rated_number", "routing_number")


#: The money columns stored as INT64 (``decimal128(18, 9)``) are written uncompressed:
#: LZ4 takes about 4 ms of a batch's ~5.5 ms per column (262,144 rated CDRs) and shrinks
#: them by a third (1.4 of 2.1 MB).
_UNCOMPRESSED_MONEY = True


#: A dictionary column whose dictionary has more entries than this (the prefixes of a
#: large deck, one per rate: 150,000 of them give about 100,000 distinct per batch of
#: 262,144 CDRs) is written with Parquet's plain encoding, uncompressed: 6 ms per batch
#: instead of 16 ms (compacting the dictionary, encoding it, LZ4), for about 1 MB more.
#: Its Arrow type (dictionary of strings) is kept in the file: readers get it back as
#: written. Smaller dictionaries (destinations, accounts, a small deck's prefixes) stay
#: dictionary-encoded.
_PLAIN_ABOVE = 32_768


def _large_dictionaries(table: pa.Table) -> frozenset[str]:
    """The dictionary columns of ``table`` written plain (:data:`_PLAIN_ABOVE`)."""
    return frozenset(
        f.name
        for f, col in zip(table.schema, table.columns, strict=True)
        if pa.types.is_dictionary(f.type)
        and any(len(c.dictionary) > _PLAIN_ABOVE for c in col.chunks)
    )


def writer_options(schema: pa.Schema, plain: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The :func:`pyarrow.parquet.write_table` options of the rated and unrated files of
    ``schema`` (``plain``: :func:`_large_dictionaries`)."""
    return {
        "compression": _compression(schema, plain),
        "write_statistics": _statistics_columns(schema),
        "use_dictionary": _dictionary_columns(schema, plain),
        "column_encoding": _delta_columns(schema),
        # the money columns of ordinary decks (decimal128(18, 9)) on INT64, not 16 bytes
        "store_decimal_as_integer": True,
    }


def _int64_decimal(t: pa.DataType) -> bool:
    """Whether Parquet stores a column of type ``t`` as INT64 (a decimal of at most
    :data:`~tandem.rating.amounts.INT64_DECIMAL_DIGITS` digits, with
    ``store_decimal_as_integer``)."""
    return pa.types.is_decimal(t) and t.precision <= INT64_DECIMAL_DIGITS


def _compression(schema: pa.Schema, plain: frozenset[str] = frozenset()) -> dict[str, str]:
    """Each column's Parquet compression: :data:`COMPRESSION`, none for the plain-string
    number columns (:data:`_UNCOMPRESSED`), the large dictionaries written plain and the
    INT64 money columns (:data:`_UNCOMPRESSED_MONEY`)."""
    return {
        f.name: "none"
        if f.name in plain
        or (
            f.name in _UNCOMPRESSED
            and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        )
        or (_UNCOMPRESSED_MONEY and f.name in _AMOUNTS and _int64_decimal(f.type))
        else COMPRESSION
        for f in schema
    }


def _statistics_columns(schema: pa.Schema) -> list[str]:
    """Columns that get Parquet min/max statistics: the plain integer and time ones
    (``record``, ``start``, ``duration``, billed seconds), which readers filter on and which
    cost little. Statistics of the text, dictionary and decimal columns would cost about a
    third of the write time and filter nothing useful."""
    return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]


#: Integer columns with few distinct values, which Parquet dictionary encoding shrinks.
_FEW_VALUES = ("duration", "sell_billed_seconds", "buy_billed_seconds")


def _dictionary_columns(schema: pa.Schema, plain: frozenset[str] = frozenset()) -> list[str]:
    """Columns written with Parquet dictionary encoding: the Arrow dictionary ones (account,
    prefix, destination, currency, reason) but the large ones (``plain``,
    :data:`_PLAIN_ABOVE`), and :data:`_FEW_VALUES`. Trying a dictionary on the near-unique
    columns (record, start, numbers, amounts) costs a quarter of the write time and then
    falls back to plain encoding anyway."""
    return [
        f.name
        for f in schema
        if (pa.types.is_dictionary(f.type) and f.name not in plain) or f.name in _FEW_VALUES
    ]


def _delta_columns(schema: pa.Schema) -> dict[str, str]:
    """``record``, ``start`` and ``start_epoch`` (integers and instants that mostly rise)
    are delta-encoded: files about 10 % smaller at the same write speed."""
    return {
        f.name: "DELTA_BINARY_PACKED"
        for f in schema
        if f.name in ("record", "start", "start_epoch")
        and (pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type))
    }


def _compact(chunk: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same values with a dictionary of only the entries ``chunk`` uses (in order)."""
    indices = chunk.indices
    mask = to_numpy(chunk.is_null()) if chunk.null_count else None
    if mask is not None:
        indices = pc.fill_null(indices, scalar(0, indices.type))
    codes = to_numpy(indices)
    used = np.bincount(codes, minlength=len(chunk.dictionary)) > 0
    remap = (np.cumsum(used) - 1).astype(codes.dtype)
    return pa.DictionaryArray.from_arrays(
        from_numpy(remap[codes], type=chunk.indices.type, mask=mask),
        chunk.dictionary.take(from_numpy(np.flatnonzero(used))),
        safe=False,  # remapped codes index the entries used by construction
    )


def _prepare(table: pa.Table, plain: frozenset[str]) -> pa.Table:
    """A batch as it is encoded: the large dictionary columns (``plain``, written with
    Parquet's plain encoding) decoded to their values, which pyarrow encodes about twice
    as fast (the same pages: the file records the dictionary type, see
    :class:`ParallelParquetWriter`); the other dictionaries compacted
    (:func:`_compact_dictionaries`); the money columns Parquet stores as INT64 given as
    their int64 scaled values (:func:`_scaled_int64`: the same pages, a quarter of the
    time; the file records their decimal type)."""
    table = _compact_dictionaries(table, skip=plain)
    for name in plain:
        i = table.schema.get_field_index(name)
        value_type = table.schema.field(i).type.value_type
        table = table.set_column(i, name, pc.cast(table.column(i), value_type))
    for i, f in enumerate(table.schema):
        if f.name in _AMOUNTS and _int64_decimal(f.type):
            col = table.column(i)
            table = table.set_column(
                i, f.name, pa.chunked_array([_scaled_int64(c) for c in col.chunks], pa.int64())
            )
    return table


def _scaled_int64(arr: pa.Array) -> pa.Array:
    """A ``decimal128`` array of at most 18 digits as the int64 scaled integers Parquet
    stores for it (the low word of each 16-byte value; its validity kept)."""
    n = len(arr)
    if n == 0:
        return from_numpy(np.zeros(0, dtype=np.int64))
    validity, data = arr.buffers()
    words = np.frombuffer(data, dtype=np.int64)[: 2 * (arr.offset + n) : 2]
    return pa.Array.from_buffers(
        pa.int64(),
        n,
        [validity, pa.py_buffer(np.ascontiguousarray(words))],
        null_count=arr.null_count,
        offset=arr.offset,
    )


def _compact_dictionaries(table: pa.Table, skip: frozenset[str] = frozenset()) -> pa.Table:
    """Dictionary columns whose dictionary outnumbers the rows (a deck's prefixes against a
    batch of CDRs) get a dictionary of the entries used: it then fits a Parquet dictionary
    page, so the column is written dictionary-encoded instead of falling back to plain.
    The columns in ``skip`` (written plain) are left as they are."""
    cols = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if (
            pa.types.is_dictionary(f.type)
            and f.name not in skip
            and any(len(c.dictionary) > len(c) for c in col.chunks)
        ):
            col = pa.chunked_array(
                [_compact(c) if len(c.dictionary) > len(c) else c for c in col.chunks], f.type
            )
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=table.schema)


def _align(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise CdrError(
                        f"column {f.name!r} changes type within the file ({f.type} then "
                        f"{col.type}); give it one type throughout"
                    ) from exc
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


#: The output time columns: ``start`` as an instant, with the epoch seconds beside it.
START_TYPE = pa.timestamp("us", tz="UTC")
_US = 1_000_000
#: Epoch seconds that fit a microsecond timestamp (a CDR outside is a bad time: its
#: ``start`` is null, its ``start_epoch`` keeps the value read).
_US_LIMIT = (2**63 - 1) // _US
# Compute-function arguments as Arrow scalars (a plain Python value would load pandas).
_LOW, _HIGH = scalar(-_US_LIMIT, pa.int64()), scalar(_US_LIMIT, pa.int64())
_MICROS, _NO_INT = scalar(_US, pa.int64()), scalar(None, pa.int64())


def _as_instants(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch seconds as ``timestamp[us, UTC]`` (null where out of range)."""
    bounds = pc.min_max(col)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is not None and (low < -_US_LIMIT or high > _US_LIMIT):
        ok = pc.and_(pc.greater_equal(col, _LOW), pc.less_equal(col, _HIGH))
        col = pc.if_else(ok, col, _NO_INT)
    return pc.cast(pc.multiply(col, _MICROS), pa.int64()).cast(START_TYPE)


def output_times(table: pa.Table) -> pa.Table:
    """The rated/unrated file form of a priced batch: ``start`` (integer epoch seconds)
    becomes ``timestamp[us, UTC]``, with ``start_epoch`` (the seconds) right after it;
    an integer ``end`` (epoch seconds) becomes a timestamp too. A table already in that
    form comes back unchanged."""
    names = table.column_names
    if "start" not in names or not pa.types.is_integer(table.schema.field("start").type):
        return table
    if "start_epoch" in names:  # carried from an earlier output: recomputed
        table = table.drop_columns(["start_epoch"])
        names = table.column_names
    at = names.index("start")
    epoch = pc.cast(table.column("start"), pa.int64())
    table = table.set_column(at, "start", _as_instants(epoch))
    table = table.add_column(at + 1, "start_epoch", epoch)
    if "end" in table.column_names:
        end = table.schema.field("end")
        if pa.types.is_integer(end.type):
            i = table.column_names.index("end")
            table = table.set_column(
                i, "end", _as_instants(pc.cast(table.column("end"), pa.int64()))
            )
        elif pa.types.is_timestamp(end.type) and end.type.tz is not None:
            i = table.column_names.index("end")
            table = table.set_column(i, "end", table.column("end").cast(START_TYPE))
    return table


def _start_seconds(table: pa.Table) -> pa.ChunkedArray:
    """Each row's start in epoch seconds, from either output form."""
    if "start_epoch" in table.column_names:
        return table.column("start_epoch")
    start = table.column("start")
    if pa.types.is_timestamp(start.type):
        return pc.cast(pc.cast(start, pa.timestamp("s", tz="UTC"), safe=False), pa.int64())
    return start


def _in_period(table: pa.Table, period: tuple[int, int]) -> pa.ChunkedArray:
    """Rows whose ``start`` lies in ``[from, until)`` (a missing start lies in none)."""
    start = _start_seconds(table)
    low, high = scalar(period[0], pa.int64()), scalar(period[1], pa.int64())
    inside = pc.and_(pc.greater_equal(start, low), pc.less(start, high))
    return pc.fill_null(inside, scalar(False, pa.bool_()))


def _keep_outside(out: _AtomicParquet, period: tuple[int, int], amount_type: pa.DataType) -> int:
    """Copy the rows of ``out``'s existing file that lie outside ``period`` into its new
    file (streamed); the number copied."""
    if not out.path.exists():
        return 0
    try:
        earlier = pq.ParquetFile(out.path, pre_buffer=False)
        if "start" not in earlier.schema_arrow.names:
            raise CdrError(f"{out.path.name}: no start column: not a Tandem rating output")
        kept = 0
        for batch in earlier.iter_batches():
            table = pa.Table.from_batches([batch])
            table = _widen_amounts(table.filter(pc.invert(_in_period(table, period))), amount_type)
            if table.num_rows:
                out.write(table)
                kept += table.num_rows
        return kept
    except (OSError, pa.ArrowException) as exc:
        raise CdrError(f"{out.path.name}: cannot read the earlier results: {exc}") from None


def _widen_amounts(table: pa.Table, amount_type: pa.DataType) -> pa.Table:
    """Money columns of an earlier output narrower than ``amount_type`` (the rater's: a
    ``decimal128(19, 9)`` file rerated with rates that need 38 digits) widened to it: the
    output's type is set by the rows written first, and the new rows must fit it."""
    for k, f in enumerate(table.schema):
        if (
            f.name in _AMOUNTS
            and pa.types.is_decimal(f.type)
            and f.type.precision < amount_type.precision
        ):
            table = table.set_column(k, f.name, table.column(k).cast(amount_type))
    return table


_AMOUNTS = ("sell_amount", "buy_amount", "margin")


def _report_partial(report_dir: Path) -> tuple[Path, list[Path]]:
    """Create the report directory (and missing parents) and this run's temporary
    directory inside it; returns it and the directories created (removed on failure)."""
    created = [p for p in (report_dir, *report_dir.parents) if not p.exists()]
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        tmp = report_dir / f".report{PARTIAL}{os.getpid()}"
        tmp.mkdir(exist_ok=True)
    except OSError as exc:
        for d in created:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise OutputError(
            f"cannot write the report directory {os.fspath(report_dir)}: {exc.strerror or exc}"
        ) from None
    return tmp, created


def _output_error(exc: OSError, paths: list[Path]) -> OutputError:
    """One clear line for a write that the disk refused."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or "No space left" in str(exc):
        reason = "no space left on the device"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = exc.strerror or "not writable"
    where = ", ".join(os.fspath(p) for p in paths)
    return OutputError(f"cannot write {where}: {reason}; nothing of this run was kept")


def rate_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    rater: Rater,
    *,
    reader: CdrReader | None = None,
    unrated: str | os.PathLike[str] | None = None,
    report: RatingReport | None = None,
    port_lookup: PortLookup | None = None,
    on_batch: Callable[[int], None] | None = None,
    period: tuple[InstantLike, InstantLike] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    batches: ReadAhead | None = None,
    direct_io: bool = True,
) -> RatingSummary:
    """Rate ``source`` into ``output`` (rated CDRs) and ``unrated`` (default: see
    :func:`default_unrated_path`), streaming; returns the summary (``rows in == rated +
    unrated`` is checked on every batch).

    With ``period=(from, until)`` (instants, ``until`` excluded) only the CDRs that
    started in the period are rated, and the outputs keep their earlier rows from outside
    it: rerating a period replaces that period's results and nothing else (run twice, the
    files come out the same). CDRs without a start time belong to no period.

    With ``report`` and ``report_dir`` the report tables are written into ``report_dir``
    in the same commit as the two files: all appear together or none does (see the
    module doc). Outputs that would overwrite the input or each other are refused before
    anything is written (:class:`OutputError`), as is a disk that refuses the writes.

    ``batches``: the canonical batches of ``source`` already being read (a
    :class:`ReadAhead` over ``reader.batches(source)``, made while the caller loaded the
    rating book); they are closed when this returns.

    ``direct_io``: the two files are written past the page cache (``O_DIRECT``, see
    :class:`tandem.files.DirectWriter`: the same bytes, a third of a second less CPU at
    2,000,000 CDRs); False when the caller reads them back at once (``--to-db``), which
    then finds them in memory rather than on the disk.
    """
    try:
        return _rate_file(
            source, output, rater, reader=reader or CdrReader(), unrated=unrated,
            report=report, port_lookup=port_lookup, on_batch=on_batch, period=period,
            report_dir=report_dir, batches=batches, direct_io=direct_io,
        )  # fmt: skip
    finally:
        if batches is not None:  # refused before reading: the read in flight is stopped
            batches.close()


def _rate_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    rater: Rater,
    *,
    reader: CdrReader,
    unrated: str | os.PathLike[str] | None,
    report: RatingReport | None,
    port_lookup: PortLookup | None,
    on_batch: Callable[[int], None] | None,
    period: tuple[InstantLike, InstantLike] | None,
    report_dir: str | os.PathLike[str] | None,
    batches: ReadAhead | None,
    direct_io: bool,
) -> RatingSummary:
    bounds = None if period is None else (parse_instant(period[0]), parse_instant(period[1]))
    summary = RatingSummary(period=bounds)
    if bounds is not None and not bounds[0] < bounds[1]:
        raise CdrError(
            f"the rating period must end after it begins, got {format_instant(bounds[0])} "
            f"to {format_instant(bounds[1])}"
        )
    check_outputs(source, output, unrated, report_dir)
    rated_path = Path(output)
    unrated_path = Path(unrated) if unrated else default_unrated_path(output)
    recover_outputs(rated_path)
    targets = [rated_path, unrated_path] + ([Path(report_dir)] if report_dir else [])
    _clean_partials(targets)
    rated_out = _AtomicParquet(rated_path, direct=direct_io)
    unrated_out = _AtomicParquet(unrated_path, direct=direct_io)
    report_tmp, created = (
        _report_partial(Path(report_dir)) if report_dir is not None else (None, [])
    )
    schema: pa.Schema | None = None
    # Writing batch k overlaps pricing batch k+1 (Parquet encoding releases the GIL); at
    # most one write is in flight, so memory stays bounded by two batches.
    pool = ThreadPoolExecutor(1)
    pending = None
    if batches is None:
        batches = read_ahead(reader.batches(source))
    done = 0

    def write(rated: pa.Table, not_rated: pa.Table, parts: int) -> None:
        if rated.num_rows or rated_out.writer is None:
            rated_out.write(rated, parts)
        if not_rated.num_rows or unrated_out.writer is None:
            unrated_out.write(not_rated, parts)

    try:
        if bounds is not None:  # earlier results outside the period go first, unchanged
            kept = [_keep_outside(o, bounds, rater.amount_type) for o in (rated_out, unrated_out)]
            summary.kept = sum(kept)
        for batch in batches:
            n = batch.num_rows
            if bounds is not None:
                batch = batch.filter(_in_period(batch, bounds))
                summary.outside_period += n - batch.num_rows
            priced = rater.price(batch, port_lookup)
            summary.add(priced)
            if report is not None:
                report.add(priced)
            rated, not_rated = split_rated(priced)
            schema = rated.schema
            if pending is not None:
                pending.result()
            # The last batch is encoded on both cores: nothing is left to overlap it.
            parts = rated_out.workers if batches.at_end() else 1
            pending = pool.submit(write, rated, not_rated, parts)
            del batch, priced, rated, not_rated
            done += 1
            if done % RELEASE_EVERY == 0:
                release_memory(arrow=False)
            if on_batch is not None:
                on_batch(n)
        if pending is not None:
            pending.result()
            pending = None
        fallback = schema if schema is not None else pa.schema([])
        rated_out.close(fallback)
        unrated_out.close(fallback)
        # The memory the batches used is handed back on the writing thread, idle now,
        # while the commit waits for the disk: the process then has less to free when
        # it ends (some 0.2 ms per MB here, on the critical path), the same work.
        released = pool.submit(release_memory)
        pairs = [(rated_out.tmp, rated_path), (unrated_out.tmp, unrated_path)]
        if report is not None and report_tmp is not None and report_dir is not None:
            for f in report.write(report_tmp):
                pairs.append((f, Path(report_dir) / f.name))
        _commit([(t.absolute(), p.absolute()) for t, p in pairs], journal_path(rated_path))
        released.result()
    except BaseException as exc:
        if pending is not None:
            pending.exception()
        if journal_path(rated_path).exists():
            raise  # the commit had begun: the next run completes it (recover_outputs)
        rated_out.abort()
        unrated_out.abort()
        if report_tmp is not None:
            shutil.rmtree(report_tmp, ignore_errors=True)
            for d in created:
                with contextlib.suppress(OSError):
                    d.rmdir()
        journal_path(rated_path).with_name(
            journal_path(rated_path).name + PARTIAL + str(os.getpid())
        ).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _output_error(exc, targets) from None
        raise
    finally:
        batches.close()
        pool.shutdown(wait=True)
    return summary
