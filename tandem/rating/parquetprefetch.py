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
    over to the reader that would read the same ones. :meth:`close` stops the thread."""

    def __init__(self, path: str | os.PathLike[str], batch_size: int, depth: int = DEPTH):
        self.path = Path(path)
        self.batch_size = batch_size
        self._queue: queue.Queue[Any] = queue.Queue(max(1, depth))
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

            with pq.ParquetFile(self.path, pre_buffer=False) as pf:
                for batch in pf.iter_batches(batch_size=self.batch_size):
                    if not self._put(batch):
                        return
        except BaseException as exc:  # noqa: BLE001 - raised where the batches are read
            self._put(_Failed(exc))
            return
        self._put(_END)

    def take(self, path: str | os.PathLike[str], batch_size: int) -> Iterator[Any] | None:
        """The batches, in order, if they are those of reading ``path`` by ``batch_size``
        rows (every column) and were not taken yet; else None (and the thread stops). An
        error of opening or decoding the file is raised by the iterator, where the
        batches are read, as the same read in the caller would raise it."""
        if self._taken or Path(path) != self.path or batch_size != self.batch_size:
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
