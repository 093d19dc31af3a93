"""One Parquet file written by several threads: each batch is encoded as its own small
Parquet file in memory, in parallel, and the row groups are then laid one after the other
in the output with one footer for all.

pyarrow's :class:`~pyarrow.parquet.ParquetWriter` encodes one column chunk after the
other on the calling thread, so writing a rated month of CDRs (about 20 columns) keeps
one core busy while the other waits. Here each batch is encoded by
:func:`pyarrow.parquet.write_table` into a buffer on a worker thread (pyarrow releases the
GIL), and :meth:`ParallelParquetWriter.write` appends the encoded row groups to the file
in input order. A Parquet file is ``PAR1``, the row groups' pages, a footer
(Thrift-compact ``FileMetaData``: schema, and per row group and column chunk the absolute
offsets of its pages), the footer's length and ``PAR1``; so the output is the pages of
every buffer, in order, and one footer: the first buffer's, with every buffer's row groups
and their offsets moved by where their pages landed (:func:`_shift_row_groups`). The file
is an ordinary Parquet file: every reader reads it as if one writer had written it.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from tandem.rating.arrays import empty_table

__all__ = ["PART_MIN_ROWS", "ParallelParquetWriter"]

_MAGIC = b"PAR1"

# -- Thrift compact protocol: just enough to read, shift and write a FileMetaData ---------
# A struct is a list of (field id, type, value); values of unknown meaning are kept as
# read, so that the footer is written back field for field.

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(
    13
)

Field = tuple[int, int, Any]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, pos
        shift += 7


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _put_varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_value(buf: bytes, pos: int, kind: int) -> tuple[Any, int]:
    if kind in (_TRUE, _FALSE):  # only inside a list/set is a bool a byte of its own
        return buf[pos] == 1, pos + 1
    if kind == _BYTE:
        return buf[pos], pos + 1
    if kind in (_I16, _I32, _I64):
        n, pos = _varint(buf, pos)
        return _unzigzag(n), pos
    if kind == _DOUBLE:
        return buf[pos : pos + 8], pos + 8
    if kind == _BINARY:
        n, pos = _varint(buf, pos)
        return buf[pos : pos + n], pos + n
    if kind in (_LIST, _SET):
        head = buf[pos]
        pos += 1
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        items = []
        for _ in range(size):
            v, pos = _read_value(buf, pos, elem)
            items.append(v)
        return (elem, items), pos
    if kind == _MAP:
        size, pos = _varint(buf, pos)
        if size == 0:
            return (0, 0, []), pos
        types = buf[pos]
        pos += 1
        kt, vt = types >> 4, types & 0x0F
        pairs = []
        for _ in range(size):
            k, pos = _read_value(buf, pos, kt)
            v, pos = _read_value(buf, pos, vt)
            pairs.append((k, v))
        return (kt, vt, pairs), pos
    if kind == _STRUCT:
        return _read_struct(buf, pos)
    raise ValueError(f"unknown Thrift compact type {kind}")


def _read_struct(buf: bytes, pos: int) -> tuple[list[Field], int]:
    fields: list[Field] = []
    last = 0
    while True:
        head = buf[pos]
        pos += 1
        if head == _STOP:
            return fields, pos
        kind, delta = head & 0x0F, head >> 4
        if delta:
            fid = last + delta
        else:
            n, pos = _varint(buf, pos)
            fid = _unzigzag(n)
        if kind in (_TRUE, _FALSE):
            value: Any = kind == _TRUE
        else:
            value, pos = _read_value(buf, pos, kind)
        fields.append((fid, kind, value))
        last = fid


def _write_value(out: bytearray, kind: int, value: Any) -> None:
    if kind in (_TRUE, _FALSE):
        out.append(1 if value else 2)
    elif kind == _BYTE:
        out.append(value & 0xFF)
    elif kind in (_I16, _I32, _I64):
        _put_varint(out, _zigzag(value) & 0xFFFFFFFFFFFFFFFF)
    elif kind == _DOUBLE:
        out += value
    elif kind == _BINARY:
        _put_varint(out, len(value))
        out += value
    elif kind in (_LIST, _SET):
        elem, items = value
        _list_header(out, elem, len(items))
        for v in items:
            _write_value(out, elem, v)
    elif kind == _MAP:
        kt, vt, pairs = value
        _put_varint(out, len(pairs))
        if pairs:
            out.append((kt << 4) | vt)
            for k, v in pairs:
                _write_value(out, kt, k)
                _write_value(out, vt, v)
    elif kind == _STRUCT:
        _write_struct(out, value)
    else:
        raise ValueError(f"unknown Thrift compact type {kind}")


def _write_struct(out: bytearray, fields: list[Field]) -> None:
    _write_struct_with(out, fields, -1, b"")


def _list_header(out: bytearray, elem: int, size: int) -> None:
    """The head of a Thrift compact list of ``size`` items of type ``elem``."""
    if size < 15:
        out.append((size << 4) | elem)
    else:
        out.append(0xF0 | elem)
        _put_varint(out, size)


def _write_struct_with(out: bytearray, fields: list[Field], fid: int, value: bytes) -> None:
    """A Thrift compact struct of ``fields``, field ``fid``'s value given as its encoding
    ``value`` (``fid`` -1: every value encoded here, :func:`_write_struct`)."""
    last = 0
    for f, kind, v in fields:
        delta = f - last
        if 0 < delta <= 15:
            out.append((delta << 4) | kind)
        else:
            out.append(kind)
            _put_varint(out, _zigzag(f))
        if f == fid:
            out += value
        elif kind not in (_TRUE, _FALSE):
            _write_value(out, kind, v)
        last = f
    out.append(_STOP)


def _get(fields: list[Field], fid: int) -> Any:
    for f, _k, v in fields:
        if f == fid:
            return v
    return None


def _set(fields: list[Field], fid: int, value: Any) -> None:
    for i, (f, k, _v) in enumerate(fields):
        if f == fid:
            fields[i] = (f, k, value)
            return


# FileMetaData: 3 num_rows, 4 row_groups. RowGroup: 1 columns, 5 file_offset, 7 ordinal.
# ColumnChunk: 1 file_path, 2 file_offset, 3 meta_data, 4 offset_index_offset,
# 6 column_index_offset. ColumnMetaData: 9 data_page_offset, 10 index_page_offset,
# 11 dictionary_page_offset, 14 bloom_filter_offset.
_CHUNK_OFFSETS = (2, 4, 6)
_META_OFFSETS = (9, 10, 11, 14)


def _shift(fields: list[Field], ids: tuple[int, ...], by: int) -> None:
    for i, (f, k, v) in enumerate(fields):
        if f in ids and k in (_I32, _I64) and v > 0:
            fields[i] = (f, k, v + by)


def _shift_row_groups(groups: list[Any], by: int) -> None:
    """Move every absolute file offset in ``groups`` (RowGroup structs) by ``by`` bytes."""
    for group in groups:
        _shift(group, (5,), by)
        for chunk in _get(group, 1)[1]:
            if _get(chunk, 1) is not None:
                raise ValueError("column chunks in other files are not supported")
            _shift(chunk, _CHUNK_OFFSETS, by)
            meta = _get(chunk, 3)
            if meta is not None:
                _shift(meta, _META_OFFSETS, by)


def _split(buffer: pa.Buffer | bytes) -> tuple[memoryview, list[Field]]:
    """(pages, footer) of an encoded Parquet file."""
    data = memoryview(buffer)
    if bytes(data[:4]) != _MAGIC or bytes(data[-4:]) != _MAGIC:
        raise ValueError("not a Parquet file")
    (size,) = struct.unpack("<I", data[-8:-4])
    start = len(data) - 8 - size
    footer, end = _read_struct(bytes(data[start : len(data) - 8]), 0)
    end += start
    if end != len(data) - 8:
        raise ValueError("unexpected bytes after the Parquet footer")
    return data[4:start], footer


#: Room in a scratch buffer beyond a table's Arrow size (page headers, the footer).
_SLACK = 1 << 16
#: Tables of fewer Arrow bytes than this are encoded into a growing buffer of their own
#: (the allocator recycles such small blocks itself), and so are those of more than
#: :data:`_SCRATCH_MAX`.
_SCRATCH_MIN = 4 << 20
_SCRATCH_MAX = 1 << 30


def _room(table: pa.Table) -> int:
    """Bytes foreseen for ``table`` encoded as a Parquet file: its encoding is no larger
    than its Arrow buffers (plain values, lengths for offsets, levels for validity bits)
    but for page headers and the footer; an eighth more and :data:`_SLACK` besides."""
    return table.nbytes + table.nbytes // 8 + _SLACK


#: The fewest rows of a part of a table cut by :meth:`ParallelParquetWriter.write_table`
#: (smaller ones encode in a few milliseconds anyway).
PART_MIN_ROWS = 32_768


class ParallelParquetWriter:
    """Writes tables of one schema to one Parquet file, encoding them on ``workers``
    threads (each table is one or more row groups, in the order written).

    ``options`` go to :func:`pyarrow.parquet.write_table` for every table (compression,
    dictionary columns, statistics, encodings); ``prepare`` is applied to each table on
    the encoding thread first. It may change column types to ones Parquet stores the same
    way (a dictionary column written plain, decoded to its values: the same pages, and
    faster; a decimal column Parquet stores as INT64 given as its int64 scaled values,
    the same pages): the file still records the writer's ``schema``, as its Parquet
    schema (the logical types) and its Arrow schema (``ARROW:schema``, which readers
    restore the types from). At most ``workers`` tables (and at least 2) are being
    encoded or waiting at once: one more kept the threads no busier (the caller has the
    next table to make meanwhile) and held one more encoded table's memory, some 3 % of
    the CPU of a 2,000,000-CDR ``tandem rate`` in page faults; :meth:`close` writes the
    footer.
    """

    def __init__(
        self,
        sink: BinaryIO,
        schema: pa.Schema,
        workers: int = 2,
        prepare: Callable[[pa.Table], pa.Table] | None = None,
        **options: Any,
    ):
        self.sink = sink
        self.prepare = prepare
        self.schema = schema
        self.options = options
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="parquet")
        self.limit = max(2, workers)
        self.pending: deque[Future[tuple[pa.Buffer | None, pa.Buffer]]] = deque()
        # Scratch buffers the tables are encoded into, reused table after table: a fresh
        # growing buffer per table had the kernel zero some 60 MB of new pages per table
        # of 262,144 rated CDRs (and copy it as it grew). At most ``limit`` of them.
        self.spare: list[pa.Buffer] = []
        self.footer: list[Field] | None = None
        # The footer's row groups (Thrift-encoded as they are appended) and their number.
        self.groups = bytearray()
        self.group_count = 0
        self.rows = 0
        self.retyped = False  # ``prepare`` changed the schema: record ``schema`` at close
        # ... as :meth:`_recorded_schema` gives it, made when the first encoded table is
        # appended (some 10 ms, on the thread that writes, while later tables encode)
        # rather than at :meth:`close`, which nothing else overlaps
        self.recorded: tuple[Any, Any] | None = None
        self.sink.write(_MAGIC)
        self.offset = len(_MAGIC)

    def _encode(self, table: pa.Table) -> tuple[pa.Buffer | None, pa.Buffer]:
        """``(scratch, encoded)``: ``table`` encoded as a Parquet file, in a scratch buffer
        of the writer's (given back by :meth:`_append` once written out) when it fits."""
        if self.prepare is not None:
            table = self.prepare(table)
            if not table.schema.equals(self.schema):
                if [f.nullable for f in table.schema] != [f.nullable for f in self.schema]:
                    raise ValueError("prepare changed which columns are nullable")
                self.retyped = True
        scratch = self._scratch(_room(table)) if table.nbytes >= _SCRATCH_MIN else None
        if scratch is not None:
            out = pa.FixedSizeBufferWriter(scratch)  # native: no GIL taken per page
            try:
                pq.write_table(table, out, **self.options)
                return scratch, scratch.slice(0, out.tell())
            except OSError:  # "write out of bounds": larger than foreseen
                self.spare.append(scratch)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **self.options)
        return None, sink.getvalue()

    def _scratch(self, size: int) -> pa.Buffer | None:
        """A spare scratch buffer of at least ``size`` bytes (a new one if none is), or
        None above :data:`_SCRATCH_MAX`."""
        if size > _SCRATCH_MAX:
            return None
        while True:
            try:
                buf = self.spare.pop()
            except IndexError:
                return pa.allocate_buffer(size + size // 4)
            if buf.size >= size:
                return buf

    def _recorded_schema(self) -> tuple[Any, Any]:
        """The footer's Parquet schema (its elements: physical and logical types) and
        key-value metadata (``ARROW:schema``) of a file of ``schema``."""
        sink = pa.BufferOutputStream()
        pq.write_table(empty_table(self.schema), sink, **self.options)
        footer = _split(sink.getvalue())[1]
        return _get(footer, 2), _get(footer, 5)

    def _append(self, encoded: tuple[pa.Buffer | None, pa.Buffer]) -> None:
        scratch, data = encoded
        pages, footer = _split(data)
        groups = _get(footer, 4)
        rows = _get(footer, 3)
        if groups is None or rows is None:
            raise ValueError("a Parquet footer without row groups")
        _shift_row_groups(groups[1], self.offset - len(_MAGIC))
        self.sink.write(pages)
        self.offset += len(pages)
        if self.footer is None:
            self.footer = footer
        for group in groups[1]:  # encoded now, while later tables encode, not at close
            _set(group, 7, self.group_count)  # its ordinal in the file
            _write_struct(self.groups, group)
            self.group_count += 1
        self.rows += rows
        del pages, data
        if scratch is not None:
            self.spare.append(scratch)
        if self.retyped and self.recorded is None:
            self.recorded = self._recorded_schema()

    def write_table(self, table: pa.Table, parts: int = 1) -> None:
        """Queue ``table`` (of the writer's schema) for encoding; appends the tables
        already encoded, in order. ``parts`` > 1 cuts it into that many row groups of
        about equal size, encoded in parallel: for the last table of a file, which
        nothing else is left to overlap (the same rows, in the same order); a part has
        at least :data:`PART_MIN_ROWS` rows (a smaller table is not cut)."""
        if not table.schema.equals(self.schema):
            raise ValueError("every table written must have the writer's schema")
        if table.num_rows == 0:
            return
        parts = max(1, min(parts, table.num_rows // PART_MIN_ROWS))
        step = -(-table.num_rows // parts)
        # Every part is queued before any wait: each starts as soon as a thread is free
        # (the last table's parts do not wait for the table before it to be written out).
        for start in range(0, table.num_rows, step):
            self.pending.append(
                self.pool.submit(self._encode, table.slice(start, step) if parts > 1 else table)
            )
        while self.pending and (len(self.pending) >= self.limit or self.pending[0].done()):
            self._append(self.pending.popleft().result())

    def close(self) -> None:
        """Append what is still being encoded and write the footer."""
        try:
            while self.pending:
                self._append(self.pending.popleft().result())
            groups = None
            if self.footer is None:  # no rows at all: an ordinary empty file's footer
                self.footer = _split(self._encode(empty_table(self.schema))[1])[1]
            else:
                _set(self.footer, 3, self.rows)
                kind, _items = _get(self.footer, 4)
                groups = bytearray()
                _list_header(groups, kind, self.group_count)
                groups += self.groups
            if self.retyped:
                elements, metadata = self.recorded or self._recorded_schema()
                if len(elements[1]) != len(_get(self.footer, 2)[1]):
                    raise ValueError("prepare changed the columns, not only their types")
                _set(self.footer, 2, elements)
                _set(self.footer, 5, metadata)
            out = bytearray()
            if groups is None:
                _write_struct(out, self.footer)
            else:
                _write_struct_with(out, self.footer, 4, bytes(groups))
            self.sink.write(bytes(out))
            self.sink.write(struct.pack("<I", len(out)))
            self.sink.write(_MAGIC)
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop encoding (what is queued is dropped)."""
        for f in self.pending:
            f.cancel()
        self.pending.clear()
        self.pool.shutdown(wait=True)
        self.spare.clear()
