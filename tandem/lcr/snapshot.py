"""The routing-table snapshot file: one file, versioned, checksummed, memory-mapped.

Layout (all integers little-endian)::

    offset 0   8 bytes   magic  b"TANDEMRT"
           8   u32       format version (FORMAT_VERSION)
          12   u32       reserved (0)
          16   u64       length of the JSON metadata block
          24   u64       total file length
          32   u32       CRC-32 (zlib) of every byte after the header (offset 64 onwards)
          36   28 bytes  reserved (zero)
          64   ...       JSON metadata (UTF-8), then sections, each aligned to 64 bytes

The metadata names every section (``name -> [offset, dtype, count]``); arrays are read
with :func:`numpy.frombuffer` over one read-only :class:`mmap.mmap`, so every worker
process that loads the same file shares one copy of the pages (the operating system's
page cache). A file that is truncated, altered, foreign or of another format version is
refused with :class:`~tandem.errors.SnapshotError`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tandem.errors import SnapshotError

__all__ = ["MAGIC", "FORMAT_VERSION", "write_snapshot", "read_snapshot"]

MAGIC = b"TANDEMRT"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIIQQI28s")
_ALIGN = 64


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def write_snapshot(
    path: str | os.PathLike[str], meta: dict[str, Any], sections: dict[str, np.ndarray | bytes]
) -> None:
    """Write ``meta`` (JSON-able) and named arrays/byte blobs to ``path`` atomically.

    The file is written beside ``path`` and renamed over it, so a reader never sees a
    half-written snapshot.
    """
    path = Path(path)
    layout: dict[str, list] = {}
    blobs: list[tuple[str, bytes | memoryview]] = []
    for name, value in sections.items():
        if isinstance(value, bytes | bytearray):
            blobs.append((name, bytes(value)))
            layout[name] = [0, "bytes", len(value)]
        else:
            arr = np.ascontiguousarray(value)
            dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
            arr = arr.astype(dtype, copy=False)
            blobs.append((name, arr.data.cast("B")))
            descr = arr.dtype.descr if arr.dtype.names else arr.dtype.str
            layout[name] = [0, descr, int(arr.shape[0])]
    # Offsets depend on the metadata length, which depends on the offsets' digits: iterate.
    meta_bytes = b""
    for _ in range(4):
        full = dict(meta, sections=layout)
        meta_bytes = json.dumps(full, sort_keys=True).encode()
        pos = _HEADER.size + len(meta_bytes)
        pos += _pad(pos)
        changed = False
        for name, blob in blobs:
            if layout[name][0] != pos:
                layout[name][0] = pos
                changed = True
            pos += len(blob)
            pos += _pad(pos)
        if not changed:
            break
    total = pos
    crc = 0
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(b"\0" * _HEADER.size)
            body_start = fh.tell()
            fh.write(meta_bytes)
            crc = zlib.crc32(meta_bytes, crc)
            for name, blob in blobs:
                gap = layout[name][0] - fh.tell()
                fh.write(b"\0" * gap)
                crc = zlib.crc32(b"\0" * gap, crc)
                fh.write(blob)
                crc = zlib.crc32(blob, crc)
            gap = total - fh.tell()
            fh.write(b"\0" * gap)
            crc = zlib.crc32(b"\0" * gap, crc)
            assert body_start == _HEADER.size
            fh.seek(0)
            fh.write(_HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(meta_bytes), total, crc, b""))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SnapshotError(f"cannot write routing table {str(path)!r}: {exc}") from exc


def read_snapshot(
    path: str | os.PathLike[str], *, verify: bool = True
) -> tuple[dict[str, Any], dict[str, Any], mmap.mmap]:
    """Open a snapshot: ``(meta, sections, mmap)``; arrays are views over the mmap.

    ``verify`` checks the CRC-32 of the whole body (reads every page once); leave it on
    unless the file was verified by the process that wrote or copied it.
    """
    name = str(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise SnapshotError(f"cannot open routing table {name!r}: {exc.strerror}") from exc
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size < _HEADER.size:
            if size >= len(MAGIC) and fh.read(len(MAGIC)) == MAGIC:
                raise SnapshotError(
                    f"{name!r} is truncated ({size} bytes, shorter than the header); "
                    "recompile it with `tandem compile`"
                )
            raise SnapshotError(
                f"{name!r} is not a Tandem routing table (only {size} bytes); "
                "compile one with `tandem compile -o FILE`"
            )
        head = fh.read(_HEADER.size)
        magic, version, _reserved, meta_len, total, checksum, _pad28 = _HEADER.unpack(head)
        if magic != MAGIC:
            raise SnapshotError(
                f"{name!r} is not a Tandem routing table (bad magic {magic[:8]!r}); "
                "compile one with `tandem compile -o FILE`"
            )
        if version != FORMAT_VERSION:
            raise SnapshotError(
                f"{name!r} is routing-table format version {version}, this Tandem reads "
                f"version {FORMAT_VERSION}; recompile it with `tandem compile`"
            )
        if total != size:
            raise SnapshotError(
                f"{name!r} is truncated or padded: header says {total} bytes, file has "
                f"{size}; recompile it with `tandem compile`"
            )
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if verify and zlib.crc32(memoryview(mm)[_HEADER.size :]) != checksum:
        mm.close()
        raise SnapshotError(
            f"{name!r} is corrupt (checksum mismatch); recompile it with `tandem compile`"
        )
    try:
        meta = json.loads(bytes(mm[_HEADER.size : _HEADER.size + meta_len]))
        layout = meta.pop("sections")
        sections: dict[str, Any] = {}
        for key, (offset, dtype, count) in layout.items():
            if dtype == "bytes":
                if offset + count > size:
                    raise ValueError(f"section {key} beyond end of file")
                sections[key] = mm[offset : offset + count]
                continue
            dt = np.dtype([tuple(f) for f in dtype]) if isinstance(dtype, list) else np.dtype(dtype)
            if offset + dt.itemsize * count > size:
                raise ValueError(f"section {key} beyond end of file")
            sections[key] = np.frombuffer(mm, dtype=dt, count=count, offset=offset)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise SnapshotError(
            f"{name!r} has an unreadable layout ({exc}); recompile it with `tandem compile`"
        ) from exc
    return meta, sections, mm
