"""The CDR set of a distributed run, cut into Dask tasks: :func:`cdr_partitions`.

A set is named by a glob (``cdrs/*.parquet``), a directory (every file in it, hidden ones
and ``_``-prefixed ones skipped, as Parquet dataset readers do) or any URL of a filesystem
that ``fsspec`` has installed (``s3://bucket/month/*.parquet`` with ``s3fs``). Each file
is one CDR file in the sense of ``tandem rate`` (its own record numbers, from 1; its own
format under ``--format auto``). A Parquet file is cut at row-group boundaries into
partitions of at most ``partition_rows`` CDRs (one row group when it is larger); a text
file (CSV and the CDR formats) is one partition (its records are read in order, and a
record can span lines). Each partition
knows the record number of its first row, so that every CDR keeps the ``record`` a
single-machine run of its file gives it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tandem.errors import CdrError

__all__ = ["PARTITION_ROWS", "CdrPartition", "cdr_files", "cdr_partitions", "is_local"]

#: CDRs per Dask task by default (at most; a Parquet file is cut at row groups).
PARTITION_ROWS = 1 << 20


@dataclass(frozen=True)
class CdrPartition:
    """One task's share of the CDR set: a file (a local path or an fsspec URL), its
    format (``auto`` when only the worker can tell, for a remote text file), the Parquet
    row groups to read (None: the whole file), the record number of its first row, and
    its rows when known (Parquet: from the footer)."""

    url: str
    format: str
    row_groups: tuple[int, ...] | None
    first_record: int
    rows: int | None


def is_local(url: str) -> bool:
    """Whether ``url`` names a file of this machine's filesystem (a path or ``file://``)."""
    return "://" not in url or url.startswith(("file://", "local://"))


def _strip_file(url: str) -> str:
    for scheme in ("file://", "local://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


def cdr_files(source: str) -> list[str]:
    """The files a glob, a directory or a URL names, sorted; local ones as plain paths,
    remote ones as URLs. Refuses (:class:`CdrError`) a name that matches no file."""
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError as exc:  # pragma: no cover - fsspec comes with Dask
        raise CdrError("--dask needs Dask: pip install 'tandem[dask]'") from exc
    try:
        fs, path = url_to_fs(source)
    except (ImportError, ValueError) as exc:
        raise CdrError(f"cannot read {source}: {exc}") from None
    try:
        if fs.isdir(path):
            found = [p for p in fs.find(path) if not _hidden(p, path)]
        elif any(c in path for c in "*?["):
            found = [p for p in fs.glob(path) if not fs.isdir(p)]
        else:
            found = [path] if fs.exists(path) else []
    except OSError as exc:
        raise CdrError(f"cannot list {source}: {exc}") from None
    if not found:
        raise CdrError(f"no CDR files match {source}")
    local = isinstance(fs, fsspec.implementations.local.LocalFileSystem)
    return sorted(os.path.abspath(_strip_file(p)) if local else fs.unstrip_protocol(p)
                  for p in found)  # fmt: skip


def _hidden(path: str, root: str) -> bool:
    rel = path[len(root) :].lstrip("/")
    return any(part.startswith((".", "_")) for part in rel.split("/"))


def _is_parquet(url: str, fmt: str) -> bool:
    """Whether the file is read as Parquet (the format named, its name, or its magic)."""
    if fmt != "auto":
        return fmt == "parquet"
    if url.lower().endswith((".parquet", ".pq")):
        return True
    import fsspec

    try:
        with fsspec.open(url, "rb") as fh:
            return bytes(fh.read(4)) == b"PAR1"
    except OSError as exc:
        raise CdrError(f"cannot read CDR file {url!r}: {exc}") from None


def _row_groups(url: str) -> list[int]:
    """Rows per row group of a Parquet file, from its footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if is_local(url):
            meta = pq.ParquetFile(_strip_file(url)).metadata
        else:
            import fsspec

            with fsspec.open(url, "rb") as fh:
                meta = pq.ParquetFile(fh).metadata
    except (OSError, pa.ArrowException) as exc:
        raise CdrError(f"{url}: not a readable Parquet file: {exc}") from None
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def cdr_partitions(
    files: list[str], fmt: str = "auto", partition_rows: int = PARTITION_ROWS
) -> list[CdrPartition]:
    """The partitions of ``files`` (see the module doc), in file and row order."""
    out: list[CdrPartition] = []
    for url in files:
        if not _is_parquet(url, fmt):
            text_fmt = fmt
            if fmt == "auto" and is_local(url):
                from tandem.rating.cdr import detect_format

                text_fmt = detect_format(_strip_file(url))  # refuses an empty file here
            out.append(CdrPartition(url, text_fmt, None, 1, None))
            continue
        sizes = _row_groups(url)
        first, rows = 1, 0
        group: list[int] = []
        for k, n in enumerate(sizes):
            if group and rows + n > partition_rows:
                out.append(CdrPartition(url, "parquet", tuple(group), first, rows))
                first, rows = first + rows, 0
                group = []
            group.append(k)
            rows += n
        if group or not sizes:
            out.append(CdrPartition(url, "parquet", tuple(group), first, rows))
    return out
