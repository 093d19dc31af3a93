"""Files: written whole or not at all, and opened for reading only when regular.

:func:`atomic_write` writes a file the way a crash, a full disk or a kill cannot leave
half of: the data goes to a temporary file in the same directory, is flushed to the disk
(``fsync``) and then renamed over the target (``os.replace``, atomic on POSIX within one
file system). On any error the temporary file is removed and the previous file, if
there was one, is left exactly as it was; a reader sees either the old file or the new
one, never a truncated mix.

:func:`open_regular` opens a file Tandem reads from outside (a deck, a routing table, a
key) without blocking on a FIFO, and refuses anything but a regular file (a FIFO would
hang the reader, ``/dev/zero`` never ends, a directory is not data).
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DeferredRemoval",
    "DirectWriter",
    "anonymous_map",
    "NotRegularFileError",
    "atomic_write",
    "open_regular",
    "sync_directory",
]


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing, so that it is replaced whole when the block ends.

    ``mode`` is ``"w"`` (text, ``encoding`` and ``newline`` as for :func:`open`) or
    ``"wb"``. The file object written in the block is a temporary file beside ``path``
    (``.NAME.XXXX.tmp``); when the block ends without an exception it is flushed,
    ``fsync``-ed and renamed to ``path``, and the directory is synced too. When the block
    or any of those steps raises, the temporary file is removed and the exception
    propagates; an :class:`OSError` then names ``path`` (``exc.filename``), and ``path``
    is untouched. A new file gets the permissions :func:`open` would give it; a replaced
    file keeps its own.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    directory = target.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _naming(exc, target) from exc
    tmp = Path(tmp_name)
    try:
        text = mode == "w"
        with os.fdopen(
            fd, mode, encoding=encoding if text else None, newline=newline if text else None
        ) as fh:
            os.fchmod(fh.fileno(), _mode_for(target))
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _naming(exc, target) from exc
        raise
    sync_directory(directory)


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` as an OSError of the same kind that names ``target`` (not the temporary)."""
    if exc.errno is None:
        return OSError(f"{target}: {exc}")
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target))


def _mode_for(target: Path) -> int:
    """The permission bits of the file written to ``target``."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def sync_file(path: Path) -> None:
    """Flush the bytes of the file at ``path`` to the disk (before a rename publishes it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_directory(directory: Path) -> None:
    """Flush the renames and removals in ``directory`` to the disk (best effort: not every
    file system can sync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: What a file that is not regular is, by its mode.
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """Raised by :func:`open_regular` for a FIFO, device, directory or socket; ``kind``
    says which (``"a FIFO (named pipe)"``, ...)."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.filename = path
        self.kind = kind


def open_regular(path: str | os.PathLike[str]) -> int:
    """Open ``path`` for reading and return its descriptor (blocking, close-on-exec).

    The open does not wait for a FIFO's writer (``O_NONBLOCK``); anything but a regular
    file is then closed and refused with :class:`NotRegularFileError`. Other failures
    raise :class:`OSError` as :func:`os.open` does.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _FILE_KINDS if test(mode)), "not a regular file")
            raise NotRegularFileError(os.fspath(path), kind)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


#: ``mmap`` flags of private anonymous memory (POSIX), or None (Windows).
_PRIVATE_ANONYMOUS = (
    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS if hasattr(mmap, "MAP_ANONYMOUS") else None
)


def anonymous_map(size: int, *, huge: bool = False) -> mmap.mmap:
    """``size`` bytes of zeroed, page-aligned memory: private anonymous memory where the
    platform has it. ``mmap.mmap(-1, size)`` alone maps shared memory on POSIX (it can be
    shared with a child process), whose pages cost more to fault in and to free: reading
    the 53 MB of a rating-book cache into it took 44 ms of CPU against 28 ms private,
    and unmapping it 10-19 ms against 4-8 ms.

    ``huge``: ask for transparent huge pages (Linux ``MADV_HUGEPAGE``; a no-op where the
    kernel or platform has none, or has them disabled): for memory written once and then
    read at random, such as the rating book's prefix trie, whose lookups otherwise miss
    the TLB (2 MB pages cover its 12 MB with 6 entries instead of some 3,000)."""
    if _PRIVATE_ANONYMOUS is None:
        return mmap.mmap(-1, size)
    m = mmap.mmap(-1, size, flags=_PRIVATE_ANONYMOUS)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if huge and advice is not None:
        with contextlib.suppress(OSError):
            m.madvise(advice)
    return m


#: O_DIRECT where the platform has it (Linux), else 0: :class:`DirectWriter` then writes
#: through the page cache as an ordinary file does.
_O_DIRECT = getattr(os, "O_DIRECT", 0)
#: The alignment of a direct write's memory, length and offset: 4096 suits every block
#: size Linux gives O_DIRECT (512 or 4096 bytes).
_ALIGN = 4096


class DirectWriter:
    """A new file written sequentially with ``O_DIRECT`` (Linux): whole blocks of
    ``chunk`` bytes go from aligned staging buffers to the disk, bypassing the page
    cache; the last partial block too, zero-padded, at :meth:`close`, which then cuts the
    file to its length. The blocks are written on a thread of the writer's, up to
    ``depth`` of them filled or being written at once, so that :meth:`write` returns once
    its bytes are staged and waits for the disk only when it is ``depth`` blocks behind.

    For the large files ``tandem rate`` writes and does not read back: an ordinary write
    has the kernel copy every byte into page-cache pages it first allocates (and, on a
    virtual machine that hands freed memory back to its host, has the host fault in and
    zero): a third of a second of CPU for the 180 MB a 2,000,000-CDR run writes, against
    a few milliseconds to stage the bytes here. The bytes written, and what is durable
    when (the caller still ``fsync``s before publishing the file), are the same.

    Where the file system refuses ``O_DIRECT`` (tmpfs, some network file systems, other
    platforms) at the open or at a write, the rest of the file is written through the
    page cache: the same bytes. A write that fails (a full disk) raises its
    :class:`OSError` from the next :meth:`write` or from :meth:`close`. The file is
    created (truncated) with mode 0666 less the umask, as ``open(path, "wb")`` does. Only
    ``write``, ``flush`` (a no-op: the tail stays staged), ``fileno`` and ``close`` are
    offered.
    """

    def __init__(self, path: str | os.PathLike[str], chunk: int = 8 << 20, depth: int = 3) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        self.direct = False
        fd = -1
        if _O_DIRECT:
            try:
                fd = os.open(path, flags | _O_DIRECT, 0o666)
                self.direct = True
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        if fd < 0:
            fd = os.open(path, flags, 0o666)
        self.fd = fd
        self.opened_direct = self.direct
        self.chunk = max(_ALIGN, chunk - chunk % _ALIGN)
        self._maps = [anonymous_map(self.chunk) for _ in range(max(1, depth))]  # page-aligned
        self._views = [memoryview(m) for m in self._maps]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(1, len(self._maps)):
            self._free.put(i)
        self._full: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cur = 0  # the block being filled
        self._used = 0
        self.size = 0  # bytes written so far (the file's length once closed)
        self.closed = False

    def fileno(self) -> int:
        return self.fd

    def flush(self) -> None:
        """Nothing: whole blocks are written as they fill; the tail at :meth:`close`."""

    def write(self, data: Any) -> int:
        """Append ``data`` (any buffer: bytes, a pyarrow buffer); returns its length."""
        if self._error is not None:
            raise self._error
        src = memoryview(data).cast("B")
        n = len(src)
        self.size += n
        at = 0
        while at < n:
            take = min(n - at, self.chunk - self._used)
            self._views[self._cur][self._used : self._used + take] = src[at : at + take]
            self._used += take
            at += take
            if self._used == self.chunk:
                self._hand_over(self.chunk)
                self._cur = self._free.get()  # waits while ``depth`` blocks are in flight
                self._used = 0
                if self._error is not None:
                    raise self._error
        return n

    def _hand_over(self, length: int) -> None:
        """Queue the first ``length`` bytes of the block being filled for the thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._writing, name="direct", daemon=True)
            self._thread.start()
        self._full.put((self._cur, length))

    def _writing(self) -> None:
        while (item := self._full.get()) is not None:
            index, length = item
            try:
                if self._error is None:
                    self._write_out(self._views[index][:length])
            except BaseException as exc:  # noqa: BLE001 - raised by write or close
                # without its traceback, whose frames hold views of the staging buffers
                self._error = exc.with_traceback(None)
            finally:
                self._free.put(index)

    def _write_out(self, block: memoryview) -> None:
        while block:
            try:
                done = os.write(self.fd, block)
            except OSError as exc:
                if not self.direct or exc.errno != errno.EINVAL:
                    raise
                self._buffered()  # the file system refuses this direct write
                continue
            block = block[done:]
            if block and self.direct and done % _ALIGN:
                self._buffered()  # a short direct write: the rest goes unaligned

    def _buffered(self) -> None:
        """Write the rest of the file through the page cache."""
        if self.direct:
            import fcntl  # POSIX only, as O_DIRECT is

            flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
            self.direct = False

    def close(self) -> None:
        """Write what is staged, wait for every block to be written, and close the file.
        Opened direct, the tail is written as whole blocks, zero-padded, and the file
        then cut to its length (``ftruncate``): no page-cache copy of up to a block at
        the end of a run either."""
        if self.closed:
            return
        self.closed = True
        try:
            pad = -self._used % _ALIGN if self.opened_direct else 0
            if self._used and self._error is None:
                view = self._views[self._cur]
                view[self._used : self._used + pad] = bytes(pad)
                self._hand_over(self._used + pad)
            if self._thread is not None:
                self._full.put(None)
                self._thread.join()
            if self._error is not None:
                raise self._error
            if pad and self._used:
                os.ftruncate(self.fd, self.size)
        finally:
            for v in self._views:
                v.release()
            for m in self._maps:
                m.close()
            os.close(self.fd)


#: The helper :class:`DeferredRemoval` hands removed files to: a program that reads its
#: standard input to the end and exits (``cat``), or None where there is none.
_HELPER = next((p for p in ("/bin/cat", "/usr/bin/cat") if os.access(p, os.X_OK)), None)


class DeferredRemoval:
    """Files removed at once, their blocks freed by another process.

    Freeing a large file's blocks takes its time however the file goes (``unlink``,
    ``truncate``, a ``rename`` over it): some 30 ms for the 180 MB of a 2,000,000-CDR
    rated file on this machine's ext4 (mounted with ``discard``), all of it waiting for
    the disk, and at the very end of ``tandem rate``, which its caller waits for.
    :meth:`unlink` removes the name at once, as :meth:`pathlib.Path.unlink` does, but
    first opens the file (a regular file with no other link): the kernel frees the blocks
    only when the last descriptor of it closes. :meth:`release` hands those descriptors to
    a helper process (``cat``, reading a pipe) and closes this process's copies; the
    helper ends when the pipe closes, just after, and the kernel frees the blocks as it
    ends, on the other core, while this process goes on (and ends). Nothing is left
    behind whatever happens: the names are gone at :meth:`unlink`, and the kernel frees
    an unlinked file when its last descriptor closes, whichever process holds it and
    however it ends (after a crash, when the file system is mounted). Where the helper
    cannot be started the descriptors are closed here (the blocks freed as
    :meth:`~pathlib.Path.unlink` would have). The helper is reaped by a daemon thread.
    """

    def __init__(self) -> None:
        self._fds: list[int] = []

    def unlink(self, path: Path) -> None:
        """Remove ``path`` (missing: nothing), keeping a regular file open until
        :meth:`release`."""
        fd = -1
        if _HELPER is not None and hasattr(os, "posix_spawn"):
            with contextlib.suppress(OSError):
                fd = os.open(
                    path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                )  # non-blocking: a FIFO's open does not wait; not followed: a link is removed
        try:
            if fd >= 0:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    os.close(fd)  # nothing to free, or freed later with its other name
                    fd = -1
            path.unlink(missing_ok=True)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        if fd >= 0:
            self._fds.append(fd)

    def release(self) -> int | None:
        """Hand the removed files to the helper and close them here; the helper's process
        id (None: there were none, or the helper could not be started)."""
        fds, self._fds = self._fds, []
        if not fds:
            return None
        pid = None
        read = write = -1
        try:
            assert _HELPER is not None  # unlink kept files open only then
            read, write = os.pipe()
            for fd in fds:
                os.set_inheritable(fd, True)
            pid = os.posix_spawn(
                _HELPER,
                ["cat"],
                {},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
            )
        except OSError:
            pid = None
        finally:
            # this process's descriptors first, the pipe last: the helper, which ends
            # when the pipe closes, then holds the last descriptor of every file
            for fd in (read, *fds, write):
                if fd >= 0:
                    os.close(fd)
        if pid is not None:
            threading.Thread(target=_reap, args=(pid,), name="reap", daemon=True).start()
        return pid


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
