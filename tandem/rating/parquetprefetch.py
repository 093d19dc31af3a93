"""The first record batches of a Parquet CDR file decoded on a thread from the very start
of ``tandem rate``, while the interpreter is still importing the pricing code.

``tandem rate`` spends its first quarter second or so (at 2,000,000 CDRs, a fifth of the
run) importing numpy, pyarrow and its own modules on one core, holding the GIL, while the
other core has nothing to do but read the rating-book cache
(:class:`tandem.rating.bookfile.BookPrefetch`). Decoding Parquet pages releases the GIL,
so a thread that only needs ``pyarrow.parquet`` can decode the first batches in that time:
:class:`ParquetPrefetch` is made before those imports and
:meth:`tandem.rating.cdr.CdrReader.batches` takes its batches over
(:meth:`ParquetPrefetch.take`): the same ``iter_batches`` call the reader makes itself,
hence the same batches. At most :data:`DEPTH` decoded batches wait, so memory stays
bounded whatever the file size.

``tandem fraud scan`` keeps every batch anyway: its prefetch reads only the columns the
scan reads (``wanted``, as :attr:`tandem.rating.CdrReader.columns`), the name columns as
Arrow dictionaries (``dictionary``, as :attr:`tandem.rating.CdrReader.dictionary`), and
has no depth limit, so the whole file is decoded while the scan's code is imported.

Only the standard library is imported at module level: the thread imports pyarrow.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DEPTH", "ParquetPrefetch"]

#: Decoded batches that may wait for the reader (a batch of 262,144 CDRs of a usual file:
#: some 10-25 MB).
DEPTH = 4

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class ParquetPrefetch:
    """The record batches of the Parquet file ``path`` (``batch_size`` rows each, every
    column), decoded on a thread from the moment this is made; :meth:`take` hands them
    over to the reader that would read the same ones. :meth:`close` stops the thread.

    ``wanted`` and ``column_map``: only the source columns a :class:`CdrReader` with
    these ``columns`` and ``column_map`` reads (:func:`tandem.rating.cdr.projected_columns`);
    ``dictionary``: those of these names read as dictionaries
    (:func:`tandem.rating.cdr.dictionary_columns`). ``depth=0``: no limit on the batches
    that wait."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch_size: int,
        depth: int = DEPTH,
        *,
        wanted: frozenset[str] | None = None,
        column_map: dict[str, str] | None = None,
        dictionary: frozenset[str] | None = None,
    ):
        self.path = Path(path)
        self.batch_size = batch_size
        self.wanted = wanted
        self.column_map = column_map
        self.dictionary = dictionary
        #: what the thread reads, once it opened the file: (source columns or None for
        #: every one, columns read as dictionaries); None when it could not say
        self.read_as: tuple[list[str] | None, list[str]] | None = None
        self._opened = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue(max(0, depth))
        self._stop = threading.Event()
        self._taken = False
        self._thread = threading.Thread(target=self._read, name="parquet-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless stopped; False once stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            import pyarrow.parquet as pq

            names: list[str] | None = None
            as_dict: list[str] = []
            try:
                if self.wanted is not None or self.dictionary:
                    names, as_dict = self._columns(pq.read_schema(self.path))
                self.read_as = (names, as_dict)
            finally:  # on an error, read_as stays None: the reader opens it and says why
                self._opened.set()
            with pq.ParquetFile(self.path, pre_buffer=False, read_dictionary=as_dict) as pf:
                for batch in pf.iter_batches(batch_size=self.batch_size, columns=names):
                    if not self._put(batch):
                        return
        except BaseException as exc:  # noqa: BLE001 - raised where the batches are read
            self._opened.set()
            self._put(_Failed(exc))
            return
        self._put(_END)

    def _columns(self, schema: Any) -> tuple[list[str] | None, list[str]]:
        """What :meth:`tandem.rating.CdrReader.batches` reads of a file of ``schema``."""
        from tandem.rating.cdr import parquet_read_as

        return parquet_read_as(schema, self.wanted, self.dictionary, self.column_map)

    def take(
        self,
        path: str | os.PathLike[str],
        batch_size: int,
        read_as: tuple[list[str] | None, list[str]] = (None, []),
    ) -> Iterator[Any] | None:
        """The batches, in order, if they are those of reading ``path`` by ``batch_size``
        rows, the columns and dictionaries ``read_as`` (None: every column), and were not
        taken yet; else None (and the thread stops). An error of opening or decoding the
        file is raised by the iterator, where the batches are read, as the same read in
        the caller would raise it."""
        if self._taken or Path(path) != self.path or batch_size != self.batch_size:
            self.close()
            return None
        self._opened.wait()
        if self.read_as != read_as:
            self.close()
            return None
        self._taken = True
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop decoding (the batch in flight is finished) and drop what waits."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join()
        while True:  # what the thread queued while it stopped
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
