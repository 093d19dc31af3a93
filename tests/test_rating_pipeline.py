"""``tandem rate``'s fast path: batches read ahead on a thread, the rated file's column
compression, and a cached run that loads neither pandas nor the SQL stack."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rating_cdr import _write_parquet, loaded  # noqa: F401  (fixture)

from tandem.errors import OutputError
from tandem.rating.cdr import CdrReader
from tandem.rating.price import Rater, split_rated
from tandem.rating.stream import ReadAhead, output_times, rate_file, read_ahead


class _Source:
    """A batch iterator that records which thread read each batch and whether it was
    closed; raises ``fail`` at position ``fail_at``."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.read = 0
        self.threads: set[int] = set()
        self.closed = False

    def __iter__(self) -> _Source:
        return self

    def __next__(self) -> pa.Table:
        if self.read >= self.n:
            raise StopIteration
        if self.read == self.fail_at:
            raise ValueError(f"batch {self.read} is unreadable")
        self.threads.add(threading.get_ident())
        self.read += 1
        return pa.table({"k": [self.read - 1]})

    def close(self) -> None:
        self.closed = True


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12) | st.none())
def test_read_ahead_yields_every_batch_in_order_then_the_error(n, fail_at):
    src = _Source(n, fail_at)
    got = []
    stop = n if fail_at is None or fail_at >= n else fail_at
    if stop < n:
        with pytest.raises(ValueError, match=f"batch {fail_at} is unreadable"):
            for batch in read_ahead(src):
                got.append(batch.column("k")[0].as_py())
    else:
        got = [b.column("k")[0].as_py() for b in read_ahead(src)]
    assert got == list(range(stop))
    assert src.closed
    assert threading.get_ident() not in src.threads  # read on the read-ahead thread


def test_read_ahead_reads_one_batch_ahead_and_closes_the_source_when_left():
    src = _Source(100)
    it = read_ahead(src)
    first = next(it)
    assert first.column("k")[0].as_py() == 0
    assert src.read <= 2  # the one given, at most one more
    it.close()
    assert src.closed and src.read <= 2


def test_rated_file_number_and_money_columns_uncompressed_the_rest_lz4(tmp_path, loaded):  # noqa: F811
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 3000)
    rater = Rater.from_store(loaded)
    out = tmp_path / "rated.parquet"
    rate_file(src, out, rater, reader=CdrReader(batch_size=1000))
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups == 3
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            plain = ("number", "rated_number", "sell_amount", "buy_amount", "margin")
            want = "UNCOMPRESSED" if col.path_in_schema in plain else "LZ4"
            assert col.compression.upper().startswith(want), (col.path_in_schema, col.compression)
    # and the file holds, row for row, what the batches priced one by one hold
    priced = [rater.price(b) for b in CdrReader(batch_size=1000).batches(src)]
    expected = pa.concat_tables([output_times(split_rated(p)[0]) for p in priced])
    assert pq.read_table(out).to_pylist() == expected.to_pylist()


def test_memory_is_handed_back_every_few_batches_not_after_each(tmp_path, loaded, monkeypatch):  # noqa: F811
    from tandem.rating import stream

    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 2000)
    calls = []
    monkeypatch.setattr(stream, "release_memory", lambda arrow=True: calls.append(arrow))
    summary = rate_file(
        src, tmp_path / "rated.parquet", Rater.from_store(loaded), reader=CdrReader(batch_size=100)
    )
    assert summary.rows_in == 2000  # 20 batches
    # every RELEASE_EVERY batches (the C heap), and once more after the last, during the
    # commit (Arrow's pool too)
    assert calls == [False] * (20 // stream.RELEASE_EVERY) + [True]


def test_reuse_freed_memory_on_glibc():
    import ctypes.util

    from tandem.rating.stream import reuse_freed_memory

    glibc = ctypes.util.find_library("c") is not None and hasattr(
        ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim"
    )
    assert reuse_freed_memory() is glibc


def test_the_command_line_collects_garbage_every_50000_objects(monkeypatch):
    import gc
    import sys

    from tandem.cli.main import main

    before = gc.get_threshold()
    monkeypatch.setattr(sys, "argv", ["tandem", "--version"])
    try:
        with pytest.raises(SystemExit):
            main()
        assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("plain_above", [4, 10**6])
def test_large_prefix_dictionaries_are_written_plain_and_read_back_as_written(
    tmp_path,
    loaded,  # noqa: F811
    monkeypatch,
    plain_above,
):
    from tandem.rating import stream

    # The test decks have 6-10 prefixes a side: above 4 they count as a large deck's.
    monkeypatch.setattr(stream, "_PLAIN_ABOVE", plain_above)
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 3000)
    rater = Rater.from_store(loaded)
    out = tmp_path / "rated.parquet"
    rate_file(src, out, rater, reader=CdrReader(batch_size=1000))
    meta = pq.ParquetFile(out).metadata
    names = meta.schema.names
    for g in range(meta.num_row_groups):
        for name in ("sell_prefix", "buy_prefix"):
            col = meta.row_group(g).column(names.index(name))
            if plain_above == 4:
                assert "RLE_DICTIONARY" not in col.encodings and col.compression == "UNCOMPRESSED"
            else:
                assert "RLE_DICTIONARY" in col.encodings and col.compression == "LZ4"
    back = pq.read_table(out)
    assert pa.types.is_dictionary(back.schema.field("sell_prefix").type)
    priced = [rater.price(b) for b in CdrReader(batch_size=1000).batches(src)]
    expected = pa.concat_tables([output_times(split_rated(p)[0]) for p in priced])
    assert back.to_pylist() == expected.to_pylist()


def test_each_batch_written_starts_its_writeback_and_the_files_are_unchanged(
    tmp_path,
    loaded,  # noqa: F811
    monkeypatch,
):
    from tandem.rating import stream

    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 3000)
    rater = Rater.from_store(loaded)
    real = stream.start_writeback
    monkeypatch.setattr(stream, "start_writeback", lambda fh: None)  # left to the fsync
    rate_file(src, tmp_path / "plain.parquet", rater, reader=CdrReader(batch_size=1000))
    started = []
    monkeypatch.setattr(stream, "start_writeback", lambda fh: (started.append(fh), real(fh)))
    rate_file(src, tmp_path / "rated.parquet", rater, reader=CdrReader(batch_size=1000))
    assert len(started) >= 3  # every rated batch (and the unrated file's first)
    assert (tmp_path / "rated.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()
    probe = tmp_path / "probe.bin"
    with open(probe, "wb") as fh:
        fh.write(b"x" * 10_000)
        real(fh)  # flushes the Python buffer, then starts the writeback
        assert probe.stat().st_size == 10_000


def test_rated_files_written_direct_are_byte_identical_to_ordinary_writes(
    tmp_path,
    loaded,  # noqa: F811
    monkeypatch,
):
    import functools

    from tandem.files import DirectWriter
    from tandem.rating import stream

    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 5000)
    rater = Rater.from_store(loaded)
    reader = CdrReader(batch_size=1000)
    monkeypatch.setattr(stream, "DirectWriter", lambda path: open(path, "wb"))  # noqa: SIM115
    rate_file(src, tmp_path / "plain.parquet", rater, reader=reader)
    # small blocks, so that most of the file goes direct (where the file system can)
    monkeypatch.setattr(stream, "DirectWriter", functools.partial(DirectWriter, chunk=8192))
    rate_file(src, tmp_path / "direct.parquet", rater, reader=reader)
    monkeypatch.undo()
    # direct_io=False (tandem rate --to-db, which reads the file back): the page cache
    rate_file(src, tmp_path / "cached.parquet", rater, reader=reader, direct_io=False)
    for name in ("", ".unrated"):
        direct = (tmp_path / f"direct{name}.parquet").read_bytes()
        assert direct == (tmp_path / f"plain{name}.parquet").read_bytes()
        assert direct == (tmp_path / f"cached{name}.parquet").read_bytes()
    assert len((tmp_path / "direct.parquet").read_bytes()) > 3 * 8192
    assert pq.read_table(tmp_path / "direct.parquet").num_rows > 0


def test_read_ahead_starts_reading_before_it_is_asked():
    # tandem rate makes it before it loads the rating book: the first batch is read
    # meanwhile, on the read-ahead thread.
    src = _Source(3)
    it = ReadAhead(src)
    deadline = time.monotonic() + 10
    while src.read < 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert src.read == 1 and threading.get_ident() not in src.threads
    assert [b.column("k")[0].as_py() for b in it] == [0, 1, 2]
    assert src.closed


def test_rate_file_closes_batches_it_was_given_when_it_refuses_the_outputs(tmp_path):
    # Batches already being read (made before the book was loaded) are stopped and their
    # source closed when rate_file refuses to run, here an output that is the input.
    src = _Source(5)
    batches = ReadAhead(src)
    cdrs = tmp_path / "cdrs.parquet"
    cdrs.write_bytes(b"")
    with pytest.raises(OutputError, match="is the CDR file being rated"):
        rate_file(cdrs, cdrs, None, batches=batches)  # type: ignore[arg-type]
    assert src.closed and src.read <= 2


_NATIVE = """
import os, sys
from tandem.cli.rate import tune_native_libraries
took = tune_native_libraries()
import numpy
threads = len(os.listdir("/proc/self/task"))
import pyarrow
pyarrow.allocate_buffer(1 << 20)
print(",".join(took) or "-", os.environ.get("OPENBLAS_NUM_THREADS"), threads)
"""


_ARENAS = """
import ctypes, sys, threading
from tandem.cli.heap import one_malloc_arena
took = one_malloc_arena() if sys.argv[1] == "one" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
def work():
    libc.malloc(1 << 20)
t = threading.Thread(target=work)
t.start()
t.join()
print(took)
libc.malloc_stats()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc malloc_stats")
@pytest.mark.parametrize("setting", ["one", "default"])
def test_one_malloc_arena_keeps_threads_on_the_main_heap(setting):
    # tandem rate allocates on several threads; each would get an arena of its own, which
    # hands freed pages back to the kernel at once (to be faulted and zeroed again).
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS, setting], capture_output=True, text=True, check=True
    )
    arenas = [line for line in done.stderr.splitlines() if line.startswith("Arena ")]
    if setting == "one":
        assert done.stdout.split() == ["True"]
        assert arenas == ["Arena 0:"]
    else:
        assert "Arena 1:" in arenas  # the thread's own


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux /proc")
@pytest.mark.parametrize("preset", [None, "2"])
def test_tandem_rate_tunes_openblas_and_mimalloc_before_they_load(preset):
    # tandem rate does no linear algebra: OpenBLAS's spinning thread would take the other
    # core while the first CDRs are read; and Arrow's mimalloc is told to ask for no
    # transparent huge pages (mimalloc reads it as it starts: MIMALLOC_VERBOSE shows it).
    # A setting of the user's is kept.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "MIMALLOC_ALLOW_THP", "MIMALLOC_PURGE_DELAY")
    }
    env["MIMALLOC_VERBOSE"] = "1"
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    done = subprocess.run(
        [sys.executable, "-c", _NATIVE], env=env, capture_output=True, text=True, check=True
    )
    took, blas, threads = done.stdout.split()
    if preset is None:
        assert took == "OPENBLAS_NUM_THREADS,MIMALLOC_ALLOW_THP,MIMALLOC_PURGE_DELAY"
        assert (blas, threads) == ("1", "1")  # the main thread only
    else:
        assert (took, blas) == ("MIMALLOC_ALLOW_THP,MIMALLOC_PURGE_DELAY", preset)
    import pyarrow

    if pyarrow.default_memory_pool().backend_name == "mimalloc":
        assert "option 'allow_thp': 0" in done.stderr
        # freed pages are kept for the next batch, not handed back to the kernel (but at
        # the end, by release_memory)
        assert "option 'purge_delay': 10000" in done.stderr
