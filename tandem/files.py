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
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["NotRegularFileError", "atomic_write", "open_regular", "sync_directory"]


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
