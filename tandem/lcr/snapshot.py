"""The routing-table snapshot file: one file, versioned, checksummed, optionally signed,
memory-mapped.

Layout (all integers little-endian)::

    offset 0   8 bytes   magic  b"TANDEMRT"
           8   u32       format version (FORMAT_VERSION)
          12   u32       flags: bit 0 set when the file is signed
          16   u64       length of the JSON metadata block
          24   u64       length of the file up to the signature (``total``)
          32   u32       CRC-32 (zlib) of every byte after the header (offset 64 to ``total``)
          36   u32       CRC-32 of the JSON metadata alone (checked before it is parsed)
          40   24 bytes  reserved (zero)
          64   ...       JSON metadata (UTF-8), then sections, each aligned to 64 bytes
       total   32 bytes  signed files only: HMAC-SHA256 of bytes ``0:total`` (RFC 2104)

The metadata names every section (``name -> [offset, dtype, count]``); arrays are read
with :func:`numpy.frombuffer` over one read-only :class:`mmap.mmap`, so every worker
process that loads the same file shares one copy of the pages (the operating system's
page cache).

A snapshot is untrusted input until proven otherwise. Before the body is read,
:func:`read_snapshot` checks that the path is a regular file (a FIFO or a device is
refused, never opened for a blocking read), that the header's lengths equal the file's
real size and stay under :data:`MAX_SNAPSHOT_BYTES`, and that the metadata (its own
CRC-32 first) lays out sections that tile the file exactly: 64-byte aligned, in order, no
gap, no overlap, nothing past the end, each of a plain fixed-size dtype. A sparse
terabyte behind a valid header is refused there, unread. Only then is the CRC-32 of the
body (accidents) or, when a key is given, the HMAC-SHA256 signature (intent) checked. A
file that fails any check is refused with :class:`~tandem.errors.SnapshotError`. What
the sections *mean* (index ranges, counts that must agree) is checked by their reader,
:meth:`tandem.lcr.table.RoutingTable.load` (:mod:`tandem.lcr.verify`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tandem.errors import SnapshotError
from tandem.files import NotRegularFileError, atomic_write, open_regular

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "MAX_SNAPSHOT_BYTES",
    "MIN_KEY_BYTES",
    "Snapshot",
    "load_key",
    "write_snapshot",
    "read_snapshot",
]

MAGIC = b"TANDEMRT"
FORMAT_VERSION = 2
#: Largest snapshot file read (16 GiB): a header may not make the reader hash a terabyte.
MAX_SNAPSHOT_BYTES = 16 << 30
#: Largest metadata block (names, currencies, the routing plan's text).
MAX_META_BYTES = 64 << 20
#: Shortest signing key accepted (bytes, after surrounding whitespace is removed).
MIN_KEY_BYTES = 16
#: Longest key file read.
MAX_KEY_BYTES = 4096
SIGNED = 1
_SIG_BYTES = hashlib.sha256().digest_size
_HEADER = struct.Struct("<8sIIQQII24s")
_ALIGN = 64
#: The dtypes a section may have: fixed-size little-endian integers and floats, bools.
_DTYPES = frozenset(["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"])


class Snapshot(NamedTuple):
    """An opened snapshot: its metadata, its sections (numpy views over ``mm`` or byte
    blobs), the mmap, and whether its signature was verified with a key (``signed``)."""

    meta: dict[str, Any]
    sections: dict[str, Any]
    mm: mmap.mmap
    signed: bool


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The signing key held in the file ``path``: its bytes, surrounding whitespace removed
    (so ``openssl rand -hex 32 > ops.key`` works); at least :data:`MIN_KEY_BYTES` long."""
    name = str(path)
    data = _read_small(path, MAX_KEY_BYTES, "key file")
    key = data.strip()
    if len(key) < MIN_KEY_BYTES:
        raise SnapshotError(
            f"key file {name!r} holds {len(key)} bytes; a signing key needs at least "
            f"{MIN_KEY_BYTES} (e.g. `openssl rand -hex 32 > {name}`)"
        )
    return key


def _read_small(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    fd = _open_regular(path, what)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise SnapshotError(f"{what} {str(path)!r} is longer than {limit} bytes")
    return data


def _open_regular(path: str | os.PathLike[str], what: str) -> int:
    """:func:`tandem.files.open_regular`, failures as :class:`SnapshotError` naming ``what``."""
    name = str(path)
    try:
        return open_regular(path)
    except NotRegularFileError as exc:
        raise SnapshotError(f"{what} {name!r} is {exc.kind}, not a regular file") from None
    except OSError as exc:
        raise SnapshotError(f"cannot open {what} {name!r}: {exc.strerror}") from exc


def _mac(key: bytes, data: Any) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def write_snapshot(
    path: str | os.PathLike[str],
    meta: dict[str, Any],
    sections: dict[str, np.ndarray | bytes],
    *,
    key: bytes | None = None,
) -> None:
    """Write ``meta`` (JSON-able) and named arrays/byte blobs to ``path`` atomically.

    The file is written beside ``path`` and renamed over it, so a reader never sees a
    half-written snapshot. With ``key`` the file is signed: an HMAC-SHA256 of every byte
    before it is appended (see the module docstring).
    """
    path = Path(path)
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise SnapshotError(f"a signing key needs at least {MIN_KEY_BYTES} bytes")
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
            if arr.ndim != 1 or arr.dtype.str not in _DTYPES:
                raise SnapshotError(f"section {name!r}: cannot store a {arr.dtype} array")
            blobs.append((name, arr.data.cast("B")))
            layout[name] = [0, arr.dtype.str, int(arr.shape[0])]
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
    flags = SIGNED if key is not None else 0
    crc = 0
    try:
        # whole or not at all: a temporary file beside it, fsync-ed, renamed over it
        with atomic_write(path, "wb") as fh:
            fh.write(b"\0" * _HEADER.size)
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
            fh.seek(0)
            fh.write(
                _HEADER.pack(
                    MAGIC,
                    FORMAT_VERSION,
                    flags,
                    len(meta_bytes),
                    total,
                    crc,
                    zlib.crc32(meta_bytes),
                    b"",
                )  # fmt: skip
            )
            if key is not None:
                fh.flush()
                with mmap.mmap(fh.fileno(), total, access=mmap.ACCESS_READ) as mm:
                    signature = _mac(key, mm)
                fh.seek(total)
                fh.write(signature)
    except OSError as exc:
        raise SnapshotError(f"cannot write routing table {str(path)!r}: {exc}") from exc


def read_snapshot(
    path: str | os.PathLike[str], *, verify: bool = True, key: bytes | None = None
) -> Snapshot:
    """Open a snapshot: its metadata and sections (arrays are views over the mmap).

    ``verify`` checks the CRC-32 of the whole body (reads every page once); leave it on
    unless the file was verified by the process that wrote or copied it. With ``key``
    the file must be signed with that key (HMAC-SHA256, checked instead of the CRC): an
    unsigned file, or one signed with another key or altered since, is refused.
    """
    name = str(path)
    fd = _open_regular(path, "routing table")
    with os.fdopen(fd, "rb") as fh:
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
        magic, version, flags, meta_len, total, checksum, meta_crc, _pad = _HEADER.unpack(head)
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
        if flags & ~SIGNED:
            raise SnapshotError(f"{name!r} has unknown header flags {flags:#x}; recompile it")
        signed = bool(flags & SIGNED)
        expect = total + (_SIG_BYTES if signed else 0)
        if expect != size:
            raise SnapshotError(
                f"{name!r} is truncated or padded: header says {expect} bytes, file has "
                f"{size}; recompile it with `tandem compile`"
            )
        if size > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(
                f"{name!r} is {size} bytes, over the {MAX_SNAPSHOT_BYTES >> 30} GiB limit of "
                "a routing table; it is not one Tandem wrote"
            )
        if meta_len > min(total - _HEADER.size, MAX_META_BYTES):
            raise SnapshotError(
                f"{name!r} has an unreadable layout (metadata of {meta_len} bytes in a "
                f"{total}-byte file); recompile it with `tandem compile`"
            )
        raw_meta = fh.read(meta_len)
        if zlib.crc32(raw_meta) != meta_crc:
            raise SnapshotError(
                f"{name!r} is corrupt (metadata checksum mismatch); recompile it with "
                "`tandem compile`"
            )
        # The layout before a byte of the body is read: a header and metadata copied onto
        # a sparse file that is long enough is refused here, not hashed for minutes.
        meta, layout = _parse_meta(name, raw_meta, meta_len, total)
        if key is not None and not signed:
            raise SnapshotError(
                f"{name!r} is not signed, and a key was given: compile it with "
                "`tandem compile --sign-key FILE`"
            )
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    sections: dict[str, Any] = {}
    try:
        if key is not None:
            if not hmac.compare_digest(_mac(key, memoryview(mm)[:total]), mm[total:size]):
                raise SnapshotError(
                    f"{name!r} has a bad signature: it was not compiled with this key, or "
                    "was altered since; recompile it with `tandem compile --sign-key FILE`"
                )
        elif verify and zlib.crc32(memoryview(mm)[_HEADER.size : total]) != checksum:
            raise SnapshotError(
                f"{name!r} is corrupt (checksum mismatch); recompile it with `tandem compile`"
            )
        for sec, (offset, dtype, count) in layout.items():
            if dtype == "bytes":
                sections[sec] = mm[offset : offset + count]
            else:
                sections[sec] = np.frombuffer(mm, dtype=np.dtype(dtype), count=count, offset=offset)
    except BaseException:
        sections.clear()
        with contextlib.suppress(BufferError):
            mm.close()
        raise
    return Snapshot(meta, sections, mm, key is not None)


def _parse_meta(
    name: str, raw: bytes, meta_len: int, total: int
) -> tuple[dict[str, Any], dict[str, tuple[int, str, int]]]:
    """The metadata and the checked section layout: every section a ``[offset, dtype,
    count]`` of plain types, and the sections tiling ``[metadata end, total)`` exactly as
    :func:`write_snapshot` lays them out (aligned, in order, no gap, no overlap)."""

    def bad(why: str) -> SnapshotError:
        return SnapshotError(
            f"{name!r} has an unreadable layout ({why}); recompile it with `tandem compile`"
        )

    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise bad(f"metadata is not JSON: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("sections"), dict):
        raise bad("no section list")
    spans: list[tuple[int, int, str]] = []
    layout: dict[str, tuple[int, str, int]] = {}
    for sec, entry in meta.pop("sections").items():
        if not (isinstance(entry, list) and len(entry) == 3):
            raise bad(f"section {sec!r} is not [offset, dtype, count]")
        offset, dtype, count = entry
        if not all(type(v) is int for v in (offset, count)) or offset < 0 or count < 0:
            raise bad(f"section {sec!r} has a bad offset or count")
        if dtype == "bytes":
            length = count
        elif isinstance(dtype, str) and dtype in _DTYPES:
            length = count * np.dtype(dtype).itemsize
        else:
            raise bad(f"section {sec!r} has an unsupported dtype {str(dtype)[:40]!r}")
        spans.append((offset, length, sec))
        layout[sec] = (offset, dtype, count)
    pos = _HEADER.size + meta_len
    for offset, length, sec in sorted(spans):
        pos += _pad(pos)
        if offset != pos:
            raise bad(f"section {sec!r} at offset {offset}, expected {pos}")
        pos += length
        if pos > total:
            raise bad(f"section {sec!r} ends past the end of the file")
    pos += _pad(pos)
    if pos != total:
        raise bad(f"the sections end at {pos}, the file at {total}")
    return meta, layout
