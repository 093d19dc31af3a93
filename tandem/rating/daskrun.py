"""Rating a CDR set on a Dask cluster, file set in, directory of Parquet parts out:
:func:`rate_on_dask` (what ``tandem rate CDRS --dask ADDRESS -o DIR`` runs).

1. The CDR set (a glob, a directory, an fsspec URL) is cut into partitions
   (:mod:`tandem.rating.dasksource`): Parquet files at row groups, text files whole.
2. The compiled rating book, with how to read the files, travels to the workers once:
   a worker plugin installs it in every worker process, those that join later too
   (:mod:`tandem.rating.daskship`); every task names the run, none carries the book.
3. One task per partition (:func:`~tandem.rating.daskwork.rate_partition`), plus, for a
   period rerate, one per earlier part file (the rows outside the period kept,
   :func:`~tandem.rating.daskwork.keep_partition`). The workers read the CDRs and write
   the parts themselves, into a temporary directory beside the output.
4. Summaries and report aggregates are added up on the cluster, by a tree of
   :func:`~tandem.rating.daskwork.merge_parts` tasks: integers only, so the totals are
   exactly the single-machine run's whatever the order. The client checks that every CDR
   read is rated or unrated, and that the parts hold every row.
5. The client commits (:mod:`tandem.rating.daskcommit`): the output directory appears
   complete, with its report, or not at all.

A worker that dies is replaced by Dask: its tasks run again elsewhere (they are pure; a
dead attempt's files are removed at the commit). A task that keeps killing workers ends
the run with one clear error, and nothing of the run is kept.

Output layout: ``DIR/rated/part-00000.parquet`` ... (rated CDRs), ``DIR/unrated/...``
(unrated CDRs, each with a ``reason``) and ``DIR/_tandem.json`` (the run's summary). Each
row carries ``source_file``, the CDR file it came from. Workers and client must see the
output directory at the same path (one machine, or a shared filesystem).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.errors import OutputError, TandemError
from tandem.rating.cdr import CdrReader
from tandem.rating.daskcommit import (
    MARKER,
    check_output_dir,
    clean_partials,
    commit_output,
    partial_dir,
    recover_output,
)
from tandem.rating.dasksource import PARTITION_ROWS, CdrPartition, cdr_files, cdr_partitions
from tandem.rating.daskwork import PartResult, Shipped, keep_partition, merge_parts, rate_partition
from tandem.rating.price import PortLookup, Rater, RatingSummary
from tandem.rating.report import RatingReport
from tandem.rating.stream import PARTIAL

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["NO_WORKERS_TIMEOUT", "DaskRun", "rate_on_dask"]

#: Seconds a run waits for a worker when the cluster has none left, before it fails.
NO_WORKERS_TIMEOUT = 60.0


@dataclass
class DaskRun:
    """What a distributed run did: the exact summary, the report (when asked), the CDR
    files and partitions read, and the part files written."""

    summary: RatingSummary
    report: RatingReport | None
    files: int
    partitions: int
    rated_parts: int
    unrated_parts: int


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _check(output: Path, report_dir: Path | None, source: str, files: list[str]) -> None:
    if report_dir is not None and (_inside(report_dir, output) or _inside(output, report_dir)):
        raise OutputError(
            f"the report directory {os.fspath(report_dir)} and the output directory "
            f"{os.fspath(output)} overlap: give each its own"
        )
    folder = Path(source)
    if "://" not in source and folder.is_dir():
        for what, p in (("output", output), ("report", report_dir)):
            if p is not None and _inside(p, folder):
                raise OutputError(
                    f"the {what} directory {os.fspath(p)} is inside the CDR directory "
                    f"{source}: a later run would read it as CDRs; write the results elsewhere"
                )
    for f in files:
        if "://" not in f and (
            _inside(Path(f), output) or (report_dir is not None and _inside(Path(f), report_dir))
        ):
            raise OutputError(
                f"the CDR file {f} is inside the output or report directory: write the "
                "results elsewhere"
            )


def _earlier_parts(output: Path) -> list[tuple[str, str]]:
    """The part files of an earlier run in ``output``: ``(kind, path)``, in order."""
    if not (output / MARKER).exists():
        return []
    return [
        (kind, os.fspath(p))
        for kind in ("rated", "unrated")
        for p in sorted((output / kind).glob("*.parquet"))
        if not p.name.startswith((".", "_"))
    ]


def _tree_sum(client: Client, futures: list[Any], token: str) -> Any:
    """One future of the sum of ``futures``' results, added pairwise on the cluster."""
    level, depth = list(futures), 0
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            nxt.append(
                client.submit(
                    merge_parts, level[k], level[k + 1], key=f"tandem-merge-{token}-{depth}-{k}"
                )
            )
        if len(level) % 2:
            nxt.append(level[-1])
        level, depth = nxt, depth + 1
    return level[0]


def _failure(exc: BaseException | None) -> BaseException:
    """The error to raise for a task's failure: a Tandem error as it is, a worker death
    Dask gave up on or a cancelled run (the scheduler lost) as :class:`OutputError`."""
    if isinstance(exc, TandemError):
        return exc
    name = type(exc).__name__
    if exc is None or name in ("CancelledError", "FutureCancelledError"):
        return OutputError(
            "the Dask cluster cancelled the run (scheduler or workers lost); nothing of "
            "this run was kept"
        )
    if name == "KilledWorker":
        return OutputError(
            f"Dask workers kept dying running a rating task and Dask gave up on it ({exc}); "
            "nothing of this run was kept"
        )
    return exc


def _run_tasks(
    client: Client,
    tasks: list[tuple[Any, int | None]],
    token: str,
    on_rows: Callable[[int], None] | None,
) -> PartResult:
    """Wait for ``tasks`` (futures with the rows each reads), advancing ``on_rows``;
    then the tree sum of their results. The first failure cancels the rest and is raised
    (a worker death Dask gave up on, as :class:`OutputError`)."""
    from distributed import wait

    futures = [f for f, _ in tasks]
    rows = {f.key: n for f, n in tasks}
    total = _tree_sum(client, futures, token)
    try:
        pending, no_workers_since = set(futures), None
        while pending:
            try:
                ready = wait(list(pending), timeout=2, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                ready = set()
                if client.scheduler_info().get("workers"):
                    no_workers_since = None
                elif no_workers_since is None:
                    no_workers_since = time.monotonic()
                elif time.monotonic() - no_workers_since > NO_WORKERS_TIMEOUT:
                    raise OutputError(
                        f"the Dask cluster has had no worker for {NO_WORKERS_TIMEOUT:.0f} s "
                        "(all died or left); nothing of this run was kept"
                    ) from None
            for done in ready:
                pending.discard(done)
                if done.status == "error":
                    raise _failure(done.exception())
                if done.status == "cancelled":
                    raise _failure(None)
                # "lost" (its worker died after it finished): Dask computes it again
                if on_rows is not None and rows[done.key]:
                    on_rows(rows[done.key] or 0)
        try:
            result = total.result()
        except Exception as exc:  # noqa: BLE001 - a Tandem error comes back as it is
            raise _failure(exc) from None
    except BaseException:
        client.cancel([*futures, total], force=True)
        raise
    return result


def _finish_parts(staged: Path, result: PartResult) -> tuple[int, int]:
    """Give the finished attempts' parts their final names (``part-00000.parquet`` in
    output order) and remove every other file (a dead attempt's); the part counts."""
    keep: dict[str, list[str]] = {"rated": [], "unrated": []}
    for _order, rated, _nr, unrated, _nu in sorted(result.parts, key=lambda p: p[0]):
        if rated:
            keep["rated"].append(rated)
        if unrated:
            keep["unrated"].append(unrated)
    counts = []
    for kind, names in keep.items():
        folder = staged / kind
        final = {}
        for k, name in enumerate(names):
            src = Path(name)
            if src.parent.resolve() != folder.resolve() or not src.exists():
                raise OutputError(f"a worker wrote its part {name} outside {folder}")
            final[src.name] = f"part-{k:05d}.parquet"
        for entry in list(folder.iterdir()):
            if entry.name not in final:
                entry.unlink()  # a dead attempt's file
        for old, new in final.items():
            os.replace(folder / old, folder / new)
        counts.append(len(names))
    return counts[0], counts[1]


def rate_on_dask(
    client: Client,
    source: str,
    output: str | os.PathLike[str],
    rater: Rater,
    *,
    reader: CdrReader | None = None,
    port_lookup: PortLookup | None = None,
    period: tuple[int, int] | None = None,
    report: bool = False,
    report_dir: str | os.PathLike[str] | None = None,
    partition_rows: int = PARTITION_ROWS,
    on_rows: Callable[[int], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
    summary_extra: dict[str, object] | None = None,
) -> DaskRun:
    """Rate the CDR set ``source`` on the cluster of ``client`` into the directory
    ``output`` (see the module doc); with ``report`` the report aggregates are summed
    too, and with ``report_dir`` written there in the same commit. ``period`` (UTC
    epoch seconds, ``until`` excluded) rerates that period: the earlier output's rows
    outside it are kept. ``on_start`` is told the CDRs to read (None when unknown) and
    ``on_rows`` the CDRs of each finished task; ``summary_extra`` goes into the output's
    ``_tandem.json`` beside the summary."""
    reader = reader or CdrReader()
    out = Path(output).absolute()
    rep = Path(report_dir).absolute() if report_dir is not None else None
    if period is not None and not period[0] < period[1]:
        raise OutputError("the rating period must end after it begins")
    recover_output(out)
    check_output_dir(out)
    files = cdr_files(source)
    _check(out, rep, source, files)
    parts: list[CdrPartition] = cdr_partitions(files, reader.format, partition_rows)
    earlier = _earlier_parts(out) if period is not None else []
    known = [p.rows for p in parts]
    if on_start is not None:
        on_start(None if any(n is None for n in known) else sum(n or 0 for n in known))
    clean_partials(out)
    staged = partial_dir(out)
    report_tmp = rep / f".report{PARTIAL}{os.getpid()}" if rep is not None else None
    token = uuid.uuid4().hex[:12]
    plugin = None
    try:
        for kind in ("rated", "unrated"):
            (staged / kind).mkdir(parents=True, exist_ok=True)
        shipped = Shipped(
            rater=dataclasses.replace(rater, workers=1),
            reader=reader,
            port_lookup=port_lookup,
            period=period,
            report=report or rep is not None,
        )
        from tandem.rating.daskship import ShipToWorkers

        plugin = ShipToWorkers(token, shipped)
        client.register_plugin(plugin)
        tasks: list[tuple[Any, int | None]] = []
        for k, (kind, path) in enumerate(earlier):
            f = client.submit(
                keep_partition, path, kind, (0, k), token, os.fspath(staged),
                key=f"tandem-keep-{token}-{k}",
            )  # fmt: skip
            tasks.append((f, None))
        for k, part in enumerate(parts):
            f = client.submit(
                rate_partition, part, (1, k), token, os.fspath(staged),
                key=f"tandem-rate-{token}-{k}",
            )  # fmt: skip
            tasks.append((f, part.rows))
        result = _run_tasks(client, tasks, token, on_rows)
        summary = result.summary
        summary.period = period
        _verify(result, parts)
        rated_parts, unrated_parts = _finish_parts(staged, result)
        doc = {"tandem": "rate-dask-output-1", **summary.as_json(), **(summary_extra or {})}
        (staged / MARKER).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        pairs: list[tuple[Path, Path]] = []
        if rep is not None and report_tmp is not None:
            rep.mkdir(parents=True, exist_ok=True)
            report_tmp.mkdir(exist_ok=True)
            written = (result.report or RatingReport()).write(report_tmp)
            pairs = [(f, rep / f.name) for f in written]
        commit_output(staged, out, pairs)
    except BaseException as exc:
        from tandem.rating.stream import journal_path

        if journal_path(out).exists():
            raise  # the commit had begun: the next run completes it
        shutil.rmtree(staged, ignore_errors=True)
        if report_tmp is not None:
            shutil.rmtree(report_tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, TandemError):
            raise OutputError(
                f"cannot write {os.fspath(out)}: {exc.strerror or exc}; nothing of this run "
                "was kept"
            ) from None
        raise
    finally:
        if plugin is not None:
            with contextlib.suppress(Exception):
                client.unregister_worker_plugin(plugin.name)
    return DaskRun(
        summary=summary,
        report=result.report,
        files=len(files),
        partitions=len(parts),
        rated_parts=rated_parts,
        unrated_parts=unrated_parts,
    )


def _verify(result: PartResult, parts: list[CdrPartition]) -> None:
    """Nothing lost across the partitions: every CDR read is in the period or outside
    it, every one rated is rated or unrated, and the parts hold every row."""
    s = result.summary
    known = [p.rows for p in parts]
    if all(n is not None for n in known) and result.read != sum(n or 0 for n in known):
        raise AssertionError(f"rating lost CDRs: {sum(n or 0 for n in known)} in the files, "
                             f"{result.read} read")  # fmt: skip
    if result.read != s.rows_in + s.outside_period:
        raise AssertionError(
            f"rating lost CDRs: {result.read} read, {s.rows_in} rated or unrated, "
            f"{s.outside_period} outside the period"
        )
    if s.rows_in != s.rated + s.unrated_count:
        raise AssertionError(
            f"rating lost CDRs: {s.rows_in} in, {s.rated} rated, {s.unrated_count} unrated"
        )
    written = sum(p[2] + p[4] for p in result.parts)
    if written != s.rows_in + s.kept or s.kept != result.earlier:
        raise AssertionError(
            f"rating lost CDRs: {written} rows written, {s.rows_in} rated or unrated and "
            f"{s.kept} kept"
        )
